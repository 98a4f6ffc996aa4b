//! Start-up: ready once discovery and the JWKS have loaded, the discovered issuer must match
//! the configured one, the discovery URL may differ from it, bad config fails launch naming
//! the key, and the environment overrides `Rocket.toml`.

use std::time::Duration;

use rocket::http::Status;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint};
use serde_json::json;

use crate::{figment_for, get_with_token, spawn_app, spawn_app_with};

#[rocket::async_test]
async fn ready_once_keys_are_loaded() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok);
    assert_eq!(idp.discovery_hits(), 1);
    assert_eq!(idp.jwks_hits(), 1);
}

#[rocket::async_test]
async fn discovery_naming_another_issuer_keeps_the_app_unready() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    idp.set_issuer_in_discovery("http://keycloak:8080/realms/test");
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::ServiceUnavailable);
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(
        get_with_token(&app, "/secure-data", &token).await.status(),
        Status::ServiceUnavailable
    );
}

#[rocket::async_test]
async fn discovery_url_can_differ_from_the_issuer() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let internal =
        format!("http://localhost:{}/realms/test/.well-known/openid-configuration", idp.port);
    let app = spawn_app_with(&idp, json!({"discovery_url": internal})).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn missing_issuer_fails_launch_naming_the_key() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let figment = figment_for(&idp, json!({})).merge(("oidc.issuer", ""));
    assert_launch_fails(figment).await;
    let error =
        rocket_keycloak::OidcConfig::from_figment(&figment_for(&idp, json!({"issuer": ""})))
            .unwrap_err();
    assert_eq!(error.key, "oidc.issuer");
}

async fn assert_launch_fails(figment: rocket::figment::Figment) {
    let client =
        rocket::local::asynchronous::Client::tracked(rocket_keycloak_demo::rocket_with(figment));
    let Err(error) = client.await else { panic!("launch must fail") };
    // Reading the kind marks the error handled (an unhandled rocket::Error panics on drop).
    assert!(
        matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(f) if f[0].name == "Keycloak OIDC")
    );
}

#[rocket::async_test]
async fn malformed_interval_fails_launch_naming_the_key() {
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let figment = figment_for(&idp, json!({"jwks_refresh_interval": "often"}));
    let error = rocket_keycloak::OidcConfig::from_figment(&figment).unwrap_err();
    assert_eq!(error.key, "oidc.jwks_refresh_interval");
    assert_launch_fails(figment).await;
}

#[rocket::async_test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
async fn environment_overrides_rocket_toml() {
    // `rocket_keycloak::figment()` layers OIDC_* over Rocket.toml; checked via figment::Jail
    // so the process environment of other tests is untouched.
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "Rocket.toml",
            "[default.oidc]\nissuer = \"https://a/realms/x\"\nclient_id = \"c\"\n",
        )?;
        jail.set_env("OIDC_ISSUER", "https://b/realms/y");
        jail.set_env("OIDC_JWKS_REFRESH_INTERVAL", "42");
        let config =
            rocket_keycloak::OidcConfig::from_figment(&rocket_keycloak::figment()).unwrap();
        assert_eq!(config.issuer, "https://b/realms/y");
        assert_eq!(config.client_id, "c");
        assert_eq!(config.jwks_refresh_interval, Duration::from_secs(42));
        assert_eq!(config.realm(), "y");
        Ok(())
    });
}
