//! The long waits say how long they have waited: `progress_wait` (`scripts/lib/progress.sh`)
//! on its own, then `scripts/keycloak`'s first download and its wait for readiness, each with
//! stubs (Maven, kc.sh, java) on a stub clock, so 25 s pass at once.

use super::{Sandbox, bash, free_port};

#[test]
fn progress_wait_prints_the_seconds_waited_every_ten_seconds() {
    // A clock of its own in the same shell: `date` and `sleep` as functions.
    let clock = r#"source scripts/lib/progress.sh
clock=1000
date() { echo "$clock"; }
sleep() { clock=$((clock + $1)); }
"#;
    let run = bash(
        &format!(
            r#"{clock}
size() {{ echo "42 MB"; }}
done_at_25() {{ ((clock - 1000 >= 25)); }}
progress_wait "fetching it" 0 size done_at_25; echo "status $?""#
        ),
        &[],
    );
    assert_eq!(
        run.stdout, "fetching it, 10 s so far, 42 MB\nfetching it, 20 s so far, 42 MB\nstatus 0\n",
        "{run:?}"
    );

    // With a timeout: status 1 once it has passed, and no detail when it is `-`.
    let run =
        bash(&format!(r#"{clock} progress_wait "waiting" 15 - false; echo "status $?""#), &[]);
    assert_eq!(run.stdout, "waiting, 10 s so far\nstatus 1\n", "{run:?}");
}

/// Stubs whose waits end at 25 s on the stub clock (or after 30 real seconds, so that a
/// broken clock fails the test instead of hanging it).
const UNTIL_25_S: &str = r#"for _ in $(seq 3000); do
  (($(cat "${SANDBOX:?}/clock") >= 1025)) && break; /bin/sleep 0.01
done"#;

#[test]
fn keycloak_fetch_says_what_it_downloads_its_size_and_how_far_it_got() {
    let sandbox = Sandbox::new("keycloak-fetch");
    sandbox.stub_clock();
    sandbox.stub("unzip", "exit 1");
    // Maven: 3 MB of the zip in its partial file after the first second, then it fails at 25 s.
    sandbox.stub(
        "mvn",
        &format!(
            r#"[[ " $* " == *:zip" "* ]] || exit 1
dir=$HOME/.m2/repository/org/keycloak/keycloak-quarkus-dist/26.7.3
mkdir -p "$dir"
head -c 3000000 /dev/urandom >"$dir/keycloak-quarkus-dist-26.7.3.zip.part"
{UNTIL_25_S}
exit 1"#
        ),
    );
    let cache = sandbox.path("cache");
    let run = sandbox.run(
        "scripts/keycloak",
        &["fetch"],
        &[("KEYCLOAK_CACHE_DIR", cache.to_str().unwrap()), ("KEYCLOAK_VERSION", "26.7.3")],
    );
    assert!(!run.ok, "{run:?}");
    let announced = "keycloak: downloading Keycloak 26.7.3 with Maven: \
        org.keycloak:keycloak-quarkus-dist:26.7.3:zip, about 170 MB, once";
    assert!(run.stdout.starts_with(announced), "{run:?}");
    for seconds in [10, 20] {
        let line = format!(
            "keycloak: downloading keycloak-quarkus-dist-26.7.3.zip, {seconds} s so far, \
             3 MB of about 170 MB\n"
        );
        assert!(run.stdout.contains(&line), "no {line:?} in {run:?}");
    }
    assert!(run.stderr.contains("mvn could not download"), "{run:?}");
}

#[test]
fn keycloak_start_says_how_long_it_has_waited_for_readiness() {
    let sandbox = Sandbox::new("keycloak-start");
    sandbox.stub_clock();
    // An unpacked "Keycloak" whose kc.sh never answers and exits at 25 s, and a JDK 21.
    let home = "cache/keycloak-26.7.3";
    sandbox.file(&format!("{home}/lib/.keep"), "");
    sandbox.file(&format!("{home}/bin/kc.sh"), &format!("#!/bin/bash\n{UNTIL_25_S}\nexit 1\n"));
    sandbox.executable(&format!("{home}/bin/kc.sh"));
    sandbox.file("jdk/bin/java", "#!/bin/bash\necho 'openjdk version \"21.0.5\" 2024-10-15' >&2\n");
    sandbox.executable("jdk/bin/java");
    let (cache, jdk, port) = (sandbox.path("cache"), sandbox.path("jdk"), free_port().to_string());
    let run = sandbox.run(
        "scripts/keycloak",
        &["start"],
        &[
            ("KEYCLOAK_CACHE_DIR", cache.to_str().unwrap()),
            ("KEYCLOAK_VERSION", "26.7.3"),
            ("KEYCLOAK_PORT", &port),
            ("JAVA_HOME", jdk.to_str().unwrap()),
        ],
    );
    assert!(!run.ok, "{run:?}");
    for seconds in [10, 20] {
        let line = format!("keycloak: waiting for readiness, {seconds} s so far\n");
        assert!(run.stdout.contains(&line), "no {line:?} in {run:?}");
    }
    assert!(run.stderr.contains("exited before the realms (demo partner) were ready"), "{run:?}");
}
