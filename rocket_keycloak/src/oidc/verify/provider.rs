//! [`Oidc`]: the provider state (configuration, realms, the rules of each token kind, the
//! DPoP proof rules) and the checks of access tokens and DPoP proofs.

use std::sync::Arc;

use super::error::VerifyError;
use super::realm::Realm;
use crate::clock::unix_now;
use crate::config::{IntrospectionMode, OidcConfig};
use crate::identity::Identity;
use crate::oidc::cache::{self, RefusalKey, TokenDigest};
#[cfg(feature = "dpop")]
use crate::oidc::dpop::{CheckedProof, DpopError, ProofRules, ProofTarget, ReplayCache};
use crate::oidc::fetch;
use crate::oidc::tokens::{self, TokenError};
#[cfg(feature = "sign-in")]
use crate::oidc::tokens::{TokenKind, TokenRules};
use crate::telemetry;

/// The shared provider state. Cheap to clone; managed by Rocket as state.
#[derive(Clone)]
pub struct Oidc {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) config: OidcConfig,
    #[cfg(feature = "sign-in")]
    pub(super) http: reqwest::Client,
    /// Every accepted realm; the first is the sign-in realm.
    pub(super) realms: Vec<Realm>,
    #[cfg(feature = "sign-in")]
    pub(super) id_rules: TokenRules,
    #[cfg(feature = "sign-in")]
    pub(super) logout_rules: TokenRules,
    #[cfg(feature = "dpop")]
    proof_rules: ProofRules,
    #[cfg(feature = "dpop")]
    proof_algorithms: String,
    #[cfg(feature = "dpop")]
    proofs_seen: ReplayCache,
    /// The realm's name for challenges (`realm="..."`), found in the issuer once: every 401
    /// carries it.
    realm_name: String,
    /// Where the protected-resource metadata is (RFC 9728), for every challenge; `None` when
    /// it is not served.
    resource_metadata_url: Option<String>,
    /// The handles of the per-request metrics, live from liftoff (`telemetry/meters.rs`).
    meters: Arc<telemetry::Meters>,
}

impl Oidc {
    /// Builds the provider state from checked configuration. Nothing is fetched yet.
    pub(crate) fn new(config: OidcConfig) -> Self {
        let http = fetch::http_client(&config.deployment.tls);
        #[cfg(feature = "sign-in")]
        let rules = |kind, audience: &str| {
            TokenRules::new(
                kind,
                &config.issuer,
                audience,
                config.leeway.as_secs(),
                &config.algorithms,
            )
        };
        #[cfg(feature = "sign-in")]
        let id_rules = rules(TokenKind::Id, &config.client_id);
        #[cfg(feature = "sign-in")]
        let logout_rules = rules(TokenKind::Logout, &config.client_id);
        let realms = config.realms.iter().map(|realm| Realm::new(&config, realm, &http)).collect();
        #[cfg(feature = "dpop")]
        let proof_rules = ProofRules::new(&config.algorithms, &config.app_url);
        Self {
            inner: Arc::new(Inner {
                #[cfg(feature = "dpop")]
                proof_algorithms: proof_rules.algorithm_names(),
                realm_name: config.realm().to_owned(),
                resource_metadata_url: config.resource_metadata.url(&config.app_url),
                meters: Arc::default(),
                #[cfg(feature = "dpop")]
                proof_rules,
                #[cfg(feature = "dpop")]
                proofs_seen: ReplayCache::default(),
                config,
                #[cfg(feature = "sign-in")]
                http,
                realms,
                #[cfg(feature = "sign-in")]
                id_rules,
                #[cfg(feature = "sign-in")]
                logout_rules,
            }),
        }
    }

    /// The handles of the per-request metrics (made live by the fairing at liftoff).
    pub(crate) fn meters(&self) -> &Arc<telemetry::Meters> {
        &self.inner.meters
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// The sign-in realm.
    pub(super) fn primary(&self) -> &Realm {
        &self.inner.realms[0]
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
        self.validate_keyed(token).await.map(|(identity, _)| identity)
    }

    /// [`Self::validate_access_token`], with the token's SHA-256 (its cache key), so that
    /// whatever else needs that hash (the introspection cache, a DPoP proof's `ath`) does not
    /// compute it again: on a cached token it is most of the guard's work.
    pub(crate) async fn validate_keyed(
        &self,
        token: &str,
    ) -> Result<(Arc<Identity>, TokenDigest), VerifyError> {
        let result = match self.inner.config.introspection.mode {
            IntrospectionMode::Off => self.judge_access_token(token).await,
            // Boxed: the introspection path is a large future the hot path should not carry.
            mode => Box::pin(self.judge_with_introspection(token, mode)).await,
        };
        if let Err(VerifyError::Rejected(error)) = &result {
            telemetry::token_rejected(&self.inner.meters, error.reason());
        }
        result
    }

    pub(super) async fn judge_access_token(
        &self,
        token: &str,
    ) -> Result<(Arc<Identity>, TokenDigest), VerifyError> {
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
            self.inner.meters.token_cache(true);
            return Err(VerifyError::Rejected(error));
        }
        let digest = cache::digest(token);
        let now = unix_now();
        if let Some(judged) = realm.accepted_before(&digest, now) {
            self.inner.meters.token_cache(true);
            return judged.map(|identity| (identity, digest));
        }
        self.inner.meters.token_cache(false);
        // The full check is boxed so the common (cached) path stays a small future.
        let identity = Box::pin(self.validate_uncached(realm, token, digest, refusal, now)).await;
        identity.map(|identity| (identity, digest))
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

    #[cfg(feature = "dpop")]
    /// Checks the DPoP proof sent with the access token whose SHA-256 is `token_hash` (bound
    /// to `jkt`) for `target`, all but its replay (see `oidc/dpop/`).
    pub(crate) fn check_dpop_proof(
        &self,
        proof: &str,
        token_hash: &TokenDigest,
        jkt: &str,
        target: ProofTarget<'_>,
    ) -> Result<CheckedProof, DpopError> {
        self.inner.proof_rules.check_hashed(proof, token_hash, jkt, target, unix_now())
    }

    #[cfg(feature = "dpop")]
    /// The in-process record of spent DPoP proofs (when no shared store keeps them).
    pub(crate) fn proofs_seen(&self) -> &ReplayCache {
        &self.inner.proofs_seen
    }

    /// Where the protected-resource metadata is (RFC 9728), if the app serves it.
    pub(crate) fn resource_metadata_url(&self) -> Option<&str> {
        self.inner.resource_metadata_url.as_deref()
    }

    /// The algorithms a DPoP proof may use, space-separated (the challenge's `algs`).
    pub(crate) fn proof_algorithms(&self) -> &str {
        #[cfg(feature = "dpop")]
        return &self.inner.proof_algorithms;
        #[cfg(not(feature = "dpop"))]
        ""
    }

    /// The realm's name, as this app's challenges give it.
    pub(crate) fn realm_name(&self) -> &str {
        &self.inner.realm_name
    }

    /// The issuer of the realm called `name` (the last path segment of a Keycloak issuer).
    pub fn realm_issuer(&self, name: &str) -> Option<&str> {
        let realm = self.inner.realms.iter().find(|realm| realm.name == name);
        realm.map(|realm| realm.issuer.as_str())
    }
}
