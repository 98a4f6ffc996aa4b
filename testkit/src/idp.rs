//! An in-process identity provider: a real HTTP/1.1 server on 127.0.0.1 that serves a
//! discovery document, a JWKS and a token endpoint, can rotate keys, go down and come back,
//! misbehave on demand, and counts its hits.
//!
//! Decisions:
//! - Hand-written on tokio, one connection per request (`Connection: close`): [`Idp::stop`]
//!   aborts the accept loop so connections are refused, and [`Idp::resume`] binds the same
//!   port again, which is what "Keycloak restarted" looks like to the app.
//! - Spawned on the caller's runtime (`tokio::spawn`): call [`Idp::start`] from inside the
//!   runtime the app under test runs on.
//! - The token endpoint answers only what a test told it to ([`Idp::expect_code`],
//!   [`Idp::expect_refresh`]), and `400 invalid_grant` otherwise, as OAuth 2.0 requires.
//! - The introspection endpoint (`idp/introspection.rs`) likewise answers only what a test
//!   told it ([`Idp::expect_introspection`]), and `{"active": false}` otherwise.

mod introspection;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::keys::TestKey;

/// The realm in the issuer URL.
pub const REALM: &str = "test";

/// How the IdP answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// As a healthy Keycloak does.
    Normal,
    /// This status and a small JSON error body on every known path.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a 2 MiB JSON body.
    Huge,
    /// The normal answer, after this delay.
    Delay(Duration),
}

struct State {
    /// The realm in the issuer URL ([`REALM`] unless started with another).
    realm: String,
    jwks: Value,
    issuer_override: Option<String>,
    mode: Mode,
    /// Token-endpoint answers by authorization code (single use) or refresh token.
    grants: std::collections::HashMap<String, Value>,
    /// The form fields of the last token request.
    last_token_request: Vec<(String, String)>,
    token_requests: usize,
    introspection: introspection::Introspection,
}

/// The running IdP; dropping it stops the server.
pub struct Idp {
    /// The port it listens on, and listens on again after [`Idp::resume`].
    pub port: u16,
    state: Arc<Mutex<State>>,
    discovery_hits: Arc<AtomicUsize>,
    jwks_hits: Arc<AtomicUsize>,
    introspections_in_flight: Arc<introspection::InFlight>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Idp {
    /// Starts an IdP publishing `keys`, realm [`REALM`].
    pub async fn start(keys: &[&TestKey]) -> Arc<Self> {
        Self::start_realm(keys, REALM).await
    }

    /// Starts an IdP publishing `keys` for the realm `realm` (its issuer's last segment): a
    /// second IdP of another name, as a second Keycloak realm would be.
    pub async fn start_realm(keys: &[&TestKey], realm: &str) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let idp = Arc::new(Self {
            port,
            state: Arc::new(Mutex::new(State {
                realm: realm.to_owned(),
                jwks: json!({"keys": []}),
                issuer_override: None,
                mode: Mode::Normal,
                grants: Default::default(),
                last_token_request: Vec::new(),
                token_requests: 0,
                introspection: Default::default(),
            })),
            discovery_hits: Arc::default(),
            jwks_hits: Arc::default(),
            introspections_in_flight: Arc::default(),
            server: Mutex::new(None),
        });
        idp.publish(keys);
        idp.serve(listener);
        idp
    }

    /// An IdP that is down from the start (its port is reserved, nothing listens).
    pub async fn start_down(keys: &[&TestKey]) -> Arc<Self> {
        let idp = Self::start(keys).await;
        idp.stop();
        idp
    }

    fn serve(&self, listener: TcpListener) {
        let state = self.state.clone();
        let (d, j) = (self.discovery_hits.clone(), self.jwks_hits.clone());
        let i = self.introspections_in_flight.clone();
        let port = self.port;
        let handle = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, d, j, i) = (state.clone(), d.clone(), j.clone(), i.clone());
                tokio::spawn(async move { handle(stream, port, state, d, j, i).await });
            }
        });
        *self.server.lock().unwrap() = Some(handle);
    }

    /// Stops listening: connections are refused from now on.
    pub fn stop(&self) {
        if let Some(handle) = self.server.lock().unwrap().take() {
            handle.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebind {}: {e}", self.port),
            }
        };
        self.serve(listener);
    }

    /// Its issuer URL (its realm on this port).
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}/realms/{}", self.port, self.state.lock().unwrap().realm)
    }

    /// Publishes exactly `keys` in the JWKS from now on.
    pub fn publish(&self, keys: &[&TestKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        self.publish_raw(json!({ "keys": keys }));
    }

    /// Publishes `jwks` as it is (hostile or malformed key sets).
    pub fn publish_raw(&self, jwks: Value) {
        self.state.lock().unwrap().jwks = jwks;
    }

    /// Changes how it answers from the next request on.
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Names `issuer` in the discovery document instead of its own issuer URL.
    pub fn set_issuer_in_discovery(&self, issuer: &str) {
        self.state.lock().unwrap().issuer_override = Some(issuer.into());
    }

    /// The token endpoint will answer `response` (once) for authorization code `code`.
    pub fn expect_code(&self, code: &str, response: Value) {
        self.state.lock().unwrap().grants.insert(format!("code:{code}"), response);
    }

    /// The token endpoint will answer `response` for refresh token `token` (until replaced).
    pub fn expect_refresh(&self, token: &str, response: Value) {
        self.state.lock().unwrap().grants.insert(format!("refresh:{token}"), response);
    }

    /// The form fields of the last token request.
    pub fn last_token_request(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().last_token_request.clone()
    }

    /// How many token requests arrived.
    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }

    /// How many JWKS requests arrived.
    pub fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    /// How many discovery requests arrived.
    pub fn discovery_hits(&self) -> usize {
        self.discovery_hits.load(Ordering::SeqCst)
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(
    mut stream: TcpStream,
    port: u16,
    state: Arc<Mutex<State>>,
    discovery_hits: Arc<AtomicUsize>,
    jwks_hits: Arc<AtomicUsize>,
    introspections: Arc<introspection::InFlight>,
) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..header_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while request.len() < header_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(&request[header_end..]).into_owned().collect();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    if path.ends_with("/protocol/openid-connect/token/introspect") {
        return introspection::answer(&mut stream, &state, &introspections, form).await;
    }
    let (mode, body) = {
        let mut state = state.lock().unwrap();
        let issuer = format!("http://127.0.0.1:{port}/realms/{}", state.realm);
        let body = if path.ends_with("/.well-known/openid-configuration") {
            discovery_hits.fetch_add(1, Ordering::SeqCst);
            let named = state.issuer_override.clone().unwrap_or_else(|| issuer.clone());
            Some(json!({
                "issuer": named,
                "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
                "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
                "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                "end_session_endpoint": format!("{issuer}/protocol/openid-connect/logout"),
                "introspection_endpoint": format!("{issuer}/protocol/openid-connect/token/introspect"),
            }))
        } else if path.ends_with("/protocol/openid-connect/certs") {
            jwks_hits.fetch_add(1, Ordering::SeqCst);
            Some(state.jwks.clone())
        } else if path.ends_with("/protocol/openid-connect/token") {
            state.token_requests += 1;
            state.last_token_request = form.clone();
            let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let answer = match field("grant_type").as_deref() {
                Some("authorization_code") => {
                    state.grants.remove(&format!("code:{}", field("code").unwrap_or_default()))
                }
                Some("refresh_token") => state
                    .grants
                    .get(&format!("refresh:{}", field("refresh_token").unwrap_or_default()))
                    .cloned(),
                _ => None,
            };
            Some(answer.unwrap_or_else(|| json!({"error": "invalid_grant"})))
        } else {
            None
        };
        (state.mode.clone(), body)
    };
    // The token endpoint answers 400 for errors, as OAuth 2.0 requires.
    let body = body.map(|b| if b.get("error").is_some() { Err(b) } else { Ok(b) });
    let (mode, body) = match body {
        Some(Err(error)) => {
            let text = error.to_string();
            let response = format!(
                "HTTP/1.1 400 X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
        Some(Ok(body)) => (mode, Some(body)),
        None => (mode, None),
    };
    let (status, body) = match (mode, body) {
        (_, None) => (404, "{}".to_string()),
        (Mode::Normal, Some(body)) => (200, body.to_string()),
        (Mode::Status(code), Some(_)) => (code, "{\"error\":\"boom\"}".into()),
        (Mode::Garbage, Some(_)) => (200, "<html>not json".into()),
        (Mode::Huge, Some(_)) => {
            (200, format!("{{\"keys\":[], \"pad\":\"{}\"}}", "x".repeat(2 << 20)))
        }
        (Mode::Delay(delay), Some(body)) => {
            tokio::time::sleep(delay).await;
            (200, body.to_string())
        }
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare HTTP/1.1 GET; the IdP closes the connection after its answer.
    async fn get(port: u16, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: idp\r\n\r\n").as_bytes()).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok(answer)
    }

    #[test]
    fn a_stopped_idp_refuses_connections_and_resumes_on_the_same_port() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            // No keys: deriving a JWK needs the crypto backend, which the kit alone lacks.
            let idp = Idp::start(&[]).await;
            let discovery = format!("/realms/{REALM}/.well-known/openid-configuration");
            let answer = get(idp.port, &discovery).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(answer.contains(&format!("\"issuer\":\"{}\"", idp.issuer())), "{answer}");

            idp.stop();
            // The aborted accept loop drops its listener when the runtime next gets to it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(get(idp.port, &discovery).await.is_err(), "a stopped IdP refuses");

            idp.resume().await;
            let answer = get(idp.port, &discovery).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert_eq!(idp.discovery_hits(), 2);
            assert_eq!(idp.jwks_hits(), 0);
        });
    }

    #[test]
    fn the_token_endpoint_refuses_a_code_nobody_expected() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let idp = Idp::start(&[]).await;
            let body = "grant_type=authorization_code&code=unknown";
            let mut stream = TcpStream::connect(("127.0.0.1", idp.port)).await.unwrap();
            let request = format!(
                "POST /realms/{REALM}/protocol/openid-connect/token HTTP/1.1\r\nHost: idp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
            assert!(answer.ends_with("{\"error\":\"invalid_grant\"}"), "{answer}");
            assert_eq!(idp.token_requests(), 1);
            assert_eq!(idp.last_token_request()[1], ("code".into(), "unknown".into()));
        });
    }
}
