//! The binaries end to end, as separate processes on loopback: the `captchaai-mock` binary at
//! `--time-scale 100`, and the client's `batch` example (its own pingback receiver, pingback
//! with polling fallback, rate-limited fan-out) pointed at it through `CAPTCHAAI_BASE_URL` and
//! `CAPTCHAAI_KEY`. Every task must be printed exactly once with the mock's ground truth, read
//! back from the mock's admin API.
//!
//! Another process cannot share a paused clock, so this test runs in real time (a few
//! seconds) with bounded timeouts, and kills its children when dropped.
//!
//! The binaries are not built by `cargo test -p captchaai-e2e`: [`crate::bins`] finds them.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// How many tasks the example solves (its default; one of each of its six methods).
const TASKS: usize = 6;

/// The running mock binary; killed when dropped.
struct MockProcess {
    _child: Child,
    url: String,
    key: String,
}

impl MockProcess {
    async fn start() -> MockProcess {
        let mut child = Command::new(crate::bins::mock())
            .args([
                "--bind",
                "127.0.0.1:0",
                "--time-scale",
                "100",
                "--seed",
                "11",
            ])
            .env("RUST_LOG", "warn")
            .env_remove("CAPTCHAAI_MOCK_BIND")
            .env_remove("CAPTCHAAI_MOCK_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning captchaai-mock");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let announced = async {
            let (mut url, mut key) = (None, None);
            while let Some(line) = lines.next_line().await.expect("reading the mock's stdout") {
                if let Some(u) = line.strip_prefix("captchaai-mock listening on ") {
                    url = Some(u.trim().to_owned());
                } else if let Some(k) = line.strip_prefix("API key: ") {
                    key.get_or_insert_with(|| k.trim().to_owned());
                }
                if line.starts_with("seed: ") {
                    break;
                }
            }
            (url, key)
        };
        let (url, key) = tokio::time::timeout(Duration::from_secs(30), announced)
            .await
            .expect("the mock announced itself within 30 s");
        // Keep draining stdout so the mock never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        MockProcess {
            _child: child,
            url: url.expect("the mock printed its address"),
            key: key.expect("the mock printed its key"),
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn admin_get(mock: &MockProcess, path: &str) -> Value {
    let response = http()
        .get(format!("{}/__admin/{path}", mock.url))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "GET {path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// The example prints long text answers shortened to 48 characters.
fn shorten(text: &str) -> String {
    if text.chars().count() > 48 {
        let head: String = text.chars().take(48).collect();
        format!("{head}... ({} chars)", text.len())
    } else {
        text.to_owned()
    }
}

/// One `task #I (KIND) id ID: ANSWER` line of the example.
#[derive(Debug)]
struct Printed {
    index: usize,
    kind: String,
    id: u64,
    answer: String,
}

fn parse_line(line: &str) -> Option<Printed> {
    let rest = line.strip_prefix("task #")?;
    let (index, rest) = rest.split_once(" (")?;
    let (kind, rest) = rest.split_once(") id ")?;
    let (id, answer) = rest.split_once(": ")?;
    Some(Printed {
        index: index.parse().ok()?,
        kind: kind.to_owned(),
        id: id.parse().ok()?,
        answer: answer.to_owned(),
    })
}

#[tokio::test]
async fn the_batch_example_solves_every_task_once_against_the_mock_binary() {
    let mock = MockProcess::start().await;
    // Every pingback comes twice: the example's receiver must absorb the copies.
    let rules = json!([{ "fault": { "duplicate": { "copies": 1, "spacing": "1s" } } }]);
    let put = http()
        .put(format!("{}/__admin/pingback/rules", mock.url))
        .json(&rules)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());

    let run = Command::new(crate::bins::batch_example())
        .env("CAPTCHAAI_BASE_URL", &mock.url)
        .env("CAPTCHAAI_KEY", &mock.key)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the example finished within 60 s")
        .expect("running the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the example failed ({}):\n{stdout}\n{stderr}",
        output.status
    );

    // Exactly one line per task, each a different task id.
    let printed: Vec<Printed> = stdout.lines().filter_map(parse_line).collect();
    let mut by_index: BTreeMap<usize, &Printed> = BTreeMap::new();
    for p in &printed {
        assert!(
            by_index.insert(p.index, p).is_none(),
            "task #{} printed twice:\n{stdout}",
            p.index
        );
    }
    assert_eq!(
        by_index.keys().copied().collect::<Vec<_>>(),
        (0..TASKS).collect::<Vec<_>>(),
        "one result per task:\n{stdout}"
    );
    let mut ids: Vec<u64> = printed.iter().map(|p| p.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), TASKS, "{stdout}");

    // Each answer is the mock's ground truth for that task.
    for p in &printed {
        let task = admin_get(&mock, &format!("tasks/{}", p.id)).await;
        assert_eq!(
            task["kind"].as_str().map(|k| k.replace('-', "_")),
            Some(p.kind.clone()),
            "{task}"
        );
        let truth = task["outcome"]["solved"]["answer"]
            .as_str()
            .unwrap_or_else(|| panic!("task {} was not solved: {task}", p.id));
        match serde_json::from_str::<Value>(truth) {
            Ok(object @ Value::Object(_)) => {
                let got: Value = serde_json::from_str(&p.answer).expect("an object answer");
                assert_eq!(got, object, "task #{}", p.index);
            }
            _ => assert_eq!(p.answer, shorten(truth), "task #{}", p.index),
        }
        // The genuine pingback reached the example's receiver.
        let attempts = admin_get(&mock, &format!("pingbacks?task={}", p.id)).await;
        let genuine_ok = attempts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "genuine" && a["outcome"]["result"] == "delivered");
        assert!(genuine_ok, "task {}: {attempts}", p.id);
    }

    let summary = stdout
        .lines()
        .find(|l| l.starts_with("store: "))
        .unwrap_or_else(|| panic!("no store summary:\n{stdout}"));
    assert!(
        summary.starts_with(&format!("store: {TASKS} stored, ")),
        "{summary}"
    );
    assert!(summary.ends_with(", 0 conflicts, 0 rejected"), "{summary}");
}
