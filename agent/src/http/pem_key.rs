//! Private keys in legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED` and `DEK-Info`, as
//! `openssl rsa -aes256` writes them): what k6's `password` of a client certificate decrypts
//! (`tlsAuth`, and `tls` of `k6/net/grpc`'s `connect`). Errors are Go's words, as k6 shows them.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::Engine;
use md5::{Digest, Md5};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

/// Decrypts the first private key of `pem` with `password`.
pub(crate) fn decrypt(pem: &str, password: &str) -> Result<PrivateKeyDer<'static>, String> {
    let no_pem = || {
        "failed to append certificate from PEM: tls: failed to find any PEM data in key input"
            .to_owned()
    };
    let mut lines = pem.lines().map(str::trim);
    let label = lines
        .find_map(|l| {
            l.strip_prefix("-----BEGIN ")
                .and_then(|r| r.strip_suffix("-----"))
                .filter(|r| r.ends_with("PRIVATE KEY"))
        })
        .ok_or_else(no_pem)?
        .to_owned();
    let mut dek = None;
    let mut body = String::new();
    for l in lines.by_ref() {
        if l.starts_with("-----END ") {
            break;
        }
        if let Some(v) = l.strip_prefix("DEK-Info:") {
            dek = Some(v.trim().to_owned());
        } else if !l.contains(':') {
            body.push_str(l);
        }
    }
    let dek = dek.ok_or("x509: no DEK-Info header in block")?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or("x509: malformed DEK-Info header")?;
    let iv = hex(iv_hex).ok_or("x509: incorrect IV size")?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| no_pem())?;
    let key_len = match cipher {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-CBC" | "DES-EDE3-CBC" => {
            return Err(format!(
                "x509: the key is encrypted with {cipher}, which Volley does not decrypt; \
                 re-encrypt it with AES (openssl rsa -aes256) or give it unencrypted"
            ))
        }
        _ => return Err("x509: unknown encryption mode".into()),
    };
    if iv.len() != 16 {
        return Err("x509: incorrect IV size".into());
    }
    let key = bytes_to_key(password.as_bytes(), &iv[..8], key_len);
    let wrong = |_| "x509: decryption password incorrect".to_owned();
    let der = match key_len {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
            .map_err(|_| wrong(()))?
            .decrypt_padded_vec_mut::<Pkcs7>(&data)
            .map_err(|_| wrong(()))?,
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
            .map_err(|_| wrong(()))?
            .decrypt_padded_vec_mut::<Pkcs7>(&data)
            .map_err(|_| wrong(()))?,
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .map_err(|_| wrong(()))?
            .decrypt_padded_vec_mut::<Pkcs7>(&data)
            .map_err(|_| wrong(()))?,
    };
    Ok(match label.as_str() {
        "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(der).into(),
        "EC PRIVATE KEY" => PrivateSec1KeyDer::from(der).into(),
        _ => PrivatePkcs8KeyDer::from(der).into(),
    })
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round: the key of legacy encrypted PEM.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(password);
        h.update(salt);
        prev = h.finalize().to_vec();
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unencrypted_key_with_a_password_is_gos_error() {
        let key = rcgen::KeyPair::generate().expect("key");
        assert_eq!(
            decrypt(&key.serialize_pem(), "pw").unwrap_err(),
            "x509: no DEK-Info header in block"
        );
        assert!(decrypt("nothing", "pw")
            .unwrap_err()
            .contains("failed to find any PEM data"));
    }

    #[test]
    fn aes_encrypted_pem_decrypts_with_the_right_password_only() {
        // Fixed bytes standing for a key (decryption does not parse them), encrypted as
        // OpenSSL does.
        let der: Vec<u8> = (0u8..45).collect();
        let iv = [7u8; 16];
        let k = bytes_to_key(b"secret", &iv[..8], 32);
        use aes::cipher::BlockEncryptMut;
        let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&k, &iv)
            .expect("cipher")
            .encrypt_padded_vec_mut::<Pkcs7>(&der);
        let body = base64::engine::general_purpose::STANDARD.encode(ct);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,{}\n\n{body}\n-----END PRIVATE KEY-----\n",
            "07".repeat(16)
        );
        let got = decrypt(&pem, "secret").expect("decrypts");
        assert_eq!(got.secret_der(), der.as_slice());
        assert_eq!(
            decrypt(&pem, "wrong").unwrap_err(),
            "x509: decryption password incorrect"
        );
    }
}
