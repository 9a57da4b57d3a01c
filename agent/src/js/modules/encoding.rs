//! `k6/encoding`: base64 in its four alphabets.

use std::rc::Rc;

use base64::Engine as _;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Value};

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
                let bytes = b64_engine(&enc).decode(input.trim()).map_err(|err| {
                    Exception::throw_message(
                        &ctx,
                        &format!("b64decode: invalid base64 input: {err}"),
                    )
                })?;
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

#[cfg(test)]
mod tests {
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
