//! Where sessions live: the [`SessionStore`] trait, what every store guarantees, and the
//! defaults every store starts from. The default store is `memory.rs`, the shared one
//! `redis/`.
//!
//! Decisions (every store gives the same guarantees):
//! - The trait is async and keyed by strings, so a shared store (Redis, a database) can
//!   replace the in-process default for several app instances.
//! - **Bounded, and fair between users**; **evicted by last use**; an **absolute lifetime**
//!   from creation ([`DEFAULT_LIFETIME`], Keycloak's SSO max lifespan): `memory.rs` says how
//!   and why.
//! - Sessions are indexed by Keycloak's `sid` and by `sub`, so a back-channel logout can
//!   end every matching session ([`SessionStore::remove_by_sid`],
//!   [`SessionStore::remove_by_sub`]).
//! - **Writes after a refresh are compare-and-set** ([`SessionStore::update`]): a session
//!   ended while its refresh was in flight (logout, back-channel logout, eviction) stays
//!   ended; a refresh never resurrects it. **So is the end of a session by a failed
//!   refresh** ([`SessionStore::remove_at_revision`]): a refresh that lost a race (its
//!   refresh token was rotated by the winner) never ends the winner's session.
//! - **Logout-token replay** (`jti`) is remembered until the token's `exp` plus the leeway,
//!   the whole time it could be accepted. The memory is bounded by time, never by refusing
//!   a logout: past `MAX_SEEN_LOGOUT_TOKENS` live ids the one expiring soonest is
//!   forgotten (replaying it could only end sessions again), because refusing a valid logout
//!   would leave sessions alive, the unsafe direction.

use std::time::Duration;

use super::record::{Session, StoreError};
use crate::oidc::dpop::{ProofUse, SpentProof};
use crate::protocol::{SessionId, Subject};

/// Storage of sessions by opaque id, shared by every request (and, for a shared store,
/// every app instance).
///
/// Every method may fail with a [`StoreError`] (the store is unreachable); the session layer
/// then answers 503 and changes nothing.
#[rocket::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// A new, unguessable id for `session` (about to be [`put`](Self::put)). The default is
    /// 256 random bits; a store may add what it needs to find the record (the Redis store
    /// adds the user's Cluster hash tag). The id only ever travels in the encrypted cookie.
    fn new_id(&self, _session: &Session) -> SessionId {
        // `cookie::random_id`'s 256 bits (named here: `cookie.rs` depends on this file).
        SessionId::new(openidconnect::CsrfToken::new_random_len(32).into_secret())
    }
    /// The session with this id, if it exists and has not expired, at its current revision.
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;
    /// Stores a new session under a new id (enforcing the store's per-user limit).
    async fn put(&self, id: &SessionId, session: Session) -> Result<(), StoreError>;
    /// Replaces the session `id` only if it still exists at `session.revision`
    /// (compare-and-set after a refresh); returns whether it was written. A session removed
    /// meanwhile stays removed, and a newer revision wins over this one.
    async fn update(&self, id: &SessionId, session: Session) -> Result<bool, StoreError>;
    /// Removes one session.
    async fn remove(&self, id: &SessionId) -> Result<(), StoreError>;
    /// Removes session `id` only if it is still at `revision` (compare-and-delete); returns
    /// whether it was removed. A refresh that fails for good ends the session this way, so
    /// a late loser of a refresh race never ends the winner's freshly refreshed session.
    async fn remove_at_revision(&self, id: &SessionId, revision: u64) -> Result<bool, StoreError>;
    /// Removes every session of this Keycloak session id; returns how many.
    async fn remove_by_sid(&self, sid: &str) -> Result<usize, StoreError>;
    /// Removes every session of this subject; returns how many.
    async fn remove_by_sub(&self, sub: &Subject) -> Result<usize, StoreError>;
    /// Takes the refresh lock of session `id` for `owner`, for at most `ttl`; false if
    /// someone else holds it. A store serving one process may always say yes: the session
    /// layer also serializes refreshes within the process.
    async fn lock_refresh(
        &self,
        id: &SessionId,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Releases the refresh lock of session `id` if `owner` still holds it.
    async fn unlock_refresh(&self, id: &SessionId, owner: &str) -> Result<(), StoreError>;
    /// Records a back-channel logout token id until `accepted_until` (Unix seconds, this
    /// app's clock); false if it was recorded before (a replay). Bounded by time, never by
    /// refusing a logout. A shared store turns it into a time left from now, plus a margin
    /// for instances whose clocks run behind, so its own clock never shortens it.
    async fn first_use_of_logout_token(
        &self,
        jti: &str,
        accepted_until: u64,
    ) -> Result<bool, StoreError>;
    /// Records a DPoP proof (by its fixed-size id) for `proof.remember_for`, for a store
    /// that several instances share, giving each key (`proof.key`) at most
    /// `proof.key_quota` live proofs. A store that cannot remember it must fail (the request
    /// gets a 503), never answer [`ProofUse::First`] without remembering. `None` (the default)
    /// means the store does not keep proofs, and each process keeps its own (`oidc/dpop/`),
    /// which is enough for a store that serves one process.
    async fn first_use_of_proof(
        &self,
        _proof: &SpentProof,
    ) -> Result<Option<ProofUse>, StoreError> {
        Ok(None)
    }
    /// Whether the store answers (for `/ready`). A store in this process always does.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Default limit of sessions per user (browsers and devices signed in at once).
pub(crate) const DEFAULT_SESSIONS_PER_USER: usize = 10;
/// Default absolute lifetime: Keycloak's default SSO max lifespan.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(10 * 3600);
/// How long a shared store waits for one answer before it fails (the Redis store's connect
/// and response timeout). The refresh lock's lifetime counts on it (`sessions.rs`).
pub(crate) const SHARED_STORE_TIMEOUT: Duration = Duration::from_secs(1);
