//! Every counter of the metrics contract equals what a scripted mix of requests must give:
//! valid tokens, a cached one, expired, wrong-audience and forged tokens, requests without
//! credentials, a role refusal and a key rotation, read back from `GET /metrics`. Where the
//! endpoint is: nowhere by default, on the app's port with `on`, on its own address only
//! with an address.
//!
//! Its own test binary, because the metrics recorder is process-wide: no other test may
//! move the counters (the tests beside the scripted mix use an IdP of another realm name, so
//! the series they move are not the ones it reads).

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::prometheus::value;
use rocket_keycloak_testkit::{
    Idp, TestKey, access_claims, id_claims, mint, mint_with_header, now, token_response,
};
use serde_json::json;

async fn get(app: &Client, path: &str, token: Option<&str>) -> Status {
    let mut request = app.get(path.to_owned());
    if let Some(token) = token {
        request = request.header(Header::new("Authorization", format!("Bearer {token}")));
    }
    request.dispatch().await.status()
}

/// A sign-in through the in-process IdP whose access token expires at `exp` (issued five
/// minutes ago); returns the refresh token.
async fn sign_in(app: &Client, idp: &Idp, key: &TestKey, exp: u64) -> String {
    let response = app.get("/login?next=/hello").dispatch().await;
    let location = response.headers().get_one("Location").unwrap().to_owned();
    let query: std::collections::HashMap<String, String> =
        url::Url::parse(&location).unwrap().query_pairs().into_owned().collect();
    let mut access = access_claims(idp, "alice", &["user"]);
    access["iat"] = json!(now() - 300);
    access["exp"] = json!(exp);
    let refresh = format!("refresh-{exp}");
    let id = mint(key, &id_claims(idp, "alice", &query["nonce"]));
    idp.expect_code("code", token_response(&mint(key, &access), Some(&id), Some(&refresh)));
    let iss = url::form_urlencoded::byte_serialize(idp.issuer().as_bytes()).collect::<String>();
    let callback = format!("/authorize?state={}&code=code&iss={iss}", query["state"]);
    assert_eq!(app.get(callback).dispatch().await.status(), Status::SeeOther);
    refresh
}

#[rocket::async_test]
async fn every_counter_equals_the_scripted_mix() {
    let (key, next_key, forger) = (TestKey::rsa1(), TestKey::rsa2(), TestKey::rsa3());
    let idp = Idp::start(&[&key]).await;
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge((
            "oidc",
            json!({
                "issuer": idp.issuer(), "client_id": "demo-app", "client_secret": "s",
                "metrics": "on",
            }),
        ));
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();

    let valid: Vec<String> =
        (0..3).map(|i| mint(&key, &access_claims(&idp, &format!("u{i}"), &["user"]))).collect();
    for token in &valid {
        assert_eq!(get(&app, "/secure-data", Some(token)).await, Status::Ok);
    }
    assert_eq!(get(&app, "/secure-data", Some(&valid[0])).await, Status::Ok); // cached
    for i in 0..2 {
        let mut expired = access_claims(&idp, &format!("old{i}"), &["user"]);
        expired["exp"] = json!(now() - 3600);
        assert_eq!(
            get(&app, "/secure-data", Some(&mint(&key, &expired))).await,
            Status::Unauthorized
        );
        let mut foreign = access_claims(&idp, &format!("other{i}"), &["user"]);
        foreign["aud"] = json!("another-api");
        assert_eq!(
            get(&app, "/secure-data", Some(&mint(&key, &foreign))).await,
            Status::Unauthorized
        );
        let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
        let forged = mint_with_header(
            &forger,
            &header,
            &access_claims(&idp, &format!("mallory{i}"), &["admin"]),
        );
        assert_eq!(get(&app, "/secure-data", Some(&forged)).await, Status::Unauthorized);
        assert_eq!(get(&app, "/secure-data", None).await, Status::Unauthorized);
    }
    let user = mint(&key, &access_claims(&idp, "dave", &["user"]));
    assert_eq!(get(&app, "/admin-data", Some(&user)).await, Status::Forbidden);
    // A key rotation: the new key's first token makes the app refetch the JWKS.
    idp.publish(&[&key, &next_key]);
    let rotated = mint(&next_key, &access_claims(&idp, "erin", &["user"]));
    assert_eq!(get(&app, "/secure-data", Some(&rotated)).await, Status::Ok);

    let text = app.get("/metrics").dispatch().await.into_string().await.unwrap();
    // Labels: the bearer ones first; the two requests without credentials are `session`.
    let bearer = |outcome| {
        value(&text, "rocket_keycloak_auth_total", &[("source", "bearer"), ("outcome", outcome)])
    };
    assert_eq!(bearer("ok"), 5.0); // 3 valid, 1 cached, 1 after the rotation
    assert_eq!(bearer("invalid_token"), 6.0);
    assert_eq!(bearer("insufficient_scope"), 1.0, "a role refusal counts once, not as ok too");
    assert_eq!(
        value(
            &text,
            "rocket_keycloak_auth_total",
            &[("source", "session"), ("outcome", "missing")]
        ),
        2.0
    );
    let rejected =
        |reason| value(&text, "rocket_keycloak_token_rejections_total", &[("reason", reason)]);
    assert_eq!(rejected("expired"), 2.0);
    assert_eq!(rejected("audience"), 2.0);
    assert_eq!(rejected("signature"), 2.0);
    let cache = |result| value(&text, "rocket_keycloak_token_cache_total", &[("result", result)]);
    assert_eq!(cache("hit"), 1.0);
    assert_eq!(cache("miss"), 11.0); // 3 valid, 6 refused, the role check's token, the rotated one
    let fetch = |trigger| {
        let labels = [("realm", "test"), ("trigger", trigger), ("result", "ok")];
        value(&text, "rocket_keycloak_jwks_fetch_total", &labels)
    };
    assert_eq!(fetch("startup"), 1.0);
    assert_eq!(fetch("unknown_kid"), 1.0);
    assert_eq!(value(&text, "rocket_keycloak_jwks_keys", &[("realm", "test")]), 2.0);
    assert!(
        value(&text, "rocket_keycloak_jwks_last_success_timestamp_seconds", &[("realm", "test")])
            >= now() as f64 - 60.0
    );
    assert_eq!(value(&text, "rocket_keycloak_validation_seconds_count", &[]), 14.0);
    // Nothing secret in the answer.
    for token in valid.iter().chain([&user, &rotated]) {
        assert!(!text.contains(token.as_str()));
    }
    assert!(!text.contains("eyJ"));

    // The browser side: a sign-in, a refresh, an RP logout, a failed callback, a back-channel
    // logout.
    let refresh = sign_in(&app, &idp, &key, now() + 3).await;
    let fresh = mint(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_refresh(&refresh, token_response(&fresh, None, Some(&refresh)));
    assert_eq!(get(&app, "/me", None).await, Status::Ok); // refreshed first
    let hello = app.get("/hello").dispatch().await.into_string().await.unwrap();
    let csrf = hello.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let out = app.post("/logout").header(ContentType::Form).body(format!("csrf={csrf}"));
    assert_eq!(out.dispatch().await.status(), Status::SeeOther);
    // A callback with an unknown state: a failed sign-in.
    assert_eq!(get(&app, "/authorize?state=unknown&code=x", None).await, Status::BadRequest);
    sign_in(&app, &idp, &key, now() + 300).await;
    let logout = json!({
        "iss": idp.issuer(), "aud": "demo-app", "iat": now(), "exp": now() + 60, "jti": "lt-1",
        "sid": "sid-alice", "typ": "Logout",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    let back = app
        .post("/backchannel-logout")
        .header(ContentType::Form)
        .body(format!("logout_token={}", mint(&key, &logout)))
        .dispatch()
        .await;
    assert_eq!(back.status(), Status::Ok);
    let text = app.get("/metrics").dispatch().await.into_string().await.unwrap();
    assert_eq!(value(&text, "rocket_keycloak_logins_total", &[("result", "ok")]), 2.0);
    assert_eq!(value(&text, "rocket_keycloak_logins_total", &[("result", "error")]), 1.0);
    assert_eq!(value(&text, "rocket_keycloak_refresh_total", &[("result", "ok")]), 1.0);
    assert_eq!(value(&text, "rocket_keycloak_logouts_total", &[("kind", "rp")]), 1.0);
    assert_eq!(value(&text, "rocket_keycloak_logouts_total", &[("kind", "backchannel")]), 1.0);
    assert_eq!(value(&text, "rocket_keycloak_sessions_active", &[]), 0.0);
}

/// The demo against an IdP of its own realm name (see the module documentation), with these
/// `oidc` settings added; the IdP lives as long as the app needs it.
async fn app_with(realm: &str, settings: serde_json::Value) -> (std::sync::Arc<Idp>, Client) {
    let idp = Idp::start_realm(&[&TestKey::rsa1()], realm).await;
    let mut oidc = json!({"issuer": idp.issuer(), "client_id": "demo-app"});
    oidc.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("oidc", oidc));
    (idp, Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap())
}

#[rocket::async_test]
async fn metrics_are_not_served_unless_configured() {
    let (_idp, app) = app_with("quiet", json!({})).await;
    assert_eq!(app.get("/metrics").dispatch().await.status(), Status::NotFound);
    let (_idp, off) = app_with("off", json!({"metrics": "off"})).await;
    assert_eq!(off.get("/metrics").dispatch().await.status(), Status::NotFound);
}

#[rocket::async_test]
async fn a_metrics_listener_serves_them_on_its_own_address_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let settings = json!({"metrics": format!("127.0.0.1:{port}")});
    let (_idp, private) = app_with("private", settings).await;
    assert_eq!(private.get("/metrics").dispatch().await.status(), Status::NotFound);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut answer = None;
    for _ in 0..50 {
        if let Ok(response) = reqwest::get(&url).await {
            answer = Some((response.status(), response.text().await.unwrap()));
            break;
        }
        rocket::tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = answer.expect("the metrics listener answers");
    assert_eq!(status, 200);
    assert!(body.contains("rocket_keycloak_jwks_fetch_total{realm=\"private\""), "{body}");
}

#[rocket::get("/whoami")]
fn whoami(user: rocket_keycloak::AuthenticatedUser) -> String {
    user.sub.to_string()
}

/// The per-request series are counted through handles kept per app (`telemetry/meters.rs`).
/// An app that installs its recorder after `OidcFairing` built its state (here
/// `MetricsEndpoint`, attached after it, installs it at ignite) must still see every count:
/// handles taken before liftoff would stay bound to the no-op recorder. In a fresh process,
/// since the recorder is the process's.
#[test]
fn a_recorder_installed_after_the_fairing_still_counts_every_request() {
    const NAME: &str = "a_recorder_installed_after_the_fairing_still_counts_every_request";
    if !rocket_keycloak_testkit::child::is_child(NAME) {
        print!("{}", rocket_keycloak_testkit::child::run_in_child(NAME));
        return;
    }
    rocket::async_test(async {
        let (key, forger) = (TestKey::rsa1(), TestKey::rsa3());
        let idp = Idp::start(&[&key]).await;
        let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
            .merge(("log_level", "off"))
            .merge((
                "oidc",
                json!({"issuer": idp.issuer(), "client_id": "demo-app", "metrics": "on"}),
            ));
        let rocket = rocket::custom(figment)
            .attach(rocket_keycloak::OidcFairing)
            .attach(rocket_keycloak::MetricsEndpoint)
            .mount("/", rocket::routes![whoami])
            .register("/", rocket_keycloak::catchers());
        let app = Client::tracked(rocket).await.unwrap();
        let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
        for _ in 0..3 {
            assert_eq!(get(&app, "/whoami", Some(&token)).await, Status::Ok);
        }
        let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
        let forged = mint_with_header(&forger, &header, &access_claims(&idp, "mallory", &[]));
        for _ in 0..2 {
            assert_eq!(get(&app, "/whoami", Some(&forged)).await, Status::Unauthorized);
        }

        let text = app.get("/metrics").dispatch().await.into_string().await.unwrap();
        let auth = |outcome| {
            let labels = [("source", "bearer"), ("outcome", outcome)];
            value(&text, "rocket_keycloak_auth_total", &labels)
        };
        assert_eq!(auth("ok"), 3.0, "{text}");
        assert_eq!(auth("invalid_token"), 2.0);
        let cache =
            |result| value(&text, "rocket_keycloak_token_cache_total", &[("result", result)]);
        assert_eq!(cache("miss"), 2.0); // the token's first use, the forgery's first
        assert_eq!(cache("hit"), 3.0); // the token twice, the remembered forgery once
        let rejected =
            |reason| value(&text, "rocket_keycloak_token_rejections_total", &[("reason", reason)]);
        assert_eq!(rejected("signature"), 2.0);
        assert_eq!(value(&text, "rocket_keycloak_validation_seconds_count", &[]), 5.0);
    });
}
