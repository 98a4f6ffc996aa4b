//! Step-up against real Keycloak: `dave` signs in with his password alone (level `silver`),
//! and Keycloak asks for his one-time code only when a page needs `gold`; a wrong code gets
//! him nowhere. API callers get the RFC 9470 challenge until their token is at `gold`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use rocket::http::{Header, Status};
use rocket_keycloak_testkit::browser::{
    APP, Browser, DAVE_TOTP_SECRET, Page, assert_hello, form_action, next_totp, wrong_totp,
};
use rocket_keycloak_testkit::keycloak::{keycloak_url, token_request};
use rocket_keycloak_testkit::now;
use serde_json::{Value, json};
use sha2::Digest;

use super::{jwt_part, local_app, running_app, serial};

const OTP_FORM: &str = "kc-otp-login-form";

async fn me(browser: &Browser) -> Value {
    let response = browser.once(Method::GET, &format!("{APP}/me"), &[]).await;
    assert_eq!(response.status(), 200, "/me");
    response.json().await.unwrap()
}

/// Submits dave's next code on Keycloak's OTP page (a later one if another process spent it).
async fn enter_daves_code(browser: &Browser, mut otp_page: Page, lands_on: &str) -> Page {
    for _ in 0..3 {
        let action = form_action(&otp_page.body, OTP_FORM);
        let code = next_totp(DAVE_TOTP_SECRET).await;
        let answer = browser.go(Method::POST, &action, &[("otp", &code)]).await;
        if answer.url.starts_with(lands_on) {
            return answer;
        }
        otp_page = answer;
    }
    panic!("dave's code was refused three times: {}", otp_page.url);
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn dave_is_asked_for_his_code_only_when_a_page_needs_gold() {
    let _realm = serial().await;
    let app = running_app(json!({})).await;
    let browser = Browser::new();
    // The password alone: level silver.
    let hello = browser.sign_in("/hello", "dave", "dave-password").await;
    assert_hello(&hello, "Dave Dual");
    assert!(hello.body.contains("step-up"), "a silver session is offered the step-up");
    let signed_in = me(&browser).await;
    assert_eq!(signed_in["acr"], "silver", "{signed_in}");
    assert_eq!(
        browser.once(Method::GET, &format!("{APP}/sensitive-data"), &[]).await.status(),
        401
    );

    // /sensitive sends him to Keycloak, which asks for the code alone.
    let otp_page = browser.go(Method::GET, &format!("{APP}/sensitive"), &[]).await;
    assert!(otp_page.url.starts_with(&keycloak_url()), "on Keycloak: {}", otp_page.url);
    assert!(otp_page.url.contains("acr_values=gold"), "{}", otp_page.url);
    assert!(otp_page.body.contains(OTP_FORM), "the OTP form: {}", otp_page.body);
    assert!(!otp_page.body.contains("kc-form-login"), "no password form: the SSO session goes on");

    // A wrong code: the form again, still silver.
    let action = form_action(&otp_page.body, OTP_FORM);
    let refused =
        browser.go(Method::POST, &action, &[("otp", &wrong_totp(DAVE_TOTP_SECRET))]).await;
    assert!(refused.url.starts_with(&keycloak_url()), "stays on Keycloak: {}", refused.url);
    assert!(refused.body.contains(OTP_FORM), "the OTP form again");
    assert_eq!(me(&browser).await["acr"], "silver");

    // The right code: back on /sensitive, at gold, the same user.
    let page = enter_daves_code(&browser, refused, &format!("{APP}/sensitive")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("This is sensitive data."), "{}", page.body);
    let stepped = me(&browser).await;
    assert_eq!(stepped["acr"], "gold", "{stepped}");
    assert_eq!(stepped["sub"], signed_in["sub"]);
    assert!(stepped["auth_time"].as_u64().unwrap() >= now() - 60, "a fresh authentication");
    let api = browser.once(Method::GET, &format!("{APP}/sensitive-data"), &[]).await;
    assert_eq!(api.status(), 200);
    app.stop().await;
}

/// dave's password grant through `demo-cli`, with his next code.
async fn daves_password_grant() -> String {
    for _ in 0..3 {
        let code = next_totp(DAVE_TOTP_SECRET).await;
        let form = [
            ("grant_type", "password"),
            ("client_id", "demo-cli"),
            ("client_secret", "demo-cli-secret"),
            ("username", "dave"),
            ("password", "dave-password"),
            ("totp", &code),
            ("scope", "openid"),
        ];
        let response = token_request("demo", &form, None).await;
        if response.status().is_success() {
            let body: Value = response.json().await.unwrap();
            return body["access_token"].as_str().unwrap().to_owned();
        }
    }
    panic!("dave's password grant was refused with three codes");
}

/// A code-flow sign-in of dave at Keycloak with `acr_values=gold`, run by the test itself
/// (its own state and PKCE) and stopped at the redirect; returns the token response.
async fn daves_gold_tokens() -> Value {
    let browser = Browser::new();
    let verifier = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(now().to_be_bytes()));
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = format!("{APP}/authorize");
    let mut auth =
        url::Url::parse(&format!("{}/realms/demo/protocol/openid-connect/auth", keycloak_url()))
            .unwrap();
    auth.query_pairs_mut()
        .append_pair("client_id", "demo-app")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", &redirect)
        .append_pair("state", "test-state")
        .append_pair("nonce", "test-nonce")
        .append_pair("acr_values", "gold")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let login = browser.go(Method::GET, auth.as_str(), &[]).await;
    let action = form_action(&login.body, "kc-form-login");
    let form = [("username", "dave"), ("password", "dave-password"), ("credentialId", "")];
    let (stop, otp_page) =
        browser.go_until(Method::POST, &action, &form, |l| l.starts_with(&redirect)).await;
    assert!(stop.is_none(), "gold needs the code after the password");
    let mut callback = None;
    let mut page = otp_page;
    for _ in 0..3 {
        let action = form_action(&page.body, OTP_FORM);
        let code = next_totp(DAVE_TOTP_SECRET).await;
        let (stop, next) = browser
            .go_until(Method::POST, &action, &[("otp", &code)], |l| l.starts_with(&redirect))
            .await;
        if stop.is_some() {
            callback = stop;
            break;
        }
        page = next;
    }
    let callback = url::Url::parse(&callback.expect("a code after the OTP")).unwrap();
    let code = callback.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "demo-app"),
        ("client_secret", "demo-app-secret"),
        ("code", &code),
        ("redirect_uri", &redirect),
        ("code_verifier", &verifier),
    ];
    let response = token_request("demo", &form, None).await;
    assert!(response.status().is_success(), "code exchange");
    response.json().await.unwrap()
}

#[rocket::async_test]
#[ignore = "needs Keycloak: run scripts/test"]
async fn api_callers_get_the_rfc_9470_challenge_until_their_token_is_gold() {
    let _realm = serial().await;
    let app = local_app(json!({})).await;
    let get = |token: String| {
        app.get("/sensitive-data").header(Header::new("Authorization", format!("Bearer {token}")))
    };
    // dave's password grant: level 1 (silver). The realm's direct-grant flow asks every user
    // with an OTP credential for the code (`totp`), but that flow has no levels.
    let silver = daves_password_grant().await;
    let response = get(silver.clone()).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized, "acr {}", jwt_part(&silver, 1)["acr"]);
    let challenge = response.headers().get_one("WWW-Authenticate").unwrap().to_owned();
    assert!(challenge.contains("error=\"insufficient_user_authentication\""), "{challenge}");
    let challenge = challenge.strip_suffix(crate::RESOURCE_METADATA).expect("names the metadata");
    assert!(challenge.ends_with("acr_values=\"gold\""), "{challenge}");
    // Signed in with the code at acr_values=gold: the token says gold and opens the route.
    let gold = daves_gold_tokens().await;
    let access = gold["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_part(&access, 1)["acr"], "gold", "{}", jwt_part(&access, 1));
    assert_eq!(jwt_part(gold["id_token"].as_str().unwrap(), 1)["acr"], "gold");
    let response = get(access).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body, json!({"data": "This is sensitive data."}));
}
