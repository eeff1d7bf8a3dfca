//! The exact wire answers of `in.php`, `res.php` and `solve.php`: every SDK method's submit
//! and solved `get`, every error the mock can produce, and every `res.php` action, against a
//! real [`MockServer`] on 127.0.0.1.
//!
//! The cases are data, in `cases.toml` (its header says how to read and change it); this
//! file is their driver. Each step is sent in all four encodings real clients use (GET
//! query, urlencoded POST, multipart POST, JSON POST) and in both response formats
//! (`json=0`, `json=1`); the driver asserts that the encodings get byte-identical answers
//! (status, content type, CORS header, body) and HTTP 200, then snapshots one rendering per
//! format. Two properties that are no transcript (files as multipart parts; CORS preflight
//! and JSON array ids) are tests of their own, at the end.

use std::{collections::BTreeMap, fmt::Write as _, sync::LazyLock};

use captchaai_mock::{Config, DEFAULT_KEY, MockServer};
use serde::Deserialize;

use crate::support::{self, Answer, Encoding, FilePart};

const K: &str = DEFAULT_KEY;
const FIRST: &str = "74000000001";

/// `cases.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    vars: BTreeMap<String, String>,
    mocks: BTreeMap<String, MockSpec>,
    params: BTreeMap<String, Vec<String>>,
    setups: BTreeMap<String, Vec<Action>>,
    sdk: Vec<SdkMethod>,
    case: Vec<Case>,
}

/// A mock configuration and the line its transcripts open with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MockSpec {
    label: String,
    config: String,
}

/// One method of the official SDK and what it sends.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SdkMethod {
    name: String,
    params: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    mock: String,
    step: Vec<Step>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Step {
    title: String,
    mock: Option<String>,
    endpoint: Option<String>,
    #[serde(default)]
    params: Vec<String>,
    #[serde(default)]
    files: Vec<FileSpec>,
    encodings: Option<Vec<String>>,
    modes: Option<Vec<String>>,
    setup: Option<Setup>,
    /// A hand-built request instead of `endpoint` and `params`, shown as `shown`.
    raw: Option<Raw>,
    shown: Option<String>,
}

/// A named setup from `[setups]`, or the actions themselves.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum Setup {
    Named(String),
    Actions(Vec<Action>),
}

/// One thing a setup does after the reset.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum Action {
    /// An urlencoded POST to `in.php` with the test key (plain text), which must succeed.
    Submit(Vec<String>),
    /// The same as a multipart POST with files.
    SubmitMultipart {
        params: Vec<String>,
        files: Vec<FileSpec>,
    },
    /// Forces the n-th task (1 = the first id) solved with its own answer.
    Solve(u64),
    /// Forces the n-th task solved with this answer.
    SolveWith { task: u64, answer: String },
    /// Forces the n-th task failed with this code.
    Fail { task: u64, code: String },
    /// A `res.php` request with the test key, whose body must be `expect`.
    Res { params: Vec<String>, expect: String },
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSpec {
    field: String,
    filename: String,
    content_type: String,
    /// Bytes, as in `{b64 ...}`: `png W H SEED`, `png-header W H LEN [fill B from I]`.
    data: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    /// `endpoint?query`, values substituted.
    url: String,
    content_type: String,
    body: String,
}

static CASES: LazyLock<Cases> = LazyLock::new(|| {
    toml::from_str(include_str!("cases.toml")).unwrap_or_else(|e| panic!("cases.toml: {e}"))
});

/// Bytes from a spec: `png W H SEED`, `png-header W H LEN [fill BYTE from OFFSET]`,
/// `repeat CHAR N`.
fn bytes(spec: &str) -> Vec<u8> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let n = |i: usize| -> u64 {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("bytes `{spec}`: word {i} is no number"))
    };
    match words.first().copied() {
        Some("png") => support::png(n(1) as u32, n(2) as u32, n(3) as u32),
        Some("png-header") => {
            let mut v = support::png_header(n(1) as u32, n(2) as u32, n(3) as usize);
            if words.get(4) == Some(&"fill") {
                let from = n(7) as usize;
                v[from..].fill(n(5) as u8);
            }
            v
        }
        Some("repeat") => {
            let c = words.get(1).and_then(|w| w.bytes().next()).unwrap_or(b' ');
            vec![c; n(2) as usize]
        }
        _ => panic!("bytes `{spec}`: unknown"),
    }
}

/// A value with its `$VARS` and `{fn bytes}` substituted; `mode` is this format's `json`.
/// A `{` not followed by a function's name (`b64`, `data-uri`, `text`) is taken as it is.
fn value(raw: &str, mode: &str) -> String {
    const FUNCTIONS: [&str; 3] = ["{b64 ", "{data-uri ", "{text "];
    let mut out = String::new();
    let mut rest = raw;
    loop {
        let var = rest.find('$');
        let func = FUNCTIONS.iter().filter_map(|f| rest.find(f)).min();
        let Some(i) = [var, func].into_iter().flatten().min() else {
            break;
        };
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix('$') {
            let len = after
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(&variable(&after[..len], mode, raw));
            rest = &after[len..];
        } else {
            let end = rest
                .find('}')
                .unwrap_or_else(|| panic!("unclosed function in {raw:?}"));
            let (func, spec) = rest[1..end].split_once(' ').unwrap_or_default();
            let data = bytes(spec);
            match func {
                "b64" => out.push_str(&support::b64(&data)),
                "data-uri" => {
                    out.push_str("data:image/png;base64,");
                    out.push_str(&support::b64(&data));
                }
                _ => out.push_str(&String::from_utf8_lossy(&data)),
            }
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// A `$NAME` of `cases.toml`.
fn variable(name: &str, mode: &str, raw: &str) -> String {
    match name {
        "K" => K.to_owned(),
        "FIRST" => FIRST.to_owned(),
        "MODE" => mode.to_owned(),
        "OTHER" => (if mode == "1" { "0" } else { "1" }).to_owned(),
        _ => CASES
            .vars
            .get(name)
            .unwrap_or_else(|| panic!("no variable ${name} in {raw:?}"))
            .clone(),
    }
}

/// `name=value` pairs, `@set`s expanded, values substituted.
fn params(list: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in list {
        if let Some(set) = item.strip_prefix('@') {
            let set = CASES
                .params
                .get(set)
                .unwrap_or_else(|| panic!("no parameter set @{set}"));
            out.extend(params(set));
        } else {
            let (k, v) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("not name=value: {item:?}"));
            out.push((k.to_owned(), value(v, "")));
        }
    }
    out
}

fn files(specs: &[FileSpec]) -> Vec<FilePart> {
    specs
        .iter()
        .map(|f| FilePart {
            field: f.field.clone(),
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            data: bytes(&f.data),
        })
        .collect()
}

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
    solve_php,
    oversized_bodies,
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

/// BLS and grid images as multipart files: `file_1`..`file_9` stand for `image_base64_1`..`_9`,
/// and a single image may come as `file` or `file_1`.
#[tokio::test]
async fn bls_and_grid_as_multipart_files() {
    let env = Env::main().await;
    let png = |i: u32| FilePart {
        field: format!("file_{i}"),
        filename: format!("tile{i}.png"),
        content_type: "image/png".into(),
        data: crate::support::png(10, 10, i),
    };
    let submit = async |params: &[(&str, &str)], files: &[FilePart]| {
        let mut p = crate::support::pairs(&[("key", K)]);
        p.extend(crate::support::pairs(params));
        crate::support::send(
            env.http
                .post(env.url("in.php"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={}", crate::support::BOUNDARY),
                )
                .body(crate::support::multipart_body(&p, files)),
        )
        .await
        .body
    };
    let bls = [("method", "bls"), ("instructions", "cars")];
    let nine: Vec<FilePart> = (1..=9).map(png).collect();

    let answer = submit(&bls, &nine).await;
    let id: u64 = answer
        .strip_prefix("OK|")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("nine BLS files are accepted, got {answer}"));
    env.solve(id);
    let got = env.res(&[("action", "get"), ("id", &id.to_string())]).await;
    let cells = got.strip_prefix("OK|").expect("solved");
    let cells: Vec<u32> = serde_json::from_str(cells).expect("a JSON array of cells");
    assert!(
        !cells.is_empty() && cells.iter().all(|c| (1..=9).contains(c)),
        "{got}"
    );

    assert_eq!(
        submit(&bls, &nine[..8]).await,
        "ERROR_BAD_PARAMETERS",
        "eight of nine"
    );
    let mut bmp = nine.clone();
    bmp[4].filename = "tile5.bmp".into();
    assert_eq!(submit(&bls, &bmp).await, "ERROR_WRONG_FILE_EXTENSION");
    let mut empty = nine.clone();
    empty[8].data.clear();
    assert_eq!(submit(&bls, &empty).await, "ERROR_ZERO_CAPTCHA_FILESIZE");

    let grid = [("method", "post"), ("recaptcha", "1"), ("grid_size", "3x3")];
    let answer = submit(&grid, &nine[..1]).await;
    assert!(
        answer.starts_with("OK|"),
        "a grid image as file_1: {answer}"
    );
    assert_eq!(submit(&grid, &[]).await, "ERROR_UPLOAD", "no file at all");
}

/// A CORS preflight and a HEAD probe are answered without submitting, reading or reporting
/// anything; a JSON body may carry `ids` as an array.
#[tokio::test]
async fn preflight_probe_and_json_array_ids() {
    let env = Env::main().await;
    let (tkey, page) = (&CASES.vars["TKEY"], &CASES.vars["PAGE"]);
    let submit = format!(
        "in.php?key={K}&method=turnstile&sitekey={tkey}&pageurl={page}&json=1&header_acao=1"
    );
    let pre = env
        .http
        .request(reqwest::Method::OPTIONS, env.url(&submit))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(h["access-control-allow-headers"], "content-type");
    let head = env.http.head(env.url(&submit)).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(
        env.mock.task(74_000_000_001).is_none(),
        "neither created a task"
    );
    let a = env
        .submit(&[
            ("method", "turnstile"),
            ("sitekey", tkey.as_str()),
            ("pageurl", page.as_str()),
        ])
        .await;
    let b = env
        .submit(&[
            ("method", "turnstile"),
            ("sitekey", tkey.as_str()),
            ("pageurl", page.as_str()),
        ])
        .await;
    env.solve(a);
    let bulk = crate::support::send(
        env.http
            .post(env.url("res.php"))
            .json(&serde_json::json!({"key": K, "action": "get", "ids": [a, b], "json": 1})),
    )
    .await
    .body;
    let v: serde_json::Value = serde_json::from_str(&bulk).unwrap();
    assert_eq!(v["status"], 1, "{bulk}");
    let parts: Vec<&str> = v["request"].as_str().unwrap().split('|').collect();
    assert_eq!(parts.len(), 2, "{bulk}");
    assert!(parts[0].starts_with("0."), "{bulk}");
    assert_eq!(parts[1], "CAPCHA_NOT_READY");
}
