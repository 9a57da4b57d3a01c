//! The WebCrypto global `crypto` that k6 v1.1.0 scripts use without an import
//! ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#webcrypto)):
//! `getRandomValues`, `randomUUID` and `subtle`. Its shapes, argument checks and k6's error
//! wording live in `webcrypto.js`; the natives here do the cryptography, on RustCrypto crates:
//! HMAC, AES (`aes.rs`), ECDSA and ECDH (`ec.rs`) and RSA (`rsa.rs`). Keys reach the natives as
//! bytes (a secret, an EC scalar or point, RSA DER) that the JS side keeps out of the
//! script's sight.

mod aes;
mod ec;
mod rsa;

use base64::Engine as _;
use rquickjs::object::{Accessor, Property};
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Value};

use super::modules::convert::bytes_of;
use ec::Curve;

type R<T> = rquickjs::Result<T>;

/// The most random bytes one call may ask for: `getRandomValues` takes at most 65,536
/// elements of at most 4 bytes.
const MAX_RANDOM_BYTES: usize = 4 * 65_536;

/// A WebCrypto failure: the `DOMException` name a script sees (`OperationError`, `DataError`,
/// …) and the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct CryptoError {
    pub name: &'static str,
    pub message: String,
}

impl CryptoError {
    fn new(name: &'static str, message: impl Into<String>) -> Self {
        CryptoError {
            name,
            message: message.into(),
        }
    }

    pub fn operation(message: impl Into<String>) -> Self {
        Self::new("OperationError", message)
    }

    pub fn data(message: impl Into<String>) -> Self {
        Self::new("DataError", message)
    }

    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::new("NotSupportedError", message)
    }

    /// Throws `{ name, message }`, which `webcrypto.js` turns into the rejection k6 gives.
    fn throw(self, ctx: &Ctx<'_>) -> rquickjs::Error {
        let obj = match Object::new(ctx.clone()) {
            Ok(o) => o,
            Err(e) => return e,
        };
        if let Err(e) = obj
            .set("name", self.name)
            .and_then(|()| obj.set("message", self.message))
        {
            return e;
        }
        ctx.throw(obj.into_value())
    }
}

/// The digests WebCrypto names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The hash of a WebCrypto name in upper case, as `webcrypto.js` passes them.
    pub fn from_name(name: &str) -> Option<Hash> {
        match name {
            "SHA-1" => Some(Hash::Sha1),
            "SHA-256" => Some(Hash::Sha256),
            "SHA-384" => Some(Hash::Sha384),
            "SHA-512" => Some(Hash::Sha512),
            _ => None,
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        macro_rules! mac {
            ($t:ty) => {{
                let mut m = <Hmac<$t>>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }};
        }
        match self {
            Hash::Sha1 => mac!(sha1::Sha1),
            Hash::Sha256 => mac!(sha2::Sha256),
            Hash::Sha384 => mac!(sha2::Sha384),
            Hash::Sha512 => mac!(sha2::Sha512),
        }
    }

    /// Whether `sig` is the HMAC of `data`, compared in constant time.
    fn hmac_verify(self, key: &[u8], data: &[u8], sig: &[u8]) -> bool {
        use hmac::{Hmac, Mac};
        macro_rules! check {
            ($t:ty) => {{
                let mut m = <Hmac<$t>>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.verify_slice(sig).is_ok()
            }};
        }
        match self {
            Hash::Sha1 => check!(sha1::Sha1),
            Hash::Sha256 => check!(sha2::Sha256),
            Hash::Sha384 => check!(sha2::Sha384),
            Hash::Sha512 => check!(sha2::Sha512),
        }
    }
}

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

/// The bytes of a buffer `webcrypto.js` passes.
fn buf(ctx: &Ctx<'_>, v: &Value<'_>) -> R<Vec<u8>> {
    bytes_of(v).ok_or_else(|| Exception::throw_type(ctx, "crypto: expected an ArrayBuffer"))
}

fn ab<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>) -> R<Value<'js>> {
    Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value())
}

fn hash(ctx: &Ctx<'_>, name: &str) -> R<Hash> {
    Hash::from_name(name)
        .ok_or_else(|| CryptoError::not_supported(format!("unsupported hash {name}")).throw(ctx))
}

fn curve(ctx: &Ctx<'_>, name: &str) -> R<Curve> {
    Curve::from_name(name).ok_or_else(|| {
        CryptoError::not_supported(format!("elliptic curve {name} is not supported")).throw(ctx)
    })
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Base64url as JWK members carry it; padding is tolerated.
fn unb64url(s: &str) -> Result<Vec<u8>, CryptoError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| CryptoError::data(format!("invalid base64url in JWK: {s:?}")))
}

/// Registers one native: `native!(natives, ctx, "name", |ctx, args…| body)`.
macro_rules! native {
    ($natives:expr, $ctx:expr, $name:literal, $f:expr) => {
        $natives.set($name, Function::new($ctx.clone(), $f)?)?
    };
}

/// The `crypto` object: `webcrypto.js` over the natives it needs.
fn make<'js>(ctx: &Ctx<'js>) -> R<Value<'js>> {
    let n = Object::new(ctx.clone())?;
    native!(n, ctx, "randomBytes", |ctx: Ctx<'js>, len: usize| {
        if len > MAX_RANDOM_BYTES {
            return Err(Exception::throw_range(
                &ctx,
                &format!("crypto: at most {MAX_RANDOM_BYTES} random bytes at once"),
            ));
        }
        let mut b = vec![0u8; len];
        rand::Rng::fill(&mut rand::rng(), b.as_mut_slice());
        ab(&ctx, b)
    });
    native!(
        n,
        ctx,
        "digest",
        |ctx: Ctx<'js>, name: String, data: Value<'js>| {
            let h = hash(&ctx, &name)?;
            ab(&ctx, h.digest(&buf(&ctx, &data)?))
        }
    );
    native!(
        n,
        ctx,
        "hmacSign",
        |ctx: Ctx<'js>, h: String, key: Value<'js>, data: Value<'js>| {
            let h = hash(&ctx, &h)?;
            ab(&ctx, h.hmac(&buf(&ctx, &key)?, &buf(&ctx, &data)?))
        }
    );
    native!(
        n,
        ctx,
        "hmacVerify",
        |ctx: Ctx<'js>, h: String, key: Value<'js>, sig: Value<'js>, data: Value<'js>| {
            let h = hash(&ctx, &h)?;
            R::Ok(h.hmac_verify(&buf(&ctx, &key)?, &buf(&ctx, &data)?, &buf(&ctx, &sig)?))
        }
    );
    native!(
        n,
        ctx,
        "aesGcm",
        |ctx: Ctx<'js>,
         encrypt: bool,
         key: Value<'js>,
         iv: Value<'js>,
         aad: Value<'js>,
         tag_bytes: usize,
         data: Value<'js>| {
            let out = aes::gcm(
                encrypt,
                &buf(&ctx, &key)?,
                &buf(&ctx, &iv)?,
                &buf(&ctx, &aad)?,
                tag_bytes,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))?;
            ab(&ctx, out)
        }
    );
    native!(
        n,
        ctx,
        "aesCbc",
        |ctx: Ctx<'js>, encrypt: bool, key: Value<'js>, iv: Value<'js>, data: Value<'js>| {
            let out = aes::cbc(
                encrypt,
                &buf(&ctx, &key)?,
                &buf(&ctx, &iv)?,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))?;
            ab(&ctx, out)
        }
    );
    native!(
        n,
        ctx,
        "aesCtr",
        |ctx: Ctx<'js>,
         key: Value<'js>,
         counter: Value<'js>,
         length_bits: u32,
         data: Value<'js>| {
            let out = aes::ctr(
                &buf(&ctx, &key)?,
                &buf(&ctx, &counter)?,
                length_bits,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))?;
            ab(&ctx, out)
        }
    );
    native!(n, ctx, "aesKeyLength", |len: usize| aes::valid_key_len(len));
    install_ec(ctx, &n)?;
    install_rsa(ctx, &n)?;
    native!(n, ctx, "b64url", |ctx: Ctx<'js>, data: Value<'js>| {
        R::Ok(b64url(&buf(&ctx, &data)?))
    });
    native!(n, ctx, "unb64url", |ctx: Ctx<'js>, s: String| {
        let b = unb64url(&s).map_err(|e| e.throw(&ctx))?;
        ab(&ctx, b)
    });
    let build: Function = ctx.eval(include_str!("webcrypto.js"))?;
    build.call((n,))
}

/// The natives for ECDSA and ECDH keys ([`ec`]).
fn install_ec<'js>(ctx: &Ctx<'js>, n: &Object<'js>) -> R<()> {
    native!(n, ctx, "ecGenerate", |ctx: Ctx<'js>, c: String| {
        let (d, p) = ec::generate(curve(&ctx, &c)?);
        R::Ok(vec![ab(&ctx, d)?, ab(&ctx, p)?])
    });
    native!(
        n,
        ctx,
        "ecPublicOf",
        |ctx: Ctx<'js>, c: String, d: Value<'js>| {
            let p = ec::public_of(curve(&ctx, &c)?, &buf(&ctx, &d)?).map_err(|e| e.throw(&ctx))?;
            ab(&ctx, p)
        }
    );
    native!(
        n,
        ctx,
        "ecCheckPublic",
        |ctx: Ctx<'js>, c: String, p: Value<'js>| {
            let p =
                ec::check_public(curve(&ctx, &c)?, &buf(&ctx, &p)?).map_err(|e| e.throw(&ctx))?;
            ab(&ctx, p)
        }
    );
    native!(
        n,
        ctx,
        "ecPkcs8Export",
        |ctx: Ctx<'js>, c: String, d: Value<'js>| {
            let der =
                ec::pkcs8_export(curve(&ctx, &c)?, &buf(&ctx, &d)?).map_err(|e| e.throw(&ctx))?;
            ab(&ctx, der)
        }
    );
    native!(n, ctx, "ecPkcs8Import", |ctx: Ctx<'js>, der: Value<'js>| {
        let (c, d, p) = ec::pkcs8_import(&buf(&ctx, &der)?).map_err(|e| e.throw(&ctx))?;
        let name = rquickjs::String::from_str(ctx.clone(), c.name())?.into_value();
        R::Ok(vec![name, ab(&ctx, d)?, ab(&ctx, p)?])
    });
    native!(
        n,
        ctx,
        "ecSpkiExport",
        |ctx: Ctx<'js>, c: String, p: Value<'js>| {
            let der =
                ec::spki_export(curve(&ctx, &c)?, &buf(&ctx, &p)?).map_err(|e| e.throw(&ctx))?;
            ab(&ctx, der)
        }
    );
    native!(n, ctx, "ecSpkiImport", |ctx: Ctx<'js>, der: Value<'js>| {
        let (c, p) = ec::spki_import(&buf(&ctx, &der)?).map_err(|e| e.throw(&ctx))?;
        let name = rquickjs::String::from_str(ctx.clone(), c.name())?.into_value();
        R::Ok(vec![name, ab(&ctx, p)?])
    });
    native!(
        n,
        ctx,
        "ecdsaSign",
        |ctx: Ctx<'js>, c: String, h: String, d: Value<'js>, data: Value<'js>| {
            let sig = ec::sign(
                curve(&ctx, &c)?,
                hash(&ctx, &h)?,
                &buf(&ctx, &d)?,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))?;
            ab(&ctx, sig)
        }
    );
    native!(
        n,
        ctx,
        "ecdsaVerify",
        |ctx: Ctx<'js>, c: String, h: String, p: Value<'js>, sig: Value<'js>, data: Value<'js>| {
            ec::verify(
                curve(&ctx, &c)?,
                hash(&ctx, &h)?,
                &buf(&ctx, &p)?,
                &buf(&ctx, &sig)?,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))
        }
    );
    native!(n, ctx, "ecdh", |ctx: Ctx<'js>,
                             c: String,
                             d: Value<'js>,
                             p: Value<'js>| {
        let s = ec::ecdh(curve(&ctx, &c)?, &buf(&ctx, &d)?, &buf(&ctx, &p)?)
            .map_err(|e| e.throw(&ctx))?;
        ab(&ctx, s)
    });
    Ok(())
}

/// The natives for RSA keys ([`rsa`]).
fn install_rsa<'js>(ctx: &Ctx<'js>, n: &Object<'js>) -> R<()> {
    native!(
        n,
        ctx,
        "rsaGenerate",
        |ctx: Ctx<'js>, bits: usize, e: Value<'js>| {
            let der = rsa::generate(bits, &buf(&ctx, &e)?).map_err(|e| e.throw(&ctx))?;
            ab(&ctx, der)
        }
    );
    native!(n, ctx, "rsaPublicOf", |ctx: Ctx<'js>, der: Value<'js>| {
        let p = rsa::public_of(&buf(&ctx, &der)?).map_err(|e| e.throw(&ctx))?;
        ab(&ctx, p)
    });
    native!(
        n,
        ctx,
        "rsaBits",
        |ctx: Ctx<'js>, der: Value<'js>, is_private: bool| {
            let der = buf(&ctx, &der)?;
            if is_private {
                rsa::private_bits(&der)
            } else {
                rsa::public_bits(&der)
            }
            .map_err(|e| e.throw(&ctx))
        }
    );
    native!(
        n,
        ctx,
        "rsaJwkExport",
        |ctx: Ctx<'js>, der: Value<'js>, is_private: bool| {
            let parts =
                rsa::jwk_export(&buf(&ctx, &der)?, is_private).map_err(|e| e.throw(&ctx))?;
            let o = Object::new(ctx.clone())?;
            for (k, v) in parts {
                o.set(k, b64url(&v))?;
            }
            R::Ok(o)
        }
    );
    native!(
        n,
        ctx,
        "rsaJwkImport",
        |ctx: Ctx<'js>,
         nn: String,
         e: String,
         d: Option<String>,
         p: Option<String>,
         q: Option<String>| {
            let dec = |s: &str| unb64url(s).map_err(|e| e.throw(&ctx));
            let (nb, eb) = (dec(&nn)?, dec(&e)?);
            let der = match (d, p, q) {
                (None, _, _) => rsa::jwk_import(&nb, &eb, None),
                (Some(d), Some(p), Some(q)) => {
                    let (d, p, q) = (dec(&d)?, dec(&p)?, dec(&q)?);
                    rsa::jwk_import(&nb, &eb, Some((&d, &p, &q)))
                }
                _ => Err(CryptoError::data(
                    "invalid RSA JWK key: a private key needs its primes p and q",
                )),
            }
            .map_err(|e| e.throw(&ctx))?;
            ab(&ctx, der)
        }
    );
    native!(
        n,
        ctx,
        "rsaSign",
        |ctx: Ctx<'js>, salt: Option<usize>, h: String, der: Value<'js>, data: Value<'js>| {
            let scheme = salt.map_or(rsa::Scheme::Pkcs1v15, rsa::Scheme::Pss);
            let sig = rsa::sign(
                scheme,
                hash(&ctx, &h)?,
                &buf(&ctx, &der)?,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))?;
            ab(&ctx, sig)
        }
    );
    native!(
        n,
        ctx,
        "rsaVerify",
        |ctx: Ctx<'js>,
         salt: Option<usize>,
         h: String,
         der: Value<'js>,
         sig: Value<'js>,
         data: Value<'js>| {
            let scheme = salt.map_or(rsa::Scheme::Pkcs1v15, rsa::Scheme::Pss);
            rsa::verify(
                scheme,
                hash(&ctx, &h)?,
                &buf(&ctx, &der)?,
                &buf(&ctx, &sig)?,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))
        }
    );
    native!(
        n,
        ctx,
        "rsaOaep",
        |ctx: Ctx<'js>,
         encrypt: bool,
         h: String,
         label: Value<'js>,
         der: Value<'js>,
         data: Value<'js>| {
            let out = rsa::oaep_crypt(
                encrypt,
                hash(&ctx, &h)?,
                &buf(&ctx, &label)?,
                &buf(&ctx, &der)?,
                &buf(&ctx, &data)?,
            )
            .map_err(|e| e.throw(&ctx))?;
            ab(&ctx, out)
        }
    );
    Ok(())
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
                 await why(crypto.subtle.wrapKey('raw', null, null, 'AES-KW')),
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
                    "NotSupportedError: crypto.subtle.wrapKey() is not supported by Volley yet",
                ],
            })
        );
    }

    /// Runs `body` (an async snippet that sets `out`) with helpers, and gives `out`.
    fn subtle(body: &str) -> serde_json::Value {
        let vu = TestVu::new();
        vu.run(&format!(
            "const s = crypto.subtle;
             const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
             const enc = (t) => new Uint8Array(Array.from(t, (c) => c.charCodeAt(0)));
             const why = async (p) => {{ try {{ await p; return 'resolved'; }} catch (e) {{ return String(e); }} }};
             {body}"
        ))
        .unwrap();
        vu.json("out")
    }

    /// HMAC keys: generated, imported raw and as JWK, signing k6's values (measured), their
    /// shapes and exports, and k6's errors for bad input.
    #[test]
    fn hmac_keys_sign_verify_and_export_as_k6() {
        let out = subtle(
            "const k = await s.importKey('raw', enc('key'), { name: 'HMAC', hash: 'SHA-256' }, true, ['sign', 'verify']);
             const fox = enc('The quick brown fox jumps over the lazy dog');
             const sig = await s.sign('HMAC', k, fox);
             const g = await s.generateKey({ name: 'HMAC', hash: { name: 'SHA-512' } }, false, ['sign']);
             const j = await s.importKey('jwk', { kty: 'oct', k: 'a2V5' }, { name: 'HMAC', hash: 'SHA-1' }, true, ['verify']);
             const signOnly = await s.importKey('raw', enc('key'), { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
             globalThis.out = {
               sig: hex(sig),
               obj: hex(await s.sign({ name: 'hmac' }, k, fox.buffer)),
               ok: await s.verify('HMAC', k, sig, fox),
               bad: await s.verify('HMAC', k, new Uint8Array(32), fox),
               short: await s.verify('HMAC', k, new Uint8Array(3), fox),
               key: [k.type, k.extractable, k.algorithm, k.usages, Object.keys(k)],
               generated: [g.algorithm.length, g.extractable],
               raw: hex(await s.exportKey('raw', k)),
               jwk: await s.exportKey('jwk', j),
               errors: [
                 await why(s.exportKey('raw', g)),
                 await why(s.exportKey('spki', k)),
                 await why(s.importKey('raw', new Uint8Array(0), { name: 'HMAC', hash: 'SHA-256' }, true, ['sign'])),
                 await why(s.importKey('raw', enc('key'), { name: 'HMAC', hash: 'SHA-1', length: 8 }, true, ['sign'])),
                 await why(s.importKey('raw', enc('key'), { name: 'HMAC', hash: 'SHA-256' }, true, ['encrypt'])),
                 await why(s.importKey('raw', enc('key'), { name: 'HMAC', hash: 'SHA-256' }, true, [])),
                 await why(s.importKey('raw', enc('key'), { name: 'HMAC' }, true, ['sign'])),
                 await why(s.importKey('jwk', { kty: 'EC', k: 'a2V5' }, { name: 'HMAC', hash: 'SHA-256' }, true, ['sign'])),
                 await why(s.importKey('foo', enc('key'), { name: 'HMAC', hash: 'SHA-256' }, true, ['sign'])),
                 await why(s.verify('HMAC', signOnly, sig, fox)),
                 await why(s.sign({ name: 'RSA-PSS', saltLength: 32 }, signOnly, fox)),
                 await why(s.sign('FOO', signOnly, fox)),
                 await why(s.sign('HMAC', signOnly, 'text')),
                 await why(s.sign('HMAC', {}, fox)),
                 await why(s.exportKey('foo', k)),
               ],
             };",
        );
        assert_eq!(
            out["sig"],
            json!("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
        );
        assert_eq!(out["obj"], out["sig"]);
        assert_eq!(
            (&out["ok"], &out["bad"], &out["short"]),
            (&json!(true), &json!(false), &json!(false))
        );
        assert_eq!(
            out["key"],
            json!([
                "secret",
                true,
                { "name": "HMAC", "hash": { "name": "SHA-256" }, "length": 24 },
                ["sign", "verify"],
                ["type", "extractable", "algorithm", "usages"]
            ])
        );
        assert_eq!(out["generated"], json!([1024, false]));
        assert_eq!(out["raw"], json!("6b6579"));
        assert_eq!(
            out["jwk"],
            json!({ "kty": "oct", "k": "a2V5", "alg": "HS1", "ext": true, "key_ops": ["verify"] })
        );
        assert_eq!(
            out["errors"],
            json!([
                "InvalidAccessError: the key is not extractable",
                "NotSupportedError: unsupported key format spki",
                "DataError: key length cannot be 0",
                "DataError: key length cannot be different from the length of the imported data",
                "SyntaxError: invalid key usage: encrypt",
                "SyntaxError: usages cannot not be empty for a secret or private CryptoKey",
                "SyntaxError: could not get hash from algorithm parameter",
                "DataError: invalid symmetric JWK: invalid key type: EC",
                "ImplementationError: unsupported format foo",
                "InvalidAccessError: key does not contain the 'verify' usage",
                "InvalidAccessError: algorithm name does not match key algorithm name",
                "NotSupportedError: algorithm \"FOO\" doesn't support (in implementation) operation \"sign\"",
                "OperationError: data is neither an ArrayBuffer, nor a TypedArray nor DataView",
                "TypeError: key is not a CryptoKey made by crypto.subtle",
                "NotSupportedError: unsupported key format foo",
            ])
        );
    }

    /// AES-GCM, CBC and CTR give k6's ciphertexts for the same key and IV (measured), round
    /// trip, and refuse bad parameters with k6's errors.
    #[test]
    fn aes_encrypt_decrypt_as_k6() {
        let out = subtle(
            "const raw = new Uint8Array(16).map((_, i) => i);
             const gk = await s.importKey('raw', raw, { name: 'AES-GCM' }, true, ['encrypt', 'decrypt']);
             const ck = await s.importKey('raw', raw, 'AES-CBC', true, ['encrypt', 'decrypt']);
             const tk = await s.importKey('jwk', { kty: 'oct', k: 'AAECAwQFBgcICQoLDA0ODw' }, 'AES-CTR', true, ['encrypt', 'decrypt']);
             const encOnly = await s.importKey('raw', raw, 'AES-GCM', true, ['encrypt']);
             const iv = new Uint8Array(12).map((_, i) => i + 100);
             const gcm = await s.encrypt({ name: 'AES-GCM', iv }, gk, enc('hello world'));
             const cbc = await s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, ck, enc('hello world'));
             const ctr = await s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, tk, enc('hello world'));
             const text = (b) => String.fromCharCode(...new Uint8Array(b));
             const gen = await s.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
             const tampered = new Uint8Array(gcm.slice(0)); tampered[0] ^= 1;
             globalThis.out = {
               ct: [hex(gcm), hex(cbc), hex(ctr),
                    hex(await s.encrypt({ name: 'AES-GCM', iv, additionalData: enc('aad'), tagLength: 96 }, gk, enc('hello world')))],
               pt: [text(await s.decrypt({ name: 'AES-GCM', iv }, gk, gcm)),
                    text(await s.decrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, ck, cbc)),
                    text(await s.decrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, tk, ctr))],
               gen: [gen.algorithm, (await s.exportKey('raw', gen)).byteLength],
               jwk: await s.exportKey('jwk', gk),
               errors: [
                 await why(s.encrypt({ name: 'AES-GCM', iv, tagLength: 100 }, gk, enc('x'))),
                 await why(s.encrypt({ name: 'AES-GCM', iv: new Uint8Array(16) }, gk, enc('x'))),
                 await why(s.encrypt({ name: 'AES-GCM' }, gk, enc('x'))),
                 await why(s.decrypt({ name: 'AES-GCM', iv }, gk, tampered)),
                 await why(s.decrypt({ name: 'AES-GCM', iv }, gk, new Uint8Array(4))),
                 await why(s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, gk, enc('x'))),
                 await why(s.encrypt({ name: 'AES-CBC', iv: new Uint8Array(12) }, ck, enc('x'))),
                 await why(s.decrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, ck, new Uint8Array(16))),
                 await why(s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 0 }, tk, enc('x'))),
                 await why(s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(8), length: 64 }, tk, enc('x'))),
                 await why(s.decrypt({ name: 'AES-GCM', iv }, encOnly, gcm)),
                 await why(s.importKey('raw', new Uint8Array(5), 'AES-GCM', true, ['encrypt'])),
                 await why(s.importKey('raw', raw, 'AES-GCM', true, ['sign'])),
                 await why(s.generateKey({ name: 'AES-GCM', length: 100 }, true, ['encrypt'])),
                 await why(s.generateKey({ name: 'AES-GCM' }, true, ['encrypt'])),
                 await why(s.generateKey({ name: 'AES-GCM', length: 128 }, true, [])),
                 await why(s.encrypt({ name: 'FOO' }, gk, enc('x'))),
               ],
             };",
        );
        assert_eq!(
            out["ct"],
            json!([
                "720722c9b422cf95e95233a934e62e51bbc66ba119895f3f9026b7",
                "9276fdf384f38518fa6c8310f191678d",
                "aec4575be8af2ced1d23e5",
                "720722c9b422cf95e95233b766f51ddc645a94d14753c2"
            ])
        );
        assert_eq!(
            out["pt"],
            json!(["hello world", "hello world", "hello world"])
        );
        assert_eq!(
            out["gen"],
            json!([{ "name": "AES-GCM", "length": 256 }, 32])
        );
        assert_eq!(
            out["jwk"],
            json!({ "kty": "oct", "k": "AAECAwQFBgcICQoLDA0ODw", "alg": "A128GCM", "ext": true,
                    "key_ops": ["encrypt", "decrypt"] })
        );
        assert_eq!(
            out["errors"],
            json!([
                "OperationError: invalid tag length, should be one of 96, 104, 112, 120, 128",
                "NotSupportedError: only 12 bytes long iv are supported",
                "NotSupportedError: only 12 bytes long iv are supported",
                "OperationError: could not decrypt ciphertext",
                "OperationError: ciphertext is too short",
                "InvalidAccessError: encrypt's algorithm name does not match key algorithm name",
                "OperationError: iv length is not 16 bytes",
                "OperationError: invalid padding",
                "OperationError: invalid counter length, out of the 0 < x < 128 bounds",
                "OperationError: counter length is not 16 bytes",
                "InvalidAccessError: decrypt's key does not contain the 'decrypt' usage",
                "DataError: invalid key length 5 bytes",
                "SyntaxError: invalid key usage: sign",
                "OperationError: invalid key length",
                "SyntaxError: could not get length from algorithm parameter",
                "SyntaxError: usages cannot not be empty for a secret or private CryptoKey",
                "NotSupportedError: algorithm \"FOO\" doesn't support (in implementation) operation \"encrypt\"",
            ])
        );
    }

    /// P-521: a key k6 v1.1.0 generated and exported (its JWK coordinates lack their leading
    /// zero byte), k6's signature with it, and the ECDH secret k6 derived (measured).
    #[test]
    fn p521_keys_read_k6s_jwk_and_agree_with_k6() {
        let out = subtle(
            r#"const k = {"kty": "EC", "crv": "P-521", "x": "Ql6zDjt9NZX5hWnXBghK5Saeb30MZKFrA0ghY7NK7im_g_MydWNn4v2l1hvSPU52cjA6LqyyEwpBdA1dVX9u_tI", "y": "nTWb-SvM16b_XaBpPOg5Wjh-lUNAyg3WV6ujTr7J2C7Ir68bniDt3BkchXxEbH99V0m3xnCsaNeO2cU2zZwzB2Y", "d": "AX_apLH5XuGNAn2Ka0BvVWmTUHpz6U02R52zTdqARYz42VDt9S83PaxVoK7hq_ITUWaItaghUWrvSJvVcd6F41U9"};
             const a = {"kty": "EC", "crv": "P-521", "x": "AWXQ1TeVGsWWTb47bMO7v9Jl_9gFTZm6CRAIp2ey4JATjaarvFrhsQTpD_2Xm8iswQAQDGk95wM6YJlShvL3opEL", "y": "_-gkddK5QuqFL3mCOGHERPdeGhx1K4hnHNmXnWvP6AeYOB5-BCbBnaqk1MAdpXcpY5FTCqkmlvvxLkdO8EW-xIk", "d": "AJfncTNGIs71ceAoeSYdeno9shPfHr_83WPkL2bXuZahwddZE688IrIZjIZpEwKP5bIS1NLjeXBBL-9w4ODK14mK"};
             const b = {"kty": "EC", "crv": "P-521", "x": "5_kwxlHURq73UX3awNjOGLqg9Os2bxhcu0gpVSU7Oez1OIOl0MfwOTYAGfoJXC12PcH0xP74-nMZT7QNvW4AgsQ", "y": "AdIJPKgmQQjx-L3k6dV6jICIwUhVX08HnxYJcgcSphhPD-S7uo8hr92rY5N7O_ujKcdBLRsScKIyNvip4xXe9Hcc"};
             const E = { name: 'ECDSA', namedCurve: 'P-521' };
             const H = { name: 'ECDSA', hash: 'SHA-512' };
             const unhex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
             const key = await s.importKey('jwk', k, E, true, ['sign']);
             const pub = await s.importKey('jwk', { kty: 'EC', crv: 'P-521', x: k.x, y: k.y }, E, true, ['verify']);
             const mine = await s.sign(H, key, enc('mine'));
             const D = { name: 'ECDH', namedCurve: 'P-521' };
             const da = await s.importKey('jwk', a, D, true, ['deriveBits']);
             const db = await s.importKey('jwk', b, D, true, []);
             const back = await s.exportKey('jwk', pub);
             globalThis.out = [
               await s.verify(H, pub, unhex('00af87c06c60043f2baa612a1d47b47cc7527b4f59fb3c5bcbe6a713c6733a06c2b211edcac54729c08823a1d27af2afd6df71c358e9484fe69ab25d042d8e8c92ae004b81fb5c66c256e325ebeef39f6d05658677802e5f088ce72f44baf320fbcee775d3765af820d2bb767f1a2b9253f3f95491d040ce7b0c9e13c5c010691421b53a'), enc('signed by k6')),
               await s.verify(H, pub, mine, enc('mine')),
               mine.byteLength,
               hex(await s.exportKey('spki', pub)) === '30819b301006072a8648ce3d020106052b81040023038186000400425eb30e3b7d3595f98569d706084ae5269e6f7d0c64a16b03482163b34aee29bf83f332756367e2fda5d61bd23d4e7672303a2eacb2130a41740d5d557f6efed2009d359bf92bccd7a6ff5da0693ce8395a387e954340ca0dd657aba34ebec9d82ec8afaf1b9e20eddc191c857c446c7f7d5749b7c670ac68d78ed9c536cd9c330766',
               hex(await s.deriveBits({ name: 'ECDH', public: db }, da, 528)) === '01e312e44184f42cd63b62acbafcc69318b1683b03fa66151aa71a333990f2264a1007ea65940cb4b5440cfc80af0e896f0054fef3071aae186467835c177983f85c',
               back.x.length,
             ];"#,
        );
        assert_eq!(out, serde_json::json!([true, true, 132, true, true, 88]));
    }

    /// ECDSA and ECDH key pairs: their shapes, every export and import, signatures across
    /// forms, shared secrets, and k6's errors.
    #[test]
    fn ec_keys_sign_verify_derive_and_export_as_k6() {
        let out = subtle(
            "const kp = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
             const sig = await s.sign({ name: 'ECDSA', hash: 'SHA-256' }, kp.privateKey, enc('hello'));
             const E = { name: 'ECDSA', namedCurve: 'P-256' };
             const x = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
             const jp = await s.exportKey('jwk', x.privateKey);
             const jq = await s.exportKey('jwk', x.publicKey);
             const P = { name: 'ECDSA', namedCurve: 'P-384' };
             const ip = await s.importKey('jwk', jp, P, true, ['sign']);
             const iq = await s.importKey('raw', await s.exportKey('raw', x.publicKey), P, true, ['verify']);
             const i8 = await s.importKey('pkcs8', await s.exportKey('pkcs8', x.privateKey), P, true, ['sign']);
             const is = await s.importKey('spki', await s.exportKey('spki', x.publicKey), P, true, ['verify']);
             const H = { name: 'ECDSA', hash: { name: 'SHA-384' } };
             const s1 = await s.sign(H, ip, enc('z'));
             const s2 = await s.sign(H, i8, enc('z'));
             const a = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits', 'deriveKey']);
             const b = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
             const c = await s.generateKey({ name: 'ECDH', namedCurve: 'P-384' }, true, ['deriveBits']);
             const ab = await s.deriveBits({ name: 'ECDH', public: b.publicKey }, a.privateKey, 256);
             const ba = await s.deriveBits({ name: 'ECDH', public: a.publicKey }, b.privateKey);
             globalThis.out = {
               pair: [Object.keys(kp), kp.privateKey.type, kp.privateKey.extractable, kp.privateKey.usages,
                      kp.publicKey.type, kp.publicKey.extractable, kp.publicKey.usages, kp.publicKey.algorithm],
               sigLen: [sig.byteLength, s1.byteLength],
               verify: [
                 await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, kp.publicKey, sig, enc('hello')),
                 await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, kp.publicKey, sig, enc('hellO')),
                 await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, kp.publicKey, new Uint8Array(10), enc('hello')),
                 await s.verify(H, iq, s1, enc('z')),
                 await s.verify(H, is, s2, enc('z')),
                 await s.verify(H, x.publicKey, s2, enc('z')),
               ],
               jwk: [Object.keys(jq).sort(), Object.keys(jp).sort(), jq.crv],
               ecdh: [hex(ab) === hex(ba), ab.byteLength,
                      (await s.deriveBits({ name: 'ECDH', public: b.publicKey }, a.privateKey, 128)).byteLength,
                      a.publicKey.usages, a.privateKey.usages],
               errors: [
                 await why(s.sign({ name: 'ECDSA' }, kp.privateKey, enc('x'))),
                 await why(s.sign({ name: 'ECDSA', hash: 'SHA-256' }, kp.publicKey, enc('x'))),
                 await why(s.exportKey('raw', x.privateKey)),
                 await why(s.exportKey('pkcs8', x.publicKey)),
                 await why(s.exportKey('jwk', kp.privateKey)),
                 await why(s.importKey('raw', new Uint8Array(65), E, true, ['verify'])),
                 await why(s.importKey('pkcs8', await s.exportKey('pkcs8', x.privateKey), P, true, [])),
                 await why(s.importKey('jwk', jq, { name: 'ECDSA' }, true, ['verify'])),
                 await why(s.generateKey({ name: 'ECDSA', namedCurve: 'P-999' }, true, ['sign'])),
                 await why(s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [])),
                 await why(s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['encrypt'])),
                 await why(s.deriveBits({ name: 'ECDH', public: b.publicKey }, a.privateKey, 12)),
                 await why(s.deriveBits({ name: 'ECDH', public: b.publicKey }, a.publicKey, 256)),
                 await why(s.deriveBits({ name: 'ECDH' }, a.privateKey, 256)),
                 await why(s.deriveBits({ name: 'ECDH', public: b.privateKey }, a.privateKey, 256)),
                 await why(s.deriveBits({ name: 'ECDH', public: c.publicKey }, a.privateKey, 256)),
                 await why(s.deriveBits({ name: 'ECDH', public: kp.publicKey }, a.privateKey, 256)),
                 await why(s.sign({ name: 'ECDSA', hash: 'SHA-256' }, a.privateKey, enc('x'))),
               ],
             };",
        );
        assert_eq!(
            out["pair"],
            json!([["privateKey", "publicKey"], "private", false, ["sign"], "public", true, ["verify"],
                   { "name": "ECDSA", "namedCurve": "P-256" }])
        );
        assert_eq!(out["sigLen"], json!([64, 96]));
        assert_eq!(out["verify"], json!([true, false, false, true, true, true]));
        assert_eq!(
            out["jwk"],
            json!([
                ["crv", "kty", "x", "y"],
                ["crv", "d", "kty", "x", "y"],
                "P-384"
            ])
        );
        assert_eq!(
            out["ecdh"],
            json!([true, 32, 16, [], ["deriveBits", "deriveKey"]])
        );
        assert_eq!(
            out["errors"],
            json!([
                "SyntaxError: could not get hash from algorithm parameter",
                "InvalidAccessError: key does not contain the 'sign' usage",
                "InvalidAccessError: key is not a valid elliptic curve public key",
                "InvalidAccessError: key is not a valid elliptic curve private key",
                "InvalidAccessError: the key is not extractable",
                "DataError: unable to import ECDSA public key data",
                "SyntaxError: usages cannot not be empty for a secret or private CryptoKey",
                "SyntaxError: could not get namedCurve from algorithm parameter",
                "NotSupportedError: elliptic curve P-999 is not supported",
                "SyntaxError: key usages cannot be empty",
                "SyntaxError: invalid key usage",
                "NotSupportedError: currently only multiples of 8 are supported for length",
                "InvalidAccessError: provided baseKey is not a private key",
                "TypeError: algorithm does not contain a public key",
                "InvalidAccessError: algorithm's public key is not a public key",
                "InvalidAccessError: keys have different curves P-256 and P-384",
                "InvalidAccessError: algorithm name does not match public key's algorithm name: ECDH != ECDSA",
                "InvalidAccessError: algorithm name does not match key algorithm name",
            ])
        );
    }

    /// RSA key pairs for the three schemes: shapes, signatures, OAEP, JWK/spki/pkcs8 and k6's
    /// errors.
    #[test]
    fn rsa_keys_sign_verify_encrypt_and_export_as_k6() {
        let out = subtle(
            "const E = new Uint8Array([1, 0, 1]);
             const kp = await s.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: E, hash: 'SHA-256' }, true, ['sign', 'verify']);
             const sig = await s.sign('RSASSA-PKCS1-v1_5', kp.privateKey, enc('hello'));
             const jp = await s.exportKey('jwk', kp.privateKey);
             const jq = await s.exportKey('jwk', kp.publicKey);
             const A = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
             const ip = await s.importKey('jwk', jp, A, true, ['sign']);
             const is = await s.importKey('spki', await s.exportKey('spki', kp.publicKey), A, true, ['verify']);
             const pss = await s.importKey('pkcs8', await s.exportKey('pkcs8', kp.privateKey), { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['sign']);
             const pssPub = await s.importKey('jwk', jq, { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['verify']);
             const ps = await s.sign({ name: 'RSA-PSS', saltLength: 32 }, pss, enc('hello'));
             const oaep = await s.generateKey({ name: 'RSA-OAEP', modulusLength: 1024, publicExponent: E, hash: 'SHA-1' }, true, ['encrypt', 'decrypt']);
             const ct = await s.encrypt({ name: 'RSA-OAEP', label: enc('L') }, oaep.publicKey, enc('secret'));
             const text = (b) => String.fromCharCode(...new Uint8Array(b));
             globalThis.out = {
               alg: kp.privateKey.algorithm,
               usages: [kp.privateKey.usages, kp.publicKey.usages, oaep.privateKey.usages, oaep.publicKey.usages],
               sig: [sig.byteLength, hex(sig) === hex(await s.sign(A, ip, enc('hello')))],
               verify: [
                 await s.verify('RSASSA-PKCS1-v1_5', kp.publicKey, sig, enc('hello')),
                 await s.verify('RSASSA-PKCS1-v1_5', is, sig, enc('hellO')),
                 await s.verify({ name: 'RSA-PSS', saltLength: 32 }, pssPub, ps, enc('hello')),
                 await s.verify({ name: 'RSA-PSS', saltLength: 20 }, pssPub, ps, enc('hello')),
               ],
               oaep: [text(await s.decrypt({ name: 'RSA-OAEP', label: enc('L') }, oaep.privateKey, ct)), ct.byteLength],
               jwk: [Object.keys(jq).sort(), Object.keys(jp).sort(), jq.e],
               errors: [
                 await why(s.decrypt({ name: 'RSA-OAEP', label: enc('M') }, oaep.privateKey, ct)),
                 await why(s.encrypt({ name: 'RSA-OAEP' }, oaep.publicKey, new Uint8Array(100))),
                 await why(s.decrypt({ name: 'RSA-OAEP' }, oaep.publicKey, ct)),
                 await why(s.sign({ name: 'RSA-PSS' }, pss, enc('x'))),
                 await why(s.exportKey('raw', kp.publicKey)),
                 await why(s.exportKey('spki', kp.privateKey)),
                 await why(s.exportKey('pkcs8', kp.publicKey)),
                 await why(s.importKey('raw', new Uint8Array(10), { name: 'RSA-OAEP', hash: 'SHA-1' }, true, ['decrypt'])),
                 await why(s.importKey('jwk', { kty: 'RSA', e: 'AQAB' }, { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['verify'])),
                 await why(s.importKey('jwk', jq, { name: 'RSA-PSS' }, true, ['verify'])),
                 await why(s.generateKey({ name: 'RSA-PSS', publicExponent: E, hash: 'SHA-256' }, true, ['sign'])),
                 await why(s.generateKey({ name: 'RSA-PSS', modulusLength: 1024, hash: 'SHA-256' }, true, ['sign'])),
                 await why(s.generateKey({ name: 'RSA-PSS', modulusLength: 1024, publicExponent: E, hash: 'SHA-256' }, true, ['encrypt'])),
               ].map((e) => e.split(':').slice(0, 2).join(':')),
             };",
        );
        assert_eq!(
            out["alg"],
            json!({ "name": "RSASSA-PKCS1-v1_5", "hash": { "name": "SHA-256" }, "modulusLength": 1024,
                    "publicExponent": { "0": 1, "1": 0, "2": 1 } })
        );
        assert_eq!(
            out["usages"],
            json!([["sign"], ["verify"], ["decrypt"], ["encrypt"]])
        );
        assert_eq!(out["sig"], json!([128, true]));
        assert_eq!(out["verify"], json!([true, false, true, false]));
        assert_eq!(out["oaep"], json!(["secret", 128]));
        assert_eq!(
            out["jwk"],
            json!([
                ["e", "kty", "n"],
                ["d", "dp", "dq", "e", "kty", "n", "p", "q", "qi"],
                "AQAB"
            ])
        );
        assert_eq!(
            out["errors"],
            json!([
                "OperationError: could not decrypt data",
                "OperationError: could not encrypt data",
                "InvalidAccessError: decrypt's key does not contain the 'decrypt' usage",
                "SyntaxError: could not get saltLength from algorithm parameter",
                "NotSupportedError: unsupported key format raw",
                "InvalidAccessError: given CryptoKey is not a public RSA key",
                "InvalidAccessError: given CryptoKey is not a private RSA key",
                "NotSupportedError: unsupported key format raw for algorithm RSA-OAEP",
                "DataError: invalid RSA JWK key",
                "SyntaxError: could not get hash from algorithm parameter",
                "SyntaxError: could not get modulusLength from algorithm parameter",
                "SyntaxError: could not get publicExponent from algorithm parameter",
                "SyntaxError: invalid key usage",
            ])
        );
    }
}
