//! The app's share of one browser sign-in: the `/authorize` handler (state check, code
//! exchange over loopback with the in-process IdP, ID- and access-token validation, session
//! creation), excluding the identity provider's own work. `cargo bench --bench signin`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rocket::local::asynchronous::Client;
use rocket_keycloak_testkit::{
    Idp, TestKey, access_claims, figment_for, id_claims, mint, token_response,
};
use serde_json::json;

fn signin(c: &mut Criterion) {
    let runtime = rocket::tokio::runtime::Runtime::new().unwrap();
    let key = TestKey::rsa1();
    let (idp, app) = runtime.block_on(async {
        let idp = Idp::start(&[&key]).await;
        let rocket = rocket::custom(figment_for(&idp, json!({})))
            .attach(rocket_keycloak::OidcFairing)
            .attach(rocket_keycloak::SignIn::new())
            .register("/", rocket_keycloak::catchers());
        let app = Client::untracked(rocket).await.unwrap();
        (idp, app)
    });
    c.bench_function("authorize_handler", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let response = app.get("/login").dispatch().await;
                    let location = response.headers().get_one("Location").unwrap().to_owned();
                    let cookie = response.cookies().iter().next().unwrap().clone();
                    let q: std::collections::HashMap<String, String> =
                        url::Url::parse(&location).unwrap().query_pairs().into_owned().collect();
                    let user = format!("alice{i}");
                    let id = mint(&key, &id_claims(&idp, &user, &q["nonce"]));
                    let access = mint(&key, &access_claims(&idp, &user, &["user"]));
                    let code = format!("code-{i}");
                    idp.expect_code(&code, token_response(&access, Some(&id), Some("r")));
                    let uri = format!("/authorize?state={}&code={code}", q["state"]);
                    let start = Instant::now();
                    let response = app.get(uri).cookie(cookie).dispatch().await;
                    total += start.elapsed();
                    assert_eq!(response.status().code, 303);
                }
                total
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = signin
}
criterion_main!(benches);
