//! Sessions shared through a real redis-server (started by `scripts/redis` on a port of
//! its own per test): two app instances on one store, back-channel and RP logout reaching
//! both, one refresh for concurrent requests on both, Redis going away and coming back, and
//! what a dump of Redis shows. The identity provider is the in-process one; the same
//! scenarios against real Keycloak on ports 8000 and 8001 are in `keycloak/instances.rs`.
//!
//! Every test here is `#[ignore = "needs redis-server: run scripts/test"]`; when it runs
//! without redis-server installed it fails saying so.
//!
//! This file is the server every test (and `keycloak/instances.rs`) starts; the tests are in
//! `instances` (two app instances on one Redis), `store` (the `RedisStore` itself) and
//! `full` (a Redis full under `noeviction`, and one DPoP key's flood). `group` starts a
//! Sentinel setup or a Cluster (`scripts/redis sentinel|cluster`); `ha` runs the store on
//! them, `failover` the app instances.

mod failover;
mod full;
mod group;
mod ha;
mod instances;
mod store;

pub use group::RedisGroup;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};

/// A base64 secret key shared by the instances of one test.
const SECRET_KEY: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";

/// A redis-server of one test, started and stopped with `scripts/redis`.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(16390);

impl RedisServer {
    pub fn start() -> Self {
        let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("redis-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        let server = Self { port, dir };
        server.script("start");
        server
    }

    fn script(&self, command: &str) {
        let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis"))
            .arg(command)
            .env("REDIS_PORT", self.port.to_string())
            .env("REDIS_CACHE_DIR", &self.dir)
            .output()
            .expect("scripts/redis runs");
        assert!(
            output.status.success(),
            "scripts/redis {command} failed (is redis-server installed? scripts/setup --redis installs it): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    pub fn restart(&self) {
        self.script("start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// What `redis-cli` answers to `args` on this server, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--raw"])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The keys whose names start with `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let keys = self.cli(&["--scan", "--pattern", &format!("{prefix}*")]);
        keys.lines().filter(|k| !k.is_empty()).map(str::to_owned).collect()
    }

    /// Every key and every value in the database, as raw bytes.
    pub fn dump(&self) -> Vec<u8> {
        dump_port(self.port)
    }
}

/// Every key and every value of the redis-server on `port`, as raw bytes (`redis-cli
/// --no-raw` would escape them): keys by SCAN, values by type.
pub fn dump_port(port: u16) -> Vec<u8> {
    let cli = |args: &[&str]| {
        let output = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "--raw"])
            .args(args)
            .output()
            .expect("redis-cli runs");
        output.stdout
    };
    let keys = String::from_utf8(cli(&["--scan"])).unwrap();
    let mut dump = Vec::new();
    for key in keys.lines().filter(|k| !k.is_empty()) {
        dump.extend_from_slice(key.as_bytes());
        let kind = String::from_utf8(cli(&["type", key])).unwrap();
        let value = match kind.trim() {
            "hash" => cli(&["hgetall", key]),
            "zset" => cli(&["zrange", key, "0", "-1", "withscores"]),
            "set" => cli(&["smembers", key]),
            "string" => cli(&["get", key]),
            other => panic!("unexpected type {other} of {key}"),
        };
        dump.extend_from_slice(&value);
    }
    dump
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis"))
            .arg("stop")
            .env("REDIS_PORT", self.port.to_string())
            .env("REDIS_CACHE_DIR", &self.dir)
            .output();
    }
}
