//! The network side of the provider: the HTTP client towards Keycloak, the size-capped
//! GET, and [`ProviderDocuments`], the [`KeySource`] that discovers the realm once and
//! then loads its JWKS.
//!
//! Decisions:
//! - The client has connect and total timeouts ([`CONNECT_TIMEOUT`], [`FETCH_TIMEOUT`]),
//!   follows no redirects (a redirect would be a place Keycloak did not name), and refuses
//!   documents over [`MAX_DOCUMENT_BYTES`], checked while the body streams in.
//! - The client trusts the bundled roots, the system's, or both, plus `ca_certificates`
//!   (`config/deployment.rs` reads them at launch). If it cannot be built with them, the
//!   fallback is a plain client with the bundled roots only, and the error is logged.
//! - Discovery runs until it succeeds once; its document is kept for the life of the
//!   process (the endpoints of a realm do not move), the JWKS is loaded at every refresh.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use jsonwebtoken::Algorithm;

use super::discovery::{DiscoveryError, ProviderMetadata};
use super::jwks::{JwksError, KeySet};
use super::keystore::KeySource;
use crate::config::{RealmConfig, TlsRoots, TlsTrust};
use crate::protocol::Issuer;

/// Largest discovery or JWKS document accepted.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// Connect timeout towards Keycloak.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Total timeout of one request to Keycloak.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client towards Keycloak: timeouts, no redirects, rustls, trusting what `tls`
/// says (`tls_roots`, `ca_certificates`).
pub(crate) fn http_client(tls: &TlsTrust) -> reqwest::Client {
    let builder = tls.extra.iter().cloned().fold(
        reqwest::Client::builder().tls_built_in_root_certs(tls.roots != TlsRoots::System),
        reqwest::ClientBuilder::add_root_certificate,
    );
    builder
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("rocket_keycloak/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|error| {
            log::error!("rocket_keycloak: HTTP client with the configured roots: {error}");
            reqwest::Client::new()
        })
}

/// Why loading metadata or keys failed. `Display` includes the cause's message, for
/// one-line logs; `source()` gives the cause itself.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum FetchError {
    /// The request failed: connection, timeout, or an unreadable body.
    Request {
        /// The URL asked for.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// The answer had a non-success status.
    Status {
        /// The URL asked for.
        url: String,
        /// The status it answered.
        status: reqwest::StatusCode,
    },
    /// The body exceeded [`MAX_DOCUMENT_BYTES`].
    TooLarge,
    /// The discovery document was refused.
    Discovery(DiscoveryError),
    /// The JWKS was refused.
    Jwks(JwksError),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Request { url, source } => write!(f, "GET {url}: {source}"),
            Self::Status { url, status } => write!(f, "GET {url}: status {status}"),
            Self::TooLarge => write!(f, "document larger than {MAX_DOCUMENT_BYTES} bytes"),
            Self::Discovery(e) => e.fmt(f),
            Self::Jwks(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Request { source, .. } => Some(source),
            Self::Discovery(e) => Some(e),
            Self::Jwks(e) => Some(e),
            Self::Status { .. } | Self::TooLarge => None,
        }
    }
}

/// The realm's documents: the discovery metadata (kept once loaded) and the JWKS.
pub(crate) struct ProviderDocuments {
    http: reqwest::Client,
    name: String,
    issuer: Issuer,
    discovery_url: url::Url,
    algorithms: Vec<Algorithm>,
    metadata: ArcSwapOption<ProviderMetadata>,
}

impl ProviderDocuments {
    /// The documents of `realm`, whose keys may use `algorithms`, fetched with `http`.
    pub(crate) fn new(
        realm: &RealmConfig,
        algorithms: &[Algorithm],
        http: reqwest::Client,
    ) -> Self {
        Self {
            http,
            name: realm.name().to_owned(),
            issuer: realm.issuer.clone(),
            discovery_url: realm.discovery_url.clone(),
            algorithms: algorithms.to_vec(),
            metadata: ArcSwapOption::empty(),
        }
    }

    /// The provider metadata, once discovered.
    pub(crate) fn metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata.load_full()
    }

    async fn discover(&self) -> Result<Arc<ProviderMetadata>, FetchError> {
        if let Some(metadata) = self.metadata.load_full() {
            return Ok(metadata);
        }
        let body = self.get(self.discovery_url.as_str()).await?;
        let metadata = ProviderMetadata::from_json(&body, &self.issuer, &self.discovery_url)
            .map_err(FetchError::Discovery)?;
        let metadata = Arc::new(metadata);
        self.metadata.store(Some(metadata.clone()));
        Ok(metadata)
    }

    /// GETs a document with the size cap.
    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let failed = |source| FetchError::Request { url: url.to_owned(), source };
        let mut response =
            self.http.get(url).header("accept", "application/json").send().await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(FetchError::Status { url: url.to_owned(), status: response.status() });
        }
        if response.content_length().is_some_and(|n| n as usize > MAX_DOCUMENT_BYTES) {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl KeySource for ProviderDocuments {
    type Error = FetchError;

    fn realm(&self) -> &str {
        &self.name
    }

    async fn load(&self) -> Result<KeySet, FetchError> {
        let metadata = self.discover().await?;
        let body = self.get(metadata.jwks_uri.as_str()).await?;
        let (keys, skipped) =
            KeySet::from_json(&body, &self.algorithms).map_err(FetchError::Jwks)?;
        for why in skipped {
            log::debug!("JWKS: ignored {why}");
        }
        Ok(keys)
    }
}
