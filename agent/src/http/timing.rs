//! Measuring k6's per-request timings and wire byte counts.
//!
//! hyper does the HTTP/1 work on a connection task, so the moments that matter (first and last
//! request byte written, first response byte read) are only visible at the IO layer. Two thin
//! wrappers record them into a [`Meter`] shared between that task and the requesting VU:
//!
//! * [`Counted`] sits directly on the TCP socket and counts bytes, so TLS records and the TLS
//!   handshake are included, as in k6's `data_sent` / `data_received`;
//! * [`Timed`] sits above TLS (on plaintext) and stamps the first/last write and the first read.
//!   Above TLS so that post-handshake TLS 1.3 messages (session tickets) arriving while we wait do
//!   not count as "first response byte".
//!
//! [`HopTrace`] collects the remaining moments (start, connect, TLS, body end) on the requesting
//! side and turns everything into [`Timings`] with k6's definitions.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Timings;

/// Per-connection IO observations. Timestamps are nanoseconds since `base` plus one, so that 0
/// means "not yet".
#[derive(Debug)]
pub(crate) struct Meter {
    base: Instant,
    first_write: AtomicU64,
    last_write: AtomicU64,
    first_read: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// The IO moments of one request on a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IoMarks {
    pub first_write: Option<Instant>,
    pub last_write: Option<Instant>,
    pub first_read: Option<Instant>,
}

impl Meter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            first_write: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
            first_read: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
        })
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn instant(&self, v: u64) -> Option<Instant> {
        (v != 0).then(|| self.base + Duration::from_nanos(v - 1))
    }

    /// Forgets the previous request's moments; call right before sending a request.
    pub fn begin_request(&self) {
        self.first_write.store(0, Ordering::Release);
        self.last_write.store(0, Ordering::Release);
        self.first_read.store(0, Ordering::Release);
    }

    fn on_write(&self) {
        let t = self.stamp();
        let _ = self
            .first_write
            .compare_exchange(0, t, Ordering::AcqRel, Ordering::Acquire);
        self.last_write.store(t, Ordering::Release);
    }

    /// A completed flush pushes "last byte written" later: with TLS, plaintext handed to rustls
    /// only reaches the socket on flush. Flushes after the response started are not ours.
    fn on_flush(&self) {
        if self.first_write.load(Ordering::Acquire) != 0
            && self.first_read.load(Ordering::Acquire) == 0
        {
            self.last_write.store(self.stamp(), Ordering::Release);
        }
    }

    fn on_read(&self) {
        let t = self.stamp();
        let _ = self
            .first_read
            .compare_exchange(0, t, Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn marks(&self) -> IoMarks {
        IoMarks {
            first_write: self.instant(self.first_write.load(Ordering::Acquire)),
            last_write: self.instant(self.last_write.load(Ordering::Acquire)),
            first_read: self.instant(self.first_read.load(Ordering::Acquire)),
        }
    }

    /// Bytes (sent, received) on the wire since the last call; resets the counters.
    pub fn take_bytes(&self) -> (u64, u64) {
        (
            self.sent.swap(0, Ordering::AcqRel),
            self.received.swap(0, Ordering::AcqRel),
        )
    }
}

/// Counts the bytes crossing the socket.
#[derive(Debug)]
pub(crate) struct Counted<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, meter: Arc<Meter>) -> Self {
        Self { inner, meter }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            self.meter.received.fetch_add(n as u64, Ordering::AcqRel);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.meter.sent.fetch_add(n as u64, Ordering::AcqRel);
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            self.meter.sent.fetch_add(n as u64, Ordering::AcqRel);
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Stamps the first/last write and the first read of each request.
#[derive(Debug)]
pub(crate) struct Timed<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S> Timed<S> {
    pub fn new(inner: S, meter: Arc<Meter>) -> Self {
        Self { inner, meter }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.meter.on_read();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            if n > 0 {
                self.meter.on_write();
            }
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = res {
            if n > 0 {
                self.meter.on_write();
            }
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = res {
            self.meter.on_flush();
        }
        res
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The moments of one request (one redirect hop) seen from the requesting side.
#[derive(Debug, Clone)]
pub(crate) struct HopTrace {
    /// The request was ready to go: a connection is needed now.
    pub start: Instant,
    /// TCP connect began (after DNS); `None` for a reused connection.
    pub connect_start: Option<Instant>,
    pub connect_end: Option<Instant>,
    pub tls_start: Option<Instant>,
    pub tls_end: Option<Instant>,
    /// A connection was ready and the request was handed to it.
    pub got_conn: Option<Instant>,
    /// IO moments of the request on that connection.
    pub io: IoMarks,
    /// The response body was fully read.
    pub body_end: Option<Instant>,
}

impl HopTrace {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            connect_start: None,
            connect_end: None,
            tls_start: None,
            tls_end: None,
            got_conn: None,
            io: IoMarks::default(),
            body_end: None,
        }
    }

    /// Forgets a connection attempt that failed (a stale pooled connection), so that the retry's
    /// phases are measured afresh while `blocked` still covers the time lost.
    pub fn reset_connection(&mut self) {
        *self = Self::new(self.start);
    }

    /// k6's timings. `end` is "now" for a request that failed or timed out: a phase that began
    /// but never finished is charged up to `end`, so a request that timed out while waiting shows
    /// the whole wait (k6 reports ~timeout as `http_req_duration` too).
    pub fn timings(&self, end: Instant) -> Timings {
        let ms =
            |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f64() * 1e3;

        // blocked: from the start until dialling begins (so DNS counts here, as in k6), or until a
        // pooled connection was obtained.
        let blocked_until = self.connect_start.or(self.got_conn).unwrap_or(end);
        let blocked = ms(self.start, blocked_until);

        let connecting = match self.connect_start {
            Some(s) => ms(s, self.connect_end.unwrap_or(end)),
            None => 0.0,
        };
        let tls_handshaking = match self.tls_start {
            Some(s) => ms(s, self.tls_end.unwrap_or(end)),
            None => 0.0,
        };

        let (mut sending, mut waiting, mut receiving) = (0.0, 0.0, 0.0);
        if let Some(send_start) = self.got_conn {
            match self.io.first_read {
                Some(first_read) => {
                    // Some servers answer before the whole body is sent; never go negative.
                    let sent = self
                        .io
                        .last_write
                        .map_or(first_read, |w| w.min(first_read).max(send_start));
                    sending = ms(send_start, sent);
                    waiting = ms(sent, first_read);
                    receiving = ms(first_read, self.body_end.unwrap_or(end));
                }
                None => match self.io.last_write {
                    Some(sent) => {
                        let sent = sent.max(send_start);
                        sending = ms(send_start, sent);
                        waiting = ms(sent, end);
                    }
                    None => sending = ms(send_start, end),
                },
            }
        }

        Timings {
            blocked,
            connecting,
            tls_handshaking,
            sending,
            waiting,
            receiving,
            duration: sending + waiting + receiving,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn timings_for_a_new_connection() {
        let t0 = Instant::now();
        let mut tr = HopTrace::new(t0);
        tr.connect_start = Some(at(t0, 2));
        tr.connect_end = Some(at(t0, 5));
        tr.tls_start = Some(at(t0, 5));
        tr.tls_end = Some(at(t0, 9));
        tr.got_conn = Some(at(t0, 9));
        tr.io = IoMarks {
            first_write: Some(at(t0, 10)),
            last_write: Some(at(t0, 11)),
            first_read: Some(at(t0, 20)),
        };
        tr.body_end = Some(at(t0, 24));
        let t = tr.timings(at(t0, 30));
        assert!(close(t.blocked, 2.0));
        assert!(close(t.connecting, 3.0));
        assert!(close(t.tls_handshaking, 4.0));
        assert!(close(t.sending, 2.0));
        assert!(close(t.waiting, 9.0));
        assert!(close(t.receiving, 4.0));
        assert!(close(t.duration, 15.0));
    }

    #[test]
    fn timings_for_a_reused_connection() {
        let t0 = Instant::now();
        let mut tr = HopTrace::new(t0);
        tr.got_conn = Some(at(t0, 1));
        tr.io = IoMarks {
            first_write: Some(at(t0, 1)),
            last_write: Some(at(t0, 1)),
            first_read: Some(at(t0, 6)),
        };
        tr.body_end = Some(at(t0, 7));
        let t = tr.timings(at(t0, 8));
        assert!(close(t.blocked, 1.0));
        assert_eq!((t.connecting, t.tls_handshaking), (0.0, 0.0));
        assert!(close(t.waiting, 5.0));
        assert!(close(t.duration, t.sending + t.waiting + t.receiving));
    }

    #[test]
    fn unfinished_phases_run_to_the_end() {
        let t0 = Instant::now();
        // Timed out while waiting for the response.
        let mut tr = HopTrace::new(t0);
        tr.got_conn = Some(t0);
        tr.io.first_write = Some(t0);
        tr.io.last_write = Some(t0);
        let t = tr.timings(at(t0, 100));
        assert!(close(t.waiting, 100.0));
        assert!(close(t.duration, 100.0));
        // Failed while connecting: nothing was sent.
        let mut tr = HopTrace::new(t0);
        tr.connect_start = Some(at(t0, 1));
        let t = tr.timings(at(t0, 4));
        assert!(close(t.blocked, 1.0));
        assert!(close(t.connecting, 3.0));
        assert_eq!(t.duration, 0.0);
    }

    #[test]
    fn early_responses_never_give_negative_phases() {
        let t0 = Instant::now();
        let mut tr = HopTrace::new(t0);
        tr.got_conn = Some(t0);
        tr.io = IoMarks {
            first_write: Some(t0),
            last_write: Some(at(t0, 10)),
            first_read: Some(at(t0, 5)),
        };
        tr.body_end = Some(at(t0, 12));
        let t = tr.timings(at(t0, 12));
        for v in [t.blocked, t.sending, t.waiting, t.receiving, t.duration] {
            assert!(v >= 0.0);
        }
        assert!(close(t.duration, 12.0));
    }

    #[tokio::test]
    async fn wrappers_record_bytes_and_moments() {
        let meter = Meter::new();
        let (a, mut b) = tokio::io::duplex(1024);
        let mut io = Timed::new(Counted::new(a, meter.clone()), meter.clone());
        meter.begin_request();
        assert_eq!(meter.marks(), IoMarks::default());
        io.write_all(b"hello").await.unwrap();
        io.flush().await.unwrap();
        let mut got = [0u8; 5];
        b.read_exact(&mut got).await.unwrap();
        b.write_all(b"world!").await.unwrap();
        let mut back = [0u8; 6];
        io.read_exact(&mut back).await.unwrap();
        let marks = meter.marks();
        let (fw, lw, fr) = (
            marks.first_write.unwrap(),
            marks.last_write.unwrap(),
            marks.first_read.unwrap(),
        );
        assert!(fw <= lw && lw <= fr);
        assert_eq!(meter.take_bytes(), (5, 6));
        assert_eq!(meter.take_bytes(), (0, 0));
        meter.begin_request();
        assert_eq!(meter.marks(), IoMarks::default());
    }
}
