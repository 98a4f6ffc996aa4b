//! The `api_only` example, as a user builds it from the README: bearer tokens only, no
//! templates, no sign-in. Every refusal keeps its status and `WWW-Authenticate`, whoever asks.
#![allow(missing_docs)]

#[path = "../examples/api_only.rs"]
#[allow(dead_code)] // the example's `main`
mod api_only;

use rocket::http::{Accept, ContentType, Status};
use rocket::local::asynchronous::Client;
use rocket::{catch, catchers};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, figment_for, get_with_token, mint};
use serde_json::json;

async fn app(idp: &Idp) -> Client {
    Client::tracked(api_only::app(figment_for(idp, json!({})))).await.expect("launches")
}

#[rocket::async_test]
async fn a_browser_without_a_token_gets_a_401_page_with_its_challenge() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app = app(&idp).await;
    let response = app.get("/secure-data").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(response.content_type(), Some(ContentType::HTML));
    let challenge = response.headers().get_one("WWW-Authenticate").map(str::to_owned);
    assert_eq!(
        challenge.as_deref(),
        Some(
            "Bearer realm=\"test\", \
             resource_metadata=\"http://localhost:8000/.well-known/oauth-protected-resource\""
        )
    );
    let page = response.into_string().await.unwrap();
    assert!(page.contains("<h1>401 · Unauthorized</h1>"), "{page}");
    assert!(page.contains("Authentication is required"), "{page}");
}

#[rocket::async_test]
async fn a_browser_with_a_forged_token_gets_a_401_page_naming_the_error() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app = app(&idp).await;
    let forged = mint(&TestKey::rsa2(), &access_claims(&idp, "mallory", &["admin"]));
    let response = app
        .get("/secure-data")
        .header(Accept::HTML)
        .header(rocket::http::Header::new("Authorization", format!("Bearer {forged}")))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenge = response.headers().get_one("WWW-Authenticate").unwrap_or_default();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(response.content_type(), Some(ContentType::HTML));
}

#[rocket::async_test]
async fn an_api_client_gets_json_and_a_valid_token_gets_through() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app(&idp).await;
    let response = app.get("/secure-data").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    assert!(response.headers().get_one("WWW-Authenticate").is_some());
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), "Hello, alice Example!");
}

#[rocket::async_test]
async fn a_dpop_scheme_or_an_unknown_path_is_never_a_500() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app = app(&idp).await;
    let response = app
        .get("/secure-data")
        .header(Accept::HTML)
        .header(rocket::http::Header::new("Authorization", "DPoP abc"))
        .dispatch()
        .await;
    // With the dpop feature the token is refused (401), without it the scheme is (400).
    assert!(matches!(response.status().code, 400 | 401), "{}", response.status());
    assert!(response.headers().get_one("WWW-Authenticate").is_some());
    // The app registered no 404 of its own: Rocket's default answers, not a 500.
    assert_eq!(
        app.get("/nowhere").header(Accept::HTML).dispatch().await.status(),
        Status::NotFound
    );
}

#[catch(404)]
fn own_not_found() -> &'static str {
    "the app's own 404"
}

#[rocket::async_test]
async fn an_app_with_its_own_404_registers_the_catchers_beside_it() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let rocket =
        api_only::app(figment_for(&idp, json!({}))).register("/", catchers![own_not_found]);
    let app = Client::tracked(rocket).await.expect("no catcher collision at launch");
    let response = app.get("/nowhere").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
    assert_eq!(response.into_string().await.unwrap(), "the app's own 404");
    // The library's 401 still answers for the guards.
    let response = app.get("/secure-data").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(response.headers().get_one("WWW-Authenticate").is_some());
}

#[rocket::async_test]
async fn the_default_catchers_collide_with_an_apps_own_404_at_launch() {
    // Why `catchers()` leaves 404 and 500 alone: the full set cannot sit beside an app's own.
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let rocket = rocket::custom(figment_for(&idp, json!({})))
        .register("/", rocket_keycloak::default_catchers())
        .register("/", catchers![own_not_found]);
    let Err(error) = Client::tracked(rocket).await else {
        panic!("Rocket refuses two 404 catchers at /");
    };
    assert!(matches!(error.kind(), rocket::error::ErrorKind::Collisions(_)), "{error:?}");
}

#[rocket::async_test]
async fn an_api_only_app_publishes_its_protected_resource_metadata() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app = app(&idp).await;
    let response = app.get("/.well-known/oauth-protected-resource").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    let document: serde_json::Value = response.into_json().await.unwrap();
    assert_eq!(document["resource"], "http://localhost:8000");
    assert_eq!(document["authorization_servers"], json!([idp.issuer()]));
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
}
