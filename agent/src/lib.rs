//! Volley's load generator: the JavaScript runtime and k6 modules, VUs as coroutines on JS
//! worker threads, executors, the HTTP client and local metric aggregation.
//!
//! Reading order: [`engine`] (one run from start to end) → [`executor`] (who runs what, when)
//! → [`vu`] (one virtual user) → [`worker`] and [`coro`] (how VUs share threads) → [`js`]
//! (the k6 modules) → [`http`] (the per-VU HTTP client) → [`metrics`].

pub mod api;
pub mod cluster;
pub mod console;
pub mod coro;
pub mod engine;
pub mod executor;
pub mod http;
pub mod js;
pub mod metrics;
pub mod output;
pub mod run;
pub mod sched;
pub mod vu;
pub mod worker;
