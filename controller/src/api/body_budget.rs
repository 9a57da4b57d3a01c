//! Every request body the REST API reads counts against one budget of bytes,
//! [`super::ApiLimits::max_body_memory`], from its first byte until its handler answers: the
//! bytes a body is read into stay in memory that long. The per-route caps (1 MiB of JSON,
//! 80 MiB of archive or metric batch) bound one body, `--max-concurrent-uploads` the archive
//! uploads, but nothing bounded how many bodies were read at once: many clients with valid
//! tokens (or one streamed run's secret) each sending a large body together held N times the
//! cap ([docs/security.md](../../../docs/security.md)).
//!
//! A body's bytes are counted as they arrive, not when it is announced, so a client that
//! declares 80 MiB and trickles them holds only what it sent. A frame that does not fit waits,
//! first come first served, up to [`super::ApiLimits::body_memory_wait`]; then its read fails,
//! and the request is answered 503 `busy_receiving` with `Retry-After` — what a burst of
//! honest clients rides out by sending again (`volley run --out cloud` keeps a refused batch
//! and resends it).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use super::error::RETRY_AFTER_BUSY_SECS;
use super::extract::fmt_bytes;
use super::ApiError;

/// The bytes of request bodies the API may hold at once.
#[derive(Clone, Debug)]
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
    wait: Duration,
}

impl BodyBudget {
    pub(crate) fn new(total: usize, wait: Duration) -> BodyBudget {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(total)),
            total,
            wait,
        }
    }

    /// The middleware: counts the request's body against the budget until the handler has
    /// answered; a body that found no room in time is answered 503.
    pub(super) async fn limit(self, req: Request, next: Next) -> Response {
        let held = Arc::new(Held::default());
        let budget = self.clone();
        let body_held = held.clone();
        let req = req.map(|inner| {
            Body::new(BudgetBody {
                inner,
                budget,
                held: body_held,
                waiting: None,
            })
        });
        let resp = next.run(req).await;
        if held.spent.load(Ordering::Acquire) {
            return self.refusal();
        }
        resp
    }

    /// The answer to a request whose body found no room within the wait.
    fn refusal(&self) -> Response {
        let mut resp = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy_receiving",
            format!(
                "the controller is holding {} of request bodies already, the most it takes at \
                 once (--max-body-memory), and this request's body found no room within {} s; \
                 send it again after Retry-After seconds",
                fmt_bytes(self.total),
                self.wait.as_secs_f64()
            ),
        )
        .into_response();
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_BUSY_SECS),
        );
        resp
    }
}

/// What one request holds of the budget: its bytes, released when the last of the request's
/// body and its middleware lets go (after the handler answered).
#[derive(Default)]
struct Held {
    permits: Mutex<Option<OwnedSemaphorePermit>>,
    /// A frame found no room within the wait.
    spent: AtomicBool,
}

impl Held {
    fn add(&self, p: OwnedSemaphorePermit) {
        let mut permits = self.permits.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *permits {
            Some(held) => held.merge(p),
            none => *none = Some(p),
        }
    }
}

type Acquire = Pin<
    Box<
        dyn Future<Output = Result<OwnedSemaphorePermit, tokio::sync::AcquireError>>
            + Send
            + 'static,
    >,
>;

/// A frame read but not yet given out: it waits for room in the budget, until the sleep ends.
struct Waiting {
    frame: http_body::Frame<Bytes>,
    acquire: Acquire,
    until: Pin<Box<Sleep>>,
}

/// A body whose frames are given out only once their bytes are counted in the budget.
struct BudgetBody {
    inner: Body,
    budget: BodyBudget,
    held: Arc<Held>,
    waiting: Option<Waiting>,
}

/// Why a body's read failed: the budget had no room for it in time.
#[derive(Debug, thiserror::Error)]
#[error(
    "the controller is holding as many request bodies as it takes at once (--max-body-memory); \
     no room came within {waited:?}"
)]
pub(crate) struct BudgetSpent {
    waited: Duration,
}

impl HttpBody for BudgetBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Some(w) = &mut this.waiting {
            match w.acquire.as_mut().poll(cx) {
                Poll::Ready(Ok(p)) => {
                    this.held.add(p);
                    let frame = this.waiting.take().map(|w| w.frame);
                    return Poll::Ready(frame.map(Ok));
                }
                // The semaphore is never closed; should it be, nothing is held back.
                Poll::Ready(Err(_)) => {
                    let frame = this.waiting.take().map(|w| w.frame);
                    return Poll::Ready(frame.map(Ok));
                }
                Poll::Pending => {
                    if w.until.as_mut().poll(cx).is_ready() {
                        this.waiting = None;
                        this.held.spent.store(true, Ordering::Release);
                        return Poll::Ready(Some(Err(axum::Error::new(BudgetSpent {
                            waited: this.budget.wait,
                        }))));
                    }
                    return Poll::Pending;
                }
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, Bytes::len);
                if len == 0 {
                    return Poll::Ready(Some(Ok(frame)));
                }
                // One frame is at most what the connection buffers (hundreds of KiB), far below
                // u32; a larger one waits for the whole budget, then fails.
                let n = u32::try_from(len.min(this.budget.total)).unwrap_or(u32::MAX);
                match this.budget.bytes.clone().try_acquire_many_owned(n) {
                    Ok(p) => {
                        this.held.add(p);
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Err(_) => {
                        this.waiting = Some(Waiting {
                            frame,
                            acquire: Box::pin(this.budget.bytes.clone().acquire_many_owned(n)),
                            until: Box::pin(tokio::time::sleep(this.budget.wait)),
                        });
                        // Registers this task with the semaphore and the timer.
                        Pin::new(this).poll_frame(cx)
                    }
                }
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.waiting.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body fed by hand: its sender, and the body.
    fn fed() -> (
        tokio::sync::mpsc::Sender<Result<http_body::Frame<Bytes>, axum::Error>>,
        Body,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let body = Body::new(http_body_util::StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ));
        (tx, body)
    }

    fn wrap(budget: &BodyBudget, inner: Body) -> (BudgetBody, Arc<Held>) {
        let held = Arc::new(Held::default());
        let body = BudgetBody {
            inner,
            budget: budget.clone(),
            held: held.clone(),
            waiting: None,
        };
        (body, held)
    }

    fn data(n: usize) -> Result<http_body::Frame<Bytes>, axum::Error> {
        Ok(http_body::Frame::data(Bytes::from(vec![b'x'; n])))
    }

    #[tokio::test]
    async fn bytes_are_held_until_the_request_lets_go_and_a_body_without_room_fails() {
        let budget = BodyBudget::new(1_000, Duration::from_millis(300));
        // The first body takes 800 bytes and is done: they stay held with its request.
        let (tx, inner) = fed();
        tx.send(data(800)).await.unwrap();
        drop(tx);
        let (first, first_held) = wrap(&budget, Body::new(inner));
        let got = first.collect().await.expect("fits").to_bytes();
        assert_eq!(got.len(), 800);
        assert_eq!(budget.bytes.available_permits(), 200);
        // The second needs 300: it waits, and fails once the wait is over.
        let (tx, inner) = fed();
        tx.send(data(300)).await.unwrap();
        let (second, second_held) = wrap(&budget, Body::new(inner));
        let started = tokio::time::Instant::now();
        let err = second.collect().await.expect_err("no room");
        assert!(err.to_string().contains("--max-body-memory"), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(second_held.spent.load(Ordering::Acquire));
        assert!(!first_held.spent.load(Ordering::Acquire));
        drop(second_held);
        drop(tx);
        // Once the first request lets go, a body of the whole budget fits.
        drop(first_held);
        assert_eq!(budget.bytes.available_permits(), 1_000);
        let (tx, inner) = fed();
        tx.send(data(600)).await.unwrap();
        tx.send(data(400)).await.unwrap();
        drop(tx);
        let (third, _held) = wrap(&budget, Body::new(inner));
        assert_eq!(third.collect().await.expect("fits").to_bytes().len(), 1_000);
    }

    #[tokio::test]
    async fn a_waiting_frame_goes_on_as_soon_as_room_is_made() {
        let budget = BodyBudget::new(1_000, Duration::from_secs(30));
        let (tx, inner) = fed();
        tx.send(data(900)).await.unwrap();
        drop(tx);
        let (first, first_held) = wrap(&budget, Body::new(inner));
        first.collect().await.expect("fits");
        let (tx, inner) = fed();
        tx.send(data(500)).await.unwrap();
        drop(tx);
        let (second, _held) = wrap(&budget, Body::new(inner));
        let reading = tokio::spawn(second.collect());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!reading.is_finished(), "it waits for room");
        drop(first_held);
        let got = tokio::time::timeout(Duration::from_secs(5), reading)
            .await
            .expect("room was made")
            .unwrap()
            .expect("read")
            .to_bytes();
        assert_eq!(got.len(), 500);
    }
}
