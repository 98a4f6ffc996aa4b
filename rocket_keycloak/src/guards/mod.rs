//! Request guards: holding one proves the check passed.
//!
//! - [`AuthenticatedUser`] (`user.rs`) validates the request's credentials once per request
//!   (the result is kept in the request-local cache, however many guards ask) and fails with
//!   the RFC 6750 error the [`catchers`](crate::catchers::catchers) render. [`PageUser`] and
//!   [`MaybeUser`] are its forms for HTML pages.
//! - [`RequireRole<R>`] (`role.rs`) asks for `&AuthenticatedUser` first, then for the role
//!   named by the marker type `R`.
//! - [`RequireAcr<L>`] and [`PageAcr<L>`] (`level.rs`) ask for `&AuthenticatedUser` first,
//!   then for the level of assurance named by the marker type `L` (step-up, RFC 9470).
//! - [`RequireOrganization<O>`] and [`OrgMember`] (`organization.rs`) ask for
//!   `&AuthenticatedUser` first, then for a membership of the Keycloak organization named by
//!   the marker type `O`, or by the route's `<alias>` path segment.
//! - [`RequireDpop`] (`dpop.rs`) asks for `&AuthenticatedUser` first, then for a DPoP-bound
//!   token (RFC 9449), per route.

#[cfg(feature = "dpop")]
mod dpop;
mod level;
mod organization;
mod role;
mod user;

#[cfg(feature = "dpop")]
pub use dpop::RequireDpop;
pub use level::{Level, PageAcr, RequireAcr};
pub use organization::{OrgMember, Organization, RequireOrganization};
pub use role::{RequireRole, Role, RoleKind};
#[cfg(feature = "testing")]
pub use user::authorization_token;
pub use user::{AuthenticatedUser, CSRF_HEADER, MaybeUser, PageUser, Scheme};
