//! Verification: [`Oidc`], the provider state (configuration, key store, the rules of each
//! token kind, the verified-token cache), and the checks of access and logout tokens.
//!
//! Every token this crate accepts passes through [`Oidc::verify`]: format, key lookup by
//! `kid`, then the rules of its [`TokenKind`]. Access tokens also go through the
//! verified-token cache ([`super::cache`]), so a token's signature is checked once.
//!
//! Several realms (`oidc.issuers`): each [`Realm`] has its own keys, access-token rules and
//! verified-token cache. An access token goes to the realm its unverified `iss` names,
//! before any cache lookup or network call, so a token naming an unlisted issuer costs
//! nothing but its refusal (`WrongIssuer`), and one realm's key rotation never touches
//! another's cache. With one realm nothing is routed: the hot path reads no payload. ID and
//! logout tokens, and the browser sign-in, belong to the first realm.
//!
//! The errors are this layer's own ([`VerifyError`]): whether a refusal becomes a 401, a
//! 503 or a failed sign-in is for the layers above to say.

use std::sync::Arc;

use super::cache::{self, RefusalKey, TokenCache, TokenDigest};
use super::discovery::ProviderMetadata;
use super::dpop::{CheckedProof, DpopError, ProofRules, ProofTarget, ReplayCache};
use super::fetch::{self, CONNECT_TIMEOUT, FETCH_TIMEOUT, ProviderDocuments};
use super::jwks::{KeyId, KeySet};
use super::keystore::{Issued, KeyStore, MissingKey, Timing};
use super::tokens::{self, ClaimedIssue, TokenError, TokenKind, TokenRules};
use crate::clock::unix_now;
use crate::config::{OidcConfig, RealmConfig};
use crate::identity::{Claims, Identity};
use crate::telemetry;

/// Slack on top of one fetch timeout for a request waiting on an unknown-kid refetch.
const WAIT_MARGIN: std::time::Duration = std::time::Duration::from_millis(250);

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// No keys are loaded yet (Keycloak unreachable since start): the token may be fine.
    Unavailable,
    /// The token names a key we do not have, and a refetch that may bring it is pending
    /// but already has all the waiters it takes: the token may be fine, retry later.
    KeyPending {
        /// When the pending refetch should have run.
        retry_after: std::time::Duration,
    },
    /// The token was refused.
    Rejected(TokenError),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable => f.write_str("the identity provider's keys are not loaded yet"),
            Self::KeyPending { .. } => f.write_str("the token's key is not known yet"),
            Self::Rejected(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable | Self::KeyPending { .. } => None,
            Self::Rejected(e) => Some(e),
        }
    }
}

impl From<TokenError> for VerifyError {
    fn from(error: TokenError) -> Self {
        Self::Rejected(error)
    }
}

/// A verified back-channel logout token: what to end, and what replay protection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogoutToken {
    /// The token's id, remembered until `accepted_until` so it cannot be replayed.
    pub jti: String,
    /// Until when this token would be accepted (`exp` plus the leeway), Unix seconds.
    pub accepted_until: u64,
    /// The subject (for logs; may be empty when a `sid` is given).
    pub sub: String,
    /// Which sessions end.
    pub target: LogoutTarget,
}

/// The sessions a logout token ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogoutTarget {
    /// Every session of this Keycloak session (`sid`), when the token names one.
    KeycloakSession(String),
    /// Every session of this subject (`sub`), when it names no `sid`.
    Subject(String),
}

/// The shared provider state. Cheap to clone; managed by Rocket as state.
#[derive(Clone)]
pub struct Oidc {
    inner: Arc<Inner>,
}

struct Inner {
    config: OidcConfig,
    http: reqwest::Client,
    /// Every accepted realm; the first is the sign-in realm.
    realms: Vec<Realm>,
    id_rules: TokenRules,
    logout_rules: TokenRules,
    proof_rules: ProofRules,
    proof_algorithms: String,
    proofs_seen: ReplayCache,
    /// The realm's name for challenges (`realm="..."`), found in the issuer once: every 401
    /// carries it.
    realm_name: String,
}

impl Oidc {
    /// Builds the provider state from checked configuration. Nothing is fetched yet.
    pub(crate) fn new(config: OidcConfig) -> Self {
        let http = fetch::http_client();
        let rules = |kind, audience: &str| {
            TokenRules::new(
                kind,
                &config.issuer,
                audience,
                config.leeway.as_secs(),
                &config.algorithms,
            )
        };
        let id_rules = rules(TokenKind::Id, &config.client_id);
        let logout_rules = rules(TokenKind::Logout, &config.client_id);
        let realms = config.realms.iter().map(|realm| Realm::new(&config, realm, &http)).collect();
        let proof_rules = ProofRules::new(&config.algorithms, &config.app_url);
        Self {
            inner: Arc::new(Inner {
                proof_algorithms: proof_rules.algorithm_names(),
                realm_name: config.realm().to_owned(),
                proof_rules,
                proofs_seen: ReplayCache::default(),
                config,
                http,
                realms,
                id_rules,
                logout_rules,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// The HTTP client used towards Keycloak (timeouts, no redirects).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The sign-in realm.
    fn primary(&self) -> &Realm {
        &self.inner.realms[0]
    }

    /// The provider metadata of the sign-in realm, once discovered.
    pub(crate) fn metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.primary().keys.source().metadata()
    }

    /// Whether the sign-in realm's metadata and keys are loaded (what `/ready` reports):
    /// another realm being unreachable must not take the instance out of service.
    pub fn is_ready(&self) -> bool {
        self.primary().keys.is_loaded()
    }

    /// Whether every realm's keys are loaded.
    pub fn all_realms_ready(&self) -> bool {
        self.inner.realms.iter().all(|realm| realm.keys.is_loaded())
    }

    /// The names of the realms whose keys are not loaded (for `/ready`'s body).
    pub fn realms_not_ready(&self) -> Vec<String> {
        let pending = self.inner.realms.iter().filter(|realm| !realm.keys.is_loaded());
        pending.map(|realm| realm.name.clone()).collect()
    }

    /// Loads every realm's metadata (if not yet loaded) and JWKS now, or waits for the loads
    /// already running. Returns whether the sign-in realm's keys are loaded.
    pub async fn refresh(&self, reason: &str) -> bool {
        let others = async {
            for realm in &self.inner.realms[1..] {
                realm.keys.refresh(reason).await;
            }
        };
        rocket::tokio::join!(self.primary().keys.refresh(reason), others).0
    }

    /// Validates a bearer access token and returns the caller's identity.
    ///
    /// A token that passed every check before is served from the verified-token cache
    /// (time rules re-applied; see `oidc/cache.rs`).
    pub async fn validate_access_token(&self, token: &str) -> Result<Arc<Identity>, VerifyError> {
        let result = self.judge_access_token(token).await;
        if let Err(VerifyError::Rejected(error)) = &result {
            telemetry::token_rejected(error.reason());
        }
        result
    }

    async fn judge_access_token(&self, token: &str) -> Result<Arc<Identity>, VerifyError> {
        if token.len() > tokens::MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge.into());
        }
        let realm = match self.inner.realms.as_slice() {
            [only] => only,
            realms => {
                let claimed = tokens::claimed_issuer(token);
                let found =
                    realms.iter().find(|realm| Some(realm.issuer.as_str()) == claimed.as_deref());
                found.ok_or(TokenError::WrongIssuer)?
            }
        };
        let cache = &realm.token_cache;
        // A replayed refusal is answered before the SHA-256 (see `oidc/cache.rs`).
        let refusal = cache.refusal_key(token);
        if let Some(error) = cache.rejected(refusal) {
            telemetry::token_cache(true);
            return Err(VerifyError::Rejected(error));
        }
        let digest = cache::digest(token);
        let now = unix_now();
        if let Some(judged) = realm.accepted_before(&digest, now) {
            telemetry::token_cache(true);
            return judged;
        }
        telemetry::token_cache(false);
        // The full check is boxed so the common (cached) path stays a small future.
        Box::pin(self.validate_uncached(realm, token, digest, refusal, now)).await
    }

    async fn validate_uncached(
        &self,
        realm: &Realm,
        token: &str,
        digest: TokenDigest,
        refusal: RefusalKey,
        now: u64,
    ) -> Result<Arc<Identity>, VerifyError> {
        let cache = &realm.token_cache;
        match realm.verified(&realm.access_rules, token, now).await {
            Ok((kid, claims)) => {
                let (exp, nbf, iat) = (claims.exp, claims.nbf, claims.iat);
                let identity = Arc::new(Identity::from(claims));
                cache.accept(
                    digest,
                    cache::Accepted { identity: identity.clone(), kid, exp, nbf, iat },
                    now,
                );
                Ok(identity)
            }
            Err(error) => {
                // Only permanent refusals are remembered (`TokenCache::reject` decides).
                if let VerifyError::Rejected(reason) = &error {
                    cache.reject(refusal, reason);
                }
                Err(error)
            }
        }
    }

    /// Checks the DPoP proof sent with `access_token` (bound to `jkt`) for `target`, all but
    /// its replay (see `oidc/dpop.rs`).
    pub(crate) fn check_dpop_proof(
        &self,
        proof: &str,
        access_token: &str,
        jkt: &str,
        target: ProofTarget<'_>,
    ) -> Result<CheckedProof, DpopError> {
        self.inner.proof_rules.check(proof, access_token, jkt, target, unix_now())
    }

    /// The in-process record of spent DPoP proofs (when no shared store keeps them).
    pub(crate) fn proofs_seen(&self) -> &ReplayCache {
        &self.inner.proofs_seen
    }

    /// The algorithms a DPoP proof may use, space-separated (the challenge's `algs`).
    pub(crate) fn proof_algorithms(&self) -> &str {
        &self.inner.proof_algorithms
    }

    /// The realm's name, as this app's challenges give it.
    pub(crate) fn realm_name(&self) -> &str {
        &self.inner.realm_name
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

    /// The issuer of the realm called `name` (the last path segment of a Keycloak issuer).
    pub fn realm_issuer(&self, name: &str) -> Option<&str> {
        let realm = self.inner.realms.iter().find(|realm| realm.name == name);
        realm.map(|realm| realm.issuer.as_str())
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

/// One accepted realm: its issuer, access-token rules, keys and verified-token cache.
struct Realm {
    name: String,
    issuer: String,
    access_rules: TokenRules,
    token_cache: Arc<TokenCache>,
    keys: KeyStore<ProviderDocuments>,
}

impl Realm {
    fn new(config: &OidcConfig, realm: &RealmConfig, http: &reqwest::Client) -> Self {
        let access_rules = TokenRules::new(
            TokenKind::Access,
            &realm.issuer,
            &realm.audience,
            config.leeway.as_secs(),
            &config.algorithms,
        )
        .with_allowed_azp(config.allowed_azp.clone());
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
        }
    }

    /// The verdict on a token accepted before, if it was.
    fn accepted_before(
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
    async fn verified(
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
