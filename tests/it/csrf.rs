//! Cross-site request forgery: a `POST` authenticated by the session cookie needs a
//! same-origin signal (`Sec-Fetch-Site: same-origin`, an `Origin` equal to `app_url`'s) or
//! the session's CSRF token in `X-CSRF-Token`; bearer calls need none. The demo route is
//! `POST /notes`.

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket_keycloak_testkit::{access_claims, mint};
use serde_json::{Value, json};

use crate::flow::sign_in;
use crate::idp_and_app;

async fn post_note<'c>(app: &'c Client, text: &str, headers: &[(&str, &str)]) -> LocalResponse<'c> {
    let mut request =
        app.post("/notes").header(ContentType::JSON).body(json!({ "text": text }).to_string());
    for (name, value) in headers {
        request = request.header(Header::new(name.to_string(), value.to_string()));
    }
    request.dispatch().await
}

/// The CSRF token the signed-in page shows.
async fn page_csrf_token(app: &Client) -> String {
    let hello = app.get("/hello").dispatch().await.into_string().await.unwrap();
    hello.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

#[rocket::async_test]
async fn session_post_without_a_same_origin_signal_is_refused_and_keeps_the_session() {
    let (idp, key, app) = idp_and_app().await;
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let refused: [(&str, &[(&str, &str)]); 11] = [
        ("no signal at all", &[]),
        ("foreign origin", &[("Origin", "http://evil.example")]),
        ("sibling subdomain", &[("Origin", "http://notes.localhost:8000")]),
        ("other port", &[("Origin", "http://localhost:8001")]),
        ("origin with a path", &[("Origin", "http://localhost:8000/")]),
        ("opaque origin", &[("Origin", "null")]),
        ("same-site fetch", &[("Sec-Fetch-Site", "same-site")]),
        ("cross-site fetch", &[("Sec-Fetch-Site", "cross-site")]),
        ("user-initiated", &[("Sec-Fetch-Site", "none")]),
        (
            "same-origin fetch from a foreign origin",
            &[("Sec-Fetch-Site", "same-origin"), ("Origin", "http://evil.example")],
        ),
        ("wrong CSRF token", &[("X-CSRF-Token", "guessed")]),
    ];
    for (case, headers) in refused {
        let response = post_note(&app, case, headers).await;
        assert_eq!(response.status(), Status::Forbidden, "{case}");
        let challenge = crate::www_authenticate(&response);
        assert!(challenge.starts_with("Bearer realm=\"test\", error="), "{case}: {challenge}");
        let set_cookies: Vec<&str> = response.headers().get("Set-Cookie").collect();
        assert!(set_cookies.iter().all(|c| !c.contains("kc_session")), "{case}: {set_cookies:?}");
        let body: Value = response.into_json().await.expect("JSON body");
        assert!(body["error_description"].as_str().unwrap().contains("X-CSRF-Token"), "{case}");
        // The refusal did not end the session.
        assert_eq!(app.get("/me").dispatch().await.status(), Status::Ok, "{case}");
    }
    let notes: Value = app.get("/notes").dispatch().await.into_json().await.unwrap();
    assert_eq!(notes["notes"], json!([]), "nothing was written");
}

#[rocket::async_test]
async fn session_post_from_the_app_origin_or_with_the_csrf_token_is_accepted() {
    let (idp, key, app) = idp_and_app().await;
    sign_in(&app, &idp, &key, access_claims(&idp, "alice", &["user"])).await;
    let csrf = page_csrf_token(&app).await;
    let accepted: [(&str, &[(&str, &str)]); 4] = [
        ("app origin", &[("Origin", "http://localhost:8000")]),
        ("same-origin fetch", &[("Sec-Fetch-Site", "same-origin")]),
        ("both", &[("Sec-Fetch-Site", "same-origin"), ("Origin", "http://localhost:8000")]),
        ("CSRF token", &[("X-CSRF-Token", &csrf)]),
    ];
    for (case, headers) in accepted {
        let response = post_note(&app, case, headers).await;
        assert_eq!(response.status(), Status::Ok, "{case}");
        assert_eq!(response.headers().get_one("Cache-Control"), Some("no-store"), "{case}");
    }
    let notes: Value = app.get("/notes").dispatch().await.into_json().await.unwrap();
    assert_eq!(notes["notes"], json!(["app origin", "same-origin fetch", "both", "CSRF token"]));
}

#[rocket::async_test]
async fn bearer_post_needs_no_same_origin_signal() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "bob", &["user"]));
    let bearer = format!("Bearer {token}");
    let response = post_note(&app, "from a script", &[("Authorization", &bearer)]).await;
    assert_eq!(response.status(), Status::Ok);
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["notes"], json!(["from a script"]));
    // Still bounded: an empty or oversized note is a 400, not a 500.
    for text in [String::new(), "x".repeat(501)] {
        let response = post_note(&app, &text, &[("Authorization", &bearer)]).await;
        assert_eq!(response.status(), Status::BadRequest);
    }
}
