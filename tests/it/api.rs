//! The guards and RFC 6750 errors on the demo API: one test per rule. `routes` covers what
//! each route answers and to whom, `bearer` how the `Authorization` header is read, and
//! `tokens` the rules a bearer token must pass; `metadata` the protected-resource metadata
//! (RFC 9728) that every challenge names.

mod bearer;
mod metadata;
mod routes;
mod tokens;
