//! `k6/websockets` and its older path `k6/experimental/websockets`: the event-based
//! `WebSocket` class and `Blob` (`websockets.js`). Its natives are `k6/ws`'s (`ws/mod.rs`);
//! its sockets are event sources of the VU's event loop, so an iteration waits for them
//! ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#websockets)).

use std::rc::Rc;

use rquickjs::Ctx;

use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::VuCtx;

/// `k6/websockets` (k6 v1.2 and later).
pub const MODULE: K6Module = K6Module {
    name: "k6/websockets",
    js: include_str!("websockets.js"),
    install,
};

/// `k6/experimental/websockets`, the path k6 v1.1.0 has.
pub const EXPERIMENTAL: K6Module = K6Module {
    name: "k6/experimental/websockets",
    js: include_str!("websockets.js"),
    install,
};

fn install<'js>(_ctx: &Ctx<'js>, _v: &Natives<'js>, _vu: &Rc<VuCtx>) -> rquickjs::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
