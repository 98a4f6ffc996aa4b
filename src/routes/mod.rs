//! The routes, one module per audience: [`api`] answers JSON, [`auth`] runs the sign-in
//! flow (mounted by [`SignIn`]), [`pages`] renders HTML, [`notes`] is the demo's
//! session-authenticated `POST`, [`metrics`] serves Prometheus metrics.

pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod metrics;
pub(crate) mod notes;
pub(crate) mod pages;

pub use auth::SignIn;
pub use metrics::MetricsEndpoint;
