//! The guards and fairing in an app of their own, the way the README shows.
#![allow(missing_docs)]

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keycloak::{AuthenticatedUser, OidcFairing, PageUser, RequireRole, Role, RoleKind};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, figment_for, get_with_token, mint};
use serde_json::json;

struct Editor;
impl Role for Editor {
    const NAME: &'static str = "editor";
    const KIND: RoleKind = RoleKind::OwnClient;
}

struct Auditor;
impl Role for Auditor {
    const NAME: &'static str = "auditor";
    const KIND: RoleKind = RoleKind::Client("reports");
}

#[get("/three-guards")]
fn three_guards(a: AuthenticatedUser, b: &AuthenticatedUser, c: RequireRole<Editor>) -> String {
    format!("{} {} {}", a.sub, b.sub, c.sub)
}

#[get("/page")]
fn page(user: PageUser) -> String {
    user.sub.to_string()
}

#[get("/audit")]
fn audit(user: RequireRole<Auditor>) -> String {
    user.sub.to_string()
}

async fn app(idp: &Idp, overrides: serde_json::Value) -> Client {
    let rocket = rocket::custom(figment_for(idp, overrides))
        .attach(OidcFairing)
        .register("/", rocket_keycloak::catchers())
        .mount("/", routes![three_guards, audit, page]);
    Client::tracked(rocket).await.unwrap()
}

#[rocket::async_test]
async fn guards_work_in_another_app_with_client_roles() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app(&idp, json!({})).await;
    let mut claims = access_claims(&idp, "eddie", &["user"]);
    claims["resource_access"] =
        json!({"demo-app": {"roles": ["editor"]}, "reports": {"roles": ["auditor"]}});
    let token = mint(&key, &claims);
    let response = get_with_token(&app, "/three-guards", &token).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), "sub-eddie sub-eddie sub-eddie");
    assert_eq!(get_with_token(&app, "/audit", &token).await.status(), Status::Ok);
    // Realm roles of the same names do not count as client roles.
    let mut claims = access_claims(&idp, "rita", &["editor", "auditor"]);
    claims["resource_access"] = json!({"other": {"roles": ["editor", "auditor"]}});
    let token = mint(&key, &claims);
    assert_eq!(get_with_token(&app, "/three-guards", &token).await.status(), Status::Forbidden);
    assert_eq!(get_with_token(&app, "/audit", &token).await.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn credentials_are_validated_once_per_request_however_many_guards_ask() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    // No rate limit: every validation of an unknown kid would refetch the JWKS.
    let app = app(&idp, json!({"jwks_min_refresh_interval": 0})).await;
    let stranger = TestKey::rsa2().with_kid("stranger");
    let token = mint(&stranger, &access_claims(&idp, "eve", &[]));
    let before = idp.jwks_hits();
    let response = get_with_token(&app, "/three-guards", &token).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(idp.jwks_hits(), before + 1, "three guards, one validation");
    let _ = get_with_token(&app, "/three-guards", &token).await;
    assert_eq!(idp.jwks_hits(), before + 2, "the next request validates again");
}

#[rocket::async_test]
async fn without_the_sign_in_routes_a_page_answers_401_instead_of_redirecting_nowhere() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app(&idp, json!({})).await;
    // No SignIn fairing: there is no /login to send the browser to, so no Location either.
    let response = app.get("/page").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(response.headers().get_one("Location"), None);
    assert!(response.headers().get_one("WWW-Authenticate").is_some());
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/page", &token).await.status(), Status::Ok);
}
