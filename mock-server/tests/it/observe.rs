//! What the `captchaai-mock` binary shows of its work: the request log on stderr and the
//! metrics at `/__admin/metrics`. One process per test: `tracing`'s call-site cache and the
//! metrics recorder are per process.

use std::time::Duration;

use captchaai_mock::{DEFAULT_KEY, testing::PingbackRecorder};

use crate::{
    binary::signal,
    support::child::{MockProcess, Stderr, TempDir},
};

/// The value of `name=` in a log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
}

/// Every API request is one info line on stderr: method, endpoint, action, task id, the
/// answer's code (never the answer) and a rounded latency; stderr is a pipe, so no colour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_request_is_one_plain_log_line() {
    let mut p = MockProcess::start_with(
        &["--bind", "127.0.0.1:0", "--time-scale", "1000"],
        Stderr::Read("info"),
    );
    let http = crate::support::http();
    let a = crate::support::send(http.post(format!("{}/in.php", p.url)).form(&[
        ("key", DEFAULT_KEY),
        ("method", "turnstile"),
        ("sitekey", "0x4AAAAAAA"),
        ("pageurl", "https://example.com"),
    ]))
    .await;
    let id = a.body.strip_prefix("OK|").expect("submitted").to_owned();
    let mut polls = 0;
    let answer = loop {
        polls += 1;
        let a = crate::support::send(http.get(format!("{}/res.php", p.url)).query(&[
            ("key", DEFAULT_KEY),
            ("action", "get"),
            ("id", &id),
        ]))
        .await;
        if a.body != "CAPCHA_NOT_READY" || polls == 200 {
            break a.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        answer.starts_with("OK|"),
        "solved within 200 polls: {answer}"
    );
    let bad = crate::support::send(
        http.get(format!("{}/res.php", p.url))
            .query(&[("key", "not-a-key"), ("action", "getbalance")]),
    )
    .await;
    assert_eq!(bad.body, "ERROR_WRONG_USER_KEY");
    signal(&p, "-TERM");
    let status = p.wait_timeout(Duration::from_secs(15));
    let logs = p.take_stderr();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{logs}");

    assert!(
        !logs.contains('\u{1b}'),
        "no ANSI escapes on a pipe:\n{logs}"
    );
    let requests: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("INFO captchaai_mock::api: request "))
        .collect();
    assert_eq!(requests.len(), polls + 2, "one line per request:\n{logs}");
    let submit = requests[0];
    for (name, value) in [
        ("method", "POST"),
        ("endpoint", "in.php"),
        ("action", "turnstile"),
        ("task", id.as_str()),
        ("code", "OK"),
    ] {
        assert_eq!(field(submit, name), Some(value), "{name} in {submit}");
    }
    let solved = requests[polls];
    assert_eq!(
        [
            field(solved, "endpoint"),
            field(solved, "action"),
            field(solved, "task"),
            field(solved, "code")
        ],
        [Some("res.php"), Some("get"), Some(id.as_str()), Some("OK")],
        "{solved}"
    );
    assert!(
        !solved.contains(&answer[3..]),
        "the answer stays out of the log: {solved}"
    );
    if polls > 1 {
        assert_eq!(
            field(requests[1], "code"),
            Some("CAPCHA_NOT_READY"),
            "{}",
            requests[1]
        );
    }
    let refused = requests[polls + 1];
    assert_eq!(
        [
            field(refused, "action"),
            field(refused, "task"),
            field(refused, "code")
        ],
        [Some("getbalance"), Some("-"), Some("ERROR_WRONG_USER_KEY")],
        "{refused}"
    );
    for line in &requests {
        let latency = field(line, "latency").unwrap_or_else(|| panic!("latency in {line}"));
        let number = ["µs", "ms", "s"]
            .iter()
            .find_map(|unit| latency.strip_suffix(unit))
            .unwrap_or_else(|| panic!("a unit in {latency}"));
        let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(
            number.parse::<f64>().is_ok() && decimals <= 1,
            "rounded: {latency} in {line}"
        );
    }
}

/// The value of one sample (`name{labels} value`) in a Prometheus text exposition.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// `/__admin/metrics` of a real binary: requests by endpoint, action and code, tasks by
/// state, pingback attempts by outcome and fault, latency histograms; behind the admin guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_tasks_and_pingbacks() {
    let rx = PingbackRecorder::start().await.unwrap();
    // A long attempt timeout: at this time scale the default 10 s is 10 ms of real time.
    let dir = TempDir::new("metrics");
    let config = dir.0.join("mock.toml");
    std::fs::write(&config, "[pingback]\nattempt-timeout = \"10m\"\n").unwrap();
    let config = config.display().to_string();
    let p = MockProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--time-scale",
        "1000",
        "--admin-token",
        "metrics-token",
        "--config",
        &config,
    ]);
    let http = crate::support::http();
    let metrics_url = format!("{}/__admin/metrics", p.url);
    let refused = crate::support::send(http.get(&metrics_url)).await;
    assert_eq!(refused.status, 401, "the admin guard: {}", refused.body);

    let a = crate::support::send(http.get(format!("{}/in.php", p.url)).query(&[
        ("key", DEFAULT_KEY),
        ("method", "turnstile"),
        ("sitekey", "0x4AAAAAAA"),
        ("pageurl", "https://example.com"),
        ("pingback", &rx.url("/hook")),
    ]))
    .await;
    assert!(a.body.starts_with("OK|"), "{}", a.body);
    for action in ["getbalance", "no-such-action-7f3a"] {
        let a = crate::support::send(
            http.get(format!("{}/res.php", p.url))
                .query(&[("key", DEFAULT_KEY), ("action", action)]),
        )
        .await;
        assert_eq!(a.status, 200);
    }
    rx.wait_for(1, Duration::from_secs(20))
        .await
        .expect("the pingback");

    // The attempt is counted once its answer is read: poll, bounded.
    let deadline = crate::support::child::real_now() + Duration::from_secs(20);
    let (content_type, text) = loop {
        let resp = http
            .get(&metrics_url)
            .bearer_auth("metrics-token")
            .send()
            .await
            .expect("metrics answer");
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.expect("a body");
        let delivered =
            r#"captchaai_mock_pingback_attempts_total{outcome="delivered",fault="none"}"#;
        if sample(&text, delivered).is_some() || crate::support::child::real_now() > deadline {
            break (ct, text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    for (series, value) in [
        (
            r#"captchaai_mock_requests_total{endpoint="in.php",action="turnstile",code="OK"}"#,
            1.0,
        ),
        (
            r#"captchaai_mock_requests_total{endpoint="res.php",action="getbalance",code="OK"}"#,
            1.0,
        ),
        // An action the mock does not know is `other`: a label's values stay few.
        (
            r#"captchaai_mock_requests_total{endpoint="res.php",action="other",code="ERROR_EMPTY_ACTION"}"#,
            1.0,
        ),
        (
            r#"captchaai_mock_request_duration_seconds_count{endpoint="res.php"}"#,
            2.0,
        ),
        (r#"captchaai_mock_tasks{state="solved"}"#, 1.0),
        (r#"captchaai_mock_tasks{state="pending"}"#, 0.0),
        (
            r#"captchaai_mock_pingback_attempts_total{outcome="delivered",fault="none"}"#,
            1.0,
        ),
        (
            r#"captchaai_mock_pingback_duration_seconds_count{outcome="delivered"}"#,
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(!text.contains("no-such-action"), "{text}");
    assert!(
        text.contains("# TYPE captchaai_mock_request_duration_seconds histogram"),
        "{text}"
    );
}
