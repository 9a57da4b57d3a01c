//! Comparing a secret a peer presents with the one expected, in a time that depends on
//! neither (docs/security.md): both are hashed (SHA-256) and the digests compared in constant
//! time ([`subtle`]), so not even the secret's length shows (`ct_eq` on the secrets themselves
//! returns at once when the lengths differ). Every secret a peer presents is checked so: the
//! agents' join token, the Raft peer token, a streamed run's secret. API tokens are looked up
//! by their hash among all stored hashes (`crate::auth::find`).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether `presented` is the secret `expected`.
pub fn matches(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(presented.as_slice().ct_eq(expected.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_compared_by_their_digests() {
        let secret = "volley_0123456789abcdef";
        assert!(matches(secret, secret));
        for other in [
            "",
            "volley_",
            "volley_0123456789abcdeF",
            "volley_0123456789abcdef0",
            "x",
        ] {
            assert!(!matches(other, secret), "{other:?}");
            assert!(!matches(secret, other), "{other:?}");
        }
        assert!(matches("", ""));
    }
}
