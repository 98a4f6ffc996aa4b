//! What a session holds: the record a session store keeps for one signed-in browser, and
//! the store's error.
//!
//! `revision` makes writes after a refresh a compare-and-set: a store writes a refreshed
//! session only over the revision it was read at, so a session that ended meanwhile, or
//! that another instance refreshed first, is never overwritten by a stale refresh (and a
//! failed refresh ends it only at that revision). `ends_at` carries the absolute end a store
//! sealed into the record, so that an update keeps it.

use std::sync::Arc;

use openidconnect::RefreshToken;
use serde::{Deserialize, Serialize};

use crate::identity::Identity;

/// What the server keeps for one signed-in browser.
#[derive(Clone, Serialize, Deserialize)]
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
    /// The store's revision of this record (0 for a session not stored yet); a store bumps
    /// it at every write and refuses an update over another revision.
    #[serde(skip)]
    pub revision: u64,
    /// When the session ends whatever happens (its absolute lifetime), Unix seconds, as the
    /// store read it (0 for a session not stored yet, or from a store that does not say). A
    /// store that seals it into the record (Redis) keeps it across an update.
    #[serde(skip)]
    pub ends_at: u64,
}

/// A session store could not be reached or answered nonsense. Requests that need a session
/// get a 503; nobody is signed in or out because of it.
#[derive(Debug)]
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps the store's own error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session store unavailable: {}", self.0)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
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

#[cfg(test)]
/// A session of `sub` in Keycloak session `sid`, with secret-looking tokens.
pub(crate) fn test_session(sub: &str, sid: &str) -> Session {
    Session {
        identity: Arc::new(Identity {
            issuer: "http://localhost:8080/realms/demo".into(),
            sub: sub.into(),
            preferred_username: None,
            email: None,
            name: None,
            realm_roles: vec![],
            client_roles: std::collections::HashMap::new(),
            azp: None,
            sid: Some(sid.into()),
            scopes: vec![],
            expires_at: 0,
            issued_at: None,
            acr: None,
            auth_time: None,
            dpop_jkt: None,
            organizations: None,
        }),
        id_token: Some("id-token-secret".into()),
        refresh_token: Some(RefreshToken::new("refresh-token-secret".into())),
        csrf_token: "csrf".into(),
        revision: 0,
        ends_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_tokens() {
        let debug = format!("{:?}", test_session("u1", "s1"));
        assert!(!debug.contains("secret"), "{debug}");
    }
}
