//! Two realms of a real Keycloak on one API: tokens from `demo` and from `partner` both reach
//! `/secure-data`, and a realm role counts only in its own realm.

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keycloak::{RequireRole, Role, RoleKind};
use rocket_keycloak_testkit::keycloak::token_request;
use serde_json::{Value, json};

use super::{REALM_ISSUER, figment, jwt_part, serial, user_token};

const PARTNER_ISSUER: &str = "http://localhost:8080/realms/partner";

/// The realm role `user` of the sign-in realm (`demo`).
struct DemoUser;
impl Role for DemoUser {
    const NAME: &'static str = "user";
    const KIND: RoleKind = RoleKind::Realm;
}

/// The realm role `user` of the `partner` realm.
struct PartnerUser;
impl Role for PartnerUser {
    const REALM: Option<&'static str> = Some("partner");
    const NAME: &'static str = "user";
    const KIND: RoleKind = RoleKind::Realm;
}

#[get("/demo-users")]
fn demo_users(_user: RequireRole<DemoUser>) -> &'static str {
    "a demo user"
}

#[get("/partner-users")]
fn partner_users(_user: RequireRole<PartnerUser>) -> &'static str {
    "a partner user"
}

/// pat's access token through `partner-cli`.
async fn pats_token() -> String {
    let form = [
        ("grant_type", "password"),
        ("client_id", "partner-cli"),
        ("client_secret", "partner-cli-secret"),
        ("username", "pat"),
        ("password", "pat-password"),
    ];
    let response = token_request("partner", &form, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "partner password grant: {status} {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn tokens_of_demo_and_partner_pass_and_roles_stay_in_their_realm() {
    let _realm = serial().await;
    let issuers = json!({"issuers": [REALM_ISSUER, PARTNER_ISSUER]});
    let rocket = rocket_keycloak_demo::rocket_with(figment(issuers))
        .mount("/", routes![demo_users, partner_users]);
    let app = Client::tracked(rocket).await.unwrap();
    let ready: Value = app.get("/ready").dispatch().await.into_json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(ready.get("realms_without_keys").is_none(), "both realms have keys: {ready}");
    let alice = user_token("alice", "alice-password").await;
    let pat = pats_token().await;
    assert_eq!(jwt_part(&pat, 1)["iss"], PARTNER_ISSUER);
    let get = |path: &'static str, token: &str| {
        app.get(path).header(Header::new("Authorization", format!("Bearer {token}"))).dispatch()
    };
    assert_eq!(get("/secure-data", &alice).await.status(), Status::Ok);
    assert_eq!(get("/secure-data", &pat).await.status(), Status::Ok);
    let me: Value = get("/me", &pat).await.into_json().await.unwrap();
    assert_eq!(me["issuer"], PARTNER_ISSUER);
    assert!(me["realm_roles"].as_array().unwrap().contains(&json!("user")), "{me}");
    // Both hold a realm role `user`, each in its own realm.
    assert_eq!(get("/demo-users", &alice).await.status(), Status::Ok);
    assert_eq!(get("/demo-users", &pat).await.status(), Status::Forbidden);
    assert_eq!(get("/partner-users", &pat).await.status(), Status::Ok);
    assert_eq!(get("/partner-users", &alice).await.status(), Status::Forbidden);
}
