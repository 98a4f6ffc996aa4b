//! `scripts/dev` end to end in a sandbox: the real scripts/setup, scripts/keycloak and
//! scripts/redis, with a stand-in Keycloak on a free port (`KEYCLOAK_PORT`), stubs for apt-get,
//! Maven, the compilers, java and cargo, and the app a stub that writes down its environment.
//! The sandbox has no redis-server unless a test links the machine's in.

use rocket::figment::Figment;
use rocket::figment::providers::{Format, Toml};
use rocket_keycloak::OidcConfig;

use super::{Run, Sandbox, fake_keycloak, free_port, repo};

/// What the app (`cargo run` or the built binary) saw, one `KEY=value` a line per start.
const APP_STUB: &str = r#"{ echo "args=$*"; echo "ROCKET_PORT=${ROCKET_PORT:-}"
  echo "OIDC_ISSUER=${OIDC_ISSUER:-}"; echo "OIDC_ISSUERS=${OIDC_ISSUERS:-}"
  echo "OIDC_SESSION_STORE=${OIDC_SESSION_STORE:-}"; } >>"$SANDBOX/app.log""#;

/// A sandbox where everything scripts/dev needs for one instance is there (as stubs), and
/// redis-server is not.
fn dev_sandbox(name: &str) -> Sandbox {
    let sandbox = Sandbox::new(name);
    for tool in ["mvn", "unzip", "cc"] {
        sandbox.stub(tool, "exit 0");
    }
    sandbox.stub("rustc", "echo 'rustc 1.95.0 (stub)'");
    sandbox.stub("java", r#"echo 'openjdk version "21.0.5" 2024-10-15' >&2"#);
    sandbox.stub("cargo", &format!("{APP_STUB}\nexit 0"));
    sandbox.file("target/release/rocket_keycloak_demo", &format!("#!/bin/bash\n{APP_STUB}\n"));
    sandbox.executable("target/release/rocket_keycloak_demo");
    sandbox
}

fn dev(sandbox: &Sandbox, args: &[&str], keycloak_port: u16, env: &[(&str, &str)]) -> Run {
    let (cache, target) = (sandbox.path("kc"), sandbox.path("target"));
    let port = keycloak_port.to_string();
    let mut env = env.to_vec();
    env.extend([
        ("KEYCLOAK_PORT", port.as_str()),
        ("KEYCLOAK_CACHE_DIR", cache.to_str().unwrap()),
        ("CARGO_TARGET_DIR", target.to_str().unwrap()),
    ]);
    sandbox.run("scripts/dev", args, &env)
}

/// The value of `KEY=` in the app's log, for each start.
fn seen(log: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    log.lines().filter_map(|l| l.strip_prefix(&prefix)).map(str::to_owned).collect()
}

#[test]
fn one_dev_instance_installs_nothing_it_does_not_need() {
    let sandbox = dev_sandbox("dev-one");
    let run = dev(&sandbox, &[], fake_keycloak(), &[]);
    assert!(run.ok, "{run:?}");
    // No redis-server in the sandbox, and apt was not asked for it (or for anything).
    assert_eq!(sandbox.read("apt.log"), "", "{run:?}");
    assert!(!run.stdout.contains("redis:"), "{run:?}");
    assert_eq!(
        seen(&sandbox.read("app.log"), "args"),
        ["run --release --bin rocket_keycloak_demo"]
    );
}

#[test]
fn dev_follows_keycloak_port_in_its_urls_and_the_apps_issuers() {
    let sandbox = dev_sandbox("dev-port");
    let port = fake_keycloak();
    let run = dev(&sandbox, &[], port, &[]);
    assert!(run.ok, "{run:?}");
    let keycloak = format!("http://localhost:{port}");
    assert!(run.stdout.contains(&format!("Keycloak:  {keycloak}   admin console")), "{run:?}");
    assert!(!run.stdout.contains("8080"), "{run:?}");

    let log = sandbox.read("app.log");
    let (issuer, issuers) = (&seen(&log, "OIDC_ISSUER")[0], &seen(&log, "OIDC_ISSUERS")[0]);
    assert_eq!(issuer, &format!("{keycloak}/realms/demo"));
    // The app takes them with Rocket.toml (as OIDC_ISSUER and OIDC_ISSUERS would override it):
    // both realms, on that port.
    let overrides = format!("[default.oidc]\nissuer = \"{issuer}\"\nissuers = {issuers}\n");
    let figment = Figment::from(Toml::file(repo().join("Rocket.toml")).nested())
        .merge(Toml::string(&overrides).nested());
    let config = OidcConfig::from_figment(&figment).expect("the app's config loads");
    assert_eq!(config.issuer.as_str(), issuer);
    let realms: Vec<_> = config.realms.iter().map(|realm| realm.issuer.as_str()).collect();
    assert_eq!(realms, [format!("{keycloak}/realms/demo"), format!("{keycloak}/realms/partner")]);

    // An issuer of the caller's own is left alone.
    let sandbox = dev_sandbox("dev-own-issuer");
    let own = "https://kc.example/realms/x";
    let run = dev(&sandbox, &[], port, &[("OIDC_ISSUER", own)]);
    assert!(run.ok, "{run:?}");
    let log = sandbox.read("app.log");
    assert_eq!(
        (seen(&log, "OIDC_ISSUER"), seen(&log, "OIDC_ISSUERS")),
        (vec![own.into()], vec!["".into()])
    );
}

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn two_dev_instances_share_the_redis_that_scripts_redis_started() {
    let sandbox = dev_sandbox("dev-two");
    sandbox.link("redis-server");
    sandbox.link("redis-cli");
    let redis_port = free_port().to_string();
    let redis_dir = sandbox.path("redis");
    let redis_env =
        [("REDIS_PORT", redis_port.as_str()), ("REDIS_CACHE_DIR", redis_dir.to_str().unwrap())];
    let run = dev(&sandbox, &["--instances", "2"], fake_keycloak(), &redis_env);
    let status = sandbox.run("scripts/redis", &["status"], &redis_env);
    let stopped = sandbox.run("scripts/redis", &["stop"], &redis_env);
    assert!(run.ok, "{run:?}");
    assert_eq!(status.stdout, "running\n", "{status:?}");
    assert!(stopped.ok, "{stopped:?}");
    assert_eq!(sandbox.read("apt.log"), "", "{run:?}");

    // `cargo build`, then the two instances (whose lines may interleave).
    let log = sandbox.read("app.log");
    let store = format!("redis://127.0.0.1:{redis_port}/0");
    assert_eq!(seen(&log, "OIDC_SESSION_STORE"), [store.as_str(); 3]);
    let mut ports = seen(&log, "ROCKET_PORT");
    ports.sort();
    assert_eq!(ports, ["", "8000", "8001"]);
}
