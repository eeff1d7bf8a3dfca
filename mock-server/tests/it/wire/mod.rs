//! The exact wire answers of `in.php`, `res.php` and `solve.php`: every SDK method's submit
//! and solved `get`, every error the mock can produce, and every `res.php` action, against a
//! real [`MockServer`] on 127.0.0.1.
//!
//! The cases are data, in `cases.toml` (its header says how to read and change it); this
//! file is their driver. Each step is sent in all four encodings real clients use (GET
//! query, urlencoded POST, multipart POST, JSON POST) and in both response formats
//! (`json=0`, `json=1`); the driver asserts that the encodings get byte-identical answers
//! (status, content type, CORS header, body) and HTTP 200, then snapshots one rendering per
//! format. `cases` reads the file; two properties that are no transcript (files as
//! multipart parts; CORS preflight and JSON array ids) are tests of their own, in
//! `properties`.

mod cases;
mod properties;

use std::fmt::Write as _;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer};

use self::cases::{Action, CASES, Raw, SdkMethod, Setup, Step, files, params, value};
use crate::support::{self, Answer, Encoding, FilePart};

const K: &str = DEFAULT_KEY;
const FIRST: &str = "74000000001";

/// The n-th task's id since the last reset.
fn nth(n: u64) -> u64 {
    74_000_000_000 + n
}

/// One mock and a client for it.
struct Env {
    mock: MockServer,
    http: reqwest::Client,
    label: String,
}

impl Env {
    async fn new(label: &str, toml: &str) -> Env {
        let cfg = Config::from_toml(toml).expect("valid test config");
        Env {
            mock: MockServer::start_with(cfg).await.expect("mock starts"),
            http: support::http(),
            label: label.to_owned(),
        }
    }

    async fn named(name: &str) -> Env {
        let spec = CASES
            .mocks
            .get(name)
            .unwrap_or_else(|| panic!("no mock {name}"));
        Env::new(&spec.label, &spec.config).await
    }

    async fn main() -> Env {
        Env::named("main").await
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.mock.uri())
    }

    /// Submits (urlencoded POST, plain text) and returns the new task id.
    async fn submit(&self, params: &[(&str, &str)]) -> u64 {
        self.submit_owned(&support::pairs(params)).await
    }

    async fn submit_owned(&self, params: &[(String, String)]) -> u64 {
        let mut p = vec![("key".to_owned(), K.to_owned())];
        p.extend_from_slice(params);
        let a = support::send(self.http.post(self.url("in.php")).form(&p)).await;
        submitted(&a, params)
    }

    /// Sends a setup request to res.php (json=0) and returns the body.
    async fn res(&self, params: &[(&str, &str)]) -> String {
        support::res_php(&self.http, &self.mock.uri(), K, params).await
    }

    fn solve(&self, id: u64) {
        self.mock.force_solve(id, None).expect("task exists");
    }

    /// Runs a setup's actions.
    async fn setup(&self, actions: &[Action]) {
        for action in actions {
            match action {
                Action::Submit(p) => {
                    self.submit_owned(&params(p)).await;
                }
                Action::SubmitMultipart {
                    params: p,
                    files: f,
                } => {
                    let mut p2 = vec![("key".to_owned(), K.to_owned())];
                    p2.extend(params(p));
                    let a = support::send(support::request(
                        &self.http,
                        &self.url("in.php"),
                        Encoding::Multipart,
                        &p2,
                        &files(f),
                    ))
                    .await;
                    submitted(&a, &p2);
                }
                Action::Solve(n) => self.solve(nth(*n)),
                Action::SolveWith { task, answer } => {
                    self.mock
                        .force_solve(nth(*task), Some(answer))
                        .expect("a pending task");
                }
                Action::Fail { task, code } => {
                    self.mock
                        .force_fail(nth(*task), Some(code))
                        .expect("a pending task");
                }
                Action::Send {
                    endpoint,
                    params: p,
                    expect,
                } => {
                    let a =
                        support::send(self.http.post(self.url(endpoint)).form(&params(p))).await;
                    assert_eq!(&a.body, expect, "setup {endpoint} {p:?}");
                }
                Action::Wait(d) => {
                    let simulated = humantime::parse_duration(d).expect("a duration");
                    let scale = self.mock.config().time_scale;
                    tokio::time::sleep(simulated.div_f64(scale)).await;
                }
                Action::Res { params: p, expect } => {
                    let owned = params(p);
                    let borrowed: Vec<(&str, &str)> = owned
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    assert_eq!(&self.res(&borrowed).await, expect, "setup {p:?}");
                }
            }
        }
    }
}

/// The id of a setup submit's answer, which must be `OK|<id>`.
fn submitted(a: &Answer, params: &[(String, String)]) -> u64 {
    a.body
        .strip_prefix("OK|")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("setup submit {params:?} failed: {}", a.body))
}

/// A readable record of a case: one block per step, one part per mock.
struct Transcript {
    text: String,
}

impl Transcript {
    fn new(env: &Env) -> Transcript {
        Transcript {
            text: format!("mock: {}\n", env.label),
        }
    }

    /// A step sent in each of its encodings and formats; the mock is reset and the setup
    /// run before every single request.
    async fn step(&mut self, env: &Env, step: &Step) {
        let endpoint = step.endpoint.as_deref().expect("a step names its endpoint");
        let params = params(&step.params);
        let files = files(&step.files);
        let encodings: Vec<Encoding> = match &step.encodings {
            None => Encoding::ALL.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| {
                    *Encoding::ALL
                        .iter()
                        .find(|e| e.name() == n)
                        .unwrap_or_else(|| panic!("no encoding {n}"))
                })
                .collect(),
        };
        let modes: Vec<Option<&str>> = match &step.modes {
            None => vec![Some("0"), Some("1")],
            Some(m) => m
                .iter()
                .map(|m| (m != "absent").then_some(m.as_str()))
                .collect(),
        };
        let setup: &[Action] = match &step.setup {
            None => &[],
            Some(Setup::Named(name)) => CASES
                .setups
                .get(name)
                .unwrap_or_else(|| panic!("no setup {name}")),
            Some(Setup::Actions(actions)) => actions,
        };
        let url = env.url(endpoint);
        let title = &step.title;
        let _ = writeln!(
            self.text,
            "\n## {title}\n{endpoint} {}",
            show(&params, &files)
        );
        let names: Vec<&str> = encodings.iter().map(|e| e.name()).collect();
        let _ = writeln!(
            self.text,
            "encodings: {} (identical answers)",
            names.join(", ")
        );
        for mode in modes {
            let mut seen: Vec<(Encoding, Answer)> = Vec::new();
            for &enc in &encodings {
                env.mock.reset();
                env.setup(setup).await;
                let mut p = params.clone();
                if let Some(m) = mode {
                    p.push(("json".into(), m.into()));
                }
                let a = support::send(support::request(&env.http, &url, enc, &p, &files)).await;
                seen.push((enc, a));
            }
            let first = &seen[0].1;
            assert!(
                seen.iter().all(|(_, a)| a == first),
                "{title}: the encodings disagree (json={mode:?}):\n{seen:#?}"
            );
            assert_eq!(first.status, 200, "{title}: HTTP 200 always");
            self.record(
                &mode.map_or("json absent".into(), |m| format!("json={m}")),
                first,
            );
        }
    }

    /// A hand-built request, per format, after a reset.
    async fn raw(&mut self, env: &Env, step: &Step, raw: &Raw) {
        let shown = step
            .shown
            .as_deref()
            .expect("a raw step says how it is shown");
        let _ = writeln!(self.text, "\n## {}\n{shown}", step.title);
        for mode in ["0", "1"] {
            env.mock.reset();
            let req = env
                .http
                .post(env.url(&value(&raw.url, mode)))
                .header("content-type", &raw.content_type)
                .body(value(&raw.body, mode));
            let a = support::send(req).await;
            assert_eq!(a.status, 200, "{}: HTTP 200 always", step.title);
            self.record(&format!("json={mode}"), &a);
        }
    }

    fn record(&mut self, label: &str, a: &Answer) {
        let acao = a
            .acao
            .as_deref()
            .map(|v| format!(", access-control-allow-origin: {v}"))
            .unwrap_or_default();
        let _ = writeln!(
            self.text,
            "{label} -> HTTP {} {}{acao}\n  {}",
            a.status, a.content_type, a.body
        );
    }

    fn finish(mut self) -> String {
        self.text.push('\n');
        self.text
    }
}

/// Parameters as a snapshot shows them: long values summarised.
fn show(params: &[(String, String)], files: &[FilePart]) -> String {
    let mut parts: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            if k == "key" && v == K {
                "key=<test key>".to_owned()
            } else if v.len() > 64 {
                format!("{k}=<{} chars>", v.len())
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    for f in files {
        parts.push(format!(
            "{}=<file {:?} {}, {} bytes>",
            f.field,
            f.filename,
            f.content_type,
            f.data.len()
        ));
    }
    parts.join(" ")
}

/// One SDK method's case: its submit, a poll before it is solved, and the solved `get`.
fn sdk_steps(m: &SdkMethod) -> Vec<Step> {
    let submit: Vec<String> = std::iter::once("key=$K".to_owned())
        .chain(m.params.iter().cloned())
        .collect();
    let step =
        |title: String, endpoint: &str, params: Vec<String>, setup: Option<Vec<Action>>| Step {
            title,
            mock: None,
            endpoint: Some(endpoint.to_owned()),
            params,
            files: Vec::new(),
            encodings: None,
            modes: None,
            setup: setup.map(Setup::Actions),
            raw: None,
            shown: None,
        };
    let get = vec!["@get-first".to_owned()];
    vec![
        step(format!("submit {}", m.name), "in.php", submit, None),
        step(
            "get before it is solved".into(),
            "res.php",
            get.clone(),
            Some(vec![Action::Submit(m.params.clone())]),
        ),
        step(
            "get once solved".into(),
            "res.php",
            get,
            Some(vec![Action::Submit(m.params.clone()), Action::Solve(1)]),
        ),
    ]
}

/// Runs a case (or an SDK method's case, `sdk_<name>`) and snapshots its transcript.
async fn run_case(name: &str) {
    let cases = &*CASES;
    let sdk = name
        .strip_prefix("sdk_")
        .and_then(|m| cases.sdk.iter().find(|s| s.name == m));
    let (default_mock, steps) = match sdk {
        Some(m) => ("main".to_owned(), sdk_steps(m)),
        None => {
            let case = cases
                .case
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no case {name} in cases.toml"));
            (case.mock.clone(), case.step.clone())
        }
    };
    let mut text = String::new();
    let mut current: Option<(String, Env, Transcript)> = None;
    for step in &steps {
        let mock = step.mock.clone().unwrap_or_else(|| default_mock.clone());
        if current.as_ref().is_none_or(|(m, ..)| *m != mock) {
            if let Some((_, _, t)) = current.take() {
                text.push_str(&t.finish());
            }
            let env = Env::named(&mock).await;
            let t = Transcript::new(&env);
            current = Some((mock, env, t));
        }
        let Some((_, env, t)) = current.as_mut() else {
            unreachable!("just set")
        };
        match &step.raw {
            Some(raw) => t.raw(env, step, raw).await,
            None => t.step(env, step).await,
        }
    }
    if let Some((_, env, t)) = current {
        text.push_str(&t.finish());
        if let Some(m) = sdk {
            // The answer in the snapshot is the mock's ground truth for the task.
            env.mock.reset();
            let id = env.submit_owned(&params(&m.params)).await;
            let truth = env.mock.force_solve(id, None).expect("task");
            let body = env.res(&[("action", "get"), ("id", FIRST)]).await;
            assert_eq!(body, format!("OK|{}", truth.outcome.code()));
        }
    }
    insta::assert_snapshot!(name, text);
}

macro_rules! wire_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                run_case(stringify!($name)).await;
            }
        )*

        /// Every case this file runs.
        const LISTED: &[&str] = &[$(stringify!($name)),*];
    };
}

wire_cases!(
    sdk_normal,
    sdk_grid,
    sdk_bls,
    sdk_recaptcha_v2,
    sdk_recaptcha_v2_invisible,
    sdk_recaptcha_v2_enterprise,
    sdk_recaptcha_v3,
    sdk_recaptcha_v3_enterprise,
    sdk_turnstile,
    sdk_cloudflare_challenge,
    sdk_geetest,
    sdk_captchafox,
    sdk_friendly_captcha,
    sdk_lemin,
    normal_as_multipart_file,
    in_php_key_errors,
    in_php_parameter_errors,
    in_php_image_errors,
    in_php_proxy_errors,
    in_php_hcaptcha_is_a_server_error_on_captchaai,
    in_php_broken_bodies,
    in_php_json_default_and_cors,
    task_id_as_integer,
    busy_threads,
    res_php_get,
    res_php_unsolvable_by_rate,
    res_php_account_actions,
    res_php_reports,
    res_php_pingback_registration_captchaai,
    two_captcha_cookies,
    two_captcha_dialect,
    site_key_errors_per_dialect,
    two_captcha_structured_answers,
    answers_config,
    report_window,
    pingback_registration_ownership,
    escalating_blocks,
    api_fault_answers,
    solve_php,
    oversized_bodies,
    geetest_v4_and_coordinates,
    complaint_limit,
);

/// A case in the file without a test would never run.
#[test]
fn every_case_in_the_file_runs() {
    let mut in_file: Vec<String> = CASES
        .sdk
        .iter()
        .map(|m| format!("sdk_{}", m.name))
        .chain(CASES.case.iter().map(|c| c.name.clone()))
        .collect();
    in_file.sort();
    let mut listed: Vec<String> = LISTED.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(in_file, listed);
}
