//! Step-up authentication against the in-process IdP: the RFC 9470 challenge for bearer
//! callers, the browser's trip through `/login` with `acr_values` and `max_age`, the
//! callback's refusal of an authentication below what it asked for, the age rule, a
//! refresh that must not raise a session's level, and a page of another realm's level,
//! which no sign-in can reach. The same flows against real Keycloak (with
//! a real second factor) are in `keycloak/step_up.rs`.

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_keycloak::{Level, PageAcr};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, id_claims, mint, now, token_response};
use serde_json::{Value, json};

use crate::{get_with_token, query, spawn_app_with, www_authenticate};

const LEVELS: &str = r#"{"acr_levels": ["silver", "gold"]}"#;

async fn app_with_levels() -> (std::sync::Arc<Idp>, TestKey, Client) {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, serde_json::from_str(LEVELS).unwrap()).await;
    (idp, key, app)
}

/// An access token for alice with these `acr` and `auth_time` claims (`Value::Null`: absent).
fn token_at(idp: &Idp, key: &TestKey, acr: Value, auth_time: Value) -> String {
    let mut claims = access_claims(idp, "alice", &["user"]);
    for (name, value) in [("acr", acr), ("auth_time", auth_time)] {
        if !value.is_null() {
            claims[name] = value;
        }
    }
    mint(key, &claims)
}

/// GET `path` as a browser (HTML, the client's cookies).
async fn browse<'c>(app: &'c Client, path: &str) -> rocket::local::asynchronous::LocalResponse<'c> {
    app.get(path.to_owned()).header(Header::new("Accept", "text/html")).dispatch().await
}

/// Starts a sign-in at `login` (a `/login?...` path) and finishes it with an ID token whose
/// `acr` and `auth_time` are given; returns the callback's response status and location.
async fn sign_in_at(
    app: &Client,
    idp: &Idp,
    key: &TestKey,
    login: &str,
    acr: &str,
    auth_time: u64,
) -> (Status, Option<String>) {
    let response = app.get(login.to_owned()).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther, "{login}");
    let q = query(response.headers().get_one("Location").unwrap());
    let mut id = id_claims(idp, "alice", &q["nonce"]);
    id["acr"] = json!(acr);
    id["auth_time"] = json!(auth_time);
    let access = token_at(idp, key, json!(acr), json!(auth_time));
    let code = format!("code-{}", rocket_keycloak::testing::random_id());
    idp.expect_code(&code, token_response(&access, Some(&mint(key, &id)), Some("refresh-1")));
    let response = crate::flow::callback(app, idp, &q["state"], &code).await;
    (response.status(), response.headers().get_one("Location").map(str::to_owned))
}

async fn me(app: &Client) -> Value {
    app.get("/me").dispatch().await.into_json().await.expect("/me answers JSON")
}

#[rocket::async_test]
async fn bearer_tokens_below_the_level_get_the_rfc_9470_challenge() {
    let (idp, key, app) = app_with_levels().await;
    // Each of these satisfies nothing: absent, lower, Keycloak's raw LoA number, another
    // case, another type, a level the configuration does not know.
    for acr in [
        Value::Null,
        json!("silver"),
        json!("2"),
        json!("GOLD"),
        json!(["gold"]),
        json!("platinum"),
    ] {
        let token = token_at(&idp, &key, acr.clone(), json!(now()));
        let response = get_with_token(&app, "/sensitive-data", &token).await;
        assert_eq!(response.status(), Status::Unauthorized, "acr {acr}");
        assert_eq!(
            www_authenticate(&response),
            "Bearer realm=\"test\", error=\"insufficient_user_authentication\", \
             error_description=\"Authentication at level gold is required\", acr_values=\"gold\"",
            "acr {acr}"
        );
        let body: Value = response.into_json().await.unwrap();
        assert_eq!(body["error"], "insufficient_user_authentication");
        // The same token is fine where no level is asked.
        assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    }
    let gold = token_at(&idp, &key, json!("gold"), json!(now() - 3600));
    let response = get_with_token(&app, "/sensitive-data", &gold).await;
    assert_eq!(response.status(), Status::Ok, "gold, of any age");
    assert_eq!(
        response.into_json::<Value>().await.unwrap(),
        json!({"data": "This is sensitive data."})
    );
    // /me shows the level and the time of the authentication.
    let me: Value = get_with_token(&app, "/me", &gold).await.into_json().await.unwrap();
    assert_eq!((me["acr"].clone(), me["auth_time"].clone()), (json!("gold"), json!(now() - 3600)));
}

#[rocket::async_test]
async fn a_level_missing_from_the_configuration_is_refused_to_everyone() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({})).await; // no acr_levels
    let gold = token_at(&idp, &key, json!("gold"), json!(now()));
    let response = get_with_token(&app, "/sensitive-data", &gold).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(www_authenticate(&response).contains("insufficient_user_authentication"));
}

#[rocket::async_test]
async fn a_bearer_caller_on_the_step_up_page_gets_the_challenge_with_max_age() {
    let (idp, key, app) = app_with_levels().await;
    let old = token_at(&idp, &key, json!("gold"), json!(now() - 301));
    let response = app
        .get("/sensitive")
        .header(Header::new("Authorization", format!("Bearer {old}")))
        .header(Header::new("Accept", "text/html"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized, "a challenge, never a redirect");
    assert_eq!(
        www_authenticate(&response),
        "Bearer realm=\"test\", error=\"insufficient_user_authentication\", \
         error_description=\"A more recent authentication is required\", acr_values=\"gold\", \
         max_age=\"300\""
    );
    let fresh = token_at(&idp, &key, json!("gold"), json!(now() - 10));
    let response = get_with_token(&app, "/sensitive", &fresh).await;
    assert_eq!(response.status(), Status::Ok);
    assert!(response.into_string().await.unwrap().contains("This is sensitive data."));
    // No auth_time: the age cannot be proven.
    let timeless = token_at(&idp, &key, json!("gold"), Value::Null);
    assert_eq!(get_with_token(&app, "/sensitive", &timeless).await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn a_browser_steps_up_through_login_and_lands_back_on_the_page() {
    let (idp, key, app) = app_with_levels().await;
    assert_eq!(sign_in_at(&app, &idp, &key, "/login", "silver", now()).await.0, Status::SeeOther);
    assert_eq!(me(&app).await["acr"], "silver");
    let hello = browse(&app, "/hello").await.into_string().await.unwrap();
    assert!(hello.contains("id=\"step-up\""), "a silver session is offered the step-up");
    // Below the level: off to the sign-in, with the level and the age.
    let response = browse(&app, "/sensitive").await;
    assert_eq!(response.status(), Status::SeeOther);
    let login = response.headers().get_one("Location").unwrap().to_owned();
    assert_eq!(login, "/login?next=%2Fsensitive&acr=gold&max_age=300");
    // The sign-in asks Keycloak for them.
    let authorize = app.get(login.clone()).dispatch().await;
    let q = query(authorize.headers().get_one("Location").unwrap());
    assert_eq!((q["acr_values"].as_str(), q["max_age"].as_str()), ("gold", "300"));
    // Keycloak answers at gold, just now: back on the page.
    let (status, location) = sign_in_at(&app, &idp, &key, &login, "gold", now()).await;
    assert_eq!((status, location.as_deref()), (Status::SeeOther, Some("/sensitive")));
    let page = browse(&app, "/sensitive").await;
    assert_eq!(page.status(), Status::Ok);
    assert!(page.into_string().await.unwrap().contains("This is sensitive data."));
    assert_eq!(me(&app).await["acr"], "gold");
    // The session also opens the JSON route at gold.
    assert_eq!(app.get("/sensitive-data").dispatch().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn a_visitor_not_signed_in_goes_straight_to_the_step_up_sign_in() {
    let (_idp, _key, app) = app_with_levels().await;
    let response = browse(&app, "/sensitive").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        response.headers().get_one("Location"),
        Some("/login?next=%2Fsensitive&acr=gold&max_age=300")
    );
    // An API client without credentials gets the plain RFC 6750 answer.
    let api = app.get("/sensitive-data").dispatch().await;
    assert_eq!(api.status(), Status::Unauthorized);
    assert_eq!(www_authenticate(&api), "Bearer realm=\"test\"");
}

#[rocket::async_test]
async fn the_callback_refuses_an_authentication_below_what_it_asked_for() {
    let (idp, key, app) = app_with_levels().await;
    assert_eq!(sign_in_at(&app, &idp, &key, "/login", "silver", now()).await.0, Status::SeeOther);
    let step_up = "/login?next=/sensitive&acr=gold&max_age=300";
    // Keycloak answered at a lower level (a flow without the second factor): refused.
    assert_eq!(sign_in_at(&app, &idp, &key, step_up, "silver", now()).await.0, Status::Forbidden);
    // At the level, but from an authentication older than max_age: refused.
    let old = now() - 400;
    assert_eq!(sign_in_at(&app, &idp, &key, step_up, "gold", old).await.0, Status::Forbidden);
    // A level the configuration does not know: refused.
    assert_eq!(sign_in_at(&app, &idp, &key, step_up, "platinum", now()).await.0, Status::Forbidden);
    // Each refusal left the earlier session as it was.
    assert_eq!(me(&app).await["acr"], "silver");
    // Without a step-up, the same old gold sign-in is a normal sign-in.
    let (status, _) = sign_in_at(&app, &idp, &key, "/login", "gold", old).await;
    assert_eq!(status, Status::SeeOther);
}

#[rocket::async_test]
async fn past_max_age_the_page_asks_again() {
    let (idp, key, app) = app_with_levels().await;
    // The second factor 290 s ago: the page opens.
    sign_in_at(&app, &idp, &key, "/login", "gold", now() - 290).await;
    assert_eq!(browse(&app, "/sensitive").await.status(), Status::Ok);
    // 301 s ago: the page sends the browser to sign in again, though the level is right.
    sign_in_at(&app, &idp, &key, "/login", "gold", now() - 301).await;
    let response = browse(&app, "/sensitive").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(response.headers().get_one("Location").unwrap().ends_with("&acr=gold&max_age=300"));
    // The JSON route asks no age: still fine.
    assert_eq!(app.get("/sensitive-data").dispatch().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn a_refresh_never_raises_the_sessions_level() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let mut overrides: Value = serde_json::from_str(LEVELS).unwrap();
    overrides["leeway"] = json!(5);
    let app = spawn_app_with(&idp, overrides).await;
    // A silver session whose access token is due for refresh.
    let response = app.get("/login").dispatch().await;
    let q = query(response.headers().get_one("Location").unwrap());
    let mut id = id_claims(&idp, "alice", &q["nonce"]);
    id["acr"] = json!("silver");
    let mut short = access_claims(&idp, "alice", &["user"]);
    short["acr"] = json!("silver");
    (short["iat"], short["exp"]) = (json!(now() - 300), json!(now() + 3));
    idp.expect_code("c", token_response(&mint(&key, &short), Some(&mint(&key, &id)), Some("r1")));
    assert_eq!(
        crate::flow::callback(&app, &idp, &q["state"], "c").await.status(),
        Status::SeeOther
    );
    // Keycloak's refresh answer claims gold (in both tokens).
    let mut gold = access_claims(&idp, "alice", &["user"]);
    gold["acr"] = json!("gold");
    let mut gold_id = id_claims(&idp, "alice", "");
    gold_id["acr"] = json!("gold");
    gold_id.as_object_mut().unwrap().remove("nonce");
    let answer = token_response(&mint(&key, &gold), Some(&mint(&key, &gold_id)), Some("r1"));
    idp.expect_refresh("r1", answer);
    let before = idp.token_requests();
    let me = me(&app).await;
    assert_eq!(idp.token_requests(), before + 1, "the session was refreshed");
    assert_eq!(me["acr"], "silver", "the level of the sign-in, not of the refresh");
    assert_eq!(app.get("/sensitive-data").dispatch().await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn login_refuses_unknown_levels_and_malformed_ages() {
    let (_idp, _key, app) = app_with_levels().await;
    for bad in [
        "/login?acr=platinum",
        "/login?acr=gold&max_age=abc",
        "/login?acr=gold&max_age=-1",
        "/login?acr=gold&max_age=1.5",
        "/login?max_age=5",
    ] {
        assert_eq!(app.get(bad).dispatch().await.status(), Status::BadRequest, "{bad}");
    }
    let response = app.get("/login?acr=silver").dispatch().await;
    let q = query(response.headers().get_one("Location").unwrap());
    assert_eq!(q["acr_values"], "silver");
    assert!(!q.contains_key("max_age"));
    let plain = app.get("/login").dispatch().await;
    let q = query(plain.headers().get_one("Location").unwrap());
    assert!(!q.contains_key("acr_values") && !q.contains_key("max_age"), "{q:?}");
}

/// `gold` of the `partner` realm.
struct PartnerGold;
impl Level for PartnerGold {
    const REALM: Option<&'static str> = Some("partner");
    const ACR: &'static str = "gold";
}

#[get("/partner-page")]
fn partner_page(_user: PageAcr<PartnerGold>) -> &'static str {
    "a partner page"
}

#[rocket::async_test]
async fn a_page_of_another_realms_level_never_sends_a_browser_to_a_step_up() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let partner = Idp::start_realm(&[&TestKey::rsa2()], "partner").await;
    let entry = json!({"issuer": partner.issuer(), "acr_levels": ["gold"]});
    let overrides = json!({"acr_levels": ["silver", "gold"], "issuers": [idp.issuer(), entry]});
    let rocket = rocket_keycloak_demo::rocket_with(crate::figment_for(&idp, overrides))
        .mount("/", routes![partner_page]);
    let app = Client::tracked(rocket).await.expect("app launches");
    // Not signed in: the plain sign-in, asking for no level of the sign-in realm.
    let response = browse(&app, "/partner-page").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/login?next=%2Fpartner-page"));
    // A gold session of the sign-in realm: a refusal page, never a sign-in that could not
    // bring the partner's level (and would come back here, round and round).
    sign_in_at(&app, &idp, &key, "/login", "gold", now()).await;
    let response = browse(&app, "/partner-page").await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(response.headers().get_one("Location"), None);
    assert!(www_authenticate(&response).contains("insufficient_user_authentication"));
    assert_eq!(browse(&app, "/sensitive").await.status(), Status::Ok, "the sign-in realm's page");
}
