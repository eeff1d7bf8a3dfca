//! The Redis the workspace's tests use.
//!
//! - [`TestRedis::get`]: the Redis `scripts/test.sh` started (its URL in
//!   `CAPTCHAAI_TEST_REDIS_URL`), or else a `redis-server` of the test's own. A test never
//!   skips because Redis is missing: without either, it fails and says to run
//!   `scripts/test.sh` or install `redis-server`.
//! - [`RedisServer`]: a `redis-server` process the test owns, on a free loopback port, that
//!   it can kill and start again on the same port (with persistence, for restart tests). It
//!   is killed when dropped.
//! - [`unique_prefix`]: a key prefix no other test of the run uses, so tests can share one
//!   Redis.
//!
//! Blocking on purpose (a few milliseconds at start): call it before the test's runtime
//! work, or from `spawn_blocking`.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The variable `scripts/test.sh` exports: the URL of the Redis it started.
pub const URL_VAR: &str = "CAPTCHAAI_TEST_REDIS_URL";

/// How long a started server has to answer `PING` (in steps of 10 ms).
const READY_STEPS: u32 = 1000;

/// A Redis for one test: shared (from [`URL_VAR`]) or owned.
#[derive(Debug)]
pub enum TestRedis {
    /// The URL of a Redis someone else runs.
    Shared(String),
    /// A server this test started.
    Owned(RedisServer),
}

impl TestRedis {
    /// The Redis of `scripts/test.sh`, or a new server of our own without persistence.
    ///
    /// # Panics
    ///
    /// When neither is available (with what to do about it).
    pub fn get() -> Self {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => TestRedis::Shared(url),
            _ => TestRedis::Owned(RedisServer::start(Persistence::Off)),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        match self {
            TestRedis::Shared(url) => url.clone(),
            TestRedis::Owned(server) => server.url(),
        }
    }
}

/// A key prefix unique in this run (process id and a counter).
pub fn unique_prefix(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("test:{}:{what}:{n}:", std::process::id())
}

/// Whether a [`RedisServer`] keeps its data across a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// `--save "" --appendonly no`: a restart loses everything.
    Off,
    /// `--appendonly yes --appendfsync always` in a private folder: every write is on disk
    /// before Redis answers it, so a killed server restarts with everything it
    /// acknowledged.
    Always,
}

/// A `redis-server` process on `127.0.0.1`, killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    persistence: Persistence,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed (saying how to get it) or does not start.
    pub fn start(persistence: Persistence) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("captchaai-test-redis-")
            .tempdir()
            .expect("a temporary folder for redis-server");
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            persistence,
            dir,
        };
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: no chance to save anything on the way out) and waits for
    /// it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and folder (after [`RedisServer::kill`])
    /// and waits until it answers.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--logfile", "redis.log", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match self.persistence {
            Persistence::Off => command.args(["--appendonly", "no"]),
            Persistence::Always => command.args(["--appendonly", "yes", "--appendfsync", "always"]),
        };
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: run the tests with scripts/test.sh (it installs \
                 it and starts one), or `apt-get install redis-server`, or set {URL_VAR} to a \
                 Redis the tests may write to"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        wait_until_ready(self.port, self.dir.path());
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("a bound address").port()
}

/// Waits until the server answers `PING` with `PONG` (not `LOADING`).
fn wait_until_ready(port: u16, dir: &Path) {
    for _ in 0..READY_STEPS {
        if ping(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    panic!("redis-server on port {port} did not answer PING within 10 s; its log:\n{log}");
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}
