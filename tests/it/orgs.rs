//! Keycloak Organizations on the demo's `/orgs/<alias>/data`, against the in-process IdP:
//! both of Keycloak's claim forms open the member's organization and no other; a token
//! without the claim gets the 403 that says to ask for the scope; a claim of any other shape
//! refuses the whole token (401 `invalid_token`, on every route); an organization of another
//! realm is not the sign-in realm's. Real Keycloak: `keycloak/orgs.rs`.

use rocket::http::Status;
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket_keycloak::MAX_ORGANIZATIONS;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint};
use serde_json::{Value, json};

use crate::{assert_invalid_token, get_with_token, idp_and_app, spawn_app_with, www_authenticate};

/// A token of `username` whose `organization` claim is `claim` (none when `Value::Null`).
fn member_token(idp: &Idp, key: &TestKey, username: &str, claim: Value) -> String {
    let mut claims = access_claims(idp, username, &["user"]);
    if !claim.is_null() {
        claims["organization"] = claim;
    }
    mint(key, &claims)
}

/// Asserts a 403 `insufficient_scope` whose description is `description`, in the header and
/// the body alike.
async fn assert_refused(response: LocalResponse<'_>, description: &str) {
    assert_eq!(response.status(), Status::Forbidden);
    let header = www_authenticate(&response);
    assert!(header.starts_with("Bearer realm=\""), "{header}");
    let expected = format!("error=\"insufficient_scope\", error_description=\"{description}\"");
    assert!(header.contains(&expected), "{header}");
    let body: Value = response.into_json().await.expect("json body");
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["error_description"], description);
}

async fn data(app: &Client, alias: &str, token: &str) -> (Status, Value) {
    let response = get_with_token(app, &format!("/orgs/{alias}/data"), token).await;
    let status = response.status();
    (status, response.into_json().await.unwrap_or(Value::Null))
}

#[rocket::async_test]
async fn alice_opens_her_organization_and_gets_403_on_another() {
    let (idp, key, app) = idp_and_app().await;
    let alice = member_token(&idp, &key, "alice", json!(["acme"]));
    let (status, body) = data(&app, "acme", &alice).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["organization"], "acme");
    assert_eq!(body["member"], "alice");
    let response = get_with_token(&app, "/orgs/globex/data", &alice).await;
    assert_refused(response, "Membership in the organization globex is required").await;
    // The path is decoded as the handler sees it: `ac%6De` is `acme`; case counts.
    assert_eq!(data(&app, "ac%6De", &alice).await.0, Status::Ok);
    assert_eq!(data(&app, "ACME", &alice).await.0, Status::Forbidden);
    // The identity shows the memberships.
    let me: Value = get_with_token(&app, "/me", &alice).await.into_json().await.unwrap();
    assert_eq!(me["organizations"], json!([{"alias": "acme"}]));
}

#[rocket::async_test]
async fn both_claim_forms_open_the_members_organizations() {
    let (idp, key, app) = idp_and_app().await;
    // Keycloak's map form, with addOrganizationId and addOrganizationAttributes.
    let map = json!({
        "acme": {"id": "66e53a9d", "tier": ["gold"]},
        "globex": {"id": ["an attribute named id"]},
        "initech": {}
    });
    let token = member_token(&idp, &key, "multi", map);
    let (status, body) = data(&app, "acme", &token).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["organization_id"], "66e53a9d");
    let (status, body) = data(&app, "globex", &token).await;
    assert_eq!((status, &body["organization_id"]), (Status::Ok, &Value::Null));
    assert_eq!(data(&app, "initech", &token).await.0, Status::Ok);
    assert_eq!(data(&app, "hooli", &token).await.0, Status::Forbidden);
    // The list form with several aliases (`organization:*`).
    let token = member_token(&idp, &key, "multi", json!(["globex", "acme"]));
    assert_eq!(data(&app, "acme", &token).await.0, Status::Ok);
    assert_eq!(data(&app, "globex", &token).await.0, Status::Ok);
}

#[rocket::async_test]
async fn a_token_without_the_organization_claim_gets_403_saying_to_request_the_scope() {
    let (idp, key, app) = idp_and_app().await;
    let token = member_token(&idp, &key, "alice", Value::Null);
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    let response = get_with_token(&app, "/orgs/acme/data", &token).await;
    let description = "The token has no organization claim: request the organization scope";
    assert_refused(response, description).await;
    // A claim with no organization in it is a member of none, not a missing scope.
    let token = member_token(&idp, &key, "alice", json!([]));
    let response = get_with_token(&app, "/orgs/acme/data", &token).await;
    assert_refused(response, "Membership in the organization acme is required").await;
}

#[rocket::async_test]
async fn an_organization_claim_of_the_wrong_shape_refuses_the_whole_token() {
    let (idp, key, app) = idp_and_app().await;
    let many: Vec<String> = (0..=MAX_ORGANIZATIONS).map(|n| format!("org{n}")).collect();
    let cases = [
        ("a string", json!("acme")),
        ("a number", json!(42)),
        ("a boolean", json!(true)),
        ("numbers", json!([1, 2, 3])),
        ("the member's alias, then a number", json!(["acme", 7])),
        ("nested lists", json!([["acme"]])),
        ("objects in the list", json!([{"alias": "acme"}])),
        ("an alias twice", json!(["acme", "acme"])),
        ("an empty alias", json!([""])),
        ("an alias past 255 characters", json!(["a".repeat(256)])),
        ("a control character in an alias", json!(["acme\u{0}"])),
        ("more than the maximum of organizations", json!(many)),
        ("a map to a string", json!({"acme": "member"})),
        ("an id that is a number", json!({"acme": {"id": 1}})),
        ("an attribute that is a string", json!({"acme": {"tier": "gold"}})),
        ("nested junk in an attribute", json!({"acme": {"tier": [{"a": {"b": []}}]}})),
    ];
    for (name, claim) in cases {
        let token = member_token(&idp, &key, "mallory", claim);
        for path in ["/orgs/acme/data", "/secure-data"] {
            let response = get_with_token(&app, path, &token).await;
            assert_eq!(response.status(), Status::Unauthorized, "{name} at {path}");
            assert_invalid_token(response).await;
        }
    }
    // `null` is no list either (a claim present with no value).
    let mut claims = access_claims(&idp, "mallory", &["user"]);
    claims["organization"] = Value::Null;
    assert_invalid_token(get_with_token(&app, "/orgs/acme/data", &mint(&key, &claims)).await).await;
}

#[rocket::async_test]
async fn an_alias_no_token_could_carry_is_refused_without_being_echoed() {
    let (idp, key, app) = idp_and_app().await;
    let token = member_token(&idp, &key, "alice", json!(["acme"]));
    let long = "x".repeat(300);
    let response = get_with_token(&app, &format!("/orgs/{long}/data"), &token).await;
    assert_refused(response, "Membership in the organization is required").await;
    let response = get_with_token(&app, "/orgs/ac%0Ame/data", &token).await;
    assert_refused(response, "Membership in the organization is required").await;
}

#[rocket::async_test]
async fn an_organization_of_another_realm_is_not_the_sign_in_realms() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let app = spawn_app_with(&main, json!({"issuers": [main.issuer(), partner.issuer()]})).await;
    // The partner realm's administrator made an `acme` of their own and put pat in it.
    let pat = member_token(&partner, &partner_key, "pat", json!(["acme"]));
    assert_eq!(get_with_token(&app, "/secure-data", &pat).await.status(), Status::Ok);
    let response = get_with_token(&app, "/orgs/acme/data", &pat).await;
    assert_refused(response, "Membership in the organization acme is required").await;
    let alice = member_token(&main, &main_key, "alice", json!(["acme"]));
    assert_eq!(data(&app, "acme", &alice).await.0, Status::Ok);
}
