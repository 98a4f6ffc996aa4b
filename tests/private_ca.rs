//! A Keycloak behind a private certificate authority: discovery over https to a server whose
//! certificate a test CA signed (`TlsIdp`, fixture PEMs) fails with the bundled roots alone
//! (the app starts without keys, `/ready` answers 503) and succeeds with `ca_certificates`
//! naming the CA. Bad values fail launch naming their key.

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::tls_idp::TEST_CA_PEM;
use rocket_keycloak_testkit::{TestKey, TlsIdp};
use serde_json::{Value, json};

fn figment(oidc: Value) -> rocket::figment::Figment {
    rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
        .merge(("oidc", oidc))
}

/// `/ready`'s status once the app has tried its keys (polled, bounded).
async fn ready_status(app: &Client) -> Status {
    let mut status = Status::ServiceUnavailable;
    for _ in 0..60 {
        status = app.get("/ready").dispatch().await.status();
        if status == Status::Ok {
            break;
        }
        rocket::tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    status
}

#[rocket::async_test]
async fn discovery_over_https_to_a_private_ca_needs_ca_certificates() {
    let idp = TlsIdp::start(&TestKey::rsa1()).await;
    let oidc = json!({"issuer": idp.issuer(), "client_id": "demo-app"});
    let bundled = Client::tracked(rocket_keycloak_demo::rocket_with(figment(oidc.clone())))
        .await
        .expect("the app starts without keys");
    assert_eq!(ready_status(&bundled).await, Status::ServiceUnavailable, "bundled roots only");

    let mut trusted = oidc;
    trusted["ca_certificates"] = json!(TEST_CA_PEM);
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment(trusted))).await.unwrap();
    assert_eq!(ready_status(&app).await, Status::Ok, "the test CA is trusted");
    // A folder holding the CA works the same.
    let mut folder = json!({"issuer": idp.issuer(), "client_id": "demo-app"});
    folder["ca_certificates"] = json!(std::path::Path::new(TEST_CA_PEM).parent().unwrap());
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment(folder))).await.unwrap();
    assert_eq!(ready_status(&app).await, Status::Ok, "the CA's folder is trusted");
}

#[test]
fn bad_ca_certificates_or_tls_roots_fail_launch_naming_the_key() {
    let read = |extra: Value| {
        let mut oidc = json!({"issuer": "https://kc.example/realms/x", "client_id": "demo-app"});
        oidc.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        rocket_keycloak::OidcConfig::from_figment(&figment(oidc))
    };
    let missing = read(json!({"ca_certificates": "/nonexistent/private-ca.pem"})).unwrap_err();
    assert_eq!(missing.key, "oidc.ca_certificates");
    assert!(missing.to_string().contains("/nonexistent/private-ca.pem"), "{missing}");
    // A file that is not PEM certificates (here: the demo's Rocket.toml).
    let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Rocket.toml");
    let error = read(json!({"ca_certificates": not_pem})).unwrap_err();
    assert_eq!(error.key, "oidc.ca_certificates", "{error}");
    let error = read(json!({"tls_roots": "mozilla"})).unwrap_err();
    assert_eq!(error.key, "oidc.tls_roots", "{error}");
    assert!(read(json!({"ca_certificates": TEST_CA_PEM, "tls_roots": "bundled"})).is_ok());
}
