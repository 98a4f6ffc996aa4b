//! What a session holds: the record a [`super::SessionStore`] keeps for one signed-in
//! browser.

use std::sync::Arc;

use openidconnect::RefreshToken;

use crate::identity::Identity;

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

#[cfg(test)]
/// A session of `sub` in Keycloak session `sid`, with secret-looking tokens.
pub(crate) fn test_session(sub: &str, sid: &str) -> Session {
    Session {
        identity: Arc::new(Identity {
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
        }),
        id_token: Some("id-token-secret".into()),
        refresh_token: Some(RefreshToken::new("refresh-token-secret".into())),
        csrf_token: "csrf".into(),
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
