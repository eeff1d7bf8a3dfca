//! The `captchaai-mock` binary as users run it: it announces where it listens
//! and its key on stdout, rejects a bad config file with exit code 2 and the
//! position of the problem, serves HTTPS with a CA whose path it prints, and
//! exits 0 on Ctrl-C or SIGTERM. Every child is bounded by timeouts and killed
//! when its guard drops.

use std::{process::Command, time::Duration};

use captchaai_mock::{DEFAULT_KEY, testing::PingbackRecorder};

use crate::support::child::{BIN, MockProcess, Stderr, TempDir, run_bounded};

const OTHER_KEY: &str = "second-key-of-the-binary-test-01";

#[tokio::test]
async fn announces_its_address_and_keys_and_serves() {
    let p = MockProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--seed",
        "5",
        "--key",
        OTHER_KEY,
        "--time-scale",
        "20",
        "--workers",
        "3",
    ]);
    let port: u16 = p
        .url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected address {:?}", p.url));
    assert_ne!(port, 0, "the real port is printed, not 0");
    assert_eq!(p.key, DEFAULT_KEY);
    assert!(
        p.stdout
            .iter()
            .any(|l| l == &format!("API key: {OTHER_KEY}")),
        "{:?}",
        p.stdout
    );
    assert!(
        p.stdout
            .iter()
            .any(|l| l == "seed: 5  time scale: 20  dialect: captchaai  workers: 3"),
        "{:?}",
        p.stdout
    );
    let http = crate::support::http();
    for key in [DEFAULT_KEY, OTHER_KEY] {
        let a = crate::support::send(
            http.get(format!("{}/res.php", p.url))
                .query(&[("key", key), ("action", "getbalance")]),
        )
        .await;
        assert_eq!((a.status, a.body.as_str()), (200, "10"));
    }
    let h = crate::support::send(http.get(format!("{}/__admin/health", p.url))).await;
    let h: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(
        (h["seed"].as_u64(), h["time_scale"].as_f64()),
        (Some(5), Some(20.0))
    );
}

#[test]
fn an_invalid_config_file_exits_2_with_its_position() {
    let dir = TempDir::new("badcfg");
    let path = dir.0.join("mock.toml");
    std::fs::write(&path, "seed = 4\n\nsede = 4\n").unwrap();
    let (status, out, err) = run_bounded(
        Command::new(BIN)
            .args(["--bind", "127.0.0.1:0", "--config"])
            .arg(&path),
        Duration::from_secs(20),
    );
    let status = status.expect("exits by itself");
    assert_eq!(status.code(), Some(2), "stdout: {out}\nstderr: {err}");
    let shown = path.display().to_string();
    for needle in [shown.as_str(), "line 3", "column 1", "sede"] {
        assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    }
    assert!(!out.contains("listening"), "it must not start: {out}");

    // A value out of range: named by its path.
    std::fs::write(&path, "time-scale = -1.0\n").unwrap();
    let (status, _, err) = run_bounded(
        Command::new(BIN)
            .args(["--bind", "127.0.0.1:0", "-c"])
            .arg(&path),
        Duration::from_secs(20),
    );
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
    assert!(err.contains("time-scale") && err.contains(&shown), "{err}");

    // A type error deep inside: line and column again.
    std::fs::write(&path, "[solving]\nunsolvable-rate = \"high\"\n").unwrap();
    let (status, _, err) = run_bounded(
        Command::new(BIN)
            .args(["--bind", "127.0.0.1:0", "-c"])
            .arg(&path),
        Duration::from_secs(20),
    );
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
    assert!(err.contains("line 2") && err.contains("column"), "{err}");

    // A missing file and a bad flag are usage errors too.
    let (status, _, err) = run_bounded(
        Command::new(BIN)
            .args(["-c"])
            .arg(dir.0.join("missing.toml")),
        Duration::from_secs(20),
    );
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
    assert!(err.contains("missing.toml"), "{err}");
    let (status, _, err) = run_bounded(
        Command::new(BIN).arg("--no-such-flag"),
        Duration::from_secs(20),
    );
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");

    // A pingback source address that is not one of this machine's (TEST-NET-1).
    let (status, out, err) = run_bounded(
        Command::new(BIN).args(["--bind", "127.0.0.1:0", "--pingback-source", "192.0.2.1"]),
        Duration::from_secs(20),
    );
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{err}");
    assert!(
        err.contains("pingback.source-address: 192.0.2.1 is not an address of this machine"),
        "{err}"
    );
    assert!(!out.contains("listening"), "it must not start: {out}");
}

#[tokio::test]
async fn tls_serves_https_trusted_through_the_printed_ca() {
    let dir = TempDir::new("tls");
    let dir_arg = dir.0.display().to_string();
    let p = MockProcess::start(&["--bind", "127.0.0.1:0", "--tls", "--tls-dir", &dir_arg]);
    assert!(p.url.starts_with("https://127.0.0.1:"), "{}", p.url);
    let ca = p.ca.clone().expect("the CA path is printed");
    assert!(
        ca.starts_with(&dir.0),
        "CA written to --tls-dir: {}",
        ca.display()
    );
    let pem = std::fs::read(&ca).expect("the CA file exists");
    let cert = reqwest::Certificate::from_pem(&pem).expect("a PEM certificate");
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .tls_certs_only([cert])
        .build()
        .unwrap();
    let url = format!("{}/res.php", p.url);
    let q = [
        ("key", DEFAULT_KEY),
        ("action", "getbalance"),
        ("json", "1"),
    ];
    let a = crate::support::send(trusting.get(&url).query(&q)).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, r#"{"status":1,"request":"10"}"#)
    );

    // Without the CA the certificate is not trusted: the trust really comes
    // from the printed file.
    let err = crate::support::http()
        .get(&url)
        .query(&q)
        .send()
        .await
        .expect_err("an untrusted certificate must be refused");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}

pub(crate) fn signal(p: &MockProcess, sig: &str) {
    let (status, _, err) = run_bounded(
        Command::new("kill").args([sig, &p.pid().to_string()]),
        Duration::from_secs(10),
    );
    assert!(status.is_some_and(|s| s.success()), "kill {sig}: {err}");
}

async fn graceful_exit(args: &[&str], sig: &str) {
    let mut p = MockProcess::start(args);
    // Serve one request first so the server is really up.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let balance =
        crate::support::res_php(&http, &p.url, DEFAULT_KEY, &[("action", "getbalance")]).await;
    assert_eq!(balance, "10");
    // The wait below blocks this thread; the client's connection tasks run on
    // the other worker (multi-thread runtime), so an idle HTTP/2 connection
    // still answers the server's GOAWAY instead of holding the TLS shutdown
    // to its 5 s grace period.
    signal(&p, sig);
    let started = crate::support::child::real_now();
    let status = p
        .wait_timeout(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit within 15 s after {sig}"));
    drop(http);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "graceful shutdown took {:?}",
        started.elapsed()
    );
    let err = p.take_stderr();
    assert_eq!(
        status.code(),
        Some(0),
        "{sig} {args:?}: {status:?}\nstderr: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0() {
    graceful_exit(&["--bind", "127.0.0.1:0"], "-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_exits_0() {
    graceful_exit(&["--bind", "127.0.0.1:0"], "-INT").await;
}

/// A script may stop the mock the moment it has read the address: the signal handlers must be
/// in place by then (once, `ctrl_c()` registered only when first polled, and an early SIGINT
/// killed the process in about one start in seven).
#[test]
fn a_signal_right_after_the_announcement_exits_0() {
    for sig in ["-INT", "-TERM"] {
        for run in 0..15 {
            let mut p = MockProcess::start(&["--bind", "127.0.0.1:0"]);
            signal(&p, sig);
            let status = p
                .wait_timeout(Duration::from_secs(15))
                .unwrap_or_else(|| panic!("no exit within 15 s after {sig}"));
            assert_eq!(
                status.code(),
                Some(0),
                "run {run}, {sig}: {status:?}\nstderr: {}",
                p.take_stderr()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_with_tls() {
    let dir = TempDir::new("tls-term");
    let dir_arg = dir.0.display().to_string();
    graceful_exit(
        &["--bind", "127.0.0.1:0", "--tls", "--tls-dir", &dir_arg],
        "-TERM",
    )
    .await;
}

/// Polls the binary's outbound journal (`/__admin/pingbacks`) until `done`, for at most
/// 20 s of real time.
async fn wait_for_attempts(
    http: &reqwest::Client,
    p: &MockProcess,
    what: &str,
    done: impl Fn(&[serde_json::Value]) -> bool,
) {
    let deadline = crate::support::child::real_now() + Duration::from_secs(20);
    loop {
        let j = crate::support::send(http.get(format!("{}/__admin/pingbacks", p.url))).await;
        let j: serde_json::Value = serde_json::from_str(&j.body).unwrap();
        if done(j.as_array().map_or(&[], Vec::as_slice)) {
            return;
        }
        assert!(
            crate::support::child::real_now() < deadline,
            "not {what} within 20 s: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A stderr whose reader is gone (`captchaai-mock 2>&1 | head -3`, a supervisor that
/// closed the pipe) fails every log write: pingbacks are still sent and journalled, and
/// SIGTERM still shuts the mock down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stderr_stops_neither_pingbacks_nor_shutdown() {
    let mut p = MockProcess::start_with(
        &["--bind", "127.0.0.1:0", "--time-scale", "1000"],
        Stderr::Closed,
    );
    let http = crate::support::http();
    let submit = |n: u32| {
        http.get(format!("{}/in.php", p.url)).query(&[
            ("key", DEFAULT_KEY),
            ("method", "turnstile"),
            ("sitekey", "0x4AAAAAAA"),
            ("pageurl", "https://example.com"),
            // Nothing listens there: every attempt is refused, journalled and logged.
            ("pingback", &format!("http://127.0.0.1:9/hook{n}")),
        ])
    };
    for n in 0..5 {
        let a = crate::support::send(submit(n)).await;
        assert!(a.body.starts_with("OK|"), "{}", a.body);
    }
    wait_for_attempts(&http, &p, "five attempts journalled", |a| a.len() >= 5).await;
    signal(&p, "-TERM");
    let status = p
        .wait_timeout(Duration::from_secs(15))
        .expect("an exit within 15 s of SIGTERM");
    assert_eq!(status.code(), Some(0));
}

/// The binary logs to stderr what the outbound journal records: a delivery shed from a full
/// queue as a warning that says what to change, and every attempt with its URL, fault,
/// attempt number and latency. (Logs are checked here, one process per mock: `tracing`'s
/// call-site cache is per process, and tests sharing one cannot capture reliably.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shed_deliveries_and_attempts_are_logged() {
    // The receiver never answers: attempts time out after 60 simulated seconds.
    let rx = PingbackRecorder::builder().hang().start().await.unwrap();
    let dir = TempDir::new("logs");
    let config = dir.0.join("mock.toml");
    std::fs::write(
        &config,
        "[solving]\ndefault-time = { fixed = \"5s\" }\n\
         [pingback]\nqueue-capacity = 3\nmax-in-flight-per-host = 2\nattempt-timeout = \"60s\"\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let mut p = MockProcess::start_with(
        &[
            "--bind",
            "127.0.0.1:0",
            "--time-scale",
            "100",
            "--config",
            &config,
        ],
        Stderr::Read("info"),
    );
    let http = crate::support::http();
    let mut ids = Vec::new();
    for _ in 0..10 {
        let a = crate::support::send(http.get(format!("{}/in.php", p.url)).query(&[
            ("key", DEFAULT_KEY),
            ("method", "turnstile"),
            ("sitekey", "0x4AAAAAAA"),
            ("pageurl", "https://example.com"),
            ("pingback", &rx.url("/hook")),
        ]))
        .await;
        ids.push(a.body.strip_prefix("OK|").expect("submitted").to_owned());
    }
    // All ten finish at 5 s: three are taken, seven shed; the first attempts time out at
    // 65 s (0.65 s of real time at this scale).
    wait_for_attempts(&http, &p, "two attempts timed out", |a| {
        a.iter()
            .filter(|e| e["outcome"]["result"] == "timeout")
            .count()
            >= 2
    })
    .await;
    signal(&p, "-TERM");
    let status = p.wait_timeout(Duration::from_secs(15));
    let logs = p.take_stderr();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{logs}");

    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("pingback queue full: shedding"))
        .collect();
    assert_eq!(warnings.len(), 7, "{logs}");
    assert!(warnings[0].contains(&format!("task {}", ids[3])), "{logs}");
    assert!(
        warnings[0].contains("queue-capacity"),
        "says what to change"
    );
    let attempt = logs
        .lines()
        .find(|l| l.contains("pingback attempt") && l.contains("outcome=timeout"))
        .unwrap_or_else(|| panic!("attempts are logged: {logs}"));
    // The log line says what the journal says: where, which fault, how long.
    for field in [
        "url=http://127.0.0.1:",
        "/hook",
        "fault=",
        "latency_ms=",
        "attempt=1",
    ] {
        assert!(attempt.contains(field), "{field} in {attempt}");
    }
}
