//! The provider metadata (OpenID Connect Discovery 1.0), parsed and checked without I/O.
//!
//! Decision: the document's `issuer` must equal the configured issuer byte for byte (no
//! trailing-slash or case folding). That is what Discovery §4.3 requires, and it is the
//! check that catches a Docker set-up where the app's and the browser's Keycloak URLs
//! disagree: better a clear error at start than every token failing the `iss` check.
//!
//! Decision: a document fetched over https may name only https endpoints. The app sends
//! its client secret to the token endpoint and takes its signing keys from `jwks_uri`, so a
//! plain-http endpoint there would hand both to anyone on the path, whatever the
//! configuration's own https rule said. The usual cause is Keycloak behind a TLS-terminating
//! proxy without its proxy-headers or hostname settings; the error says so. A document
//! fetched over plain http (a loopback Keycloak, or `allow_insecure_http`) may name either.

use serde::Deserialize;
use url::Url;

/// The parts of the discovery document this crate uses (the userinfo endpoint is not one:
/// the identity comes from the verified access token, never from a second request).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProviderMetadata {
    /// The issuer identifier; equal to the configured issuer.
    pub issuer: String,
    /// Where the JWKS lives.
    pub jwks_uri: Url,
    /// The browser's authorization endpoint.
    pub authorization_endpoint: Url,
    /// The token endpoint (code exchange and refresh).
    pub token_endpoint: Url,
    /// RP-initiated logout, if the provider supports it.
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    /// Token introspection (RFC 7662), used only with `oidc.introspection` on.
    #[serde(default)]
    pub introspection_endpoint: Option<Url>,
    /// RFC 9207: the provider puts `iss` in every authorization response, so a response
    /// without it is refused (§2.4). Keycloak advertises it.
    #[serde(default)]
    #[cfg_attr(not(feature = "sign-in"), allow(dead_code))]
    pub authorization_response_iss_parameter_supported: bool,
}

/// Why a discovery document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum DiscoveryError {
    /// Not JSON, or a required field is missing or not a URL.
    Malformed(String),
    /// The document names another issuer.
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// A document fetched over https names an endpoint that is not https.
    InsecureEndpoint {
        /// The document's field.
        field: &'static str,
        /// The URL it gives.
        url: String,
    },
}

impl std::fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed discovery document: {why}"),
            Self::IssuerMismatch { expected, found } => write!(
                f,
                "discovery document names issuer {found:?}, but oidc.issuer is {expected:?}; \
                 they must match exactly (behind Docker, set oidc.discovery_url to the \
                 internal URL and keep oidc.issuer the public one)"
            ),
            Self::InsecureEndpoint { field, url } => write!(
                f,
                "the discovery document, fetched over https, gives {field} = {url:?}, which is \
                 not https: the app would send its secret or take its keys over plain http. \
                 Behind a TLS-terminating proxy, set Keycloak's proxy headers (proxy-headers) \
                 or its hostname to the https URL"
            ),
        }
    }
}

impl std::error::Error for DiscoveryError {}

impl ProviderMetadata {
    /// Parses a discovery document fetched from `fetched_from` and checks that it belongs to
    /// `expected_issuer` and keeps to https when it was fetched over https.
    pub(crate) fn from_json(
        bytes: &[u8],
        expected_issuer: &str,
        fetched_from: &Url,
    ) -> Result<Self, DiscoveryError> {
        let metadata: Self =
            serde_json::from_slice(bytes).map_err(|e| DiscoveryError::Malformed(e.to_string()))?;
        if metadata.issuer != expected_issuer {
            return Err(DiscoveryError::IssuerMismatch {
                expected: expected_issuer.into(),
                found: metadata.issuer,
            });
        }
        let allowed: &[&str] =
            if fetched_from.scheme() == "https" { &["https"] } else { &["https", "http"] };
        for (field, url) in metadata.endpoints() {
            if !allowed.contains(&url.scheme()) {
                return Err(DiscoveryError::InsecureEndpoint { field, url: url.to_string() });
            }
        }
        Ok(metadata)
    }

    /// Every endpoint the document names, with its field name.
    fn endpoints(&self) -> impl Iterator<Item = (&'static str, &Url)> {
        [
            ("jwks_uri", Some(&self.jwks_uri)),
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("token_endpoint", Some(&self.token_endpoint)),
            ("end_session_endpoint", self.end_session_endpoint.as_ref()),
            ("introspection_endpoint", self.introspection_endpoint.as_ref()),
        ]
        .into_iter()
        .filter_map(|(field, url)| url.map(|url| (field, url)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(value: &str) -> Url {
        Url::parse(value).unwrap()
    }

    fn doc(issuer: &str) -> String {
        serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
            "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        })
        .to_string()
    }

    #[test]
    fn matching_issuer_is_accepted() {
        let issuer = "http://localhost:8080/realms/demo";
        let metadata =
            ProviderMetadata::from_json(doc(issuer).as_bytes(), issuer, &url(issuer)).unwrap();
        assert!(metadata.jwks_uri.as_str().ends_with("/certs"));
        assert!(metadata.end_session_endpoint.is_none());
        assert!(!metadata.authorization_response_iss_parameter_supported);
    }

    #[test]
    fn the_rfc_9207_flag_is_read() {
        let issuer = "http://localhost:8080/realms/demo";
        let mut document: serde_json::Value = serde_json::from_str(&doc(issuer)).unwrap();
        document["authorization_response_iss_parameter_supported"] = true.into();
        let metadata =
            ProviderMetadata::from_json(document.to_string().as_bytes(), issuer, &url(issuer))
                .unwrap();
        assert!(metadata.authorization_response_iss_parameter_supported);
    }

    #[test]
    fn issuer_must_match_exactly() {
        let issuer = "http://localhost:8080/realms/demo";
        for found in
            [format!("{issuer}/"), issuer.to_uppercase(), "http://keycloak:8080/realms/demo".into()]
        {
            let error = ProviderMetadata::from_json(doc(&found).as_bytes(), issuer, &url(issuer))
                .unwrap_err();
            assert!(matches!(error, DiscoveryError::IssuerMismatch { .. }), "{found}");
        }
    }

    #[test]
    fn a_document_fetched_over_https_names_only_https_endpoints() {
        let issuer = "https://sso.example.com/realms/demo";
        let from = url(&format!("{issuer}/.well-known/openid-configuration"));
        assert!(ProviderMetadata::from_json(doc(issuer).as_bytes(), issuer, &from).is_ok());
        for field in
            ["jwks_uri", "authorization_endpoint", "token_endpoint", "end_session_endpoint"]
        {
            for bad in ["http://sso.example.com/realms/demo/x", "ftp://sso.example.com/x"] {
                let mut document: serde_json::Value = serde_json::from_str(&doc(issuer)).unwrap();
                document[field] = bad.into();
                let error =
                    ProviderMetadata::from_json(document.to_string().as_bytes(), issuer, &from)
                        .unwrap_err();
                assert_eq!(
                    error,
                    DiscoveryError::InsecureEndpoint { field, url: bad.to_owned() },
                    "{field} = {bad}"
                );
                assert!(error.to_string().contains("proxy"), "says what to fix: {error}");
            }
        }
        // Fetched over plain http (loopback, or the opt-in): http endpoints are no downgrade.
        let local = "http://localhost:8080/realms/demo";
        assert!(ProviderMetadata::from_json(doc(local).as_bytes(), local, &url(local)).is_ok());
        let mut document: serde_json::Value = serde_json::from_str(&doc(local)).unwrap();
        document["jwks_uri"] = "ftp://localhost/certs".into();
        assert!(matches!(
            ProviderMetadata::from_json(document.to_string().as_bytes(), local, &url(local)),
            Err(DiscoveryError::InsecureEndpoint { field: "jwks_uri", .. })
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        let error =
            ProviderMetadata::from_json(b"{\"issuer\": 1}", "x", &url("https://x")).unwrap_err();
        assert!(matches!(error, DiscoveryError::Malformed(_)));
    }
}
