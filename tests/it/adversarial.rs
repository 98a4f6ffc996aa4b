//! The adversarial corpus: named hostile requests, grouped by kind, each with the exact
//! status and `WWW-Authenticate` error it must get. The browser-side cases (state mismatch
//! and replay, nonce mismatch, code replay, `iss` mix-up, open redirects, tampered session
//! cookies, logout without CSRF, replayed back-channel logout) live in `browser.rs` and
//! `flow.rs`, next to the flow they attack.
//!
//! This file is the table runner every group shares; the groups are `forgeries` (token
//! format, algorithms and keys), `claims` (time, issuer, audience, type, `azp`, roles) and
//! `headers` (the `Authorization` header and DPoP proofs).

mod claims;
mod forgeries;
mod headers;

use rocket::http::Header;
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims};
use serde_json::{Value, json};

use crate::spawn_app_with;

/// What a case sends.
enum Send {
    /// These `Authorization` header values (none = no header) to this path.
    Headers(&'static str, Vec<String>),
    /// A bearer token to `/secure-data`.
    Token(String),
    /// A bearer token to `/admin-data`.
    AdminToken(String),
}

struct Case {
    name: &'static str,
    send: Send,
    status: u16,
    /// The `error` parameter of `WWW-Authenticate`; `None` for "no credentials" (and for
    /// the few control cases that must succeed).
    error: Option<&'static str>,
}

fn case(name: &'static str, send: Send, status: u16, error: Option<&'static str>) -> Case {
    Case { name, send, status, error }
}

fn bad_token(name: &'static str, token: String) -> Case {
    case(name, Send::Token(token), 401, Some("invalid_token"))
}

async fn run(app: &Client, cases: Vec<Case>) {
    assert!(!cases.is_empty());
    for Case { name, send, status, error } in cases {
        let (path, headers) = match send {
            Send::Headers(path, headers) => (path, headers),
            Send::Token(token) => ("/secure-data", vec![format!("Bearer {token}")]),
            Send::AdminToken(token) => ("/admin-data", vec![format!("Bearer {token}")]),
        };
        let mut request = app.get(path);
        for value in headers {
            request.add_header(Header::new("Authorization", value));
        }
        let response = request.dispatch().await;
        assert_eq!(response.status().code, status, "case {name}");
        let header = crate::www_authenticate(&response);
        if status == 200 {
            assert_eq!(header, "", "case {name}: a success has no challenge");
            continue;
        }
        match error {
            None => assert_eq!(header, "Bearer realm=\"test\"", "case {name}"),
            Some(error) => assert!(
                header.starts_with(&format!("Bearer realm=\"test\", error=\"{error}\"")),
                "case {name}: {header}"
            ),
        }
        let body: Value = response.into_json().await.unwrap_or_else(|| panic!("case {name}: JSON"));
        assert!(body["error"].is_string(), "case {name}");
    }
}

async fn setup() -> (std::sync::Arc<Idp>, TestKey, Client) {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({})).await;
    (idp, key, app)
}

fn claims(idp: &Idp) -> Value {
    access_claims(idp, "alice", &["user"])
}
