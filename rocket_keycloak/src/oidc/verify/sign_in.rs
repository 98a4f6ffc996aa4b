//! What only the browser sign-in needs of the provider: its metadata and HTTP client, the
//! ID-token check, and the back-channel logout token's (OIDC Back-Channel Logout 1.0 §2.6).

use std::sync::Arc;

use super::error::VerifyError;
use super::provider::Oidc;
use crate::clock::unix_now;
use crate::identity::Claims;
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::tokens::{TokenError, TokenKind};
use crate::protocol::Subject;

/// A verified back-channel logout token: what to end, and what replay protection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogoutToken {
    /// The token's id, remembered until `accepted_until` so it cannot be replayed.
    pub jti: String,
    /// Until when this token would be accepted (`exp` plus the leeway), Unix seconds.
    pub accepted_until: u64,
    /// The subject (for logs; may be empty when a `sid` is given).
    pub sub: Subject,
    /// Which sessions end.
    pub target: LogoutTarget,
}

/// The sessions a logout token ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogoutTarget {
    /// Every session of this Keycloak session (`sid`), when the token names one.
    KeycloakSession(String),
    /// Every session of this subject (`sub`), when it names no `sid`.
    Subject(Subject),
}

impl Oidc {
    /// The HTTP client used towards Keycloak (timeouts, no redirects).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The provider metadata of the sign-in realm, once discovered.
    pub(crate) fn metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.primary().keys.source().metadata()
    }

    /// Verifies a token of `kind` (signature, issuer, audience, kind, times) and returns its
    /// claims. Access tokens are better served by [`Oidc::validate_access_token`], which
    /// caches.
    pub(crate) async fn verify(&self, kind: TokenKind, token: &str) -> Result<Claims, VerifyError> {
        let primary = self.primary();
        let rules = match kind {
            TokenKind::Access => &primary.access_rules,
            TokenKind::Id => &self.inner.id_rules,
            TokenKind::Logout => &self.inner.logout_rules,
        };
        primary.verified(rules, token, unix_now()).await.map(|(_, claims)| claims)
    }

    /// Validates a back-channel logout token (OIDC Back-Channel Logout 1.0 §2.6) except
    /// for `jti` replay, which the session layer tracks.
    pub(crate) async fn validate_logout_token(
        &self,
        token: &str,
    ) -> Result<LogoutToken, VerifyError> {
        let claims = self.verify(TokenKind::Logout, token).await?;
        let bad = |why: &str| Err(TokenError::BadClaim(why.into()).into());
        const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
        if !claims.events.as_ref().is_some_and(|e| e.get(EVENT).is_some_and(|v| v.is_object())) {
            return bad("events has no back-channel logout event");
        }
        if claims.nonce.is_some() {
            return bad("logout token carries a nonce");
        }
        let target = match claims.sid {
            Some(sid) => LogoutTarget::KeycloakSession(sid),
            None if claims.sub.is_empty() => return bad("neither sid nor sub"),
            None => LogoutTarget::Subject(claims.sub.clone()),
        };
        let (Some(_), Some(jti)) = (claims.iat, claims.jti) else {
            return bad("missing iat or jti");
        };
        let accepted_until = claims.exp.max(0.0) as u64 + self.config().leeway.as_secs();
        Ok(LogoutToken { jti, accepted_until, sub: claims.sub, target })
    }
}
