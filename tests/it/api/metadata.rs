//! The protected-resource metadata (RFC 9728): the document says what the configuration
//! says, with the RFC's field names; every challenge names it (the kit's `www_authenticate`
//! checks that for every test that reads one; the table below for each kind); an app that
//! turns it off serves nothing there and names nothing.

use rocket::http::{ContentType, Header, Status};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint};
use serde_json::{Value, json};

use crate::{RESOURCE_METADATA, get_with_token, spawn_app_with};

const PATH: &str = "/.well-known/oauth-protected-resource";

#[rocket::async_test]
async fn the_document_holds_the_rfcs_fields_as_configured() {
    let key = TestKey::rsa1();
    let (idp, partner) = (Idp::start(&[&key]).await, Idp::start_realm(&[&key], "partner").await);
    let app = spawn_app_with(&idp, json!({})).await;
    let response = app.get(PATH).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    let document: Value = response.into_json().await.unwrap();
    assert_eq!(
        document,
        json!({
            "resource": "http://localhost:8000",
            "authorization_servers": [idp.issuer()],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported":
                ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"],
            "dpop_bound_access_tokens_required": false,
        })
    );
    // Every setting that shows in it.
    let app = spawn_app_with(
        &idp,
        json!({
            "issuers": [idp.issuer(), partner.issuer()],
            "scopes_supported": ["notes:read", "notes:write"],
            "resource_documentation": "https://docs.example/api",
            "algorithms": ["ES256"],
            "dpop": "required",
        }),
    )
    .await;
    let document: Value = app.get(PATH).dispatch().await.into_json().await.unwrap();
    assert_eq!(document["authorization_servers"], json!([idp.issuer(), partner.issuer()]));
    assert_eq!(document["scopes_supported"], json!(["notes:read", "notes:write"]));
    assert_eq!(document["resource_documentation"], "https://docs.example/api");
    assert_eq!(document["dpop_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(document["dpop_bound_access_tokens_required"], true);
}

#[rocket::async_test]
async fn every_kind_of_challenge_names_the_document() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({})).await;
    let user = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let forged = mint(&TestKey::rsa2(), &access_claims(&idp, "mallory", &["admin"]));
    let cases = [
        ("no credentials", app.get("/secure-data").dispatch().await),
        ("forged token", get_with_token(&app, "/secure-data", &forged).await),
        ("missing role", get_with_token(&app, "/admin-data", &user).await),
        ("level too low", get_with_token(&app, "/sensitive-data", &user).await),
        (
            "bad DPoP proof",
            app.get("/secure-data")
                .header(Header::new("Authorization", format!("DPoP {user}")))
                .header(Header::new("DPoP", "not.a.proof"))
                .dispatch()
                .await,
        ),
        (
            "two Authorization headers",
            app.get("/secure-data")
                .header(Header::new("Authorization", format!("Bearer {user}")))
                .header(Header::new("Authorization", format!("Bearer {user}")))
                .dispatch()
                .await,
        ),
    ];
    for (case, response) in cases {
        assert!(matches!(response.status().code, 400 | 401 | 403), "{case}: {}", response.status());
        let challenge = response.headers().get_one("WWW-Authenticate").unwrap_or_default();
        assert!(challenge.ends_with(RESOURCE_METADATA), "{case}: {challenge}");
    }
}

#[rocket::async_test]
async fn an_app_that_turns_it_off_serves_and_names_nothing() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"resource_metadata": false})).await;
    assert_eq!(app.get(PATH).dispatch().await.status(), Status::NotFound);
    let response = app.get("/secure-data").dispatch().await;
    assert_eq!(response.headers().get_one("WWW-Authenticate"), Some("Bearer realm=\"test\""));
}
