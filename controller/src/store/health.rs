//! Whether the store accepts writes. After an I/O failure (a full disk) redb refuses every
//! write until the database is reopened, so the store remembers why it is degraded and when
//! to try reopening next: soon at first, then backing off (doubling up to [`MAX_BACKOFF`]) so a
//! disk that stays full is not hammered, but never giving up, so the store comes back on its
//! own once space is freed.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// First wait before reopening after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between two reopen attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The store's state as `/health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreHealth {
    Ok,
    /// Writes fail; reads still answer from memory and the open file.
    Degraded {
        /// The first failure, as its error message says it.
        reason: String,
        /// When it started (RFC 3339).
        since: String,
        /// Reopen attempts that failed since.
        attempts: u32,
    },
}

impl StoreHealth {
    pub fn is_ok(&self) -> bool {
        matches!(self, StoreHealth::Ok)
    }

    /// Why the store is degraded; `None` when it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            StoreHealth::Ok => None,
            StoreHealth::Degraded { reason, .. } => Some(reason),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct HealthTracker(Mutex<Option<Degraded>>);

#[derive(Debug)]
struct Degraded {
    reason: String,
    since: SystemTime,
    attempts: u32,
    next: Instant,
}

impl HealthTracker {
    pub(super) fn get(&self) -> StoreHealth {
        match &*self.lock() {
            None => StoreHealth::Ok,
            Some(d) => StoreHealth::Degraded {
                reason: d.reason.clone(),
                since: crate::state::timestamp::format_rfc3339(
                    d.since
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64),
                ),
                attempts: d.attempts,
            },
        }
    }

    /// Marks the store degraded (keeping the first reason if it already is).
    pub(super) fn degrade(&self, reason: &str) {
        let mut g = self.lock();
        if g.is_none() {
            *g = Some(Degraded {
                reason: reason.to_string(),
                since: SystemTime::now(),
                attempts: 0,
                next: Instant::now() + FIRST_BACKOFF,
            });
        }
    }

    /// Whether the store is degraded and the time for the next reopen attempt has come.
    pub(super) fn due(&self) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|d| Instant::now() >= d.next)
    }

    /// A reopen attempt failed: wait longer before the next.
    pub(super) fn retry_failed(&self, error: &str) {
        if let Some(d) = self.lock().as_mut() {
            d.attempts = d.attempts.saturating_add(1);
            let wait = FIRST_BACKOFF
                .saturating_mul(1 << d.attempts.min(16))
                .min(MAX_BACKOFF);
            d.next = Instant::now() + wait;
            tracing::warn!(attempts = d.attempts, error, retry_in = ?wait, "controller database still not writable");
        }
    }

    pub(super) fn recovered(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Degraded>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrade_keeps_the_first_reason_and_backs_off() {
        let h = HealthTracker::default();
        assert!(h.get().is_ok());
        assert!(!h.due());
        h.degrade("No space left on device");
        h.degrade("Previous I/O error occurred");
        assert_eq!(h.get().reason(), Some("No space left on device"));
        assert!(!h.due(), "the first attempt waits a little");
        std::thread::sleep(FIRST_BACKOFF);
        assert!(h.due());
        h.retry_failed("still full");
        assert!(!h.due());
        let StoreHealth::Degraded { attempts, .. } = h.get() else {
            panic!("degraded")
        };
        assert_eq!(attempts, 1);
        h.recovered();
        assert!(h.get().is_ok());
    }
}
