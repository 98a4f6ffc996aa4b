//! The JWKS fairing: discovery, rotation, unknown-kid flood control, and Keycloak outages.
//! `discovery` covers start-up and config, `rotation` which published key verifies a token,
//! `floods` unknown-kid floods, and `outages` Keycloak down or answering garbage.

mod discovery;
mod floods;
mod outages;
mod rotation;
