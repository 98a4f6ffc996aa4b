//! `scripts/redis`: its own port by default (not 6379, where Debian's redis-server package
//! starts the system's service), and what it says when the port is taken, by another Redis
//! or by another program.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{Run, bash, free_port};

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
