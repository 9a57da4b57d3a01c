//! The controller's REST API in one place: the request and response types the controller
//! serializes, the CLI, `volley run --out cloud` and the end-to-end tests read, and from which
//! the OpenAPI document is generated (`utoipa`), plus (feature `client`) one typed blocking
//! client for it.
//!
//! A crate of its own rather than a `volley-common` module: `common` is the vocabulary of the
//! load generator's hot paths, and neither the OpenAPI derive nor an HTTP client belongs in
//! every crate that needs an execution segment. The agent may not depend on the controller, so
//! the types cannot live there either.

pub mod types;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod tls;

pub use types::*;
