//! The WebCrypto global `crypto` that k6 v1.1.0 scripts use without an import
//! ([docs/k6-compatibility.md](../../../docs/k6-compatibility.md#webcrypto)):
//! `getRandomValues`, `randomUUID` and `subtle.digest`. Its shapes and k6's error wording live
//! in `webcrypto.js`; the two natives here give it random bytes and hashes. The rest of
//! `crypto.subtle` (keys, sign, encrypt, …) rejects with `NotSupportedError` saying so.

use rquickjs::object::{Accessor, Property};
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Value};

use super::modules::convert::bytes_of;

type R<T> = rquickjs::Result<T>;

/// The most random bytes one call may ask for: `getRandomValues` takes at most 65,536
/// elements of at most 4 bytes.
const MAX_RANDOM_BYTES: usize = 4 * 65_536;

/// Defines `globalThis.crypto` in a fresh context. Most scripts never touch it, so it is made
/// on first use: until then the global is an accessor that replaces itself with the object (a
/// plain data property, as in k6), and so adds nothing measurable to a VU's start-up.
pub fn install<'js>(ctx: &Ctx<'js>) -> R<()> {
    let get = |ctx: Ctx<'js>| -> R<Value<'js>> {
        let crypto = make(&ctx)?;
        define(&ctx, crypto.clone())?;
        Ok(crypto)
    };
    let set = |ctx: Ctx<'js>, v: Value<'js>| define(&ctx, v);
    ctx.globals().prop(
        "crypto",
        Accessor::new(get, set).configurable().enumerable(),
    )
}

/// Makes `globalThis.crypto` a plain data property holding `v`.
fn define<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> R<()> {
    ctx.globals().prop(
        "crypto",
        Property::from(v).writable().enumerable().configurable(),
    )
}

/// The `crypto` object: `webcrypto.js` over the natives it needs.
fn make<'js>(ctx: &Ctx<'js>) -> R<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: usize| -> R<Value<'js>> {
            if n > MAX_RANDOM_BYTES {
                return Err(Exception::throw_range(
                    &ctx,
                    &format!("crypto: at most {MAX_RANDOM_BYTES} random bytes at once"),
                ));
            }
            let mut b = vec![0u8; n];
            rand::Rng::fill(&mut rand::rng(), b.as_mut_slice());
            Ok(ArrayBuffer::new(ctx.clone(), b)?.into_value())
        })?,
    )?;
    natives.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, name: String, data: Value<'js>| -> R<Value<'js>> {
                let bytes = bytes_of(&data).ok_or_else(|| {
                    Exception::throw_type(&ctx, "crypto.subtle.digest: data is no ArrayBuffer")
                })?;
                let sum = digest(&name, &bytes).ok_or_else(|| {
                    Exception::throw_type(
                        &ctx,
                        &format!("crypto.subtle.digest: unknown algorithm {name}"),
                    )
                })?;
                Ok(ArrayBuffer::new(ctx.clone(), sum)?.into_value())
            },
        )?,
    )?;
    let build: Function = ctx.eval(include_str!("webcrypto.js"))?;
    build.call((natives,))
}

/// The digests WebCrypto names (upper case, as `webcrypto.js` passes them).
fn digest(name: &str, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest as _;
    Some(match name {
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use serde_json::json;

    /// What k6 v1.1.0 answers (measured): filled integer arrays, its errors for float arrays and
    /// more than 65,536 elements, version 4 UUIDs, global without an import.
    #[test]
    fn get_random_values_and_random_uuid_as_k6() {
        let vu = TestVu::new();
        vu.run(
            "const fail = (f) => { try { f(); return 'no error'; } catch (e) {
               return [String(e), e.name, e.message, JSON.stringify(e.value), Object.keys(e).join()];
             } };
             const a = new Uint8Array(64);
             const same = crypto.getRandomValues(a) === a;
             const whole = new Uint8Array(8);
             crypto.getRandomValues(new Uint8Array(whole.buffer, 2, 3));
             globalThis.out = {
               same,
               nonzero: a.some((x) => x !== 0),
               outside: [whole[0], whole[1], whole[5], whole[6], whole[7]],
               kinds: [Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array]
                 .map((T) => crypto.getRandomValues(new T(2)).length),
               u32: crypto.getRandomValues(new Uint32Array(16385)).length,
               float: fail(() => crypto.getRandomValues(new Float64Array(1))),
               buffer: fail(() => crypto.getRandomValues(new ArrayBuffer(4))).slice(0, 1),
               big: fail(() => crypto.getRandomValues(new Uint8Array(65537))).slice(0, 1),
               keys: Object.keys(crypto).join(),
               subtle: Object.keys(crypto.subtle).join(),
               uuids: [crypto.randomUUID(), crypto.randomUUID()],
             };",
        )
        .unwrap();
        let out = vu.json("out");
        assert_eq!(out["same"], json!(true));
        assert_eq!(out["nonzero"], json!(true));
        assert_eq!(out["outside"], json!([0, 0, 0, 0, 0]));
        assert_eq!(out["kinds"], json!([2, 2, 2, 2, 2, 2]));
        assert_eq!(out["u32"], json!(16385));
        let mismatch =
            "GoError: TypeMismatchError: typedArray parameter isn't a TypedArray instance";
        assert_eq!(
            out["float"],
            json!([
                mismatch,
                "GoError",
                "TypeMismatchError: typedArray parameter isn't a TypedArray instance",
                "{\"name\":\"TypeMismatchError\",\"message\":\"typedArray parameter isn't a TypedArray instance\"}",
                "value"
            ])
        );
        assert_eq!(out["buffer"], json!([mismatch]));
        assert_eq!(
            out["big"],
            json!(["GoError: QuotaExceededError: typedArray parameter is too big; maximum length is 65536"])
        );
        assert_eq!(out["keys"], json!("getRandomValues,randomUUID,subtle"));
        assert_eq!(
            out["subtle"],
            json!("decrypt,deriveBits,deriveKey,digest,encrypt,exportKey,generateKey,importKey,sign,unwrapKey,verify,wrapKey")
        );
        let uuids = out["uuids"].as_array().unwrap();
        assert_ne!(uuids[0], uuids[1]);
        for u in uuids {
            let u = u.as_str().unwrap();
            let b = u.as_bytes();
            assert_eq!(u.len(), 36, "{u}");
            assert_eq!((b[8], b[13], b[18], b[23]), (b'-', b'-', b'-', b'-'), "{u}");
            assert_eq!(b[14], b'4', "{u}");
            assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "{u}");
            assert!(u
                .chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
    }

    /// Made on first read, then a plain data property as k6's; a script may replace it.
    #[test]
    fn the_global_is_a_data_property_once_read_and_can_be_replaced() {
        let vu = TestVu::new();
        vu.run(
            "const first = crypto;
             const d = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
             globalThis.out = [first === crypto, d.value === first, d.writable, d.enumerable,
               d.configurable, Object.keys(globalThis).includes('crypto')];",
        )
        .unwrap();
        assert_eq!(vu.json("out"), json!([true, true, true, true, true, true]));
        let vu = TestVu::new();
        vu.run("globalThis.crypto = 5; globalThis.out = [crypto, typeof globalThis.crypto];")
            .unwrap();
        assert_eq!(vu.json("out"), json!([5, "number"]));
    }

    /// `crypto.subtle.digest` resolves to k6's digests and rejects as k6 does (measured); a view
    /// is digested over its own bytes and a DataView accepted, as the standard says.
    #[test]
    fn subtle_digest_as_k6() {
        let vu = TestVu::new();
        vu.run(
            "const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
             const abc = new Uint8Array([97, 98, 99]);
             const why = async (p) => { try { await p; return 'resolved'; } catch (e) { return String(e); } };
             const d = await crypto.subtle.digest('sha-256', abc);
             const refused = crypto.subtle.digest('foo', abc);
             refused.catch(() => {});
             globalThis.out = {
               isBuffer: d instanceof ArrayBuffer,
               sums: [
                 hex(await crypto.subtle.digest('SHA-1', abc.buffer)),
                 hex(d),
                 hex(await crypto.subtle.digest({ name: 'Sha-384' }, abc)),
                 hex(await crypto.subtle.digest('SHA-512', new Uint8Array([0, 97, 98, 99, 0]).subarray(1, 4))),
                 hex(await crypto.subtle.digest('SHA-1', new DataView(abc.buffer))),
               ],
               promise: refused instanceof Promise,
               errors: [
                 await why(crypto.subtle.digest('md5', abc)),
                 await why(crypto.subtle.digest({}, abc)),
                 await why(crypto.subtle.digest(5, abc)),
                 await why(crypto.subtle.digest('SHA-1', 'abc')),
                 await why(crypto.subtle.digest('SHA-1', 5)),
                 await why(crypto.subtle.sign('HMAC', null, abc)),
               ],
               // Without data it throws at once.
               noData: (() => { try { crypto.subtle.digest('SHA-1', null); return 'no throw'; }
                                catch (e) { return String(e); } })(),
             };",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            json!({
                "noData": "TypeError: Cannot convert undefined or null to object",
                "isBuffer": true,
                "sums": [
                    "a9993e364706816aba3e25717850c26c9cd0d89d",
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
                    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
                    "a9993e364706816aba3e25717850c26c9cd0d89d",
                ],
                "promise": true,
                "errors": [
                    "NotSupportedError: algorithm \"MD5\" doesn't support (in implementation) operation \"digest\"",
                    "NotSupportedError: algorithm \"\" doesn't support (in implementation) operation \"digest\"",
                    "SyntaxError: algorithm cannot be interpreted as a string or an object",
                    "TypeError: data must be an ArrayBuffer, TypedArray, or DataView",
                    "TypeError: data must be an ArrayBuffer, TypedArray, or DataView",
                    "NotSupportedError: crypto.subtle.sign() is not supported by Volley yet; only crypto.subtle.digest() is",
                ],
            })
        );
    }
}
