//! A flood of 10,000 forged tokens leaves at most a few lines in a log at `warn` (a common
//! production level): Rocket's one line per refused guard is dropped, and the crate's own
//! periodic summary takes its place (every 60 s, so none within this test). A Keycloak
//! outage is logged once when it starts, not at every retry, and so is a session store that
//! stops answering.
//!
//! Every route of the demo (listed from the running app, so a new route is covered without
//! touching this file) under hostile requests without valid credentials, and junk
//! back-channel logouts, leave no more: every guard of the library is covered, whatever its
//! name, and the refusals are counted (the metrics, the summary at shutdown).
//!
//! Its own test binary, because the logger is process-wide; the tests after the first run
//! each in a child process of their own (fresh logger, fresh summary counters).

use std::sync::Mutex;

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::child::{is_child, run_in_child};
use rocket_keycloak_testkit::dpop::dpop_access_claims;
use rocket_keycloak_testkit::prometheus::value;
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, mint, mint_with_header, now};
use serde_json::json;

static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn capture(line: &str) {
    CAPTURED.lock().unwrap().push(line.to_owned());
}

#[rocket::async_test]
async fn ten_thousand_forged_tokens_leave_at_most_a_few_log_lines() {
    let logger = rocket_keycloak::RedactingLogger::with_sink(log::LevelFilter::Warn, capture);
    assert!(logger.install(), "first logger of the process");
    let (key, forger) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&key]).await;
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "critical"))
        .merge((
            "oidc",
            json!({"issuer": idp.issuer(), "client_id": "demo-app", "jwks_refresh_interval": 1}),
        ));
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();
    let before = CAPTURED.lock().unwrap().len();
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    let mut forged = Vec::new();
    for i in 0..10_000 {
        let token = mint_with_header(&forger, &header, &access_claims(&idp, &format!("m{i}"), &[]));
        let response = app
            .get("/secure-data")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Unauthorized);
        if i < 3 {
            forged.push(token);
        }
    }
    let lines = CAPTURED.lock().unwrap()[before..].to_vec();
    assert!(
        lines.len() <= 3,
        "{} lines for 10,000 refusals: {:#?}",
        lines.len(),
        &lines[..lines.len().min(10)]
    );
    for token in forged {
        assert!(!lines.iter().any(|l| l.contains(&token[token.len() - 20..])));
    }

    // Keycloak goes away: the refresh every second fails, and the log says so once.
    let before = CAPTURED.lock().unwrap().len();
    idp.stop();
    rocket::tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let lines = CAPTURED.lock().unwrap()[before..].to_vec();
    let outage: Vec<&String> = lines.iter().filter(|l| l.contains("OIDC")).collect();
    assert_eq!(outage.len(), 1, "{lines:#?}");
    idp.resume().await;
    drop(app);

    // The session store goes away (nothing listens on its port): every readiness probe and
    // session request fails, and the log says so once, not once per request.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "critical"))
        .merge(("secret_key", "yvFUoTl8c2dthuCXJHSzh0ZO8cQaMlyBd0hx6kqOWn0="))
        .merge((
            "oidc",
            json!({
                "issuer": idp.issuer(), "client_id": "demo-app", "client_secret": "s",
                "session_store": format!("redis://127.0.0.1:{closed}/0"),
            }),
        ));
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();
    let before = CAPTURED.lock().unwrap().len();
    for _ in 0..50 {
        let ready: serde_json::Value =
            app.get("/ready").dispatch().await.into_json().await.unwrap();
        assert_eq!(ready["sessions"], "unavailable");
    }
    let lines = CAPTURED.lock().unwrap()[before..].to_vec();
    let store: Vec<&String> = lines.iter().filter(|l| l.contains("session store")).collect();
    assert_eq!(store.len(), 1, "{lines:#?}");
}

/// The library's DPoP guard on a route of its own: the demo has none, and every guard of the
/// library must be covered.
#[rocket::get("/dpop-only")]
fn dpop_only(_user: rocket_keycloak::RequireDpop) -> &'static str {
    "bound"
}

/// The logger at `warn`, capturing; the demo against `idp` with its metrics on its own port
/// (read back here), plus `/dpop-only`.
async fn flood_app(idp: &Idp) -> Client {
    let logger = rocket_keycloak::RedactingLogger::with_sink(log::LevelFilter::Warn, capture);
    assert!(logger.install(), "first logger of the process");
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "critical"))
        .merge(("template_dir", concat!(env!("CARGO_MANIFEST_DIR"), "/templates")))
        .merge((
            "oidc",
            json!({
                "issuer": idp.issuer(), "client_id": "demo-app", "client_secret": "s",
                "metrics": "on", "acr_levels": ["silver", "gold"],
            }),
        ));
    let rocket = rocket_keycloak_demo::rocket_with(figment).mount("/", rocket::routes![dpop_only]);
    Client::tracked(rocket).await.unwrap()
}

/// Requests a guard found without what it asks: every `rocket_keycloak_auth_total` series but
/// `outcome="ok"`.
async fn refusals_counted(app: &Client) -> f64 {
    let text = app.get("/metrics").dispatch().await.into_string().await.unwrap();
    let refused = text.lines().filter(|line| {
        line.starts_with("rocket_keycloak_auth_total{") && !line.contains("outcome=\"ok\"")
    });
    refused.filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Requests of each kind per route and variant.
const REPEAT: usize = 20;

#[rocket::async_test]
async fn hostile_requests_on_every_route_of_the_demo_leave_at_most_a_few_log_lines() {
    const NAME: &str = "hostile_requests_on_every_route_of_the_demo_leave_at_most_a_few_log_lines";
    if !is_child(NAME) {
        return print!("{}", run_in_child(NAME));
    }
    let (key, forger, client_key) = (TestKey::rsa1(), TestKey::rsa2(), TestKey::ec1());
    let idp = Idp::start(&[&key]).await;
    let app = flood_app(&idp).await;
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    let forged = mint_with_header(&forger, &header, &access_claims(&idp, "mallory", &["admin"]));
    // A real user's tokens, short of a role (`admin`), a level (`gold`) or a DPoP binding.
    let plain = mint(&key, &access_claims(&idp, "bob", &["user"]));
    let bound = mint(&key, &dpop_access_claims(&idp, "carol", &["user"], &client_key));
    let authorization = |value: String| vec![Header::new("Authorization", value)];
    let mut with_junk_proof = authorization(format!("DPoP {bound}"));
    with_junk_proof.push(Header::new("DPoP", "junk"));
    let user = "a user's token without the role, level or binding";
    let variants: Vec<(&str, Vec<Header<'static>>)> = vec![
        ("no credentials", vec![]),
        ("a junk session cookie", vec![Header::new("Cookie", "kc_session=junk")]),
        ("a forged token", authorization(format!("Bearer {forged}"))),
        ("a garbage token", authorization("Bearer x.y.z".into())),
        ("a DPoP-bound token with a junk proof", with_junk_proof),
        (user, authorization(format!("Bearer {plain}"))),
    ];
    // Every route the running app has (the demo's, the library's sign-in routes, /metrics and
    // /dpop-only), dynamic segments filled in.
    let mut routes: Vec<(rocket::http::Method, String)> = app
        .rocket()
        .routes()
        .map(|route| {
            let path =
                route.uri.path().split('/').map(|s| if s.starts_with('<') { "x" } else { s });
            (route.method, path.collect::<Vec<_>>().join("/"))
        })
        .collect();
    routes.sort_by_key(|(method, path)| (path.clone(), method.as_str()));
    routes.dedup();

    let mut lines = Vec::new();
    let mut counted = std::collections::BTreeSet::new();
    for (method, path) in &routes {
        for (variant, headers) in &variants {
            let refusals = refusals_counted(&app).await;
            let before = CAPTURED.lock().unwrap().len();
            for i in 0..REPEAT {
                let mut request = app.req(*method, format!("{path}?state=junk&code=junk"));
                for header in headers {
                    request = request.header(header.clone());
                }
                if *method == rocket::http::Method::Post {
                    // Junk fields, and no body at all.
                    let body = if i % 2 == 0 { "csrf=junk&logout_token=junk" } else { "" };
                    request = request.header(ContentType::Form).body(body);
                }
                request.dispatch().await;
            }
            // Each batch is counted whole or not at all (a route without a guard, or a token
            // that passes it).
            let moved = refusals_counted(&app).await - refusals;
            assert!(moved == 0.0 || moved == REPEAT as f64, "{method} {path}, {variant}: {moved}");
            if moved > 0.0 {
                counted.insert((path.as_str(), *variant));
            }
            // A user the guards let through is no flood of strangers: what the app logs about
            // their junk (Rocket's line for a body that does not parse) is the app's business.
            if !(*variant == user && moved == 0.0) {
                lines.extend_from_slice(&CAPTURED.lock().unwrap()[before..]);
            }
        }
    }
    let mut distinct = std::collections::BTreeMap::<&str, usize>::new();
    for line in &lines {
        *distinct.entry(line.as_str()).or_default() += 1;
    }
    assert!(
        lines.len() <= 3,
        "{} lines for {} requests, by text: {distinct:#?}",
        lines.len(),
        routes.len() * variants.len() * REPEAT,
    );
    println!(
        "{} routes x {} variants x {REPEAT} requests: {} log lines; {} (path, variant) pairs \
         refused and counted",
        routes.len(),
        variants.len(),
        lines.len(),
        counted.len()
    );
    // What the guards must have refused (and the metrics counted), one per guard of the library.
    for expected in [
        ("/secure-data", "no credentials"),  // &AuthenticatedUser
        ("/notes", "a forged token"),        // &AuthenticatedUser, GET and POST
        ("/hello", "a junk session cookie"), // PageUser
        ("/admin-data", user),               // RequireRole
        ("/sensitive-data", user),           // RequireAcr
        ("/sensitive", "no credentials"),    // PageAcr
        ("/dpop-only", user),                // RequireDpop
        ("/me", "a DPoP-bound token with a junk proof"),
    ] {
        assert!(counted.contains(&expected), "{expected:?} refused and counted: {counted:#?}");
    }
}

#[rocket::async_test]
async fn junk_backchannel_logouts_leave_one_summary_line_that_counts_them() {
    const NAME: &str = "junk_backchannel_logouts_leave_one_summary_line_that_counts_them";
    if !is_child(NAME) {
        return print!("{}", run_in_child(NAME));
    }
    let (key, forger) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&key]).await;
    let app = flood_app(&idp).await;
    let claims = |jti: &str| {
        json!({
            "iss": idp.issuer(), "aud": "demo-app", "iat": now(), "exp": now() + 60, "jti": jti,
            "sid": "sid-nobody", "typ": "Logout",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        })
    };
    let header = |kid: &str| json!({"alg": "RS256", "kid": kid, "typ": "logout+jwt"});
    let valid = mint(&key, &claims("lt-valid"));
    let forged = mint_with_header(&forger, &header(&key.kid), &claims("lt-forged"));
    let post = |token: Option<String>| {
        let body = token.map(|t| format!("logout_token={t}")).unwrap_or_default();
        app.post("/backchannel-logout").header(ContentType::Form).body(body).dispatch()
    };
    // Keycloak's own token, once: it ends no session here, and is spent.
    assert_eq!(post(Some(valid.clone())).await.status(), Status::Ok);

    let before = CAPTURED.lock().unwrap().len();
    let junk = [
        (None, "no_token"),
        (Some("junk".to_owned()), "malformed"),
        (Some(forged), "signature"),
        (Some(valid), "replayed"),
    ];
    for (token, _) in &junk {
        for _ in 0..REPEAT {
            assert_eq!(post(token.clone()).await.status(), Status::BadRequest);
        }
    }
    let text = app.get("/metrics").dispatch().await.into_string().await.unwrap();
    let lines = CAPTURED.lock().unwrap()[before..].to_vec();
    assert!(lines.is_empty(), "{} lines for {} junk posts: {lines:#?}", lines.len(), 4 * REPEAT);
    for (_, reason) in &junk {
        let labels = [("reason", *reason)];
        let counted = value(&text, "rocket_keycloak_backchannel_refusals_total", &labels);
        assert_eq!(counted, REPEAT as f64, "{reason}");
    }

    // At shutdown (and every 60 s), one line says how many and why.
    app.rocket().shutdown().notify();
    let summary = |lines: &[String]| -> Vec<String> {
        lines.iter().filter(|l| l.contains("refused in the last")).cloned().collect()
    };
    for _ in 0..200 {
        if !summary(&CAPTURED.lock().unwrap()[before..]).is_empty() {
            break;
        }
        rocket::tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let summary = summary(&CAPTURED.lock().unwrap()[before..]);
    assert_eq!(summary.len(), 1, "{summary:#?}");
    let line = &summary[0];
    println!("the summary: {line}");
    assert!(line.contains(&format!("{} back-channel logouts refused", 4 * REPEAT)), "{line}");
    for (_, reason) in &junk {
        assert!(line.contains(&format!("{REPEAT} {reason}")), "{reason}: {line}");
    }
}
