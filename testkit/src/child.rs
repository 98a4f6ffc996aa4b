//! One test of a test binary run in a fresh process of its own: for what a process has
//! once (the logger, the metrics recorder, the refusal summary's counters).
//!
//! ```no_run
//! # use rocket_keycloak_testkit::child::{is_child, run_in_child};
//! #[test]
//! fn counts_in_a_process_of_its_own() {
//!     const NAME: &str = "counts_in_a_process_of_its_own";
//!     if !is_child(NAME) {
//!         print!("{}", run_in_child(NAME));
//!         return;
//!     }
//!     // The test itself, alone in this process.
//! }
//! ```

/// Set in a child process: the name of the test it runs.
const CHILD: &str = "ROCKET_KEYCLOAK_TEST_CHILD";

/// Whether this process is the child of test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|child| child == name)
}

/// Runs test `name` of this test binary in a fresh process, which must pass; returns
/// everything it printed (stdout, then stderr).
pub fn run_in_child(name: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .expect("the test binary runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the child failed:\n{printed}");
    printed
}
