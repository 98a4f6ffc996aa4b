//! The route of an access token through introspection when `oidc.introspection` is on:
//! which tokens are asked about, and the verdict as this layer's [`VerifyError`] (the rules
//! are in `oidc/introspect/mod.rs`).

use std::sync::Arc;

use super::error::VerifyError;
use super::provider::Oidc;
use crate::config::IntrospectionMode;
use crate::identity::Identity;
use crate::oidc::cache::{self, TokenDigest};
use crate::oidc::introspect::Verdict;
use crate::oidc::tokens::{MAX_TOKEN_BYTES, TokenError};

impl Oidc {
    /// An access token's identity with introspection on (`mode` is not `Off`), and the
    /// token's SHA-256: the key of both the verified-token cache and the answer cache.
    pub(super) async fn judge_with_introspection(
        &self,
        token: &str,
        mode: IntrospectionMode,
    ) -> Result<(Arc<Identity>, TokenDigest), VerifyError> {
        if !token.contains('.') {
            // Not a JWT (an opaque reference): only Keycloak can say what it is.
            if token.len() > MAX_TOKEN_BYTES {
                return Err(TokenError::TooLarge.into());
            }
            let digest = cache::digest(token);
            let identity = self.introspect(self.primary(), token, digest).await?;
            return Ok((identity, digest));
        }
        // Local verification first: a JWT that fails it is refused, never introspected.
        let (local, digest) = self.judge_access_token(token).await?;
        let realm = self.inner.realms.iter().find(|realm| realm.issuer == local.issuer);
        let Some(realm) = realm.filter(|realm| realm.introspector.is_some()) else {
            return Ok((local, digest));
        };
        if mode == IntrospectionMode::Always || lacks_claims(&local) {
            return Ok((self.introspect(realm, token, digest).await?, digest));
        }
        Ok((local, digest))
    }

    async fn introspect(
        &self,
        realm: &super::realm::Realm,
        token: &str,
        digest: TokenDigest,
    ) -> Result<Arc<Identity>, VerifyError> {
        let Some(introspector) = &realm.introspector else {
            return Err(VerifyError::Unavailable);
        };
        let metadata = realm.keys.source().metadata();
        match introspector.check(token, digest, metadata, &realm.access_rules).await {
            Verdict::Active(identity) => Ok(identity),
            Verdict::Refused(error) => Err(VerifyError::Rejected(error)),
            Verdict::Unavailable => Err(VerifyError::Unavailable),
        }
    }
}

/// Whether a locally verified token lacks what guards need: a lightweight token has no
/// `sub`, and no role claims unless a mapper marks them `lightweight.claim`.
fn lacks_claims(identity: &Identity) -> bool {
    identity.sub.as_str().is_empty()
        || (identity.realm_roles.is_empty() && identity.client_roles.is_empty())
}
