//! The rules a bearer token must pass: framing and size, `exp`/`nbf`/`iat` with the leeway,
//! issuer, audience, token type, the algorithm taken from the key, signatures, and a
//! cached verdict that never outlives the token or vouches for a near copy.

use rocket::http::Status;
use rocket_keycloak_testkit::{
    Idp, TestKey, access_claims, alg_name, b64, mint, mint_with_header, now,
};
use serde_json::{Value, json};

use crate::{
    assert_invalid_token, get_with_token, idp_and_app, spawn_app, spawn_app_with, www_authenticate,
};

#[rocket::async_test]
async fn garbage_tokens_are_invalid_token() {
    let (_idp, _key, app) = idp_and_app().await;
    for token in ["abc", "a.b", "a.b.c", "e30.e30.e30", "a.b.c.d.e", "eyJhbGciOiJSUzI1NiJ9..sig"] {
        assert_invalid_token(get_with_token(&app, "/secure-data", token).await).await;
    }
}

#[rocket::async_test]
async fn oversized_token_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["pad"] = json!("x".repeat(20_000));
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
}

#[rocket::async_test]
async fn expired_token_is_rejected_with_401() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["exp"] = json!(now() - 61);
    claims["iat"] = json!(now() - 400);
    let response = get_with_token(&app, "/secure-data", &mint(&key, &claims)).await;
    assert!(www_authenticate(&response).contains("expired"));
    assert_invalid_token(response).await;
}

#[rocket::async_test]
async fn token_expired_within_the_leeway_is_accepted() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["exp"] = json!(now() - 30);
    let response = get_with_token(&app, "/secure-data", &mint(&key, &claims)).await;
    assert_eq!(response.status(), Status::Ok);
}

#[rocket::async_test]
async fn missing_or_non_numeric_exp_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims.as_object_mut().unwrap().remove("exp");
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
    claims["exp"] = json!("tomorrow");
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
}

#[rocket::async_test]
async fn not_before_in_the_future_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["nbf"] = json!(now() + 120);
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
}

#[rocket::async_test]
async fn issued_in_the_future_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["iat"] = json!(now() + 120);
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
}

#[rocket::async_test]
async fn wrong_issuer_is_refused_even_by_a_slash_or_case() {
    let (idp, key, app) = idp_and_app().await;
    for iss in [
        format!("{}/", idp.issuer()),
        idp.issuer().to_uppercase(),
        "http://evil/realms/test".into(),
    ] {
        let mut claims = access_claims(&idp, "alice", &["user"]);
        claims["iss"] = json!(iss);
        assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await)
            .await;
    }
}

#[rocket::async_test]
async fn wrong_or_missing_audience_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["aud"] = json!("account");
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
    claims["aud"] = json!(["account", "other-app"]);
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
    claims.as_object_mut().unwrap().remove("aud");
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
}

#[rocket::async_test]
async fn audience_as_a_string_is_accepted() {
    let (idp, key, app) = idp_and_app().await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["aud"] = json!("demo-app");
    assert_eq!(
        get_with_token(&app, "/secure-data", &mint(&key, &claims)).await.status(),
        Status::Ok
    );
}

#[rocket::async_test]
async fn configured_audience_replaces_the_client_id() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"audience": "my-api"})).await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    assert_invalid_token(get_with_token(&app, "/secure-data", &mint(&key, &claims)).await).await;
    claims["aud"] = json!("my-api");
    assert_eq!(
        get_with_token(&app, "/secure-data", &mint(&key, &claims)).await.status(),
        Status::Ok
    );
}

#[rocket::async_test]
async fn id_refresh_and_logout_tokens_are_not_access_tokens() {
    let (idp, key, app) = idp_and_app().await;
    for typ in [
        json!("ID"),
        json!("Refresh"),
        json!("Logout"),
        json!("Offline"),
        json!("bearer"),
        Value::Null,
    ] {
        let mut claims = access_claims(&idp, "alice", &["user"]);
        claims["typ"] = typ.clone();
        let response = get_with_token(&app, "/secure-data", &mint(&key, &claims)).await;
        assert!(www_authenticate(&response).contains("not an access token"), "{typ}");
        assert_invalid_token(response).await;
    }
}

#[rocket::async_test]
async fn alg_none_is_refused_in_any_spelling() {
    let (idp, _key, app) = idp_and_app().await;
    let claims = access_claims(&idp, "alice", &["user"]);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "kid": "rsa1", "typ": "JWT"});
        let token = format!("{}.{}.", b64(&header.to_string()), b64(&claims.to_string()));
        assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
        let token = format!("{}.{}.c2ln", b64(&header.to_string()), b64(&claims.to_string()));
        assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
    }
}

#[rocket::async_test]
async fn hmac_signed_with_the_public_key_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let claims = access_claims(&idp, "alice", &["user"]);
    for alg in [
        jsonwebtoken::Algorithm::HS256,
        jsonwebtoken::Algorithm::HS384,
        jsonwebtoken::Algorithm::HS512,
    ] {
        let header = json!({"alg": alg_name(alg), "kid": "rsa1", "typ": "JWT"});
        let message = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
        let secret = jsonwebtoken::EncodingKey::from_secret(key.public_pem.as_bytes()).unwrap();
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &secret, alg).unwrap();
        let token = format!("{message}.{signature}");
        assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
    }
}

#[rocket::async_test]
async fn header_alg_other_than_the_keys_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let claims = access_claims(&idp, "alice", &["user"]);
    // Signed with RS256 but labelled RS384/PS256: the key's algorithm wins, the token is refused.
    for alg in ["RS384", "PS256", "ES256"] {
        let token = mint_with_header(&key, &json!({"alg": alg, "kid": "rsa1"}), &claims);
        assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
    }
}

#[rocket::async_test]
async fn token_signed_by_another_key_under_a_known_kid_is_refused() {
    let (idp, _key, app) = idp_and_app().await;
    let forger = TestKey::rsa2().with_kid("rsa1");
    let token = mint(&forger, &access_claims(&idp, "alice", &["admin"]));
    let response = get_with_token(&app, "/secure-data", &token).await;
    assert!(www_authenticate(&response).contains("signature"));
    assert_invalid_token(response).await;
}

#[rocket::async_test]
async fn tampered_payload_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let parts: Vec<&str> = token.split('.').collect();
    let forged = b64(&access_claims(&idp, "alice", &["user", "admin"]).to_string());
    let token = format!("{}.{}.{}", parts[0], forged, parts[2]);
    assert_invalid_token(get_with_token(&app, "/admin-data", &token).await).await;
}

#[rocket::async_test]
async fn header_pointing_to_other_keys_is_refused() {
    let (idp, key, app) = idp_and_app().await;
    let claims = access_claims(&idp, "alice", &["user"]);
    for field in ["jku", "x5u", "jwk", "x5c", "crit"] {
        let header = json!({"alg": "RS256", "kid": "rsa1", field: "http://127.0.0.1:1/keys"});
        let token = mint_with_header(&key, &header, &claims);
        assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
    }
}

#[rocket::async_test]
async fn duplicate_json_members_are_refused() {
    let (idp, key, app) = idp_and_app().await;
    let claims = access_claims(&idp, "alice", &["user"]).to_string();
    let claims = claims.replacen('{', "{\"sub\":\"someone-else\",", 1);
    let header = json!({"alg": "RS256", "kid": "rsa1"}).to_string();
    let message = format!("{}.{}", b64(&header), b64(&claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.alg).unwrap();
    let token = format!("{message}.{signature}");
    assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
}

#[rocket::async_test]
async fn ec_and_eddsa_keys_verify_their_own_algorithms() {
    let (ec, ed) = (TestKey::ec1(), TestKey::ed1());
    let idp = Idp::start(&[&ec, &ed]).await;
    let app = spawn_app(&idp).await;
    for key in [&ec, &ed] {
        let token = mint(key, &access_claims(&idp, "alice", &["user"]));
        assert_eq!(
            get_with_token(&app, "/secure-data", &token).await.status(),
            Status::Ok,
            "{}",
            key.kid
        );
    }
}

#[rocket::async_test]
async fn cached_token_is_still_refused_once_it_expires() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"leeway": 0})).await;
    let mut claims = access_claims(&idp, "alice", &["user"]);
    claims["exp"] = json!(now() + 2);
    let token = mint(&key, &claims);
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok, "cached");
    rocket::tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_invalid_token(get_with_token(&app, "/secure-data", &token).await).await;
}

#[rocket::async_test]
async fn a_refused_token_stays_refused_and_a_near_copy_is_judged_on_its_own() {
    let (idp, key, app) = idp_and_app().await;
    let forger = TestKey::rsa2().with_kid("rsa1");
    let forged = mint(&forger, &access_claims(&idp, "mallory", &["admin"]));
    for _ in 0..3 {
        assert_invalid_token(get_with_token(&app, "/admin-data", &forged).await).await;
    }
    // A valid token accepted (and cached) does not vouch for a token that differs in one byte.
    let token = mint(&key, &access_claims(&idp, "alice", &["user"]));
    assert_eq!(get_with_token(&app, "/secure-data", &token).await.status(), Status::Ok);
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert_invalid_token(get_with_token(&app, "/secure-data", &altered).await).await;
}
