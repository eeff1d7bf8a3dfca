//! What the `captchaai-mock` binary shows of its work: the request log on stderr and the
//! metrics at `/__admin/metrics`. One process per test: `tracing`'s call-site cache and the
//! metrics recorder are per process.

use std::time::Duration;

use captchaai_mock::DEFAULT_KEY;

use crate::{
    binary::signal,
    support::child::{MockProcess, Stderr},
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
