//! The `Authorization` header (RFC 6750 §2.1): no credentials is a 401 without an error
//! code, the query string is never read, malformed or doubled credentials are
//! `invalid_request`, and the scheme is case-insensitive.

use rocket::http::{Header, Status};
use rocket_keycloak_testkit::{access_claims, mint};
use serde_json::Value;

use crate::{idp_and_app, www_authenticate};

#[rocket::async_test]
async fn no_credentials_get_401_without_error_code() {
    let (_idp, _key, app) = idp_and_app().await;
    let response = app.get("/secure-data").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(www_authenticate(&response), "Bearer realm=\"test\"");
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[rocket::async_test]
async fn token_in_query_string_is_ignored() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let response = app.get(format!("/secure-data?access_token={token}")).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(www_authenticate(&response), "Bearer realm=\"test\"");
}

async fn assert_invalid_request(app: &rocket::local::asynchronous::Client, headers: &[&str]) {
    let mut request = app.get("/secure-data");
    for value in headers {
        request.add_header(Header::new("Authorization", value.to_string()));
    }
    let response = request.dispatch().await;
    assert_eq!(response.status(), Status::BadRequest, "{headers:?}");
    let header = www_authenticate(&response);
    assert!(header.starts_with("Bearer realm=\"test\", error=\"invalid_request\""), "{header}");
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[rocket::async_test]
async fn two_authorization_headers_are_invalid_request() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_invalid_request(&app, &[&format!("Bearer {token}"), &format!("Bearer {token}")]).await;
}

#[rocket::async_test]
async fn two_tokens_in_one_header_are_invalid_request() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_invalid_request(&app, &[&format!("Bearer {token} {token}")]).await;
}

#[rocket::async_test]
async fn other_schemes_and_empty_tokens_are_invalid_request() {
    let (_idp, _key, app) = idp_and_app().await;
    assert_invalid_request(&app, &["Basic YWxpY2U6c2VjcmV0"]).await;
    assert_invalid_request(&app, &["Bearer"]).await;
    assert_invalid_request(&app, &["Bearer    "]).await;
}

#[rocket::async_test]
async fn bearer_scheme_is_case_insensitive() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = app
            .get("/secure-data")
            .header(Header::new("Authorization", format!("{scheme} {token}")))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok, "{scheme}");
    }
}
