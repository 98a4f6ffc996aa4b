//! The library's own routes, each mounted by its fairing: [`auth`] runs the sign-in flow
//! (mounted by [`SignIn`], feature `sign-in`), [`metrics`] serves Prometheus metrics
//! (mounted by [`MetricsEndpoint`], feature `metrics`). The app's routes are the app's.

#[cfg(feature = "sign-in")]
pub(crate) mod auth;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;

#[cfg(feature = "sign-in")]
pub use auth::SignIn;
#[cfg(feature = "metrics")]
pub use metrics::MetricsEndpoint;
