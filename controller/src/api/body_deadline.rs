//! A request body must keep arriving: after a grace of [`GRACE`], at [`MIN_RATE`] on average
//! since the request came in. Without it, a client with a valid token could hold a connection
//! and a handler forever by sending its body a byte a second (slowloris on the body; the
//! header read has its own timeout in the listener). The deadline moves later with each byte
//! received, so a large archive on a slow but honest link is not cut: 80 MiB need only arrive
//! at 64 KiB/s. A late body fails its read, which the handlers answer with 400 naming the
//! wait ([docs/security.md](../../../docs/security.md)).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::{Instant, Sleep};

/// How long any body may take before the rate counts (a small JSON body's whole allowance).
pub(crate) const GRACE: Duration = Duration::from_secs(30);
/// The slowest average a body may arrive at, in bytes a second, once past [`GRACE`].
pub(crate) const MIN_RATE: u64 = 64 * 1024;

/// Middleware: wraps every request's body in a [`DeadlineBody`].
pub(super) async fn limit(req: Request, next: Next) -> Response {
    let req = req.map(|body| Body::new(DeadlineBody::new(body, GRACE, MIN_RATE)));
    next.run(req).await
}

/// A body whose frames must arrive before `start + grace + received / rate`.
struct DeadlineBody {
    inner: Body,
    start: Instant,
    grace: Duration,
    rate: u64,
    received: u64,
    sleep: Pin<Box<Sleep>>,
}

/// Why a body's read failed: it came too slowly.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: {received} bytes in {waited:?}; a body must arrive \
     within {grace:?} plus one second per {rate} bytes"
)]
pub(crate) struct BodyTooSlow {
    received: u64,
    waited: Duration,
    grace: Duration,
    rate: u64,
}

impl DeadlineBody {
    fn new(inner: Body, grace: Duration, rate: u64) -> DeadlineBody {
        let start = Instant::now();
        DeadlineBody {
            inner,
            start,
            grace,
            rate: rate.max(1),
            received: 0,
            sleep: Box::pin(tokio::time::sleep_until(start + grace)),
        }
    }

    fn deadline(&self) -> Instant {
        self.start + self.grace + Duration::from_secs_f64(self.received as f64 / self.rate as f64)
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    let deadline = this.deadline();
                    this.sleep.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow {
                    received: this.received,
                    waited: this.start.elapsed(),
                    grace: this.grace,
                    rate: this.rate,
                })))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that sends `chunks` one every `gap`, then ends.
    fn trickle(chunks: usize, size: usize, gap: Duration) -> Body {
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, axum::Error>>(1);
        tokio::spawn(async move {
            for _ in 0..chunks {
                tokio::time::sleep(gap).await;
                if tx
                    .send(Ok(http_body::Frame::data(Bytes::from(vec![b'x'; size]))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Body::new(http_body_util::StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
    }

    // Real time, scaled down: a grace of 200 ms and 1,000 bytes a second.
    const SHORT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn a_trickling_body_fails_after_the_grace() {
        // A byte every 50 ms (20 B/s) against 1,000 B/s: cut once the grace is used up.
        let started = Instant::now();
        let body = DeadlineBody::new(trickle(1_000, 1, Duration::from_millis(50)), SHORT, 1_000);
        let err = body.collect().await.expect_err("a trickle must fail");
        let text = err.to_string();
        assert!(text.contains("arrived too slowly"), "{text}");
        assert!(text.contains("one second per 1000 bytes"), "{text}");
        assert!(started.elapsed() >= SHORT, "{:?}", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_body_faster_than_the_rate_arrives_whole_past_the_grace() {
        // 100 bytes every 50 ms (2,000 B/s) for 1 s: five times the grace, twice the rate.
        let body = DeadlineBody::new(trickle(20, 100, Duration::from_millis(50)), SHORT, 1_000);
        let got = body
            .collect()
            .await
            .expect("a steady body is read")
            .to_bytes();
        assert_eq!(got.len(), 20 * 100);
    }

    #[tokio::test]
    async fn a_body_that_stalls_after_a_fast_start_fails_once_its_allowance_runs_out() {
        // 1,000 bytes at once buy 100 ms past the grace at 10,000 B/s; then nothing more.
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, axum::Error>>(1);
        tx.send(Ok(http_body::Frame::data(Bytes::from(vec![0u8; 1_000]))))
            .await
            .expect("send");
        let inner = Body::new(http_body_util::StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ));
        let started = Instant::now();
        let err = DeadlineBody::new(inner, SHORT, 10_000)
            .collect()
            .await
            .expect_err("a stalled body must fail");
        assert!(err.to_string().contains("1000 bytes in"), "{err}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        drop(tx);
    }
}
