//! [`RealmConfig`]: a realm whose access tokens the app accepts (the sign-in realm and each
//! further entry of `oidc.issuers`), how an entry's own settings are read, and how a realm
//! is named.
//!
//! Decisions (see also the module doc of `config`):
//! - **The first entry is the sign-in realm.** Its settings may be written in the entry or
//!   at the top level (`oidc.audience`, `oidc.allowed_azp`, ...); an `allowed_azp` or
//!   `acr_levels` written in both places and differing is refused, since either reading
//!   would silently drop what the other said.
//! - **A further realm never inherits `allowed_azp` or `acr_levels`.** Client ids and level
//!   names are the realm's own: `demo-app` in the partner realm is whatever client the
//!   partner's administrator called so, and its `gold` whatever they mapped to it.
//!   - `allowed_azp`: when the sign-in realm restricts `azp` and a further entry sets no list
//!     of its own, launch fails naming the realm: the operator asked for a client allow-list,
//!     and the partner's clients must be named, never guessed. When no realm restricts `azp`,
//!     a further realm without a list does not either (its tokens still need the audience).
//!   - `acr_levels`: a further realm without a list has no levels, so its tokens meet no
//!     level, even on a route whose level marker names that realm (the guard logs the
//!     missing level at `error`).
//! - An entry's lists must not be empty (an empty `allowed_azp` would refuse every token, an
//!   empty `acr_levels` says no more than leaving it out): refused at launch.

use url::Url;

use super::checks::{parse_url, refuse_plain_http};
use super::error::ConfigError;
use super::raw::{RawConfig, RawRealm, RawRealmTable};
use crate::assurance::AcrLevels;
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
    /// If set, this realm's access tokens must have been issued to one of these of its
    /// clients (`azp`).
    pub allowed_azp: Option<Vec<String>>,
    /// This realm's levels of assurance, lowest first; empty: its tokens meet no level.
    pub acr_levels: AcrLevels,
}

impl RealmConfig {
    /// A further realm of `oidc.issuers`: the issuer URL checked like `oidc.issuer`, the
    /// audience defaulting to the sign-in realm's, `allowed_azp` and `acr_levels` its own.
    fn parse(
        raw: RawRealmTable,
        sign_in: &RealmConfig,
        allow_insecure_http: bool,
    ) -> Result<Self, ConfigError> {
        check_lists(&raw)?;
        let RawRealmTable { issuer, audience, discovery_url, allowed_azp, acr_levels } = raw;
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
        let audience = match audience {
            Some(a) if a.trim().is_empty() => {
                return Err(ConfigError::new("issuers", "an audience must not be empty"));
            }
            Some(a) => a,
            None => sign_in.audience.clone(),
        };
        let name = realm_name(&issuer);
        if allowed_azp.is_none() && sign_in.allowed_azp.is_some() {
            return Err(ConfigError::new(
                "issuers",
                format!(
                    "oidc.allowed_azp limits the sign-in realm's clients, and the realm {name:?} \
                     sets no allowed_azp of its own: its clients are others. Write its entry as \
                     a table with allowed_azp = [\"<its client ids>\"]"
                ),
            ));
        }
        let acr_levels = AcrLevels::parse(acr_levels)
            .map_err(|why| ConfigError::new("issuers", format!("{name}'s acr_levels: {why}")))?;
        Ok(Self { issuer: Issuer::new(issuer), discovery_url, audience, allowed_azp, acr_levels })
    }

    /// The realm's name: the issuer's last path segment for Keycloak issuers
    /// (`.../realms/partner` gives `partner`), else the whole issuer.
    pub fn name(&self) -> &str {
        realm_name(&self.issuer)
    }
}

/// Takes `oidc.issuers` out of `raw`: the first entry, the sign-in realm, becomes the
/// top-level keys; the further entries are returned.
pub(super) fn take_issuers(raw: &mut RawConfig) -> Result<Vec<RawRealmTable>, ConfigError> {
    let Some(list) = raw.issuers.take() else { return Ok(Vec::new()) };
    let mut list = list.into_iter().map(RawRealm::into_table);
    let Some(first) = list.next() else {
        return Err(ConfigError::new("issuers", "must list at least one issuer"));
    };
    check_lists(&first)?;
    if raw.issuer.as_ref().is_some_and(|single| *single != first.issuer) {
        return Err(ConfigError::new(
            "issuers",
            "the first issuer is the sign-in realm and must equal oidc.issuer (or leave \
             oidc.issuer out)",
        ));
    }
    raw.issuer = Some(first.issuer);
    raw.audience = first.audience.or(raw.audience.take());
    raw.discovery_url = first.discovery_url.or(raw.discovery_url.take());
    raw.allowed_azp = one_of(first.allowed_azp, raw.allowed_azp.take(), "allowed_azp")?;
    raw.acr_levels = one_of(first.acr_levels, raw.acr_levels.take(), "acr_levels")?;
    Ok(list.collect())
}

/// The sign-in realm's list, given in its `oidc.issuers` entry or at the top level.
fn one_of(
    entry: Option<Vec<String>>,
    top: Option<Vec<String>>,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    match (entry, top) {
        (Some(entry), Some(top)) if entry != top => Err(ConfigError::new(
            "issuers",
            format!(
                "the first entry is the sign-in realm, and its {key} differs from oidc.{key}: \
                 set it in one place"
            ),
        )),
        (entry, top) => Ok(entry.or(top)),
    }
}

/// Refuses an entry's empty lists (see the module doc).
fn check_lists(entry: &RawRealmTable) -> Result<(), ConfigError> {
    let name = realm_name(&entry.issuer);
    if entry.allowed_azp.as_deref().is_some_and(|list| !usable_clients(list)) {
        return Err(ConfigError::new(
            "issuers",
            format!("{name}'s allowed_azp must list non-empty client ids"),
        ));
    }
    if entry.acr_levels.as_ref().is_some_and(Vec::is_empty) {
        return Err(ConfigError::new(
            "issuers",
            format!("{name}'s acr_levels lists no level: leave it out for a realm without levels"),
        ));
    }
    Ok(())
}

/// Checks an `allowed_azp` list: at least one client id, none blank.
pub(super) fn allowed_azp(
    list: Option<Vec<String>>,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    match list {
        Some(list) if !usable_clients(&list) => {
            Err(ConfigError::new(key, "must list non-empty client ids"))
        }
        other => Ok(other),
    }
}

fn usable_clients(list: &[String]) -> bool {
    !list.is_empty() && list.iter().all(|client| !client.trim().is_empty())
}

/// Every accepted realm: `sign_in` first, then the further entries, none listed twice or
/// named like another.
pub(super) fn all_realms(
    sign_in: RealmConfig,
    further: Vec<RawRealmTable>,
    allow_insecure_http: bool,
) -> Result<Vec<RealmConfig>, ConfigError> {
    let mut realms = vec![sign_in];
    for entry in further {
        let realm = RealmConfig::parse(entry, &realms[0], allow_insecure_http)?;
        if realms.iter().any(|r| r.issuer == realm.issuer) {
            return Err(ConfigError::new("issuers", format!("{} is listed twice", realm.issuer)));
        }
        // Role and level markers, challenges and metrics name a realm by its name: two realms
        // of one name would make `REALM = Some("x")` mean whichever comes first.
        if let Some(same) = realms.iter().find(|r| r.name() == realm.name()) {
            return Err(ConfigError::new(
                "issuers",
                format!(
                    "{} and {} are both realm {:?}: realm names must differ",
                    same.issuer,
                    realm.issuer,
                    realm.name()
                ),
            ));
        }
        realms.push(realm);
    }
    Ok(realms)
}

/// A Keycloak issuer's realm name: its last path segment (`.../realms/partner` gives
/// `partner`), else the whole issuer.
pub(crate) fn realm_name(issuer: &str) -> &str {
    match issuer.trim_end_matches('/').rsplit_once("/realms/") {
        Some((_, realm)) if !realm.is_empty() && !realm.contains('/') => realm,
        _ => issuer,
    }
}

#[cfg(test)]
mod tests;
