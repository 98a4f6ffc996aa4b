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

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The JSON claims of a Keycloak access (or ID) token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user's (or service account's) id. Required in access and ID tokens
    /// (token rule 6); a back-channel logout token may name only a `sid` (Back-Channel
    /// Logout 1.0 §2.4), so it may be empty there.
    #[serde(default)]
    pub sub: String,
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
    /// Subject (Keycloak user id).
    pub sub: String,
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
}

impl Identity {
    /// Whether the caller has this realm role.
    pub fn has_realm_role(&self, role: &str) -> bool {
        self.realm_roles.iter().any(|r| r == role)
    }

    /// Whether the caller has this role of client `client_id`.
    pub fn has_client_role(&self, client_id: &str, role: &str) -> bool {
        self.client_roles.get(client_id).is_some_and(|roles| roles.iter().any(|r| r == role))
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
        Self {
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
    fn roles_of_the_wrong_type_do_not_parse() {
        let result: Result<Claims, _> = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "u1", "exp": 10, "realm_access": {"roles": "admin"}
        }));
        assert!(result.is_err());
    }
}
