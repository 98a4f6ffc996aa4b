//! The DPoP proof checks with a fixed request and binding: any input is refused cleanly (no
//! panic), and nothing is accepted but a proof signed by the one bound fixture key.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rocket_keycloak::DEFAULT_ALGORITHMS;
use rocket_keycloak::testing::{ProofRules, ProofTarget};
use rocket_keycloak_testkit::TestKey;
use rocket_keycloak_testkit::dpop::jkt;

const NOW: u64 = 1_800_000_000;
const TOKEN: &str = "the.access.token";

static SETUP: LazyLock<(ProofRules, String)> = LazyLock::new(|| {
    let app = url::Url::parse("http://localhost:8000").unwrap();
    (ProofRules::new(&DEFAULT_ALGORITHMS, &app), jkt(&TestKey::ec1()))
});

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = std::str::from_utf8(data) else { return };
    let (rules, jkt) = &*SETUP;
    let target = ProofTarget { method: "GET", path: "/secure-data" };
    if rules.check(proof, TOKEN, jkt, target, NOW).is_ok() {
        // Only a proof signed with the fixture key can get here: the fuzzer cannot forge.
        let header = proof.split('.').next().unwrap_or_default();
        assert!(!header.is_empty());
    }
});
