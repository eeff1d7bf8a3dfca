//! The `captchaai-mock` binary as a child process: started on a free loopback
//! port, its announced facts parsed from stdout, killed when dropped.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// The wall clock. Child processes live in real time (no paused tokio clock
/// can reach them), so their deadlines are measured with `std::time`.
#[allow(clippy::disallowed_methods)]
pub(crate) fn real_now() -> Instant {
    Instant::now()
}

/// Path of the binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_captchaai-mock");

/// What the binary's stderr is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stderr {
    /// A pipe read to the end ([`MockProcess::take_stderr`]); logs at this level.
    Read(&'static str),
    /// A pipe whose reading end is already closed (every log write fails); logs at `info`.
    Closed,
}

/// A running mock binary. Killed (and reaped) on drop.
pub(crate) struct MockProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` (or `https://`).
    pub(crate) url: String,
    /// The first `API key:` line.
    pub(crate) key: String,
    /// The `CA certificate:` path with `--tls`.
    pub(crate) ca: Option<PathBuf>,
    /// Every stdout line read so far.
    pub(crate) stdout: Vec<String>,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl MockProcess {
    /// Starts the binary with `args` (add `--bind 127.0.0.1:0` yourself) and
    /// waits at most 30 s for it to announce its address and key.
    pub(crate) fn start(args: &[&str]) -> MockProcess {
        MockProcess::start_with(args, Stderr::Read("warn"))
    }

    /// As [`MockProcess::start`], with its stderr (and log level) as given.
    pub(crate) fn start_with(args: &[&str], stderr: Stderr) -> MockProcess {
        let (stderr_to, level) = match stderr {
            Stderr::Closed => {
                let (reader, writer) = std::io::pipe().expect("a pipe");
                drop(reader);
                (Stdio::from(writer), "info")
            }
            Stderr::Read(level) => (Stdio::piped(), level),
        };
        let mut child = Command::new(BIN)
            .args(args)
            .env("RUST_LOG", level)
            // Plain log lines because stderr is a pipe, not because of `NO_COLOR`.
            .env_remove("NO_COLOR")
            .env_remove("CAPTCHAAI_MOCK_BIND")
            .env_remove("CAPTCHAAI_MOCK_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_to)
            .spawn()
            .expect("spawning captchaai-mock");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().map(|mut err| {
            thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                s
            })
        });
        let mut p = MockProcess {
            child: Some(child),
            url: String::new(),
            key: String::new(),
            ca: None,
            stdout: Vec::new(),
            lines,
            stderr,
        };
        let tls = args.contains(&"--tls");
        let deadline = real_now() + Duration::from_secs(30);
        // The announcement ends with the `seed:` line (then the CA with --tls).
        let mut announced = false;
        while p.url.is_empty() || p.key.is_empty() || !announced || (tls && p.ca.is_none()) {
            let left = deadline.saturating_duration_since(real_now());
            match p.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("captchaai-mock listening on ") {
                        p.url = u.trim().to_owned();
                    } else if let Some(k) = line.strip_prefix("API key: ") {
                        if p.key.is_empty() {
                            p.key = k.trim().to_owned();
                        }
                    } else if line.starts_with("seed: ") {
                        announced = true;
                    } else if let Some(c) = line.strip_prefix("CA certificate: ") {
                        p.ca = Some(PathBuf::from(c.trim()));
                    }
                    p.stdout.push(line);
                }
                Err(_) => {
                    let stdout = p.stdout.join("\n");
                    let status = p.kill();
                    let stderr = p.take_stderr();
                    panic!(
                        "captchaai-mock {args:?} did not announce itself within 30 s \
                         (exit: {status:?})\nstdout:\n{stdout}\nstderr:\n{stderr}"
                    );
                }
            }
        }
        p
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits at most `limit` for the process to exit by itself.
    pub(crate) fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = real_now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if real_now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (if still running) and reaps it.
    pub(crate) fn kill(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// Everything the process wrote to stderr (call after it exited).
    pub(crate) fn take_stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a command to completion, killing it after `limit`. Returns the exit
/// status (`None` on timeout), stdout and stderr.
pub(crate) fn run_bounded(
    cmd: &mut Command,
    limit: Duration,
) -> (Option<ExitStatus>, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = real_now() + limit;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if real_now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    (
        status,
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default(),
    )
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "captchaai-mock-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
