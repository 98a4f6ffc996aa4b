//! The `oidc` table as written in `Rocket.toml` or `OIDC_*` variables, before any check,
//! and the list of its keys.

use serde::Deserialize;

/// The figment key that holds this crate's settings.
pub(crate) const CONFIG_KEY: &str = "oidc";

/// Raw values as they appear in `Rocket.toml` or `OIDC_*` variables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) issuer: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) app_url: Option<String>,
    pub(super) discovery_url: Option<String>,
    pub(super) leeway: Option<u64>,
    pub(super) jwks_refresh_interval: Option<u64>,
    pub(super) jwks_min_refresh_interval: Option<u64>,
    pub(super) algorithms: Option<Vec<String>>,
    pub(super) allowed_azp: Option<Vec<String>>,
    pub(super) session_store: Option<String>,
    pub(super) metrics: Option<String>,
    pub(super) acr_levels: Option<Vec<String>>,
    pub(super) dpop: Option<String>,
    pub(super) dpop_proofs_per_key: Option<u64>,
    pub(super) resource_metadata: Option<bool>,
    pub(super) scopes_supported: Option<Vec<String>>,
    pub(super) resource_documentation: Option<String>,
    pub(super) introspection: Option<String>,
    pub(super) introspection_cache_max_age: Option<u64>,
    pub(super) issuers: Option<Vec<RawRealm>>,
    pub(super) log_format: Option<String>,
    pub(super) tls_roots: Option<String>,
    pub(super) ca_certificates: Option<String>,
    pub(super) allow_insecure_http: Option<bool>,
    pub(super) allow_insecure_redis: Option<bool>,
}

/// One entry of `oidc.issuers`: an issuer URL, or a table with the realm's own settings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawRealm {
    Issuer(String),
    Table(RawRealmTable),
}

/// An `oidc.issuers` entry as a table: the issuer and what this realm sets for itself.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRealmTable {
    pub(super) issuer: String,
    pub(super) audience: Option<String>,
    pub(super) discovery_url: Option<String>,
    pub(super) allowed_azp: Option<Vec<String>>,
    pub(super) acr_levels: Option<Vec<String>>,
}

impl RawRealm {
    /// The entry as a table (a bare URL sets nothing but the issuer).
    pub(super) fn into_table(self) -> RawRealmTable {
        match self {
            Self::Issuer(issuer) => RawRealmTable {
                issuer,
                audience: None,
                discovery_url: None,
                allowed_azp: None,
                acr_levels: None,
            },
            Self::Table(table) => table,
        }
    }
}

/// Every key of the `oidc` table.
pub(super) const KEYS: [&str; 27] = [
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
    "allow_insecure_redis",
    "metrics",
    "acr_levels",
    "dpop",
    "dpop_proofs_per_key",
    "resource_metadata",
    "scopes_supported",
    "resource_documentation",
    "introspection",
    "introspection_cache_max_age",
    "issuers",
    "log_format",
    "tls_roots",
    "ca_certificates",
];
