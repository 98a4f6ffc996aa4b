//! The in-process single-use record of proofs ([`ReplayCache`]), for apps without a shared
//! session store. It fails closed: full of live proofs, it refuses a new one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::proof::CheckedProof;

/// Live proofs the in-process replay cache holds at most (about 40 MiB when full).
pub(crate) const MAX_REMEMBERED_PROOFS: usize = 1_000_000;

/// The in-process single-use record of proofs, for apps without a shared session store.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    until: HashMap<[u8; 32], u64>,
    /// The size at which expired entries are next swept out.
    sweep_at: usize,
}

/// What [`ReplayCache::first_use`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstUse {
    /// Not seen before: now remembered.
    Yes,
    /// Seen before.
    Replayed,
    /// The cache is full of live proofs: refused without remembering (fail closed).
    Full,
}

impl ReplayCache {
    /// Records `proof` unless it was seen before, at `now`.
    pub(crate) fn first_use(&self, proof: &CheckedProof, now: u64) -> FirstUse {
        self.first_use_bounded(proof, now, MAX_REMEMBERED_PROOFS)
    }

    fn first_use_bounded(&self, proof: &CheckedProof, now: u64, capacity: usize) -> FirstUse {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.until.get(&proof.replay_id).is_some_and(|until| *until >= now) {
            return FirstUse::Replayed;
        }
        if seen.until.len() >= seen.sweep_at.max(1024).min(capacity) {
            seen.until.retain(|_, until| *until >= now);
            seen.sweep_at = seen.until.len() * 2;
            if seen.until.len() >= capacity {
                return FirstUse::Full;
            }
        }
        seen.until.insert(proof.replay_id, proof.accepted_until);
        FirstUse::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_cache_refuses_a_second_use_and_fails_closed_when_full() {
        let cache = ReplayCache::default();
        let proof = |n: u8, until: u64| CheckedProof { replay_id: [n; 32], accepted_until: until };
        assert_eq!(cache.first_use_bounded(&proof(1, 100), 50, 2), FirstUse::Yes);
        assert_eq!(cache.first_use_bounded(&proof(1, 100), 60, 2), FirstUse::Replayed);
        assert_eq!(cache.first_use_bounded(&proof(2, 100), 60, 2), FirstUse::Yes);
        // Full of live proofs: a new one is refused, not let in by forgetting another.
        assert_eq!(cache.first_use_bounded(&proof(3, 100), 60, 2), FirstUse::Full);
        assert_eq!(cache.first_use_bounded(&proof(1, 100), 60, 2), FirstUse::Replayed);
        // Once they expire, room again.
        assert_eq!(cache.first_use_bounded(&proof(3, 200), 101, 2), FirstUse::Yes);
    }
}
