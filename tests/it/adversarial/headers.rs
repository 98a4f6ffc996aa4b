//! What travels beside the token: the `Authorization` header (schemes, empty or doubled
//! credentials, the query string) and hostile DPoP proofs (RFC 9449).

use rocket::http::{Header, Status};
use rocket_keycloak_testkit::dpop::{ath, dpop_proof, proof_claims, proof_header};
use rocket_keycloak_testkit::{TestKey, mint, mint_with_header, now};
use serde_json::{Value, json};

use super::{Send, case, claims, run, setup};
use crate::dpop::{URL, assert_invalid_proof, dpop_get};

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
