//! The demo's routes, one module per audience: [`api`] answers JSON, [`pages`] renders HTML,
//! [`notes`] is a session-authenticated `POST`, [`orgs`] is for members of a Keycloak
//! organization. The sign-in routes come from the library's `SignIn`.

pub mod api;
pub mod notes;
pub mod orgs;
pub mod pages;
