//! The streamed body of `/bytes/{n}`: a deterministic pattern, so 100 MB cost no memory and
//! clients can verify integrity without a seed.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// `remaining` bytes of [`PATTERN`], streamed in chunks of at most `PATTERN.len()`; byte `i` of
/// the body is `i % 256`.
#[derive(Debug)]
pub struct Pattern {
    /// Bytes still to send.
    pub remaining: u64,
}

impl HttpBody for Pattern {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let remaining = &mut self.get_mut().remaining;
        if *remaining == 0 {
            return Poll::Ready(None);
        }
        // Chunks always start at a multiple of PATTERN.len() (itself a multiple of 256), so
        // restarting the pattern keeps `byte[i] == i % 256` across chunks.
        let n = usize::try_from(*remaining).map_or(PATTERN.len(), |r| r.min(PATTERN.len()));
        *remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&PATTERN[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// One chunk of the pattern.
pub(super) static PATTERN: [u8; 64 * 1024] = pattern();

const fn pattern() -> [u8; 64 * 1024] {
    let mut buf = [0u8; 64 * 1024];
    let mut i = 0;
    while i < buf.len() {
        buf[i] = (i % 256) as u8;
        i += 1;
    }
    buf
}
