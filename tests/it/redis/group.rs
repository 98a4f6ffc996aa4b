//! [`RedisGroup`]: a Sentinel setup (master, replica, three sentinels) or a three-master
//! Cluster of one test, started and stopped with `scripts/redis sentinel|cluster`, each on
//! ports of its own.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use super::dump_port;

/// Ten ports per group: the Cluster's three nodes and their bus ports, or Sentinel's five.
static NEXT_BASE: AtomicU16 = AtomicU16::new(16500);

/// A Sentinel setup or a Cluster; see the module documentation.
pub struct RedisGroup {
    mode: &'static str,
    base: u16,
    dir: PathBuf,
}

impl RedisGroup {
    /// A master on `base`, its replica on `base + 1`, sentinels on `base + 2..=base + 4`.
    pub fn sentinel() -> Self {
        Self::start("sentinel")
    }

    /// Three masters on `base..=base + 2`.
    pub fn cluster() -> Self {
        Self::start("cluster")
    }

    fn start(mode: &'static str) -> Self {
        let base = NEXT_BASE.fetch_add(10, Ordering::SeqCst);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("redis-{mode}-{base}"));
        let _ = std::fs::remove_dir_all(&dir);
        let group = Self { mode, base, dir };
        group.script("start");
        group
    }

    fn command(&self, command: &str) -> Command {
        let mut script = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis"));
        let base_var = match self.mode {
            "sentinel" => "REDIS_SENTINEL_BASE_PORT",
            _ => "REDIS_CLUSTER_BASE_PORT",
        };
        script
            .args([self.mode, command])
            .env(base_var, self.base.to_string())
            .env("REDIS_CACHE_DIR", &self.dir);
        script
    }

    /// What `scripts/redis <mode> <command>` prints; panics, with its output, if it fails.
    fn script(&self, command: &str) -> String {
        let output = self.command(command).output().expect("scripts/redis runs");
        assert!(
            output.status.success(),
            "scripts/redis {} {command} failed (is redis-server installed? scripts/setup --redis \
             installs it): {}{}",
            self.mode,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The app's `oidc.session_store` for this group.
    pub fn url(&self) -> String {
        self.script("url").trim().to_owned()
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    pub fn restart(&self) {
        self.script("start");
    }

    /// The ports of the nodes that hold data: master and replica, or the three masters.
    pub fn data_ports(&self) -> Vec<u16> {
        match self.mode {
            "sentinel" => vec![self.base, self.base + 1],
            _ => vec![self.base, self.base + 1, self.base + 2],
        }
    }

    /// The port of the first sentinel.
    pub fn sentinel_port(&self) -> u16 {
        self.base + 2
    }

    /// What `redis-cli` answers to `args` on the node at `port`, trimmed.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "--raw"])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The keys on the node at `port` whose names start with `prefix`.
    pub fn keys(&self, port: u16, prefix: &str) -> Vec<String> {
        let keys = self.cli(port, &["--scan", "--pattern", &format!("{prefix}*")]);
        keys.lines().filter(|k| !k.is_empty()).map(str::to_owned).collect()
    }

    /// Every key and value of every data node, the replica included.
    pub fn dump(&self) -> Vec<u8> {
        self.data_ports().into_iter().flat_map(dump_port).collect()
    }

    /// Every key and value of the replica (the data node that is not the master now).
    pub fn dump_port_of_replica(&self) -> Vec<u8> {
        let master = self.master_port();
        self.data_ports().into_iter().filter(|p| *p != master).flat_map(dump_port).collect()
    }

    /// The port of the master the sentinels name now.
    pub fn master_port(&self) -> u16 {
        let said =
            self.cli(self.sentinel_port(), &["sentinel", "get-master-addr-by-name", "sessions"]);
        said.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .expect("the sentinels name a master")
    }

    /// Waits (bounded) until the replica has everything the master wrote so far.
    pub fn wait_for_replica(&self) {
        let field = |port: u16, name: &str| -> u64 {
            let info = self.cli(port, &["info", "replication"]);
            let line = info.lines().find_map(|l| l.trim().strip_prefix(&format!("{name}:")));
            line.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
        };
        let master = self.master_port();
        let replica = self.data_ports().into_iter().find(|p| *p != master).unwrap();
        let written = field(master, "master_repl_offset");
        let start = Instant::now();
        while field(replica, "slave_repl_offset") < written {
            assert!(start.elapsed() < Duration::from_secs(10), "the replica did not catch up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the redis-server on `port` at once (SIGKILL: no goodbye to its replica).
    pub fn kill(&self, port: u16) {
        let pid = std::fs::read_to_string(self.dir.join(port.to_string()).join("redis.pid"))
            .expect("a pid file");
        let status = Command::new("kill").args(["-9", pid.trim()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits (at most `within`) until the sentinels name a master other than `old`; returns it.
    pub fn wait_for_new_master(&self, old: u16, within: Duration) -> u16 {
        let start = Instant::now();
        while start.elapsed() < within {
            let port = self.master_port();
            if port != old {
                return port;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the sentinels promoted no replica in {within:?}");
    }
}

impl Drop for RedisGroup {
    fn drop(&mut self) {
        let _ = self.command("stop").output();
    }
}
