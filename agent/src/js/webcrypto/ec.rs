//! Elliptic-curve keys for ECDSA and ECDH on P-256, P-384 and P-521: generation, the `raw`
//! (uncompressed point), `spki` and `pkcs8` encodings, signatures over a digest (WebCrypto's
//! `r ‖ s` form) and the ECDH shared secret
//! ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#webcrypto)).
//! A private key is kept as its scalar, a public key as its uncompressed point.

use super::{CryptoError, Hash};

type R<T> = Result<T, CryptoError>;

/// A named curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn from_name(name: &str) -> Option<Curve> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

/// The same operations for each curve crate.
macro_rules! curve_ops {
    ($m:ident, $krate:ident) => {
        mod $m {
            use super::{CryptoError, R};
            use $krate::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use $krate::ecdsa::{Signature, SigningKey, VerifyingKey};
            use $krate::elliptic_curve::sec1::ToEncodedPoint;
            use $krate::pkcs8::{
                DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey,
            };
            use $krate::{PublicKey, SecretKey};

            fn secret(d: &[u8]) -> R<SecretKey> {
                SecretKey::from_slice(d)
                    .map_err(|_| CryptoError::data("invalid elliptic curve private key"))
            }

            fn public(point: &[u8]) -> R<PublicKey> {
                PublicKey::from_sec1_bytes(point)
                    .map_err(|_| CryptoError::data("invalid elliptic curve public key"))
            }

            fn point(pk: &PublicKey) -> Vec<u8> {
                pk.to_encoded_point(false).as_bytes().to_vec()
            }

            pub fn generate() -> (Vec<u8>, Vec<u8>) {
                let sk = SecretKey::random(&mut rand_core::OsRng);
                (sk.to_bytes().to_vec(), point(&sk.public_key()))
            }

            pub fn public_of(d: &[u8]) -> R<Vec<u8>> {
                Ok(point(&secret(d)?.public_key()))
            }

            pub fn check_public(p: &[u8]) -> R<Vec<u8>> {
                Ok(point(&public(p)?))
            }

            pub fn pkcs8_export(d: &[u8]) -> R<Vec<u8>> {
                let der = secret(d)?
                    .to_pkcs8_der()
                    .map_err(|e| CryptoError::operation(format!("cannot encode key: {e}")))?;
                Ok(der.as_bytes().to_vec())
            }

            pub fn pkcs8_import(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
                let sk = SecretKey::from_pkcs8_der(der).ok()?;
                Some((sk.to_bytes().to_vec(), point(&sk.public_key())))
            }

            pub fn spki_export(p: &[u8]) -> R<Vec<u8>> {
                let der = public(p)?
                    .to_public_key_der()
                    .map_err(|e| CryptoError::operation(format!("cannot encode key: {e}")))?;
                Ok(der.as_bytes().to_vec())
            }

            pub fn spki_import(der: &[u8]) -> Option<Vec<u8>> {
                PublicKey::from_public_key_der(der).ok().map(|pk| point(&pk))
            }

            /// A digest shorter than the field is taken as the same number, left-padded (as
            /// FIPS 186 and Go do); a longer one is truncated by the crate.
            fn field_prehash(prehash: &[u8]) -> Vec<u8> {
                let n = $krate::FieldBytes::default().len();
                let mut v = vec![0u8; n.saturating_sub(prehash.len())];
                v.extend_from_slice(prehash);
                v
            }

            pub fn sign(d: &[u8], prehash: &[u8]) -> R<Vec<u8>> {
                // From the scalar's bytes: p521's signing key is its own type, not the generic
                // one made from a `SecretKey`.
                let sig: Signature = SigningKey::from_slice(&secret(d)?.to_bytes())
                    .map_err(|_| CryptoError::data("invalid elliptic curve private key"))?
                    .sign_prehash(&field_prehash(prehash))
                    .map_err(|e| CryptoError::operation(format!("could not sign data: {e}")))?;
                Ok(sig.to_bytes().to_vec())
            }

            pub fn verify(p: &[u8], prehash: &[u8], sig: &[u8]) -> R<bool> {
                let vk = VerifyingKey::from_sec1_bytes(&point(&public(p)?))
                    .map_err(|_| CryptoError::data("invalid elliptic curve public key"))?;
                Ok(Signature::from_slice(sig)
                    .map(|s| vk.verify_prehash(&field_prehash(prehash), &s).is_ok())
                    .unwrap_or(false))
            }

            pub fn ecdh(d: &[u8], p: &[u8]) -> R<Vec<u8>> {
                let shared = $krate::ecdh::diffie_hellman(
                    secret(d)?.to_nonzero_scalar(),
                    public(p)?.as_affine(),
                );
                Ok(shared.raw_secret_bytes().to_vec())
            }
        }
    };
}

curve_ops!(p256_ops, p256);
curve_ops!(p384_ops, p384);
curve_ops!(p521_ops, p521);

macro_rules! on_curve {
    ($curve:expr, $f:ident ( $($arg:expr),* )) => {
        match $curve {
            Curve::P256 => p256_ops::$f($($arg),*),
            Curve::P384 => p384_ops::$f($($arg),*),
            Curve::P521 => p521_ops::$f($($arg),*),
        }
    };
}

/// A new key pair: the private scalar and the public point.
pub fn generate(curve: Curve) -> (Vec<u8>, Vec<u8>) {
    on_curve!(curve, generate())
}

/// The public point of a private scalar (checks the scalar).
pub fn public_of(curve: Curve, d: &[u8]) -> R<Vec<u8>> {
    on_curve!(curve, public_of(d))
}

/// A public point in any SEC1 form, checked to be on the curve, as an uncompressed point.
pub fn check_public(curve: Curve, point: &[u8]) -> R<Vec<u8>> {
    on_curve!(curve, check_public(point))
}

pub fn pkcs8_export(curve: Curve, d: &[u8]) -> R<Vec<u8>> {
    on_curve!(curve, pkcs8_export(d))
}

/// A PKCS#8 private key of a supported curve: the curve, the scalar and the public point.
pub fn pkcs8_import(der: &[u8]) -> R<(Curve, Vec<u8>, Vec<u8>)> {
    if let Some((d, p)) = p256_ops::pkcs8_import(der) {
        return Ok((Curve::P256, d, p));
    }
    if let Some((d, p)) = p384_ops::pkcs8_import(der) {
        return Ok((Curve::P384, d, p));
    }
    if let Some((d, p)) = p521_ops::pkcs8_import(der) {
        return Ok((Curve::P521, d, p));
    }
    Err(CryptoError::data(
        "a private key is not a P-256, P-384 or P-521 elliptic curve key in PKCS #8",
    ))
}

pub fn spki_export(curve: Curve, point: &[u8]) -> R<Vec<u8>> {
    on_curve!(curve, spki_export(point))
}

/// A SubjectPublicKeyInfo of a supported curve: the curve and the public point.
pub fn spki_import(der: &[u8]) -> R<(Curve, Vec<u8>)> {
    if let Some(p) = p256_ops::spki_import(der) {
        return Ok((Curve::P256, p));
    }
    if let Some(p) = p384_ops::spki_import(der) {
        return Ok((Curve::P384, p));
    }
    if let Some(p) = p521_ops::spki_import(der) {
        return Ok((Curve::P521, p));
    }
    Err(CryptoError::data(
        "a public key is not a P-256, P-384 or P-521 elliptic curve key in SubjectPublicKeyInfo",
    ))
}

/// ECDSA over `hash(data)`; the signature is `r ‖ s`, each as long as the curve's field.
pub fn sign(curve: Curve, hash: Hash, d: &[u8], data: &[u8]) -> R<Vec<u8>> {
    on_curve!(curve, sign(d, &hash.digest(data)))
}

/// Whether `sig` is a valid ECDSA signature of `hash(data)`; a malformed one is simply invalid.
pub fn verify(curve: Curve, hash: Hash, point: &[u8], sig: &[u8], data: &[u8]) -> R<bool> {
    on_curve!(curve, verify(point, &hash.digest(data), sig))
}

/// The ECDH shared secret: the x coordinate of `d × point`.
pub fn ecdh(curve: Curve, d: &[u8], point: &[u8]) -> R<Vec<u8>> {
    on_curve!(curve, ecdh(d, point))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sign_verify_and_agree_on_every_curve() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let (d, p) = generate(curve);
            assert_eq!(public_of(curve, &d).unwrap(), p);
            let sig = sign(curve, Hash::Sha256, &d, b"hello").unwrap();
            let field = match curve {
                Curve::P256 => 32,
                Curve::P384 => 48,
                Curve::P521 => 66,
            };
            assert_eq!(sig.len(), 2 * field);
            assert!(verify(curve, Hash::Sha256, &p, &sig, b"hello").unwrap());
            assert!(!verify(curve, Hash::Sha256, &p, &sig, b"hellO").unwrap());
            assert!(!verify(curve, Hash::Sha384, &p, &sig, b"hello").unwrap());
            assert!(!verify(curve, Hash::Sha256, &p, &sig[1..], b"hello").unwrap());
            // Any hash with any curve, as WebCrypto allows.
            let sig = sign(curve, Hash::Sha1, &d, b"x").unwrap();
            assert!(verify(curve, Hash::Sha1, &p, &sig, b"x").unwrap());

            let (d2, p2) = generate(curve);
            assert_eq!(ecdh(curve, &d, &p2).unwrap(), ecdh(curve, &d2, &p).unwrap());
            assert_eq!(ecdh(curve, &d, &p2).unwrap().len(), field);

            let der = pkcs8_export(curve, &d).unwrap();
            assert_eq!(pkcs8_import(&der).unwrap(), (curve, d.clone(), p.clone()));
            let der = spki_export(curve, &p).unwrap();
            assert_eq!(spki_import(&der).unwrap(), (curve, p.clone()));
        }
    }

    /// A key k6 v1.1.0 generated and the SubjectPublicKeyInfo it exported for it (measured).
    #[test]
    fn spki_and_pkcs8_match_k6s_encoding() {
        let unhex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let point = unhex("04efab0614d002d5bf45df79f979e40420b7ddd4be4b96dcfe03ef5976b2bad164a0d2dbc8550321c9d9b783cac8d5234a30c66fc862f15434abdfce0c57a652c1");
        let spki = unhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004efab0614d002d5bf45df79f979e40420b7ddd4be4b96dcfe03ef5976b2bad164a0d2dbc8550321c9d9b783cac8d5234a30c66fc862f15434abdfce0c57a652c1");
        assert_eq!(spki_export(Curve::P256, &point).unwrap(), spki);
        let pkcs8 = unhex("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042021eb0476af1e4f01c488aad2660f83bbd0f57417e012bd251e629f6a005dd8ffa14403420004efab0614d002d5bf45df79f979e40420b7ddd4be4b96dcfe03ef5976b2bad164a0d2dbc8550321c9d9b783cac8d5234a30c66fc862f15434abdfce0c57a652c1");
        let (curve, d, p) = pkcs8_import(&pkcs8).unwrap();
        assert_eq!((curve, &p), (Curve::P256, &point));
        assert_eq!(pkcs8_export(Curve::P256, &d).unwrap(), pkcs8);
    }

    #[test]
    fn bad_keys_are_data_errors() {
        let e = check_public(Curve::P256, &[0; 65]).unwrap_err();
        assert_eq!(e.name, "DataError");
        assert_eq!(spki_import(b"junk").unwrap_err().name, "DataError");
        assert_eq!(pkcs8_import(b"junk").unwrap_err().name, "DataError");
        assert_eq!(
            public_of(Curve::P384, &[0; 48]).unwrap_err().name,
            "DataError"
        );
        let (_, p) = generate(Curve::P384);
        assert!(check_public(Curve::P256, &p).is_err());
    }
}
