//! AES for `crypto.subtle.encrypt`/`decrypt`: GCM, CBC (PKCS#7 padding) and CTR with the
//! counter length WebCrypto names ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#webcrypto)).

use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::{U12, U13, U14, U15, U16};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::AesGcm;

use super::CryptoError;

type R<T> = Result<T, CryptoError>;

/// The AES key sizes WebCrypto allows, in bytes.
pub fn valid_key_len(n: usize) -> bool {
    matches!(n, 16 | 24 | 32)
}

/// AES-GCM with a 12-byte IV and a tag of `tag_bytes` (12 to 16) appended to the ciphertext.
pub fn gcm(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag_bytes: usize,
    data: &[u8],
) -> R<Vec<u8>> {
    if iv.len() != 12 {
        return Err(CryptoError::not_supported(
            "only 12 bytes long iv are supported",
        ));
    }
    if !encrypt && data.len() < tag_bytes {
        return Err(CryptoError::operation("ciphertext is too short"));
    }
    macro_rules! run {
        ($aes:ty, $tag:ty) => {{
            let c = AesGcm::<$aes, U12, $tag>::new_from_slice(key)
                .map_err(|_| CryptoError::data("invalid key length"))?;
            let payload = Payload { msg: data, aad };
            let nonce = aes_gcm::Nonce::<U12>::from_slice(iv);
            if encrypt {
                c.encrypt(nonce, payload)
                    .map_err(|_| CryptoError::operation("could not encrypt data"))
            } else {
                c.decrypt(nonce, payload)
                    .map_err(|_| CryptoError::operation("could not decrypt ciphertext"))
            }
        }};
    }
    macro_rules! by_tag {
        ($aes:ty) => {
            match tag_bytes {
                12 => run!($aes, U12),
                13 => run!($aes, U13),
                14 => run!($aes, U14),
                15 => run!($aes, U15),
                16 => run!($aes, U16),
                _ => Err(CryptoError::operation(
                    "invalid tag length, should be one of 96, 104, 112, 120, 128",
                )),
            }
        };
    }
    match key.len() {
        16 => by_tag!(Aes128),
        24 => by_tag!(Aes192),
        32 => by_tag!(Aes256),
        n => Err(CryptoError::data(format!("invalid key length {n} bytes"))),
    }
}

/// AES-CBC with PKCS#7 padding and a 16-byte IV.
pub fn cbc(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> R<Vec<u8>> {
    use aes::cipher::block_padding::Pkcs7;
    if iv.len() != 16 {
        return Err(CryptoError::operation("iv length is not 16 bytes"));
    }
    if !encrypt && (data.is_empty() || !data.len().is_multiple_of(16)) {
        // k6 v1.1.0 crashes here; a clear error is kinder.
        return Err(CryptoError::operation(
            "ciphertext length is not a multiple of the 16-byte block size",
        ));
    }
    macro_rules! run {
        ($aes:ty) => {{
            if encrypt {
                let c = cbc::Encryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|_| CryptoError::data("invalid key length"))?;
                Ok(c.encrypt_padded_vec_mut::<Pkcs7>(data))
            } else {
                let c = cbc::Decryptor::<$aes>::new_from_slices(key, iv)
                    .map_err(|_| CryptoError::data("invalid key length"))?;
                c.decrypt_padded_vec_mut::<Pkcs7>(data)
                    .map_err(|_| CryptoError::operation("invalid padding"))
            }
        }};
    }
    match key.len() {
        16 => run!(Aes128),
        24 => run!(Aes192),
        32 => run!(Aes256),
        n => Err(CryptoError::data(format!("invalid key length {n} bytes"))),
    }
}

/// AES-CTR: the rightmost `length_bits` bits of the 16-byte counter block count up (wrapping
/// within those bits), the rest stays as given. The same call encrypts and decrypts.
pub fn ctr(key: &[u8], counter: &[u8], length_bits: u32, data: &[u8]) -> R<Vec<u8>> {
    if counter.len() != 16 {
        return Err(CryptoError::operation("counter length is not 16 bytes"));
    }
    if length_bits == 0 || length_bits > 128 {
        return Err(CryptoError::operation(
            "invalid counter length, out of the 0 < x < 128 bounds",
        ));
    }
    let mut block = [0u8; 16];
    block.copy_from_slice(counter);
    let start = u128::from_be_bytes(block);
    let mask = if length_bits == 128 {
        u128::MAX
    } else {
        (1u128 << length_bits) - 1
    };
    // A counter of n bits gives 2^n distinct blocks; more would reuse the keystream.
    let blocks = data.len().div_ceil(16) as u128;
    if length_bits < 128 && blocks > mask + 1 {
        return Err(CryptoError::operation(
            "data is too long for the counter length",
        ));
    }
    macro_rules! run {
        ($aes:ty) => {{
            let c =
                <$aes>::new_from_slice(key).map_err(|_| CryptoError::data("invalid key length"))?;
            let mut out = Vec::with_capacity(data.len());
            for (i, chunk) in data.chunks(16).enumerate() {
                let low = (start & mask).wrapping_add(i as u128) & mask;
                let value = (start & !mask) | low;
                let mut ks = aes::Block::from(value.to_be_bytes());
                c.encrypt_block(&mut ks);
                out.extend(chunk.iter().zip(ks.iter()).map(|(a, b)| a ^ b));
            }
            Ok(out)
        }};
    }
    match key.len() {
        16 => run!(Aes128),
        24 => run!(Aes192),
        32 => run!(Aes256),
        n => Err(CryptoError::data(format!("invalid key length {n} bytes"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const KEY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    /// The ciphertexts k6 v1.1.0 gave for the same key, IV and data (measured).
    #[test]
    fn ciphertexts_match_k6() {
        let iv: Vec<u8> = (100..112).collect();
        let ct = gcm(true, &KEY, &iv, b"", 16, b"hello world").unwrap();
        assert_eq!(
            ct,
            unhex("720722c9b422cf95e95233a934e62e51bbc66ba119895f3f9026b7")
        );
        assert_eq!(gcm(false, &KEY, &iv, b"", 16, &ct).unwrap(), b"hello world");
        assert_eq!(
            gcm(true, &KEY, &iv, b"aad", 12, b"hello world").unwrap(),
            unhex("720722c9b422cf95e95233b766f51ddc645a94d14753c2")
        );
        assert_eq!(
            cbc(true, &KEY, &[0; 16], b"hello world").unwrap(),
            unhex("9276fdf384f38518fa6c8310f191678d")
        );
        assert_eq!(
            cbc(true, &KEY, &[0; 16], &[0; 16]).unwrap(),
            unhex("c6a13b37878f5b826f4f8162a1c8d879b1a29273be2c4207a5ace393398cb6fb")
        );
        assert_eq!(
            ctr(&KEY, &[0; 16], 64, b"hello world").unwrap(),
            unhex("aec4575be8af2ced1d23e5")
        );
        // The first block of a counter at its top; k6 then carries into the whole block
        // (its second block is AES(0)), WebCrypto wraps only the counter's own 8 bits.
        let wrapped = ctr(&KEY, &[255; 16], 8, &[0; 40]).unwrap();
        assert_eq!(wrapped[..16], unhex("3c441f32ce07822364d7a2990e50bb13")[..]);
        let mut next = [255u8; 16];
        next[15] = 0;
        assert_eq!(
            wrapped[16..32],
            ctr(&KEY, &next, 128, &[0; 16]).unwrap()[..]
        );
        next[15] = 1;
        assert_eq!(wrapped[32..], ctr(&KEY, &next, 128, &[0; 8]).unwrap()[..]);
    }

    #[test]
    fn bad_input_is_refused_with_webcrypto_errors() {
        let iv = [0u8; 12];
        let ct = gcm(true, &KEY, &iv, b"", 16, b"x").unwrap();
        let mut bad = ct.clone();
        bad[0] ^= 1;
        let name = |r: R<Vec<u8>>| r.unwrap_err().to_string();
        assert_eq!(
            name(gcm(false, &KEY, &iv, b"", 16, &bad)),
            "OperationError: could not decrypt ciphertext"
        );
        assert_eq!(
            name(gcm(false, &KEY, &iv, b"", 16, &[1, 2])),
            "OperationError: ciphertext is too short"
        );
        assert_eq!(
            name(gcm(true, &KEY, &[0; 16], b"", 16, b"x")),
            "NotSupportedError: only 12 bytes long iv are supported"
        );
        assert!(
            name(gcm(true, &KEY, &iv, b"", 11, b"x")).starts_with("OperationError: invalid tag")
        );
        assert_eq!(
            name(cbc(false, &KEY, &[0; 16], &[0; 16])),
            "OperationError: invalid padding"
        );
        assert!(name(cbc(false, &KEY, &[0; 16], &[0; 10])).contains("multiple"));
        assert_eq!(
            name(cbc(true, &KEY, &[0; 12], b"x")),
            "OperationError: iv length is not 16 bytes"
        );
        assert!(name(ctr(&KEY, &[0; 16], 0, b"x")).contains("out of the 0 < x < 128"));
        assert!(name(ctr(&KEY, &[0; 16], 1, &[0; 33])).contains("too long"));
        assert_eq!(
            name(cbc(true, &[0; 5], &[0; 16], b"x")),
            "DataError: invalid key length 5 bytes"
        );
    }
}
