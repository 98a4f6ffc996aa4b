#![allow(missing_docs)]
//! A static identity provider for `scripts/bench`: serves a discovery document and a JWKS
//! on 127.0.0.1 (no Keycloak needed) and mints the tokens the load runs replay.
//!
//! ```text
//! cargo run --release --example bench_idp -- <port> <out-dir> <distinct-tokens> [serve-only]
//! ```
//! Three RSA keys (the test fixtures in `tests/fixtures/keys`) under kids `k1`, `k2`, `k3`.
//! Unless `serve-only`, it writes to `<out-dir>`: `one.txt` (one valid `k1` token),
//! `valid.txt` (distinct valid `k1` tokens, one per line), `valid-k2.txt`, `valid-k3.txt`
//! (1000 each), `invalid.txt` (forged: kid `k1`, signed with another key), `jwk-k<N>.json`
//! (each public key), and `jwks.json` (`k1` only). It serves the JWKS from `jwks.json`,
//! read on every request, so a script can rotate keys by rewriting that file.

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

fn mint(key: &EncodingKey, kid: &str, issuer: &str, n: usize) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
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

    let keys = [
        ("k1", key(include_str!("../tests/fixtures/keys/rsa1.pem"))),
        ("k2", key(include_str!("../tests/fixtures/keys/rsa2.pem"))),
        ("k3", key(include_str!("../tests/fixtures/keys/rsa3.pem"))),
    ];
    std::fs::create_dir_all(&out).unwrap();
    if args.get(4).map(String::as_str) != Some("serve-only") {
        for (kid, key) in &keys {
            let mut jwk =
                serde_json::to_value(Jwk::from_encoding_key(key, Algorithm::RS256).unwrap())
                    .unwrap();
            jwk["kid"] = json!(kid);
            jwk["use"] = json!("sig");
            std::fs::write(out.join(format!("jwk-{kid}.json")), jwk.to_string()).unwrap();
        }
        let first = std::fs::read_to_string(out.join("jwk-k1.json")).unwrap();
        std::fs::write(out.join("jwks.json"), format!("{{\"keys\":[{first}]}}")).unwrap();
        let (signer, forger) = (&keys[0].1, &keys[1].1);
        std::fs::write(out.join("one.txt"), mint(signer, "k1", &issuer, 0) + "\n").unwrap();
        let lines = |key: &EncodingKey, kid: &str, range: std::ops::RangeInclusive<usize>| {
            range.map(|n| mint(key, kid, &issuer, n)).collect::<Vec<_>>().join("\n") + "\n"
        };
        std::fs::write(out.join("valid.txt"), lines(signer, "k1", 1..=distinct)).unwrap();
        std::fs::write(out.join("valid-k2.txt"), lines(&keys[1].1, "k2", 1..=1000)).unwrap();
        std::fs::write(out.join("valid-k3.txt"), lines(&keys[2].1, "k3", 1..=1000)).unwrap();
        std::fs::write(out.join("invalid.txt"), lines(forger, "k1", 1..=1000)).unwrap();
    }

    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
    })
    .to_string();
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let mut jwks;
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
            jwks = std::fs::read_to_string(out.join("jwks.json")).unwrap_or_default();
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
