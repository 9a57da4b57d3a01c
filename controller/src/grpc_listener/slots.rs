//! The connection cap of a gRPC port, and who makes room at it.
//!
//! Every open connection holds a slot until it is dropped. A connection on which nobody has
//! authenticated yet — no agent registered on the agents' port, no batch of a peer accepted on
//! the Raft port — may be **evicted**: at the cap, the oldest such connection is closed to make
//! room for the new one, as the REST API closes its idlest connection (`crate::rest_listener`).
//! An agent registers, and a peer sends its first batch, within milliseconds of connecting, so
//! a peer that opens connections and never authenticates — it needs no token to speak HTTP/2
//! and answer pings — cannot keep agents or the group's controllers out by holding every slot;
//! it can only take the place of its own previous connections. Only when every connection is
//! authenticated is a new one refused.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use tokio::sync::Notify;

/// Whether a connection is authenticated: on the agents' port the gRPC service sets it once the
/// controller admitted an agent (`crate::grpc`), and until then the connection has the
/// handshake timeout (from its accept) to get there; on the Raft port the peer service sets it
/// once it accepted a batch (`crate::replication::transport`). Until then the connection may
/// be evicted at the cap. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Registered(Arc<AtomicBool>);

impl Registered {
    /// The connection is authenticated (an agent registered, a peer's batch was accepted): it
    /// may stay as long as it likes.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub(super) fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
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

#[derive(Default)]
struct Open {
    /// Connections counted under the cap.
    count: usize,
    /// The ones that may be evicted, by accept order (oldest first); registered ones leave
    /// it when found so.
    evictable: BTreeMap<u64, Arc<Slot>>,
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

    /// A slot for a new connection, evicting the oldest one not authenticated at the cap.
    pub(super) fn admit(self: &Arc<Self>) -> Admitted {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let mut evicted = false;
        if open.count >= self.max {
            let victim = loop {
                let Some((_, slot)) = open.evictable.pop_first() else {
                    break None;
                };
                if !slot.registered.get() {
                    break Some(slot);
                }
            };
            let Some(victim) = victim else {
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
        open.evictable.insert(id, slot.clone());
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
        open.evictable.remove(&self.id);
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.evictable.remove(&self.id);
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
}
