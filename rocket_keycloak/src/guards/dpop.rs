//! [`RequireDpop`]: the per-route form of `oidc.dpop = "required"`. The caller presented a
//! DPoP-bound access token with a valid proof of its key (the authentication refuses a bound
//! token without one, so a bound identity here is a proven one). Browser sessions, whose
//! tokens never leave the server, do not pass: a route that asks for DPoP is an API route.

use std::ops::Deref;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use super::user::{AuthenticatedUser, caller, refuse};
use crate::error::{AuthError, Refusal};
use crate::identity::Identity;
use crate::oidc::TokenError;

/// A caller whose access token is DPoP-bound and proven for this request. Dereferences to
/// [`Identity`].
///
/// ```
/// # use rocket::get;
/// # use rocket_keycloak::RequireDpop;
/// #[get("/payments")]
/// fn payments(user: RequireDpop) -> String {
///     format!("{} holds the key its token is bound to", user.sub)
/// }
/// ```
#[derive(Debug)]
pub struct RequireDpop(AuthenticatedUser);

impl RequireDpop {
    /// The user.
    pub fn user(&self) -> &AuthenticatedUser {
        &self.0
    }
}

impl Deref for RequireDpop {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequireDpop {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        // This route's challenges say DPoP, whatever the global policy.
        Refusal::of(request).challenge_dpop();
        let user = match caller(request).await {
            Ok(user) => user,
            Err(outcome) => return outcome,
        };
        if user.dpop_jkt.is_some() {
            Outcome::Success(Self(user))
        } else {
            refuse(request, AuthError::InvalidToken(TokenError::NotDpopBound))
        }
    }
}
