//! The connection cap of a gRPC port, and who makes room at it.
//!
//! Every open connection holds a slot until it is dropped. A connection on which nobody has
//! authenticated yet — no agent registered on the agents' port, no batch of a peer accepted on
//! the Raft port — may be **evicted**: at the cap, one such connection is closed to make room
//! for the new one, as the REST API closes its idlest connection (`crate::rest_listener`).
//! Only when every connection is authenticated is a new one refused.
//!
//! Which one goes: the **least advanced** ([`Progress`]: silent; spoke; past its TLS handshake
//! or HTTP/2 preface; a call made), the oldest of those first. A real agent sends its
//! ClientHello or preface with its TCP handshake, its link call right after, and registers
//! within milliseconds; connections opened meanwhile that do less are always behind it, so a
//! flood of them only evicts itself. With the oldest first alone, 63 connections opened in the
//! milliseconds between a real agent's accept and its registration pushed it out of a
//! 64-slot port (docs/security.md, "Attacked on 2026-12-07, third pass").

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use tokio::sync::Notify;

/// Whether a connection is authenticated: on the agents' port the gRPC service sets it once the
/// controller admitted an agent (`crate::grpc`), and until then the connection has the
/// handshake timeout (from its accept) to get there; on the Raft port the peer service sets it
/// once it accepted a batch (`crate::replication::transport`). Until then the connection may
/// be evicted at the cap, the least advanced first (`Progress`). Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Registered(Arc<Flags>);

#[derive(Debug, Default)]
struct Flags {
    registered: AtomicBool,
    /// A [`Progress`], only ever raised.
    progress: AtomicU8,
}

impl Registered {
    /// The connection is authenticated (an agent registered, a peer's batch was accepted): it
    /// may stay as long as it likes.
    pub fn set(&self) {
        self.0.registered.store(true, Ordering::Release);
    }

    /// A call reached the service on this connection (an agent's link, a peer's batch): its
    /// credentials are being read, so at the cap it goes after connections that only spoke.
    pub fn asked(&self) {
        self.progressed(Progress::Asking);
    }

    pub(super) fn get(&self) -> bool {
        self.0.registered.load(Ordering::Acquire)
    }

    fn progressed(&self, p: Progress) {
        self.0.progress.fetch_max(p as u8, Ordering::AcqRel);
    }
}

/// A connection the service decided to close (an agent that reads none of what it is sent,
/// `crate::grpc`): its next read fails with the reason, and the connection is closed. A
/// connection reads at least every keep-alive interval (the pings it must answer), so it goes
/// within that. Clones share the decision.
#[derive(Debug, Clone, Default)]
pub struct Closer(Arc<std::sync::OnceLock<&'static str>>);

impl Closer {
    /// Closes the connection at its next read, saying `why` (the first reason given stays).
    pub fn close(&self, why: &'static str) {
        let _ = self.0.set(why);
    }

    pub(super) fn why(&self) -> Option<&'static str> {
        self.0.get().copied()
    }
}

/// The same connection's.
impl PartialEq for Closer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Closer {}

/// The same connection's flag.
impl PartialEq for Registered {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Registered {}

/// How far a connection not yet authenticated got: at the cap the least advanced goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Progress {
    /// Accepted; nothing received yet.
    Silent = 0,
    /// Its first bytes arrived (a TLS ClientHello, the start of the HTTP/2 preface).
    Spoke = 1,
    /// Its TLS handshake completed, or (plaintext) its whole HTTP/2 preface arrived.
    Speaking = 2,
    /// A call reached the service ([`Registered::asked`]): what it sent is being checked.
    Asking = 3,
}

/// The levels, least advanced first.
const LEVELS: usize = 4;

/// One connection's slot, shared by the accept loop and the connection.
#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) registered: Registered,
    pub(super) closer: Closer,
    evicted: AtomicBool,
    /// Wakes the connection's TLS handshake when it is evicted.
    evict_handshake: Notify,
    /// Wakes the connection's reads when it is evicted (set while a read waits).
    evict_read: Mutex<Option<Waker>>,
}

impl Slot {
    /// The connection got as far as `p` (a lower level than it already has changes nothing).
    pub(super) fn progressed(&self, p: Progress) {
        self.registered.progressed(p);
    }

    fn level(&self) -> usize {
        usize::from(self.registered.0.progress.load(Ordering::Acquire)).min(LEVELS - 1)
    }

    pub(super) fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Resolves once the connection is evicted.
    pub(super) async fn evicted_wait(&self) {
        while !self.evicted() {
            self.evict_handshake.notified().await;
        }
    }

    /// Remembers whom to wake on eviction; true if it already was evicted.
    pub(super) fn wake_on_evict(&self, waker: &Waker) -> bool {
        let mut slot = self
            .evict_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &mut *slot {
            Some(w) if w.will_wake(waker) => {}
            other => *other = Some(waker.clone()),
        }
        drop(slot);
        self.evicted()
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.evict_handshake.notify_one();
        let waker = self
            .evict_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Open {
    /// The least advanced connection not authenticated, the oldest of those, taken out of
    /// the candidates. Each connection is moved up at most `LEVELS - 1` times and dropped
    /// once authenticated, so this costs O(log n) amortized.
    fn victim(&mut self) -> Option<Arc<Slot>> {
        for level in 0..LEVELS {
            while let Some((id, slot)) = self.evictable[level].pop_first() {
                if slot.registered.get() {
                    continue;
                }
                let now = slot.level();
                if now > level {
                    self.evictable[now].insert(id, slot);
                    continue;
                }
                return Some(slot);
            }
        }
        None
    }
}

#[derive(Default)]
struct Open {
    /// Connections counted under the cap.
    count: usize,
    /// The ones that may be evicted, by [`Progress`] and in each by accept order (oldest
    /// first). A connection is filed at `Silent` and moved up when it is next looked at;
    /// authenticated ones leave when found so.
    evictable: [BTreeMap<u64, Arc<Slot>>; LEVELS],
    next_id: u64,
}

/// The open connections of one port.
pub(super) struct Slots {
    max: usize,
    open: Mutex<Open>,
}

/// What admitting a connection did.
pub(super) enum Admitted {
    /// A slot was free.
    Free(SlotGuard),
    /// The oldest connection not authenticated was evicted to make room.
    Evicted(SlotGuard),
    /// Every slot is held by an authenticated connection.
    Full,
}

impl Slots {
    pub(super) fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            open: Mutex::new(Open::default()),
        })
    }

    /// A slot for a new connection, evicting at the cap the least advanced one not
    /// authenticated (the oldest of them).
    pub(super) fn admit(self: &Arc<Self>) -> Admitted {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mut evicted = false;
        if open.count >= self.max {
            let Some(victim) = open.victim() else {
                return Admitted::Full;
            };
            victim.evict();
            open.count -= 1;
            evicted = true;
        }
        open.count += 1;
        let id = open.next_id;
        open.next_id += 1;
        let slot = Arc::new(Slot::default());
        open.evictable[0].insert(id, slot.clone());
        let guard = SlotGuard {
            slots: self.clone(),
            id,
            slot,
        };
        if evicted {
            Admitted::Evicted(guard)
        } else {
            Admitted::Free(guard)
        }
    }
}

/// A connection's hold on its slot, released when it is dropped.
pub(super) struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    pub(super) slot: Arc<Slot>,
}

impl SlotGuard {
    /// The connection is authenticated: it is no longer a candidate for eviction.
    pub(super) fn keep(&self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for level in &mut open.evictable {
            level.remove(&self.id);
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for level in &mut open.evictable {
            level.remove(&self.id);
        }
        // An evicted connection's slot was handed on when it was evicted.
        if !self.slot.evicted() {
            open.count -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(a: Admitted) -> SlotGuard {
        match a {
            Admitted::Free(g) | Admitted::Evicted(g) => g,
            Admitted::Full => panic!("full"),
        }
    }

    #[test]
    fn at_the_cap_the_oldest_connection_without_an_agent_makes_room() {
        let slots = Slots::new(3);
        let first = guard(slots.admit());
        let second = guard(slots.admit());
        let third = guard(slots.admit());
        // The first has an agent: the second, the oldest without one, goes.
        first.slot.registered.set();
        let Admitted::Evicted(fourth) = slots.admit() else {
            panic!("nothing evicted");
        };
        assert!(!first.slot.evicted());
        assert!(second.slot.evicted());
        assert!(!third.slot.evicted());
        // Its slot went to the fourth: dropping it frees nothing more.
        drop(second);
        assert_eq!(slots.open.lock().unwrap().count, 3);
        // Once every connection has an agent, a new one is refused.
        third.slot.registered.set();
        fourth.slot.registered.set();
        assert!(matches!(slots.admit(), Admitted::Full));
        drop(first);
        assert!(matches!(slots.admit(), Admitted::Free(_)));
    }

    #[test]
    fn a_flood_of_fresh_connections_evicts_itself_not_one_further_along() {
        let slots = Slots::new(64);
        // 63 squatters, then a real agent whose TLS handshake completed but which has not
        // registered yet; the squatters were there first.
        let mut held: Vec<SlotGuard> = (0..63).map(|_| guard(slots.admit())).collect();
        let agent = guard(slots.admit());
        agent.slot.progressed(Progress::Spoke);
        agent.slot.progressed(Progress::Speaking);
        // 10,000 fresh connections, some of which send a byte: oldest first alone evicted the
        // agent at the 64th.
        for i in 0..10_000 {
            let g = guard(slots.admit());
            if i % 3 == 0 {
                g.slot.progressed(Progress::Spoke);
            }
            held.push(g);
            held.retain(|g| !g.slot.evicted());
        }
        assert!(!agent.slot.evicted());
        assert_eq!(held.len(), 63);
        // Among connections as far along, the oldest goes: a second one past its handshake
        // evicts the first one past it once nothing less advanced is left.
        for g in &held {
            g.slot.progressed(Progress::Speaking);
        }
        let newest = guard(slots.admit());
        assert!(agent.slot.evicted());
        assert!(!newest.slot.evicted());
        // Lowering is not possible: progress only rises.
        newest.slot.progressed(Progress::Silent);
        assert_eq!(newest.slot.level(), Progress::Silent as usize);
        newest.slot.progressed(Progress::Speaking);
        newest.slot.progressed(Progress::Spoke);
        assert_eq!(newest.slot.level(), Progress::Speaking as usize);
    }
}
