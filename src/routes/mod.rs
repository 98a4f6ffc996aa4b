//! The routes, one module per audience: [`api`] answers JSON, [`auth`] runs the sign-in
//! flow, [`pages`] renders HTML.

pub mod api;
pub mod auth;
pub mod pages;
