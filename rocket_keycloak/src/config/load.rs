//! [`OidcConfig`]: the checked settings, read from the figment's `oidc` table, with the
//! checks that span several keys (the sign-in realm, defaults, ranges).

use std::time::Duration;

use jsonwebtoken::Algorithm;
use rocket::figment::Figment;
use url::Url;

use super::checks::{parse_url, refuse_plain_http, required};
use super::deployment::DeploymentConfig;
use super::error::ConfigError;
use super::introspection::IntrospectionConfig;
use super::policies::{DEFAULT_ALGORITHMS, DpopPolicy, MetricsConfig, parse_algorithm};
use super::raw::{CONFIG_KEY, KEYS, RawConfig};
use super::realms::{RealmConfig, all_realms, allowed_azp, realm_name, take_issuers};
use super::resource::ResourceMetadata;
use super::secret::ClientSecret;
use super::session_store::SessionStoreConfig;
use crate::assurance::AcrLevels;
use crate::protocol::{ClientId, Issuer};

/// Checked settings for the Keycloak integration.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The realm's issuer URL, compared byte for byte with `iss` and the discovery document.
    pub issuer: Issuer,
    /// The OAuth client id of this application.
    pub client_id: ClientId,
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
    /// If set, the sign-in realm's access tokens must have been issued to one of these
    /// clients (`azp`); each further realm has its own list (`RealmConfig::allowed_azp`).
    pub allowed_azp: Option<Vec<String>>,
    /// Where browser sessions live.
    pub session_store: SessionStoreConfig,
    /// Whether and where the demo serves Prometheus metrics.
    pub metrics: MetricsConfig,
    /// The sign-in realm's levels of assurance (`acr` values), lowest first: what sessions
    /// and the step-up sign-in use; each further realm has its own (`RealmConfig::acr_levels`).
    pub acr_levels: AcrLevels,
    /// Whether API callers may use plain bearer tokens or must use DPoP-bound ones.
    pub dpop: DpopPolicy,
    /// Live DPoP proofs one key may have at once (`dpop_proofs_per_key`): one key's flood
    /// refuses that key only.
    pub dpop_proofs_per_key: usize,
    /// The protected-resource metadata (RFC 9728) and where it is served.
    pub resource_metadata: ResourceMetadata,
    /// Every realm whose access tokens are accepted; the first is `issuer`, `discovery_url`,
    /// `audience`, `allowed_azp` and `acr_levels` above, the realm of the browser sign-in.
    pub realms: Vec<RealmConfig>,
    /// Whether `issuer` and `discovery_url` may be plain http on a non-loopback host.
    pub allow_insecure_http: bool,
    /// Whether and when access tokens are introspected (RFC 7662), and the cache's age.
    pub introspection: IntrospectionConfig,
    /// Where the app runs: the log format and the certificates trusted for Keycloak.
    pub deployment: DeploymentConfig,
}

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
        let further_realms = take_issuers(&mut raw)?;
        let issuer = required(raw.issuer, "issuer")?;
        let issuer_url = parse_url(&issuer, "issuer")?;
        if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
            return Err(ConfigError::new("issuer", "must not have a query or fragment"));
        }
        let client_id = required(raw.client_id, "client_id")?;
        let client_secret = raw.client_secret.filter(|s| !s.is_empty()).map(ClientSecret::new);
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
        let issuer = Issuer::new(issuer);
        let allowed_azp = allowed_azp(raw.allowed_azp, "allowed_azp")?;
        let acr_levels =
            AcrLevels::parse(raw.acr_levels).map_err(|why| ConfigError::new("acr_levels", why))?;
        let sign_in_realm = RealmConfig {
            issuer: issuer.clone(),
            discovery_url: discovery_url.clone(),
            audience: audience.clone(),
            allowed_azp: allowed_azp.clone(),
            acr_levels: acr_levels.clone(),
        };
        let realms = all_realms(sign_in_realm, further_realms, allow_insecure_http)?;
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
        let introspection = IntrospectionConfig::parse(
            raw.introspection,
            raw.introspection_cache_max_age,
            client_secret.is_some(),
        )?;
        Ok(Self {
            issuer,
            client_id: ClientId::new(client_id),
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
            allowed_azp,
            session_store: SessionStoreConfig::parse(
                raw.session_store,
                raw.allow_insecure_redis.unwrap_or(false),
            )?,
            metrics: MetricsConfig::parse(raw.metrics)?,
            acr_levels,
            dpop: DpopPolicy::parse(raw.dpop)?,
            dpop_proofs_per_key: DpopPolicy::proofs_per_key(raw.dpop_proofs_per_key)?,
            resource_metadata: ResourceMetadata::parse(
                raw.resource_metadata,
                raw.scopes_supported,
                raw.resource_documentation,
            )?,
            introspection,
            deployment: DeploymentConfig::parse(
                raw.log_format,
                raw.tls_roots,
                raw.ca_certificates,
            )?,
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

#[cfg(test)]
mod tests {
    use rocket::figment::providers::Serialized;

    use super::*;

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

    #[test]
    fn two_realms_of_one_name_are_refused() {
        let mut f = figment(&[("client_id", "c")]);
        f = f.merge((
            "oidc.issuers",
            ["https://a.example/realms/main", "https://b.example/realms/main"],
        ));
        let error = OidcConfig::from_figment(&f).unwrap_err();
        assert_eq!(error.key, "oidc.issuers");
        assert!(error.message.contains("\"main\""), "{error}");
        f = f.merge((
            "oidc.issuers",
            ["https://a.example/realms/main", "https://b.example/realms/partner"],
        ));
        assert!(OidcConfig::from_figment(&f).is_ok());
    }
}
