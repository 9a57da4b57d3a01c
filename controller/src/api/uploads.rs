//! At most [`super::ApiLimits::max_concurrent_uploads`] request bodies that carry archives (new
//! tests, streamed runs) are read at once: each can be tens of MiB, held in memory while it is
//! parsed, hashed and stored, so without a bound a burst of uploads takes the controller's
//! memory with it. Over the bound an upload is refused at once with 429 and `Retry-After`,
//! before its body is read; the client sends it again a moment later. Metric batches are not
//! gated here (the next batch of a run should wait, not be refused): they count, with every
//! other body, in the bytes of `body_budget.rs`.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::ApiError;

/// The permits of concurrent uploads.
#[derive(Clone, Debug)]
pub(crate) struct UploadGate {
    permits: Arc<Semaphore>,
    max: usize,
}

impl UploadGate {
    pub(crate) fn new(max: usize) -> UploadGate {
        let max = max.max(1);
        UploadGate {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// The middleware of the upload routes: holds a permit while the request is handled.
    pub(super) async fn limit(self, req: Request, next: Next) -> Response {
        let Ok(_permit) = self.permits.try_acquire_owned() else {
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_uploads",
                format!(
                    "{} uploads are being received already, the most this controller takes at \
                     once (--max-concurrent-uploads); send it again after Retry-After seconds",
                    self.max
                ),
            )
            .into_response();
        };
        next.run(req).await
    }
}
