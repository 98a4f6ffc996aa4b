#![allow(missing_docs)]
//! A static identity provider for `scripts/bench` and `scripts/soak`: serves a discovery
//! document and a JWKS on 127.0.0.1 (no Keycloak needed) and mints the tokens the load runs
//! replay.
//!
//! ```text
//! cargo run --release --example bench_idp -- <port> <out-dir> <distinct-tokens> [serve-only]
//! ```
//! Three RSA keys (the test kit's fixture keys) under kids `k1`, `k2`, `k3`.
//! Unless `serve-only`, it writes to `<out-dir>`: `one.txt` (one valid `k1` token),
//! `valid.txt` (distinct valid `k1` tokens, one per line), `valid-k2.txt`, `valid-k3.txt`
//! (1000 each), `invalid.txt` (forged: kid `k1`, signed with another key), `jwk-k<N>.json`
//! (each public key), `dpop-token.txt` (a DPoP-bound `k1` token) and `jwks.json` (`k1`
//! only). It serves the JWKS from `jwks.json`, read on every request, so a script can rotate
//! keys by rewriting that file.
//!
//! `bench_idp proofs <out-dir> <count> <url>` writes `proofs.txt` instead: fresh DPoP proofs
//! for `GET <url>` with that token, one per line, each good for one request within 60 s.
//!
//! The server and the token files live in the test kit (`rocket_keycloak_testkit::bench_idp`);
//! this example is its command line, built with the app's crypto backend.

use rocket_keycloak_testkit::bench_idp::{self, BenchIdp};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, out_dir, count, url] = args.as_slice()
        && mode == "proofs"
    {
        let idp = BenchIdp::from_args(["0".to_owned(), out_dir.clone()]);
        return idp.write_proofs(url, count.parse().unwrap_or(100_000));
    }
    bench_idp::run(&BenchIdp::from_args(args))
}
