//! `scripts/dev` end to end in a sandbox: the real scripts/setup, scripts/keycloak and
//! scripts/redis, with a stand-in Keycloak on a free port (`KEYCLOAK_PORT`), stubs for apt-get,
//! Maven, the compilers, java and cargo, and the app a stub that writes down its environment.
//! The sandbox has no redis-server unless a test links the machine's in.

use rocket::figment::Figment;
use rocket::figment::providers::{Format, Toml};
use rocket_keycloak::OidcConfig;

use super::{Run, Sandbox, fake_keycloak, free_port, free_ports, repo};

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

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn two_dev_instances_share_the_sentinels_or_the_cluster_that_scripts_redis_started() {
    // The sentinels are on the base port +2, +3, +4 (after the master and its replica); the
    // cluster's nodes on +0, +1, +2 (and their bus ports on +3, +4, +5).
    type Setup = (&'static str, &'static str, u16, fn(u16) -> String);
    let setups: [Setup; 2] = [
        ("sentinel", "REDIS_SENTINEL_BASE_PORT", 4, |base| {
            let [a, b, c] = [base + 2, base + 3, base + 4];
            format!("redis+sentinel://127.0.0.1:{a},127.0.0.1:{b},127.0.0.1:{c}/sessions/0")
        }),
        ("cluster", "REDIS_CLUSTER_BASE_PORT", 5, |base| {
            let [a, b, c] = [base, base + 1, base + 2];
            format!("redis+cluster://127.0.0.1:{a},127.0.0.1:{b},127.0.0.1:{c}")
        }),
    ];
    for (mode, setting, len, url) in setups {
        let sandbox = dev_sandbox(&format!("dev-{mode}"));
        sandbox.link("redis-server");
        sandbox.link("redis-cli");
        let base = free_ports(len);
        let (base_port, redis_dir) = (base.to_string(), sandbox.path("redis"));
        let redis_env =
            [(setting, base_port.as_str()), ("REDIS_CACHE_DIR", redis_dir.to_str().unwrap())];
        let run =
            dev(&sandbox, &["--instances", "2", "--redis", mode], fake_keycloak(), &redis_env);
        let status = sandbox.run("scripts/redis", &[mode, "status"], &redis_env);
        let stopped = sandbox.run("scripts/redis", &[mode, "stop"], &redis_env);
        assert!(run.ok, "{mode}: {run:?}");
        assert_eq!(status.stdout, "running\n", "{mode}: {status:?}");
        assert!(stopped.ok, "{mode}: {stopped:?}");
        assert_eq!(sandbox.read("apt.log"), "", "{mode}: {run:?}");

        // `cargo build`, then the two instances, all given that setup's URL.
        let log = sandbox.read("app.log");
        let store = url(base);
        assert_eq!(seen(&log, "OIDC_SESSION_STORE"), [store.as_str(); 3], "{mode}");
        let mut ports = seen(&log, "ROCKET_PORT");
        ports.sort();
        assert_eq!(ports, ["", "8000", "8001"], "{mode}");
    }
}

#[test]
fn one_dev_instance_given_redis_asks_setup_for_redis_server() {
    // --redis alone puts the one instance's sessions in Redis: setup is asked for
    // redis-server, which this sandbox lacks (the stub apt-get installs nothing).
    let sandbox = dev_sandbox("dev-one-redis");
    let run = dev(&sandbox, &["--redis", "cluster"], fake_keycloak(), &[]);
    assert!(!run.ok, "{run:?}");
    assert!(sandbox.read("apt.log").contains("install -y -q --no-install-recommends redis-server"));
    assert!(run.stderr.contains("redis-server not found"), "{run:?}");
    assert_eq!(sandbox.read("app.log"), "", "{run:?}");
}

#[test]
fn dev_refuses_a_redis_setup_it_does_not_know() {
    let sandbox = dev_sandbox("dev-redis-bogus");
    let run = dev(&sandbox, &["--instances", "2", "--redis", "bogus"], free_port(), &[]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr, "dev: --redis takes single, sentinel or cluster, not bogus\n");
    let run = dev(&sandbox, &["--redis"], free_port(), &[]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr, "dev: --redis takes single, sentinel or cluster\n");
    // Refused before anything was installed, started or run.
    assert_eq!(sandbox.read("apt.log"), "");
    assert_eq!(sandbox.read("app.log"), "");
}
