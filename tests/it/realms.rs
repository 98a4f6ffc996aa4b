//! Several realms on one API (`oidc.issuers`), against in-process IdPs: tokens of every
//! listed realm pass, each checked with its own realm's keys; roles count only in their
//! realm; a token naming an unlisted issuer costs no request to anyone; a realm that is down
//! does not take the others down; user data is keyed by issuer and subject, so a `sub` from
//! another realm reaches nobody's notes; levels of assurance count only in their realm, by
//! that realm's own `acr_levels`; each realm accepts only its own clients (`allowed_azp`).
//! Real Keycloak (`demo` and `partner`): `keycloak/realms.rs`.

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keycloak::{Level, RequireAcr};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint, mint_with_header};
use serde_json::{Value, json};

use crate::{get_with_token, spawn_app_with, www_authenticate};

/// The app with `main` (the sign-in realm) and `partner`.
async fn two_realms(main: &Idp, partner: &Idp) -> Client {
    spawn_app_with(main, json!({"issuers": [main.issuer(), partner.issuer()]})).await
}

#[rocket::async_test]
async fn tokens_of_every_listed_realm_pass_with_their_own_keys() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let app = two_realms(&main, &partner).await;
    let ours = mint(&main_key, &access_claims(&main, "alice", &["user"]));
    let theirs = mint(&partner_key, &access_claims(&partner, "pat", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &ours).await.status(), Status::Ok);
    let response = get_with_token(&app, "/me", &theirs).await;
    assert_eq!(response.status(), Status::Ok);
    let me: Value = response.into_json().await.unwrap();
    assert_eq!(me["issuer"], partner.issuer(), "the identity says which realm");
    // A token that names the partner realm but is signed with the main realm's key: judged
    // by the partner realm's keys only, so refused.
    let mut crossed = access_claims(&partner, "mallory", &["user"]);
    crossed["iss"] = json!(partner.issuer());
    let header = json!({"alg": "RS256", "kid": partner_key.kid, "typ": "JWT"});
    let forged = mint_with_header(&main_key, &header, &crossed);
    let response = get_with_token(&app, "/secure-data", &forged).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(www_authenticate(&response).contains("invalid_token"));
}

#[rocket::async_test]
async fn roles_count_only_in_their_realm() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let app = two_realms(&main, &partner).await;
    // `/admin-data` needs the realm role `admin` of the sign-in realm.
    let our_admin = mint(&main_key, &access_claims(&main, "ada", &["admin"]));
    let their_admin = mint(&partner_key, &access_claims(&partner, "pat", &["admin"]));
    assert_eq!(get_with_token(&app, "/admin-data", &our_admin).await.status(), Status::Ok);
    let response = get_with_token(&app, "/admin-data", &their_admin).await;
    assert_eq!(response.status(), Status::Forbidden, "another realm's admin is no admin here");
    assert!(www_authenticate(&response).contains("insufficient_scope"));
}

#[rocket::async_test]
async fn an_unlisted_issuer_costs_no_request_to_anyone() {
    let (main_key, partner_key, stranger_key) = (TestKey::rsa1(), TestKey::rsa2(), TestKey::rsa3());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let stranger = Idp::start(&[&stranger_key]).await;
    let app = two_realms(&main, &partner).await;
    let hits = || [&main, &partner, &stranger].map(|idp| (idp.discovery_hits(), idp.jwks_hits()));
    let before = hits();
    for kid in ["rsa3", "new-kid-1", "new-kid-2"] {
        let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
        let token =
            mint_with_header(&stranger_key, &header, &access_claims(&stranger, "eve", &["user"]));
        let response = get_with_token(&app, "/secure-data", &token).await;
        assert_eq!(response.status(), Status::Unauthorized, "{kid}");
        assert!(www_authenticate(&response).contains("wrong issuer"), "{kid}");
    }
    // No iss at all, and an unreadable payload: refused the same way.
    for token in ["eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9.!!!.c2ln"] {
        assert_eq!(
            get_with_token(&app, "/secure-data", token).await.status(),
            Status::Unauthorized
        );
    }
    assert_eq!(hits(), before, "no discovery or JWKS request to any realm, listed or not");
}

#[rocket::async_test]
async fn a_realm_that_is_down_does_not_take_the_others_down() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    partner.stop();
    let app = two_realms(&main, &partner).await;
    let ready = app.get("/ready").dispatch().await;
    assert_eq!(ready.status(), Status::Ok, "the sign-in realm has keys");
    let body: Value = ready.into_json().await.unwrap();
    assert_eq!(body["realms_without_keys"], json!(["partner"]));
    let ours = mint(&main_key, &access_claims(&main, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &ours).await.status(), Status::Ok);
    // The partner's token may be fine: 503 with Retry-After, not 401.
    let theirs = mint(&partner_key, &access_claims(&partner, "pat", &["user"]));
    let response = get_with_token(&app, "/secure-data", &theirs).await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert!(response.headers().get_one("Retry-After").is_some());
}

#[rocket::async_test]
async fn the_issuer_list_is_checked_at_launch() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let other = "https://keycloak.example/realms/partner";
    for (issuers, why) in [
        (json!([]), "an empty list"),
        (json!([other, idp.issuer()]), "the first is not oidc.issuer"),
        (json!([idp.issuer(), other, other]), "a duplicate"),
        (json!([idp.issuer(), "http://keycloak.example/realms/partner"]), "plain http"),
        (json!([idp.issuer(), {"issuer": other, "colour": "blue"}]), "an unknown key"),
        (json!([idp.issuer(), {"issuer": other, "audience": " "}]), "an empty audience"),
    ] {
        let figment = crate::figment_for(&idp, json!({"issuers": issuers}));
        let error = rocket_keycloak::OidcConfig::from_figment(&figment).unwrap_err();
        assert!(error.key == "oidc.issuers" || error.key == "oidc", "{why}: {error}");
    }
    // A table with its own audience and discovery URL is fine.
    let issuers = json!([idp.issuer(), {"issuer": other, "audience": "partner-api"}]);
    let config = rocket_keycloak::OidcConfig::from_figment(&crate::figment_for(
        &idp,
        json!({"issuers": issuers}),
    ))
    .unwrap();
    assert_eq!(config.realms.len(), 2);
    assert_eq!(config.realms[1].name(), "partner");
    assert_eq!(config.realms[1].audience, "partner-api");
    assert_eq!(config.realms[0].issuer, config.issuer);
}

/// `POST /notes` with a bearer token.
async fn post_note(app: &Client, token: &str, text: &str) -> Status {
    app.post("/notes")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .header(ContentType::JSON)
        .body(json!({ "text": text }).to_string())
        .dispatch()
        .await
        .status()
}

/// `GET /notes` with a bearer token: the notes.
async fn notes_of(app: &Client, token: &str) -> Value {
    let response = get_with_token(app, "/notes", token).await;
    assert_eq!(response.status(), Status::Ok);
    response.into_json::<Value>().await.unwrap()["notes"].clone()
}

#[rocket::async_test]
async fn a_partner_token_with_a_main_users_sub_cannot_read_or_write_their_notes() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let app = two_realms(&main, &partner).await;
    let ours = mint(&main_key, &access_claims(&main, "alice", &["user"]));
    // The partner realm hands out the same `sub` as the main realm's alice.
    let theirs = mint(&partner_key, &access_claims(&partner, "alice", &["user"]));
    assert_eq!(post_note(&app, &ours, "alice's secret").await, Status::Ok);
    assert_eq!(notes_of(&app, &theirs).await, json!([]), "another realm's user sees nothing");
    assert_eq!(post_note(&app, &theirs, "the partner's note").await, Status::Ok);
    assert_eq!(notes_of(&app, &ours).await, json!(["alice's secret"]), "nothing written to hers");
    assert_eq!(notes_of(&app, &theirs).await, json!(["the partner's note"]));
}

/// An access token of `idp`'s realm for `user` at level `acr`, issued to client `azp`.
fn token_of(idp: &Idp, key: &TestKey, user: &str, acr: &str, azp: &str) -> String {
    let mut claims = access_claims(idp, user, &["user"]);
    (claims["acr"], claims["azp"]) = (json!(acr), json!(azp));
    claims["auth_time"] = json!(rocket_keycloak_testkit::now());
    mint(key, &claims)
}

#[rocket::async_test]
async fn a_partner_token_at_gold_is_refused_where_the_sign_in_realm_asks_for_gold() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let overrides =
        json!({"issuers": [main.issuer(), partner.issuer()], "acr_levels": ["silver", "gold"]});
    let app = spawn_app_with(&main, overrides).await;
    // A partner-realm administrator maps `acr` to `gold` for a password-only sign-in.
    let theirs = token_of(&partner, &partner_key, "pat", "gold", "demo-app");
    let response = get_with_token(&app, "/sensitive-data", &theirs).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        www_authenticate(&response),
        "Bearer realm=\"test\", error=\"insufficient_user_authentication\", \
         error_description=\"Authentication at level gold is required\", acr_values=\"gold\""
    );
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "insufficient_user_authentication");
    // The step-up page, as a bearer caller: the same answer (with the page's max_age).
    let page = get_with_token(&app, "/sensitive", &theirs).await;
    assert_eq!(page.status(), Status::Unauthorized);
    assert!(www_authenticate(&page).contains("insufficient_user_authentication"));
    // The token itself is fine where no level is asked, and the sign-in realm's gold passes.
    assert_eq!(get_with_token(&app, "/secure-data", &theirs).await.status(), Status::Ok);
    let ours = token_of(&main, &main_key, "alice", "gold", "demo-app");
    assert_eq!(get_with_token(&app, "/sensitive-data", &ours).await.status(), Status::Ok);
    assert_eq!(get_with_token(&app, "/sensitive", &ours).await.status(), Status::Ok);
}

/// `gold` of the `partner` realm, by its own levels.
struct PartnerGold;
impl Level for PartnerGold {
    const REALM: Option<&'static str> = Some("partner");
    const ACR: &'static str = "gold";
}

/// `gold` of a realm the configuration does not list.
struct StrangerGold;
impl Level for StrangerGold {
    const REALM: Option<&'static str> = Some("stranger");
    const ACR: &'static str = "gold";
}

#[get("/partner-gold")]
fn partner_gold(_user: RequireAcr<PartnerGold>) -> &'static str {
    "partner gold"
}

#[get("/stranger-gold")]
fn stranger_gold(_user: RequireAcr<StrangerGold>) -> &'static str {
    "stranger gold"
}

/// The demo app with the two realms as `issuers` says, plus the partner-level routes.
async fn app_with_partner_routes(main: &Idp, issuers: Value) -> Client {
    let overrides = json!({"issuers": issuers, "acr_levels": ["silver", "gold"]});
    let rocket = rocket_keycloak_demo::rocket_with(crate::figment_for(main, overrides))
        .mount("/", routes![partner_gold, stranger_gold]);
    Client::tracked(rocket).await.expect("app launches")
}

#[rocket::async_test]
async fn a_level_marker_naming_the_partner_realm_counts_the_partner_realms_own_levels() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let partner_entry = json!({"issuer": partner.issuer(), "acr_levels": ["bronze", "gold"]});
    let app = app_with_partner_routes(&main, json!([main.issuer(), partner_entry])).await;
    let theirs = |acr| token_of(&partner, &partner_key, "pat", acr, "demo-app");
    assert_eq!(get_with_token(&app, "/partner-gold", &theirs("gold")).await.status(), Status::Ok);
    // Below the partner's gold, or a level only the sign-in realm lists: the challenge.
    for acr in ["bronze", "silver"] {
        let response = get_with_token(&app, "/partner-gold", &theirs(acr)).await;
        assert_eq!(response.status(), Status::Unauthorized, "{acr}");
        assert!(www_authenticate(&response).contains("insufficient_user_authentication"));
    }
    // The sign-in realm's gold opens the sign-in realm's routes, not the partner's.
    let ours = token_of(&main, &main_key, "alice", "gold", "demo-app");
    assert_eq!(get_with_token(&app, "/partner-gold", &ours).await.status(), Status::Unauthorized);
    assert_eq!(get_with_token(&app, "/sensitive-data", &ours).await.status(), Status::Ok);
    // A marker naming a realm that is not configured refuses everyone.
    for token in [&ours, &theirs("gold")] {
        let status = get_with_token(&app, "/stranger-gold", token).await.status();
        assert_eq!(status, Status::Unauthorized);
    }
}

#[rocket::async_test]
async fn a_partner_realm_without_its_own_levels_meets_no_level() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    // The partner realm does not inherit the sign-in realm's ["silver", "gold"].
    let app = app_with_partner_routes(&main, json!([main.issuer(), partner.issuer()])).await;
    let theirs = token_of(&partner, &partner_key, "pat", "gold", "demo-app");
    let response = get_with_token(&app, "/partner-gold", &theirs).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(www_authenticate(&response).contains("insufficient_user_authentication"));
}

#[rocket::async_test]
async fn each_realm_accepts_only_its_own_clients() {
    let (main_key, partner_key) = (TestKey::rsa1(), TestKey::rsa2());
    let main = Idp::start(&[&main_key]).await;
    let partner = Idp::start_realm(&[&partner_key], "partner").await;
    let partner_entry = json!({"issuer": partner.issuer(), "allowed_azp": ["partner-cli"]});
    let overrides = json!({"issuers": [main.issuer(), partner_entry], "allowed_azp": ["demo-app"]});
    let app = spawn_app_with(&main, overrides).await;
    for (idp, key, azp, status) in [
        (&main, &main_key, "demo-app", Status::Ok),
        (&main, &main_key, "partner-cli", Status::Unauthorized),
        // A partner client that happens to be called like the sign-in realm's client.
        (&partner, &partner_key, "demo-app", Status::Unauthorized),
        (&partner, &partner_key, "partner-cli", Status::Ok),
    ] {
        let token = token_of(idp, key, "someone", "silver", azp);
        let response = get_with_token(&app, "/secure-data", &token).await;
        assert_eq!(response.status(), status, "{} {azp}", idp.issuer());
        if status == Status::Unauthorized {
            assert!(www_authenticate(&response).contains("invalid_token"), "{azp}");
        }
    }
}

#[rocket::async_test]
async fn a_further_realm_must_name_its_clients_when_the_sign_in_realm_does() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let partner = "https://keycloak.example/realms/partner";
    let config = |issuers: Value| {
        let overrides = json!({"issuers": issuers, "allowed_azp": ["demo-app"]});
        rocket_keycloak::OidcConfig::from_figment(&crate::figment_for(&idp, overrides))
    };
    let error = config(json!([idp.issuer(), partner])).unwrap_err();
    assert_eq!(error.key, "oidc.issuers");
    assert!(error.message.contains("\"partner\"") && error.message.contains("allowed_azp"));
    let entry = json!({"issuer": partner, "allowed_azp": ["partner-cli"]});
    let config = config(json!([idp.issuer(), entry])).unwrap();
    assert_eq!(config.realms[0].allowed_azp, Some(vec!["demo-app".to_owned()]));
    assert_eq!(config.realms[1].allowed_azp, Some(vec!["partner-cli".to_owned()]));
}
