//! `scripts/setup`: which JDK it asks apt for, that the JDK gets an apt-get call of its own,
//! and that each mode asks for what its command needs and nothing more. The script is
//! sourced; `have` (is a command there), `have_file`, `has_supported_java`, `apt-cache` and
//! `apt_get` are redefined after it, so nothing is installed.

use super::{Run, bash};

/// `apt-cache policy openjdk-21-jdk-headless openjdk-25-jdk-headless openjdk-17-jdk-headless`
/// on Debian 12: 21 and 25 unknown (apt prints nothing for them), 17 installable.
const BOOKWORM: &str = "\
openjdk-17-jdk-headless:
  Installed: (none)
  Candidate: 17.0.21.1+2-1~deb12u1
  Version table:
     17.0.21.1+2-1~deb12u1 500
        500 mirror bookworm-security/main amd64 Packages
";

/// A newer release: 17 gone, 21 and 25 installable (in apt's order, 21 after 25).
const TRIXIE: &str = "\
openjdk-25-jdk-headless:
  Installed: (none)
  Candidate: 25.0.1+8-1
  Version table:
     25.0.1+8-1 500
        500 mirror trixie/main amd64 Packages
openjdk-21-jdk-headless:
  Installed: (none)
  Candidate: 21.0.9+10-1~deb13u1
  Version table:
     21.0.9+10-1~deb13u1 500
        500 mirror trixie/main amd64 Packages
";

/// 21 known but not installable (no candidate), 25 installable.
const ONLY_25: &str = "\
openjdk-21-jdk-headless:
  Installed: (none)
  Candidate: (none)
  Version table:
openjdk-25-jdk-headless:amd64:
  Installed: (none)
  Candidate: 25.0.1+8-1
  Version table:
";

/// 17 and 21 both installable, 17 listed first.
const SEVENTEEN_FIRST: &str = "\
openjdk-17-jdk-headless:
  Candidate: 17.0.21.1+2-1~deb12u1
openjdk-21-jdk-headless:
  Candidate: 21.0.9+10-1
";

/// Sources scripts/setup, answers apt-cache with `APT_POLICY`, then runs `then`.
fn with_setup(then: &str, env: &[(&str, &str)]) -> Run {
    bash(
        &format!(
            r#"source scripts/setup
apt-cache() {{ [[ $1 == policy ]] && printf '%s' "$APT_POLICY"; }}
{then}"#
        ),
        env,
    )
}

#[test]
fn the_jdk_is_the_first_of_21_25_and_17_that_apt_offers() {
    for (policy, expected) in [
        (BOOKWORM, "openjdk-17-jdk-headless"),
        (TRIXIE, "openjdk-21-jdk-headless"),
        (ONLY_25, "openjdk-25-jdk-headless"),
        (SEVENTEEN_FIRST, "openjdk-21-jdk-headless"),
    ] {
        let run = with_setup("jdk_package", &[("APT_POLICY", policy)]);
        assert!(run.ok, "{run:?}");
        assert_eq!(run.stdout.trim(), expected, "for\n{policy}");
    }
    let none = "openjdk-21-jdk-headless:\n  Candidate: (none)\n";
    for policy in ["", none] {
        let run = with_setup("jdk_package", &[("APT_POLICY", policy)]);
        assert!(!run.ok && run.stdout.is_empty(), "{run:?}");
    }
}

/// The machine lacks everything; apt_get writes down what it is asked. `java_after` is the
/// answer of `has_supported_java` once Maven is installed.
fn install_on_a_bare_machine(mode: &str, policy: &str, java_after_maven: bool) -> (Run, String) {
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("setup-apt-{mode}"));
    let _ = std::fs::remove_file(&log);
    let run = with_setup(
        &format!(
            r#"have() {{ return 1; }}
have_file() {{ return 1; }}
has_supported_java() {{ {java_after_maven} && grep -q maven "$APT_LOG" 2>/dev/null; }}
apt_get() {{ echo "$*" >>"$APT_LOG"; }}
install_missing {mode}"#
        ),
        &[("APT_POLICY", policy), ("APT_LOG", log.to_str().unwrap())],
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    (run, calls)
}

#[test]
fn the_jdk_gets_an_apt_get_of_its_own_after_the_other_packages() {
    let (run, calls) = install_on_a_bare_machine("test", TRIXIE, false);
    assert!(run.ok, "{run:?}");
    let options = "install -y -q --no-install-recommends";
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "update -q",
            &format!(
                "{options} maven unzip curl gcc libc6-dev redis-server g++ python3 chromium chromium-driver"
            ),
            &format!("{options} openjdk-21-jdk-headless"),
        ]
    );

    // A name apt does not offer is never asked for: with no JDK on offer the rest is
    // installed, and setup stops saying which names it looked for.
    let (run, calls) = install_on_a_bare_machine("dev", "", false);
    assert!(!run.ok, "{run:?}");
    assert!(calls.contains("maven") && !calls.contains("openjdk"), "{calls}");
    assert!(
        run.stderr.contains(
            "apt offers none of openjdk-21-jdk-headless openjdk-25-jdk-headless openjdk-17-jdk-headless"
        ),
        "{run:?}"
    );

    // Maven brought a Java runtime Keycloak supports: no JDK on top.
    let (run, calls) = install_on_a_bare_machine("dev", TRIXIE, true);
    assert!(run.ok, "{run:?}");
    assert!(!calls.contains("openjdk"), "{calls}");
}

/// What `missing_packages <mode>` lists on a machine where `have` says yes only to `present`.
fn missing(mode: &str, present: &str) -> Vec<String> {
    let run = with_setup(
        &format!(
            r#"have() {{ [[ " $PRESENT " == *" $1 "* ]]; }}
have_file() {{ return 1; }}
missing_packages {mode}"#
        ),
        &[("APT_POLICY", ""), ("PRESENT", present)],
    );
    assert!(run.ok, "{run:?}");
    run.stdout.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn one_dev_instance_asks_for_no_redis_server_browser_or_cxx_compiler() {
    assert_eq!(missing("dev", ""), ["maven", "unzip", "curl", "gcc", "libc6-dev"]);
    assert_eq!(
        missing("redis", ""),
        ["maven", "unzip", "curl", "gcc", "libc6-dev", "redis-server"]
    );
    assert_eq!(missing("dev", "mvn unzip curl cc"), Vec::<String>::new());
}

#[test]
fn the_tests_get_a_cxx_compiler_for_the_fuzz_crate() {
    let all_but_cxx = "mvn unzip curl cc redis-server python3";
    assert_eq!(missing("test", all_but_cxx), ["g++", "chromium", "chromium-driver"]);
    assert_eq!(missing("test", &format!("{all_but_cxx} c++")), ["chromium", "chromium-driver"]);
    assert_eq!(missing("test", &format!("{all_but_cxx} g++")), ["chromium", "chromium-driver"]);

    // And the check after the install says what is still missing and why.
    let run = with_setup(
        &format!(
            r#"have() {{ [[ " {all_but_cxx} " == *" $1 "* ]]; }}
has_supported_java() {{ return 0; }}
check_installed test"#
        ),
        &[("APT_POLICY", "")],
    );
    assert!(!run.ok, "{run:?}");
    assert!(
        run.stderr.contains("no C++ compiler (c++ or g++)")
            && run.stderr.contains("apt-get install g++"),
        "{run:?}"
    );
}
