//! Cases of `k6/net/grpc`, against the gRPC server, plain and over TLS.

use super::*;

#[test]
fn grpc_calls_streams_reflection_and_metric_tags() {
    differential(&Case {
        script: "grpc_calls.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn grpc_over_tls_with_a_test_ca_client_certificates_and_certificate_errors() {
    differential(&Case {
        script: "grpc_tls.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
