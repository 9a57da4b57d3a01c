//! k6's own cloud API, the part the real k6 v1.1.0 binary calls when `K6_CLOUD_HOST` points at
//! the controller: `k6 cloud run` (`cloud_run.rs`: the test runs on Volley's agents) and `k6
//! run --out cloud` (`cloud_output.rs`: a local k6 run streams its metrics into a Volley run,
//! decoded by `pushes.rs` and `trend.rs`). The routes, how each is answered and what is not
//! supported are in [docs/k6-cloud-client.md](../../../../docs/k6-cloud-client.md).
//!
//! k6 reads errors as `{"error": {"message"}}` and cannot read Volley's string `code`, so these
//! routes answer errors in k6's shape ([`K6CloudError`]); everything else about them (body
//! limits, authentication) is the rest of the API's.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use volley_api::{K6CloudError, K6CloudErrorDetail};

use super::{ApiError, ServiceError};

pub(super) mod cloud_output;
pub(super) mod cloud_run;
mod pushes;
mod trend;

#[cfg(test)]
mod fuzz_tests;

/// An [`ApiError`] answered in the shape k6 reads.
#[derive(Debug)]
pub(in crate::api) struct K6Error(pub(in crate::api) ApiError);

impl From<ApiError> for K6Error {
    fn from(e: ApiError) -> Self {
        K6Error(e)
    }
}

impl From<ServiceError> for K6Error {
    fn from(e: ServiceError) -> Self {
        K6Error(e.into())
    }
}

impl IntoResponse for K6Error {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = K6CloudError {
            error: K6CloudErrorDetail {
                message: e.message,
                volley_code: e.code,
                status: e.status.as_u16(),
                code: None,
            },
        };
        let mut resp = (e.status, Json(body)).into_response();
        if e.status == StatusCode::METHOD_NOT_ALLOWED {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        resp
    }
}

pub(in crate::api) fn run_ref(raw: &str) -> Result<u64, K6Error> {
    raw.parse::<u64>().map_err(|_| {
        K6Error(ApiError::bad_request(
            "invalid_id",
            format!("`{raw}` is not a Volley run id: k6's reference_id is the run's id, a non-negative integer"),
        ))
    })
}
