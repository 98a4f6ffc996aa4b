#![allow(missing_docs)]
//! A static identity provider for `scripts/bench`: serves a discovery document and a JWKS
//! on 127.0.0.1 (no Keycloak needed) and mints the tokens the load runs replay.
//!
//! ```text
//! cargo run --release --example bench_idp -- <port> <out-dir> <distinct-tokens>
//! ```
//! writes `<out-dir>/one.txt` (one valid token), `valid.txt` (distinct valid tokens, one per
//! line), `invalid.txt` (forged tokens: right `kid`, wrong signing key), then serves until
//! killed. Keys are the test fixtures (`tests/fixtures/keys`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

fn key(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).expect("fixture key")
}

fn mint(key: &EncodingKey, issuer: &str, n: usize) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "bench"});
    let claims = json!({
        "exp": now + 3600, "iat": now, "jti": format!("bench-{n}"), "iss": issuer,
        "aud": ["demo-app", "account"], "sub": format!("user-{n}"), "typ": "Bearer",
        "azp": "demo-app", "sid": format!("sid-{n}"), "scope": "openid profile email",
        "realm_access": {"roles": ["default-roles-demo", "offline_access", "uma_authorization", "user"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "preferred_username": format!("user{n}"), "email": format!("user{n}@example.com"),
        "name": format!("User {n}"), "email_verified": true,
    });
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::RS256).unwrap();
    format!("{message}.{signature}")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(18080);
    let out = std::path::PathBuf::from(args.get(2).map_or("target/bench", String::as_str));
    let distinct: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let issuer = format!("http://127.0.0.1:{port}/realms/bench");

    let signer = key(include_str!("../tests/fixtures/keys/rsa1.pem"));
    let forger = key(include_str!("../tests/fixtures/keys/rsa2.pem"));
    let mut jwk =
        serde_json::to_value(Jwk::from_encoding_key(&signer, Algorithm::RS256).unwrap()).unwrap();
    jwk["kid"] = json!("bench");
    jwk["use"] = json!("sig");

    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("one.txt"), mint(&signer, &issuer, 0) + "\n").unwrap();
    let valid: Vec<String> = (1..=distinct).map(|n| mint(&signer, &issuer, n)).collect();
    std::fs::write(out.join("valid.txt"), valid.join("\n") + "\n").unwrap();
    let invalid: Vec<String> = (1..=1000).map(|n| mint(&forger, &issuer, n)).collect();
    std::fs::write(out.join("invalid.txt"), invalid.join("\n") + "\n").unwrap();

    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
    })
    .to_string();
    let jwks = json!({"keys": [jwk]}).to_string();
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("bench_idp: {issuer} ready, tokens in {}", out.display());
    for stream in listener.incoming().flatten() {
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                break;
            }
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/");
        let (status, body) = if path.ends_with("/.well-known/openid-configuration") {
            ("200 OK", discovery.as_str())
        } else if path.ends_with("/certs") {
            ("200 OK", jwks.as_str())
        } else {
            ("404 Not Found", "{}")
        };
        let mut stream = &stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}
