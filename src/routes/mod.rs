//! The demo application's routes, one module per audience: [`api`] answers JSON.

pub mod api;
