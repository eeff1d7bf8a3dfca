//! What the hardening tests share: the binaries as child processes (their announced facts,
//! signals, bounded waits), an HTTP client, raw sockets, and the mock's admin API.
//!
//! Child processes live in real time (no paused tokio clock reaches them), so every wait here
//! is bounded by the wall clock.

use std::{
    io::{BufRead as _, BufReader, Read as _},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

/// The wall clock: the children run on it.
#[allow(clippy::disallowed_methods)]
pub(crate) fn real_now() -> Instant {
    Instant::now()
}

/// Polls `done` every 50 ms for at most `within`; true once it held.
pub(crate) async fn eventually(within: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = real_now() + within;
    loop {
        if done().await {
            return true;
        }
        if real_now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process with its stdout lines (read as they come) and its stderr (read to the
/// end); killed and reaped when dropped.
pub(crate) struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub(crate) stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
}

impl Proc {
    /// Spawns `cmd` with its stdout and stderr piped (unless the caller set them).
    pub(crate) fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = child.stderr.take().map(|mut err| {
            let into = stderr.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    into.lock().unwrap().push_str(&text);
                }
            })
        });
        Proc {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
            stderr_reader,
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, waiting at most `within`.
    pub(crate) fn next_line(&mut self, within: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(within).ok()?;
        self.stdout.push(line.clone());
        Some(line)
    }

    /// What it wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends a signal (`"TERM"`, `"INT"`, ...).
    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{sig} {}", self.pid());
    }

    /// Waits at most `within` for it to exit; its stderr is read to the end then.
    pub(crate) fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = real_now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                // Whatever is left on stdout.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                    self.stdout.push(line);
                }
                return Some(status);
            }
            if real_now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `captchaai-mock` binary.
pub(crate) struct Mock {
    /// The process.
    pub(crate) proc: Proc,
    /// `http://ADDR` (or `https://`), as announced.
    pub(crate) url: String,
    /// The listening address, as announced.
    pub(crate) addr: SocketAddr,
    /// The first announced API key.
    pub(crate) key: String,
    /// The announced CA certificate (`--tls`).
    pub(crate) ca: Option<PathBuf>,
}

/// How a mock that was meant to start ended instead.
#[derive(Debug)]
pub(crate) struct Refused {
    /// Its exit status.
    pub(crate) status: ExitStatus,
    /// Its stderr.
    pub(crate) stderr: String,
}

/// The mock binary with `args`, its environment cleared of the mock's variables, logs at
/// `warn`, plus `env`.
pub(crate) fn mock_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(crate::bins::mock());
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("CAPTCHAAI_MOCK_BIND")
        .env_remove("CAPTCHAAI_MOCK_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

impl Mock {
    /// Starts the mock on a free loopback port with `args` and waits for its announcement.
    pub(crate) fn start(args: &[&str]) -> Mock {
        Mock::start_bound("127.0.0.1:0", args)
    }

    /// Starts the mock listening on `bind` with `args` and waits for its announcement.
    pub(crate) fn start_bound(bind: &str, args: &[&str]) -> Mock {
        let mut all = vec!["--bind", bind];
        all.extend_from_slice(args);
        Mock::spawn(mock_command(&all, &[])).unwrap_or_else(|r| {
            panic!(
                "captchaai-mock {all:?} exited: {:?}\n{}",
                r.status, r.stderr
            )
        })
    }

    /// Starts the mock with a configuration file holding `toml` (in `dir`) and `args`.
    pub(crate) fn with_config(dir: &Path, toml: &str, args: &[&str]) -> Mock {
        let path = dir.join("mock.toml");
        std::fs::write(&path, toml).expect("writing the config");
        let path = path.display().to_string();
        let mut all = vec!["--config", path.as_str()];
        all.extend_from_slice(args);
        Mock::start(&all)
    }

    /// Spawns `cmd` and waits at most 30 s for the announcement (up to the `seed:` line, and
    /// the CA line with `--tls`), or for the process to exit instead.
    pub(crate) fn spawn(mut cmd: Command) -> Result<Mock, Refused> {
        let tls = cmd.get_args().any(|a| a == "--tls");
        let mut proc = Proc::spawn(&mut cmd);
        let (mut url, mut key, mut ca, mut seed_line) = (None, None, None, false);
        let deadline = real_now() + Duration::from_secs(30);
        while url.is_none() || key.is_none() || !seed_line || (tls && ca.is_none()) {
            let left = deadline.saturating_duration_since(real_now());
            let Some(line) = proc.next_line(left.min(Duration::from_millis(200))) else {
                if let Some(status) = proc.wait(Duration::ZERO) {
                    return Err(Refused {
                        status,
                        stderr: proc.stderr(),
                    });
                }
                assert!(
                    real_now() < deadline,
                    "the mock did not announce itself within 30 s: {:?}\n{}",
                    proc.stdout,
                    proc.stderr()
                );
                continue;
            };
            if let Some(u) = line.strip_prefix("captchaai-mock listening on ") {
                url = Some(u.trim().to_owned());
            } else if let Some(k) = line.strip_prefix("API key: ") {
                key.get_or_insert_with(|| k.trim().to_owned());
            } else if line.starts_with("seed: ") {
                seed_line = true;
            } else if let Some(c) = line.strip_prefix("CA certificate: ") {
                ca = Some(PathBuf::from(c.trim()));
            }
        }
        let url = url.expect("announced");
        let addr = url
            .split_once("://")
            .and_then(|(_, a)| a.parse().ok())
            .unwrap_or_else(|| panic!("an address in {url}"));
        Ok(Mock {
            proc,
            url,
            addr,
            key: key.expect("announced"),
            ca,
        })
    }

    /// Runs the mock with `cmd` expecting it to refuse to start: its exit status and stderr.
    pub(crate) fn refused(cmd: Command) -> Refused {
        match Mock::spawn(cmd) {
            Ok(m) => panic!("the mock started on {} instead of refusing", m.url),
            Err(r) => r,
        }
    }

    /// `http://127.0.0.1:PORT`: the address a loopback client uses, whatever the mock bound.
    pub(crate) fn loopback_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// `GET /__admin/PATH` from loopback: the status and the JSON body.
    pub(crate) async fn admin(&self, path: &str) -> (u16, Value) {
        get_json(&format!("{}/__admin/{path}", self.loopback_url())).await
    }

    /// Submits a Turnstile task with this pingback URL from loopback; the answer.
    pub(crate) async fn submit_with_pingback(&self, pingback: &str) -> String {
        http()
            .get(format!("{}/in.php", self.loopback_url()))
            .query(&[
                ("key", self.key.as_str()),
                ("method", "turnstile"),
                ("sitekey", "0x4AAAAAAAC3DHQFLr1GavRN"),
                ("pageurl", "https://example.com"),
                ("pingback", pingback),
            ])
            .send()
            .await
            .expect("the mock answers")
            .text()
            .await
            .expect("a body")
    }

    /// A `res.php` or `in.php` call from loopback with `query`; the body.
    pub(crate) async fn api(&self, endpoint: &str, query: &str) -> String {
        let url = format!("{}/{endpoint}?{query}", self.loopback_url());
        http()
            .get(url)
            .send()
            .await
            .expect("the mock answers")
            .text()
            .await
            .expect("a body")
    }
}

/// An HTTP client for loopback (no proxy, 30 s timeout).
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// `GET url`: the status and the JSON body (`null` when it is not JSON).
pub(crate) async fn get_json(url: &str) -> (u16, Value) {
    let resp = http().get(url).send().await.expect("an answer");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A private temporary folder, removed when dropped.
pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("captchaai-e2e-hardening-")
        .tempdir()
        .expect("a temporary folder")
}

/// True while a process with this id exists and is not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) STATE ...`; the command may hold spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}
