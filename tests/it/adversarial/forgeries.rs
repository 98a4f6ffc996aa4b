//! Forged tokens: malformed JWS framing, algorithm and key confusion, unknown or hostile
//! `kid`s, and headers naming keys elsewhere (`jku`, `x5u`, `jwk`, `x5c`), which are never
//! fetched.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use rocket_keycloak_testkit::{TestKey, b64, mint, mint_with_header};
use serde_json::{Value, json};

use super::{bad_token, claims, run, setup};

/// Signs `header` and `claims` with HMAC under `secret` (key confusion attempts).
fn hmac_token(alg: Algorithm, secret: &[u8], header: &Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
    let key = EncodingKey::from_secret(secret).unwrap();
    format!("{message}.{}", jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap())
}

#[rocket::async_test]
async fn format_cases() {
    let (idp, key, app) = setup().await;
    let valid = mint(&key, &claims(&idp));
    let parts: Vec<&str> = valid.split('.').collect();
    let mut huge = claims(&idp);
    huge["pad"] = json!("x".repeat(17_000));
    let dup = claims(&idp).to_string().replacen('{', "{\"iss\":\"http://evil\",", 1);
    run(
        &app,
        vec![
            bad_token("one part", "abc".into()),
            bad_token("two parts", format!("{}.{}", parts[0], parts[1])),
            bad_token("four parts", format!("{valid}.x")),
            bad_token("JWE with five parts", format!("{}.a.b.c.d", parts[0])),
            bad_token("bad base64 header", format!("!!!.{}.{}", parts[1], parts[2])),
            bad_token(
                "standard base64 alphabet",
                format!("{}.{}.{}", STANDARD.encode("{\"alg\":\"RS256\"}"), parts[1], parts[2]),
            ),
            bad_token("header not JSON", format!("{}.{}.{}", b64("not json"), parts[1], parts[2])),
            bad_token("header a JSON array", format!("{}.{}.{}", b64("[1,2]"), parts[1], parts[2])),
            bad_token(
                "payload not JSON",
                mint_with_header(
                    &key,
                    &json!({"alg": "RS256", "kid": "rsa1"}),
                    &json!("just a string"),
                ),
            ),
            bad_token("duplicate JSON members", {
                let message = format!(
                    "{}.{}",
                    b64(&json!({"alg": "RS256", "kid": "rsa1"}).to_string()),
                    b64(&dup)
                );
                let signature =
                    jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, Algorithm::RS256)
                        .unwrap();
                format!("{message}.{signature}")
            }),
            bad_token("oversize token", mint(&key, &huge)),
            bad_token("empty signature", format!("{}.{}.", parts[0], parts[1])),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn algorithm_and_key_cases() {
    let (idp, key, app) = setup().await;
    let c = claims(&idp);
    let der = {
        let body: String = key.public_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()
    };
    let hdr = |alg: &str| json!({"alg": alg, "kid": "rsa1", "typ": "JWT"});
    let unsigned = |alg: &str| format!("{}.{}.", b64(&hdr(alg).to_string()), b64(&c.to_string()));
    let ec = TestKey::ec1();
    let ec_token = mint(&ec.with_kid("rsa1"), &c);
    let ec_parts: Vec<&str> = ec_token.split('.').collect();
    run(
        &app,
        vec![
            bad_token("alg none", unsigned("none")),
            bad_token("alg None", unsigned("None")),
            bad_token("alg NONE with a signature", format!("{}c2ln", unsigned("NONE"))),
            bad_token(
                "HS256 keyed with the PEM public key",
                hmac_token(Algorithm::HS256, key.public_pem.as_bytes(), &hdr("HS256"), &c),
            ),
            bad_token(
                "HS384 keyed with the PEM public key",
                hmac_token(Algorithm::HS384, key.public_pem.as_bytes(), &hdr("HS384"), &c),
            ),
            bad_token(
                "HS512 keyed with the PEM public key",
                hmac_token(Algorithm::HS512, key.public_pem.as_bytes(), &hdr("HS512"), &c),
            ),
            bad_token(
                "HS256 keyed with the DER public key",
                hmac_token(Algorithm::HS256, &der, &hdr("HS256"), &c),
            ),
            bad_token(
                "header alg PS256 on an RS256 key",
                mint_with_header(&key, &hdr("PS256"), &c),
            ),
            bad_token(
                "header alg RS512 on an RS256 key",
                mint_with_header(&key, &hdr("RS512"), &c),
            ),
            bad_token("ES256 signature under the RSA kid", ec_token.clone()),
            bad_token(
                "truncated ECDSA signature",
                format!("{}.{}.{}", ec_parts[0], ec_parts[1], &ec_parts[2][..20]),
            ),
            bad_token(
                "zero ECDSA signature",
                format!("{}.{}.{}", ec_parts[0], ec_parts[1], URL_SAFE_NO_PAD.encode([0u8; 64])),
            ),
            bad_token("unknown kid", mint(&TestKey::rsa2().with_kid("nobody"), &c)),
            bad_token("kid with a path", mint(&TestKey::rsa2().with_kid("../../etc/passwd"), &c)),
            bad_token("kid with SQL", mint(&TestKey::rsa2().with_kid("x' OR '1'='1"), &c)),
            bad_token(
                "no kid, signed by a key that is not the single published one",
                mint_with_header(&TestKey::rsa2(), &json!({"alg": "RS256"}), &c),
            ),
            bad_token(
                "forged signature under a known kid",
                mint(&TestKey::rsa2().with_kid("rsa1"), &c),
            ),
            bad_token(
                "crit with an unknown extension",
                mint_with_header(
                    &key,
                    &json!({"alg": "RS256", "kid": "rsa1", "crit": ["exp-ext"], "exp-ext": 1}),
                    &c,
                ),
            ),
        ],
    )
    .await;
}

#[rocket::async_test]
async fn key_location_headers_are_never_fetched() {
    let (idp, key, app) = setup().await;
    let attacker = TestKey::rsa2().with_kid("attacker");
    let c = claims(&idp);
    let here = format!("{}/protocol/openid-connect/certs", idp.issuer());
    let hits = idp.jwks_hits();
    run(
        &app,
        vec![
            bad_token(
                "jku pointing at a JWKS",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "jku": here}),
                    &c,
                ),
            ),
            bad_token(
                "x5u pointing at a certificate",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "x5u": here}),
                    &c,
                ),
            ),
            bad_token(
                "embedded jwk",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "jwk": attacker.jwk}),
                    &c,
                ),
            ),
            bad_token(
                "embedded x5c",
                mint_with_header(
                    &attacker,
                    &json!({"alg": "RS256", "kid": "attacker", "x5c": ["MIIB"]}),
                    &c,
                ),
            ),
            bad_token(
                "jku with the real kid",
                mint_with_header(&key, &json!({"alg": "RS256", "kid": "rsa1", "jku": here}), &c),
            ),
        ],
    )
    .await;
    assert_eq!(idp.jwks_hits(), hits, "no header made the app fetch anything");
}
