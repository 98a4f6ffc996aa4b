//! Keycloak Organizations: [`RequireOrganization<O>`], a member of the organization named by
//! the marker type `O`, and [`OrgMember`], a member of the organization the route's `<alias>`
//! path segment names. Both ask for `&AuthenticatedUser` first (the credentials are verified
//! once per request), then read the memberships of the token's `organization` claim, which
//! were checked with the token (`identity/organizations.rs`: a claim of the wrong shape has
//! already refused it with 401 `invalid_token`).
//!
//! Decisions:
//! - **An organization belongs to a realm**, as a role does (`role.rs`): an alias is unique
//!   only within its realm, and the administrator of another accepted realm can create an
//!   `acme` of their own and put anyone in it. A marker names its realm with
//!   `Organization::REALM`; without one it is the sign-in realm's (the first of
//!   `oidc.issuers`), so the safe default is the realm the app signs in with. [`OrgMember`]
//!   counts only the sign-in realm's memberships: a path names no realm. A marker naming a
//!   realm that is not configured refuses everyone (logged once at `error`).
//! - **Refusals are 403 `insufficient_scope`** with the RFC 6750 challenge, never a forward
//!   or a 500: [`AuthError::NotAMember`] names the organization the route needs, and a token
//!   without the `organization` claim gets [`AuthError::NoOrganizationClaim`], which says to
//!   ask for the scope. A caller of another realm is told it is not a member.
//! - **[`OrgMember`] finds the alias by name**: the matched route's dynamic segment
//!   `<alias>`, wherever it is in the path, decoded as the handler receives it. A route
//!   without one is a programming mistake: every request to it is refused (logged once at
//!   `error`). An alias no token could carry (too long, control characters) is never a
//!   member and is not echoed in the answer.
//! - Aliases compare exactly, case included, as Keycloak writes them.

use std::marker::PhantomData;
use std::ops::Deref;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use super::role::in_marker_realm;
use super::user::{AuthenticatedUser, caller, refuse};
use crate::error::AuthError;
use crate::identity::{Identity, Membership, valid_alias};
use crate::logging;

/// The path segment [`OrgMember`] reads the organization's alias from.
const ALIAS_SEGMENT: &str = "<alias>";

/// An organization marker for [`RequireOrganization`].
///
/// ```
/// use rocket_keycloak::Organization;
///
/// /// The sign-in realm's organization `acme`.
/// pub struct Acme;
/// impl Organization for Acme {
///     const ALIAS: &'static str = "acme";
/// }
///
/// /// The `partner` realm's organization `acme`: another organization of the same alias.
/// pub struct PartnerAcme;
/// impl Organization for PartnerAcme {
///     const REALM: Option<&'static str> = Some("partner");
///     const ALIAS: &'static str = "acme";
/// }
/// ```
pub trait Organization: Send + Sync + 'static {
    /// The realm the organization belongs to, by name (`partner` for `.../realms/partner`);
    /// `None`: the sign-in realm. A caller of any other realm is never its member.
    const REALM: Option<&'static str> = None;
    /// The organization's alias in Keycloak.
    const ALIAS: &'static str;
}

/// An authenticated member of organization `O`. Dereferences to [`Identity`].
///
/// ```
/// # use rocket::get;
/// # use rocket_keycloak::{Organization, RequireOrganization};
/// # pub struct Acme;
/// # impl Organization for Acme { const ALIAS: &'static str = "acme"; }
/// #[get("/acme/reports")]
/// fn reports(member: RequireOrganization<Acme>) -> String {
///     format!("{} of {}", member.sub, member.membership().alias)
/// }
/// ```
#[derive(Debug)]
pub struct RequireOrganization<O: Organization> {
    user: AuthenticatedUser,
    membership: Membership,
    organization: PhantomData<fn() -> O>,
}

impl<O: Organization> RequireOrganization<O> {
    /// The user.
    pub fn user(&self) -> &AuthenticatedUser {
        &self.user
    }

    /// The membership, as the token names it (alias, and id when the mapper adds it).
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
}

impl<O: Organization> Deref for RequireOrganization<O> {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r, O: Organization> FromRequest<'r> for RequireOrganization<O> {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let user = match caller(request).await {
            Ok(user) => user,
            Err(outcome) => return outcome,
        };
        match membership(request, &user, O::REALM, O::ALIAS) {
            Ok(membership) => {
                Outcome::Success(Self { user, membership, organization: PhantomData })
            }
            Err(error) => refuse(request, error),
        }
    }
}

/// An authenticated member of the sign-in realm's organization whose alias is the route's
/// `<alias>` path segment. Dereferences to [`Identity`].
///
/// ```
/// # use rocket::get;
/// # use rocket_keycloak::OrgMember;
/// #[get("/orgs/<alias>/data")]
/// fn data(alias: &str, member: OrgMember) -> String {
///     format!("{}'s data, for {}", alias, member.sub)
/// }
/// ```
#[derive(Debug)]
pub struct OrgMember {
    user: AuthenticatedUser,
    membership: Membership,
}

impl OrgMember {
    /// The user.
    pub fn user(&self) -> &AuthenticatedUser {
        &self.user
    }

    /// The membership of the path's organization, as the token names it.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
}

impl Deref for OrgMember {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OrgMember {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let user = match caller(request).await {
            Ok(user) => user,
            Err(outcome) => return outcome,
        };
        let Some(alias) = path_alias(request) else {
            logging::error_once("organization route", ALIAS_SEGMENT, || {
                let route = request.route().map_or("", |r| r.uri.as_str());
                format!(
                    "OrgMember guards the route {route}, which has no {ALIAS_SEGMENT} segment: \
                     every request to it is refused"
                )
            });
            return refuse(request, AuthError::NotAMember(None));
        };
        match membership(request, &user, None, alias) {
            Ok(membership) => Outcome::Success(Self { user, membership }),
            Err(error) => refuse(request, error),
        }
    }
}

/// The request's `<alias>` segment, found by name in the matched route.
fn path_alias<'r>(request: &'r Request<'_>) -> Option<&'r str> {
    let route = request.route()?;
    let position = route
        .uri
        .unmounted_origin
        .path()
        .segments()
        .position(|segment| segment == ALIAS_SEGMENT)?;
    request.routed_segment(position)
}

/// `user`'s membership of the organization `alias` of the realm called `realm` (`None`: the
/// sign-in realm), or why there is none.
fn membership(
    request: &Request<'_>,
    user: &Identity,
    realm: Option<&'static str>,
    alias: &str,
) -> Result<Membership, AuthError> {
    let not_a_member = || AuthError::NotAMember(valid_alias(alias).then(|| alias.to_owned()));
    if !in_marker_realm(request, user, realm, "an organization check") {
        return Err(not_a_member());
    }
    let Some(memberships) = user.organizations.as_deref() else {
        return Err(AuthError::NoOrganizationClaim);
    };
    memberships.iter().find(|m| m.alias == alias).cloned().ok_or_else(not_a_member)
}
