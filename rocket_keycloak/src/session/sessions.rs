//! [`Sessions`]: the session layer as Rocket state, and the one-per-session token refresh.
//!
//! Decisions:
//! - **One refresh per session.** Within a process, per-session locks ([`RefreshLocks`])
//!   make concurrent requests wait for the first one's refresh, then find the fresh tokens;
//!   across instances, the store's refresh lock ([`SessionStore::lock_refresh`], at most
//!   [`REFRESH_LOCK_TTL`], which outlives the slowest refresh: `refresh.rs`) does the same,
//!   with a re-read once it is ours.
//! - **When to refresh:** once the access token has less than a quarter of its lifetime
//!   left, and at most the leeway ([`refresh_margin`]). A margin equal to the leeway would
//!   refresh tokens that live no longer than the leeway (Keycloak clients with 10 s tokens
//!   and the default 60 s leeway) on every request.
//! - **What ends a session at refresh:** only a permanent refusal: Keycloak's
//!   `invalid_grant` (the refresh token was revoked or the Keycloak session ended), or a
//!   returned token that is forged, for someone else (another `sub`, OIDC Core 12.2), or
//!   otherwise wrong for good (`FlowError::ends_session`). A temporary failure (Keycloak
//!   or its keys unreachable, a key not yet published, clock skew on the new token, no
//!   answer within [`REFRESH_CALL_LIMIT`]) keeps the session: the request gets a 503, or the
//!   still-valid access token. **A refusal ends the session only at the revision it was
//!   read at** ([`SessionStore::remove_at_revision`]): with refresh-token rotation, the
//!   loser of a refresh race (whose lock expired) is refused, and must not end the session
//!   the winner just refreshed; it serves the winner's session instead.
//! - **A refresh never resurrects a session:** its result is written back with
//!   [`SessionStore::update`], which writes only if the session still exists, so a logout
//!   or back-channel logout during the refresh wins.
//! - **A refresh never raises the level of assurance:** `acr` and `auth_time` stay those
//!   of the sign-in.

use crate::protocol::{SessionId, Subject};
use std::sync::Arc;

use super::cookie::random_id;
use super::error::SessionError;
use super::memory::MemoryStore;
use super::record::Session;
#[cfg(feature = "redis")]
use super::redis::RedisStore;
use super::refresh::{
    REFRESH_CALL_LIMIT, REFRESH_LOCK_TTL, REFRESH_POLL, RefreshLocks, refresh_margin,
};
use super::store::SessionStore;
#[cfg(feature = "redis")]
use super::store::{DEFAULT_LIFETIME, DEFAULT_SESSIONS_PER_USER};
use crate::clock::unix_now;
use crate::config::{ConfigError, SessionStoreConfig};
#[cfg(feature = "dpop")]
use crate::oidc::dpop::{ProofUse, SpentProof};
use crate::oidc::{FlowError, Oidc, SignInClient, Tokens};
use crate::telemetry;

/// The session layer as Rocket state: the store and the per-process refresh locks.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    locks: RefreshLocks,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(MemoryStore::default())
    }
}

impl Sessions {
    /// The session layer `config` asks for (`oidc.session_store`). `secret` is the app's
    /// configured `secret_key`: a shared store seals its records with keys derived from it,
    /// so it must be set explicitly, and be the same on every instance.
    pub fn for_config(
        config: &SessionStoreConfig,
        secret: Option<&str>,
    ) -> Result<Self, ConfigError> {
        #[cfg(not(feature = "redis"))]
        let _ = secret; // only a shared store needs it
        match config {
            SessionStoreConfig::Memory => Ok(Self::default()),
            #[cfg(not(feature = "redis"))]
            SessionStoreConfig::Redis(_) => Err(ConfigError::new(
                "session_store",
                "a Redis store needs the `redis` feature of rocket_keycloak, which this build lacks",
            )),
            #[cfg(feature = "redis")]
            SessionStoreConfig::Redis(url) => {
                let secret = secret.filter(|s| !s.is_empty()).ok_or_else(|| {
                    ConfigError::new(
                        "session_store",
                        "a Redis session store needs an explicit `secret_key` \
                         (ROCKET_SECRET_KEY), the same on every instance: it keys the session \
                         cookie and the encryption of the records",
                    )
                })?;
                let store = RedisStore::open(
                    url,
                    secret.as_bytes(),
                    DEFAULT_LIFETIME,
                    DEFAULT_SESSIONS_PER_USER,
                )
                .map_err(|e| ConfigError::new("session_store", e.to_string()))?;
                log::info!("sessions are kept in Redis: {config:?}");
                Ok(Self::new(store))
            }
        }
    }

    /// Sessions kept in `store`.
    pub fn new(store: impl SessionStore) -> Self {
        Self { store: Arc::new(store), locks: RefreshLocks::default() }
    }

    /// The underlying store.
    pub fn store(&self) -> &dyn SessionStore {
        self.store.as_ref()
    }

    /// Stores a new session for freshly exchanged tokens under a new random id.
    pub(crate) async fn create(
        &self,
        tokens: Tokens,
    ) -> Result<(SessionId, Session), SessionError> {
        let session = Session {
            identity: tokens.identity,
            id_token: tokens.id_token,
            refresh_token: tokens.refresh_token,
            csrf_token: random_id(),
            revision: 0,
            ends_at: 0,
        };
        let id = self.store.new_id(&session);
        self.store.put(&id, session.clone()).await?;
        Ok((id, session))
    }

    /// The session `id` as stored, without refreshing it.
    pub async fn get(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        Ok(self.store.get(id).await?)
    }

    /// The session `id`, refreshed first when its access token is about to expire
    /// (a quarter of its lifetime, at most the leeway). Ends the session only when the refresh
    /// is refused for good.
    pub async fn current(&self, oidc: &Oidc, id: &SessionId) -> Result<Session, SessionError> {
        let leeway = oidc.config().leeway;
        let fresh =
            |s: &Session| s.access_expires_at() > unix_now() + refresh_margin(&s.identity, leeway);
        let session = self.store.get(id).await?.ok_or(SessionError::Ended)?;
        if fresh(&session) {
            return Ok(session);
        }
        // One refresh per session in this process: later requests wait here, then find the
        // fresh tokens.
        let lock = self.locks.for_session(id);
        let _guard = lock.lock().await;
        // And one across instances: the store's lock, with a re-read once it is ours.
        let owner = random_id();
        let deadline = rocket::tokio::time::Instant::now() + REFRESH_LOCK_TTL;
        let session = loop {
            let session = self.store.get(id).await?.ok_or(SessionError::Ended)?;
            if fresh(&session) {
                return Ok(session);
            }
            if self.store.lock_refresh(id, &owner, REFRESH_LOCK_TTL).await? {
                match self.store.get(id).await {
                    Ok(Some(session)) => break session,
                    other => {
                        let _ = self.store.unlock_refresh(id, &owner).await;
                        return Err(other.map_or_else(Into::into, |_| SessionError::Ended));
                    }
                }
            }
            if rocket::tokio::time::Instant::now() >= deadline {
                log::warn!("another instance's refresh of this session did not finish in time");
                return Err(SessionError::Unavailable);
            }
            rocket::tokio::time::sleep(REFRESH_POLL).await;
        };
        let result =
            if fresh(&session) { Ok(session) } else { self.refresh(oidc, id, session).await };
        if let Err(error) = self.store.unlock_refresh(id, &owner).await {
            log::warn!("refresh lock not released (it expires by itself): {error}");
        }
        result
    }

    /// Refreshes `session` (read at its current revision, under the refresh lock).
    async fn refresh(
        &self,
        oidc: &Oidc,
        id: &SessionId,
        session: Session,
    ) -> Result<Session, SessionError> {
        let Some(refresh_token) = session.refresh_token.clone() else {
            return self.end_at_revision(id, &session).await;
        };
        let refreshed = match SignInClient::new(oidc) {
            Ok(client) => {
                rocket::tokio::time::timeout(REFRESH_CALL_LIMIT, client.refresh(&refresh_token))
                    .await
                    .unwrap_or_else(|_| {
                        let why = format!("the refresh took over {REFRESH_CALL_LIMIT:?}");
                        Err(FlowError::Unreachable(why.into()))
                    })
            }
            Err(error) => Err(error),
        };
        let sub = &session.identity.sub;
        telemetry::refresh(match &refreshed {
            Ok(tokens) if tokens.identity.sub == *sub => "ok",
            Ok(_) => "invalid_grant",
            Err(error) if error.ends_session() => "invalid_grant",
            Err(_) => "error",
        });
        match refreshed {
            Ok(tokens) if tokens.identity.sub != *sub => {
                // OIDC Core 12.2: a refresh must not change who is signed in.
                log::warn!("session of {sub} ended: the refreshed token is for another subject");
                // Whatever revision: this session's refresh token now speaks for someone else.
                self.store.remove(id).await?;
                Err(SessionError::Ended)
            }
            Ok(tokens) => {
                // The level of assurance is that of the sign-in: a refresh never raises it.
                let mut identity = Arc::unwrap_or_clone(tokens.identity);
                identity.acr.clone_from(&session.identity.acr);
                identity.auth_time = session.identity.auth_time;
                let refreshed = Session {
                    identity: Arc::new(identity),
                    id_token: tokens.id_token.or(session.id_token),
                    refresh_token: tokens.refresh_token.or(session.refresh_token),
                    csrf_token: session.csrf_token,
                    revision: session.revision,
                    ends_at: session.ends_at,
                };
                if self.store.update(id, refreshed.clone()).await? {
                    log::debug!("session of {} refreshed", refreshed.identity.sub);
                    return Ok(refreshed);
                }
                // Not written: the session ended meanwhile (it stays ended), or another
                // instance refreshed it first (its result wins).
                match self.store.get(id).await? {
                    Some(current) => Ok(current),
                    None => {
                        log::info!("session of {sub} ended during its refresh; it stays ended");
                        Err(SessionError::Ended)
                    }
                }
            }
            Err(error) if error.ends_session() => {
                log::info!("session of {sub} ends: {error}");
                self.end_at_revision(id, &session).await
            }
            Err(error) if session.access_expires_at() > unix_now() => {
                log::warn!("token refresh failed, serving the still-valid access token: {error}");
                Ok(session)
            }
            Err(error) => {
                log::warn!("token refresh failed, the session is kept: {error}");
                Err(SessionError::Unavailable)
            }
        }
    }

    /// Ends session `id` after a refresh refused for good, unless it changed since it was
    /// read as `read`: with refresh-token rotation, a refresh that lost a race with another
    /// instance's (whose lock expired) is refused although the session lives on, refreshed,
    /// and a check before an unconditional removal would leave the winner's write a window
    /// to land in. The compare-and-delete leaves none: the winner's session is served.
    async fn end_at_revision(
        &self,
        id: &SessionId,
        read: &Session,
    ) -> Result<Session, SessionError> {
        if self.store.remove_at_revision(id, read.revision).await? {
            return Err(SessionError::Ended);
        }
        match self.store.get(id).await? {
            Some(current) if current.access_expires_at() > unix_now() => Ok(current),
            // Changed meanwhile, yet not fresh: not ours to end, and not usable now.
            Some(_) => Err(SessionError::Unavailable),
            None => Err(SessionError::Ended),
        }
    }

    /// Ends session `id`.
    pub async fn end(&self, id: &SessionId) -> Result<(), SessionError> {
        Ok(self.store.remove(id).await?)
    }

    /// Ends every session of a Keycloak session (`sid`); returns how many.
    pub async fn end_by_sid(&self, sid: &str) -> Result<usize, SessionError> {
        Ok(self.store.remove_by_sid(sid).await?)
    }

    /// Ends every session of a subject; returns how many.
    pub async fn end_by_sub(&self, sub: &Subject) -> Result<usize, SessionError> {
        Ok(self.store.remove_by_sub(sub).await?)
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> Result<(), SessionError> {
        Ok(self.store.ping().await?)
    }

    /// Records a DPoP proof in the shared store; `None` if the store keeps none.
    #[cfg(feature = "dpop")]
    pub(crate) async fn first_use_of_proof(
        &self,
        proof: &SpentProof,
    ) -> Result<Option<ProofUse>, SessionError> {
        Ok(self.store.first_use_of_proof(proof).await?)
    }

    /// Records a logout token id until `accepted_until`; false if it was seen before.
    pub(crate) async fn first_use_of_logout_token(
        &self,
        jti: &str,
        accepted_until: u64,
    ) -> Result<bool, SessionError> {
        Ok(self.store.first_use_of_logout_token(jti, accepted_until).await?)
    }
}
