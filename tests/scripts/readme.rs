//! The README's "API tokens without a browser" example, run as written on a machine without
//! jq, against the running Keycloak.

use super::{Sandbox, repo};

/// The README's shell block that asks Keycloak for a token.
fn token_example() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("```sh\nTOKEN=$(curl").expect("the README's token example") + 6;
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

#[test]
#[ignore = "needs Keycloak: run scripts/test"]
fn the_readmes_token_example_needs_no_jq() {
    let example = token_example();
    // The last line calls the app, which need not run here: the token is the point.
    let (get_token, call_app) = example.trim_end().rsplit_once('\n').unwrap();
    assert!(call_app.contains("Authorization: Bearer $TOKEN"), "{example}");
    let keycloak = std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://localhost:8080".into());
    let script = format!(
        "set -o pipefail\n{}\nprintf '%s' \"$TOKEN\"",
        get_token.replace("http://localhost:8080", &keycloak)
    );

    let sandbox = Sandbox::new("readme-token");
    assert!(!sandbox.path("bin/jq").exists());
    std::fs::write(sandbox.path("example"), script).unwrap();
    let run = sandbox.run_program(
        &sandbox.path("bin/bash"),
        &[sandbox.path("example").to_str().unwrap()],
        &[],
    );
    assert!(run.ok, "{run:?}");
    let parts: Vec<_> = run.stdout.split('.').collect();
    assert!(parts.len() == 3 && parts.iter().all(|p| !p.is_empty()), "not a JWT: {run:?}");
}
