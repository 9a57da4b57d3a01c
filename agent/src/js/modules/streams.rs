//! `k6/experimental/streams`: `ReadableStream`, its default reader and controller, and
//! `CountQueuingStrategy`
//! ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#k6experimentalstreams)).
//!
//! The module is JS alone (`streams.js`): streams hold JS values and settle JS promises, so
//! they live in the VU's heap and resolve on its event loop, with no native to call.

use std::rc::Rc;

use rquickjs::Ctx;

use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::VuCtx;

/// `k6/experimental/streams`.
pub const MODULE: K6Module = K6Module {
    name: "k6/experimental/streams",
    js: include_str!("streams.js"),
    install,
};

fn install<'js>(_ctx: &Ctx<'js>, _v: &Natives<'js>, _vu: &Rc<VuCtx>) -> rquickjs::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
