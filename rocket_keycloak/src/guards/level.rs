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
//! - **A level belongs to a realm**, as a role does (`role.rs`): a marker names its realm
//!   with `Level::REALM`, the sign-in realm (the first of `oidc.issuers`) when it names none,
//!   and only a caller of that realm can meet it, by that realm's levels. A partner realm's
//!   administrator can map `acr` to `gold` for anyone; that `gold` opens nothing the
//!   sign-in realm's `gold` guards. Such a caller gets the same RFC 9470 answer as one whose
//!   level is too low: the `acr_values` are those of the realm the route trusts.
//! - **A level missing from its realm's list** (`oidc.acr_levels`, or the `acr_levels` of
//!   the realm's `oidc.issuers` entry), or a marker naming a realm that is not configured,
//!   is a programming or configuration mistake: the guard refuses (never grants) and logs it
//!   at `error`, once per realm and level.
//! - **Browsers step up only to the sign-in realm's levels**: sessions all come from the
//!   sign-in realm, so a page marker naming another realm is met by that realm's bearer
//!   callers only, and a browser gets the refusal page, never a sign-in that could not
//!   help (and would loop).
//! - The checks themselves are pure and live in `assurance.rs`.

use std::marker::PhantomData;
use std::ops::Deref;

use rocket::Request;
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};

use super::user::{AuthenticatedUser, PageUser, caller, refuse};
use crate::assurance::{Assurance, Shortfall};
use crate::clock::unix_now;
use crate::config::{OidcConfig, RealmConfig};
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
///
/// /// `gold` as the `partner` realm's tokens carry it (its own `acr_levels`).
/// pub struct PartnerGold;
/// impl Level for PartnerGold {
///     const REALM: Option<&'static str> = Some("partner");
///     const ACR: &'static str = "gold";
/// }
/// ```
pub trait Level: Send + Sync + 'static {
    /// The realm whose authentications count, by name (`partner` for `.../realms/partner`);
    /// `None`: the sign-in realm. A caller of any other realm never meets the level.
    const REALM: Option<&'static str> = None;
    /// The lowest acceptable `acr` value; it must be listed in the realm's levels
    /// (`oidc.acr_levels` for the sign-in realm).
    const ACR: &'static str;
    /// The oldest acceptable authentication, in seconds (`auth_time`); `None`: any age.
    const MAX_AGE: Option<u64> = None;
}

fn requirement<L: Level>() -> Assurance {
    Assurance { acr: L::ACR.to_owned(), max_age: L::MAX_AGE }
}

/// The realm whose levels `L` asks for, if it is configured (else logged once).
fn realm_of<L: Level>(config: &OidcConfig) -> Option<&RealmConfig> {
    let Some(name) = L::REALM else { return config.realms.first() };
    let realm = config.realms.iter().find(|realm| realm.name() == name);
    if realm.is_none() {
        logging::error_once("level realm", name, || {
            format!(
                "a route requires a level of assurance of the realm `{name}`, which \
                 oidc.issuers does not list: every request to it is refused"
            )
        });
    }
    realm
}

/// Whether the sign-in can bring a browser to level `L`: only for the sign-in realm's.
fn via_sign_in<L: Level>(request: &Request<'_>) -> bool {
    let sign_in_realm = request.rocket().state::<Oidc>().map(|oidc| oidc.config().realm());
    L::REALM.is_none() || L::REALM == sign_in_realm
}

/// Whether `user` meets level `L`; the error says what the next authentication must reach.
fn check<L: Level>(request: &Request<'_>, user: &Identity) -> Result<(), AuthError> {
    let required = requirement::<L>();
    let Some(oidc) = request.rocket().state::<Oidc>() else { return Err(AuthError::Unavailable) };
    let config = oidc.config();
    let Some(realm) = realm_of::<L>(config) else {
        return Err(AuthError::InsufficientUserAuthentication {
            required,
            shortfall: Shortfall::Level,
        });
    };
    let levels = &realm.acr_levels;
    if levels.rank(L::ACR).is_none() {
        // Once per realm and level: the realm's name is the topic.
        logging::error_once(L::REALM.unwrap_or("acr level"), L::ACR, || {
            let list = if realm.issuer == config.issuer {
                "oidc.acr_levels (OIDC_ACR_LEVELS)".to_owned()
            } else {
                format!("the acr_levels of the realm `{}` in oidc.issuers", realm.name())
            };
            format!(
                "a route requires the level of assurance `{}`, which {list} does not list \
                 ({:?}): every request to it is refused. Add it to the list, lowest level first.",
                L::ACR,
                levels.names()
            )
        });
    }
    // An identity without an issuer is a session stored before identities named one:
    // sessions come from the sign-in realm only.
    let issuer = if user.issuer.is_empty() { &config.issuer } else { &user.issuer };
    let in_realm = *issuer == realm.issuer;
    // Another realm's token is judged as one without `acr`: its administrator's word on the
    // level means nothing here (the safe default; see `assurance.rs`).
    let acr = user.acr.as_deref().filter(|_| in_realm);
    levels
        .check(&required, acr, user.auth_time, unix_now())
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
                if browser && status == Status::Unauthorized && via_sign_in::<L>(request) {
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
                if browser && via_sign_in::<L>(request) {
                    let refusal = Refusal::of(request);
                    refusal.redirect_to_login();
                    refusal.step_up_to(requirement::<L>);
                }
                refuse(request, error)
            }
        }
    }
}
