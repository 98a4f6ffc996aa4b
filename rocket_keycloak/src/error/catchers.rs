//! The catchers: each answers a status the guards produce with the [`AuthError`] they
//! recorded, or a generic one of that status when no guard recorded one (a route's own
//! `Status::Unauthorized`, say).
//!
//! Decisions:
//! - [`catchers()`] holds only the statuses the guards produce, so an app keeps its own 404
//!   and 500; [`default_catchers()`] adds those two for apps without any.
//! - A page's 401 becomes a redirect to the sign-in route only when the app mounted one
//!   ([`LoginPage`]); a 401 of an API call never does.

use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{Catcher, Request, Responder, catch, catchers};

use super::auth_error::AuthError;
use super::challenge::AuthPage;
use super::refusal::Refusal;
use crate::assurance::Assurance;
use crate::pages::{ErrorPage, wants_html};

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

fn caught(request: &Request<'_>, fallback: AuthError) -> Caught {
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
        return Caught::Page(AuthPage(error));
    }
    Caught::Auth(error)
}

#[catch(400)]
fn bad_request(request: &Request<'_>) -> Caught {
    caught(request, AuthError::InvalidRequest("The request is malformed"))
}

#[catch(401)]
fn unauthorized(request: &Request<'_>) -> Caught {
    caught(request, AuthError::MissingCredentials)
}

#[catch(403)]
fn forbidden(request: &Request<'_>) -> Caught {
    caught(request, AuthError::InsufficientScope(None))
}

#[catch(503)]
fn unavailable(request: &Request<'_>) -> Caught {
    caught(request, AuthError::Unavailable)
}

#[catch(404)]
fn not_found() -> ErrorPage {
    ErrorPage::new(Status::NotFound, "There is nothing here.")
}

#[catch(500)]
fn server_error() -> ErrorPage {
    ErrorPage::new(Status::InternalServerError, "Something went wrong on our side.")
}
