//! The catchers: each answers a status the guards produce with the [`AuthError`] they
//! recorded, or a generic one of that status when no guard recorded one (a route's own
//! `Status::Unauthorized`, say).
//!
//! Decisions:
//! - [`catchers()`] holds only the statuses the guards produce, so an app keeps its own 404
//!   and 500; [`default_catchers()`] adds those two for apps without any.
//! - A page's 401 becomes a redirect to the sign-in route only when the app mounted one
//!   ([`LoginPage`]); a 401 of an API call never does.
//! - **A 403 or 404 page knows who is signed in** ([`SignedIn`]): a browser's request that
//!   carries a session cookie or an `Authorization` header is authenticated as a page would
//!   be (a 403 has done so already: the result is cached), so the page shows the user and a
//!   log-out control, not "Log in". A request that carries neither costs nothing more, and
//!   counts as no sign-in attempt.
//! - This module sits above the guards (it asks them who is signed in) and the HTTP
//!   boundary (`error/`), which sit below it and never name it.

use rocket::http::Status;
use rocket::request::Outcome;
use rocket::response::Redirect;
use rocket::{Catcher, Request, Responder, catch, catchers};

use crate::assurance::Assurance;
use crate::error::{AuthError, AuthPage, Refusal};
use crate::guards::MaybeUser;
use crate::pages::{ErrorPage, SignedIn, wants_html};

/// What a catcher answers: the RFC 6750 error, an HTML page, or a redirect to sign-in.
#[derive(Responder)]
#[allow(clippy::large_enum_variant)] // built once per failed request
enum Caught {
    Auth(AuthError),
    Page(AuthPage),
    Login(Redirect),
}

/// The catchers that render guard failures: 400, 401, 403 and 503 (RFC 6750 for API
/// clients, an HTML page for browsers, a redirect to the sign-in for pages that need a
/// signed-in user). Register them at `/`; they leave 404 and 500 to the app, so an app's
/// own `#[catch(404)]` registers beside them:
///
/// ```no_run
/// # use rocket::{catch, catchers, launch};
/// #[catch(404)]
/// fn not_found() -> &'static str {
///     "nothing here"
/// }
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(rocket_keycloak::OidcFairing)
///         .register("/", rocket_keycloak::catchers())
///         .register("/", catchers![not_found])
/// }
/// ```
pub fn catchers() -> Vec<Catcher> {
    catchers![bad_request, unauthorized, forbidden, unavailable]
}

/// [`catchers()`] plus a 404 and a 500 in the same shape (an [`ErrorPage`]): for an app that
/// has no catchers of its own. Registering both this and an app's own 404 at `/` fails
/// launch with a collision; use [`catchers()`] then.
pub fn default_catchers() -> Vec<Catcher> {
    let mut all = catchers();
    all.extend(catchers![not_found, server_error]);
    all
}

/// The URI of the sign-in route for a `next` path, asking for a level of assurance.
type LoginUri = dyn Fn(&str, Option<&Assurance>) -> String + Send + Sync;

/// Where a browser goes to sign in: the URI of the sign-in route for a `next` path, asking
/// for a level of assurance when the page needs one. Managed by whatever mounts that route
/// (`SignIn`); absent in API-only apps, whose pages' 401 then stays a 401.
pub(crate) struct LoginPage(pub(crate) Box<LoginUri>);

fn caught(request: &Request<'_>, fallback: AuthError, signed_in: Option<SignedIn>) -> Caught {
    let refusal = Refusal::of(request);
    let error = refusal
        .error
        .get()
        .filter(|e| e.status() == fallback.status())
        .cloned()
        .unwrap_or(fallback);
    if error.status() == Status::Unauthorized
        && refusal.login_redirect.get().is_some()
        && let Some(LoginPage(login_uri)) = request.rocket().state::<LoginPage>()
    {
        return Caught::Login(Redirect::to(login_uri(
            &request.uri().to_string(),
            refusal.step_up.get(),
        )));
    }
    if wants_html(request) {
        return Caught::Page(AuthPage(error, signed_in));
    }
    Caught::Auth(error)
}

/// Who a browser's error page is shown to: the user of the session or token the request
/// carries, if it is valid. `None` at once for an API client, or a request with neither.
async fn signed_in(request: &Request<'_>) -> Option<SignedIn> {
    #[cfg(feature = "sign-in")]
    let session =
        request.cookies().iter().any(|c| c.name().ends_with(crate::session::SESSION_COOKIE));
    #[cfg(not(feature = "sign-in"))]
    let session = false;
    if !wants_html(request) || !(session || request.headers().contains("Authorization")) {
        return None;
    }
    match request.guard::<MaybeUser>().await {
        Outcome::Success(MaybeUser(Some(user))) => Some(SignedIn {
            user: user.identity_view(),
            csrf: user.csrf_token().map(str::to_owned),
        }),
        _ => None,
    }
}

#[catch(400)]
fn bad_request(request: &Request<'_>) -> Caught {
    caught(request, AuthError::InvalidRequest("The request is malformed"), None)
}

#[catch(401)]
fn unauthorized(request: &Request<'_>) -> Caught {
    caught(request, AuthError::MissingCredentials, None)
}

#[catch(403)]
async fn forbidden(request: &Request<'_>) -> Caught {
    let user = signed_in(request).await;
    caught(request, AuthError::InsufficientScope(None), user)
}

#[catch(503)]
fn unavailable(request: &Request<'_>) -> Caught {
    caught(request, AuthError::Unavailable, None)
}

#[catch(404)]
async fn not_found(request: &Request<'_>) -> ErrorPage {
    let user = signed_in(request).await;
    ErrorPage::new(Status::NotFound, "There is nothing here.").shown_to(user)
}

#[catch(500)]
fn server_error() -> ErrorPage {
    ErrorPage::new(Status::InternalServerError, "Something went wrong on our side.")
}
