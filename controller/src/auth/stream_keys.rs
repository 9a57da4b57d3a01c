//! The secrets of streamed runs (`volley run --out cloud`): each run's secret is an HMAC of its
//! id under a key of this controller, so the secret needs no storage of its own, survives a
//! restart with the key, and cannot be guessed from the (sequential) run id. The key is 256
//! random bits in a file of the data directory, readable by the controller's user only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key's file in the data directory.
pub const KEY_FILE: &str = "stream-secret.key";

/// The key the secrets are derived with.
#[derive(Clone)]
pub struct StreamKeys {
    key: [u8; 32],
}

impl std::fmt::Debug for StreamKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamKeys(<redacted>)")
    }
}

impl StreamKeys {
    /// A key of these bytes (tests).
    pub fn from_key(key: [u8; 32]) -> StreamKeys {
        StreamKeys { key }
    }

    /// Reads the key in `dir`, creating it (mode 0600) on first start.
    pub fn load_or_create(dir: &Path) -> std::io::Result<StreamKeys> {
        let path = dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} is not a 32-byte key; remove it to make a new one (streamed runs in progress then fail)",
                            path.display()
                        ),
                    )
                })?;
                Ok(StreamKeys { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(std::io::Error::other)?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                Ok(StreamKeys { key })
            }
            Err(e) => Err(e),
        }
    }

    fn mac(&self, run_id: u64) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(b"volley streamed run ");
        mac.update(&run_id.to_be_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The secret of run `run_id`.
    pub fn secret(&self, run_id: u64) -> String {
        format!("{}{}", super::SECRET_PREFIX, super::hex(&self.mac(run_id)))
    }

    /// Whether `presented` is run `run_id`'s secret (constant time).
    pub fn verify(&self, run_id: u64, presented: &str) -> bool {
        crate::secret::matches(presented, &self.secret(run_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_differ_per_run_and_per_key_and_verify() {
        let a = StreamKeys::from_key([1; 32]);
        let b = StreamKeys::from_key([2; 32]);
        assert_ne!(a.secret(1), a.secret(2));
        assert_ne!(a.secret(1), b.secret(1));
        assert!(a.verify(7, &a.secret(7)));
        assert!(!a.verify(7, &a.secret(8)));
        assert!(!a.verify(7, ""));
    }

    #[test]
    fn the_key_is_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("volley-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let k1 = StreamKeys::load_or_create(&dir).unwrap();
        let k2 = StreamKeys::load_or_create(&dir).unwrap();
        assert_eq!(k1.secret(3), k2.secret(3));
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
