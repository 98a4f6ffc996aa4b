//! The organization guards in an app of their own (no demo): `RequireOrganization<O>` with a
//! marker, and `OrgMember` reading `<alias>` wherever the route has it.
#![allow(missing_docs)]

use rocket::http::Status;
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::{get, routes};
use rocket_keycloak::{OidcFairing, OrgMember, Organization, RequireOrganization};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, figment_for, get_with_token, mint};
use serde_json::{Value, json};

struct Acme;
impl Organization for Acme {
    const ALIAS: &'static str = "acme";
}

/// A marker naming a realm the app does not accept.
struct NowhereAcme;
impl Organization for NowhereAcme {
    const REALM: Option<&'static str> = Some("nowhere");
    const ALIAS: &'static str = "acme";
}

#[get("/acme")]
fn acme(member: RequireOrganization<Acme>) -> String {
    format!("{} {:?}", member.membership().alias, member.membership().id)
}

#[get("/nowhere")]
fn nowhere(_member: RequireOrganization<NowhereAcme>) -> &'static str {
    "never"
}

#[get("/teams/<team>/<alias>/reports")]
fn reports(team: &str, alias: &str, member: OrgMember) -> String {
    format!("{team} {alias} {}", member.membership().alias)
}

#[get("/no-alias/<org>")]
fn no_alias(org: &str, _member: OrgMember) -> String {
    org.to_owned()
}

async fn app(idp: &Idp) -> Client {
    let rocket = rocket::custom(figment_for(idp, json!({})))
        .attach(OidcFairing)
        .register("/", rocket_keycloak::catchers())
        .mount("/", routes![acme, nowhere, no_alias])
        .mount("/api", routes![reports]);
    Client::tracked(rocket).await.unwrap()
}

fn token(idp: &Idp, key: &TestKey, organization: Option<Value>) -> String {
    let mut claims = access_claims(idp, "alice", &["user"]);
    if let Some(organization) = organization {
        claims["organization"] = organization;
    }
    mint(key, &claims)
}

/// The `error_description` of a 403 `insufficient_scope` challenge.
fn description(response: &LocalResponse<'_>) -> String {
    assert_eq!(response.status(), Status::Forbidden);
    let header = response.headers().get_one("WWW-Authenticate").unwrap_or_default();
    assert!(header.contains("error=\"insufficient_scope\""), "{header}");
    let description = header.split("error_description=\"").nth(1).unwrap_or_default();
    description.split('"').next().unwrap_or_default().into()
}

#[rocket::async_test]
async fn require_organization_admits_the_markers_members_only() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app(&idp).await;
    let member = token(&idp, &key, Some(json!({"acme": {"id": "66e5"}})));
    let response = get_with_token(&app, "/acme", &member).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), "acme Some(\"66e5\")");
    let stranger = token(&idp, &key, Some(json!(["globex"])));
    let response = get_with_token(&app, "/acme", &stranger).await;
    assert_eq!(description(&response), "Membership in the organization acme is required");
    let unscoped = token(&idp, &key, None);
    let response = get_with_token(&app, "/acme", &unscoped).await;
    assert_eq!(
        description(&response),
        "The token has no organization claim: request the organization scope"
    );
}

#[rocket::async_test]
async fn a_marker_naming_a_realm_the_app_does_not_accept_refuses_everyone() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app(&idp).await;
    let member = token(&idp, &key, Some(json!(["acme"])));
    let response = get_with_token(&app, "/nowhere", &member).await;
    assert_eq!(description(&response), "Membership in the organization acme is required");
}

#[rocket::async_test]
async fn org_member_finds_the_alias_segment_by_name_under_a_mount_point() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app(&idp).await;
    let member = token(&idp, &key, Some(json!(["acme"])));
    let response = get_with_token(&app, "/api/teams/globex/acme/reports", &member).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), "globex acme acme");
    // The other segment names `globex`, which alice is not in; `<alias>` is what counts.
    let response = get_with_token(&app, "/api/teams/acme/globex/reports", &member).await;
    assert_eq!(description(&response), "Membership in the organization globex is required");
}

#[rocket::async_test]
async fn org_member_on_a_route_without_an_alias_segment_refuses_and_never_answers_500() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = app(&idp).await;
    let member = token(&idp, &key, Some(json!(["acme"])));
    let response = get_with_token(&app, "/no-alias/acme", &member).await;
    assert_eq!(description(&response), "Membership in the organization is required");
}
