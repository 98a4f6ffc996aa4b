//! When a session's tokens are refreshed, and the bounds of one refresh: the per-process
//! locks ([`RefreshLocks`]), how long the Keycloak side may take ([`REFRESH_CALL_LIMIT`]),
//! and how long the store's refresh lock lives ([`REFRESH_LOCK_TTL`]). The refresh itself
//! is `sessions.rs`.
//!
//! Decisions:
//! - **The store's lock outlives the slowest refresh.** Its expiry only matters when the
//!   holder dies mid-refresh; if it came first otherwise, another instance would refresh
//!   meanwhile and, with refresh-token rotation, be refused. So the TTL is the worst case
//!   counted from the timeouts ([`REFRESH_WORST_CASE`]) plus a margin, derived from the
//!   constants, never typed: a new timeout moves it.
//! - **The Keycloak side is bounded** ([`REFRESH_CALL_LIMIT`]): the token request and the
//!   key store's wait for a new key each have their own timeouts, but that wait starts only
//!   when the key store's rate limit (`jwks_min_refresh_interval`) allows a refetch, so
//!   without a bound of its own the worst case would depend on the configuration. Past the
//!   bound, the refresh is a temporary failure (the session is kept).
//! - **When to refresh:** with a quarter of the access token's lifetime left, at most the
//!   leeway ([`refresh_margin`]); see `sessions.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::store::SHARED_STORE_TIMEOUT;
use crate::identity::Identity;
use crate::oidc::fetch::FETCH_TIMEOUT;

/// Per-process locks so that concurrent requests of one instance refresh a session's tokens
/// only once (across instances, the store's refresh lock does the same).
#[derive(Default)]
pub(crate) struct RefreshLocks(Mutex<HashMap<String, Arc<rocket::tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    /// The lock of session `id`.
    pub(crate) fn for_session(&self, id: &str) -> Arc<rocket::tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if locks.len() > 10_000 {
            // Drop locks nobody holds; they are recreated on demand.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(id.to_owned()).or_default().clone()
    }
}

/// The longest the Keycloak side of one refresh may take: the token request and a key
/// refetch for the tokens it returns (each at most [`FETCH_TIMEOUT`]; the key store's wait
/// for a refetch is that plus a quarter second), and a second to spare. Past it the refresh
/// gives up as a temporary failure: without this bound, a refetch delayed by
/// `jwks_min_refresh_interval` would make the worst case depend on the configuration.
pub(crate) const REFRESH_CALL_LIMIT: Duration =
    FETCH_TIMEOUT.saturating_mul(2).saturating_add(Duration::from_secs(1));
/// The longest a refresh holds the store's refresh lock, counted from when the store set
/// it: the answer to the lock itself, the re-read, the Keycloak side, and the write of the
/// result (three store answers, each at most [`SHARED_STORE_TIMEOUT`]).
pub(crate) const REFRESH_WORST_CASE: Duration =
    SHARED_STORE_TIMEOUT.saturating_mul(3).saturating_add(REFRESH_CALL_LIMIT);
/// How long the store's refresh lock lives at most: the worst case and a margin (a busy
/// runtime, clocks that tick at slightly different rates). The holder releases it as soon
/// as its refresh ends; the expiry only matters when the holder dies mid-refresh, and must
/// never come first otherwise, or a second instance would refresh meanwhile.
pub(crate) const REFRESH_LOCK_TTL: Duration =
    REFRESH_WORST_CASE.saturating_add(REFRESH_LOCK_MARGIN);
/// The margin of [`REFRESH_LOCK_TTL`] over [`REFRESH_WORST_CASE`].
const REFRESH_LOCK_MARGIN: Duration = Duration::from_secs(3);
/// How often an instance waiting for another instance's refresh looks again.
pub(crate) const REFRESH_POLL: Duration = Duration::from_millis(50);

/// How long before its expiry an access token is refreshed: a quarter of its lifetime, and
/// at most the leeway (see the module doc). Without `iat`, the leeway.
pub(crate) fn refresh_margin(identity: &Identity, leeway: Duration) -> u64 {
    let leeway = leeway.as_secs();
    match identity.issued_at {
        Some(iat) => (identity.expires_at.saturating_sub(iat) / 4).min(leeway),
        None => leeway,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::record::test_session as session;

    #[test]
    fn the_refresh_lock_outlives_a_refresh_at_its_slowest() {
        // Under the store's lock, counted from when the store set it: the answer to the lock
        // itself, the re-read, the token request, the key store's wait for a refetch of a
        // key the new tokens name (`kid_wait`: a fetch timeout and 250 ms,
        // `oidc/verify/realm.rs`), and the write of the result.
        let store_answers = SHARED_STORE_TIMEOUT * 3;
        let keycloak = FETCH_TIMEOUT + FETCH_TIMEOUT + Duration::from_millis(250);
        assert!(REFRESH_CALL_LIMIT >= keycloak, "a slow but normal refresh is not cut short");
        for worst in [store_answers + keycloak, store_answers + REFRESH_CALL_LIMIT] {
            let margin = REFRESH_LOCK_TTL.saturating_sub(worst);
            assert!(margin >= Duration::from_secs(2), "{REFRESH_LOCK_TTL:?} over {worst:?}");
        }
    }

    #[test]
    fn refresh_margin_is_a_quarter_of_the_lifetime_capped_by_the_leeway() {
        let identity = |iat: Option<u64>, exp: u64| Identity {
            issued_at: iat,
            expires_at: exp,
            ..(*session("u", "s").identity).clone()
        };
        let leeway = Duration::from_secs(60);
        // Keycloak's `demo-app-short`: 10 s tokens under a 60 s leeway.
        assert_eq!(refresh_margin(&identity(Some(1000), 1010), leeway), 2);
        // Five-minute tokens: the leeway caps the quarter (75 s).
        assert_eq!(refresh_margin(&identity(Some(1000), 1300), leeway), 60);
        assert_eq!(refresh_margin(&identity(None, 1300), leeway), 60);
        assert_eq!(refresh_margin(&identity(Some(2000), 1000), leeway), 0);
    }
}
