//! The page guards: [`PageUser`] (a signed-in user, or a redirect to the sign-in) and
//! [`MaybeUser`] (a user or anonymous), with what templates show of the user.

use std::ops::Deref;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

use super::authenticated::AuthenticatedUser;
use super::credentials::session_csrf_token;
use crate::error::{AuthError, Refusal};
use crate::identity::Identity;

/// A signed-in user on an HTML page. When the browser is not signed in, the 401 catcher
/// redirects it to `/login?next=<this path>` instead of answering JSON.
#[derive(Debug, Clone)]
pub struct PageUser {
    user: AuthenticatedUser,
    csrf_token: Option<String>,
}

impl PageUser {
    fn of(request: &Request<'_>, user: &AuthenticatedUser) -> Self {
        Self { user: user.clone(), csrf_token: session_csrf_token(request).map(str::to_owned) }
    }

    /// The user.
    pub fn user(&self) -> &AuthenticatedUser {
        &self.user
    }

    /// What templates show of the user.
    pub fn identity_view(&self) -> serde_json::Value {
        let identity: &Identity = self;
        let mut client_roles: Vec<String> = identity
            .client_roles
            .iter()
            .flat_map(|(client, roles)| roles.iter().map(move |r| format!("{client}: {r}")))
            .collect();
        client_roles.sort();
        serde_json::json!({
            "name": identity.display_name(),
            "username": identity.preferred_username,
            "email": identity.email,
            "realm_roles": identity.realm_roles,
            "client_roles": client_roles,
        })
    }

    /// The session's anti-CSRF token for forms (absent for bearer-token callers).
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

impl Deref for PageUser {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for PageUser {
    type Error = AuthError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, AuthError> {
        match <&AuthenticatedUser>::from_request(request).await {
            Outcome::Success(user) => Outcome::Success(Self::of(request, user)),
            Outcome::Error((status, error)) => {
                let api_client = request.headers().contains("Authorization");
                if status == rocket::http::Status::Unauthorized && !api_client {
                    Refusal::of(request).redirect_to_login();
                }
                Outcome::Error((status, error))
            }
            Outcome::Forward(status) => Outcome::Forward(status),
        }
    }
}

/// The signed-in user if there is one, else anonymous: for pages that show either.
/// Invalid credentials count as anonymous here; use [`PageUser`] to require a user.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<PageUser>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for MaybeUser {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match <&AuthenticatedUser>::from_request(request).await {
            Outcome::Success(user) => {
                Outcome::Success(MaybeUser(Some(PageUser::of(request, user))))
            }
            _ => Outcome::Success(MaybeUser(None)),
        }
    }
}
