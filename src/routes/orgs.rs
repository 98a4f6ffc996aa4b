//! Keycloak Organizations in the demo: `/orgs/<alias>/data`, the data of one organization,
//! for its members only.
//!
//! The guard [`OrgMember`] reads the alias from the path and checks it against the token's
//! `organization` claim (the sign-in realm's organizations): alice (in `acme`) gets
//! `/orgs/acme/data` and a 403 on `/orgs/globex/data`. A token without the claim gets a 403
//! that says to ask for the `organization` scope (`scope=openid organization`).
//!
//! The answer names who asked, so it is [`NoStore`].

use rocket::serde::json::{Json, Value, json};
use rocket::{Route, get, routes};

use rocket_keycloak::{NoStore, OrgMember};

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    routes![org_data]
}

#[get("/orgs/<alias>/data")]
fn org_data(alias: &str, member: OrgMember) -> NoStore<Json<Value>> {
    NoStore(Json(json!({
        "organization": alias,
        "organization_id": member.membership().id,
        "member": member.preferred_username,
        "data": format!("This is {alias}'s data."),
    })))
}
