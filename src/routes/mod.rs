//! The routes, one module per audience: [`api`] answers JSON, [`auth`] runs the sign-in
//! flow (mounted by [`SignIn`]), [`pages`] renders HTML, [`notes`] is the demo's
//! session-authenticated `POST`.

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod notes;
pub(crate) mod pages;

pub use auth::SignIn;
