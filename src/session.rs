//! Browser sessions: a server-side store behind [`SessionStore`], an opaque id in a
//! private cookie, and the one-per-session token refresh.
//!
//! Decisions:
//! - Keycloak's ID, access and refresh tokens together exceed a 4 KB cookie, so tokens stay
//!   on the server. The cookie holds only a random 256-bit id, encrypted and authenticated
//!   by Rocket's private cookies (`secret_key`), `HttpOnly`, `SameSite=Lax`, and `Secure`
//!   when `app_url` is https. A new id is issued at every login (no session fixation).
//! - [`MemoryStore`] is the default: bounded (oldest entries evicted first) and with an
//!   absolute lifetime. The trait is async and keyed by strings so a shared store (Redis,
//!   a database) can replace it for several app instances.
//! - Sessions are indexed by Keycloak's `sid` and by `sub`, so a back-channel logout can
//!   end every matching session.
//! - A session keeps the identity of its latest access token, not the token itself: the
//!   app never sends it anywhere, and a refresh replaces both.
//! - Errors are this layer's own ([`SessionError`]): "ended" or "Keycloak unavailable";
//!   the HTTP boundary decides what a browser or API client sees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openidconnect::RefreshToken;
use rocket::http::{Cookie, CookieJar, SameSite};

use crate::clock::unix_now;
use crate::identity::Identity;
use crate::oidc::{FlowError, Oidc, SignInClient, Tokens};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "kc_session";

/// What the server keeps for one signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// Who is signed in (from the validated access token).
    pub identity: Arc<Identity>,
    /// The raw ID token, for `id_token_hint` at logout (a sign-in always has one; it stays
    /// optional because a store written by other code may hold sessions without).
    pub id_token: Option<String>,
    /// The refresh token, if Keycloak issued one.
    pub refresh_token: Option<RefreshToken>,
    /// Anti-CSRF token for this session's forms (logout).
    pub csrf_token: String,
}

impl Session {
    /// When the access token expires, Unix seconds.
    pub fn access_expires_at(&self) -> u64 {
        self.identity.expires_at
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sub", &self.identity.sub)
            .field("sid", &self.identity.sid)
            .field("access_expires_at", &self.access_expires_at())
            .field("tokens", &"[redacted]")
            .finish()
    }
}

/// Why a session could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// No such session, or it ended (expired, logged out, refresh refused).
    Ended,
    /// The access token expired and Keycloak could not be reached to refresh it.
    Unavailable,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ended => "no current session",
            Self::Unavailable => "the session's tokens could not be refreshed",
        })
    }
}

impl std::error::Error for SessionError {}

/// Storage of sessions by opaque id.
#[rocket::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session with this id, if it exists and has not expired.
    async fn get(&self, id: &str) -> Option<Session>;
    /// Inserts or replaces a session.
    async fn put(&self, id: &str, session: Session);
    /// Removes one session.
    async fn remove(&self, id: &str);
    /// Removes every session of this Keycloak session id; returns how many.
    async fn remove_by_sid(&self, sid: &str) -> usize;
    /// Removes every session of this subject; returns how many.
    async fn remove_by_sub(&self, sub: &str) -> usize;
}

/// The default in-process store: bounded, with an absolute lifetime per session.
pub struct MemoryStore {
    entries: Mutex<HashMap<String, (Instant, Session)>>,
    capacity: usize,
    lifetime: Duration,
}

impl MemoryStore {
    /// A store of at most `capacity` sessions, each living at most `lifetime`.
    pub fn new(capacity: usize, lifetime: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1), lifetime }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Session)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove_where(&self, keep: impl Fn(&Session) -> bool) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, (_, s)| keep(s));
        before - entries.len()
    }
}

impl Default for MemoryStore {
    /// 10 000 sessions of at most 10 hours (Keycloak's default SSO max lifespan).
    fn default() -> Self {
        Self::new(10_000, Duration::from_secs(10 * 3600))
    }
}

#[rocket::async_trait]
impl SessionStore for MemoryStore {
    async fn get(&self, id: &str) -> Option<Session> {
        let mut entries = self.lock();
        match entries.get(id) {
            Some((created, _)) if created.elapsed() > self.lifetime => {
                entries.remove(id);
                None
            }
            Some((_, session)) => Some(session.clone()),
            None => None,
        }
    }

    async fn put(&self, id: &str, session: Session) {
        let mut entries = self.lock();
        if !entries.contains_key(id) && entries.len() >= self.capacity {
            let lifetime = self.lifetime;
            entries.retain(|_, (created, _)| created.elapsed() <= lifetime);
            let oldest =
                entries.iter().min_by_key(|(_, (created, _))| *created).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest
                && entries.len() >= self.capacity
            {
                entries.remove(&oldest);
            }
        }
        let created = entries.get(id).map_or_else(Instant::now, |(created, _)| *created);
        entries.insert(id.to_owned(), (created, session));
    }

    async fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    async fn remove_by_sid(&self, sid: &str) -> usize {
        self.remove_where(|s| s.identity.sid.as_deref() != Some(sid))
    }

    async fn remove_by_sub(&self, sub: &str) -> usize {
        self.remove_where(|s| s.identity.sub != sub)
    }
}

/// A fresh random identifier (256 bits, base64url).
pub fn random_id() -> String {
    openidconnect::CsrfToken::new_random_len(32).into_secret()
}

/// The session id from the private cookie, if present and authentic.
pub(crate) fn session_id(cookies: &CookieJar<'_>) -> Option<String> {
    cookies.get_private(SESSION_COOKIE).map(|c| c.value().to_owned())
}

/// Sets the session cookie.
pub(crate) fn set_session_cookie(cookies: &CookieJar<'_>, id: String, secure: bool) {
    let cookie = Cookie::build((SESSION_COOKIE, id))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure);
    cookies.add_private(cookie);
}

/// Removes the session cookie.
pub(crate) fn clear_session_cookie(cookies: &CookieJar<'_>) {
    cookies.remove_private(Cookie::build(SESSION_COOKIE).path("/"));
}

/// Per-session locks so that concurrent requests refresh a session's tokens only once.
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

/// The session layer as Rocket state: the store, refresh locks, and the logout-token
/// replay cache.
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    locks: RefreshLocks,
    seen_logout_tokens: Mutex<HashMap<String, u64>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(MemoryStore::default())
    }
}

/// Bound on remembered logout-token ids; older ones past their expiry are dropped first.
const MAX_SEEN_LOGOUT_TOKENS: usize = 10_000;

impl Sessions {
    /// Sessions kept in `store`.
    pub fn new(store: impl SessionStore) -> Self {
        Self {
            store: Arc::new(store),
            locks: RefreshLocks::default(),
            seen_logout_tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &dyn SessionStore {
        self.store.as_ref()
    }

    /// Stores a new session for freshly exchanged tokens under a new random id.
    pub(crate) async fn create(&self, tokens: Tokens) -> (String, Session) {
        let session = Session {
            identity: tokens.identity,
            id_token: tokens.id_token,
            refresh_token: tokens.refresh_token,
            csrf_token: random_id(),
        };
        let id = random_id();
        self.store.put(&id, session.clone()).await;
        (id, session)
    }

    /// The session `id`, refreshed first when its access token is expired or expires within
    /// the leeway. Ends the session when Keycloak refuses the refresh.
    pub async fn current(&self, oidc: &Oidc, id: &str) -> Result<Session, SessionError> {
        let leeway = oidc.config().leeway.as_secs();
        let fresh = |s: &Session| s.access_expires_at() > unix_now() + leeway;
        let session = self.store.get(id).await.ok_or(SessionError::Ended)?;
        if fresh(&session) {
            return Ok(session);
        }
        // One refresh per session: later requests wait here, then find the fresh tokens.
        let lock = self.locks.for_session(id);
        let _guard = lock.lock().await;
        let session = self.store.get(id).await.ok_or(SessionError::Ended)?;
        if fresh(&session) {
            return Ok(session);
        }
        let Some(refresh_token) = session.refresh_token.clone() else {
            self.store.remove(id).await;
            return Err(SessionError::Ended);
        };
        let refreshed = match SignInClient::new(oidc) {
            Ok(client) => client.refresh(&refresh_token).await,
            Err(error) => Err(error),
        };
        match refreshed {
            Ok(tokens) => {
                log::debug!("session of {} refreshed", session.identity.sub);
                let session = Session {
                    identity: tokens.identity,
                    id_token: tokens.id_token.or(session.id_token),
                    refresh_token: tokens.refresh_token.or(session.refresh_token),
                    csrf_token: session.csrf_token,
                };
                self.store.put(id, session.clone()).await;
                Ok(session)
            }
            Err(error @ (FlowError::InvalidGrant | FlowError::BadToken(..))) => {
                log::info!("session of {} ended: {error}", session.identity.sub);
                self.store.remove(id).await;
                Err(SessionError::Ended)
            }
            Err(error) if session.access_expires_at() > unix_now() => {
                log::warn!("token refresh failed, serving the still-valid access token: {error}");
                Ok(session)
            }
            Err(error) => {
                log::warn!("token refresh failed: {error}");
                Err(SessionError::Unavailable)
            }
        }
    }

    /// Ends session `id`.
    pub async fn end(&self, id: &str) {
        self.store.remove(id).await;
    }

    /// Records a logout token id; false if it was seen before (a replay).
    pub(crate) fn first_use_of_logout_token(&self, jti: &str, expires_at: u64) -> bool {
        let mut seen = self.seen_logout_tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains_key(jti) {
            return false;
        }
        if seen.len() >= MAX_SEEN_LOGOUT_TOKENS {
            let now = unix_now();
            seen.retain(|_, exp| *exp > now);
            if seen.len() >= MAX_SEEN_LOGOUT_TOKENS {
                // Still full of live ids: refusing is safer than forgetting one.
                return false;
            }
        }
        seen.insert(jti.to_owned(), expires_at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(sub: &str, sid: &str) -> Session {
        Session {
            identity: Arc::new(Identity {
                sub: sub.into(),
                preferred_username: None,
                email: None,
                name: None,
                realm_roles: vec![],
                client_roles: HashMap::new(),
                azp: None,
                sid: Some(sid.into()),
                scopes: vec![],
                expires_at: 0,
            }),
            id_token: Some("id-token-secret".into()),
            refresh_token: Some(RefreshToken::new("refresh-token-secret".into())),
            csrf_token: "csrf".into(),
        }
    }

    #[rocket::async_test]
    async fn store_is_bounded_and_evicts_the_oldest() {
        let store = MemoryStore::new(2, Duration::from_secs(60));
        store.put("a", session("u1", "s1")).await;
        store.put("b", session("u2", "s2")).await;
        store.put("c", session("u3", "s3")).await;
        assert!(store.get("a").await.is_none());
        assert!(store.get("b").await.is_some() && store.get("c").await.is_some());
    }

    #[rocket::async_test]
    async fn sessions_expire() {
        let store = MemoryStore::new(10, Duration::from_millis(10));
        store.put("a", session("u1", "s1")).await;
        std::thread::sleep(Duration::from_millis(20));
        assert!(store.get("a").await.is_none());
    }

    #[rocket::async_test]
    async fn remove_by_sid_and_sub_end_every_match() {
        let store = MemoryStore::default();
        store.put("a", session("u1", "s1")).await;
        store.put("b", session("u1", "s1")).await;
        store.put("c", session("u1", "s2")).await;
        assert_eq!(store.remove_by_sid("s1").await, 2);
        assert_eq!(store.remove_by_sub("u1").await, 1);
        assert!(store.get("c").await.is_none());
    }

    #[test]
    fn debug_redacts_tokens() {
        let debug = format!("{:?}", session("u1", "s1"));
        assert!(!debug.contains("secret"), "{debug}");
    }
}
