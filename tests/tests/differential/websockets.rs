//! Cases of `k6/ws` and `k6/websockets`, against the WebSocket echo and broadcast server.

use super::*;

#[test]
fn ws_connect_handlers_close_codes_and_metrics() {
    differential(&Case {
        script: "ws_connect.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn websockets_events_broadcast_and_metrics() {
    differential(&Case {
        script: "ws_websockets.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
