//! An in-process identity provider: a real HTTP/1.1 server on 127.0.0.1 that serves a
//! discovery document and a JWKS, can rotate keys, go down and come back, misbehave on
//! demand, and counts its hits. Plus a minter for Keycloak-shaped tokens.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::{TcpListener, TcpStream};
use rocket::tokio::task::JoinHandle;
use rocket::tokio::{self};
use serde_json::{Value, json};

pub const REALM: &str = "test";

/// A signing key of the test IdP.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: Arc<EncodingKey>,
    pub jwk: Value,
    pub public_pem: &'static str,
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys/", $name))
    };
}

impl TestKey {
    fn new(kid: &str, alg: Algorithm, private: &str, public_pem: &'static str) -> Self {
        let encoding = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private.as_bytes()),
            _ => EncodingKey::from_rsa_pem(private.as_bytes()),
        }
        .expect("fixture key");
        let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).expect("jwk"))
            .expect("jwk json");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Self { kid: kid.into(), alg, encoding: Arc::new(encoding), jwk, public_pem }
    }

    pub fn rsa1() -> Self {
        Self::new("rsa1", Algorithm::RS256, fixture!("rsa1.pem"), fixture!("rsa1.pub.pem"))
    }
    pub fn rsa2() -> Self {
        Self::new("rsa2", Algorithm::RS256, fixture!("rsa2.pem"), fixture!("rsa2.pub.pem"))
    }
    pub fn rsa3() -> Self {
        Self::new("rsa3", Algorithm::RS256, fixture!("rsa3.pem"), fixture!("rsa3.pub.pem"))
    }
    pub fn ec1() -> Self {
        Self::new("ec1", Algorithm::ES256, fixture!("ec1.pem"), fixture!("ec1.pub.pem"))
    }
    pub fn ed1() -> Self {
        Self::new("ed1", Algorithm::EdDSA, fixture!("ed1.pem"), fixture!("ed1.pub.pem"))
    }

    /// The same key material published under another kid or use.
    pub fn with_kid(&self, kid: &str) -> Self {
        let mut key = self.clone();
        key.kid = kid.into();
        key.jwk["kid"] = json!(kid);
        key
    }
}

/// How the IdP answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    Status(u16),
    Garbage,
    Huge,
    Delay(Duration),
}

struct State {
    jwks: Value,
    issuer_override: Option<String>,
    mode: Mode,
    /// Token-endpoint answers by authorization code (single use) or refresh token.
    grants: std::collections::HashMap<String, Value>,
    /// The form fields of the last token request.
    last_token_request: Vec<(String, String)>,
    token_requests: usize,
}

pub struct Idp {
    pub port: u16,
    state: Arc<Mutex<State>>,
    discovery_hits: Arc<AtomicUsize>,
    jwks_hits: Arc<AtomicUsize>,
    server: Mutex<Option<JoinHandle<()>>>,
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

impl Idp {
    /// Starts an IdP publishing `keys`.
    pub async fn start(keys: &[&TestKey]) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let idp = Arc::new(Self {
            port,
            state: Arc::new(Mutex::new(State {
                jwks: json!({"keys": []}),
                issuer_override: None,
                mode: Mode::Normal,
                grants: Default::default(),
                last_token_request: Vec::new(),
                token_requests: 0,
            })),
            discovery_hits: Arc::default(),
            jwks_hits: Arc::default(),
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
        let port = self.port;
        let handle = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (state, d, j) = (state.clone(), d.clone(), j.clone());
                tokio::spawn(async move { handle(stream, port, state, d, j).await });
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

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}/realms/{REALM}", self.port)
    }

    pub fn publish(&self, keys: &[&TestKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        self.publish_raw(json!({ "keys": keys }));
    }

    pub fn publish_raw(&self, jwks: Value) {
        self.state.lock().unwrap().jwks = jwks;
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

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

    pub fn jwks_hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

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
    let issuer = format!("http://127.0.0.1:{port}/realms/{REALM}");
    let (mode, body) = {
        let mut state = state.lock().unwrap();
        let body = if path.ends_with("/.well-known/openid-configuration") {
            discovery_hits.fetch_add(1, Ordering::SeqCst);
            let named = state.issuer_override.clone().unwrap_or_else(|| issuer.clone());
            Some(json!({
                "issuer": named,
                "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
                "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
                "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                "end_session_endpoint": format!("{issuer}/protocol/openid-connect/logout"),
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

/// Keycloak-shaped access-token claims for user `username`, valid for five minutes.
pub fn access_claims(idp: &Idp, username: &str, realm_roles: &[&str]) -> Value {
    let now = now();
    json!({
        "exp": now + 300,
        "iat": now,
        "jti": format!("jti-{username}-{now}"),
        "iss": idp.issuer(),
        "aud": ["demo-app", "account"],
        "sub": format!("sub-{username}"),
        "typ": "Bearer",
        "azp": "demo-app",
        "sid": format!("sid-{username}"),
        "scope": "openid profile email",
        "realm_access": {"roles": realm_roles},
        "resource_access": {"account": {"roles": ["view-profile"]}},
        "preferred_username": username,
        "email": format!("{username}@example.com"),
        "name": format!("{username} Example"),
    })
}

/// Keycloak-shaped ID-token claims for `username` with `nonce`.
pub fn id_claims(idp: &Idp, username: &str, nonce: &str) -> Value {
    let now = now();
    json!({
        "exp": now + 300, "iat": now, "auth_time": now, "jti": format!("id-{username}-{now}"),
        "iss": idp.issuer(), "aud": "demo-app", "sub": format!("sub-{username}"), "typ": "ID",
        "azp": "demo-app", "nonce": nonce, "sid": format!("sid-{username}"),
        "preferred_username": username, "email": format!("{username}@example.com"),
    })
}

/// A token-endpoint answer with these tokens.
pub fn token_response(access: &str, id: Option<&str>, refresh: Option<&str>) -> Value {
    let mut response = json!({"access_token": access, "token_type": "Bearer", "expires_in": 300});
    if let Some(id) = id {
        response["id_token"] = json!(id);
    }
    if let Some(refresh) = refresh {
        response["refresh_token"] = json!(refresh);
    }
    response
}

/// Signs `claims` with `key` and a standard header (`alg` of the key, its `kid`).
pub fn mint(key: &TestKey, claims: &Value) -> String {
    mint_with_header(key, &json!({"alg": alg_name(key.alg), "typ": "JWT", "kid": key.kid}), claims)
}

/// Signs arbitrary header and claims JSON with `key` (the header's `alg` is not checked).
pub fn mint_with_header(key: &TestKey, header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.alg).expect("sign");
    format!("{message}.{signature}")
}

pub fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

pub fn alg_name(alg: Algorithm) -> String {
    serde_json::to_value(alg).unwrap().as_str().unwrap().to_owned()
}
