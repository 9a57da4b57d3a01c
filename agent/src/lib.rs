//! Volley's load generator: the JavaScript runtime and k6 modules, VUs as coroutines on JS
//! worker threads, executors, the HTTP client and local metric aggregation.
//!
//! Reading order: [`engine`] (one run from start to end) → [`executor`] (who runs what, when)
//! and [`scenario`] (the jobs executors hand to VUs) → [`vu`] (one virtual user) → [`worker`]
//! and [`coro`] (how VUs share threads) → [`js`] (module loading and the k6 modules) and
//! [`program`] (the compiled test) → [`http`] (the per-VU HTTP client) → [`metrics`].
//!
//! Dependencies point down that list, never back up: `.ci/module_cycles.py` lists any cycle
//! between modules.

pub mod api;
pub mod capacity;
pub mod cluster;
pub mod console;
pub mod coro;
pub mod engine;
pub mod executor;
pub mod http;
pub mod js;
pub mod metrics;
pub mod output;
pub mod program;
pub mod run;
pub mod sandbox;
pub mod scenario;
pub mod sched;
pub mod secrets;
pub mod vu;
pub mod worker;
