//! Step-up authentication: [`RequireAcr<L>`] for APIs and [`PageAcr<L>`] for HTML pages
//! hold a caller who authenticated at level `L::ACR` or higher (the order is
//! `oidc.acr_levels`), at most `L::MAX_AGE` seconds ago when the marker sets one.
//!
//! Decisions:
//! - **API callers** that fall short get `401` with `error="insufficient_user_authentication"`,
//!   `acr_values` and, when the age failed, `max_age` (RFC 9470 §3): the client asks Keycloak
//!   for a new token with those values.
//! - **Browsers** (a [`PageAcr`] request with no `Authorization` header) are sent through the
//!   sign-in again, with `acr_values` and `max_age`: Keycloak asks only for what is missing,
//!   the callback checks that the new ID token meets the requirement, and the browser lands
//!   back on the page. A visitor who is not signed in at all goes the same way, so one
//!   sign-in reaches the level. A bearer caller on a page route gets the API answer.
//! - **A level missing from `oidc.acr_levels`** in a marker is a programming or configuration
//!   mistake: the guard refuses (never grants) and logs it at `error`, once per level.
//! - The checks themselves are pure and live in `assurance.rs`.

use std::marker::PhantomData;
use std::ops::Deref;

use rocket::Request;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};

use super::user::{AuthenticatedUser, PageUser, caller, refuse};
use crate::assurance::Assurance;
use crate::clock::unix_now;
use crate::error::{AuthError, Refusal};
use crate::identity::Identity;
use crate::logging;
use crate::oidc::Oidc;

/// A level-of-assurance marker for [`RequireAcr`] and [`PageAcr`].
///
/// ```
/// use rocket_keycloak::Level;
///
/// /// The second factor, at any time in the session.
/// pub struct Gold;
/// impl Level for Gold {
///     const ACR: &'static str = "gold";
/// }
///
/// /// The second factor within the last five minutes.
/// pub struct RecentGold;
/// impl Level for RecentGold {
///     const ACR: &'static str = "gold";
///     const MAX_AGE: Option<u64> = Some(300);
/// }
/// ```
pub trait Level: Send + Sync + 'static {
    /// The lowest acceptable `acr` value; it must be listed in `oidc.acr_levels`.
    const ACR: &'static str;
    /// The oldest acceptable authentication, in seconds (`auth_time`); `None`: any age.
    const MAX_AGE: Option<u64> = None;
}

fn requirement<L: Level>() -> Assurance {
    Assurance { acr: L::ACR.to_owned(), max_age: L::MAX_AGE }
}

/// Whether `user` meets level `L`; the error says what the next authentication must reach.
fn check<L: Level>(request: &Request<'_>, user: &Identity) -> Result<(), AuthError> {
    let required = requirement::<L>();
    let levels = request.rocket().state::<Oidc>().map(|o| &o.config().acr_levels);
    let Some(levels) = levels else { return Err(AuthError::Unavailable) };
    if levels.rank(L::ACR).is_none() {
        logging::error_once("acr level", L::ACR, || {
            format!(
                "a route requires the level of assurance `{}`, which oidc.acr_levels \
                 (OIDC_ACR_LEVELS) does not list ({:?}): every request to it is refused. Add it \
                 to the list, lowest level first.",
                L::ACR,
                levels.names()
            )
        });
    }
    levels
        .check(&required, user.acr.as_deref(), user.auth_time, unix_now())
        .map_err(|shortfall| AuthError::InsufficientUserAuthentication { required, shortfall })
}

/// A caller authenticated at level `L` or higher. Dereferences to [`Identity`].
///
/// ```
/// # use rocket::get;
/// # use rocket_keycloak::{Level, RequireAcr};
/// # pub struct Gold;
/// # impl Level for Gold { const ACR: &'static str = "gold"; }
/// #[get("/transfer")]
/// fn transfer(user: RequireAcr<Gold>) -> String {
///     format!("{} may move money", user.sub)
/// }
/// ```
#[derive(Debug)]
pub struct RequireAcr<L: Level> {
    user: AuthenticatedUser,
    level: PhantomData<fn() -> L>,
}

impl<L: Level> RequireAcr<L> {
    /// The user.
    pub fn user(&self) -> &AuthenticatedUser {
        &self.user
    }
}

impl<L: Level> Deref for RequireAcr<L> {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r, L: Level> FromRequest<'r> for RequireAcr<L> {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let user = match caller(request).await {
            Ok(user) => user,
            Err(outcome) => return outcome,
        };
        match check::<L>(request, &user) {
            Ok(()) => Outcome::Success(Self { user, level: PhantomData }),
            Err(error) => refuse(request, error),
        }
    }
}

/// A signed-in user on an HTML page, authenticated at level `L` or higher. A browser that
/// falls short (or is not signed in) is sent through the sign-in with the level it needs
/// and comes back here. Dereferences to [`Identity`]; [`PageAcr::page_user`] for templates.
#[derive(Debug)]
pub struct PageAcr<L: Level> {
    user: PageUser,
    level: PhantomData<fn() -> L>,
}

impl<L: Level> PageAcr<L> {
    /// The page user (identity and the session's CSRF token for forms).
    pub fn page_user(&self) -> &PageUser {
        &self.user
    }
}

impl<L: Level> Deref for PageAcr<L> {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r, L: Level> FromRequest<'r> for PageAcr<L> {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let browser = !request.headers().contains("Authorization");
        let user = match PageUser::from_request(request).await {
            Outcome::Success(user) => user,
            Outcome::Error((status, error)) => {
                if browser && status == Status::Unauthorized {
                    // Not signed in: one sign-in at the level this page needs.
                    Refusal::of(request).step_up_to(requirement::<L>);
                }
                return Outcome::Error((status, error));
            }
            Outcome::Forward(s) => return Outcome::Forward(s),
        };
        match check::<L>(request, &user) {
            Ok(()) => Outcome::Success(Self { user, level: PhantomData }),
            Err(error) => {
                if browser {
                    let refusal = Refusal::of(request);
                    refusal.redirect_to_login();
                    refusal.step_up_to(requirement::<L>);
                }
                refuse(request, error)
            }
        }
    }
}
