//! DPoP (RFC 9449) on the resource server, against the in-process IdP: a bound token with a
//! fresh proof passes once; every way a proof or a binding can be wrong is a 401 with the
//! `DPoP` challenge; a bound token cannot pass as a plain bearer token; the `required`
//! policy refuses plain tokens. The hostile proofs are in the adversarial corpus
//! (`adversarial/headers.rs`, `dpop_proof_cases`); real Keycloak tokens in `keycloak/dpop.rs`.

use rocket::http::{Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket_keycloak_testkit::dpop::{dpop_access_claims, dpop_proof};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint};
use serde_json::{Value, json};

use crate::{get_with_token, spawn_app_with, www_authenticate};

mod flood;

pub(crate) const URL: &str = "http://localhost:8000/secure-data";

/// GET `/secure-data` with `Authorization: DPoP <token>` and these `DPoP` headers.
pub(crate) async fn dpop_get<'c>(
    app: &'c Client,
    token: &str,
    proofs: &[impl AsRef<str>],
) -> LocalResponse<'c> {
    let mut request =
        app.get("/secure-data").header(Header::new("Authorization", format!("DPoP {token}")));
    for proof in proofs {
        request = request.header(Header::new("DPoP", proof.as_ref().to_owned()));
    }
    request.dispatch().await
}

pub(crate) struct Setup {
    pub(crate) idp: std::sync::Arc<Idp>,
    pub(crate) signer: TestKey,
    pub(crate) client_key: TestKey,
    pub(crate) token: String,
    pub(crate) app: Client,
}

pub(crate) async fn setup(overrides: Value) -> Setup {
    let signer = TestKey::rsa1();
    let client_key = TestKey::ec1();
    let idp = Idp::start(&[&signer]).await;
    let app = spawn_app_with(&idp, overrides).await;
    let token = mint(&signer, &dpop_access_claims(&idp, "alice", &["user"], &client_key));
    Setup { idp, signer, client_key, token, app }
}

/// Asserts a 401 `invalid_dpop_proof` with the DPoP challenge; returns its description.
pub(crate) async fn assert_invalid_proof(response: LocalResponse<'_>, case: &str) -> String {
    assert_eq!(response.status(), Status::Unauthorized, "{case}");
    let challenge = www_authenticate(&response);
    assert!(challenge.starts_with("DPoP algs=\""), "{case}: {challenge}");
    assert!(challenge.contains("error=\"invalid_dpop_proof\""), "{case}: {challenge}");
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{case}");
    body["error_description"].as_str().unwrap().to_owned()
}

#[rocket::async_test]
async fn a_bound_token_with_a_fresh_proof_passes_once() {
    let Setup { client_key, token, app, .. } = setup(json!({})).await;
    let proof = dpop_proof(&client_key, "GET", URL, Some(&token));
    let response = dpop_get(&app, &token, &[&proof]).await;
    assert_eq!(response.status(), Status::Ok);
    // A new proof for every request: the token is cached, the proof is not.
    let again = dpop_proof(&client_key, "GET", URL, Some(&token));
    assert_eq!(dpop_get(&app, &token, &[&again]).await.status(), Status::Ok);
    // The same proof twice: a replay.
    let description = assert_invalid_proof(dpop_get(&app, &token, &[&proof]).await, "replay").await;
    assert_eq!(description, "The DPoP proof was already used");
    // /me says the identity is bound.
    let me = app
        .get("/me")
        .header(Header::new("Authorization", format!("DPoP {token}")))
        .header(Header::new(
            "DPoP",
            dpop_proof(&client_key, "GET", "http://localhost:8000/me", Some(&token)),
        ))
        .dispatch()
        .await;
    let me: Value = me.into_json().await.unwrap();
    assert_eq!(me["dpop_jkt"], rocket_keycloak_testkit::dpop::jkt(&client_key));
}

#[rocket::async_test]
async fn a_bound_token_cannot_pass_as_a_plain_bearer_token() {
    let Setup { token, app, .. } = setup(json!({})).await;
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenge = www_authenticate(&response);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("DPoP-bound"), "{challenge}");
}

/// A thief of a bound token cannot use it, and must not be able to deny its owner either:
/// the stolen signature under another payload is refused (and remembered as refused), and
/// the genuine token with its proof still passes.
#[rocket::async_test]
async fn a_stolen_bound_token_reworked_cannot_get_the_genuine_one_refused() {
    let Setup { client_key, token, app, .. } = setup(json!({})).await;
    let (header, rest) = token.split_once('.').unwrap();
    let signature = rest.rsplit_once('.').unwrap().1;
    let reworked =
        format!("{header}.{}.{signature}", rocket_keycloak_testkit::b64("{\"sub\":\"x\"}"));
    for _ in 0..3 {
        let response = get_with_token(&app, "/secure-data", &reworked).await;
        assert_eq!(response.status(), Status::Unauthorized);
    }
    let proof = dpop_proof(&client_key, "GET", URL, Some(&token));
    assert_eq!(dpop_get(&app, &token, &[&proof]).await.status(), Status::Ok);
}

#[rocket::async_test]
async fn the_token_kind_rule_takes_exactly_keycloaks_two_shapes() {
    let Setup { idp, signer, client_key, app, .. } = setup(json!({})).await;
    let plain = mint(&signer, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &plain).await.status(), Status::Ok);
    // typ DPoP without cnf; typ Bearer with cnf; cnf without jkt; an empty jkt.
    let mut shapes = Vec::new();
    let bound = dpop_access_claims(&idp, "mallory", &["user"], &client_key);
    let mut no_cnf = bound.clone();
    no_cnf.as_object_mut().unwrap().remove("cnf");
    shapes.push(("typ DPoP, no cnf", no_cnf));
    let mut bearer_bound = bound.clone();
    bearer_bound["typ"] = json!("Bearer");
    shapes.push(("typ Bearer, cnf", bearer_bound));
    let mut no_jkt = bound.clone();
    no_jkt["cnf"] = json!({"x5t#S256": "abc"});
    shapes.push(("cnf without jkt", no_jkt));
    let mut empty = bound;
    empty["cnf"]["jkt"] = json!("");
    shapes.push(("empty jkt", empty));
    for (name, claims) in shapes {
        let token = mint(&signer, &claims);
        let proof = dpop_proof(&client_key, "GET", URL, Some(&token));
        for response in [
            get_with_token(&app, "/secure-data", &token).await,
            dpop_get(&app, &token, &[&proof]).await,
        ] {
            assert_eq!(response.status(), Status::Unauthorized, "{name}");
            assert!(www_authenticate(&response).contains("invalid_token"), "{name}");
        }
    }
    // A plain token under the DPoP scheme, with a proof: not bound, refused.
    let proof = dpop_proof(&client_key, "GET", URL, Some(&plain));
    let response = dpop_get(&app, &plain, &[&proof]).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(www_authenticate(&response).contains("A DPoP-bound token is required"));
}

#[rocket::async_test]
async fn the_required_policy_refuses_plain_tokens_and_says_dpop() {
    let Setup { idp, signer, client_key, token, app } = setup(json!({"dpop": "required"})).await;
    let plain = mint(&signer, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/secure-data", &plain).await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenge = www_authenticate(&response);
    assert!(challenge.starts_with("DPoP algs=\""), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let anonymous = app.get("/secure-data").dispatch().await;
    assert_eq!(www_authenticate(&anonymous), format!("DPoP algs=\"{}\", realm=\"test\"", ALGS));
    let proof = dpop_proof(&client_key, "GET", URL, Some(&token));
    assert_eq!(dpop_get(&app, &token, &[&proof]).await.status(), Status::Ok);
}

/// The default allow-list, as the challenge lists it.
const ALGS: &str = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA";

#[rocket::get("/bound-only")]
fn bound_only(user: rocket_keycloak::RequireDpop) -> String {
    format!("bound to {}", user.dpop_jkt.as_deref().unwrap_or_default())
}

#[rocket::async_test]
async fn require_dpop_asks_for_a_bound_token_on_one_route() {
    let signer = TestKey::rsa1();
    let client_key = TestKey::ec1();
    let idp = Idp::start(&[&signer]).await;
    let figment = crate::figment_for(&idp, json!({}));
    let rocket = rocket_keycloak_demo::rocket_with(figment).mount("/", rocket::routes![bound_only]);
    let app = Client::tracked(rocket).await.unwrap();
    let plain = mint(&signer, &access_claims(&idp, "alice", &["user"]));
    // The global policy allows plain tokens: /secure-data takes one, /bound-only does not.
    assert_eq!(get_with_token(&app, "/secure-data", &plain).await.status(), Status::Ok);
    let response = get_with_token(&app, "/bound-only", &plain).await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenge = www_authenticate(&response);
    assert!(challenge.starts_with("DPoP algs="), "{challenge}");
    let bound = mint(&signer, &dpop_access_claims(&idp, "alice", &["user"], &client_key));
    let proof = dpop_proof(&client_key, "GET", "http://localhost:8000/bound-only", Some(&bound));
    let response = app
        .get("/bound-only")
        .header(Header::new("Authorization", format!("DPoP {bound}")))
        .header(Header::new("DPoP", proof))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
}

#[rocket::async_test]
async fn one_proof_sent_many_times_at_once_passes_once() {
    let Setup { client_key, token, app, .. } = setup(json!({})).await;
    let proof = dpop_proof(&client_key, "GET", URL, Some(&token));
    let proofs = [proof.as_str()];
    let requests = (0..10).map(|_| dpop_get(&app, &token, &proofs));
    let statuses: Vec<Status> =
        crate::join_all(requests).await.iter().map(|r| r.status()).collect();
    let passed = statuses.iter().filter(|s| **s == Status::Ok).count();
    assert_eq!(passed, 1, "a race of replays: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == Status::Ok || *s == Status::Unauthorized));
}
