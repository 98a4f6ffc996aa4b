//! The fairing: checks the configuration and loads the keys at ignite, then keeps them
//! fresh in a background task that ends with the server.
//!
//! It manages [`Oidc`] and mounts one route, the protected-resource metadata (RFC 9728,
//! `resource.rs`) that every challenge names, unless `resource_metadata = false`: an
//! API-only app carries no session layer (the sign-in routes bring their own, see `SignIn`).

use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Orbit, Request, Response, Rocket, tokio};

use super::verify::Oidc;
use crate::config::OidcConfig;
use crate::telemetry;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The fairing: checks configuration and loads keys at ignite, keeps them fresh after
/// liftoff. Attach it once; the guards find its state.
///
/// ```no_run
/// # use rocket::launch;
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(rocket_keycloak::OidcFairing)
///         .register("/", rocket_keycloak::catchers())
/// }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct OidcFairing;

#[rocket::async_trait]
impl Fairing for OidcFairing {
    fn info(&self) -> Info {
        Info {
            name: "Keycloak OIDC",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, _: &mut Response<'r>) {
        // One count per request that asked a guard, by its final outcome.
        telemetry::record_auth(request);
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let config = match OidcConfig::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(error) => {
                log::error!("{error}");
                return Err(rocket);
            }
        };
        log::info!(
            "OIDC issuer {} (discovery at {}), client {}, audience {}",
            config.issuer,
            config.discovery_url,
            config.client_id,
            config.audience
        );
        for realm in &config.realms[1..] {
            log::info!(
                "OIDC also accepts realm {} (issuer {}, discovery at {}, audience {})",
                realm.name(),
                realm.issuer,
                realm.discovery_url,
                realm.audience
            );
        }
        let serve_metadata = config.resource_metadata.enabled;
        let oidc = Oidc::new(config);
        if !oidc.refresh("startup").await {
            log::warn!("starting without keys: /ready answers 503 until Keycloak is reachable");
        }
        let rocket = rocket.manage(oidc);
        // Off for an app that serves its own document there (`resource_metadata = false`).
        Ok(if serve_metadata { rocket.mount("/", super::resource::routes()) } else { rocket })
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        if let Some(oidc) = rocket.state::<Oidc>() {
            // The app's recorder, if any, is installed by now (see `telemetry/meters.rs`).
            oidc.meters().go_live();
            tokio::spawn(keep_fresh(oidc.clone(), rocket.shutdown()));
            tokio::spawn(telemetry::log_refusals(rocket.shutdown()));
        }
    }
}

/// The background task: retry with capped backoff until ready, then refresh periodically;
/// ends on shutdown.
async fn keep_fresh(oidc: Oidc, mut shutdown: rocket::Shutdown) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Retried with backoff until every realm has keys, then refreshed periodically.
        let ready = oidc.all_realms_ready();
        let wait = if ready { oidc.config().jwks_refresh_interval } else { backoff };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
        let reason = if ready { "periodic refresh" } else { "retry" };
        oidc.refresh(reason).await;
        if oidc.all_realms_ready() {
            backoff = FIRST_BACKOFF;
        } else {
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    log::info!("OIDC key refresh task stopped");
}
