//! The JavaScript side of a VU: module resolution and loading, the k6 modules, the globals k6
//! scripts expect, and the QuickJS runtime that a worker's VUs share.
//!
//! A test is compiled once (see [`crate::program`]); each VU then gets its own context in its
//! worker's [`shared_runtime`] and loads the bytecode. The k6 modules (`k6`, `k6/http`, ...) are
//! listed in one table in [`modules`]: each is a small JS module over native functions that every
//! VU installs into `globalThis.__volley`, sharing the VU's native state ([`vu_ctx::VuCtx`]).
//!
//! This file only declares the submodules: they name each other directly, so that no file of
//! `js` depends on this one.

pub mod error;
pub mod event_loop;
pub mod globals;
pub mod io_events;
pub mod jobs;
pub mod keys;
pub mod lazy;
pub mod loader;
pub mod modules;
#[cfg(test)]
pub mod modulestest;
pub mod shapes;
pub mod shared_runtime;
pub mod timer_queue;
pub mod vu_ctx;
pub mod webcrypto;

pub use error::JsError;
pub use loader::{DiskLoader, RemoteSource, VolleyResolver};
