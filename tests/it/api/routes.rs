//! What each API route answers and to whom: `/secure-data` and `/me` for a valid token,
//! `/admin-data` only for the realm role `admin`, `/health` always, and `no-store` on answers
//! that carry identity data.

use rocket::http::Status;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint, now};
use serde_json::{Value, json};

use crate::{assert_invalid_token, get_with_token, idp_and_app, spawn_app, www_authenticate};

#[rocket::async_test]
async fn valid_token_reaches_secure_data() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.into_json::<Value>().await.unwrap(),
        json!({"data": "This is secured data."})
    );
}

#[rocket::async_test]
async fn me_shows_the_identity_with_realm_and_client_roles_apart() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let me: Value = get_with_token(&app, "/me", &token).await.into_json().await.unwrap();
    assert_eq!(me["sub"], "sub-alice");
    assert_eq!(me["preferred_username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["realm_roles"], json!(["user"]));
    assert_eq!(me["client_roles"], json!({"account": ["view-profile"]}));
    assert_eq!(me["azp"], "demo-app");
    assert_eq!(me["sid"], "sid-alice");
    assert_eq!(me["scopes"], json!(["openid", "profile", "email"]));
    assert!(me["expires_at"].as_u64().unwrap() > now());
}

#[rocket::async_test]
async fn service_account_token_without_profile_claims_works() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "svc", &[]);
    for claim in
        ["email", "name", "preferred_username", "sid", "scope", "realm_access", "resource_access"]
    {
        claims.as_object_mut().unwrap().remove(claim);
    }
    let response = get_with_token(&app, "/me", &mint(&key, &claims)).await;
    assert_eq!(response.status(), Status::Ok);
    let me: Value = response.into_json().await.unwrap();
    assert_eq!(me["email"], Value::Null);
    assert_eq!(me["realm_roles"], json!([]));
}

#[rocket::async_test]
async fn plain_user_gets_403_insufficient_scope_on_admin_data() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/admin-data", &token).await;
    assert_eq!(response.status(), Status::Forbidden);
    let header = www_authenticate(&response);
    assert!(header.starts_with("Bearer realm=\"test\", error=\"insufficient_scope\""), "{header}");
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

#[rocket::async_test]
async fn admin_realm_role_reaches_admin_data() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "ada", &["user", "admin"]));
    assert_eq!(get_with_token(&app, "/admin-data", &token).await.status(), Status::Ok);
}

#[rocket::async_test]
async fn client_role_named_admin_does_not_satisfy_the_realm_role() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "carol", &["user"]);
    claims["resource_access"] = json!({"demo-app": {"roles": ["admin"]}});
    let response = get_with_token(&app, "/admin-data", &mint(&key, &claims)).await;
    assert_eq!(response.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn roles_claim_of_the_wrong_type_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "mallory", &[]);
    claims["realm_access"] = json!({"roles": "admin"});
    assert_invalid_token(get_with_token(&app, "/admin-data", &mint(&key, &claims)).await).await;
}

#[rocket::async_test]
async fn missing_token_on_admin_data_is_401_not_403() {
    let (_idp, _key, app) = idp_and_app().await;
    let response = app.get("/admin-data").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(www_authenticate(&response), "Bearer realm=\"test\"");
}

#[rocket::async_test]
async fn health_is_always_200() {
    let idp = Idp::start_down(&[&TestKey::rsa1()]).await;
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/health").dispatch().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn answers_with_identity_data_are_not_stored() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user", "admin"]));
    for path in ["/me", "/admin-data", "/notes"] {
        let response = get_with_token(&app, path, &token).await;
        assert_eq!(response.status(), Status::Ok, "{path}");
        assert_eq!(response.headers().get_one("Cache-Control"), Some("no-store"), "{path}");
    }
}
