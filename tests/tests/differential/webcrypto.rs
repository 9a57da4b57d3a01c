//! Cases of the WebCrypto API (`crypto` global and `crypto.subtle`).

use super::*;

#[test]
fn webcrypto_global_random_values_uuid_and_digest() {
    differential(&Case {
        script: "webcrypto_global.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn webcrypto_subtle_keys_signatures_and_encryption() {
    differential(&Case {
        script: "webcrypto_subtle.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
