//! The guards and RFC 6750 errors on the demo API: one test per rule. `routes` covers what
//! each route answers and to whom, `bearer` how the `Authorization` header is read, and
//! `tokens` the rules a bearer token must pass.

mod bearer;
mod routes;
mod tokens;
