//! OpenID Connect conformance of the sign-in: the ID token's audiences (Core 3.1.3.7), the
//! same subject in the ID and access tokens (Core 12.2), the callback's `iss` when the
//! provider advertises it (RFC 9207 §2.4), and back-channel logout answers (§2.8).

use rocket::http::{ContentType, Status};
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket_keycloak_testkit::{Idp, TestKey, access_claims, id_claims, mint, now, token_response};
use serde_json::{Value, json};

use crate::flow::{callback, signed_in_due_for_refresh, start_login};
use crate::{idp_and_app, spawn_app_with};

/// Signs in with this ID token's claims (changed by `change`); returns the callback's status.
async fn sign_in_with_id_claims(
    app: &rocket::local::asynchronous::Client,
    idp: &Idp,
    key: &TestKey,
    change: impl Fn(&mut Value),
) -> Status {
    let (state, nonce, _) = start_login(app, "/hello").await;
    let mut claims = id_claims(idp, "alice", &nonce);
    change(&mut claims);
    let access = mint(key, &access_claims(idp, "alice", &["user"]));
    let code = format!("code-{}", rocket_keycloak::testing::random_id());
    idp.expect_code(&code, token_response(&access, Some(&mint(key, &claims)), None));
    let response = callback(app, idp, &state, &code).await;
    if response.status() != Status::SeeOther {
        assert!(response.cookies().get("kc_session").is_none(), "no session");
    }
    response.status()
}

#[rocket::async_test]
async fn id_token_with_an_audience_we_do_not_trust_is_refused_with_or_without_azp() {
    let (idp, key, app) = idp_and_app().await;
    let cases = [
        ("extra audience, azp ours", json!(["demo-app", "other-app"]), Some("demo-app")),
        ("extra audience, no azp", json!(["demo-app", "other-app"]), None),
        ("ours listed second", json!(["other-app", "demo-app"]), Some("demo-app")),
        ("extra audience, azp the other", json!(["demo-app", "other-app"]), Some("other-app")),
    ];
    for (case, aud, azp) in cases {
        let status = sign_in_with_id_claims(&app, &idp, &key, |claims| {
            claims["aud"] = aud.clone();
            match azp {
                Some(azp) => claims["azp"] = json!(azp),
                None => drop(claims.as_object_mut().unwrap().remove("azp")),
            }
        })
        .await;
        assert_eq!(status, Status::BadRequest, "{case}");
    }
    // Only our client id, as a one-element list and without azp: accepted.
    let status = sign_in_with_id_claims(&app, &idp, &key, |claims| {
        claims["aud"] = json!(["demo-app"]);
        claims.as_object_mut().unwrap().remove("azp");
    })
    .await;
    assert_eq!(status, Status::SeeOther);
}

#[rocket::async_test]
async fn id_and_access_token_of_different_subjects_make_no_session() {
    let (idp, key, app) = idp_and_app().await;
    let status = sign_in_with_id_claims(&app, &idp, &key, |claims| {
        claims["sub"] = json!("sub-mallory");
    })
    .await;
    assert_eq!(status, Status::BadRequest);
    assert_eq!(app.get("/me").dispatch().await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn refresh_whose_id_token_names_another_subject_ends_the_session() {
    let (idp, key, app, refresh) = signed_in_due_for_refresh().await;
    // Alice's access token, but an ID token about Mallory.
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let id = mint(&key, &id_claims(&idp, "mallory", ""));
    idp.expect_refresh(&refresh, token_response(&access, Some(&id), Some(&refresh)));
    assert_eq!(app.get("/me").dispatch().await.status(), Status::Unauthorized);
}

/// Serves `document` as a discovery document on a fresh loopback port; returns its URL.
async fn serve_discovery(document: Value) -> String {
    let listener = rocket::tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = document.to_string();
    rocket::tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            rocket::tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await; // one small GET; its path is moot
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/.well-known/openid-configuration")
}

#[rocket::async_test]
async fn callback_without_iss_is_refused_when_the_provider_advertises_it() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let issuer = idp.issuer();
    // The in-process IdP's metadata plus the RFC 9207 flag, as Keycloak publishes it.
    let discovery = serve_discovery(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        "authorization_response_iss_parameter_supported": true,
    }))
    .await;
    let app = spawn_app_with(&idp, json!({"discovery_url": discovery})).await;
    assert_eq!(app.get("/ready").dispatch().await.status(), Status::Ok);
    let (state, nonce, _) = start_login(&app, "/hello").await;
    let access = mint(&key, &access_claims(&idp, "alice", &["user"]));
    let id = mint(&key, &id_claims(&idp, "alice", &nonce));
    idp.expect_code("c", token_response(&access, Some(&id), None));
    let before = idp.token_requests();
    let response = app.get(format!("/authorize?state={state}&code=c")).dispatch().await;
    assert_eq!(response.status(), Status::BadRequest);
    assert!(response.cookies().get("kc_session").is_none());
    assert_eq!(idp.token_requests(), before, "the code was not redeemed");
    // With iss, the same provider signs in.
    let (state, nonce, _) = start_login(&app, "/hello").await;
    let id = mint(&key, &id_claims(&idp, "alice", &nonce));
    idp.expect_code("c2", token_response(&access, Some(&id), None));
    assert_eq!(callback(&app, &idp, &state, "c2").await.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn backchannel_logout_answers_are_no_store_and_show_no_internal_detail() {
    let (idp, key, app) = idp_and_app().await;
    let post = |body: String| {
        app.post("/backchannel-logout").header(ContentType::Form).body(body).dispatch()
    };
    let mut wrong_issuer = json!({
        "iss": "http://evil/realms/test", "aud": "demo-app", "iat": now(), "exp": now() + 120,
        "jti": "lt-conformance", "sub": "sub-alice", "typ": "Logout",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    });
    for body in [
        "logout_token=garbage".to_owned(),
        format!("logout_token={}", mint(&key, &wrong_issuer)),
        String::new(),
    ] {
        let response = post(body).await;
        assert_eq!(response.status(), Status::BadRequest);
        assert_eq!(response.headers().get_one("Cache-Control"), Some("no-store"));
        let answer: Value = response.into_json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request");
        let description = answer["error_description"].as_str().unwrap();
        assert!(
            ["The logout token is not valid.", "The request has no logout_token."]
                .contains(&description),
            "{description}"
        );
    }
    wrong_issuer["iss"] = json!(idp.issuer());
    let response = post(format!("logout_token={}", mint(&key, &wrong_issuer))).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.headers().get_one("Cache-Control"), Some("no-store"));
}
