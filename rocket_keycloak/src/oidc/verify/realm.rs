//! One accepted realm ([`Realm`]): its issuer, access-token rules, keys and verified-token
//! cache, and the verification of one token against them.
//!
//! Each realm's access-token rules carry that realm's own `allowed_azp`
//! ([`RealmConfig::allowed_azp`]), never the sign-in realm's: a client id means a client of
//! the realm that issued the token.

use std::sync::Arc;

use super::error::VerifyError;
use crate::config::{IntrospectionMode, OidcConfig, RealmConfig};
use crate::identity::Claims;
use crate::identity::Identity;
use crate::oidc::cache::{TokenCache, TokenDigest};
use crate::oidc::fetch::{CONNECT_TIMEOUT, FETCH_TIMEOUT, ProviderDocuments};
use crate::oidc::introspect::Introspector;
use crate::oidc::jwks::{KeyId, KeySet};
use crate::oidc::keystore::{Issued, KeyStore, MissingKey, Timing};
use crate::oidc::tokens::{ClaimedIssue, TokenError, TokenKind, TokenRules};
use crate::protocol::Issuer;

/// Slack on top of one fetch timeout for a request waiting on an unknown-kid refetch.
const WAIT_MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// One accepted realm: its issuer, access-token rules, keys and verified-token cache.
pub(super) struct Realm {
    pub(super) name: String,
    pub(super) issuer: Issuer,
    pub(super) access_rules: TokenRules,
    pub(super) token_cache: Arc<TokenCache>,
    pub(super) keys: KeyStore<ProviderDocuments>,
    /// The sign-in realm's introspection, when `oidc.introspection` is on (`introspected.rs`).
    pub(super) introspector: Option<Introspector>,
}

impl Realm {
    pub(super) fn new(config: &OidcConfig, realm: &RealmConfig, http: &reqwest::Client) -> Self {
        let access_rules = TokenRules::new(
            TokenKind::Access,
            &realm.issuer,
            &realm.audience,
            config.leeway.as_secs(),
            &config.algorithms,
        )
        // The realm's own clients: another realm's client ids name other clients.
        .with_allowed_azp(realm.allowed_azp.clone());
        // Only the sign-in realm introspects (the app's credentials are its client's), so
        // only there may a verified token lack `sub`: introspection supplies it.
        let introspector = (config.introspection.mode != IntrospectionMode::Off
            && realm.issuer == config.issuer)
            .then(|| Introspector::new(config, realm, http))
            .flatten();
        let access_rules = match introspector {
            Some(_) => access_rules.allowing_missing_sub(),
            None => access_rules,
        };
        let timing = Timing {
            min_refetch_interval: config.jwks_min_refresh_interval,
            kid_wait: FETCH_TIMEOUT + WAIT_MARGIN,
            refresh_wait: FETCH_TIMEOUT * 2 + CONNECT_TIMEOUT,
        };
        let token_cache = Arc::new(TokenCache::new(config.leeway));
        let documents = ProviderDocuments::new(realm, &config.algorithms, http.clone());
        let keys = KeyStore::new(documents, timing, {
            let token_cache = token_cache.clone();
            move |keys: &KeySet| token_cache.retain_keys(keys)
        });
        Self {
            name: realm.name().to_owned(),
            issuer: realm.issuer.clone(),
            access_rules,
            token_cache,
            keys,
            introspector,
        }
    }

    /// The verdict on a token accepted before, if it was.
    pub(super) fn accepted_before(
        &self,
        digest: &TokenDigest,
        now: u64,
    ) -> Option<Result<Arc<Identity>, VerifyError>> {
        let cache = &self.token_cache;
        let hit = self.keys.with_keys(|keys| cache.accepted(digest, now, keys?))?;
        let times = self.access_rules.check_time_claims(hit.exp, hit.nbf, hit.iat, now);
        Some(times.map(|()| hit.identity.clone()).map_err(VerifyError::Rejected))
    }

    /// Format, key lookup (refetching for an unknown `kid`), signature and claims: the
    /// verifying key's id and the claims.
    pub(super) async fn verified(
        &self,
        rules: &TokenRules,
        token: &str,
        now: u64,
    ) -> Result<(KeyId, Claims), VerifyError> {
        let header = rules.check_format(token)?;
        let key = match &header.kid {
            Some(kid) => {
                let issued = || issued(rules.claimed_issue(token, now));
                self.keys.key_for(kid, issued).await.map_err(|missing| match missing {
                    MissingKey::NotLoaded => VerifyError::Unavailable,
                    MissingKey::UnknownKid => VerifyError::Rejected(TokenError::UnknownKey),
                    MissingKey::Pending { retry_after } => VerifyError::KeyPending { retry_after },
                })?
            }
            // Rule 4: no kid, so only the one key suitable for the header's alg, and no
            // refetch (nothing names a key that might appear).
            None => self
                .keys
                .with_keys(|keys| keys.map(|keys| keys.only_key_for(&header.alg).cloned()))
                .ok_or(VerifyError::Unavailable)?
                .ok_or(TokenError::MissingKeyId)?,
        };
        let claims = rules.verify(token, &header, &key, now)?;
        Ok((key.kid.clone(), claims))
    }
}

/// A claimed issue time on the key store's clock.
fn issued(claimed: ClaimedIssue) -> Issued {
    let now = rocket::tokio::time::Instant::now();
    let at = match claimed {
        ClaimedIssue::CannotPass => return Issued::Hopeless,
        ClaimedIssue::Unknown => return Issued::Unknown,
        ClaimedIssue::By(secs) if secs >= 0.0 => {
            std::time::Duration::try_from_secs_f64(secs).ok().and_then(|d| now.checked_add(d))
        }
        ClaimedIssue::By(secs) => {
            std::time::Duration::try_from_secs_f64(-secs).ok().and_then(|d| now.checked_sub(d))
        }
    };
    // Beyond the clock's range: no judgement, so the token may wait like any other.
    at.map_or(Issued::Unknown, Issued::By)
}
