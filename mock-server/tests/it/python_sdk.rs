//! The real peer: the official CaptchaAI Python SDK (`captchaai` 1.0.1 from
//! PyPI, unmodified) against the `captchaai-mock` binary.
//!
//! Three mocks run on free loopback ports: the main one (time scale 100,
//! 50 threads) where every SDK captcha type is solved; one where every task
//! is unsolvable; and one whose single thread stays busy for 3 s, so that a
//! second concurrent solve meets `ERROR_ZERO_BALANCE`, the SDK checks
//! `threadsinfo`, sleeps its 8-11 s and retries to success.
//! `tests/peers/captchaai_sdk_peer.py` drives the SDK and prints one JSON line
//! per case; this test checks each outcome against the mock's ground truth
//! (`GET /__admin/tasks/{id}`) and journal. The SDK sleeps real seconds, so
//! the run takes about 30 s.
//!
//! Needs `<repo>/.venv` with the SDK: run `scripts/setup-python-peer.sh`
//! (the test fails, never skips, when it is missing).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::support::child::{MockProcess, TempDir, run_bounded};
use serde_json::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const SDK_VERSION: &str = "1.0.1";

fn python() -> PathBuf {
    let root = Path::new(ROOT);
    let py = root.join(".venv/bin/python");
    let hint = "run scripts/setup-python-peer.sh from the repository root to install the \
                official CaptchaAI SDK into .venv";
    assert!(py.exists(), "{} is missing: {hint}", py.display());
    let check = format!(
        "import captchaai; from importlib.metadata import version; \
         v = version('captchaai'); assert v == '{SDK_VERSION}', v"
    );
    let (status, out, err) = run_bounded(
        Command::new(&py).args(["-c", &check]),
        Duration::from_secs(60),
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "`import captchaai` ({SDK_VERSION}) fails in {}: {hint}\n{out}{err}",
        py.display()
    );
    py
}

/// Where the SDK expects each type's answer, per its registry.
struct Expect {
    kind: &'static str,
    structured: bool,
    user_agent: bool,
    /// (HTTP method, encoding) of the submit, as the SDK's registry says.
    submit: (&'static str, &'static str),
}

fn expectations() -> BTreeMap<&'static str, Expect> {
    let e = |kind, structured, user_agent, submit| Expect {
        kind,
        structured,
        user_agent,
        submit,
    };
    let get = ("GET", "query");
    let post = ("POST", "form");
    BTreeMap::from([
        ("recaptcha_v2", e("recaptcha-v2", false, false, get)),
        (
            "recaptcha_v2_invisible",
            e("recaptcha-v2", false, false, get),
        ),
        (
            "recaptcha_v2_enterprise",
            e("recaptcha-v2-enterprise", false, true, post),
        ),
        ("recaptcha_v3", e("recaptcha-v3", false, false, get)),
        (
            "recaptcha_v3_enterprise",
            e("recaptcha-v3-enterprise", false, true, post),
        ),
        ("turnstile", e("turnstile", false, false, get)),
        ("normal", e("normal", false, false, post)),
        ("grid", e("grid", true, false, post)),
        ("bls", e("bls", true, false, post)),
        ("geetest", e("geetest", true, false, get)),
        ("lemin", e("lemin", true, false, get)),
        (
            "cloudflare_challenge",
            e("cloudflare-challenge", false, true, post),
        ),
        ("captchafox", e("captchafox", false, true, get)),
        ("friendly_captcha", e("friendly-captcha", false, false, get)),
    ])
}

async fn admin(http: &reqwest::Client, mock: &MockProcess, path: &str) -> Value {
    let resp = http
        .get(format!("{}/__admin{path}", mock.url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("admin {path}: {e}"));
    assert_eq!(resp.status().as_u16(), 200, "admin {path}");
    resp.json().await.expect("admin JSON")
}

fn entries(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a JSON array")
}

fn param<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["params"]
        .as_array()?
        .iter()
        .find(|p| p[0] == name)
        .and_then(|p| p[1].as_str())
}

/// Checks a solved case against the mock's ground truth; returns the task.
async fn check_solved(
    http: &reqwest::Client,
    mock: &MockProcess,
    case: &str,
    line: &Value,
    kind: &str,
    structured: bool,
    user_agent: bool,
) -> Value {
    assert_eq!(line["ok"], true, "{case} failed: {line}");
    let id = line["task_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: no task id: {line}"));
    let task = admin(http, mock, &format!("/tasks/{id}")).await;
    assert_eq!(
        task["kind"], kind,
        "{case}: the SDK's submit became another kind: {task}"
    );
    assert_eq!(task["state"], "solved", "{case}: {task}");
    let truth = task["outcome"]["solved"]["answer"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: no solved outcome: {task}"));
    assert_eq!(
        line["raw_text"], truth,
        "{case}: the SDK's raw answer is the ground truth"
    );
    let expected_solution = if structured {
        serde_json::from_str(truth).expect("a JSON answer")
    } else {
        Value::String(truth.to_owned())
    };
    assert_eq!(line["solution"], expected_solution, "{case}: solution");
    if user_agent {
        let ua = task["outcome"]["solved"]["user_agent"]
            .as_str()
            .expect("a UA");
        assert_eq!(line["user_agent"], ua, "{case}: user_agent");
    } else {
        assert!(line["user_agent"].is_null(), "{case}: {line}");
    }
    task
}

// Long on purpose: one session of the SDK (one Python process, its cases run in order)
// against the mocks it needs, then every case's checks; split up, each part would start
// the interpreter and the SDK again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdk_works_against_the_mock() {
    let python = python();
    let dir = TempDir::new("sdk");
    let main = MockProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--time-scale",
        "100",
        "--threads",
        "50",
        "--seed",
        "7",
    ]);
    let unsolvable = MockProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--time-scale",
        "100",
        "--unsolvable-rate",
        "1",
    ]);
    // One thread, held 300 simulated seconds (3 s real) by each task: the
    // second solve arrives while the first holds it, and the SDK's retry
    // 8-11 s later finds it free.
    let busy_cfg = dir.0.join("busy.toml");
    std::fs::write(
        &busy_cfg,
        format!(
            "time-scale = 100.0\n[[accounts]]\nkey = \"{}\"\nthreads = 1\n\
             [solving]\ndefault-time = {{ fixed = \"300s\" }}\n",
            captchaai_mock::DEFAULT_KEY
        ),
    )
    .unwrap();
    let busy_cfg_arg = busy_cfg.display().to_string();
    let busy = MockProcess::start(&["--bind", "127.0.0.1:0", "-c", &busy_cfg_arg]);

    let script = Path::new(ROOT).join("tests/peers/captchaai_sdk_peer.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .args(["--base", &main.url, "--key", &main.key])
        .args([
            "--unsolvable-base",
            &unsolvable.url,
            "--busy-base",
            &busy.url,
        ])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PYTHONUNBUFFERED", "1");
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    let started = crate::support::child::real_now();
    let (status, out, err) =
        tokio::task::spawn_blocking(move || run_bounded(&mut cmd, Duration::from_secs(240)))
            .await
            .unwrap();
    let took = started.elapsed();
    let report = format!("driver stdout:\n{out}\ndriver stderr:\n{err}");
    assert!(
        status.is_some(),
        "the SDK driver did not finish within 240 s\n{report}"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "driver failed: {status:?}\n{report}"
    );

    let mut lines: BTreeMap<String, Value> = BTreeMap::new();
    for l in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}\n{report}"));
        let case = v["case"].as_str().expect("a case name").to_owned();
        assert!(
            lines.insert(case.clone(), v).is_none(),
            "case {case} reported twice\n{report}"
        );
    }
    eprintln!("SDK driver finished in {took:?}");
    for (case, v) in &lines {
        eprintln!(
            "  {case}: ok={} elapsed={}s error={} task={}",
            v["ok"], v["elapsed"], v["error"], v["task_id"]
        );
    }

    let http = crate::support::http();
    let expect = expectations();
    let mut wanted: Vec<&str> = expect.keys().copied().collect();
    wanted.extend(["invalid_key", "unsolvable", "busy_first", "busy_second"]);
    let missing: Vec<&&str> = wanted.iter().filter(|c| !lines.contains_key(**c)).collect();
    assert!(missing.is_empty(), "cases missing: {missing:?}\n{report}");

    // Every SDK type, solved, with the mock's ground truth.
    let journal = admin(&http, &main, "/journal?endpoint=in.php").await;
    for (case, e) in &expect {
        let line = &lines[*case];
        let task = check_solved(&http, &main, case, line, e.kind, e.structured, e.user_agent).await;
        let id = task["id"].as_u64().unwrap();
        let submit = entries(&journal)
            .iter()
            .find(|j| j["task_id"] == id)
            .unwrap_or_else(|| panic!("{case}: no in.php journal entry"));
        assert_eq!(
            (
                submit["http_method"].as_str().unwrap(),
                submit["encoding"].as_str().unwrap()
            ),
            e.submit,
            "{case}: submit transport"
        );
        assert_eq!(
            param(submit, "json"),
            Some("1"),
            "{case}: the SDK always sends json=1"
        );
    }
    // The SDK's hints reached the mock: numeric=1, min_len=max_len=5.
    let normal = lines["normal"]["raw_text"].as_str().unwrap();
    assert!(
        normal.len() == 5 && normal.bytes().all(|b| b.is_ascii_digit()),
        "{normal}"
    );
    for case in ["grid", "bls"] {
        let cells = lines[case]["solution"].as_array().expect("a list of cells");
        assert!(
            !cells.is_empty()
                && cells
                    .iter()
                    .all(|c| (1..=9).contains(&c.as_u64().unwrap_or(0))),
            "{case}: {cells:?}"
        );
    }
    for (case, keys) in [
        ("geetest", &["challenge", "validate", "seccode"][..]),
        ("lemin", &["answer", "challenge_uuid"][..]),
    ] {
        for k in keys {
            assert!(
                lines[case]["solution"][k].is_string(),
                "{case}.{k}: {}",
                lines[case]
            );
        }
    }

    // An unknown key: InvalidKeyError from the constructor's threadsinfo.
    let bad = &lines["invalid_key"];
    assert_eq!(
        (bad["ok"].as_bool(), bad["error"].as_str()),
        (Some(true), Some("InvalidKeyError")),
        "{bad}"
    );
    let res = admin(&http, &main, "/journal?endpoint=res.php").await;
    assert!(
        entries(&res)
            .iter()
            .any(|j| j["action"] == "threadsinfo" && j["answer"] == "ERROR_KEY_DOES_NOT_EXIST"),
        "the mock told the SDK the key does not exist"
    );

    // Unsolvable: UnsolvableError after polling.
    let u = &lines["unsolvable"];
    assert_eq!(
        (u["ok"].as_bool(), u["error"].as_str()),
        (Some(true), Some("UnsolvableError")),
        "{u}"
    );
    let tasks = admin(&http, &unsolvable, "/tasks").await;
    assert_eq!(entries(&tasks).len(), 1, "{tasks}");
    assert_eq!(tasks[0]["state"], "failed");
    let polls = admin(&http, &unsolvable, "/journal?endpoint=res.php").await;
    assert!(
        entries(&polls)
            .iter()
            .any(|j| j["action"] == "get" && j["answer"] == "ERROR_CAPTCHA_UNSOLVABLE"),
        "{polls}"
    );

    // Busy threads: both solves succeed; the second met ERROR_ZERO_BALANCE,
    // the SDK looked at threadsinfo (all busy) and retried about 8-11 s later.
    for case in ["busy_first", "busy_second"] {
        check_solved(&http, &busy, case, &lines[case], "turnstile", false, false).await;
    }
    let submits = admin(&http, &busy, "/journal?endpoint=in.php").await;
    let answers: Vec<&str> = entries(&submits)
        .iter()
        .map(|j| j["answer"].as_str().unwrap())
        .collect();
    let rejected = entries(&submits)
        .iter()
        .find(|j| j["answer"] == "ERROR_ZERO_BALANCE")
        .unwrap_or_else(|| panic!("the second solve was never rejected: {answers:?}"));
    let accepted: Vec<&Value> = entries(&submits)
        .iter()
        .filter(|j| j["answer"].as_str().unwrap().starts_with("OK|"))
        .collect();
    assert_eq!(accepted.len(), 2, "{answers:?}");
    let retry = accepted[1];
    assert!(
        retry["seq"].as_u64() > rejected["seq"].as_u64(),
        "{answers:?}"
    );
    let waited_ms = retry["at_ms"].as_u64().unwrap() - rejected["at_ms"].as_u64().unwrap();
    // Simulated time at scale 100: 8-11 s real is 800-1100 s simulated
    // (generous bounds: loopback latency is not scaled).
    assert!(
        (700_000..=1_500_000).contains(&waited_ms),
        "retry after {waited_ms} simulated ms"
    );
    let res = admin(
        &http,
        &busy,
        &format!("/journal?endpoint=res.php&since={}", rejected["seq"]),
    )
    .await;
    let diagnosis = entries(&res)
        .iter()
        .find(|j| j["action"] == "threadsinfo")
        .expect("the SDK calls threadsinfo after ERROR_ZERO_BALANCE");
    let counts: Value = serde_json::from_str(diagnosis["answer"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            counts["threads"].as_u64(),
            counts["working_threads"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert!(took < Duration::from_secs(120), "the run took {took:?}");
}
