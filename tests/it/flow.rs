//! The whole authorization-code flow against the in-process IdP's token endpoint: PKCE,
//! nonce, `azp`, code replay, and the session's refresh (once, and its refusal).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, id_claims, mint, now, token_response};
use serde_json::{Value, json};
use sha2::Digest;

use crate::{idp_and_app, spawn_app_with};

/// `/login`, then returns (state, nonce, code_challenge).
pub(crate) async fn start_login(app: &Client, next: &str) -> (String, String, String) {
    let response = app.get(format!("/login?next={next}")).dispatch().await;
    let location = response.headers().get_one("Location").unwrap().to_owned();
    let q = crate::query(&location);
    (q["state"].clone(), q["nonce"].clone(), q["code_challenge"].clone())
}

pub(crate) async fn callback<'c>(
    app: &'c Client,
    idp: &Idp,
    state: &str,
    code: &str,
) -> rocket::local::asynchronous::LocalResponse<'c> {
    let iss = url::form_urlencoded::byte_serialize(idp.issuer().as_bytes()).collect::<String>();
    app.get(format!("/authorize?state={state}&code={code}&session_state=x&iss={iss}"))
        .header(Header::new("Accept", "text/html"))
        .dispatch()
        .await
}

/// A full sign-in of `user`; returns the refresh token the session holds.
pub(crate) async fn sign_in(app: &Client, idp: &Idp, key: &TestKey, access: Value) -> String {
    let (state, nonce, _) = start_login(app, "/hello").await;
    let refresh = format!("refresh-{}", rocket_keycloak::testing::random_id());
    let id = mint(key, &id_claims(idp, "alice", &nonce));
    idp.expect_code("code-1", token_response(&mint(key, &access), Some(&id), Some(&refresh)));
    let response = callback(app, idp, &state, "code-1").await;
    assert_eq!(response.status(), Status::SeeOther, "{:?}", response.into_string().await);
    refresh
}

/// An app with a 5 s leeway and Alice signed in with an access token that expires inside
/// it, so the next request refreshes; returns the refresh token the session holds.
pub(crate) async fn signed_in_due_for_refresh() -> (Arc<Idp>, TestKey, Client, String) {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"leeway": 5})).await;
    let mut short = access_claims(&idp, "alice", &["user"]);
    // A five-minute token with 3 s left, inside the 5 s leeway: refreshed at once.
    short["iat"] = json!(now() - 300);
    short["exp"] = json!(now() + 3);
    let refresh = sign_in(&app, &idp, &key, short).await;
    (idp, key, app, refresh)
}

#[rocket::async_test]
async fn code_flow_creates_a_session_with_pkce_and_returns_to_next() {
    let (idp, key, app) = idp_and_app().await;
    let (state, nonce, challenge) = start_login(&app, "/me").await;
    let id = mint(&key, &id_claims(&idp, "alice", &nonce));
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("the-code", token_response(&access, Some(&id), Some("r1")));
    let response = callback(&app, &idp, &state, "the-code").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/me"));
    let session = response.cookies().get("kc_session").expect("session cookie").clone();
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site(), Some(rocket::http::SameSite::Lax));
    // The token request carried the PKCE verifier that matches the challenge, and the code.
    let form = idp.last_token_request();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(field("grant_type"), "authorization_code");
    assert_eq!(field("redirect_uri"), "http://localhost:8000/authorize");
    let verifier = field("code_verifier");
    assert_eq!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())), challenge);
    // The session authenticates the API and the pages.
    let me: Value = app.get("/me").dispatch().await.into_json().await.unwrap();
    assert_eq!(me["preferred_username"], "alice");
    let hello = app.get("/hello").dispatch().await;
    assert_eq!(hello.status(), Status::Ok);
    assert!(hello.into_string().await.unwrap().contains("name=\"csrf\""));
}

#[rocket::async_test]
async fn id_token_with_another_nonce_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let (state, _nonce, _) = start_login(&app, "/hello").await;
    let id = mint(&key, &id_claims(&idp, "alice", "not-the-nonce"));
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("c", token_response(&access, Some(&id), None));
    let response = callback(&app, &idp, &state, "c").await;
    assert_eq!(response.status(), Status::BadRequest);
    assert!(response.cookies().get("kc_session").is_none());
    assert_eq!(app.get("/me").dispatch().await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn id_token_for_another_client_or_kind_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    for (field, value) in
        [("azp", json!("other-app")), ("aud", json!("other-app")), ("typ", json!("Bearer"))]
    {
        let (state, nonce, _) = start_login(&app, "/hello").await;
        let mut claims = id_claims(&idp, "alice", &nonce);
        claims[field] = value;
        idp.expect_code("c", token_response(&access, Some(&mint(&key, &claims)), None));
        assert_eq!(callback(&app, &idp, &state, "c").await.status(), Status::BadRequest, "{field}");
    }
}

#[rocket::async_test]
async fn access_token_without_our_audience_makes_no_session() {
    let (idp, key, app) = idp_and_app().await;
    let (state, nonce, _) = start_login(&app, "/hello").await;
    let mut access = access_claims(&idp, "alice", &["user"]);
    access["aud"] = json!("account");
    let id = mint(&key, &id_claims(&idp, "alice", &nonce));
    idp.expect_code("c", token_response(&mint(&key, &access), Some(&id), None));
    assert_eq!(callback(&app, &idp, &state, "c").await.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn replayed_code_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    // A second login whose code the IdP no longer honours (single use: invalid_grant).
    let (state, _, _) = start_login(&app, "/hello").await;
    assert_eq!(callback(&app, &idp, &state, "code-1").await.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn expiring_access_token_is_refreshed_once_for_concurrent_requests() {
    let (idp, key, app, refresh) = signed_in_due_for_refresh().await;
    let fresh = mint(&key, &access_claims(&idp, "alice", &["user", "admin"]));
    idp.expect_refresh(&refresh, token_response(&fresh, None, Some(&refresh)));
    let before = idp.token_requests();
    let requests = (0..5).map(|_| app.get("/me").dispatch());
    let mut statuses = Vec::new();
    for response in crate::join_all(requests).await {
        statuses.push(response.status());
    }
    assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
    assert_eq!(idp.token_requests(), before + 1, "one refresh for five requests");
    let me: Value = app.get("/me").dispatch().await.into_json().await.unwrap();
    assert_eq!(me["realm_roles"], json!(["user", "admin"]), "the refreshed token's identity");
}

#[rocket::async_test]
async fn refused_refresh_ends_the_session_and_sends_the_browser_to_login() {
    // No refresh answer registered: the IdP answers invalid_grant.
    let (_idp, _key, app, _refresh) = signed_in_due_for_refresh().await;
    let response = app.get("/hello").header(Header::new("Accept", "text/html")).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/login?next=%2Fhello"));
    assert_eq!(app.get("/me").dispatch().await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn logout_ends_the_session_and_goes_to_the_end_session_endpoint() {
    let (idp, key, app) = idp_and_app().await;
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let hello = app.get("/hello").dispatch().await.into_string().await.unwrap();
    let csrf =
        hello.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let forged = app.post("/logout").header(ContentType::Form).body("csrf=nope").dispatch().await;
    assert_eq!(forged.status(), Status::Forbidden);
    let response =
        app.post("/logout").header(ContentType::Form).body(format!("csrf={csrf}")).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    let location = response.headers().get_one("Location").unwrap();
    assert!(location.starts_with(&format!("{}/protocol/openid-connect/logout?", idp.issuer())));
    assert!(location.contains("id_token_hint=") && location.contains("client_id=demo-app"));
    assert!(location.contains("post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A8000%2F"));
    assert_eq!(app.get("/me").dispatch().await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn backchannel_logout_ends_the_matching_session() {
    let (idp, key, app) = idp_and_app().await;
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    assert_eq!(app.get("/me").dispatch().await.status(), Status::Ok);
    let logout = json!({
        "iss": idp.issuer(), "aud": "demo-app", "iat": now(), "exp": now() + 120, "jti": "lt-1",
        "sub": "sub-alice", "sid": "sid-alice", "typ": "Logout",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    let response = app
        .post("/backchannel-logout")
        .header(ContentType::Form)
        .body(format!("logout_token={}", mint(&key, &logout)))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(app.get("/me").dispatch().await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn next_values_rocket_cannot_redirect_to_still_sign_in_and_keep_the_session() {
    let (idp, key, app) = idp_and_app().await;
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let long = format!("/{}", "x".repeat(3000));
    // Query-decoded by /login: a space, non-ASCII, a quote, angle brackets; and a path too
    // long for the login cookie. None is a URI Rocket can redirect to as it is.
    let awkward = ["/a%20b", "/caf%C3%A9", "/%22quoted%22", "/%3Cscript%3E", long.as_str()];
    for (i, next) in awkward.into_iter().chain(["/me%3Fx%3D1"]).enumerate() {
        let (state, nonce, _) = start_login(&app, next).await;
        let code = format!("next-code-{i}");
        let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
        let id = mint(&key, &id_claims(&idp, "alice", &nonce));
        idp.expect_code(&code, token_response(&access, Some(&id), None));
        let response = callback(&app, &idp, &state, &code).await;
        let shown = &next[..next.len().min(20)];
        assert_eq!(response.status(), Status::SeeOther, "next={shown}");
        let expected = if next.starts_with("/me") { "/me?x=1" } else { "/hello" };
        assert_eq!(response.headers().get_one("Location"), Some(expected), "next={shown}");
        assert!(response.cookies().get("kc_session").is_some(), "a new session, next={shown}");
        assert_eq!(app.get("/me").dispatch().await.status(), Status::Ok, "next={shown}");
    }
}

#[rocket::async_test]
async fn sign_in_clears_stale_login_cookies() {
    let (idp, key, app) = idp_and_app().await;
    let (state, nonce, _) = start_login(&app, "/hello").await;
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let id = mint(&key, &id_claims(&idp, "alice", &nonce));
    idp.expect_code("c", token_response(&access, Some(&id), None));
    // One cookie the app cannot decrypt (an old secret key), one from a sign-in begun
    // long ago, one from a sign-in in another tab that is still running.
    let expired = json!({"nonce": "n", "verifier": "v", "next": "/hello", "started": 1});
    let (other_tab, _, _) = start_login(&app, "/me").await;
    let iss = url::form_urlencoded::byte_serialize(idp.issuer().as_bytes()).collect::<String>();
    let response = app
        .get(format!("/authorize?state={state}&code=c&iss={iss}"))
        .cookie(Cookie::new("kc_login_undecryptable", "garbage"))
        .private_cookie(Cookie::new("kc_login_expired", expired.to_string()))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    let removed: Vec<String> = response
        .headers()
        .get("Set-Cookie")
        .filter(|c| c.contains("Max-Age=0"))
        .filter_map(|c| c.split('=').next().map(str::to_owned))
        .collect();
    for name in ["kc_login_undecryptable", "kc_login_expired", &format!("kc_login_{state}")] {
        assert!(removed.iter().any(|r| r == name), "{name} removed: {removed:?}");
    }
    let other = format!("kc_login_{other_tab}");
    assert!(!removed.contains(&other), "the other tab's sign-in goes on: {removed:?}");
}
