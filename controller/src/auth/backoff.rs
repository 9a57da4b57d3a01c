//! Slowing down guessing: a peer (IP address) that keeps presenting bad credentials is locked
//! out for a while, doubling with every further failure. The first few failures are free
//! (typos, a rotated token), a success forgets the peer, and the table is bounded so that many
//! peers cannot grow it without limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the first lock-out.
pub const FREE_FAILURES: u32 = 5;
/// The first lock-out; each further failure doubles it.
pub const FIRST_LOCKOUT: Duration = Duration::from_secs(1);
/// The longest lock-out.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(60);
/// A peer without a failure for this long starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Peers tracked at once; beyond, the one quiet the longest is forgotten.
pub const MAX_PEERS: usize = 10_000;

struct Peer {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// Per-peer failure counts and lock-outs.
#[derive(Default)]
pub struct Backoff {
    peers: Mutex<HashMap<IpAddr, Peer>>,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Peer>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(wait)` while `peer` is locked out.
    pub fn check(&self, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.lock().get(&peer).and_then(|p| p.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns the lock-out it starts (zero while failures are free).
    pub fn failed(&self, peer: IpAddr, now: Instant) -> Duration {
        let mut peers = self.lock();
        if !peers.contains_key(&peer) && peers.len() >= MAX_PEERS {
            if let Some(quietest) = peers
                .iter()
                .min_by_key(|(_, p)| p.last_failure)
                .map(|(ip, _)| *ip)
            {
                peers.remove(&quietest);
            }
        }
        let p = peers.entry(peer).or_insert(Peer {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.saturating_duration_since(p.last_failure) > FORGET_AFTER {
            p.failures = 0;
        }
        p.failures = p.failures.saturating_add(1);
        p.last_failure = now;
        let lockout = lockout_after(p.failures);
        p.locked_until = (!lockout.is_zero()).then_some(now + lockout);
        lockout
    }

    /// A successful authentication: the peer's failures are forgotten.
    pub fn succeeded(&self, peer: IpAddr) {
        self.lock().remove(&peer);
    }
}

/// The lock-out after the `n`th failure in a row.
pub fn lockout_after(n: u32) -> Duration {
    if n <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_FAILURES - 1).min(16);
    (FIRST_LOCKOUT * (1u32 << doublings)).min(MAX_LOCKOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_start_after_the_free_failures_and_double() {
        assert_eq!(lockout_after(FREE_FAILURES), Duration::ZERO);
        assert_eq!(lockout_after(FREE_FAILURES + 1), FIRST_LOCKOUT);
        assert_eq!(lockout_after(FREE_FAILURES + 2), FIRST_LOCKOUT * 2);
        assert_eq!(lockout_after(FREE_FAILURES + 40), MAX_LOCKOUT);
    }

    #[test]
    fn a_peer_is_locked_then_released_and_forgiven_on_success() {
        let b = Backoff::new();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(b.failed(ip, t0), Duration::ZERO);
            assert!(b.check(ip, t0).is_ok());
        }
        assert_eq!(b.failed(ip, t0), FIRST_LOCKOUT);
        assert!(b.check(ip, t0).is_err());
        assert!(
            b.check(other, t0).is_ok(),
            "only the failing peer is locked"
        );
        assert!(b.check(ip, t0 + FIRST_LOCKOUT).is_ok());
        b.succeeded(ip);
        assert_eq!(b.failed(ip, t0), Duration::ZERO);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_while() {
        let b = Backoff::new();
        let ip: IpAddr = "::1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..=FREE_FAILURES {
            b.failed(ip, t0);
        }
        let later = t0 + FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(b.failed(ip, later), Duration::ZERO);
    }
}
