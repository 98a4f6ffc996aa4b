//! docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so they are
//! checked by reading: the compose file parses, names files that exist, and wires the
//! issuer so that browser and app agree on it.

use std::path::Path;

use serde_yaml::Value;

mod metrics;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    serde_yaml::from_str(&text).expect("docker-compose.yml is valid YAML")
}

fn env<'a>(service: &'a Value, key: &str) -> &'a str {
    service["environment"][key].as_str().unwrap_or_else(|| panic!("environment {key}"))
}

#[test]
fn compose_file_parses_and_references_existing_files() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    assert!(services.contains_key("keycloak") && services.contains_key("app"));
    let keycloak = &compose["services"]["keycloak"];
    let image = keycloak["image"].as_str().unwrap();
    assert!(image.contains("keycloak/keycloak:26."), "{image}");
    let command: Vec<&str> =
        keycloak["command"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(command, ["start-dev", "--import-realm"]);
    for volume in keycloak["volumes"].as_sequence().unwrap() {
        let source = volume.as_str().unwrap().split(':').next().unwrap();
        assert!(root().join(source).exists(), "mounted file {source} exists");
    }
    let healthcheck = serde_yaml::to_string(&keycloak["healthcheck"]).unwrap();
    assert!(!healthcheck.contains("curl"), "the Keycloak image has no curl");

    let app = &compose["services"]["app"];
    let context = app["build"].as_str().unwrap_or(".");
    assert!(root().join(context).join("Dockerfile").exists());
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment's large error
fn browser_and_app_agree_on_the_issuer() {
    let compose = compose();
    let keycloak = &compose["services"]["keycloak"];
    let app = &compose["services"]["app"];
    let public = env(keycloak, "KC_HOSTNAME");
    assert_eq!(env(app, "OIDC_ISSUER"), format!("{public}/realms/demo"));
    assert_eq!(env(keycloak, "KC_HOSTNAME_BACKCHANNEL_DYNAMIC"), "true");
    assert_eq!(env(app, "OIDC_CLIENT_ID"), "demo-app");
    // The app's environment, read the way the app reads it (Rocket.toml beneath, OIDC_*
    // variables over it), is a valid configuration with both realms, each discovered through
    // the keycloak service under its public issuer.
    let environment = app["environment"].as_mapping().unwrap().clone();
    let rocket_toml = std::fs::read_to_string(root().join("Rocket.toml")).unwrap();
    figment::Jail::expect_with(|jail| {
        jail.create_file("Rocket.toml", &rocket_toml)?;
        for (key, value) in &environment {
            let (Some(key), Some(value)) = (key.as_str(), value.as_str()) else { continue };
            if key.starts_with("OIDC_") {
                jail.set_env(key, value);
            }
        }
        let config = rocket_keycloak::OidcConfig::from_figment(&rocket_keycloak::figment())
            .map_err(|e| e.to_string())?;
        let realms: Vec<(&str, &str)> =
            config.realms.iter().map(|r| (r.issuer.as_str(), r.discovery_url.as_str())).collect();
        assert_eq!(
            realms,
            [
                (
                    format!("{public}/realms/demo").as_str(),
                    "http://keycloak:8080/realms/demo/.well-known/openid-configuration"
                ),
                (
                    format!("{public}/realms/partner").as_str(),
                    "http://keycloak:8080/realms/partner/.well-known/openid-configuration"
                ),
            ]
        );
        Ok(())
    });
    let mounts = format!("{:?}", keycloak["volumes"]);
    for realm in ["demo-realm.json", "partner-realm.json"] {
        assert!(mounts.contains(&format!("./keycloak/{realm}")), "{realm} is imported");
    }
}

#[test]
fn both_app_instances_share_sessions_through_the_valkey_service() {
    let compose = compose();
    let services = &compose["services"];
    let store = env(&services["app"], "OIDC_SESSION_STORE");
    let host = url::Url::parse(store).unwrap().host_str().unwrap().to_owned();
    assert!(services[host.as_str()]["image"].as_str().is_some(), "{host} is a compose service");
    assert!(services[host.as_str()]["healthcheck"].is_mapping(), "{host} has a healthcheck");
    assert_eq!(services["app2"]["environment"], services["app"]["environment"], "same settings");
    for app in ["app", "app2"] {
        let depends = &services[app]["depends_on"][host.as_str()]["condition"];
        assert_eq!(depends.as_str(), Some("service_healthy"), "{app} waits for {host}");
    }
    assert!(env(&services["app"], "ROCKET_SECRET_KEY").starts_with("${ROCKET_SECRET_KEY"));
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's own error type
fn the_app_accepts_the_compose_environment() {
    let compose = compose();
    let app = &compose["services"]["app"];
    figment::Jail::expect_with(|jail| {
        for (key, value) in app["environment"].as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            if key.starts_with("OIDC_") {
                jail.set_env(key, value.as_str().unwrap());
            }
        }
        let config = rocket_keycloak::OidcConfig::from_figment(&rocket_keycloak::figment());
        // Plain http to the `keycloak` service needs the explicit opt-in, and has it.
        assert!(config.is_ok(), "{config:?}");
        Ok(())
    });
}

#[test]
fn dockerfile_copies_what_the_app_reads_at_run_time() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("cargo build --release --locked"));
    for needed in ["Rocket.toml", "templates"] {
        assert!(dockerfile.contains(&format!("COPY {needed}")), "Dockerfile copies {needed}");
        assert!(root().join(needed).exists());
    }
    assert!(dockerfile.contains("rocket_keycloak"), "the binary's name");
}

#[test]
fn app_instances_are_healthy_when_ready_and_share_one_image_built_once() {
    let compose = compose();
    let services = &compose["services"];
    let port = env(&services["app"], "ROCKET_PORT");
    for app in ["app", "app2"] {
        let check = serde_yaml::to_string(&services[app]["healthcheck"]["test"]).unwrap();
        assert!(check.contains(&format!("/dev/tcp/127.0.0.1/{port}")), "{app}: {check}");
        assert!(check.contains("GET /ready HTTP/1.1"), "{app} asks /ready: {check}");
        assert!(check.contains(r#"*" 200 "*"#), "{app} needs a 200: {check}");
        assert!(!check.contains("curl"), "the app image has no curl");
    }
    // /ready is a route of the demo (GET, at the root).
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("oidc", serde_json::json!({"issuer": "http://127.0.0.1:1/realms/x"})))
        .merge(("oidc.client_id", "demo-app"));
    let app = rocket_keycloak_demo::rocket_with(figment);
    assert!(app.routes().any(|r| r.method == rocket::http::Method::Get && r.uri == "/ready"));
    // One image: `app` builds it under a name, `app2` uses that name and never pulls it.
    let image = services["app"]["image"].as_str().expect("app names its image");
    assert!(services["app"]["build"].is_string() || services["app"]["build"].is_mapping());
    assert_eq!(services["app2"]["image"].as_str(), Some(image));
    assert!(services["app2"]["build"].is_null(), "app2 builds nothing");
    assert_eq!(services["app2"]["pull_policy"].as_str(), Some("never"));
    let builders = services.as_mapping().unwrap().values().filter(|s| !s["build"].is_null());
    assert_eq!(builders.count(), 1, "one build");
}

#[test]
fn every_published_port_is_on_loopback() {
    let compose = compose();
    let mut published = 0;
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let port = port.as_str().expect("ports as strings");
            assert!(port.starts_with("127.0.0.1:"), "{name:?} publishes {port} beyond loopback");
            published += 1;
        }
    }
    assert!(published >= 4, "keycloak, app, app2, prometheus");
}

#[test]
fn images_are_pinned_to_exact_versions() {
    // A tag of an exact release: `26.7.3`, `v3.5.0`, `12.12-slim`, `1.95.0-bookworm`.
    let exact = |image: &str| {
        let tag = image.rsplit_once(':').map_or("", |(_, tag)| tag);
        let version = tag.trim_start_matches('v').split('-').next().unwrap_or("");
        let parts: Vec<&str> = version.split('.').collect();
        parts.len() >= 2
            && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    let compose = compose();
    let built = compose["services"]["app"]["image"].as_str().unwrap();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        let Some(image) = service["image"].as_str() else { continue };
        if image != built {
            assert!(exact(image), "{name:?} runs {image}, not an exact version");
        }
    }
    assert_eq!(compose["services"]["keycloak"]["image"].as_str(), Some("keycloak/keycloak:26.7.3"));
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let bases: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(bases.len(), 2, "{bases:?}");
    assert!(bases[0].starts_with("rust:") && bases[1].starts_with("debian:"), "{bases:?}");
    for base in bases {
        assert!(exact(base), "the Dockerfile builds on {base}, not an exact version");
    }
}
