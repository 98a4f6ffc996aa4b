//! The in-process DPoP replay record against a model of what it must answer: any sequence of
//! proofs spent by a few keys, with time moving on, gets exactly the model's answers: a live
//! proof is a replay, a key past its quota and a full record refuse, expired proofs free
//! their room. Small limits, so the fuzzer reaches both bounds.
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rocket_keycloak::testing::ReplayCache;
use rocket_keycloak::{ProofUse, SpentProof};

const CAPACITY: usize = 24;
const PER_KEY: usize = 8;

fuzz_target!(|data: &[u8]| {
    let cache = ReplayCache::with_capacity(CAPACITY);
    // The model: proof id → (remembered until, key).
    let mut live: HashMap<u8, (u64, u8)> = HashMap::new();
    let mut now = 1_000u64;
    for op in data.chunks_exact(3) {
        let (id, key, arg) = (op[0], op[1] % 5, op[2]);
        if arg >= 200 {
            now += u64::from(arg - 199);
            continue;
        }
        let secs = u64::from(arg % 90);
        let remember_for = Duration::from_secs(secs);
        let proof = SpentProof { id: [id; 32], key: [key; 32], remember_for, key_quota: PER_KEY };
        live.retain(|_, (until, _)| *until >= now);
        let expected = if live.contains_key(&id) {
            ProofUse::Replayed
        } else if live.values().filter(|(_, k)| *k == key).count() >= PER_KEY {
            ProofUse::KeyOverQuota
        } else if live.len() >= CAPACITY {
            ProofUse::Full
        } else {
            live.insert(id, (now + secs.max(1), key));
            ProofUse::First
        };
        assert_eq!(cache.first_use(&proof, now), expected, "at {now}: id {id} key {key}");
        // A call sweeps up to 1024 expired proofs and these runs hold far fewer: the record
        // keeps exactly the live ones.
        assert_eq!(cache.remembered(), live.len(), "at {now}");
    }
});
