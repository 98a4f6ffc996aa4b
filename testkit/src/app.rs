//! What every test app needs around the in-process IdP: its configuration
//! ([`figment_for`]) and a bearer request ([`get_with_token`]).

use rocket::figment::Figment;
use rocket::http::Header;
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{Value, json};

use crate::Idp;

/// The app's figment for an IdP: hermetic (no Rocket.toml, no environment), Rocket's debug
/// config, quiet, with an `oidc` table for `idp` plus `overrides`.
pub fn figment_for(idp: &Idp, overrides: Value) -> Figment {
    let mut oidc = json!({
        "issuer": idp.issuer(),
        "client_id": "demo-app",
        "client_secret": "test-secret",
        "jwks_min_refresh_interval": 10,
    });
    for (k, v) in overrides.as_object().expect("overrides are an object") {
        oidc[k] = v.clone();
    }
    Figment::from(rocket::Config::debug_default()).merge(("log_level", "off")).merge(("oidc", oidc))
}

/// `GET path` with `Authorization: Bearer <token>`.
pub async fn get_with_token<'c>(app: &'c Client, path: &str, token: &str) -> LocalResponse<'c> {
    app.get(path.to_owned())
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await
}
