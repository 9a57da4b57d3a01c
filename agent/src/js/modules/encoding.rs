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
                let e = b64_engine(&enc).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown base64 encoding '{enc}'; use std, rawstd, url or rawurl"),
                    )
                })?;
                Ok(e.encode(bytes))
            },
        )?,
    )?;
    v.set(
        "b64decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, enc: String, format: String| -> R<Value<'js>> {
                let e = b64_engine(&enc).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown base64 encoding '{enc}'; use std, rawstd, url or rawurl"),
                    )
                })?;
                let bytes = e.decode(input.trim()).map_err(|err| {
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

fn b64_engine(enc: &str) -> Option<base64::engine::GeneralPurpose> {
    use base64::engine::general_purpose as gp;
    Some(match enc {
        "" | "std" => gp::STANDARD,
        "rawstd" => gp::STANDARD_NO_PAD,
        "url" => gp::URL_SAFE,
        "rawurl" => gp::URL_SAFE_NO_PAD,
        _ => return None,
    })
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
        let e = vu
            .run("import { b64encode } from 'k6/encoding'; b64encode('x', 'hex');")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "TypeError: unknown base64 encoding 'hex'; use std, rawstd, url or rawurl"
        );
    }
}
