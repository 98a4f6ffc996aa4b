//! Well-signed tokens with the wrong claims: time limits at the leeway's edge, issuer,
//! audience, token type and subject, a foreign `azp`, and roles in the wrong place or shape.

use rocket_keycloak_testkit::{Idp, TestKey, mint, now};
use serde_json::{Value, json};

use super::{Send, bad_token, case, claims, run, setup};
use crate::spawn_app_with;

#[rocket::async_test]
async fn claim_cases() {
    let (idp, key, app) = setup().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(&idp);
        edit(&mut c);
        mint(&key, &c)
    };
    let t = now();
    run(
        &app,
        vec![
            bad_token("expired just past the leeway", with(&|c| c["exp"] = json!(t - 61))),
            case(
                "expired just inside the leeway",
                Send::Token(with(&|c| c["exp"] = json!(t - 55))),
                200,
                None,
            ),
            bad_token("nbf in the future", with(&|c| c["nbf"] = json!(t + 120))),
            bad_token("iat in the future", with(&|c| c["iat"] = json!(t + 120))),
            bad_token(
                "exp missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            bad_token("exp not a number", with(&|c| c["exp"] = json!("tomorrow"))),
            bad_token("exp null", with(&|c| c["exp"] = Value::Null)),
            bad_token("wrong issuer", with(&|c| c["iss"] = json!("http://evil/realms/test"))),
            bad_token(
                "issuer with a trailing slash",
                with(&|c| c["iss"] = json!(format!("{}/", idp.issuer()))),
            ),
            bad_token(
                "issuer in other case",
                with(&|c| c["iss"] = json!(idp.issuer().to_uppercase())),
            ),
            bad_token(
                "issuer missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
            ),
            bad_token("wrong audience", with(&|c| c["aud"] = json!("account"))),
            bad_token(
                "audience missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
            ),
            bad_token(
                "audience list without us",
                with(&|c| c["aud"] = json!(["account", "other"])),
            ),
            bad_token("typ ID", with(&|c| c["typ"] = json!("ID"))),
            bad_token("typ Refresh", with(&|c| c["typ"] = json!("Refresh"))),
            bad_token("typ Logout", with(&|c| c["typ"] = json!("Logout"))),
            bad_token(
                "typ missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("typ");
                }),
            ),
            bad_token(
                "sub missing",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
            ),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn foreign_azp_is_refused_when_an_allow_list_is_set() {
    let key = TestKey::rsa1();
    let idp = Idp::start(&[&key]).await;
    let app = spawn_app_with(&idp, json!({"allowed_azp": ["demo-app", "demo-cli"]})).await;
    let with_azp = |azp: Value| {
        let mut c = claims(&idp);
        c["azp"] = azp;
        mint(&key, &c)
    };
    run(
        &app,
        vec![
            case("allowed azp", Send::Token(with_azp(json!("demo-cli"))), 200, None),
            bad_token("foreign azp", with_azp(json!("other-app"))),
            bad_token("azp missing", with_azp(Value::Null)),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn role_cases() {
    let (idp, key, app) = setup().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = claims(&idp);
        edit(&mut c);
        mint(&key, &c)
    };
    run(
        &app,
        vec![
            case("missing role", Send::AdminToken(with(&|_| {})), 403, Some("insufficient_scope")),
            case(
                "client role with the realm role's name",
                Send::AdminToken(with(&|c| {
                    c["resource_access"] = json!({"demo-app": {"roles": ["admin"]}})
                })),
                403,
                Some("insufficient_scope"),
            ),
            case(
                "role in scope, not in roles",
                Send::AdminToken(with(&|c| c["scope"] = json!("openid admin"))),
                403,
                Some("insufficient_scope"),
            ),
            case(
                "role name in other case",
                Send::AdminToken(with(&|c| {
                    c["realm_access"] = json!({"roles": ["Admin", "ADMIN"]})
                })),
                403,
                Some("insufficient_scope"),
            ),
            case(
                "roles claim a string",
                Send::AdminToken(with(&|c| c["realm_access"] = json!({"roles": "admin"}))),
                401,
                Some("invalid_token"),
            ),
            case(
                "realm_access a list",
                Send::AdminToken(with(&|c| c["realm_access"] = json!(["admin"]))),
                401,
                Some("invalid_token"),
            ),
            case(
                "realm role admin",
                Send::AdminToken(with(&|c| c["realm_access"] = json!({"roles": ["admin"]}))),
                200,
                None,
            ),
        ],
    )
    .await;
}
