//! The in-process single-use record of proofs ([`ReplayCache`]), for apps without a shared
//! session store.
//!
//! Decisions (an attacker can self-register, get a bound token and send valid proofs as
//! fast as the app checks them):
//! - **Fails closed.** Full of live proofs (`MAX_REMEMBERED_PROOFS`, a million), it refuses
//!   a new one rather than forgetting one that could then be replayed.
//! - **A quota per key** (each [`SpentProof`] carries it: `oidc.dpop_proofs_per_key`, by
//!   default [`MAX_PROOFS_PER_KEY`](super::spend::MAX_PROOFS_PER_KEY)): one key's flood
//!   fills its own share and then refuses that key only; filling the whole record takes a
//!   hundred keys at full speed.
//! - **Sweeping costs only what expired.** Proofs are filed by the second they expire; each
//!   call forgets at most [`MAX_SWEEP`] expired ones, so the lock is never held over a long
//!   sweep (it is a `std` mutex taken inside async code: every hold is short and bounded).
//! - Ids are kept as their first 128 bits and keys as their first 64 (of SHA-256 values an
//!   attacker cannot steer), so a million live proofs take about 90 MB.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use super::spend::{MAX_REMEMBERED_PROOFS, ProofUse, SpentProof};

/// Expired proofs one call forgets at most. A call adds at most one, so the record keeps up.
const MAX_SWEEP: usize = 1024;

/// The in-process single-use record of proofs, for apps without a shared session store.
#[derive(Debug)]
pub struct ReplayCache {
    seen: Mutex<Seen>,
    capacity: usize,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::with_capacity(MAX_REMEMBERED_PROOFS)
    }
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
    /// A record of at most `capacity` live proofs (the default is `MAX_REMEMBERED_PROOFS`, a
    /// million; smaller ones are for tests).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { seen: Mutex::default(), capacity }
    }

    /// Records `proof` unless it was seen before, at `now` (Unix seconds).
    pub fn first_use(&self, proof: &SpentProof, now: u64) -> ProofUse {
        let capacity = self.capacity;
        let id = u128::from_be_bytes(proof.id[..16].try_into().expect("16 bytes"));
        let key = u64::from_be_bytes(proof.key[..8].try_into().expect("8 bytes"));
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.sweep(now, MAX_SWEEP);
        if seen.proofs.get(&id).is_some_and(|(until, _)| *until >= now) {
            return ProofUse::Replayed;
        }
        if seen.per_key.get(&key).is_some_and(|live| *live >= proof.key_quota) {
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
    #[cfg(any(test, feature = "testing"))]
    pub fn remembered(&self) -> usize {
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
        let remember_for = Duration::from_secs(secs);
        SpentProof { id: [n; 32], key: [key; 32], remember_for, key_quota: 5 }
    }

    #[test]
    fn the_replay_cache_refuses_a_second_use_and_fails_closed_when_full() {
        let cache = ReplayCache::with_capacity(2);
        let spend = |p: &SpentProof, now| cache.first_use(p, now);
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
        let cache = ReplayCache::with_capacity(100);
        for n in 0..5 {
            assert_eq!(cache.first_use(&proof(n, 9, 60), 100), ProofUse::First);
        }
        assert_eq!(cache.first_use(&proof(5, 9, 60), 100), ProofUse::KeyOverQuota);
        assert_eq!(cache.first_use(&proof(6, 1, 60), 100), ProofUse::First);
        // Its share comes back as its proofs expire.
        assert_eq!(cache.first_use(&proof(5, 9, 60), 161), ProofUse::First);
    }

    #[test]
    fn a_call_sweeps_only_a_bounded_number_of_expired_proofs() {
        let many = 3 * MAX_SWEEP;
        let cache = ReplayCache::with_capacity(many);
        for n in 0..many {
            let mut p = proof(0, (n % 250) as u8, 10);
            p.key[1] = (n / 250) as u8;
            p.id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            assert_eq!(cache.first_use(&p, 100), ProofUse::First);
        }
        assert_eq!(cache.remembered(), many);
        // All expired: each call forgets at most MAX_SWEEP of them, oldest filing first.
        cache.first_use(&proof(1, 1, 10), 200);
        assert_eq!(cache.remembered(), many - MAX_SWEEP + 1);
        cache.first_use(&proof(2, 1, 10), 200);
        cache.first_use(&proof(3, 1, 10), 200);
        assert_eq!(cache.remembered(), 3);
    }

    #[test]
    fn a_proof_spent_again_after_expiry_is_not_forgotten_by_its_old_filing() {
        let cache = ReplayCache::with_capacity(9);
        assert_eq!(cache.first_use(&proof(1, 1, 10), 100), ProofUse::First);
        // Past its first expiry (110) it may be spent again, filed for 130 ...
        assert_eq!(cache.first_use(&proof(1, 1, 10), 120), ProofUse::First);
        // ... and the sweep of the 110 filing must not forget it.
        assert_eq!(cache.first_use(&proof(1, 1, 10), 125), ProofUse::Replayed);
        assert_eq!(cache.remembered(), 1);
    }
}
