//! An https identity provider whose certificate is signed by a private test CA: discovery
//! and JWKS only, over TLS on `localhost`, for the private-CA tests (`ca_certificates`).
//!
//! Decisions:
//! - The CA and the `localhost` leaf are fixture PEMs in `keys/tls/` (made once with
//!   `openssl`, see `keys/README.md`; test-only, never trust them anywhere): the lock file
//!   has no certificate generator, and a test must not need the network.
//! - The server's TLS uses ring explicitly (`builder_with_provider`), never the process's
//!   default provider, which the app under test may set or not.
//! - One request per connection, like [`crate::Idp`]; it answers only the two documents the
//!   key store fetches, with https endpoints (a document fetched over https must name https).

use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::keys::TestKey;

/// The test CA's certificate (PEM), which signed the server's: what `ca_certificates` names.
pub const TEST_CA_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/tls/test-ca.pem");
const LEAF_PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/tls/localhost.pem");
const LEAF_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/tls/localhost.key");

/// The running https IdP; stops when dropped.
pub struct TlsIdp {
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for TlsIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsIdp {
    /// Starts it on a free port of 127.0.0.1, publishing `key`, on the caller's runtime.
    pub async fn start(key: &TestKey) -> Self {
        let certs = CertificateDer::pem_file_iter(LEAF_PEM)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let private = PrivateKeyDer::from_pem_file(LEAF_KEY).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, private)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let jwks = json!({ "keys": [key.jwk.clone()] });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, jwks) = (acceptor.clone(), jwks.clone());
                tokio::spawn(async move {
                    // A client that does not trust the CA ends the handshake: nothing to do.
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&request);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let issuer = format!("https://localhost:{port}/realms/{}", crate::REALM);
                    let (status, body) = if path.ends_with("/.well-known/openid-configuration") {
                        let discovery = json!({
                            "issuer": issuer,
                            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
                            "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
                            "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                        });
                        ("200 OK", discovery.to_string())
                    } else if path.ends_with("/protocol/openid-connect/certs") {
                        ("200 OK", jwks.to_string())
                    } else {
                        ("404 Not Found", "{}".to_owned())
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { port, task }
    }

    /// Its issuer, `https://localhost:<port>/realms/test`.
    pub fn issuer(&self) -> String {
        format!("https://localhost:{}/realms/{}", self.port, crate::REALM)
    }
}
