//! JSON routes of the demo app: the guide's `/secure-data`, the step-up route
//! `/sensitive-data` (level `gold`), an admin-only route, `/me` (which shows the level of
//! assurance, `acr` and `auth_time`), and the liveness and readiness probes.
//!
//! Answers that carry who the caller is (`/me`, `/admin-data`) are [`NoStore`]: a shared
//! cache must never hand one user's identity to another.

use rocket::http::Status;
use rocket::serde::json::{Json, Value, json};
use rocket::{Route, State, get, routes};

use rocket_keycloak::Identity;
use rocket_keycloak::NoStore;
use rocket_keycloak::Oidc;
use rocket_keycloak::Sessions;
use rocket_keycloak::{AuthenticatedUser, Level, RequireAcr, RequireRole, Role, RoleKind};

/// The realm role `admin`.
pub struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
    const KIND: RoleKind = RoleKind::Realm;
}

/// The second factor (level `gold`), at any time: what `/sensitive-data` needs.
pub struct Gold;

impl Level for Gold {
    const ACR: &'static str = "gold";
}

/// The routes of this module.
pub fn routes() -> Vec<Route> {
    routes![secure_data, sensitive_data, admin_data, me, health, ready]
}

#[get("/secure-data")]
fn secure_data(_user: &AuthenticatedUser) -> Json<Value> {
    Json(json!({"data": "This is secured data."}))
}

#[get("/sensitive-data")]
fn sensitive_data(_user: RequireAcr<Gold>) -> Json<Value> {
    Json(json!({"data": "This is sensitive data."}))
}

#[get("/admin-data")]
fn admin_data(admin: RequireRole<Admin>) -> NoStore<Json<Value>> {
    NoStore(Json(json!({"data": "This is admin data.", "admin": admin.preferred_username})))
}

#[get("/me")]
fn me(user: &AuthenticatedUser) -> NoStore<Json<&Identity>> {
    NoStore(Json(user.identity()))
}

#[get("/health")]
fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the identity provider's keys are loaded. The session store's state is
/// reported (`"sessions"`) but does not make the app unready: bearer-token calls do not need
/// it, and every instance shares the same store, so taking instances out of the load
/// balancer would take the API down with it and help no browser.
#[get("/ready")]
async fn ready(oidc: &State<Oidc>, sessions: Option<&State<Sessions>>) -> (Status, Json<Value>) {
    let sessions = match sessions {
        None => "none",
        Some(sessions) => match sessions.ping().await {
            Ok(()) => "ok",
            Err(_) => "unavailable",
        },
    };
    if oidc.is_ready() {
        // Another realm without keys does not make the instance unready: its tokens get 503.
        let pending = oidc.realms_not_ready();
        let mut body = json!({"status": "ready", "sessions": sessions});
        if !pending.is_empty() {
            body["realms_without_keys"] = json!(pending);
        }
        (Status::Ok, Json(body))
    } else {
        let status = "waiting for the identity provider";
        (Status::ServiceUnavailable, Json(json!({"status": status, "sessions": sessions})))
    }
}
