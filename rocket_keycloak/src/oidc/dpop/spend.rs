//! A DPoP proof being spent: what a replay record keeps of it ([`SpentProof`]) and what
//! spending it found ([`ProofUse`]). Always compiled: the [`SessionStore`] trait names both,
//! and a store may keep proofs for several instances.
//!
//! Decisions:
//! - **A relative lifetime.** A proof is remembered for as long as this app would still
//!   accept it, plus [`SKEW_MARGIN`], counted from now on whichever clock does the
//!   forgetting. An absolute time from the app's clock enforced on Redis's clock would let a
//!   clock difference between the two reopen the replay window.
//! - **A quota per key.** Each proof names the key (`jkt`) it was made with, so a record can
//!   give every key its own share: one key's flood refuses that key, not everyone
//!   ([`ProofUse::KeyOverQuota`]).
//!
//! [`SessionStore`]: crate::SessionStore

use std::time::Duration;

/// Seconds a proof is remembered beyond the time this app would accept it: another instance
/// whose clock runs that much behind still refuses its replay.
#[cfg(feature = "dpop")]
pub(crate) const SKEW_MARGIN: u64 = 5;

/// Live proofs one key may have in a replay record at once, by default
/// (`oidc.dpop_proofs_per_key`). A proof is live for at most about 71 s, so a key may spend
/// about 140 proofs a second, sustained; past that its new proofs are refused (503 with
/// `Retry-After`) until its older ones expire. A client that calls faster with one key needs
/// a higher setting.
pub const MAX_PROOFS_PER_KEY: usize = 10_000;

/// Live proofs the in-process replay record holds at most (about 90 MB when full).
pub(crate) const MAX_REMEMBERED_PROOFS: usize = 1_000_000;

/// A checked DPoP proof, ready to be spent once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpentProof {
    /// A fixed-size id of the proof (SHA-256 of its key's thumbprint and its `jti`).
    pub id: [u8; 32],
    /// A fixed-size id of the key that made it (SHA-256 of the thumbprint), for the quota.
    pub key: [u8; 32],
    /// How long to remember it, from now: while it could be accepted, plus a margin.
    pub remember_for: Duration,
    /// How many live proofs its key may have at once, this one included
    /// (`oidc.dpop_proofs_per_key`).
    pub key_quota: usize,
}

/// What spending a proof found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofUse {
    /// Not seen before: now remembered.
    First,
    /// Seen before: a replay.
    Replayed,
    /// Its key already has its quota of live proofs: refused without remembering.
    KeyOverQuota,
    /// The record is full of live proofs: refused without remembering (fail closed).
    Full,
}
