//! The set-up scripts' behaviour, run as a user runs them: `scripts/setup`, `scripts/redis`,
//! `scripts/dev`, `scripts/keycloak`'s progress lines (`scripts/lib/progress.sh`) and the
//! README's token example.
//!
//! Decisions:
//! - Nothing here installs, downloads or touches the running Keycloak. `apt-get`, `sudo`,
//!   `mvn`, `cargo` and the like are stubs in a [`Sandbox`] whose `bin/` is the whole `PATH`,
//!   so a command the machine has (redis-server, jq) can be made absent; each script gets its
//!   own cache folder and free ports.
//! - `scripts/setup`'s choices are tested through its functions: sourcing it defines them and
//!   runs nothing, and a test redefines the questions it asks the machine (`have`,
//!   `apt-cache`) and the one command that changes it (`apt_get`).
//! - Long waits are tested on a stub clock: `date` reads a file that the stub `sleep`
//!   advances, so a 25 s wait prints its lines at once and no test depends on timing.
//! - Tests that need redis-server or Keycloak are `#[ignore]`d like the other such tests and
//!   run by `scripts/test`.

mod dev;
mod progress;
mod readme;
mod redis;
mod setup;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository (the demo package's folder).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A port on 127.0.0.1 that nothing listens on (as of now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port on 127.0.0.1 with the `len` ports above it free too (as of now): the sentinel and
/// cluster modes take a run of ports from a base port.
pub fn free_ports(len: u16) -> u16 {
    for _ in 0..100 {
        let base = free_port();
        if base.checked_add(len).is_none() {
            continue;
        }
        let held: Vec<_> = (0..=len).map(|i| TcpListener::bind(("127.0.0.1", base + i))).collect();
        if held.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("found no {} free ports in a row", len + 1);
}

/// What a script printed, and how it ended.
pub struct Run {
    /// Exit status 0.
    pub ok: bool,
    /// The exit status (none if a signal ended it).
    pub code: Option<i32>,
    /// Standard output, as text.
    pub stdout: String,
    /// Standard error, as text.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            ok: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { ok, code, stdout, stderr } = self;
        write!(f, "ok: {ok} (exit {code:?})\n--- stdout\n{stdout}--- stderr\n{stderr}")
    }
}

/// `bash -c <script>` in the repository with the machine's `PATH` and nothing else of the
/// caller's environment (a developer's `REDIS_PORT` must not change a test).
pub fn bash(script: &str, env: &[(&str, &str)]) -> Run {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", std::env::var("HOME").unwrap())
        .envs(env.iter().copied())
        .output()
        .expect("bash runs")
        .into()
}

/// The machine's tools a script may use: linked into a sandbox's `bin/` when present.
const TOOLS: &[&str] = &[
    "awk", "base64", "basename", "bash", "cat", "chmod", "cp", "curl", "cut", "date", "dirname",
    "du", "env", "find", "grep", "head", "id", "kill", "ls", "mkdir", "mktemp", "mv", "nohup",
    "ps", "readlink", "realpath", "rm", "sed", "seq", "setsid", "sh", "sha1sum", "sleep", "sort",
    "stat", "tail", "tee", "timeout", "touch", "tr", "true", "uname", "wc", "xargs",
];

/// A scratch folder whose `bin/` is a script's whole `PATH`: the common tools, linked, plus
/// stubs. The `apt-get` and `sudo` stubs write their arguments to `apt.log` and succeed.
pub struct Sandbox {
    /// The scratch folder, under the target folder's tmp/scripts/.
    pub dir: PathBuf,
}

impl Sandbox {
    /// A fresh sandbox named `name` (one per test: tests run in parallel).
    pub fn new(name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scripts").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let sandbox = Self { dir };
        for tool in TOOLS {
            sandbox.link(tool);
        }
        sandbox.stub("apt-get", r#"echo "apt-get $*" >>"${SANDBOX:?}/apt.log""#);
        sandbox.stub("sudo", r#"echo "sudo $*" >>"${SANDBOX:?}/apt.log"; exec "$@""#);
        sandbox
    }

    /// Links the machine's `tool` into `bin/`, if the machine has it.
    pub fn link(&self, tool: &str) {
        let found = std::env::var("PATH")
            .unwrap()
            .split(':')
            .map(|dir| Path::new(dir).join(tool))
            .find(|path| path.is_file());
        if let Some(path) = found {
            let _ = symlink(path, self.dir.join("bin").join(tool));
        }
    }

    /// Writes `bin/<name>`: a bash script running `body`.
    pub fn stub(&self, name: &str, body: &str) {
        self.file(&format!("bin/{name}"), &format!("#!/bin/bash\n{body}\n"));
        self.executable(&format!("bin/{name}"));
    }

    /// Writes a file under the sandbox, creating its folders. Whatever was at that path goes
    /// first: `bin/` holds links to the machine's own tools, and writing through one (a stub
    /// `date` or `sleep`) would replace the machine's program, not the sandbox's.
    pub fn file(&self, path: &str, text: &str) {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if path.symlink_metadata().is_ok() {
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    /// Makes a file of the sandbox executable.
    pub fn executable(&self, path: &str) {
        let path = self.dir.join(path);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A stub clock: `date` prints the seconds in `clock`, `sleep N` adds N to them (after a
    /// real pause of 10 ms, so that a loop does not spin).
    pub fn stub_clock(&self) {
        self.file("clock", "1000\n");
        // `${SANDBOX:?}`: a stub run outside its sandbox fails instead of writing to `/`.
        self.stub("date", r#"cat "${SANDBOX:?}/clock""#);
        self.stub(
            "sleep",
            r#"n=$(cat "${SANDBOX:?}/clock"); echo $((n + ${1%.*})) >"$SANDBOX/clock.new"
mv "$SANDBOX/clock.new" "$SANDBOX/clock"; /bin/sleep 0.01"#,
        );
    }

    /// The path of a file in the sandbox.
    pub fn path(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    /// The text of a file in the sandbox, empty if it does not exist.
    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join(path)).unwrap_or_default()
    }

    /// `<repo>/<script> <args>` with `PATH` = `bin/`, `HOME` = `home/` and `SANDBOX` set.
    pub fn run(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_program(&repo().join(script), args, env)
    }

    /// `<program> <args>` in the repository, with the sandbox's environment (as [`Self::run`]).
    pub fn run_program(&self, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        Command::new(program)
            .args(args)
            .current_dir(repo())
            .env_clear()
            .env("PATH", self.dir.join("bin"))
            .env("HOME", self.dir.join("home"))
            .env("SANDBOX", &self.dir)
            .envs(env.iter().copied())
            .output()
            .expect("the script runs")
            .into()
    }
}

/// A stand-in for Keycloak on a free port: every request gets 200 and `{}`, which is all
/// `scripts/keycloak start` asks of a Keycloak that already runs. Lives as long as the test
/// binary.
pub fn fake_keycloak() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            );
        }
    });
    port
}
