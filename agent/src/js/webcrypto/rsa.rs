//! RSA keys for RSASSA-PKCS1-v1_5, RSA-PSS and RSA-OAEP: generation, `spki`, `pkcs8` and JWK
//! forms, signatures and OAEP encryption
//! ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#webcrypto)).
//! A private key is kept as PKCS #8, a public one as SubjectPublicKeyInfo.

use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};

use super::{CryptoError, Hash};

type R<T> = Result<T, CryptoError>;

/// The largest modulus `generateKey` makes: bigger keys take minutes to find.
pub const MAX_GENERATED_BITS: usize = 8192;
/// The smallest modulus `generateKey` makes.
pub const MIN_GENERATED_BITS: usize = 512;

/// The signature schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Pkcs1v15,
    /// RSA-PSS with this salt length in bytes.
    Pss(usize),
}

/// Evaluates `$body` with `$d` naming the digest type of `$hash`.
macro_rules! by_hash {
    ($hash:expr, |$d:ident| $body:expr) => {
        match $hash {
            Hash::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            Hash::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            Hash::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            Hash::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
        }
    };
}

fn private(der: &[u8]) -> R<RsaPrivateKey> {
    RsaPrivateKey::from_pkcs8_der(der)
        .map_err(|e| CryptoError::data(format!("unable to import RSA private key data: {e}")))
}

fn public(der: &[u8]) -> R<RsaPublicKey> {
    RsaPublicKey::from_public_key_der(der)
        .map_err(|e| CryptoError::data(format!("unable to import RSA public key data: {e}")))
}

fn pkcs8(key: &RsaPrivateKey) -> R<Vec<u8>> {
    key.to_pkcs8_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| CryptoError::operation(format!("cannot encode key: {e}")))
}

fn spki(key: &RsaPublicKey) -> R<Vec<u8>> {
    key.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| CryptoError::operation(format!("cannot encode key: {e}")))
}

/// A new private key (PKCS #8) of `bits` with the big-endian public exponent `exponent`.
pub fn generate(bits: usize, exponent: &[u8]) -> R<Vec<u8>> {
    if !(MIN_GENERATED_BITS..=MAX_GENERATED_BITS).contains(&bits) {
        return Err(CryptoError::operation(format!(
            "modulusLength {bits} is out of the {MIN_GENERATED_BITS}..{MAX_GENERATED_BITS} bits \
             Volley generates"
        )));
    }
    let e = BigUint::from_bytes_be(exponent);
    let key = RsaPrivateKey::new_with_exp(&mut rand_core::OsRng, bits, &e)
        .map_err(|err| CryptoError::operation(format!("could not generate RSA key: {err}")))?;
    pkcs8(&key)
}

/// The public key (SubjectPublicKeyInfo) of a private one (PKCS #8).
pub fn public_of(private_der: &[u8]) -> R<Vec<u8>> {
    spki(&private(private_der)?.to_public_key())
}

/// Checks a PKCS #8 private key and gives its modulus length in bits.
pub fn private_bits(der: &[u8]) -> R<usize> {
    Ok(private(der)?.size() * 8)
}

/// Checks a SubjectPublicKeyInfo and gives its modulus length in bits.
pub fn public_bits(der: &[u8]) -> R<usize> {
    Ok(public(der)?.size() * 8)
}

/// A key's JWK members as big-endian bytes, in k6's set: `n`, `e` and, for a private key, `d`,
/// `p`, `q`, `dp`, `dq`, `qi`.
pub fn jwk_export(der: &[u8], is_private: bool) -> R<Vec<(&'static str, Vec<u8>)>> {
    if !is_private {
        let k = public(der)?;
        return Ok(vec![("n", k.n().to_bytes_be()), ("e", k.e().to_bytes_be())]);
    }
    // The PKCS #1 structure holds every member already computed.
    let pkcs1 = private(der)?
        .to_pkcs1_der()
        .map_err(|e| CryptoError::operation(format!("cannot encode key: {e}")))?;
    let k = rsa::pkcs1::RsaPrivateKey::try_from(pkcs1.as_bytes())
        .map_err(|e| CryptoError::operation(format!("cannot encode key: {e}")))?;
    let b = |u: rsa::pkcs1::UintRef<'_>| u.as_bytes().to_vec();
    Ok(vec![
        ("n", b(k.modulus)),
        ("e", b(k.public_exponent)),
        ("d", b(k.private_exponent)),
        ("p", b(k.prime1)),
        ("q", b(k.prime2)),
        ("dp", b(k.exponent1)),
        ("dq", b(k.exponent2)),
        ("qi", b(k.coefficient)),
    ])
}

/// A key from JWK members (big-endian bytes): private (PKCS #8) when `d` is given, else public
/// (SubjectPublicKeyInfo). A private key needs `p` and `q`; `dp`, `dq` and `qi` are computed.
pub fn jwk_import(n: &[u8], e: &[u8], private_parts: Option<(&[u8], &[u8], &[u8])>) -> R<Vec<u8>> {
    let n = BigUint::from_bytes_be(n);
    let e = BigUint::from_bytes_be(e);
    match private_parts {
        None => spki(
            &RsaPublicKey::new(n, e)
                .map_err(|err| CryptoError::data(format!("invalid RSA JWK key: {err}")))?,
        ),
        Some((d, p, q)) => {
            let key = RsaPrivateKey::from_components(
                n,
                e,
                BigUint::from_bytes_be(d),
                vec![BigUint::from_bytes_be(p), BigUint::from_bytes_be(q)],
            )
            .and_then(|mut k| k.validate().and(k.precompute()).map(|()| k))
            .map_err(|err| CryptoError::data(format!("invalid RSA JWK key: {err}")))?;
            pkcs8(&key)
        }
    }
}

/// Signs `hash(data)` with a private key (PKCS #8).
pub fn sign(scheme: Scheme, hash: Hash, der: &[u8], data: &[u8]) -> R<Vec<u8>> {
    let key = private(der)?;
    let hashed = hash.digest(data);
    by_hash!(hash, |D| match scheme {
        Scheme::Pkcs1v15 => key.sign(Pkcs1v15Sign::new::<D>(), &hashed),
        Scheme::Pss(salt) => key.sign_with_rng(
            &mut rand_core::OsRng,
            Pss::new_with_salt::<D>(salt),
            &hashed
        ),
    })
    .map_err(|e| CryptoError::operation(format!("could not sign data: {e}")))
}

/// Whether `sig` signs `hash(data)` for a public key (SubjectPublicKeyInfo).
pub fn verify(scheme: Scheme, hash: Hash, der: &[u8], sig: &[u8], data: &[u8]) -> R<bool> {
    let key = public(der)?;
    let hashed = hash.digest(data);
    Ok(by_hash!(hash, |D| match scheme {
        Scheme::Pkcs1v15 => key.verify(Pkcs1v15Sign::new::<D>(), &hashed, sig),
        Scheme::Pss(salt) => key.verify(Pss::new_with_salt::<D>(salt), &hashed, sig),
    })
    .is_ok())
}

/// RSA-OAEP with `hash` for both the label and MGF1: encrypts with a public key
/// (SubjectPublicKeyInfo) or decrypts with a private one (PKCS #8).
pub fn oaep_crypt(encrypt: bool, hash: Hash, label: &[u8], der: &[u8], data: &[u8]) -> R<Vec<u8>> {
    let label = if label.is_empty() {
        None
    } else {
        // The rsa crate takes the label as text.
        Some(String::from_utf8(label.to_vec()).map_err(|_| {
            CryptoError::not_supported("Volley supports only UTF-8 text as an RSA-OAEP label")
        })?)
    };
    let padding = by_hash!(hash, |D| match label {
        Some(l) => Oaep::new_with_label::<D, _>(l),
        None => Oaep::new::<D>(),
    });
    if encrypt {
        public(der)?
            .encrypt(&mut rand_core::OsRng, padding, data)
            .map_err(|e| CryptoError::operation(format!("could not encrypt data: {e}")))
    } else {
        private(der)?
            .decrypt(padding, data)
            .map_err(|e| CryptoError::operation(format!("could not decrypt data: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_sign_verify_encrypt_and_jwk_round_trip() {
        let der = generate(1024, &[1, 0, 1]).unwrap();
        assert_eq!(private_bits(&der).unwrap(), 1024);
        let pubder = public_of(&der).unwrap();
        assert_eq!(public_bits(&pubder).unwrap(), 1024);
        for scheme in [Scheme::Pkcs1v15, Scheme::Pss(32), Scheme::Pss(0)] {
            let sig = sign(scheme, Hash::Sha256, &der, b"hello").unwrap();
            assert_eq!(sig.len(), 128);
            assert!(verify(scheme, Hash::Sha256, &pubder, &sig, b"hello").unwrap());
            assert!(!verify(scheme, Hash::Sha256, &pubder, &sig, b"hellO").unwrap());
            assert!(!verify(scheme, Hash::Sha1, &pubder, &sig, b"hello").unwrap());
        }
        // PKCS #1 v1.5 signatures are deterministic.
        assert_eq!(
            sign(Scheme::Pkcs1v15, Hash::Sha1, &der, b"x").unwrap(),
            sign(Scheme::Pkcs1v15, Hash::Sha1, &der, b"x").unwrap()
        );
        let ct = oaep_crypt(true, Hash::Sha256, b"L", &pubder, b"secret").unwrap();
        assert_eq!(
            oaep_crypt(false, Hash::Sha256, b"L", &der, &ct).unwrap(),
            b"secret"
        );
        let e = oaep_crypt(false, Hash::Sha256, b"M", &der, &ct).unwrap_err();
        assert_eq!(e.name, "OperationError");
        let e = oaep_crypt(true, Hash::Sha256, b"", &pubder, &[0; 100]).unwrap_err();
        assert!(e.message.starts_with("could not encrypt data"), "{e}");

        let parts = jwk_export(&der, true).unwrap();
        let get = |k: &str| parts.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("e"), vec![1, 0, 1]);
        let back = jwk_import(
            &get("n"),
            &get("e"),
            Some((&get("d"), &get("p"), &get("q"))),
        )
        .unwrap();
        assert_eq!(jwk_export(&back, true).unwrap(), parts);
        let pubback = jwk_import(&get("n"), &get("e"), None).unwrap();
        assert_eq!(pubback, pubder);
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(
            generate(128, &[1, 0, 1]).unwrap_err().name,
            "OperationError"
        );
        assert_eq!(private_bits(b"junk").unwrap_err().name, "DataError");
        assert_eq!(public_bits(b"junk").unwrap_err().name, "DataError");
        assert_eq!(
            jwk_import(&[0xff; 64], &[1, 0, 1], Some((&[1], &[3], &[5])))
                .unwrap_err()
                .name,
            "DataError"
        );
    }
}
