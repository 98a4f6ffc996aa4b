//! No secret in the logs: with the app's redacting logger capturing every record (ours and
//! Rocket's) at trace level, a sign-in, API calls with valid and forged tokens, a refresh
//! and a logout leave no token, code, client secret or cookie value in the log text.
//!
//! Its own test binary, because the logger is process-wide.

use std::sync::Mutex;

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::child::{is_child, run_in_child};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, id_claims, mint, now, token_response};
use serde_json::json;

static CAPTURED: Mutex<String> = Mutex::new(String::new());

fn capture(line: &str) {
    let mut captured = CAPTURED.lock().unwrap();
    captured.push_str(line);
    captured.push('\n');
}

#[rocket::async_test]
async fn no_token_secret_or_cookie_value_reaches_the_log() {
    // The logger the demo app installs, writing into a buffer instead of stderr.
    let logger = rocket_keycloak::RedactingLogger::with_sink(log::LevelFilter::Trace, capture);
    assert!(logger.install(), "first logger of the process");

    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let secret = "client-secret-that-must-not-leak";
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "debug"))
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
        .merge(("oidc", json!({
            "issuer": idp.issuer(), "client_id": "demo-app", "client_secret": secret, "leeway": 5,
            "metrics": "on",
        })));
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();

    // Bearer calls: valid, forged, expired.
    let valid = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let forged =
        mint(&TestKey::rsa2().with_kid("rsa1"), &access_claims(&idp, "mallory", &["admin"]));
    let mut expired_claims = access_claims(&idp, "old", &[]);
    expired_claims["exp"] = json!(now() - 600);
    let expired = mint(&key, &expired_claims);
    for token in [&valid, &forged, &expired] {
        let _ = app
            .get("/admin-data")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
            .await;
    }

    // A sign-in whose access token is about to expire, then a refresh, then logout.
    let response = app.get("/login?next=/hello").dispatch().await;
    let location = response.headers().get_one("Location").unwrap().to_owned();
    let login_cookie = response.cookies().iter().next().unwrap().value().to_owned();
    let q: std::collections::HashMap<String, String> =
        url::Url::parse(&location).unwrap().query_pairs().into_owned().collect();
    let mut short = access_claims(&idp, "alice", &["user"]);
    short["iat"] = json!(now() - 300); // a five-minute token with 2 s left: refreshed
    short["exp"] = json!(now() + 2);
    let access = mint(&key, &short);
    let id_token = mint(&key, &id_claims(&idp, "alice", &q["nonce"]));
    let refresh = "refresh-token-that-must-not-leak";
    idp.expect_code(
        "code-that-must-not-leak",
        token_response(&access, Some(&id_token), Some(refresh)),
    );
    let fresh = mint(&key, &access_claims(&idp, "alice", &["user", "admin"]));
    idp.expect_refresh(refresh, token_response(&fresh, None, Some(refresh)));
    let callback = app
        .get(format!("/authorize?state={}&code=code-that-must-not-leak", q["state"]))
        .dispatch()
        .await;
    assert_eq!(callback.status(), Status::SeeOther);
    let session_cookie = callback.cookies().get("kc_session").unwrap().value().to_owned();
    let hello = app.get("/hello").dispatch().await.into_string().await.unwrap();
    let csrf =
        hello.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let _ =
        app.post("/logout").header(ContentType::Form).body(format!("csrf={csrf}")).dispatch().await;

    let captured = CAPTURED.lock().unwrap().clone();
    assert!(captured.contains("auth refused"), "debug logging was captured:\n{captured}");
    assert!(captured.contains("signed in"), "the sign-in was logged:\n{captured}");
    let secrets = [
        ("access token", valid.as_str()),
        ("forged token", &forged),
        ("expired token", &expired),
        ("session access token", &access),
        ("refreshed access token", &fresh),
        ("ID token", &id_token),
        ("refresh token", refresh),
        ("authorization code", "code-that-must-not-leak"),
        ("client secret", secret),
        ("PKCE challenge", &q["code_challenge"]),
        ("nonce", &q["nonce"]),
        ("CSRF token", &csrf),
        ("session cookie", &session_cookie),
        ("login cookie", &login_cookie),
    ];
    let metrics = app.get("/metrics").dispatch().await.into_string().await.unwrap();
    assert!(metrics.contains("rocket_keycloak_logins_total"), "{metrics}");
    for (what, value) in secrets {
        // Signatures alone would be enough to replay nothing, but no part may appear.
        for part in value.split('.').filter(|p| p.len() >= 16) {
            let lines: Vec<&str> = captured.lines().filter(|l| l.contains(part)).collect();
            assert!(lines.is_empty(), "the {what} appears in the log: {lines:#?}");
            assert!(!metrics.contains(part), "the {what} appears in /metrics");
        }
    }
}

/// Figment for an app logging at Rocket's default level.
fn normal_figment(idp: &Idp) -> rocket::figment::Figment {
    rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "normal"))
        .merge(("cli_colors", false))
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
        .merge((
            "oidc",
            json!({"issuer": idp.issuer(), "client_id": "demo-app", "client_secret": "s"}),
        ))
}

#[rocket::async_test]
async fn rocket_with_keeps_the_callback_code_out_of_the_log_by_default() {
    const NAME: &str = "rocket_with_keeps_the_callback_code_out_of_the_log_by_default";
    if !is_child(NAME) {
        let printed = run_in_child(NAME);
        assert!(printed.contains("GET /authorize"), "the request line was logged:\n{printed}");
        for secret in ["state-that-must-not-leak", "code-that-must-not-leak"] {
            assert!(!printed.contains(secret), "{secret} reached the log:\n{printed}");
        }
        return;
    }
    // The child: an app from rocket_with at the default level, nothing installed before.
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let app =
        Client::tracked(rocket_keycloak_demo::rocket_with(normal_figment(&idp))).await.unwrap();
    let response = app
        .get("/authorize?state=state-that-must-not-leak&code=code-that-must-not-leak")
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn sign_in_refuses_to_launch_when_the_log_would_show_the_callback_code() {
    const NAME: &str = "sign_in_refuses_to_launch_when_the_log_would_show_the_callback_code";
    if !is_child(NAME) {
        let printed = run_in_child(NAME);
        assert!(printed.contains("RedactingLogger"), "the error says what to do:\n{printed}");
        return;
    }
    // The child: a library user's own rocket (Rocket installs its logger in rocket::custom).
    let idp = Idp::start(&[&TestKey::rsa1()]).await;
    let build = || {
        rocket::custom(normal_figment(&idp))
            .attach(rocket_keycloak::OidcFairing)
            .attach(rocket_keycloak::SignIn::new())
            .register("/", rocket_keycloak::catchers())
    };
    let Err(error) = Client::tracked(build()).await else { panic!("launch must fail") };
    // Reading the kind marks the error handled (an unhandled rocket::Error panics on drop).
    assert!(matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)), "{error:?}");
    // An app whose own logger redacts says so, and launches.
    rocket_keycloak::RedactingLogger::trust_installed_logger();
    assert!(Client::tracked(build()).await.is_ok());
}
