//! The introspection counters equal what a scripted mix of lightweight and opaque tokens
//! must give, read back from `GET /metrics`. Its own test binary, because the metrics
//! recorder is process-wide.

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::prometheus::value;
use rocket_keycloak_testkit::{Idp, Mode, TestKey, access_claims, mint, now};
use serde_json::json;

async fn get(app: &Client, token: &str) -> Status {
    let request = app.get("/secure-data");
    let request = request.header(Header::new("Authorization", format!("Bearer {token}")));
    request.dispatch().await.status()
}

#[rocket::async_test]
async fn introspection_calls_cache_hits_and_failures_are_counted() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge((
            "oidc",
            json!({
                "issuer": idp.issuer(), "client_id": "demo-app", "client_secret": "s",
                "metrics": "on", "introspection": "fallback",
            }),
        ));
    let app = Client::tracked(rocket_keycloak_demo::rocket_with(figment)).await.unwrap();
    let lightweight = mint(
        &key,
        &json!({
            "exp": now() + 300, "iat": now(), "iss": idp.issuer(), "aud": "demo-app",
            "typ": "Bearer", "azp": "demo-light",
        }),
    );
    let mut answer = access_claims(&idp, "alice", &["user"]);
    answer["active"] = json!(true);
    idp.expect_introspection(&lightweight, answer);
    // One call, then two cache hits.
    for _ in 0..3 {
        assert_eq!(get(&app, &lightweight).await, Status::Ok);
    }
    // Keycloak does not know it: inactive, once; the replay is a hit.
    assert_eq!(get(&app, "opaque-unknown").await, Status::Unauthorized);
    assert_eq!(get(&app, "opaque-unknown").await, Status::Unauthorized);
    // Keycloak failing: an error, twice (an outage is not remembered).
    idp.set_introspection_mode(Mode::Status(500));
    assert_eq!(get(&app, "opaque-other").await, Status::ServiceUnavailable);
    assert_eq!(get(&app, "opaque-other").await, Status::ServiceUnavailable);
    let text = app.get("/metrics").dispatch().await.into_string().await.unwrap();
    let calls =
        |result| value(&text, "rocket_keycloak_introspections_total", &[("result", result)]);
    let cache =
        |result| value(&text, "rocket_keycloak_introspection_cache_total", &[("result", result)]);
    assert_eq!((calls("active"), calls("inactive"), calls("error")), (1.0, 1.0, 2.0));
    assert_eq!((cache("hit"), cache("miss")), (3.0, 4.0));
    let refusals =
        value(&text, "rocket_keycloak_token_rejections_total", &[("reason", "inactive")]);
    assert_eq!(refusals, 2.0);
}
