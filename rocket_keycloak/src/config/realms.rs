//! [`RealmConfig`]: a realm whose access tokens the app accepts (the sign-in realm and each
//! further entry of `oidc.issuers`), and how a realm is named.

use url::Url;

use super::checks::{parse_url, refuse_plain_http};
use super::error::ConfigError;
use super::raw::RawRealm;
use crate::protocol::Issuer;

/// A realm whose access tokens the app accepts (`oidc.issuers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealmConfig {
    /// The realm's issuer URL, compared byte for byte with `iss`.
    pub issuer: Issuer,
    /// Where the app fetches the realm's discovery document.
    pub discovery_url: Url,
    /// The value access tokens of this realm must carry in `aud`.
    pub audience: String,
}

impl RealmConfig {
    /// A further realm of `oidc.issuers`: the issuer URL checked like `oidc.issuer`, the
    /// audience defaulting to the app's.
    pub(super) fn parse(
        raw: RawRealm,
        audience: &str,
        allow_insecure_http: bool,
    ) -> Result<Self, ConfigError> {
        let (issuer, own_audience, discovery_url) = raw.into_parts();
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
        Ok(Self { issuer: Issuer::new(issuer), discovery_url, audience })
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
