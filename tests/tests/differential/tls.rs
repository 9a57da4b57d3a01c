//! Cases of k6's TLS options: `tlsAuth` client certificates and `tlsCipherSuites`.

use super::*;

#[test]
fn tls_auth_presents_a_client_certificate_whatever_its_domains() {
    differential(&Case {
        script: "tls_auth.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn without_tls_auth_a_server_wanting_a_client_certificate_refuses() {
    differential(&Case {
        script: "tls_auth_missing.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn tls_cipher_suites_restrict_tls12_and_name_the_suite() {
    differential(&Case {
        script: "tls_cipher_suites.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn tls_cipher_suites_the_server_does_not_speak_fail_the_handshake() {
    differential(&Case {
        script: "tls_cipher_suites_mismatch.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn an_unknown_tls_cipher_suite_exits_104() {
    differential(&Case {
        script: "tls_cipher_suites_unknown.js",
        exit_code: 104,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: false,
    });
}
