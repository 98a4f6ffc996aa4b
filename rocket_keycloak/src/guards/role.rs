//! [`RequireRole<R>`]: the caller holds the role named by the marker type `R`, which says
//! whether it is a realm role or a client role. A client role named `admin` never passes
//! for the realm role `admin` (see `identity.rs`).
//!
//! Decision (several realms): a role belongs to a realm. A marker names its realm with
//! `Role::REALM`; without one it is the sign-in realm's (the first of `oidc.issuers`), so a
//! user of another accepted realm never passes a role check written for the main one,
//! whatever roles that realm hands out. A marker naming a realm that is not configured
//! refuses everyone (logged once at `error`).

use std::marker::PhantomData;
use std::ops::Deref;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use super::user::{AuthenticatedUser, caller, refuse};
use crate::error::AuthError;
use crate::identity::Identity;
use crate::logging;
use crate::oidc::Oidc;

/// Where a role lives in a Keycloak token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// A realm role: `realm_access.roles`.
    Realm,
    /// A role of the named client: `resource_access.<client>.roles`.
    Client(&'static str),
    /// A role of this application's own client (`oidc.client_id`).
    OwnClient,
}

/// A role marker for [`RequireRole`].
///
/// ```
/// use rocket_keycloak::{Role, RoleKind};
///
/// /// The realm role `admin`.
/// pub struct Admin;
/// impl Role for Admin {
///     const NAME: &'static str = "admin";
///     const KIND: RoleKind = RoleKind::Realm;
/// }
/// ```
pub trait Role: Send + Sync + 'static {
    /// The realm the role belongs to, by name (`partner` for `.../realms/partner`); `None`:
    /// the sign-in realm.
    const REALM: Option<&'static str> = None;
    /// The role's name in Keycloak.
    const NAME: &'static str;
    /// Realm or client role.
    const KIND: RoleKind;
}

/// An authenticated caller who has role `R`. Dereferences to [`Identity`].
///
/// ```
/// # use rocket::get;
/// # use rocket_keycloak::{RequireRole, Role, RoleKind};
/// # pub struct Admin;
/// # impl Role for Admin { const NAME: &'static str = "admin"; const KIND: RoleKind = RoleKind::Realm; }
/// #[get("/admin")]
/// fn admin(user: RequireRole<Admin>) -> String {
///     format!("hello admin {}", user.sub)
/// }
/// ```
#[derive(Debug)]
pub struct RequireRole<R: Role> {
    user: AuthenticatedUser,
    role: PhantomData<fn() -> R>,
}

impl<R: Role> RequireRole<R> {
    /// The user.
    pub fn user(&self) -> &AuthenticatedUser {
        &self.user
    }
}

impl<R: Role> Deref for RequireRole<R> {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r, R: Role> FromRequest<'r> for RequireRole<R> {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        let user = match caller(request).await {
            Ok(user) => user,
            Err(outcome) => return outcome,
        };
        let in_realm = in_marker_realm(request, &user, R::REALM, "a role check");
        let allowed = in_realm
            && match R::KIND {
                RoleKind::Realm => user.has_realm_role(R::NAME),
                RoleKind::Client(client) => user.has_client_role(client, R::NAME),
                RoleKind::OwnClient => request
                    .rocket()
                    .state::<Oidc>()
                    .is_some_and(|o| user.has_client_role(&o.config().client_id, R::NAME)),
            };
        if allowed {
            Outcome::Success(Self { user, role: PhantomData })
        } else {
            let name = match R::KIND {
                RoleKind::Realm => format!("realm:{}", R::NAME),
                RoleKind::Client(c) => format!("{c}:{}", R::NAME),
                RoleKind::OwnClient => format!("client:{}", R::NAME),
            };
            refuse(request, AuthError::InsufficientScope(Some(name)))
        }
    }
}

/// Whether `user` comes from the realm a marker names (`realm`, the sign-in realm when
/// `None`): the realm rule of every marker guard (`what` names the check in the log). A marker
/// naming a realm `oidc.issuers` does not list refuses everyone and logs once at `error`. An
/// identity without an issuer is a session stored before identities named one: sessions come
/// from the sign-in realm only.
pub(super) fn in_marker_realm(
    request: &Request<'_>,
    user: &Identity,
    realm: Option<&'static str>,
    what: &'static str,
) -> bool {
    let Some(oidc) = request.rocket().state::<Oidc>() else { return false };
    let sign_in_issuer = oidc.config().issuer.as_str();
    let realm_issuer = match realm {
        None => sign_in_issuer,
        Some(name) => match oidc.realm_issuer(name) {
            Some(issuer) => issuer,
            None => {
                logging::error_once(what, name, || {
                    format!(
                        "{what} names the realm `{name}`, which oidc.issuers does not list: \
                         every request to it is refused"
                    )
                });
                return false;
            }
        },
    };
    let issuer = if user.issuer.is_empty() { sign_in_issuer } else { user.issuer.as_str() };
    issuer == realm_issuer
}
