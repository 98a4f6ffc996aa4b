//! `scripts/redis`: its own port by default (not 6379, where Debian's redis-server package
//! starts the system's service), and what it says when the port is taken, by another Redis
//! or by another program; its sentinel and cluster modes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Run, bash, free_port, free_ports};

/// `scripts/redis <command>` with REDIS_PORT = `port` and a cache folder of the test's own.
fn redis_script(command: &str, port: u16, name: &str) -> Run {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scripts").join(name);
    let port = port.to_string();
    bash(
        &format!("scripts/redis {command}"),
        &[("REDIS_PORT", &port), ("REDIS_CACHE_DIR", dir.to_str().unwrap())],
    )
}

#[test]
fn redis_url_is_on_the_scripts_own_port_not_6379() {
    // No REDIS_PORT (`bash` passes none of the caller's environment).
    let run = bash("scripts/redis url", &[]);
    assert!(run.ok, "{run:?}");
    assert_eq!(run.stdout, "redis://127.0.0.1:16379/0\n");
    let run = bash("scripts/redis url", &[("REDIS_PORT", "16500")]);
    assert_eq!(run.stdout, "redis://127.0.0.1:16500/0\n", "{run:?}");
}

#[test]
fn redis_sentinel_and_cluster_urls_name_the_sentinels_and_the_nodes() {
    // Printed from the settings: nothing runs, and nothing needs to.
    let run = bash("scripts/redis sentinel url", &[]);
    assert!(run.ok, "{run:?}");
    let sentinels = "127.0.0.1:16402,127.0.0.1:16403,127.0.0.1:16404";
    assert_eq!(run.stdout, format!("redis+sentinel://{sentinels}/sessions/0\n"));
    let run = bash("scripts/redis cluster url", &[]);
    let nodes = "127.0.0.1:16410,127.0.0.1:16411,127.0.0.1:16412";
    assert_eq!(run.stdout, format!("redis+cluster://{nodes}\n"), "{run:?}");

    // The sentinels (base port +2, +3, +4) and the master's name follow their settings, as the
    // nodes follow theirs.
    let moved = [("REDIS_SENTINEL_BASE_PORT", "20000"), ("REDIS_SENTINEL_MASTER", "other.name")];
    let run = bash("scripts/redis sentinel url", &moved);
    let sentinels = "127.0.0.1:20002,127.0.0.1:20003,127.0.0.1:20004";
    assert_eq!(run.stdout, format!("redis+sentinel://{sentinels}/other.name/0\n"), "{run:?}");
    let run = bash("scripts/redis cluster url", &[("REDIS_CLUSTER_BASE_PORT", "21000")]);
    let nodes = "127.0.0.1:21000,127.0.0.1:21001,127.0.0.1:21002";
    assert_eq!(run.stdout, format!("redis+cluster://{nodes}\n"), "{run:?}");

    // A name that would change the URL's shape is refused, not printed.
    let run = bash("scripts/redis sentinel url", &[("REDIS_SENTINEL_MASTER", "a/b")]);
    assert!(!run.ok && run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.contains("REDIS_SENTINEL_MASTER=a/b: letters, digits"), "{run:?}");
}

/// A redis-server of nobody's (like the system's service) on a free port.
struct ForeignRedis {
    child: Child,
    port: u16,
}

impl ForeignRedis {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--dir", env!("CARGO_TARGET_TMPDIR")])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup --test installs it)");
        let redis = Self { child, port };
        // Readiness, not a timed assertion: wait for it to answer.
        for _ in 0..200 {
            if redis.answers() {
                return redis;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("redis-server on port {port} did not answer");
    }

    fn answers(&self) -> bool {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string(), "ping"]).output();
        out.is_ok_and(|out| out.stdout.starts_with(b"PONG"))
    }
}

impl Drop for ForeignRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn redis_start_refuses_a_port_where_another_redis_answers_and_leaves_it_alone() {
    let foreign = ForeignRedis::start();
    let run = redis_script("start", foreign.port, "redis-foreign");
    assert!(!run.ok, "{run:?}");
    let said = format!(
        "something else already answers on 127.0.0.1:{}; stop it or set REDIS_PORT",
        foreign.port
    );
    assert!(run.stderr.contains(&said), "{run:?}");
    // `stop` stops only what `start` started.
    let run = redis_script("stop", foreign.port, "redis-foreign");
    assert!(run.ok, "{run:?}");
    assert!(foreign.answers(), "the other redis-server still runs");
}

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn redis_start_names_a_port_that_another_program_holds() {
    // A program that accepts connections and closes them at once: no Redis.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || listener.incoming().for_each(drop));
    let run = redis_script("start", port, "redis-held");
    assert!(!run.ok, "{run:?}");
    let said = format!("port {port} on 127.0.0.1 is in use by another program; set REDIS_PORT");
    assert!(run.stderr.contains(&said), "{run:?}");
}

/// `scripts/redis <mode> ...` (`sentinel` or `cluster`) from the base port `base`, with a
/// fresh cache folder of the test's own. Stops what it started when dropped, so a failed
/// assertion leaves no process behind.
struct Group {
    mode: &'static str,
    base: u16,
    dir: PathBuf,
}

impl Group {
    fn new(mode: &'static str, base: u16, name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scripts").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        Self { mode, base, dir }
    }

    fn run(&self, command: &str) -> Run {
        let setting = match self.mode {
            "sentinel" => "REDIS_SENTINEL_BASE_PORT",
            _ => "REDIS_CLUSTER_BASE_PORT",
        };
        let base = self.base.to_string();
        bash(
            &format!("scripts/redis {} {command}", self.mode),
            &[(setting, &base), ("REDIS_CACHE_DIR", self.dir.to_str().unwrap())],
        )
    }

    /// The pids in the pid files of the `count` nodes from the base port up.
    fn pids(&self, count: u16) -> Vec<String> {
        (0..count)
            .map(|i| {
                let file = self.dir.join((self.base + i).to_string()).join("redis.pid");
                let pid = std::fs::read_to_string(&file);
                pid.unwrap_or_else(|error| panic!("{}: {error}", file.display())).trim().to_owned()
            })
            .collect()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

/// What `redis-cli -p <port> <args>` prints.
fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether process `pid` still lives (a zombie, dead but not yet reaped, does not).
fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    stat.is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|state| !state.starts_with('Z')))
}

/// The port of the master that the sentinel on `port` names for "sessions".
fn master_of(port: u16) -> String {
    let said = cli(port, &["sentinel", "get-master-addr-by-name", "sessions"]);
    said.lines().nth(1).unwrap_or_default().to_owned()
}

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn redis_sentinel_promotes_the_replica_when_the_master_dies_and_stop_leaves_nothing() {
    let base = free_ports(4);
    let group = Group::new("sentinel", base, "redis-sentinel");
    let run = group.run("start");
    assert!(run.ok, "{run:?}");
    let run = group.run("start");
    assert!(run.ok && run.stdout.contains("sentinel already running"), "{run:?}");
    let run = group.run("status");
    assert!(run.ok && run.stdout == "running\n", "{run:?}");
    let run = group.run("addresses");
    let sentinels = [base + 2, base + 3, base + 4];
    let listed: String = sentinels.iter().map(|port| format!("127.0.0.1:{port}\n")).collect();
    assert_eq!(run.stdout, listed, "{run:?}");
    // `start` returned once every sentinel knew the master.
    for port in sentinels {
        assert_eq!(master_of(port), base.to_string(), "sentinel on {port}");
    }
    let pids = group.pids(5);
    let killed = Command::new("kill").args(["-9", &pids[0]]).status().expect("kill runs");
    assert!(killed.success());
    // Down after 1 s, then a vote: seconds, not the 30 s this waits at most.
    let replica = (base + 1).to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sentinels.iter().all(|&port| master_of(port) == replica) {
        let said: Vec<String> = sentinels.iter().map(|&port| master_of(port)).collect();
        assert!(Instant::now() < deadline, "no promotion in 30 s; sentinels say {said:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(cli(base + 1, &["info", "replication"]).contains("role:master"));
    let run = group.run("status");
    assert!(!run.ok && run.stdout == "stopped\n", "a node is gone: {run:?}");
    let run = group.run("stop");
    assert!(run.ok && run.stdout.contains("sentinel stopped"), "{run:?}");
    for pid in &pids {
        assert!(!alive(pid), "pid {pid} still runs after stop");
    }
    let run = group.run("status");
    assert!(!run.ok, "{run:?}");
}

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn redis_cluster_spreads_the_slots_over_three_masters_and_stop_leaves_nothing() {
    // Three nodes and their three cluster bus ports.
    let base = free_ports(5);
    let group = Group::new("cluster", base, "redis-cluster");
    let run = group.run("start");
    assert!(run.ok, "{run:?}");
    let run = group.run("status");
    assert!(run.ok && run.stdout == "running\n", "{run:?}");
    let nodes = [base, base + 1, base + 2];
    let run = group.run("addresses");
    let listed: String = nodes.iter().map(|port| format!("127.0.0.1:{port}\n")).collect();
    assert_eq!(run.stdout, listed, "{run:?}");
    for port in nodes {
        let info = cli(port, &["cluster", "info"]);
        assert!(info.contains("cluster_state:ok"), "node {port}: {info}");
        // Three masters that serve slots.
        assert!(info.contains("cluster_size:3"), "node {port}: {info}");
    }
    let masters = cli(base, &["cluster", "nodes"]);
    let serving = masters
        .lines()
        .filter(|line| line.contains("master") && line.split(' ').nth(8).is_some())
        .count();
    assert_eq!(serving, 3, "{masters}");
    // A key reaches its node through the redirections, from any node.
    assert_eq!(cli(base, &["-c", "set", "{u1}a", "1"]).trim(), "OK");
    assert_eq!(cli(base + 2, &["-c", "get", "{u1}a"]).trim(), "1");
    let pids = group.pids(3);
    let run = group.run("stop");
    assert!(run.ok && run.stdout.contains("cluster stopped"), "{run:?}");
    for pid in &pids {
        assert!(!alive(pid), "pid {pid} still runs after stop");
    }
    let run = group.run("status");
    assert!(!run.ok && run.stdout == "stopped\n", "{run:?}");
}
