//! `k6/crypto`: hashes, HMAC and random bytes.

use std::rc::Rc;

use base64::Engine as _;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, TypedArray, Value};

use super::convert::{bytes_of, type_error};
use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::VuCtx;

type R<T> = rquickjs::Result<T>;

/// `k6/crypto`.
pub const MODULE: K6Module = K6Module {
    name: "k6/crypto",
    js: include_str!("crypto.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, _vu: &Rc<VuCtx>) -> R<()> {
    v.set(
        "hash",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algo: String, input: Value<'js>, enc: String| -> R<Value<'js>> {
                let data = bytes_of(&input).ok_or_else(|| {
                    type_error(&ctx, "hash input must be a string or an ArrayBuffer")
                })?;
                let d = digest(&algo, &data).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown hash algorithm '{algo}'; supported: {HASHES}"),
                    )
                })?;
                encode_output(&ctx, d, &enc)
            },
        )?,
    )?;
    v.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             algo: String,
             key: Value<'js>,
             input: Value<'js>,
             enc: String|
             -> R<Value<'js>> {
                let k = bytes_of(&key).ok_or_else(|| {
                    type_error(&ctx, "hmac secret must be a string or an ArrayBuffer")
                })?;
                let data = bytes_of(&input).ok_or_else(|| {
                    type_error(&ctx, "hmac data must be a string or an ArrayBuffer")
                })?;
                let d = hmac_of(&algo, &k, &data).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown hmac algorithm '{algo}'; supported: {HASHES}"),
                    )
                })?;
                encode_output(&ctx, d, &enc)
            },
        )?,
    )?;
    v.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: f64| -> R<Value<'js>> {
            if !(0.0..=1e8).contains(&n) {
                return Err(Exception::throw_range(
                    &ctx,
                    "randomBytes: size must be between 0 and 100000000",
                ));
            }
            let mut b = vec![0u8; n as usize];
            rand::Rng::fill(&mut rand::rng(), b.as_mut_slice());
            Ok(ArrayBuffer::new(ctx.clone(), b)?.into_value())
        })?,
    )?;
    v.set(
        "utf8",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| -> R<Value<'js>> {
            Ok(TypedArray::<u8>::new(ctx.clone(), s.into_bytes())?.into_value())
        })?,
    )?;
    Ok(())
}

fn encode_output<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>, enc: &str) -> R<Value<'js>> {
    match enc {
        "hex" => Ok(rquickjs::String::from_str(ctx.clone(), &hex(&bytes))?.into_value()),
        "base64" => Ok(rquickjs::String::from_str(
            ctx.clone(),
            &base64::engine::general_purpose::STANDARD.encode(&bytes),
        )?
        .into_value()),
        "base64url" => Ok(rquickjs::String::from_str(
            ctx.clone(),
            &base64::engine::general_purpose::URL_SAFE.encode(&bytes),
        )?
        .into_value()),
        "base64rawurl" => Ok(rquickjs::String::from_str(
            ctx.clone(),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
        )?
        .into_value()),
        "binary" => Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value()),
        other => Err(type_error(
            ctx,
            &format!("unsupported output encoding '{other}'; use hex, base64, base64url, base64rawurl or binary"),
        )),
    }
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

fn digest(algo: &str, data: &[u8]) -> Option<Vec<u8>> {
    use md5::Digest as _;
    Some(match algo {
        "md4" => md4::Md4::digest(data).to_vec(),
        "md5" => md5::Md5::digest(data).to_vec(),
        "ripemd160" => ripemd::Ripemd160::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha512_256" => sha2::Sha512_256::digest(data).to_vec(),
        "sha512_224" => sha2::Sha512_224::digest(data).to_vec(),
        _ => return None,
    })
}

fn hmac_of(algo: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use hmac::{Hmac, Mac};
    macro_rules! mac {
        ($t:ty) => {{
            let mut m = <Hmac<$t>>::new_from_slice(key).ok()?;
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }};
    }
    Some(match algo {
        "md4" => mac!(md4::Md4),
        "md5" => mac!(md5::Md5),
        "ripemd160" => mac!(ripemd::Ripemd160),
        "sha1" => mac!(sha1::Sha1),
        "sha256" => mac!(sha2::Sha256),
        "sha384" => mac!(sha2::Sha384),
        "sha512" => mac!(sha2::Sha512),
        "sha224" => mac!(sha2::Sha224),
        "sha512_256" => mac!(sha2::Sha512_256),
        "sha512_224" => mac!(sha2::Sha512_224),
        _ => return None,
    })
}

const HASHES: &str =
    "md4, md5, sha1, sha224, sha256, sha384, sha512, sha512_224, sha512_256, ripemd160";

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;

    #[test]
    fn hashes_and_hmac_match_known_digests() {
        let vu = TestVu::new();
        vu.run(
            "import crypto from 'k6/crypto';
             const h = crypto.createHash('sha256'); h.update('a'); h.update('bc');
             globalThis.out = [
               crypto.md5('', 'hex'),
               crypto.sha256('abc', 'hex'),
               h.digest('hex'),
               crypto.hmac('sha256', 'key', 'The quick brown fox jumps over the lazy dog', 'hex'),
               crypto.sha1('abc', 'base64'),
               crypto.sha256('abc').byteLength,
               crypto.randomBytes(5).byteLength,
               crypto.md4('abc', 'hex'),
               crypto.ripemd160('abc', 'hex'),
               crypto.sha512_256('abc', 'hex'),
               crypto.sha512_224('abc', 'hex'),
               crypto.hmac('md4', 'key', 'msg', 'hex').length,
               crypto.hmac('ripemd160', 'key', 'msg', 'hex').length,
             ];",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                "d41d8cd98f00b204e9800998ecf8427e",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
                "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
                32,
                5,
                "a448017aaf21d8525fc10ae87aa6729d",
                "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc",
                "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23",
                "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa",
                32,
                40
            ])
        );
        let e = vu
            .run("import { hmac } from 'k6/crypto'; hmac('sha3', 'k', 'd', 'hex');")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("TypeError: unknown hmac algorithm 'sha3'"),
            "{e}"
        );
    }
}
