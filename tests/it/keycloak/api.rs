//! The API half against real Keycloak tokens: audience, roles, token kinds, rotation.

use std::time::Duration;

use reqwest::Method;
use rocket::http::Status;
use rocket_keycloak_testkit::now;
use serde_json::{Value, json};

use super::{admin, jwt_part, local_app, password_grant, serial, user_token};
use crate::{assert_invalid_token, eventually, get_with_token};

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn keycloak_token_reaches_secure_data() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let token = user_token("alice", "alice-password").await;
    let claims = jwt_part(&token, 1);
    assert_eq!(claims["typ"], "Bearer", "{claims}");
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_eq!(response.status(), Status::Ok);
    let me: Value = get_with_token(&app, "/me", &token).await.into_json().await.unwrap();
    assert_eq!(me["preferred_username"], "alice");
    assert!(me["realm_roles"].as_array().unwrap().contains(&json!("user")));
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn plain_user_is_forbidden_on_admin_data_and_admin_is_not() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let alice = user_token("alice", "alice-password").await;
    let response = get_with_token(&app, "/admin-data", &alice).await;
    assert_eq!(response.status(), Status::Forbidden);
    assert!(crate::www_authenticate(&response).contains("insufficient_scope"));
    let admin = user_token("admin-user", "admin-password").await;
    assert_eq!(get_with_token(&app, "/admin-data", &admin).await.status(), Status::Ok);
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn client_role_does_not_satisfy_the_realm_role() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let carol = user_token("carol", "carol-password").await;
    let claims = jwt_part(&carol, 1);
    assert_eq!(claims["resource_access"]["demo-app"]["roles"], json!(["admin"]), "{claims}");
    assert_eq!(get_with_token(&app, "/admin-data", &carol).await.status(), Status::Forbidden);
    let me: Value = get_with_token(&app, "/me", &carol).await.into_json().await.unwrap();
    assert_eq!(me["client_roles"]["demo-app"], json!(["admin"]));
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn id_and_refresh_tokens_are_refused_as_bearer_tokens() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let tokens = password_grant("demo-cli", "demo-cli-secret", "alice", "alice-password").await;
    let id_token = tokens["id_token"].as_str().expect("id token");
    assert_eq!(jwt_part(id_token, 1)["typ"], "ID");
    assert_invalid_token(get_with_token(&app, "/secure-data", id_token).await).await;
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    assert_invalid_token(get_with_token(&app, "/secure-data", refresh).await).await;
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn token_for_another_client_without_our_audience_is_refused() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let tokens = password_grant("other-app", "other-app-secret", "alice", "alice-password").await;
    let token = tokens["access_token"].as_str().unwrap();
    let aud = jwt_part(token, 1)["aud"].clone();
    assert!(!aud.to_string().contains("demo-app"), "{aud}");
    let response = get_with_token(&app, "/secure-data", token).await;
    assert!(crate::www_authenticate(&response).contains("not meant for this service"));
    assert_invalid_token(response).await;
}

/// The realm's key providers (components of type KeyProvider).
async fn key_providers() -> Vec<Value> {
    admin(Method::GET, "/components?type=org.keycloak.keys.KeyProvider", None)
        .await
        .json()
        .await
        .unwrap()
}

async fn set_enabled(component: &Value, enabled: bool) {
    let mut component = component.clone();
    component["config"]["enabled"] = json!([enabled.to_string()]);
    let id = component["id"].as_str().unwrap().to_owned();
    let response = admin(Method::PUT, &format!("/components/{id}"), Some(component)).await;
    assert!(response.status().is_success(), "PUT component: {}", response.status());
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn key_rotation_is_followed_without_restart() {
    let _realm = serial().await;
    let app = local_app(json!({"jwks_refresh_interval": 1, "jwks_min_refresh_interval": 0})).await;
    let old_token = user_token("alice", "alice-password").await;
    let old_kid = jwt_part(&old_token, 0)["kid"].as_str().unwrap().to_owned();
    assert_eq!(get_with_token(&app, "/secure-data", &old_token).await.status(), Status::Ok);

    // A new RSA key with a higher priority becomes the active signing key.
    let realm: Value = admin(Method::GET, "", None).await.json().await.unwrap();
    let name = format!("rotated-{}", now());
    let component = json!({
        "name": name,
        "providerId": "rsa-generated",
        "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": realm["id"],
        "config": {"priority": ["500"], "enabled": ["true"], "active": ["true"], "keySize": ["2048"], "algorithm": ["RS256"]}
    });
    let created = admin(Method::POST, "/components", Some(component)).await;
    assert_eq!(created.status().as_u16(), 201, "create key provider");
    let providers = key_providers().await;
    let new_provider = providers.iter().find(|p| p["name"] == name.as_str()).unwrap().clone();
    let old_provider =
        providers.iter().find(|p| p["name"] == "rsa-generated").expect("default rsa key").clone();

    let new_token = user_token("alice", "alice-password").await;
    let new_kid = jwt_part(&new_token, 0)["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid, "Keycloak signs with the new key");
    let accepted = get_with_token(&app, "/secure-data", &new_token).await.status();

    // Disable the old key: it leaves the JWKS, and the app drops it at the next refresh.
    set_enabled(&old_provider, false).await;
    let dropped = eventually(Duration::from_secs(10), || async {
        get_with_token(&app, "/secure-data", &old_token).await.status() == Status::Unauthorized
    })
    .await;
    let still_new = get_with_token(&app, "/secure-data", &new_token).await.status();

    // Restore the realm before asserting, so a failure leaves it usable.
    set_enabled(&old_provider, true).await;
    let id = new_provider["id"].as_str().unwrap();
    admin(Method::DELETE, &format!("/components/{id}"), None).await;

    assert_eq!(accepted, Status::Ok, "new kid accepted without restart");
    assert!(dropped, "token of the disabled key refused after the next refresh");
    assert_eq!(still_new, Status::Ok);
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn a_generic_client_finds_keycloak_from_a_401_through_the_resource_metadata() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    // What an OAuth client without configuration does (RFC 9728 §5): the 401 names the
    // metadata, the metadata names the authorization servers, each serves its discovery.
    let challenge = app.get("/secure-data").dispatch().await;
    let header = challenge.headers().get_one("WWW-Authenticate").unwrap().to_owned();
    let url = header.split("resource_metadata=\"").nth(1).unwrap().trim_end_matches('"');
    let path = url.strip_prefix("http://localhost:8000").expect("this app's URL");
    let metadata: Value = app.get(path.to_owned()).dispatch().await.into_json().await.unwrap();
    assert_eq!(metadata["resource"], "http://localhost:8000");
    let servers = metadata["authorization_servers"].as_array().unwrap();
    assert_eq!(servers[0], "http://localhost:8080/realms/demo", "the sign-in realm first");
    for server in servers {
        let server = server.as_str().unwrap();
        let discovery: Value = reqwest::get(format!("{server}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(discovery["issuer"], server, "Keycloak says it is that issuer");
        assert!(discovery["token_endpoint"].as_str().is_some_and(|t| t.starts_with(server)));
    }
    // And a token from there opens the API.
    let token = user_token("alice", "alice-password").await;
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
}
