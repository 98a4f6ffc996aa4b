//! Keycloak Organizations against the real Keycloak: alice (member of `acme`) and carol (of
//! `globex`) each open their own organization's `/orgs/<alias>/data` and get 403 on the
//! other's; a token without the `organization` scope gets the 403 that says to ask for it;
//! the map form (the mapper's `addOrganizationId`) opens the same routes.

use reqwest::Method;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::keycloak::token_request;
use serde_json::{Value, json};

use super::{admin, jwt_part, local_app, serial};
use crate::{get_with_token, www_authenticate};

/// `user`'s access token through `demo-cli`, asking for `scope`.
async fn token(user: &str, password: &str, scope: &str) -> String {
    let form = [
        ("grant_type", "password"),
        ("client_id", "demo-cli"),
        ("client_secret", "demo-cli-secret"),
        ("username", user),
        ("password", password),
        ("scope", scope),
    ];
    let response = token_request("demo", &form, None).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "password grant for {user} ({scope}): {status} {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The status of `/orgs/<alias>/data` and its challenge's description (empty on success).
async fn org_data(app: &Client, alias: &str, token: &str) -> (Status, String) {
    let response = get_with_token(app, &format!("/orgs/{alias}/data"), token).await;
    let header = www_authenticate(&response);
    if response.status() == Status::Forbidden {
        assert!(header.contains("error=\"insufficient_scope\""), "{header}");
    }
    let description = header.split("error_description=\"").nth(1).unwrap_or_default();
    // Up to the value's closing quote: other parameters (`resource_metadata`) may follow.
    (response.status(), description.split('"').next().unwrap_or_default().to_owned())
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn alice_and_carol_each_open_their_own_organization_and_get_403_on_the_other() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let alice = token("alice", "alice-password", "openid organization").await;
    assert_eq!(jwt_part(&alice, 1)["organization"], json!(["acme"]), "Keycloak's list form");
    assert_eq!(org_data(&app, "acme", &alice).await.0, Status::Ok);
    let refused = org_data(&app, "globex", &alice).await;
    let expected = "Membership in the organization globex is required";
    assert_eq!(refused, (Status::Forbidden, expected.to_owned()));
    let carol = token("carol", "carol-password", "openid organization").await;
    assert_eq!(jwt_part(&carol, 1)["organization"], json!(["globex"]));
    assert_eq!(org_data(&app, "globex", &carol).await.0, Status::Ok);
    assert_eq!(org_data(&app, "acme", &carol).await.0, Status::Forbidden);
    // A scope naming the organization gives the same claim.
    let alice = token("alice", "alice-password", "openid organization:acme").await;
    assert_eq!(org_data(&app, "acme", &alice).await.0, Status::Ok);
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn a_token_without_the_organization_scope_gets_403_saying_to_request_it() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let alice = token("alice", "alice-password", "openid").await;
    assert!(jwt_part(&alice, 1).get("organization").is_none(), "the scope is optional");
    assert_eq!(get_with_token(&app, "/secure-data", &alice).await.status(), Status::Ok);
    let expected = "The token has no organization claim: request the organization scope";
    assert_eq!(org_data(&app, "acme", &alice).await, (Status::Forbidden, expected.to_owned()));
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn the_map_form_with_organization_ids_opens_the_same_routes() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let scopes: Value = admin(Method::GET, "/client-scopes", None).await.json().await.unwrap();
    let scope = scopes.as_array().unwrap().iter().find(|s| s["name"] == "organization");
    let scope = scope.expect("the organization client scope")["id"].as_str().unwrap().to_owned();
    let mappers = format!("/client-scopes/{scope}/protocol-mappers/models");
    let found: Value = admin(Method::GET, &mappers, None).await.json().await.unwrap();
    let original = found[0].clone();
    let mapper = format!("{mappers}/{}", original["id"].as_str().unwrap());
    let mut with_ids = original.clone();
    with_ids["config"]["addOrganizationId"] = json!("true");
    let changed = admin(Method::PUT, &mapper, Some(with_ids)).await.status();
    // Taken before any assertion, so the realm is restored whatever the outcome.
    let alice = token("alice", "alice-password", "openid organization").await;
    let restored = admin(Method::PUT, &mapper, Some(original)).await.status();
    assert!(changed.is_success() && restored.is_success(), "{changed} {restored}");
    let orgs: Value = admin(Method::GET, "/organizations", None).await.json().await.unwrap();
    let acme = orgs.as_array().unwrap().iter().find(|o| o["alias"] == "acme").unwrap();
    let claim = &jwt_part(&alice, 1)["organization"];
    assert_eq!(claim, &json!({"acme": {"id": acme["id"]}}), "Keycloak's map form");
    let response = get_with_token(&app, "/orgs/acme/data", &alice).await;
    assert_eq!(response.status(), Status::Ok);
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["organization_id"], acme["id"]);
    assert_eq!(org_data(&app, "globex", &alice).await.0, Status::Forbidden);
}
