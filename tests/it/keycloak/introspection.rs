//! Lightweight access tokens of the real Keycloak (client `demo-light`), checked by
//! introspection with the app's own client (`demo-app`): roles, revocation, single flight.

use std::time::Duration;

use reqwest::Method;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{Value, json};

use super::{admin, jwt_part, local_app, password_grant, serial};
use crate::{eventually, get_with_token, join_all};

/// A lightweight access token of `user` from `demo-light`.
async fn light_token(user: &str, password: &str) -> String {
    let body = password_grant("demo-light", "demo-light-secret", user, password).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_part(&token, 1);
    assert!(claims.get("sub").is_none() && claims.get("realm_access").is_none(), "{claims}");
    assert_eq!(claims["aud"], "demo-app", "the audience mapper is marked lightweight.claim");
    token
}

async fn status(app: &Client, path: &str, token: &str) -> Status {
    get_with_token(app, path, token).await.status()
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn a_lightweight_token_from_demo_light_gets_200_on_secure_data_only_with_introspection() {
    let _realm = serial().await;
    let token = light_token("alice", "alice-password").await;
    let off = local_app(json!({})).await;
    assert_eq!(status(&off, "/secure-data", &token).await, Status::Unauthorized);
    let app = local_app(json!({"introspection": "fallback"})).await;
    assert_eq!(status(&app, "/secure-data", &token).await, Status::Ok);
    let me: Value = get_with_token(&app, "/me", &token).await.into_json().await.unwrap();
    assert_eq!(me["preferred_username"], "alice");
    assert!(me["realm_roles"].as_array().unwrap().contains(&json!("user")), "{me}");
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn admin_users_lightweight_token_opens_admin_data_and_alices_and_carols_do_not() {
    let _realm = serial().await;
    let app = local_app(json!({"introspection": "fallback"})).await;
    let admin_user = light_token("admin-user", "admin-password").await;
    assert_eq!(status(&app, "/admin-data", &admin_user).await, Status::Ok);
    let alice = light_token("alice", "alice-password").await;
    assert_eq!(status(&app, "/admin-data", &alice).await, Status::Forbidden);
    // Carol's `admin` is a client role of demo-app: it never passes for the realm role.
    let carol = light_token("carol", "carol-password").await;
    assert_eq!(status(&app, "/admin-data", &carol).await, Status::Forbidden);
    let me: Value = get_with_token(&app, "/me", &carol).await.into_json().await.unwrap();
    assert_eq!(me["client_roles"]["demo-app"], json!(["admin"]), "{me}");
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn a_lightweight_token_is_refused_within_the_cache_age_after_an_admin_signs_the_user_out() {
    let _realm = serial().await;
    let app = local_app(json!({"introspection": "always", "introspection_cache_max_age": 2})).await;
    let token = light_token("carol", "carol-password").await;
    let me: Value = get_with_token(&app, "/me", &token).await.into_json().await.unwrap();
    let sub = me["sub"].as_str().expect("sub from introspection").to_owned();
    let signed_out = admin(Method::POST, &format!("/users/{sub}/logout"), None).await;
    assert!(signed_out.status().is_success(), "{}", signed_out.status());
    let refused = eventually(Duration::from_secs(6), || async {
        status(&app, "/secure-data", &token).await == Status::Unauthorized
    })
    .await;
    assert!(refused, "a signed-out user's token still passes after the cache age");
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn concurrent_requests_with_one_new_lightweight_token_cause_one_introspection_call() {
    let _realm = serial().await;
    // Keycloak's own record of introspections is the outside witness.
    let config: Value = admin(Method::GET, "/events/config", None).await.json().await.unwrap();
    let mut counting = config.clone();
    counting["enabledEventTypes"].as_array_mut().unwrap().push(json!("INTROSPECT_TOKEN"));
    admin(Method::PUT, "/events/config", Some(counting)).await;
    let app = local_app(json!({"introspection": "fallback"})).await;
    let token = light_token("alice", "alice-password").await;
    let jti = jwt_part(&token, 1)["jti"].clone();
    let statuses = join_all((0..20).map(|_| status(&app, "/secure-data", &token))).await;
    let events: Vec<Value> =
        admin(Method::GET, "/events?type=INTROSPECT_TOKEN&client=demo-app&max=1000", None)
            .await
            .json()
            .await
            .unwrap();
    admin(Method::PUT, "/events/config", Some(config)).await;
    assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
    let calls = events.iter().filter(|e| e["details"]["token_id"] == jti).count();
    assert_eq!(calls, 1, "twenty requests, one introspection of the token");
}
