//! The provider: discovery, the JWKS cache, the fairing that keeps it fresh, and the
//! request-time entry point [`Oidc::validate_access_token`].
//!
//! The pure parts live in [`discovery`], [`jwks`] and [`tokens`]; this module owns the
//! network and the background task.
//!
//! # Failure policy (decisions)
//! - **Keycloak down at start does not stop the app.** At ignite the fairing checks the
//!   configuration (a bad value fails launch, naming the key) and makes one bounded attempt
//!   to load metadata and keys. If Keycloak is unreachable the app launches anyway: `/health`
//!   works, `/ready` answers 503, and any request that needs a key gets **503 with
//!   `Retry-After`**, not 401, because the token may well be valid. A background task
//!   retries with capped exponential backoff (0.5 s doubling to 30 s).
//! - **Keycloak down later does not take the API down.** A failed refresh keeps the last
//!   good key set; tokens signed with known keys keep validating.
//! - **Unknown `kid`s are rate limited and single-flight.** A token naming a key we do not
//!   have triggers at most one refetch per `jwks_min_refresh_interval`, and every request
//!   waiting for that key waits on the same fetch. A flood of random `kid`s costs Keycloak
//!   at most one request per interval. Inside the interval the next refetch is scheduled
//!   for its end and requests wait for it (at most the interval plus one fetch timeout)
//!   rather than being refused: otherwise a flood of bogus `kid`s would keep the slot
//!   busy and a genuinely rotated-in key would be refused (the soak test found this).
//! - **No lock is held across a network call.** Key sets are swapped atomically
//!   ([`arc_swap`]); the refresh bookkeeping is a mutex held for a few instructions.
//! - The HTTP client has connect and total timeouts, follows no redirects, and documents
//!   are capped at [`MAX_DOCUMENT_BYTES`].

pub mod cache;
pub mod client;
pub mod discovery;
pub mod jwks;
pub mod tokens;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::tokio::sync::watch;
use rocket::{Build, Orbit, Rocket, tokio};

use crate::config::OidcConfig;
use crate::error::AuthError;
use crate::identity::{Claims, Identity};
use discovery::ProviderMetadata;
use jwks::{KeySet, VerifyingKey};
use tokens::{TokenError, TokenRules};

/// Largest discovery or JWKS document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// Connect timeout towards Keycloak.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Total timeout of one request to Keycloak.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const WAIT_MARGIN: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The shared provider state. Cheap to clone; managed by Rocket as state.
#[derive(Clone)]
pub struct Oidc {
    inner: Arc<Inner>,
}

struct Inner {
    config: OidcConfig,
    http: reqwest::Client,
    access_rules: TokenRules,
    id_rules: TokenRules,
    logout_rules: TokenRules,
    token_cache: cache::TokenCache,
    metadata: ArcSwapOption<ProviderMetadata>,
    keys: ArcSwapOption<KeySet>,
    refresh: Mutex<RefreshState>,
    /// Bumped after every refresh attempt, successful or not; waiters watch it.
    generation: watch::Sender<u64>,
}

#[derive(Default)]
struct RefreshState {
    /// A fetch is running.
    in_flight: bool,
    /// An unknown-kid refetch is waiting for its slot.
    scheduled: bool,
    /// When the latest unknown-kid refetch started or will start (the rate limit's clock).
    next_refetch_at: Option<Instant>,
}

/// Why loading metadata or keys failed (for logs).
#[derive(Debug)]
pub enum FetchError {
    /// Network, timeout or HTTP status problem.
    Http(String),
    /// The body exceeded [`MAX_DOCUMENT_BYTES`].
    TooLarge,
    /// The discovery document was refused.
    Discovery(discovery::DiscoveryError),
    /// The JWKS was refused.
    Jwks(jwks::JwksError),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(why) => f.write_str(why),
            Self::TooLarge => write!(f, "document larger than {MAX_DOCUMENT_BYTES} bytes"),
            Self::Discovery(e) => e.fmt(f),
            Self::Jwks(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FetchError {}

impl Oidc {
    /// Builds the provider state from checked configuration. Nothing is fetched yet.
    pub fn new(config: OidcConfig) -> Self {
        let http = http_client();
        let rules = |kind, audience: &str| {
            TokenRules::new(
                kind,
                &config.issuer,
                audience,
                config.leeway.as_secs(),
                &config.algorithms,
            )
        };
        let access_rules =
            rules("Bearer", &config.audience).with_allowed_azp(config.allowed_azp.clone());
        let id_rules = rules("ID", &config.client_id);
        let logout_rules = rules("Logout", &config.client_id);
        Self {
            inner: Arc::new(Inner {
                config,
                http,
                access_rules,
                id_rules,
                logout_rules,
                token_cache: cache::TokenCache::default(),
                metadata: ArcSwapOption::empty(),
                keys: ArcSwapOption::empty(),
                refresh: Mutex::new(RefreshState::default()),
                generation: watch::Sender::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// The HTTP client used towards Keycloak (timeouts, no redirects).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The provider metadata, once discovered.
    pub fn metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.inner.metadata.load_full()
    }

    /// The current key set, once loaded.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.inner.keys.load_full()
    }

    /// Whether metadata and keys are loaded (what `/ready` reports).
    pub fn is_ready(&self) -> bool {
        self.inner.metadata.load().is_some() && self.inner.keys.load().is_some()
    }

    /// Validates a bearer access token and returns the caller's identity.
    ///
    /// A token that passed every check before is served from the verified-token cache
    /// (time rules re-applied); see [`cache`].
    pub async fn validate_access_token(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        if token.len() > tokens::MAX_TOKEN_BYTES {
            return Err(AuthError::InvalidToken(TokenError::TooLarge));
        }
        let digest = cache::digest(token);
        let now = unix_now();
        if let Some(judged) = self.judged_before(&digest, now) {
            return judged;
        }
        // The full check is boxed so the common (cached) path stays a small future.
        Box::pin(self.validate_uncached(token, digest, now)).await
    }

    /// The cached verdict on a token, if there is one.
    fn judged_before(
        &self,
        digest: &cache::TokenDigest,
        now: u64,
    ) -> Option<Result<Arc<Identity>, AuthError>> {
        let cache = &self.inner.token_cache;
        if let Some(keys) = self.inner.keys.load().as_deref()
            && let Some(hit) = cache.accepted(digest, now, keys)
        {
            let times = self.inner.access_rules.check_time_claims(hit.exp, hit.nbf, hit.iat, now);
            return Some(times.map(|()| hit.identity.clone()).map_err(AuthError::InvalidToken));
        }
        cache.rejected(digest).map(|error| Err(AuthError::InvalidToken(error)))
    }

    async fn validate_uncached(
        &self,
        token: &str,
        digest: cache::TokenDigest,
        now: u64,
    ) -> Result<Arc<Identity>, AuthError> {
        let cache = &self.inner.token_cache;
        match self.verified(&self.inner.access_rules, token, now).await {
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
                if let AuthError::InvalidToken(reason) = &error {
                    cache.reject(digest, reason);
                }
                Err(error)
            }
        }
    }

    /// Runs `rules` on `token`, looking its key up in the shared cache.
    async fn validate_with(&self, rules: &TokenRules, token: &str) -> Result<Claims, AuthError> {
        self.verified(rules, token, unix_now()).await.map(|(_, claims)| claims)
    }

    /// Format, key lookup (refetching for an unknown `kid`), signature and claims: the
    /// verifying key's id and the claims.
    async fn verified(
        &self,
        rules: &TokenRules,
        token: &str,
        now: u64,
    ) -> Result<(String, Claims), AuthError> {
        let header = rules.check_format(token).map_err(AuthError::InvalidToken)?;
        let key = self.key_for(&header.kid).await?;
        let claims = rules.verify(token, &header, &key, now).map_err(AuthError::InvalidToken)?;
        Ok((header.kid, claims))
    }

    /// The verifying key named `kid`, refetching the JWKS (rate limited, single flight)
    /// when the current set does not have it.
    pub async fn key_for(&self, kid: &str) -> Result<Arc<VerifyingKey>, AuthError> {
        let Some(keys) = self.inner.keys.load_full() else {
            return Err(AuthError::Unavailable);
        };
        if let Some(key) = keys.get(kid) {
            return Ok(key.clone());
        }
        let mut generation = self.inner.generation.subscribe();
        let deadline = {
            let mut state = self.inner.refresh.lock().unwrap_or_else(PoisonError::into_inner);
            // A refresh may have landed between the load above and taking the lock.
            if let Some(key) = self.current_key(kid) {
                return Ok(key);
            }
            let now = Instant::now();
            let start_at = match state.next_refetch_at {
                // A refetch is running or scheduled: share it.
                Some(at) if state.in_flight || state.scheduled => at,
                _ => {
                    // The first refetch for unknown kids runs now; later ones wait for the
                    // end of the interval, so a flood of bogus kids cannot use up the slot
                    // a genuinely new key needs: it is only delayed, never refused.
                    let at = state
                        .next_refetch_at
                        .map(|last| last + self.inner.config.jwks_min_refresh_interval)
                        .filter(|at| *at > now)
                        .unwrap_or(now);
                    state.next_refetch_at = Some(at);
                    state.scheduled = true;
                    let this = self.clone();
                    tokio::spawn(async move { this.scheduled_refetch(at).await });
                    at
                }
            };
            start_at.max(now) + FETCH_TIMEOUT + WAIT_MARGIN
        };
        // Wait for the shared refetch, never past its start plus one fetch timeout.
        loop {
            let pending = {
                let state = self.inner.refresh.lock().unwrap_or_else(PoisonError::into_inner);
                state.in_flight || state.scheduled
            };
            if !pending {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, generation.changed()).await.is_err() {
                break;
            }
            if let Some(key) = self.current_key(kid) {
                return Ok(key);
            }
        }
        self.current_key(kid).ok_or(AuthError::InvalidToken(TokenError::UnknownKey))
    }

    fn current_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        self.inner.keys.load().as_ref().and_then(|keys| keys.get(kid).cloned())
    }

    /// Runs the unknown-kid refetch scheduled for `at` (unless another refresh is running,
    /// whose result the waiters then share).
    async fn scheduled_refetch(&self, at: Instant) {
        tokio::time::sleep_until(at.into()).await;
        let start = {
            let mut state = self.inner.refresh.lock().unwrap_or_else(PoisonError::into_inner);
            state.scheduled = false;
            !std::mem::replace(&mut state.in_flight, true)
        };
        if start {
            self.run_refresh("unknown kid").await;
        }
    }

    /// Loads metadata (if not yet loaded) and the JWKS now, unless a refresh is already
    /// running, in which case it waits for that one. Returns whether keys are loaded.
    pub async fn refresh(&self, reason: &str) -> bool {
        let mut generation = self.inner.generation.subscribe();
        let start = {
            let mut state = self.inner.refresh.lock().unwrap_or_else(PoisonError::into_inner);
            !std::mem::replace(&mut state.in_flight, true)
        };
        if start {
            self.run_refresh(reason).await;
        } else {
            let _ = tokio::time::timeout(FETCH_TIMEOUT * 2 + CONNECT_TIMEOUT, generation.changed())
                .await;
        }
        self.is_ready()
    }

    /// Performs one refresh; the caller has set `in_flight`.
    async fn run_refresh(&self, reason: &str) {
        let result = self.load().await;
        match &result {
            Ok(keys) => log::info!("OIDC keys loaded ({reason}): kids {:?}", keys.kids()),
            Err(e) if self.inner.keys.load().is_some() => {
                log::warn!("OIDC key refresh failed ({reason}), keeping the last good keys: {e}")
            }
            Err(e) => log::warn!("OIDC provider not reachable yet ({reason}): {e}"),
        }
        self.inner.refresh.lock().unwrap_or_else(PoisonError::into_inner).in_flight = false;
        self.inner.generation.send_modify(|g| *g += 1);
    }

    async fn load(&self) -> Result<Arc<KeySet>, FetchError> {
        let config = &self.inner.config;
        let metadata = match self.inner.metadata.load_full() {
            Some(metadata) => metadata,
            None => {
                let body = self.fetch(config.discovery_url.as_str()).await?;
                let metadata = ProviderMetadata::from_json(&body, &config.issuer)
                    .map_err(FetchError::Discovery)?;
                let metadata = Arc::new(metadata);
                self.inner.metadata.store(Some(metadata.clone()));
                metadata
            }
        };
        let body = self.fetch(metadata.jwks_uri.as_str()).await?;
        let (keys, skipped) =
            KeySet::from_json(&body, &config.algorithms).map_err(FetchError::Jwks)?;
        for why in skipped {
            log::debug!("JWKS: ignored {why}");
        }
        let keys = Arc::new(keys);
        self.inner.keys.store(Some(keys.clone()));
        self.inner.token_cache.retain_keys(&keys);
        Ok(keys)
    }

    /// GETs a document with the size cap.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .inner
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Http(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(FetchError::Http(format!("GET {url}: status {}", response.status())));
        }
        if response.content_length().is_some_and(|n| n as usize > MAX_DOCUMENT_BYTES) {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| FetchError::Http(format!("GET {url}: {e}")))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The background task: retry until ready, then refresh periodically; ends on shutdown.
    async fn keep_fresh(self, mut shutdown: rocket::Shutdown) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let wait =
                if self.is_ready() { self.inner.config.jwks_refresh_interval } else { backoff };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(wait) => {}
            }
            let reason = if self.is_ready() { "periodic refresh" } else { "retry" };
            if self.refresh(reason).await {
                backoff = FIRST_BACKOFF;
            } else {
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        log::info!("OIDC key refresh task stopped");
    }
}

/// The HTTP client towards Keycloak: timeouts, no redirects, rustls.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("rocket_keycloak/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The fairing: checks configuration and loads keys at ignite, keeps them fresh after
/// liftoff. Attach it once; the guards find its state.
///
/// ```no_run
/// # use rocket::launch;
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(rocket_keycloak::OidcFairing)
///         .register("/", rocket_keycloak::catchers())
/// }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct OidcFairing;

#[rocket::async_trait]
impl Fairing for OidcFairing {
    fn info(&self) -> Info {
        Info { name: "Keycloak OIDC", kind: Kind::Ignite | Kind::Liftoff | Kind::Singleton }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let config = match OidcConfig::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(error) => {
                log::error!("{error}");
                return Err(rocket);
            }
        };
        log::info!(
            "OIDC issuer {} (discovery at {}), client {}, audience {}",
            config.issuer,
            config.discovery_url,
            config.client_id,
            config.audience
        );
        let oidc = Oidc::new(config);
        if !oidc.refresh("startup").await {
            log::warn!("starting without keys: /ready answers 503 until Keycloak is reachable");
        }
        let rocket = rocket.manage(oidc);
        // Apps that bring their own session store manage `Sessions` before attaching.
        if rocket.state::<crate::session::Sessions>().is_none() {
            return Ok(rocket.manage(crate::session::Sessions::default()));
        }
        Ok(rocket)
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        if let Some(oidc) = rocket.state::<Oidc>() {
            tokio::spawn(oidc.clone().keep_fresh(rocket.shutdown()));
        }
    }
}
