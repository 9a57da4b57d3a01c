//! Volley's load generator: the JavaScript runtime and k6 modules, VUs as coroutines on JS
//! worker threads, executors, the HTTP client and local metric aggregation.
pub mod http;
