//! `/logout` (RP-initiated: the local session ends, then Keycloak's) and
//! `/backchannel-logout` (Keycloak tells the app a session ended).

use std::sync::Arc;

use rocket::form::{Form, FromForm};
use rocket::http::{CookieJar, Status};
use rocket::response::Redirect;
use rocket::serde::json::{Json, Value, json};
use rocket::{State, post};

use super::login::unavailable;
use super::paths::Paths;
use crate::oidc::{LogoutTarget, Oidc, VerifyError};
use crate::pages::{ErrorBody, ErrorPage};
use crate::security::{NoStore, constant_time_eq};
use crate::session::{self, SessionError, Sessions};
use crate::telemetry;

/// The logout form.
#[derive(FromForm)]
pub(super) struct LogoutForm<'r> {
    csrf: &'r str,
}

#[post("/logout", data = "<form>")]
pub(super) async fn logout(
    form: Form<LogoutForm<'_>>,
    oidc: &State<Oidc>,
    sessions: &State<Sessions>,
    paths: &State<Arc<Paths>>,
    cookies: &CookieJar<'_>,
) -> Result<Redirect, ErrorPage> {
    let home = paths.after_logout.clone();
    let secure = oidc.config().secure_cookies();
    let Some(id) = session::session_id(cookies, secure) else {
        return Ok(Redirect::to(home.clone()));
    };
    let stored = sessions.get(&id).await.map_err(|e| {
        log::warn!("logout: {e}");
        unavailable("Signing out is not available right now. Please try again in a moment.")
    })?;
    let Some(session) = stored else {
        session::clear_session_cookie(cookies, secure);
        return Ok(Redirect::to(home.clone()));
    };
    if !constant_time_eq(form.csrf.as_bytes(), session.csrf_token.as_bytes()) {
        log::warn!("logout without a valid CSRF token refused");
        return Err(ErrorPage::new(Status::Forbidden, "The logout request was not valid."));
    }
    sessions.end(&id).await.map_err(|e| {
        log::warn!("logout: {e}");
        unavailable("Signing out is not available right now. Please try again in a moment.")
    })?;
    telemetry::logout("rp");
    session::clear_session_cookie(cookies, secure);
    let config = oidc.config();
    let Some(end_session) = oidc.metadata().and_then(|m| m.end_session_endpoint.clone()) else {
        return Ok(Redirect::to(home.clone()));
    };
    let mut url = end_session;
    let mut query = url.query_pairs_mut();
    if let Some(id_token) = &session.id_token {
        query.append_pair("id_token_hint", id_token);
    }
    query
        .append_pair("post_logout_redirect_uri", &config.app_path(&home))
        .append_pair("client_id", &config.client_id);
    drop(query);
    Ok(Redirect::to(url.to_string()))
}

#[derive(FromForm)]
pub(super) struct BackchannelForm<'r> {
    logout_token: &'r str,
}

#[post("/backchannel-logout", data = "<form>")]
pub(super) async fn backchannel_logout(
    form: Option<Form<BackchannelForm<'_>>>,
    oidc: &State<Oidc>,
    sessions: &State<Sessions>,
) -> NoStore<Result<Json<Value>, (Status, Json<ErrorBody>)>> {
    NoStore(end_sessions_of_logout_token(form, oidc, sessions).await)
}

/// The back-channel logout itself. Refusals say what is wrong only in general terms: the
/// precise reason goes to the log at debug (the caller is Keycloak, and anyone else learns
/// nothing). Anyone can post here, so refusals are counted by reason for the periodic
/// summary and the metrics (`telemetry::backchannel_refused`), never a line each.
async fn end_sessions_of_logout_token(
    form: Option<Form<BackchannelForm<'_>>>,
    oidc: &Oidc,
    sessions: &Sessions,
) -> Result<Json<Value>, (Status, Json<ErrorBody>)> {
    let refuse = |public: &str, reason: &'static str, why: String| {
        log::debug!("back-channel logout refused: {why}");
        telemetry::backchannel_refused(reason);
        Err((Status::BadRequest, Json(ErrorBody::new("invalid_request", public))))
    };
    const INVALID: &str = "The logout token is not valid.";
    let Some(form) = form else {
        return refuse("The request has no logout_token.", "no_token", "no logout_token".into());
    };
    let logout = match oidc.validate_logout_token(form.logout_token).await {
        Ok(logout) => logout,
        Err(VerifyError::Rejected(e)) => return refuse(INVALID, e.reason(), format!("{e:?}")),
        Err(e) => {
            // Keys not loaded or the key not published yet: the token may be fine. A junk
            // token with a made-up `kid` lands here too, so it is counted, not logged (an
            // outage is logged once by the key store).
            log::debug!("back-channel logout not checked yet: {e}");
            telemetry::backchannel_refused("not_checked");
            let body = ErrorBody::new("temporarily_unavailable", "Try again later.");
            return Err((Status::ServiceUnavailable, Json(body)));
        }
    };
    let store_down = |e: SessionError| {
        log::warn!("back-channel logout not done: {e}");
        let body = ErrorBody::new("temporarily_unavailable", "The session store is not reachable");
        (Status::ServiceUnavailable, Json(body))
    };
    // The sessions end first, and the token is spent after: if the store fails between the
    // two, the answer is a 503 and Keycloak's retry ends them, where spending it first would
    // have refused that retry as a replay and left the sessions alive. A replay within the
    // token's lifetime ends that `sid`'s sessions again (none: Keycloak ended the SSO
    // session; a token that names only a `sub` would end that user's newer sessions), then
    // is refused. Keycloak puts the `sid` in every logout token unless told not to.
    let ended = match &logout.target {
        LogoutTarget::KeycloakSession(sid) => sessions.end_by_sid(sid).await,
        LogoutTarget::Subject(sub) => sessions.end_by_sub(sub).await,
    }
    .map_err(store_down)?;
    if !sessions
        .first_use_of_logout_token(&logout.jti, logout.accepted_until)
        .await
        .map_err(store_down)?
    {
        return refuse(INVALID, "replayed", "replayed logout token".into());
    }
    log::info!(
        "back-channel logout: sub {} {:?}: {ended} session(s) ended",
        logout.sub,
        logout.target
    );
    // Keycloak also sends a logout token to the app whose own logout started it; that one
    // ends nothing, and counting it would count every RP-initiated logout twice.
    if ended > 0 {
        telemetry::logout("backchannel");
    }
    Ok(Json(json!({"ended_sessions": ended})))
}
