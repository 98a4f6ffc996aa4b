//! The in-process single-use record of proofs ([`ReplayCache`]), for apps without a shared
//! session store.
//!
//! Decisions (an attacker can self-register, get a bound token and send valid proofs as
//! fast as the app checks them):
//! - **Fails closed.** Full of live proofs ([`MAX_REMEMBERED_PROOFS`]), it refuses a new one
//!   rather than forgetting one that could then be replayed.
//! - **A quota per key** ([`MAX_PROOFS_PER_KEY`]): one key's flood fills its own share and
//!   then refuses that key only; filling the whole record takes a hundred keys at full speed.
//! - **Sweeping costs only what expired.** Proofs are filed by the second they expire; each
//!   call forgets at most [`MAX_SWEEP`] expired ones, so the lock is never held over a long
//!   sweep (it is a `std` mutex taken inside async code: every hold is short and bounded).
//! - Ids are kept as their first 128 bits and keys as their first 64 (of SHA-256 values an
//!   attacker cannot steer), so a million live proofs take about 90 MB.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use super::spend::{MAX_PROOFS_PER_KEY, ProofUse, SpentProof};

/// Live proofs the in-process replay cache holds at most.
pub(crate) const MAX_REMEMBERED_PROOFS: usize = 1_000_000;
/// Expired proofs one call forgets at most. A call adds at most one, so the record keeps up.
const MAX_SWEEP: usize = 1024;

/// The in-process single-use record of proofs, for apps without a shared session store.
#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Proof id → (remembered until, Unix seconds; key id).
    proofs: HashMap<u128, (u64, u64)>,
    /// Key id → its live proofs.
    per_key: HashMap<u64, usize>,
    /// Expiry second → the proofs that expire then.
    expiring: BTreeMap<u64, Vec<u128>>,
}

impl ReplayCache {
    /// Records `proof` unless it was seen before, at `now` (Unix seconds).
    pub(crate) fn first_use(&self, proof: &SpentProof, now: u64) -> ProofUse {
        self.first_use_bounded(proof, now, MAX_REMEMBERED_PROOFS, MAX_PROOFS_PER_KEY)
    }

    fn first_use_bounded(
        &self,
        proof: &SpentProof,
        now: u64,
        capacity: usize,
        per_key: usize,
    ) -> ProofUse {
        let id = u128::from_be_bytes(proof.id[..16].try_into().expect("16 bytes"));
        let key = u64::from_be_bytes(proof.key[..8].try_into().expect("8 bytes"));
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.sweep(now, MAX_SWEEP);
        if seen.proofs.get(&id).is_some_and(|(until, _)| *until >= now) {
            return ProofUse::Replayed;
        }
        if seen.per_key.get(&key).is_some_and(|live| *live >= per_key) {
            return ProofUse::KeyOverQuota;
        }
        if seen.proofs.len() >= capacity {
            return ProofUse::Full;
        }
        let until = now + proof.remember_for.as_secs().max(1);
        seen.forget(id);
        seen.proofs.insert(id, (until, key));
        *seen.per_key.entry(key).or_default() += 1;
        seen.expiring.entry(until).or_default().push(id);
        ProofUse::First
    }

    /// How many proofs are remembered (expired ones not yet swept included).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).proofs.len()
    }
}

impl Seen {
    /// Forgets at most `budget` proofs that expired before `now`, oldest first.
    fn sweep(&mut self, now: u64, mut budget: usize) {
        while budget > 0 {
            let Some(mut entry) = self.expiring.first_entry() else { return };
            if *entry.key() >= now {
                return;
            }
            let ids = entry.get_mut();
            let take = ids.len().min(budget);
            let expired: Vec<u128> = ids.drain(ids.len() - take..).collect();
            if ids.is_empty() {
                entry.remove();
            }
            budget -= take;
            for id in expired {
                // Only if still expired: an id may have been spent again since.
                if self.proofs.get(&id).is_some_and(|(until, _)| *until < now) {
                    self.forget(id);
                }
            }
        }
    }

    /// Removes `id` and gives its key's share back (its filing by expiry is left to the
    /// sweep, which skips ids it no longer finds expired).
    fn forget(&mut self, id: u128) {
        let Some((_, key)) = self.proofs.remove(&id) else { return };
        if let Some(live) = self.per_key.get_mut(&key) {
            *live -= 1;
            if *live == 0 {
                self.per_key.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn proof(n: u8, key: u8, secs: u64) -> SpentProof {
        SpentProof { id: [n; 32], key: [key; 32], remember_for: Duration::from_secs(secs) }
    }

    #[test]
    fn the_replay_cache_refuses_a_second_use_and_fails_closed_when_full() {
        let cache = ReplayCache::default();
        let spend = |p: &SpentProof, now| cache.first_use_bounded(p, now, 2, 10);
        assert_eq!(spend(&proof(1, 1, 50), 50), ProofUse::First);
        assert_eq!(spend(&proof(1, 1, 50), 60), ProofUse::Replayed);
        assert_eq!(spend(&proof(2, 2, 50), 60), ProofUse::First);
        // Full of live proofs: a new one is refused, not let in by forgetting another.
        assert_eq!(spend(&proof(3, 3, 50), 60), ProofUse::Full);
        assert_eq!(spend(&proof(1, 1, 50), 60), ProofUse::Replayed);
        // Once they expire, room again.
        assert_eq!(spend(&proof(3, 3, 50), 111), ProofUse::First);
    }

    #[test]
    fn one_keys_flood_refuses_that_key_and_no_other() {
        let cache = ReplayCache::default();
        for n in 0..5 {
            assert_eq!(cache.first_use_bounded(&proof(n, 9, 60), 100, 100, 5), ProofUse::First);
        }
        assert_eq!(cache.first_use_bounded(&proof(5, 9, 60), 100, 100, 5), ProofUse::KeyOverQuota);
        assert_eq!(cache.first_use_bounded(&proof(6, 1, 60), 100, 100, 5), ProofUse::First);
        // Its share comes back as its proofs expire.
        assert_eq!(cache.first_use_bounded(&proof(5, 9, 60), 161, 100, 5), ProofUse::First);
    }

    #[test]
    fn a_call_sweeps_only_a_bounded_number_of_expired_proofs() {
        let cache = ReplayCache::default();
        let many = 3 * MAX_SWEEP;
        for n in 0..many {
            let mut p = proof(0, (n % 200) as u8, 10);
            p.id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            assert_eq!(cache.first_use_bounded(&p, 100, usize::MAX, usize::MAX), ProofUse::First);
        }
        assert_eq!(cache.len(), many);
        // All expired: each call forgets at most MAX_SWEEP of them, oldest filing first.
        assert_eq!(cache.first_use_bounded(&proof(1, 250, 10), 200, 1, 1), ProofUse::Full);
        assert_eq!(cache.len(), many - MAX_SWEEP);
        cache.first_use_bounded(&proof(1, 1, 10), 200, usize::MAX, usize::MAX);
        cache.first_use_bounded(&proof(2, 1, 10), 200, usize::MAX, usize::MAX);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_proof_spent_again_after_expiry_is_not_forgotten_by_its_old_filing() {
        let cache = ReplayCache::default();
        assert_eq!(cache.first_use_bounded(&proof(1, 1, 10), 100, 9, 9), ProofUse::First);
        // Past its first expiry (110) it may be spent again, filed for 130 ...
        assert_eq!(cache.first_use_bounded(&proof(1, 1, 10), 120, 9, 9), ProofUse::First);
        // ... and the sweep of the 110 filing must not forget it.
        assert_eq!(cache.first_use_bounded(&proof(1, 1, 10), 125, 9, 9), ProofUse::Replayed);
        assert_eq!(cache.len(), 1);
    }
}
