//! Typed OIDC configuration, read once from Rocket's figment and checked before launch.
//!
//! The `oidc` table of `Rocket.toml` (`[default.oidc]`) is the source; [`crate::rocket`]
//! lets `OIDC_<KEY>` environment variables override it. Everything is parsed and checked
//! here, so a typo fails launch with a message naming the key instead of surfacing as a
//! 401 at the first request.
//!
//! Decisions:
//! - The client secret is a [`ClientSecret`]: its `Debug` prints `[redacted]` and there is no
//!   `Display`, so it cannot reach a log by accident.
//! - `algorithms` may only name asymmetric JWS algorithms. `HS*` is refused at load time,
//!   because a shared-secret algorithm next to published public keys is the classic
//!   key-confusion hole; `none` is not even representable.
//! - `audience` defaults to `client_id`: Keycloak only puts the API into `aud` through an
//!   Audience mapper, and checking some audience is always safer than checking none.
//! - `issuer` and `discovery_url` must be https, except for loopback hosts (`localhost`,
//!   127.0.0.0/8, `::1`: nobody else is on that path) or with `allow_insecure_http = true`:
//!   the keys come from there, and whoever can change them in transit can sign tokens. The
//!   opt-in is for a trusted private network (docker-compose's `keycloak` service), and
//!   `app_url` is not concerned (an http app only loses `Secure` cookies).

use std::fmt;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use rocket::figment::Figment;
use serde::Deserialize;
use url::Url;

use crate::assurance::AcrLevels;

/// The figment key that holds this crate's settings.
pub(crate) const CONFIG_KEY: &str = "oidc";

/// Raw values as they appear in `Rocket.toml` or `OIDC_*` variables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    app_url: Option<String>,
    discovery_url: Option<String>,
    leeway: Option<u64>,
    jwks_refresh_interval: Option<u64>,
    jwks_min_refresh_interval: Option<u64>,
    algorithms: Option<Vec<String>>,
    allowed_azp: Option<Vec<String>>,
    session_store: Option<String>,
    metrics: Option<String>,
    acr_levels: Option<Vec<String>>,
    dpop: Option<String>,
    issuers: Option<Vec<RawRealm>>,
    allow_insecure_http: Option<bool>,
}

/// One entry of `oidc.issuers`: an issuer URL, or a table with its own audience and
/// discovery URL.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawRealm {
    Issuer(String),
    Table(RawRealmTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRealmTable {
    issuer: String,
    audience: Option<String>,
    discovery_url: Option<String>,
}

/// Every key of the `oidc` table.
pub(crate) const KEYS: [&str; 17] = [
    "issuer",
    "client_id",
    "client_secret",
    "audience",
    "app_url",
    "discovery_url",
    "leeway",
    "jwks_refresh_interval",
    "jwks_min_refresh_interval",
    "algorithms",
    "allowed_azp",
    "session_store",
    "allow_insecure_http",
    "metrics",
    "acr_levels",
    "dpop",
    "issuers",
];

/// Checked settings for the Keycloak integration.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The realm's issuer URL, compared byte for byte with `iss` and the discovery document.
    pub issuer: String,
    /// The OAuth client id of this application.
    pub client_id: String,
    /// The client secret, needed only for the browser sign-in.
    pub client_secret: Option<ClientSecret>,
    /// The value that access tokens must carry in `aud`.
    pub audience: String,
    /// Public base URL of the application, without a trailing slash.
    pub app_url: Url,
    /// Where the application itself fetches the discovery document.
    pub discovery_url: Url,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Period of the background JWKS refresh.
    pub jwks_refresh_interval: Duration,
    /// Minimum time between refetches triggered by unknown key ids.
    pub jwks_min_refresh_interval: Duration,
    /// Allowed signature algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// If set, access tokens must have been issued to one of these clients (`azp`).
    pub allowed_azp: Option<Vec<String>>,
    /// Where browser sessions live.
    pub session_store: SessionStoreConfig,
    /// Whether and where the demo serves Prometheus metrics.
    pub metrics: MetricsConfig,
    /// The levels of assurance (`acr` values) the step-up guards know, lowest first.
    pub acr_levels: AcrLevels,
    /// Whether API callers may use plain bearer tokens or must use DPoP-bound ones.
    pub dpop: DpopPolicy,
    /// Every realm whose access tokens are accepted; the first is `issuer`, `discovery_url`
    /// and `audience` above, the realm of the browser sign-in.
    pub realms: Vec<RealmConfig>,
    /// Whether `issuer` and `discovery_url` may be plain http on a non-loopback host.
    pub allow_insecure_http: bool,
}

/// Where browser sessions live (`oidc.session_store`): `memory` (the default: this process
/// only) or a `redis://` / `rediss://` URL (Redis or Valkey, shared by several instances).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStoreConfig {
    /// In this process ([`crate::MemoryStore`]).
    Memory,
    /// In Redis or Valkey at this URL ([`crate::RedisStore`]); it may hold a password.
    Redis(String),
}

impl fmt::Debug for SessionStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Redis(url) => match Url::parse(url) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("redacted"));
                    }
                    write!(f, "Redis({url})")
                }
                Err(_) => f.write_str("Redis([unparsable])"),
            },
        }
    }
}

/// A realm whose access tokens the app accepts (`oidc.issuers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealmConfig {
    /// The realm's issuer URL, compared byte for byte with `iss`.
    pub issuer: String,
    /// Where the app fetches the realm's discovery document.
    pub discovery_url: Url,
    /// The value access tokens of this realm must carry in `aud`.
    pub audience: String,
}

impl RealmConfig {
    /// A further realm of `oidc.issuers`: the issuer URL checked like `oidc.issuer`, the
    /// audience defaulting to the app's.
    fn parse(
        raw: RawRealm,
        audience: &str,
        allow_insecure_http: bool,
    ) -> Result<Self, ConfigError> {
        let (issuer, own_audience, discovery_url) = match raw {
            RawRealm::Issuer(issuer) => (issuer, None, None),
            RawRealm::Table(RawRealmTable { issuer, audience, discovery_url }) => {
                (issuer, audience, discovery_url)
            }
        };
        let issuer_url = parse_url(&issuer, "issuers")?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(ConfigError::new("issuers", "an issuer must not have a query or fragment"));
        }
        let discovery_url = match discovery_url {
            Some(url) => parse_url(&url, "issuers")?,
            None => parse_url(
                &format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')),
                "issuers",
            )?,
        };
        if !allow_insecure_http {
            refuse_plain_http(&issuer_url, "issuers")?;
            refuse_plain_http(&discovery_url, "issuers")?;
        }
        let audience = match own_audience {
            Some(a) if a.trim().is_empty() => {
                return Err(ConfigError::new("issuers", "an audience must not be empty"));
            }
            Some(a) => a,
            None => audience.to_owned(),
        };
        Ok(Self { issuer, discovery_url, audience })
    }

    /// The realm's name: the issuer's last path segment for Keycloak issuers
    /// (`.../realms/partner` gives `partner`), else the whole issuer.
    pub fn name(&self) -> &str {
        realm_name(&self.issuer)
    }
}

/// A Keycloak issuer's realm name: its last path segment (`.../realms/partner` gives
/// `partner`), else the whole issuer.
pub(crate) fn realm_name(issuer: &str) -> &str {
    match issuer.trim_end_matches('/').rsplit_once("/realms/") {
        Some((_, realm)) if !realm.is_empty() && !realm.contains('/') => realm,
        _ => issuer,
    }
}

/// Whether and where `/metrics` is served (`oidc.metrics`): `off`, `on` (the default: on the
/// app's own address) or an address such as `127.0.0.1:9100` (a listener of its own, so the
/// metrics are not exposed with the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsConfig {
    /// No endpoint (metrics are still recorded if a recorder is installed).
    Off,
    /// `GET /metrics` on the app's address.
    On,
    /// `GET /metrics` on this address only.
    Listener(std::net::SocketAddr),
}

impl MetricsConfig {
    fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        match value.as_deref() {
            None | Some("on") => Ok(Self::On),
            Some("off") => Ok(Self::Off),
            Some(address) => address.parse().map(Self::Listener).map_err(|_| {
                ConfigError::new(
                    "metrics",
                    "must be `off`, `on` or an address with a port, like 127.0.0.1:9100",
                )
            }),
        }
    }
}

/// Sender-constrained tokens (`oidc.dpop`, RFC 9449): `allowed` (the default: a DPoP-bound
/// token must come with a valid proof, and plain bearer tokens are accepted too) or
/// `required` (API callers must present DPoP-bound tokens; browser sessions, whose tokens
/// never leave the server, are not concerned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopPolicy {
    /// DPoP-bound and plain bearer tokens.
    #[default]
    Allowed,
    /// DPoP-bound tokens only.
    Required,
}

impl DpopPolicy {
    fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        match value.as_deref() {
            None | Some("allowed") => Ok(Self::Allowed),
            Some("required") if cfg!(feature = "dpop") => Ok(Self::Required),
            Some("required") => Err(ConfigError::new(
                "dpop",
                "`required` needs the `dpop` feature of rocket_keycloak, which this build lacks",
            )),
            Some(_) => Err(ConfigError::new("dpop", "must be `allowed` or `required`")),
        }
    }
}

impl SessionStoreConfig {
    fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        let Some(value) = value else { return Ok(Self::Memory) };
        let bad = || {
            ConfigError::new(
                "session_store",
                "must be `memory` or a redis:// or rediss:// URL, like redis://127.0.0.1:6379/0",
            )
        };
        if value == "memory" {
            return Ok(Self::Memory);
        }
        let url = Url::parse(&value).map_err(|_| bad())?;
        if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none_or(str::is_empty) {
            return Err(bad());
        }
        #[cfg(feature = "redis")]
        redis::Client::open(value.as_str()).map_err(|_| bad())?;
        #[cfg(not(feature = "redis"))]
        return Err(ConfigError::new(
            "session_store",
            "a Redis store needs the `redis` feature of rocket_keycloak, which this build lacks",
        ));
        #[cfg(feature = "redis")]
        Ok(Self::Redis(value))
    }
}

/// A client secret that never prints itself.
#[derive(Clone, Deserialize)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the token endpoint only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// A configuration problem, always naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The key, e.g. `oidc.issuer`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: format!("{CONFIG_KEY}.{key}"), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration `{}` (Rocket.toml [default.{CONFIG_KEY}] or env OIDC_{}): {}",
            self.key,
            self.key.trim_start_matches("oidc.").to_uppercase(),
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// The default algorithm allow-list: every asymmetric JWS algorithm.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl OidcConfig {
    /// Reads and checks the `oidc` table of a figment.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let raw: RawConfig = figment.extract_inner(CONFIG_KEY).map_err(|error| {
            // figment's path order differs between providers: pick the element that is a key.
            let key = error.path.iter().find(|p| KEYS.contains(&p.as_str()));
            match key {
                Some(key) => ConfigError::new(key, error.to_string()),
                None => ConfigError {
                    key: CONFIG_KEY.into(),
                    message: format!("missing or malformed table: {error}"),
                },
            }
        })?;
        Self::from_raw(raw)
    }

    fn from_raw(mut raw: RawConfig) -> Result<Self, ConfigError> {
        let mut extra_realms = Vec::new();
        if let Some(list) = raw.issuers.take() {
            let mut list = list.into_iter();
            let Some(first) = list.next() else {
                return Err(ConfigError::new("issuers", "must list at least one issuer"));
            };
            let (issuer, audience, discovery_url) = match first {
                RawRealm::Issuer(issuer) => (issuer, None, None),
                RawRealm::Table(RawRealmTable { issuer, audience, discovery_url }) => {
                    (issuer, audience, discovery_url)
                }
            };
            if raw.issuer.as_ref().is_some_and(|single| *single != issuer) {
                return Err(ConfigError::new(
                    "issuers",
                    "the first issuer is the sign-in realm and must equal oidc.issuer (or leave \
                     oidc.issuer out)",
                ));
            }
            raw.issuer = Some(issuer);
            raw.audience = audience.or(raw.audience);
            raw.discovery_url = discovery_url.or(raw.discovery_url);
            extra_realms.extend(list);
        }
        let issuer = required(raw.issuer, "issuer")?;
        let issuer_url = parse_url(&issuer, "issuer")?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(ConfigError::new("issuer", "must not have a query or fragment"));
        }
        let client_id = required(raw.client_id, "client_id")?;
        let client_secret = raw.client_secret.filter(|s| !s.is_empty()).map(ClientSecret);
        let audience = match raw.audience {
            Some(a) if a.trim().is_empty() => {
                return Err(ConfigError::new("audience", "must not be empty"));
            }
            Some(a) => a,
            None => client_id.clone(),
        };
        let app_url = raw.app_url.unwrap_or_else(|| "http://localhost:8000".into());
        let app_url = parse_url(app_url.trim_end_matches('/'), "app_url")?;
        let discovery_url = match raw.discovery_url {
            Some(url) => parse_url(&url, "discovery_url")?,
            None => parse_url(
                &format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')),
                "issuer",
            )?,
        };
        let allow_insecure_http = raw.allow_insecure_http.unwrap_or(false);
        if !allow_insecure_http {
            refuse_plain_http(&issuer_url, "issuer")?;
            refuse_plain_http(&discovery_url, "discovery_url")?;
        }
        let mut realms = vec![RealmConfig {
            issuer: issuer.clone(),
            discovery_url: discovery_url.clone(),
            audience: audience.clone(),
        }];
        for extra in extra_realms {
            let realm = RealmConfig::parse(extra, &audience, allow_insecure_http)?;
            if realms.iter().any(|r| r.issuer == realm.issuer) {
                return Err(ConfigError::new(
                    "issuers",
                    format!("{} is listed twice", realm.issuer),
                ));
            }
            realms.push(realm);
        }
        let seconds = |value: Option<u64>, default: u64, key: &str, min: u64| {
            let value = value.unwrap_or(default);
            if value < min {
                return Err(ConfigError::new(key, format!("must be at least {min} seconds")));
            }
            Ok(Duration::from_secs(value))
        };
        let leeway = seconds(raw.leeway, 60, "leeway", 0)?;
        if leeway > Duration::from_secs(300) {
            return Err(ConfigError::new("leeway", "must be at most 300 seconds"));
        }
        let algorithms = match raw.algorithms {
            None => DEFAULT_ALGORITHMS.to_vec(),
            Some(names) if names.is_empty() => {
                return Err(ConfigError::new("algorithms", "must name at least one algorithm"));
            }
            Some(names) => names.iter().map(|n| parse_algorithm(n)).collect::<Result<_, _>>()?,
        };
        Ok(Self {
            issuer,
            client_id,
            client_secret,
            audience,
            app_url,
            discovery_url,
            leeway,
            jwks_refresh_interval: seconds(
                raw.jwks_refresh_interval,
                300,
                "jwks_refresh_interval",
                1,
            )?,
            jwks_min_refresh_interval: seconds(
                raw.jwks_min_refresh_interval,
                10,
                "jwks_min_refresh_interval",
                0,
            )?,
            algorithms,
            allowed_azp: match raw.allowed_azp {
                Some(list) if list.is_empty() || list.iter().any(|c| c.trim().is_empty()) => {
                    return Err(ConfigError::new("allowed_azp", "must list non-empty client ids"));
                }
                other => other,
            },
            session_store: SessionStoreConfig::parse(raw.session_store)?,
            metrics: MetricsConfig::parse(raw.metrics)?,
            acr_levels: AcrLevels::parse(raw.acr_levels)
                .map_err(|why| ConfigError::new("acr_levels", why))?,
            dpop: DpopPolicy::parse(raw.dpop)?,
            realms,
            allow_insecure_http,
        })
    }

    /// An absolute URL of this app for `path` (which starts with `/`).
    pub fn app_path(&self, path: &str) -> String {
        format!("{}{path}", self.app_url.as_str().trim_end_matches('/'))
    }

    /// Whether cookies must be `Secure` (the app is served over https).
    pub fn secure_cookies(&self) -> bool {
        self.app_url.scheme() == "https"
    }

    /// The realm name for `WWW-Authenticate`: the issuer's last path segment for
    /// Keycloak issuers (`.../realms/demo` gives `demo`), else the whole issuer.
    pub fn realm(&self) -> &str {
        realm_name(&self.issuer)
    }
}

fn required(value: Option<String>, key: &str) -> Result<String, ConfigError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::new(key, "is required")),
    }
}

fn parse_url(value: &str, key: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::new(key, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(key, "must be an absolute http(s) URL"));
    }
    Ok(url)
}

/// Refuses `http://` unless the host is a loopback one.
fn refuse_plain_http(url: &Url, key: &str) -> Result<(), ConfigError> {
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "https" || loopback {
        return Ok(());
    }
    Err(ConfigError::new(
        key,
        "plain http is accepted only for loopback hosts (localhost, 127.0.0.0/8, ::1): anyone \
         on the path could replace the signing keys. Use https, or, on a trusted private \
         network only, set oidc.allow_insecure_http = true (OIDC_ALLOW_INSECURE_HTTP=true)",
    ))
}

fn parse_algorithm(name: &str) -> Result<Algorithm, ConfigError> {
    let algorithm: Algorithm = name
        .parse()
        .map_err(|_| ConfigError::new("algorithms", format!("unknown algorithm `{name}`")))?;
    if matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(ConfigError::new(
            "algorithms",
            format!("`{name}` is symmetric; only asymmetric algorithms are allowed"),
        ));
    }
    Ok(algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::figment::providers::Serialized;

    fn figment(pairs: &[(&str, &str)]) -> Figment {
        let mut f = Figment::new();
        for (k, v) in pairs {
            f = f.merge(Serialized::default(&format!("oidc.{k}"), v));
        }
        f
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![("issuer", "http://localhost:8080/realms/demo"), ("client_id", "demo-app")]
    }

    #[test]
    fn defaults_are_filled_in() {
        let config = OidcConfig::from_figment(&figment(&base())).unwrap();
        assert_eq!(config.audience, "demo-app");
        assert_eq!(config.app_url.as_str(), "http://localhost:8000/");
        assert_eq!(
            config.discovery_url.as_str(),
            "http://localhost:8080/realms/demo/.well-known/openid-configuration"
        );
        assert_eq!(config.leeway, Duration::from_secs(60));
        assert_eq!(config.jwks_refresh_interval, Duration::from_secs(300));
        assert_eq!(config.jwks_min_refresh_interval, Duration::from_secs(10));
        assert_eq!(config.algorithms.len(), 9);
        assert_eq!(config.realm(), "demo");
    }

    #[test]
    fn missing_issuer_names_the_key() {
        let error = OidcConfig::from_figment(&figment(&[("client_id", "x")])).unwrap_err();
        assert_eq!(error.key, "oidc.issuer");
        assert!(error.to_string().contains("OIDC_ISSUER"), "{error}");
    }

    #[test]
    fn missing_table_is_reported() {
        let error = OidcConfig::from_figment(&Figment::new()).unwrap_err();
        assert_eq!(error.key, "oidc");
    }

    #[test]
    fn malformed_number_names_the_key() {
        let mut pairs = base();
        pairs.push(("leeway", "soon"));
        let error = OidcConfig::from_figment(&figment(&pairs)).unwrap_err();
        assert_eq!(error.key, "oidc.leeway", "{error}");
    }

    #[test]
    fn session_store_is_memory_or_a_redis_url() {
        let with = |value: &str| {
            let mut pairs = base();
            pairs.push(("session_store", value));
            OidcConfig::from_figment(&figment(&pairs))
        };
        assert_eq!(
            OidcConfig::from_figment(&figment(&base())).unwrap().session_store,
            SessionStoreConfig::Memory
        );
        assert_eq!(with("memory").unwrap().session_store, SessionStoreConfig::Memory);
        for url in ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.internal:6380/2"] {
            assert_eq!(with(url).unwrap().session_store, SessionStoreConfig::Redis(url.into()));
        }
        for bad in ["redis", "http://127.0.0.1:6379", "redis://", "Memory", "redis://h:port/0", ""]
        {
            let error = with(bad).unwrap_err();
            assert_eq!(error.key, "oidc.session_store", "{bad:?}");
            assert!(error.to_string().contains("OIDC_SESSION_STORE"), "{error}");
        }
        let debug = format!("{:?}", with("redis://:hunter2@cache:6379/0").unwrap());
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn metrics_is_off_on_or_an_address() {
        let with = |value: &str| {
            let mut pairs = base();
            pairs.push(("metrics", value));
            OidcConfig::from_figment(&figment(&pairs))
        };
        assert_eq!(OidcConfig::from_figment(&figment(&base())).unwrap().metrics, MetricsConfig::On);
        assert_eq!(with("off").unwrap().metrics, MetricsConfig::Off);
        assert_eq!(
            with("127.0.0.1:9100").unwrap().metrics,
            MetricsConfig::Listener("127.0.0.1:9100".parse().unwrap())
        );
        for bad in ["yes", "9100", "localhost", ""] {
            assert_eq!(with(bad).unwrap_err().key, "oidc.metrics", "{bad:?}");
        }
    }

    #[test]
    fn acr_levels_are_distinct_header_safe_names() {
        let with = |levels: &[&str]| {
            let f = figment(&base()).merge(Serialized::default("oidc.acr_levels", levels));
            OidcConfig::from_figment(&f)
        };
        let config = with(&["silver", "gold"]).unwrap();
        assert_eq!(config.acr_levels.rank("gold"), Some(1));
        assert!(OidcConfig::from_figment(&figment(&base())).unwrap().acr_levels.names().is_empty());
        for bad in [&["gold", "gold"][..], &["gold level"], &[""], &["a\"b"]] {
            let error = with(bad).unwrap_err();
            assert_eq!(error.key, "oidc.acr_levels", "{bad:?}");
            assert!(error.to_string().contains("OIDC_ACR_LEVELS"), "{error}");
        }
    }

    #[test]
    fn symmetric_algorithms_are_refused() {
        let f = figment(&base()).merge(Serialized::default("oidc.algorithms", ["RS256", "HS256"]));
        let error = OidcConfig::from_figment(&f).unwrap_err();
        assert_eq!(error.key, "oidc.algorithms");
    }

    #[test]
    fn bad_urls_are_refused() {
        let mut pairs = base();
        pairs.push(("app_url", "not a url"));
        assert_eq!(OidcConfig::from_figment(&figment(&pairs)).unwrap_err().key, "oidc.app_url");
        let error = OidcConfig::from_figment(&figment(&[
            ("issuer", "ftp://x/realms/a"),
            ("client_id", "c"),
        ]))
        .unwrap_err();
        assert_eq!(error.key, "oidc.issuer");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut pairs = base();
        pairs.push(("isuer", "typo"));
        let error = OidcConfig::from_figment(&figment(&pairs)).unwrap_err();
        assert!(error.to_string().contains("isuer"), "{error}");
    }

    #[test]
    fn plain_http_is_refused_except_for_loopback_or_with_the_opt_in() {
        let config = |pairs: &[(&str, &str)]| {
            let mut f = figment(&[("client_id", "c")]);
            for (k, v) in pairs {
                f = f.merge(Serialized::default(&format!("oidc.{k}"), v));
            }
            OidcConfig::from_figment(&f)
        };
        for issuer in [
            "http://localhost:8080/realms/demo",
            "http://LOCALHOST:8080/realms/demo",
            "http://127.0.0.1:8080/realms/demo",
            "http://127.8.9.10/realms/demo",
            "http://[::1]:8080/realms/demo",
            "https://keycloak.example/realms/demo",
        ] {
            assert!(config(&[("issuer", issuer)]).is_ok(), "{issuer}");
        }
        for issuer in [
            "http://keycloak:8080/realms/demo",
            "http://10.0.0.1/realms/demo",
            "http://localhost.evil.example/realms/demo",
            "http://[::2]/realms/demo",
            "http://128.0.0.1/realms/demo",
        ] {
            let error = config(&[("issuer", issuer)]).unwrap_err();
            assert_eq!(error.key, "oidc.issuer", "{issuer}");
            assert!(error.to_string().contains("OIDC_ALLOW_INSECURE_HTTP"), "{error}");
        }
        let internal = ("discovery_url", "http://keycloak:8080/realms/demo/.well-known/x");
        let error =
            config(&[("issuer", "http://localhost:8080/realms/demo"), internal]).unwrap_err();
        assert_eq!(error.key, "oidc.discovery_url");
        // The explicit opt-in (docker-compose: the Keycloak service over the internal network).
        let opted_in =
            figment(&[("client_id", "c"), ("issuer", "http://keycloak:8080/realms/demo")])
                .merge(Serialized::default("oidc.discovery_url", internal.1))
                .merge(Serialized::default("oidc.allow_insecure_http", true));
        assert!(OidcConfig::from_figment(&opted_in).is_ok());
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let mut pairs = base();
        pairs.push(("client_secret", "s3cr3t-value"));
        let config = OidcConfig::from_figment(&figment(&pairs)).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cr3t-value"), "{debug}");
        assert!(debug.contains("redacted"));
    }
}
