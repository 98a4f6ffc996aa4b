//! Which published key verifies a token: keys rotated in (one refetch) and out (after the
//! next refresh), encryption keys never, and tokens or keys without a `kid`.

use std::time::Duration;

use rocket::http::Status;
use rocket_keycloak_testkit::{
    Idp, TestKey, access_claims, id_claims, mint, mint_with_header, token_response,
};
use serde_json::json;

use crate::{assert_invalid_token, eventually, get_with_token, spawn_app, spawn_app_with};

#[rocket::async_test]
async fn rotated_key_is_accepted_without_restart() {
    let (old, new) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&old]).await;
    let app = spawn_app(&idp).await;
    idp.publish(&[&old, &new]);
    let token = mint(&new, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    assert_eq!(idp.jwks_hits(), 2, "one refetch for the unknown kid");
    // The old key still works while it is published.
    let token = mint(&old, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
}

#[rocket::async_test]
async fn key_removed_from_the_jwks_is_refused_after_the_next_refresh() {
    let (old, new) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&old, &new]).await;
    let app = spawn_app_with(&idp, json!({"jwks_refresh_interval": 1})).await;
    let old_token = mint(&old, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &old_token).await.status(), Status::Ok);
    idp.publish(&[&new]);
    let hits = idp.jwks_hits();
    assert!(eventually(Duration::from_secs(5), || async { idp.jwks_hits() > hits }).await);
    rocket::tokio::time::sleep(Duration::from_millis(100)).await;
    assert_invalid_token(get_with_token(&app, "/secure-data", &old_token).await).await;
}

#[rocket::async_test]
async fn encryption_key_in_the_jwks_is_never_used() {
    let sig = TestKey::rsa1();
    let enc = TestKey::rsa2().with_kid("enc");
    let mut enc_jwk = enc.jwk.clone();
    enc_jwk["use"] = json!("enc");
    enc_jwk["alg"] = json!("RSA-OAEP");
    let idp = Idp::start(&[&sig]).await;
    idp.publish_raw(json!({"keys": [sig.jwk, enc_jwk]}));
    let app = spawn_app_with(&idp, json!({"jwks_min_refresh_interval": 0})).await;
    let token = mint(&enc, &access_claims(&idp, "alice", &["user"]));
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert_invalid_token_saying(response, "unknown key").await;
}

/// `key`'s signature on `claims` under a header without `kid`.
fn without_kid(key: &TestKey, claims: &serde_json::Value) -> String {
    mint_with_header(key, &json!({"alg": "RS256", "typ": "JWT"}), claims)
}

/// `key`'s JWK with its `kid` taken out.
fn jwk_without_kid(key: &TestKey) -> serde_json::Value {
    let mut jwk = key.jwk.clone();
    jwk.as_object_mut().unwrap().remove("kid");
    jwk
}

#[rocket::async_test]
async fn access_token_without_kid_verifies_against_the_single_published_key() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app(&idp).await;
    let token = without_kid(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    // Signed by another key: the one candidate does not verify it.
    let forged = without_kid(&TestKey::rsa2(), &access_claims(&idp, "mallory", &["user"]));
    assert_invalid_token(get_with_token(&app, "/secure-data", &forged).await).await;
}

#[rocket::async_test]
async fn access_token_without_kid_verifies_against_a_published_key_without_kid() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    idp.publish_raw(json!({"keys": [jwk_without_kid(&key)]}));
    let app = spawn_app(&idp).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok, "the key is kept");
    let token = without_kid(&key, &access_claims(&idp, "alice", &["user"]));
    for _ in 0..2 {
        assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    }
    // A kid cannot name the kid-less key.
    let named = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_invalid_token(get_with_token(&app, "/secure-data", &named).await).await;
}

#[rocket::async_test]
async fn token_without_kid_is_refused_when_several_keys_could_verify_it() {
    let (one, two) = (TestKey::rsa1(), TestKey::rsa2());
    let idp = Idp::start(&[&one]).await;
    idp.publish_raw(json!({"keys": [one.jwk, jwk_without_kid(&two)]}));
    let app = spawn_app(&idp).await;
    for key in [&one, &two] {
        let token = without_kid(key, &access_claims(&idp, "alice", &["user"]));
        let response = get_with_token(&app, "/secure-data", &token).await;
        assert_invalid_token_saying(response, "header is not acceptable").await;
    }
}

#[rocket::async_test]
async fn id_token_without_kid_signs_in_when_the_jwks_has_a_single_key_without_kid() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    idp.publish_raw(json!({"keys": [jwk_without_kid(&key)]}));
    let app = spawn_app(&idp).await;
    let login = app.get("/login?next=/hello").dispatch().await;
    let q = crate::query(login.headers().get_one("Location").unwrap());
    let id = without_kid(&key, &id_claims(&idp, "alice", &q["nonce"]));
    let access = without_kid(&key, &access_claims(&idp, "alice", &["user"]));
    idp.expect_code("c", token_response(&access, Some(&id), None));
    let iss = url::form_urlencoded::byte_serialize(idp.issuer().as_bytes()).collect::<String>();
    let callback = format!("/authorize?state={}&code=c&iss={iss}", q["state"]);
    let response = app.get(callback).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther, "{:?}", response.into_string().await);
    assert_eq!(app.get("/hello").dispatch().await.status(), Status::Ok, "signed in");
}

/// Asserts a 401 `invalid_token` whose description contains `words`.
async fn assert_invalid_token_saying(
    response: rocket::local::asynchronous::LocalResponse<'_>,
    words: &str,
) {
    let header = crate::www_authenticate(&response);
    assert!(header.contains(words), "{header}");
    assert_invalid_token(response).await;
}
