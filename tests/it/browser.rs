//! The browser routes against the in-process IdP: what can be proven without Keycloak
//! (the authorization request, the callback's refusals, page redirects, error pages,
//! back-channel logout tokens).

use rocket::http::{ContentType, Cookie, Header, Status};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint, now};
use serde_json::{Value, json};

use crate::{backchannel, get_with_token, idp_and_app, query, spawn_app_with};

#[rocket::async_test]
async fn login_redirects_to_the_authorization_endpoint_with_state_nonce_and_pkce() {
    let (idp, _key, app) = idp_and_app().await;
    let response = app.get("/login?next=/me").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    let location = response.headers().get_one("Location").unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/protocol/openid-connect/auth?", idp.issuer())));
    let q = query(&location);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "demo-app");
    assert_eq!(q["redirect_uri"], "http://localhost:8000/authorize");
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    for scope in ["openid", "profile", "email"] {
        assert!(scopes.contains(&scope), "{scopes:?}");
    }
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 22 && q["nonce"].len() >= 22);
    // The login state is a private, HttpOnly cookie scoped to /authorize, named after the state.
    let cookie =
        response.cookies().iter().find(|c| c.name().starts_with("kc_login_")).unwrap().clone();
    assert_eq!(cookie.name(), format!("kc_login_{}", q["state"]));
    assert_eq!(cookie.path(), Some("/authorize"));
    assert_eq!(cookie.http_only(), Some(true));
    assert!(!cookie.value().contains(&q["nonce"]), "the cookie is encrypted");
}

#[rocket::async_test]
async fn two_logins_have_independent_states() {
    let (_idp, _key, app) = idp_and_app().await;
    let a = app.get("/login").dispatch().await.headers().get_one("Location").unwrap().to_owned();
    let b = app.get("/login").dispatch().await.headers().get_one("Location").unwrap().to_owned();
    assert_ne!(query(&a)["state"], query(&b)["state"]);
    assert_ne!(query(&a)["nonce"], query(&b)["nonce"]);
    assert_ne!(query(&a)["code_challenge"], query(&b)["code_challenge"]);
}

#[rocket::async_test]
async fn callback_with_unknown_state_is_a_400_page_without_session() {
    let (_idp, _key, app) = idp_and_app().await;
    let _ = app.get("/login").dispatch().await;
    let response = app
        .get("/authorize?state=not-the-one&code=abc")
        .header(Header::new("Accept", "text/html"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
    assert_eq!(response.content_type(), Some(ContentType::HTML));
    assert!(response.cookies().get("kc_session").is_none());
    assert!(response.into_string().await.unwrap().contains("already used"));
}

#[rocket::async_test]
async fn callback_with_foreign_iss_is_refused_and_spends_the_state() {
    let (_idp, _key, app) = idp_and_app().await;
    let location =
        app.get("/login").dispatch().await.headers().get_one("Location").unwrap().to_owned();
    let state = query(&location)["state"].clone();
    let uri = format!("/authorize?state={state}&code=abc&iss=http%3A%2F%2Fevil%2Frealms%2Ftest");
    assert_eq!(app.get(uri.clone()).dispatch().await.status(), Status::BadRequest);
    // Replaying the same state now fails as unknown.
    let response = app.get(format!("/authorize?state={state}&code=abc")).dispatch().await;
    assert_eq!(response.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn cancelled_sign_in_shows_a_friendly_page() {
    let (_idp, _key, app) = idp_and_app().await;
    let location =
        app.get("/login").dispatch().await.headers().get_one("Location").unwrap().to_owned();
    let state = query(&location)["state"].clone();
    let response = app
        .get(format!("/authorize?state={state}&error=access_denied"))
        .header(Header::new("Accept", "text/html"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(response.into_string().await.unwrap().contains("Sign-in was cancelled"));
}

#[rocket::async_test]
async fn pages_send_unauthenticated_browsers_to_login_with_next() {
    let (_idp, _key, app) = idp_and_app().await;
    let response = app.get("/hello").header(Header::new("Accept", "text/html")).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/login?next=%2Fhello"));
    // /login decodes it back into the local path it will return to.
    let login = app.get("/login?next=%2Fhello").dispatch().await;
    assert_eq!(login.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn api_routes_keep_answering_401_json_to_browsers() {
    let (_idp, _key, app) = idp_and_app().await;
    let response = app.get("/secure-data").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(response.content_type(), Some(ContentType::JSON));
}

#[rocket::async_test]
async fn forged_session_cookie_is_no_session() {
    let (_idp, _key, app) = idp_and_app().await;
    let response = app
        .get("/hello")
        .header(Header::new("Accept", "text/html"))
        .cookie(Cookie::new("kc_session", "forged"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    // Even a correctly encrypted cookie naming an unknown session is refused.
    let response = app
        .get("/me")
        .private_cookie(Cookie::new("kc_session", "no-such-session"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn browsers_get_html_error_pages_and_api_clients_json() {
    let (_idp, _key, app) = idp_and_app().await;
    let html = app.get("/nowhere").header(Header::new("Accept", "text/html")).dispatch().await;
    assert_eq!(html.status(), Status::NotFound);
    assert_eq!(html.content_type(), Some(ContentType::HTML));
    let body = html.into_string().await.unwrap();
    assert!(body.contains("404") && body.contains("<main>"), "{body}");
    let json = app.get("/nowhere").dispatch().await;
    assert_eq!(json.status(), Status::NotFound);
    assert_eq!(json.into_json::<Value>().await.unwrap()["error"], "not_found");
}

#[rocket::async_test]
async fn home_shows_a_login_button_when_signed_out() {
    let (_idp, _key, app) = idp_and_app().await;
    let body = app.get("/").dispatch().await.into_string().await.unwrap();
    assert!(body.contains("href=\"/login\"") && body.contains("Log in"), "{body}");
}

#[rocket::async_test]
async fn the_nav_follows_the_sign_in_state() {
    let (idp, key, app) = idp_and_app().await;
    let anonymous = app.get("/").dispatch().await.into_string().await.unwrap();
    assert!(anonymous.contains("id=\"nav-login\""), "{anonymous}");
    assert!(!anonymous.contains("Log out") && !anonymous.contains("nav-logout"), "{anonymous}");
    crate::flow::sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let signed_in = app.get("/").dispatch().await.into_string().await.unwrap();
    assert!(signed_in.contains("id=\"nav-logout\"") && signed_in.contains("nav-user"));
    assert!(!signed_in.contains("nav-login"), "{signed_in}");
}

#[rocket::async_test]
async fn pages_use_the_apps_one_stylesheet_and_no_inline_style() {
    let (_idp, _key, app) = idp_and_app().await;
    let css = app.get("/static/app.css").dispatch().await;
    assert_eq!(css.status(), Status::Ok);
    assert_eq!(css.content_type(), Some(ContentType::CSS));
    assert!(css.into_string().await.unwrap().contains("--accent"));
    let home = app.get("/").dispatch().await;
    let csp = home.headers().get_one("Content-Security-Policy").unwrap().to_owned();
    assert!(csp.contains("style-src 'self';"), "{csp}");
    assert!(home.into_string().await.unwrap().contains("href=\"/static/app.css\""));
    // The CSP would block inline styles and external assets: none in any template.
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for banned in ["style=", "<style", "<script", "src=\"http", "href=\"http"] {
            assert!(!text.contains(banned), "{banned} in {}", path.display());
        }
    }
}

#[rocket::async_test]
async fn bearer_token_also_opens_pages() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/hello", &token).await;
    assert_eq!(response.status(), Status::Ok);
    assert!(response.into_string().await.unwrap().contains("alice Example"));
}

#[rocket::async_test]
async fn logout_without_session_or_csrf_goes_home() {
    let (_idp, _key, app) = idp_and_app().await;
    let response =
        app.post("/logout").header(ContentType::Form).body("csrf=whatever").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(response.headers().get_one("Location"), Some("/"));
}

fn logout_claims(idp: &Idp) -> Value {
    json!({
        "iss": idp.issuer(),
        "aud": "demo-app",
        "iat": now(),
        "exp": now() + 120,
        "jti": format!("lt-{}", rand_suffix()),
        "sub": "sub-alice",
        "sid": "sid-alice",
        "typ": "Logout",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    })
}

fn rand_suffix() -> String {
    rocket_keycloak::testing::random_id()
}

#[rocket::async_test]
async fn backchannel_logout_accepts_a_valid_token_once() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &logout_claims(&idp));
    assert_eq!(backchannel(&app, &token).await, Status::Ok);
    assert_eq!(backchannel(&app, &token).await, Status::BadRequest, "replayed jti");
}

#[rocket::async_test]
async fn backchannel_logout_refuses_bad_tokens() {
    let (idp, key, app) = idp_and_app().await;
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("nonce present", Box::new(|c| c["nonce"] = json!("n"))),
        (
            "no events",
            Box::new(|c| c.as_object_mut().unwrap().remove("events").map(|_| ()).unwrap()),
        ),
        ("wrong event", Box::new(|c| c["events"] = json!({"http://other/event": {}}))),
        ("access token", Box::new(|c| c["typ"] = json!("Bearer"))),
        ("wrong audience", Box::new(|c| c["aud"] = json!("other-app"))),
        ("wrong issuer", Box::new(|c| c["iss"] = json!("http://evil/realms/test"))),
        ("no jti", Box::new(|c| c.as_object_mut().unwrap().remove("jti").map(|_| ()).unwrap())),
        ("expired", Box::new(|c| c["exp"] = json!(now() - 600))),
    ];
    for (name, mutate) in cases {
        let mut claims = logout_claims(&idp);
        mutate(&mut claims);
        assert_eq!(backchannel(&app, &mint(&key, &claims)).await, Status::BadRequest, "{name}");
    }
    let forger = TestKey::rsa2().with_kid("rsa1");
    assert_eq!(backchannel(&app, &mint(&forger, &logout_claims(&idp))).await, Status::BadRequest);
    assert_eq!(backchannel(&app, "garbage").await, Status::BadRequest);
    let response =
        app.post("/backchannel-logout").header(ContentType::Form).body("").dispatch().await;
    assert_eq!(response.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn cookies_are_secure_when_the_app_is_served_over_https() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"app_url": "https://app.example"})).await;
    let response = app.get("/login").dispatch().await;
    let location = response.headers().get_one("Location").unwrap().to_owned();
    assert_eq!(query(&location)["redirect_uri"], "https://app.example/authorize");
    let cookie =
        response.cookies().iter().find(|c| c.name().starts_with("kc_login_")).unwrap().clone();
    assert_eq!(cookie.secure(), Some(true));
}

#[rocket::async_test]
async fn html_pages_carry_a_strict_security_policy() {
    let (idp, _key, app) = idp_and_app().await;
    let response = app.get("/").dispatch().await;
    let headers = response.headers();
    let csp = headers.get_one("Content-Security-Policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let origin = format!("http://127.0.0.1:{}", idp.port);
    assert!(csp.contains(&format!("form-action 'self' {origin}")), "{csp}");
    assert_eq!(headers.get_one("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(headers.get_one("Referrer-Policy"), Some("no-referrer"));
    assert_eq!(headers.get_one("Cache-Control"), Some("no-store"));
    let api = app.get("/health").dispatch().await;
    assert_eq!(api.headers().get_one("X-Content-Type-Options"), Some("nosniff"));
}
