//! `GET /metrics`: the crate's metrics (`src/telemetry.rs` names them) in the Prometheus
//! text format, through the `metrics-exporter-prometheus` recorder.
//!
//! Decisions:
//! - Nothing is served unless `oidc.metrics` says where (the default is `off`, see
//!   `MetricsConfig`): the answer shows active sessions, sign-in and refresh rates and the
//!   windows of a Keycloak outage. With `off` no recorder is installed either, so recording
//!   costs nothing.
//! - One recorder per process, installed by the first app that asks ([`install`]); a process
//!   that installed another recorder first keeps it, and gets no endpoint (logged).
//! - `oidc.metrics` = an address serves the endpoint on a second Rocket listener of its own
//!   (shut down with the app), so it can stay on a private interface while the app faces
//!   the internet; the app's own port then has no `/metrics`. That listener is configured
//!   from the app's figment (address, port, logging and Ctrl-C replaced), not a fresh
//!   `Config::figment()`: a release build whose `secret_key` exists only in the app's figment
//!   (the demo's random fallback, a key merged in code) must start it too. It inherits the
//!   app's other settings (`tls` among them). `on` mounts it on the app's
//!   own port, for an app whose proxy keeps it from the internet.
//! - The exporter's upkeep (draining histogram samples) runs on a thread of its own every
//!   5 s: the recorder belongs to the process, not to one Rocket or runtime.
//! - The validation-time histogram has fixed buckets from 10 µs to 1 s: the guard's own
//!   time is microseconds when cached, milliseconds when it verifies or refreshes.

use std::net::SocketAddr;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::ContentType;
use rocket::{Build, Orbit, Rocket, Route, State, get, routes};

use crate::config::{MetricsConfig, OidcConfig};

const BUCKETS: [f64; 11] =
    [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0];

/// How often the recorder's histograms are drained.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process's recorder, installed once.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once); its handle renders `/metrics`.
pub(crate) fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("rocket_keycloak_validation_seconds".into()),
                    &BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => {
                    // Histograms keep their samples until upkeep drains them: without it the
                    // memory grows with every request (the bench saw 34 -> 120 MiB).
                    let upkeep = handle.clone();
                    std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_EVERY);
                                upkeep.run_upkeep();
                            }
                        })
                        .ok()?;
                    Some(handle)
                }
                Err(error) => {
                    log::warn!("metrics: another recorder is installed, no /metrics: {error}");
                    None
                }
            }
        })
        .clone()
}

#[get("/metrics")]
fn metrics(handle: &State<PrometheusHandle>) -> (ContentType, String) {
    let text = ContentType::new("text", "plain").with_params(("version", "0.0.4"));
    (text, handle.render())
}

fn routes() -> Vec<Route> {
    routes![metrics]
}

/// The metrics listener on `address`, configured from the app's own figment with only the
/// address, port, logging and Ctrl-C handling replaced: a fresh `Config::figment()` would
/// miss whatever the app put in its figment itself (in release, a `secret_key` that exists
/// only there, which Rocket requires before it ignites), so the listener would not start.
fn listener(
    app: &rocket::figment::Figment,
    address: SocketAddr,
    handle: PrometheusHandle,
) -> Rocket<Build> {
    let figment = app
        .clone()
        .merge(("address", address.ip()))
        .merge(("port", address.port()))
        .merge(("log_level", "off"))
        .merge(("shutdown.ctrlc", false));
    rocket::custom(figment).mount("/", routes()).manage(handle)
}

/// Serves `/metrics` as `oidc.metrics` says (see the module documentation). Attach it before
/// [`crate::OidcFairing`], so the startup key fetch is counted too.
#[derive(Debug, Default, Clone, Copy)]
pub struct MetricsEndpoint;

#[rocket::async_trait]
impl Fairing for MetricsEndpoint {
    fn info(&self) -> Info {
        Info { name: "Prometheus /metrics", kind: Kind::Ignite | Kind::Liftoff | Kind::Singleton }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let Ok(config) = OidcConfig::from_figment(rocket.figment()) else {
            return Ok(rocket); // OidcFairing reports the configuration error
        };
        // Installed here for a listener too (served from liftoff), so the startup key fetch
        // is counted.
        let handle = match config.metrics {
            MetricsConfig::Off => None,
            _ => install(),
        };
        match (config.metrics, handle) {
            (MetricsConfig::On, Some(handle)) => Ok(rocket.mount("/", routes()).manage(handle)),
            _ => Ok(rocket),
        }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        let Ok(config) = OidcConfig::from_figment(rocket.figment()) else { return };
        let MetricsConfig::Listener(address) = config.metrics else { return };
        let Some(handle) = install() else { return };
        let listener = listener(rocket.figment(), address, handle);
        let app_shutdown = rocket.shutdown();
        rocket::tokio::spawn(async move {
            match listener.ignite().await {
                Ok(listener) => {
                    let shutdown = listener.shutdown();
                    rocket::tokio::spawn(async move {
                        app_shutdown.await;
                        shutdown.notify();
                    });
                    log::info!("metrics on http://{address}/metrics");
                    if let Err(error) = listener.launch().await {
                        log::error!("metrics listener on {address} failed: {error}");
                    }
                }
                Err(error) => log::error!("metrics listener on {address}: {error}"),
            }
        });
    }
}
