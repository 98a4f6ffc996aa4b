//! DPoP against real Keycloak: a token from `demo-dpop` (the test signs the token-endpoint
//! proof with its own key) is bound to that key; with a fresh proof it opens `/secure-data`,
//! as a plain bearer token it does not, and every wrong proof is refused with
//! `invalid_dpop_proof`.

use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket_keycloak_testkit::dpop::{dpop_proof, jkt, proof_claims, proof_header};
use rocket_keycloak_testkit::keycloak::{token_endpoint, token_request};
use rocket_keycloak_testkit::{TestKey, mint_with_header, now};
use serde_json::{Value, json};

use super::{jwt_part, local_app, serial};

const URL: &str = "http://localhost:8000/secure-data";

/// A password grant of alice through `demo-dpop`, proven with `key`.
async fn bound_token(key: &TestKey) -> Value {
    let form = [
        ("grant_type", "password"),
        ("client_id", "demo-dpop"),
        ("client_secret", "demo-dpop-secret"),
        ("username", "alice"),
        ("password", "alice-password"),
    ];
    let proof = dpop_proof(key, "POST", &token_endpoint("demo"), None);
    let response = token_request("demo", &form, Some(&proof)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "DPoP password grant: {status} {body}");
    body
}

/// GET `/secure-data` with the token under the DPoP scheme and one proof.
async fn dpop_get<'c>(app: &'c Client, token: &str, proof: &str) -> LocalResponse<'c> {
    crate::dpop::dpop_get(app, token, &[proof]).await
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn a_keycloak_dpop_token_works_only_with_a_fresh_proof_of_its_key() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let key = TestKey::ec1();
    let answer = bound_token(&key).await;
    assert_eq!(answer["token_type"], "DPoP");
    let token = answer["access_token"].as_str().unwrap().to_owned();
    let payload = jwt_part(&token, 1);
    assert_eq!(payload["typ"], "DPoP", "{payload}");
    assert_eq!(payload["cnf"]["jkt"], jkt(&key), "bound to the test's key");

    // A fresh proof: accepted, and the identity says it is bound.
    let response = dpop_get(&app, &token, &dpop_proof(&key, "GET", URL, Some(&token))).await;
    assert_eq!(response.status(), Status::Ok);
    // The same token as a plain bearer token: refused.
    let bearer = app
        .get("/secure-data")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    assert_eq!(bearer.status(), Status::Unauthorized);
    assert!(bearer.headers().get_one("WWW-Authenticate").unwrap().contains("invalid_token"));

    // Every wrong proof: 401 invalid_dpop_proof.
    let replayed = dpop_proof(&key, "GET", URL, Some(&token));
    assert_eq!(dpop_get(&app, &token, &replayed).await.status(), Status::Ok);
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut claims = proof_claims("GET", URL, Some(&token));
        edit(&mut claims);
        mint_with_header(&key, &proof_header(&key), &claims)
    };
    let other_key = TestKey::rsa2();
    let cases = [
        ("a replayed proof", replayed),
        ("another htu", edited(&|c| c["htu"] = json!("http://localhost:8000/me"))),
        ("another htm", edited(&|c| c["htm"] = json!("POST"))),
        ("another key", dpop_proof(&other_key, "GET", URL, Some(&token))),
        ("a stale iat", edited(&|c| c["iat"] = json!(now() - 120))),
        ("no ath", edited(&|c| drop(c.as_object_mut().unwrap().remove("ath")))),
    ];
    for (name, proof) in cases {
        let response = dpop_get(&app, &token, &proof).await;
        assert_eq!(response.status(), Status::Unauthorized, "{name}");
        let challenge = response.headers().get_one("WWW-Authenticate").unwrap().to_owned();
        assert!(challenge.starts_with("DPoP "), "{name}: {challenge}");
        assert!(challenge.contains("error=\"invalid_dpop_proof\""), "{name}: {challenge}");
    }
}
