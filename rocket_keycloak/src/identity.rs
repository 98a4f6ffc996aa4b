//! Who the caller is: the claims of a verified Keycloak token, as handlers see them.
//!
//! [`Claims`] mirrors the JSON of a Keycloak access token; [`Identity`] is the checked,
//! handler-facing view, shared behind an `Arc` so guards hand it out without deep copies.
//!
//! Decision: realm roles (`realm_access.roles`) and client roles
//! (`resource_access.<client>.roles`) are kept apart in two fields and asked for through
//! two methods, so a client role named `admin` can never pass for the realm role `admin`.
//! Optional profile claims stay optional: service-account tokens carry no email or name.
//!
//! `aud` is not a field: jsonwebtoken checks it on the raw token (token rule 6,
//! `oidc/tokens.rs`), and nothing after that needs it.
//!
//! Keycloak Organizations memberships (the `organization` claim) are read strictly, in both
//! of Keycloak's forms, by `identity/organizations.rs`: a claim of any other shape refuses
//! the token rather than being half-read, and a token without it has no organizations.

mod organizations;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::protocol::{Issuer, Subject};
pub(crate) use organizations::valid_alias;
pub use organizations::{MAX_ALIAS_CHARS, MAX_ORGANIZATIONS, Membership};

/// The JSON claims of a Keycloak access (or ID) token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: Issuer,
    /// Subject: the user's (or service account's) id. Required in access and ID tokens
    /// (token rule 6); a back-channel logout token may name only a `sid` (Back-Channel
    /// Logout 1.0 §2.4), so it may be empty there.
    #[serde(default)]
    pub sub: Subject,
    /// Expiry, Unix seconds.
    pub exp: f64,
    /// Not-before, Unix seconds.
    #[serde(default)]
    pub nbf: Option<f64>,
    /// Issued-at, Unix seconds.
    #[serde(default)]
    pub iat: Option<f64>,
    /// Keycloak's token kind: `Bearer`, `ID`, `Refresh`, `Logout`.
    #[serde(default)]
    pub typ: Option<String>,
    /// The client the token was issued to.
    #[serde(default)]
    pub azp: Option<String>,
    /// Keycloak session id.
    #[serde(default)]
    pub sid: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Login name.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// ID-token nonce.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Token id (logout-token replay defence).
    #[serde(default)]
    pub jti: Option<String>,
    /// Back-channel logout events.
    #[serde(default)]
    pub events: Option<serde_json::Map<String, serde_json::Value>>,
    /// Realm roles.
    #[serde(default)]
    pub realm_access: Option<Roles>,
    /// Client roles, by client id.
    #[serde(default)]
    pub resource_access: Option<HashMap<String, Roles>>,
    /// Authentication context class (the level of assurance), if a string.
    #[serde(default, deserialize_with = "lenient::string")]
    pub acr: Option<String>,
    /// When the user authenticated, Unix seconds, if a number.
    #[serde(default, deserialize_with = "lenient::seconds")]
    pub auth_time: Option<u64>,
    /// Confirmation (RFC 7800): for a DPoP-bound token, the thumbprint of the client's key.
    #[serde(default)]
    pub cnf: Option<Confirmation>,
    /// Keycloak Organizations memberships, in either of Keycloak's forms; a claim of any
    /// other shape fails the whole token (`identity/organizations.rs`).
    #[serde(default, deserialize_with = "organizations::claim")]
    pub organization: Option<Vec<Membership>>,
}

/// The `cnf` claim of a sender-constrained token.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the key the token is bound to (RFC 9449 §6.1).
    #[serde(default)]
    pub jkt: Option<String>,
}

impl Claims {
    /// The thumbprint the token is bound to, if it carries a `cnf` claim; `Some("")` for a
    /// `cnf` without `jkt`, which no kind admits.
    pub fn bound_key(&self) -> Option<&str> {
        self.cnf.as_ref().map(|cnf| cnf.jkt.as_deref().unwrap_or_default())
    }
}

/// Claims that only inform a decision (the level of assurance) and must not make a valid
/// token unreadable: a value of another type reads as absent, which satisfies no level.
mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    pub(super) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Value::deserialize(d)?.as_f64().filter(|t| *t >= 0.0).map(|t| t as u64))
    }
}

/// A `{"roles": [...]}` object.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Roles {
    /// The role names.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The authenticated caller, as handed to route handlers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// The realm's issuer the token came from (`iss`): with several realms
    /// (`oidc.issuers`), which one this caller belongs to. Roles are that realm's roles.
    #[serde(default)]
    pub issuer: Issuer,
    /// Subject (Keycloak user id), unique within the realm only: key user data by
    /// [`subject_key`](Self::subject_key).
    pub sub: Subject,
    /// Login name.
    pub preferred_username: Option<String>,
    /// E-mail address (absent for service accounts).
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Realm roles.
    pub realm_roles: Vec<String>,
    /// Client roles, by client id.
    pub client_roles: HashMap<String, Vec<String>>,
    /// The client the token was issued to.
    pub azp: Option<String>,
    /// Keycloak session id.
    pub sid: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When the credential expires, Unix seconds.
    pub expires_at: u64,
    /// When the credential was issued (`iat`), Unix seconds.
    pub issued_at: Option<u64>,
    /// The level of assurance of the authentication (`acr`). For a session, that of its
    /// latest sign-in (a refresh never raises it); for a bearer token, its own claim.
    #[serde(default)]
    pub acr: Option<String>,
    /// When the user authenticated (`auth_time`), Unix seconds; same origin as `acr`.
    #[serde(default)]
    pub auth_time: Option<u64>,
    /// For a DPoP-bound access token, the thumbprint of the key it is bound to (`cnf.jkt`):
    /// the request proved it holds that key. `None` for plain bearer tokens and sessions.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// The Keycloak Organizations the caller is a member of (the `organization` claim).
    /// `None` when the token has no such claim: the `organization` scope was not asked for,
    /// or Keycloak named no organization (a member of none, or of several when the plain
    /// scope chose none of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizations: Option<Vec<Membership>>,
}

impl Identity {
    /// The realm's name: the last path segment of a Keycloak issuer (`partner` for
    /// `.../realms/partner`), else the whole issuer.
    pub fn realm(&self) -> &str {
        crate::config::realm_name(&self.issuer)
    }

    /// Who the caller is across every accepted realm: the issuer and the subject together
    /// (two realms may hand out the same `sub`). Key what you store per user by this.
    pub fn subject_key(&self) -> (&Issuer, &Subject) {
        (&self.issuer, &self.sub)
    }

    /// Whether the caller has this realm role.
    pub fn has_realm_role(&self, role: &str) -> bool {
        self.realm_roles.iter().any(|r| r == role)
    }

    /// Whether the caller has this role of client `client_id`.
    pub fn has_client_role(&self, client_id: &str, role: &str) -> bool {
        self.client_roles.get(client_id).is_some_and(|roles| roles.iter().any(|r| r == role))
    }

    /// The caller's membership of the organization `alias`, if the token names it.
    pub fn membership(&self, alias: &str) -> Option<&Membership> {
        self.organizations.as_deref()?.iter().find(|m| m.alias == alias)
    }

    /// Whether the caller is a member of the organization `alias` (of the token's realm).
    pub fn is_member_of(&self, alias: &str) -> bool {
        self.membership(alias).is_some()
    }

    /// Whether the token grants this OAuth scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// A display name: the name, else the login name, else the subject.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().or(self.preferred_username.as_deref()).unwrap_or(&self.sub)
    }
}

impl From<Claims> for Identity {
    fn from(claims: Claims) -> Self {
        let dpop_jkt = claims.bound_key().map(str::to_owned);
        Self {
            dpop_jkt,
            issuer: claims.iss,
            sub: claims.sub,
            preferred_username: claims.preferred_username,
            email: claims.email,
            name: claims.name,
            realm_roles: claims.realm_access.map(|r| r.roles).unwrap_or_default(),
            client_roles: claims
                .resource_access
                .unwrap_or_default()
                .into_iter()
                .map(|(client, roles)| (client, roles.roles))
                .collect(),
            azp: claims.azp,
            sid: claims.sid,
            scopes: claims
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            expires_at: claims.exp.max(0.0) as u64,
            issued_at: claims.iat.map(|iat| iat.max(0.0) as u64),
            acr: claims.acr,
            auth_time: claims.auth_time,
            organizations: claims.organization,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_and_client_roles_stay_apart() {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "u1", "exp": 10, "typ": "Bearer",
            "realm_access": {"roles": ["user"]},
            "resource_access": {"demo-app": {"roles": ["admin"]}},
            "scope": "openid profile"
        }))
        .unwrap();
        let identity = Identity::from(claims);
        assert!(identity.has_realm_role("user"));
        assert!(!identity.has_realm_role("admin"));
        assert!(identity.has_client_role("demo-app", "admin"));
        assert!(!identity.has_client_role("other", "admin"));
        assert!(identity.has_scope("profile"));
        assert_eq!(identity.display_name(), "u1");
    }

    #[test]
    fn acr_and_auth_time_of_another_type_read_as_absent() {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "u1", "exp": 10, "acr": 2, "auth_time": "yesterday"
        }))
        .unwrap();
        assert_eq!((claims.acr, claims.auth_time), (None, None));
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "u1", "exp": 10, "acr": "gold", "auth_time": 1700000000
        }))
        .unwrap();
        assert_eq!((claims.acr.as_deref(), claims.auth_time), (Some("gold"), Some(1700000000)));
    }

    #[test]
    fn organizations_reach_the_identity_and_a_bad_claim_fails_the_claims() {
        let claims = |organization: serde_json::Value| {
            serde_json::from_value::<Claims>(serde_json::json!({
                "iss": "i", "sub": "u1", "exp": 10, "organization": organization
            }))
        };
        let identity = Identity::from(claims(serde_json::json!(["acme"])).unwrap());
        assert!(identity.is_member_of("acme") && !identity.is_member_of("globex"));
        let with_id = Identity::from(claims(serde_json::json!({"acme": {"id": "1"}})).unwrap());
        assert_eq!(with_id.membership("acme").and_then(|m| m.id.as_deref()), Some("1"));
        assert!(claims(serde_json::json!("acme")).is_err(), "a string is no list");
        let none: Claims =
            serde_json::from_value(serde_json::json!({"iss": "i", "exp": 1})).unwrap();
        assert_eq!(Identity::from(none).organizations, None);
    }

    #[test]
    fn roles_of_the_wrong_type_do_not_parse() {
        let result: Result<Claims, _> = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "u1", "exp": 10, "realm_access": {"roles": "admin"}
        }));
        assert!(result.is_err());
    }
}
