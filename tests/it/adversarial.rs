//! The adversarial corpus: named hostile requests, grouped by kind, each with the exact
//! status and `WWW-Authenticate` error it must get. The browser-side cases (state mismatch
//! and replay, nonce mismatch, code replay, `iss` mix-up, open redirects, tampered session
//! cookies, logout without CSRF, replayed back-channel logout) live in `browser.rs` and
//! `flow.rs`, next to the flow they attack.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::dpop::{ath, dpop_proof, proof_claims, proof_header};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, b64, mint, mint_with_header, now};
use serde_json::{Value, json};

use crate::dpop::{URL, assert_invalid_proof, dpop_get};
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
        let header = response.headers().get_one("WWW-Authenticate").unwrap_or_default().to_owned();
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

/// Signs `header` and `claims` with HMAC under `secret` (key confusion attempts).
fn hmac_token(alg: Algorithm, secret: &[u8], header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
    let key = EncodingKey::from_secret(secret).unwrap();
    format!("{message}.{}", jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap())
}

#[rocket::async_test]
async fn transport_cases() {
    let (idp, key, app) = setup().await;
    let token = mint(&key, &claims(&idp));
    let bearer = format!("Bearer {token}");
    let h = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    run(
        &app,
        vec![
            case("no header", Send::Headers("/secure-data", vec![]), 401, None),
            case(
                "basic scheme",
                Send::Headers("/secure-data", h(&["Basic YWxpY2U6cHc="])),
                400,
                Some("invalid_request"),
            ),
            case(
                "digest scheme",
                Send::Headers("/secure-data", h(&["Digest username=\"a\""])),
                400,
                Some("invalid_request"),
            ),
            case(
                "scheme only",
                Send::Headers("/secure-data", h(&["Bearer"])),
                400,
                Some("invalid_request"),
            ),
            case(
                "empty token",
                Send::Headers("/secure-data", h(&["Bearer   "])),
                400,
                Some("invalid_request"),
            ),
            case(
                "two tokens in one header",
                Send::Headers("/secure-data", vec![format!("{bearer} {token}")]),
                400,
                Some("invalid_request"),
            ),
            case(
                "two headers",
                Send::Headers("/secure-data", vec![bearer.clone(), bearer.clone()]),
                400,
                Some("invalid_request"),
            ),
            case(
                "token in the query string",
                Send::Headers(
                    Box::leak(format!("/secure-data?access_token={token}").into_boxed_str()),
                    vec![],
                ),
                401,
                None,
            ),
            case(
                "scheme in lower case works",
                Send::Headers("/secure-data", vec![format!("bearer {token}")]),
                200,
                None,
            ),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn format_cases() {
    let (idp, key, app) = setup().await;
    let valid = mint(&key, &claims(&idp));
    let parts: Vec<&str> = valid.split('.').collect();
    let mut huge = claims(&idp);
    huge["pad"] = json!("x".repeat(17_000));
    let dup = claims(&idp).to_string().replacen('{', "{\"iss\":\"http://evil\",", 1);
    run(
        &app,
        vec![
            bad_token("one part", "abc".into()),
            bad_token("two parts", format!("{}.{}", parts[0], parts[1])),
            bad_token("four parts", format!("{valid}.x")),
            bad_token("JWE with five parts", format!("{}.a.b.c.d", parts[0])),
            bad_token("bad base64 header", format!("!!!.{}.{}", parts[1], parts[2])),
            bad_token(
                "standard base64 alphabet",
                format!("{}.{}.{}", STANDARD.encode("{\"alg\":\"RS256\"}"), parts[1], parts[2]),
            ),
            bad_token("header not JSON", format!("{}.{}.{}", b64("not json"), parts[1], parts[2])),
            bad_token("header a JSON array", format!("{}.{}.{}", b64("[1,2]"), parts[1], parts[2])),
            bad_token(
                "payload not JSON",
                mint_with_header(
                    &key,
                    &json!({"alg": "RS256", "kid": "rsa1"}),
                    &json!("just a string"),
                ),
            ),
            bad_token("duplicate JSON members", {
                let message = format!(
                    "{}.{}",
                    b64(&json!({"alg": "RS256", "kid": "rsa1"}).to_string()),
                    b64(&dup)
                );
                let signature =
                    jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, Algorithm::RS256)
                        .unwrap();
                format!("{message}.{signature}")
            }),
            bad_token("oversize token", mint(&key, &huge)),
            bad_token("empty signature", format!("{}.{}.", parts[0], parts[1])),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn algorithm_and_key_cases() {
    let (idp, key, app) = setup().await;
    let c = claims(&idp);
    let der = {
        let body: String = key.public_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()
    };
    let hdr = |alg: &str| json!({"alg": alg, "kid": "rsa1", "typ": "JWT"});
    let unsigned = |alg: &str| format!("{}.{}.", b64(&hdr(alg).to_string()), b64(&c.to_string()));
    let ec = TestKey::ec1();
    let ec_token = mint(&ec.with_kid("rsa1"), &c);
    let ec_parts: Vec<&str> = ec_token.split('.').collect();
    run(
        &app,
        vec![
            bad_token("alg none", unsigned("none")),
            bad_token("alg None", unsigned("None")),
            bad_token("alg NONE with a signature", format!("{}c2ln", unsigned("NONE"))),
            bad_token(
                "HS256 keyed with the PEM public key",
                hmac_token(Algorithm::HS256, key.public_pem.as_bytes(), &hdr("HS256"), &c),
            ),
            bad_token(
                "HS384 keyed with the PEM public key",
                hmac_token(Algorithm::HS384, key.public_pem.as_bytes(), &hdr("HS384"), &c),
            ),
            bad_token(
                "HS512 keyed with the PEM public key",
                hmac_token(Algorithm::HS512, key.public_pem.as_bytes(), &hdr("HS512"), &c),
            ),
            bad_token(
                "HS256 keyed with the DER public key",
                hmac_token(Algorithm::HS256, &der, &hdr("HS256"), &c),
            ),
            bad_token(
                "header alg PS256 on an RS256 key",
                mint_with_header(&key, &hdr("PS256"), &c),
            ),
            bad_token(
                "header alg RS512 on an RS256 key",
                mint_with_header(&key, &hdr("RS512"), &c),
            ),
            bad_token("ES256 signature under the RSA kid", ec_token.clone()),
            bad_token(
                "truncated ECDSA signature",
                format!("{}.{}.{}", ec_parts[0], ec_parts[1], &ec_parts[2][..20]),
            ),
            bad_token(
                "zero ECDSA signature",
                format!("{}.{}.{}", ec_parts[0], ec_parts[1], URL_SAFE_NO_PAD.encode([0u8; 64])),
            ),
            bad_token("unknown kid", mint(&TestKey::rsa2().with_kid("nobody"), &c)),
            bad_token("kid with a path", mint(&TestKey::rsa2().with_kid("../../etc/passwd"), &c)),
            bad_token("kid with SQL", mint(&TestKey::rsa2().with_kid("x' OR '1'='1"), &c)),
            bad_token(
                "no kid, signed by a key that is not the single published one",
                mint_with_header(&TestKey::rsa2(), &json!({"alg": "RS256"}), &c),
            ),
            bad_token(
                "forged signature under a known kid",
                mint(&TestKey::rsa2().with_kid("rsa1"), &c),
            ),
            bad_token(
                "crit with an unknown extension",
                mint_with_header(
                    &key,
                    &json!({"alg": "RS256", "kid": "rsa1", "crit": ["exp-ext"], "exp-ext": 1}),
                    &c,
                ),
            ),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn key_location_headers_are_never_fetched() {
    let (idp, key, app) = setup().await;
    let attacker = TestKey::rsa2().with_kid("attacker");
    let c = claims(&idp);
    let here = format!("{}/protocol/openid-connect/certs", idp.issuer());
    let hits = idp.jwks_hits();
    run(
        &app,
        vec![
            bad_token(
                "jku pointing at a JWKS",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "jku": here}),
                    &c,
                ),
            ),
            bad_token(
                "x5u pointing at a certificate",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "x5u": here}),
                    &c,
                ),
            ),
            bad_token(
                "embedded jwk",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "jwk": attacker.jwk}),
                    &c,
                ),
            ),
            bad_token(
                "embedded x5c",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "x5c": ["MIIB"]}),
                    &c,
                ),
            ),
            bad_token(
                "jku with the real kid",
                mint_with_header(&key, &json!({"alg": "RS256", "kid": "rsa1", "jku": here}), &c),
            ),
        ],
    )
    .await;
    assert_eq!(idp.jwks_hits(), hits, "no header made the app fetch anything");
}

#[rocket::async_test]
async fn claim_cases() {
    let (idp, key, app) = setup().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(&idp);
        edit(&mut c);
        mint(&key, &c)
    };
    let t = now();
    run(
        &app,
        vec![
            bad_token("expired just past the leeway", with(&|c| c["exp"] = json!(t - 61))),
            case(
                "expired just inside the leeway",
                Send::Token(with(&|c| c["exp"] = json!(t - 55))),
                200,
                None,
            ),
            bad_token("nbf in the future", with(&|c| c["nbf"] = json!(t + 120))),
            bad_token("iat in the future", with(&|c| c["iat"] = json!(t + 120))),
            bad_token(
                "exp missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            bad_token("exp not a number", with(&|c| c["exp"] = json!("tomorrow"))),
            bad_token("exp null", with(&|c| c["exp"] = Value::Null)),
            bad_token("wrong issuer", with(&|c| c["iss"] = json!("http://evil/realms/test"))),
            bad_token(
                "issuer with a trailing slash",
                with(&|c| c["iss"] = json!(format!("{}/", idp.issuer()))),
            ),
            bad_token(
                "issuer in other case",
                with(&|c| c["iss"] = json!(idp.issuer().to_uppercase())),
            ),
            bad_token(
                "issuer missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
            ),
            bad_token("wrong audience", with(&|c| c["aud"] = json!("account"))),
            bad_token(
                "audience missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
            ),
            bad_token(
                "audience list without us",
                with(&|c| c["aud"] = json!(["account", "other"])),
            ),
            bad_token("typ ID", with(&|c| c["typ"] = json!("ID"))),
            bad_token("typ Refresh", with(&|c| c["typ"] = json!("Refresh"))),
            bad_token("typ Logout", with(&|c| c["typ"] = json!("Logout"))),
            bad_token(
                "typ missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("typ");
                }),
            ),
            bad_token(
                "sub missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
            ),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn foreign_azp_is_refused_when_an_allow_list_is_set() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"allowed_azp": ["demo-app", "demo-cli"]})).await;
    let with_azp = |azp: Value| {
        let mut c = claims(&idp);
        c["azp"] = azp;
        mint(&key, &c)
    };
    run(
        &app,
        vec![
            case("allowed azp", Send::Token(with_azp(json!("demo-cli"))), 200, None),
            bad_token("foreign azp", with_azp(json!("other-app"))),
            bad_token("azp missing", with_azp(Value::Null)),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn role_cases() {
    let (idp, key, app) = setup().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(&idp);
        edit(&mut c);
        mint(&key, &c)
    };
    run(
        &app,
        vec![
            case("missing role", Send::AdminToken(with(&|_| {})), 403, Some("insufficient_scope")),
            case(
                "client role with the realm role's name",
                Send::AdminToken(with(&|c| {
                    c["resource_access"] = json!({"demo-app": {"roles": ["admin"]}})
                })),
                403,
                Some("insufficient_scope"),
            ),
            case(
                "role in scope, not in roles",
                Send::AdminToken(with(&|c| c["scope"] = json!("openid admin"))),
                403,
                Some("insufficient_scope"),
            ),
            case(
                "role name in other case",
                Send::AdminToken(with(&|c| {
                    c["realm_access"] = json!({"roles": ["Admin", "ADMIN"]})
                })),
                403,
                Some("insufficient_scope"),
            ),
            case(
                "roles claim a string",
                Send::AdminToken(with(&|c| c["realm_access"] = json!({"roles": "admin"}))),
                401,
                Some("invalid_token"),
            ),
            case(
                "realm_access a list",
                Send::AdminToken(with(&|c| c["realm_access"] = json!(["admin"]))),
                401,
                Some("invalid_token"),
            ),
            case(
                "realm role admin",
                Send::AdminToken(with(&|c| c["realm_access"] = json!({"roles": ["admin"]}))),
                200,
                None,
            ),
        ],
    )
    .await;
}

/// DPoP proofs (RFC 9449 §4.3): each differs from a good proof in one thing, and each is a
/// 401 `invalid_dpop_proof` with the `DPoP` challenge; the good proof then still passes.
#[rocket::async_test]
async fn dpop_proof_cases() {
    let crate::dpop::Setup { client_key, token, app, .. } = crate::dpop::setup(json!({})).await;
    let other_key = TestKey::rsa2();
    let standard = || (proof_header(&client_key), proof_claims("GET", URL, Some(&token)));
    // (case, header, claims, signing key)
    let mut cases: Vec<(&str, Value, Value, &TestKey)> = Vec::new();
    let mut case = |name, edit: &dyn Fn(&mut Value, &mut Value)| {
        let (mut header, mut claims) = standard();
        edit(&mut header, &mut claims);
        cases.push((name, header, claims, &client_key));
    };
    case("another method", &|_, c| c["htm"] = json!("POST"));
    case("lower-case method", &|_, c| c["htm"] = json!("get"));
    case("another path", &|_, c| c["htu"] = json!("http://localhost:8000/admin-data"));
    case("another host", &|_, c| c["htu"] = json!("http://evil.example/secure-data"));
    case("another scheme", &|_, c| c["htu"] = json!("https://localhost:8000/secure-data"));
    case("another port", &|_, c| c["htu"] = json!("http://localhost:8001/secure-data"));
    case("htu not a URL", &|_, c| c["htu"] = json!("/secure-data"));
    case("no htu", &|_, c| drop(c.as_object_mut().unwrap().remove("htu")));
    // Well outside the window (60 s back, 5 s ahead): these proofs are checked seconds after
    // they are made, so a case at the edge would pass or fail by the clock. The exact edges
    // are a unit test with a fixed clock (`oidc::dpop::tests`).
    case("iat 61 s ago", &|_, c| c["iat"] = json!(now() - 61));
    case("iat 30 s ahead", &|_, c| c["iat"] = json!(now() + 30));
    case("iat a string", &|_, c| c["iat"] = json!("now"));
    case("no iat", &|_, c| drop(c.as_object_mut().unwrap().remove("iat")));
    case("no jti", &|_, c| drop(c.as_object_mut().unwrap().remove("jti")));
    case("jti too long", &|_, c| c["jti"] = json!("j".repeat(300)));
    case("no ath", &|_, c| drop(c.as_object_mut().unwrap().remove("ath")));
    case("ath of another token", &|_, c| c["ath"] = json!(ath("another.token.here")));
    case("typ JWT", &|h, _| h["typ"] = json!("JWT"));
    case("no typ", &|h, _| drop(h.as_object_mut().unwrap().remove("typ")));
    case("kid in the header", &|h, _| h["kid"] = json!("ec1"));
    case("jku in the header", &|h, _| h["jku"] = json!("http://evil.example/jwks"));
    case("x5c in the header", &|h, _| h["x5c"] = json!(["MIIB"]));
    case("no jwk", &|h, _| drop(h.as_object_mut().unwrap().remove("jwk")));
    case("private key in the jwk", &|h, _| h["jwk"]["d"] = json!("c2VjcmV0"));
    case("symmetric jwk", &|h, _| h["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"}));
    case("alg none", &|h, _| h["alg"] = json!("none"));
    case("alg HS256", &|h, _| h["alg"] = json!("HS256"));
    case("alg of another family", &|h, _| h["alg"] = json!("RS256"));
    // Signed by another key than the jwk it carries.
    cases.push(("signed by another key", proof_header(&client_key), standard().1, &other_key));
    // Another key, consistent with its own jwk, but not the token's.
    cases.push((
        "a key the token is not bound to",
        proof_header(&other_key),
        standard().1,
        &other_key,
    ));
    for (name, header, claims, signer) in &cases {
        let proof = mint_with_header(signer, header, claims);
        assert_invalid_proof(dpop_get(&app, &token, &[&proof]).await, name).await;
    }
    // Framing errors.
    let good = dpop_proof(&client_key, "GET", URL, Some(&token));
    for (name, proofs) in [
        ("no DPoP header", vec![]),
        ("two DPoP headers", vec![good.clone(), dpop_proof(&client_key, "GET", URL, Some(&token))]),
        ("not a JWT", vec!["not-a-jwt".to_owned()]),
        ("oversized", vec![format!("{good}{}", "A".repeat(9000))]),
        ("JWE-shaped", vec!["a.b.c.d.e".to_owned()]),
    ] {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        assert_invalid_proof(dpop_get(&app, &token, &proofs).await, name).await;
    }
    // None of them spent the good proof, and the query string is no part of htu.
    let response = app
        .get("/secure-data?page=2")
        .header(Header::new("Authorization", format!("DPoP {token}")))
        .header(Header::new("DPoP", good))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
}
