//! `k6/encoding`: base64 in its four alphabets.

use std::rc::Rc;

use base64::Engine as _;
use rquickjs::{ArrayBuffer, Ctx, Function, Value};

use super::convert::{bytes_of, type_error};
use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::VuCtx;

type R<T> = rquickjs::Result<T>;

/// `k6/encoding`.
pub const MODULE: K6Module = K6Module {
    name: "k6/encoding",
    js: include_str!("encoding.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, _vu: &Rc<VuCtx>) -> R<()> {
    v.set(
        "b64encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: Value<'js>, enc: String| -> R<String> {
                let bytes = bytes_of(&input).ok_or_else(|| {
                    type_error(&ctx, "b64encode() takes a string or an ArrayBuffer")
                })?;
                Ok(b64_engine(&enc).encode(bytes))
            },
        )?,
    )?;
    v.set(
        "b64decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, enc: String, format: String| -> R<Value<'js>> {
                // A number is the offset Go's error names: encoding.js throws k6's GoError.
                let bytes = match go_decode(input.as_bytes(), &enc) {
                    Ok(b) => b,
                    Err(at) => return Ok(Value::new_number(ctx.clone(), at as f64)),
                };
                if format == "s" {
                    Ok(
                        rquickjs::String::from_str(ctx.clone(), &String::from_utf8_lossy(&bytes))?
                            .into_value(),
                    )
                } else {
                    Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value())
                }
            },
        )?,
    )?;
    Ok(())
}

/// The alphabet named `enc`; anything else (`null`, `undefined`, an unknown name) is the
/// standard one, as in k6 v1.1.0.
fn b64_engine(enc: &str) -> base64::engine::GeneralPurpose {
    use base64::engine::general_purpose as gp;
    match enc {
        "rawstd" => gp::STANDARD_NO_PAD,
        "url" => gp::URL_SAFE,
        "rawurl" => gp::URL_SAFE_NO_PAD,
        _ => gp::STANDARD,
    }
}

/// Go's `base64.Encoding.DecodeString` as k6 calls it: `\n` and `\r` are skipped anywhere, any
/// other byte outside the alphabet (a space too) is an error at its offset, padding is required
/// by `std` and `url` and refused by the raw alphabets, and the unused bits of the last
/// character are not checked. The error is the offset Go names (`CorruptInputError`).
fn go_decode(src: &[u8], enc: &str) -> Result<Vec<u8>, usize> {
    let (alphabet, padded): (&[u8; 64], bool) = match enc {
        "rawstd" => (STD, false),
        "url" => (URL, true),
        "rawurl" => (URL, false),
        _ => (STD, true),
    };
    let value = |c: u8| alphabet.iter().position(|&a| a == c).map(|v| v as u32);
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3 + 3);
    let mut si = 0;
    while si < src.len() {
        // One quantum: up to four characters, fewer only at the end.
        let mut buf = [0u32; 4];
        let mut len = 4;
        let mut j = 0;
        let mut trailing = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                if j == 1 || padded {
                    return Err(si - j);
                }
                len = j;
                break;
            }
            let c = src[si];
            si += 1;
            if let Some(v) = value(c) {
                buf[j] = v;
                j += 1;
                continue;
            }
            if newline(c) {
                continue;
            }
            if !padded || c != b'=' {
                return Err(si - 1);
            }
            // Padding: the end of the input.
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && newline(src[si]) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                trailing = Some(si);
            }
            len = j;
            break;
        }
        let v = buf[0] << 18 | buf[1] << 12 | buf[2] << 6 | buf[3];
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if let Some(at) = trailing {
            return Err(at);
        }
    }
    Ok(out)
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[cfg(test)]
mod tests {
    use super::go_decode;

    /// Inputs with what k6 v1.1.0 gives for them (the text, or the offset in its
    /// `illegal base64 data at input byte N`).
    #[test]
    fn decoding_accepts_and_refuses_what_go_does() {
        let cases: &[(&str, &str, Result<&str, usize>)] = &[
            ("std", "aGk=", Ok("hi")),
            ("std", "aGk=\n", Ok("hi")),
            ("std", "aG\r\nk=", Ok("hi")),
            ("std", "", Ok("")),
            ("std", "aGk", Err(0)),
            ("std", "aGk==", Err(4)),
            ("std", "ab", Err(0)),
            ("std", " aGk= ", Err(0)),
            ("std", "a b c d", Err(1)),
            ("std", "aGk/Pg", Err(4)),
            ("std", "aGk_Pg==", Err(3)),
            ("std", "aGk=aGk=", Err(4)),
            ("std", "=", Err(0)),
            ("std", "YQ=x", Err(2)),
            ("std", "YQ=", Err(3)),
            ("rawstd", "aGk", Ok("hi")),
            ("rawstd", "ab", Ok("i")),
            ("rawstd", "12", Ok("\u{d7}")),
            ("rawstd", "aGk=", Err(3)),
            ("rawstd", "a", Err(0)),
            ("url", "aGk_Pg==", Ok("hi?>")),
            ("url", "aGk/Pg", Err(3)),
            ("rawurl", "aGk_Pg", Ok("hi?>")),
            ("rawurl", "aGk_Pg==", Err(6)),
        ];
        for (enc, input, want) in cases {
            let got = go_decode(input.as_bytes(), enc);
            let want = want.map(|s| s.chars().map(|c| c as u8).collect::<Vec<u8>>());
            assert_eq!(got, want, "{enc} {input:?}");
        }
    }

    use crate::js::modulestest::TestVu;

    #[test]
    fn base64_in_each_alphabet_and_back() {
        let vu = TestVu::new();
        vu.run(
            "import encoding from 'k6/encoding';
             const s = 'hi?>';
             globalThis.out = ['std', 'rawstd', 'url', 'rawurl'].map((e) => encoding.b64encode(s, e));
             globalThis.back = encoding.b64decode(out[3], 'rawurl', 's');
             globalThis.bytes = new Uint8Array(encoding.b64decode('AQL/')).join(',');",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!(["aGk/Pg==", "aGk/Pg", "aGk_Pg==", "aGk_Pg"])
        );
        assert_eq!(vu.json("back"), serde_json::json!("hi?>"));
        assert_eq!(vu.json("bytes"), serde_json::json!("1,2,255"));
        // k6 takes null, undefined and any unknown name for the standard alphabet.
        vu.run(
            "import encoding from 'k6/encoding';
             globalThis.std = [null, undefined, 'hex', {}].map((e) => encoding.b64encode('hi?>~~', e));
             globalThis.dec = encoding.b64decode('aGk/Pn5+', null, 's');
             globalThis.buf = encoding.b64decode('aGk/Pn5+', null) instanceof ArrayBuffer;",
        )
        .unwrap();
        assert_eq!(
            vu.json("std"),
            serde_json::json!(["aGk/Pn5+", "aGk/Pn5+", "aGk/Pn5+", "aGk/Pn5+"])
        );
        assert_eq!(vu.json("dec"), serde_json::json!("hi?>~~"));
        assert_eq!(vu.json("buf"), serde_json::json!(true));
    }
}
