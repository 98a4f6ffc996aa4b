//! [`ResourceMetadata`]: the settings of the app's protected-resource metadata (RFC 9728),
//! the document that tells a generic OAuth client (an MCP client, say) which authorization
//! servers issue tokens for this API, and where that document lives.
//!
//! Decisions:
//! - **On by default.** Everything in the document is public already (the issuers, the
//!   algorithms); without it a generic client cannot find Keycloak from a 401. An app that
//!   serves its own document at that path sets `resource_metadata = false`.
//! - The resource is `app_url`, and the document's URL is the one RFC 9728 §3.1 derives from
//!   it: the well-known path goes between the host and `app_url`'s own path
//!   (`https://api.example/v1` gives `https://api.example/.well-known/oauth-protected-resource/v1`).
//!   The app answers that path without the prefix; a proxy that strips `/v1` from the app's
//!   requests must route the well-known one to it as well.

use url::Url;

use super::checks::parse_url;
use super::error::ConfigError;

/// The path of the metadata document, relative to the origin.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The settings of the protected-resource metadata (`resource_metadata`, `scopes_supported`,
/// `resource_documentation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// Whether the document is served and named in every challenge.
    pub enabled: bool,
    /// The scopes the document lists (`scopes_supported`), if any.
    pub scopes_supported: Vec<String>,
    /// A page for developers of clients (`resource_documentation`), if any.
    pub documentation: Option<Url>,
}

impl ResourceMetadata {
    pub(super) fn parse(
        enabled: Option<bool>,
        scopes: Option<Vec<String>>,
        documentation: Option<String>,
    ) -> Result<Self, ConfigError> {
        let scopes = scopes.unwrap_or_default();
        // RFC 6749 §3.3 scope tokens: printable ASCII without space, quote or backslash.
        let usable = |s: &String| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        };
        if let Some(bad) = scopes.iter().find(|s| !usable(s)) {
            return Err(ConfigError::new(
                "scopes_supported",
                format!("`{bad}` is not a scope (printable ASCII, no space or quote)"),
            ));
        }
        let documentation =
            documentation.map(|url| parse_url(&url, "resource_documentation")).transpose()?;
        Ok(Self { enabled: enabled.unwrap_or(true), scopes_supported: scopes, documentation })
    }

    /// Where the document of the resource `app_url` lives (RFC 9728 §3.1), if it is served.
    pub fn url(&self, app_url: &Url) -> Option<String> {
        self.enabled.then(|| {
            let path = app_url.path().trim_end_matches('/');
            format!("{}{WELL_KNOWN}{path}", app_url.origin().ascii_serialization())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_on_by_default_at_the_rfcs_place_for_the_app_url() {
        let metadata = ResourceMetadata::parse(None, None, None).unwrap();
        let at = |app: &str| metadata.url(&Url::parse(app).unwrap()).unwrap();
        assert_eq!(
            at("http://localhost:8000"),
            "http://localhost:8000/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            at("https://api.example/"),
            "https://api.example/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            at("https://api.example/v1/"),
            "https://api.example/.well-known/oauth-protected-resource/v1"
        );
        let off = ResourceMetadata::parse(Some(false), None, None).unwrap();
        assert_eq!(off.url(&Url::parse("https://api.example").unwrap()), None);
    }

    #[test]
    fn scopes_and_the_documentation_url_are_checked() {
        let scopes = |list: &[&str]| Some(list.iter().map(|s| s.to_string()).collect());
        let ok = ResourceMetadata::parse(None, scopes(&["notes:read", "openid"]), None).unwrap();
        assert_eq!(ok.scopes_supported, ["notes:read", "openid"]);
        for bad in [&["two words"][..], &[""], &["quo\"te"]] {
            let error = ResourceMetadata::parse(None, scopes(bad), None).unwrap_err();
            assert!(error.to_string().contains("scopes_supported"), "{error}");
        }
        let error = ResourceMetadata::parse(None, None, Some("not a url".into())).unwrap_err();
        assert!(error.to_string().contains("resource_documentation"), "{error}");
        let docs = ResourceMetadata::parse(None, None, Some("https://docs.example/api".into()));
        assert_eq!(docs.unwrap().documentation.unwrap().as_str(), "https://docs.example/api");
    }
}
