//! `docs/openapi.json` is true: every recorded answer validates (`jsonschema`) against the
//! schema the document gives its path, method, status and media type; every response the
//! document lists was recorded at least once; every admin route of the router is documented.
//!
//! Recorded answers: the wire cases' snapshots (`wire/snapshots/*.snap`, every answer of
//! `in.php`, `res.php` and `solve.php` the mock's tests pin, in both formats), and the admin
//! API answered live by a mock driven through each route's successes and errors.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use captchaai_mock::{Config, DEFAULT_KEY, MockServer, testing::PingbackRecorder};
use serde_json::{Value, json};

use super::docs;

/// One answer, as recorded.
#[derive(Debug)]
struct Recorded {
    /// The path as the document names it: `/in.php`, `/__admin/tasks/{id}`.
    path: String,
    method: &'static str,
    status: u16,
    /// The content type without parameters.
    media: String,
    body: String,
    /// Where it was recorded, for the failure message.
    origin: String,
}

/// Responses documented but not provoked here, each with the reason.
const NOT_RECORDED: &[(&str, &str, &str, &str)] = &[
    (
        "/__admin/tasks/{id}/pingback",
        "post",
        "503",
        "a full pingback queue: 100 000 pending deliveries by default",
    ),
    (
        "/__admin/events",
        "get",
        "200",
        "an endless stream: tests/it/dashboard.rs reads its events",
    ),
    (
        "/",
        "get",
        "200",
        "the front page, not an API answer: tests/it/dashboard.rs follows its link",
    ),
    (
        "/__admin/",
        "get",
        "401",
        "the sign-in form needs admin.token set: tests/it/dashboard.rs signs in",
    ),
    (
        "/__admin/login",
        "post",
        "303",
        "a redirect without a body: tests/it/dashboard.rs signs in",
    ),
    (
        "/__admin/login",
        "post",
        "401",
        "a wrong token needs admin.token set: tests/it/dashboard.rs signs in",
    ),
];

fn document() -> Value {
    let text = std::fs::read_to_string(docs("openapi.json")).expect("docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// The body as the schema sees it: JSON parsed, anything else a string.
fn instance(r: &Recorded) -> Value {
    if r.media == "application/json" {
        serde_json::from_str(&r.body).unwrap_or_else(|e| {
            panic!(
                "{}: a JSON answer that is not JSON ({e}): {}",
                r.origin, r.body
            )
        })
    } else {
        Value::String(r.body.clone())
    }
}

/// Validates every recorded answer; gives the documented responses they used.
fn validate(doc: &Value, recorded: &[Recorded]) -> BTreeSet<(String, String, String, String)> {
    let mut validators: BTreeMap<(String, &str, u16, String), jsonschema::Validator> =
        BTreeMap::new();
    let mut used = BTreeSet::new();
    let mut failures = Vec::new();
    for r in recorded {
        let method = r.method.to_ascii_lowercase();
        let status = r.status.to_string();
        let schema =
            &doc["paths"][&r.path][&method]["responses"][&status]["content"][&r.media]["schema"];
        if schema.is_null() {
            failures.push(format!(
                "{}: {} {} answered {} {}, which the document does not list",
                r.origin, r.method, r.path, r.status, r.media
            ));
            continue;
        }
        used.insert((r.path.clone(), method.clone(), status, r.media.clone()));
        let key = (r.path.clone(), r.method, r.status, r.media.clone());
        let validator = validators.entry(key).or_insert_with(|| {
            // The response's schema with the document's components beside it, so that its
            // `#/components/schemas/...` references resolve.
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": doc["components"],
                "allOf": [schema],
            });
            jsonschema::draft202012::new(&root)
                .unwrap_or_else(|e| panic!("the schema of {} {}: {e}", r.method, r.path))
        });
        let value = instance(r);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            failures.push(format!(
                "{}: {} {} {} {}: {}\n    body: {}",
                r.origin,
                r.method,
                r.path,
                r.status,
                r.media,
                errors.join("; "),
                r.body.chars().take(300).collect::<String>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} recorded answer(s) do not match docs/openapi.json:\n{}",
        failures.len(),
        failures.join("\n")
    );
    used
}

/// Every response the document lists for the paths selected by `select`.
fn documented(
    doc: &Value,
    select: impl Fn(&str) -> bool,
) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        if !select(path) {
            continue;
        }
        for (method, op) in ops.as_object().expect("operations") {
            for (status, resp) in op["responses"].as_object().expect("responses") {
                for media in resp["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(m, _)| m)
                {
                    out.insert((path.clone(), method.clone(), status.clone(), media.clone()));
                }
            }
        }
    }
    out
}

fn assert_all_recorded(
    doc: &Value,
    used: &BTreeSet<(String, String, String, String)>,
    select: impl Fn(&str) -> bool,
) {
    let missing: Vec<String> = documented(doc, select)
        .difference(used)
        .filter(|(p, m, s, _)| {
            !NOT_RECORDED
                .iter()
                .any(|(np, nm, ns, _)| np == p && nm == m && ns == s)
        })
        .map(|(p, m, s, media)| format!("{m} {p} {s} {media}"))
        .collect();
    assert!(
        missing.is_empty(),
        "documented in docs/openapi.json but never recorded (record one, or list it in \
         NOT_RECORDED with the reason): {missing:?}"
    );
}

/// Every answer of the wire snapshots.
fn wire_answers() -> Vec<Recorded> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/wire/snapshots");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the wire snapshots")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a snapshot");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let mut endpoint = String::new();
        let mut methods: Vec<&'static str> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let raw_post = line.strip_prefix("POST ");
            let request = raw_post.unwrap_or(line);
            if let Some(ep) = ["in.php", "res.php", "solve.php"].into_iter().find(|ep| {
                request.starts_with(&format!("{ep} ")) || request.starts_with(&format!("{ep}?"))
            }) {
                endpoint = format!("/{ep}");
                methods = if raw_post.is_some() {
                    vec!["POST"]
                } else {
                    vec!["GET"]
                };
            } else if let Some(encodings) = line.strip_prefix("encodings: ") {
                methods.clear();
                if encodings.contains("query") {
                    methods.push("GET");
                }
                if ["form", "multipart", "json"]
                    .iter()
                    .any(|e| encodings.contains(e))
                {
                    methods.push("POST");
                }
            } else if let Some((_, answer)) = line.split_once(" -> HTTP ") {
                let (status, rest) = answer.split_once(' ').expect("status and content type");
                let media = rest
                    .split([';', ','])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                let mut body = Vec::new();
                while let Some(b) = lines.get(i + 1).and_then(|l| l.strip_prefix("  ")) {
                    body.push(b);
                    i += 1;
                }
                for &method in &methods {
                    out.push(Recorded {
                        path: endpoint.clone(),
                        method,
                        status: status.parse().expect("a status"),
                        media: media.clone(),
                        body: body.join("\n"),
                        origin: format!("{name}:{}", i + 1),
                    });
                }
            }
            i += 1;
        }
    }
    out
}

#[test]
fn every_recorded_wire_answer_matches_the_document() {
    let doc = document();
    let recorded = wire_answers();
    assert!(
        recorded.len() > 300,
        "the snapshots hold hundreds of answers, read {}",
        recorded.len()
    );
    for ep in ["/in.php", "/res.php", "/solve.php"] {
        assert!(recorded.iter().any(|r| r.path == ep), "{ep} recorded");
    }
    let used = validate(&doc, &recorded);
    assert_all_recorded(&doc, &used, |p| !p.starts_with("/__admin"));
}

#[test]
fn the_document_rejects_answers_the_service_never_gives() {
    // The test above can fail: answers of the wrong shape do not validate.
    let doc = document();
    for (path, media, body) in [
        ("/in.php", "text/plain", "OK|not-a-number"),
        (
            "/in.php",
            "application/json",
            r#"{"status":1,"request":"74000000001","extra":1}"#,
        ),
        (
            "/in.php",
            "application/json",
            r#"{"status":0,"request":"not an error code"}"#,
        ),
        (
            "/res.php",
            "application/json",
            r#"{"status":2,"request":"x"}"#,
        ),
        (
            "/res.php",
            "application/json",
            r#"{"request":"OK","status":1,"threads":-1,"working_threads":0}"#,
        ),
        // 2captcha writes a point's numbers as strings.
        (
            "/res.php",
            "application/json",
            r#"{"status":1,"request":[{"x":39,"y":59}]}"#,
        ),
    ] {
        let r = Recorded {
            path: path.into(),
            method: "GET",
            status: 200,
            media: media.into(),
            body: body.into(),
            origin: "made up".into(),
        };
        let outcome = std::panic::catch_unwind(|| validate(&doc, std::slice::from_ref(&r)));
        assert!(outcome.is_err(), "{path} {media} {body} must not validate");
    }
}

/// The admin routes of the router (`admin/*.rs`): path and methods.
fn admin_routes() -> BTreeSet<(String, String)> {
    // Every file that declares routes of the admin router (mounted at `/__admin`), and
    // `mod.rs`, whose routes sit beside it with their full paths.
    let text: String = ["routes.rs", "metrics.rs", "dashboard.rs", "mod.rs"]
        .iter()
        .map(|file| {
            let path = format!("{}/src/admin/{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        })
        .collect();
    let mut out = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        let Some((_, rest)) = line.split_once(".route(\"") else {
            continue;
        };
        let (path, handlers) = rest.split_once('"').expect("a quoted path");
        let path = if path.starts_with("/__admin") {
            path.to_owned()
        } else {
            format!("/__admin{path}")
        };
        for method in ["get", "post", "put", "delete", "patch"] {
            if handlers.contains(&format!("{method}(")) {
                out.insert((path.clone(), method.to_owned()));
            }
        }
    }
    out
}

#[test]
fn every_admin_route_is_documented() {
    let doc = document();
    let routes = admin_routes();
    assert!(routes.len() >= 10, "{routes:?}");
    let documented: BTreeSet<(String, String)> = documented(&doc, |p| p.starts_with("/__admin"))
        .into_iter()
        .map(|(p, m, _, _)| (p, m))
        .collect();
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "admin routes missing from docs/openapi.json: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&routes).collect();
    assert!(
        stale.is_empty(),
        "docs/openapi.json documents routes that do not exist: {stale:?}"
    );
}

/// Drives the admin API through each route's answers, recording them.
struct AdminRecorder {
    http: reqwest::Client,
    base: String,
    recorded: Vec<Recorded>,
}

impl AdminRecorder {
    /// `method path` with an optional JSON body; `template` is the documented path.
    async fn call(
        &mut self,
        method: &'static str,
        template: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.http.request(m, format!("{}/__admin{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("the admin API answers");
        let status = resp.status().as_u16();
        let media = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .to_owned();
        let body = resp.text().await.expect("a body");
        let value = serde_json::from_str(&body).unwrap_or(Value::Null);
        self.recorded.push(Recorded {
            path: format!("/__admin{template}"),
            method,
            status,
            media,
            body,
            origin: format!("live {method} /__admin{path}"),
        });
        (status, value)
    }
}

async fn submit(mock: &MockServer, hook: &str) -> u64 {
    let body = crate::support::send(
        crate::support::http()
            .get(format!("{}/in.php", mock.uri()))
            .query(&[
                ("key", DEFAULT_KEY),
                ("method", "turnstile"),
                ("sitekey", "0x4AAAAAAAC3DHQFLr1GavRN"),
                ("pageurl", "https://example.com/login"),
                ("pingback", hook),
            ]),
    )
    .await
    .body;
    body.strip_prefix("OK|")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("submit failed: {body}"))
}

#[tokio::test]
async fn every_admin_answer_matches_the_document() {
    // Tasks take a minute to solve: they stay pending until the admin API finishes them.
    let config = Config::from_toml("seed = 3\n[solving]\ndefault-time = { fixed = \"60s\" }\n")
        .expect("config");
    let mock = MockServer::start_with(config)
        .await
        .expect("the mock starts");
    let receiver = PingbackRecorder::start().await.expect("a receiver");
    let hook = receiver.url("/hook");
    let (a, b) = (submit(&mock, &hook).await, submit(&mock, &hook).await);
    let mut r = AdminRecorder {
        http: crate::support::http(),
        base: mock.uri(),
        recorded: Vec::new(),
    };
    let (one, task, missing) = (format!("/tasks/{a}"), "/tasks/{id}", "/tasks/999");
    // The dashboard's page and the metrics: text, documented as such.
    let (status, _) = r.call("GET", "/", "/", None).await;
    assert_eq!(status, 200, "the dashboard");
    let (status, _) = r.call("GET", "/metrics", "/metrics", None).await;
    assert_eq!(status, 200, "the metrics");
    let expect = |got: (u16, Value), want: u16, what: &str| {
        assert_eq!(got.0, want, "{what}: {}", got.1);
    };
    expect(
        r.call("GET", "/health", "/health", None).await,
        200,
        "health",
    );
    expect(
        r.call("GET", "/tasks", "/tasks?limit=10", None).await,
        200,
        "tasks",
    );
    expect(r.call("GET", task, &one, None).await, 200, "a task");
    expect(r.call("GET", task, missing, None).await, 404, "no task");
    let pb = "/tasks/{id}/pingback";
    expect(
        r.call("POST", pb, &format!("{one}/pingback"), None).await,
        409,
        "not finished",
    );
    expect(
        r.call("POST", pb, &format!("{missing}/pingback"), None)
            .await,
        404,
        "no task",
    );
    let solve = "/tasks/{id}/solve";
    expect(
        r.call("POST", solve, &format!("{one}/solve"), Some("{\"answer\":"))
            .await,
        400,
        "bad body",
    );
    expect(
        r.call(
            "POST",
            solve,
            &format!("{one}/solve"),
            Some("{\"answer\":\"forced\"}"),
        )
        .await,
        200,
        "solve",
    );
    expect(
        r.call("POST", solve, &format!("{one}/solve"), None).await,
        409,
        "solved already",
    );
    expect(
        r.call("POST", solve, &format!("{missing}/solve"), None)
            .await,
        404,
        "no task",
    );
    let fail = "/tasks/{id}/fail";
    let other = format!("/tasks/{b}/fail");
    expect(
        r.call("POST", fail, &other, Some("{\"code\":\"not a code\"}"))
            .await,
        400,
        "bad code",
    );
    expect(
        r.call(
            "POST",
            fail,
            &other,
            Some("{\"code\":\"ERROR_CAPTCHA_UNSOLVABLE\"}"),
        )
        .await,
        200,
        "fail",
    );
    expect(
        r.call("POST", fail, &other, None).await,
        409,
        "failed already",
    );
    expect(
        r.call("POST", fail, &format!("{missing}/fail"), None).await,
        404,
        "no task",
    );
    expect(
        r.call("POST", pb, &format!("{one}/pingback"), None).await,
        202,
        "fire",
    );
    // The pingbacks arrive; the journals then hold attempts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mock.pingbacks().for_task(a).count() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pingbacks were not sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, attempts) = r.call("GET", "/pingbacks", "/pingbacks", None).await;
    assert!(
        attempts.as_array().is_some_and(|a| a.len() >= 2),
        "{attempts}"
    );
    let schedule = "/tasks/{id}/schedule";
    expect(
        r.call("GET", schedule, &format!("{one}/schedule"), None)
            .await,
        200,
        "schedule",
    );
    expect(
        r.call("GET", schedule, &format!("{missing}/schedule"), None)
            .await,
        404,
        "no task",
    );
    let (_, journal) = r.call("GET", "/journal", "/journal?limit=5", None).await;
    assert!(
        journal.as_array().is_some_and(|a| !a.is_empty()),
        "{journal}"
    );
    let rules = "/pingback/rules";
    expect(
        r.call("PUT", rules, rules, Some(r#"[{"fault":"drop"}]"#))
            .await,
        200,
        "rules",
    );
    expect(r.call("GET", rules, rules, None).await, 200, "rules");
    expect(
        r.call("PUT", rules, rules, Some(r#"[{"fault":"nope"}]"#))
            .await,
        400,
        "bad rules",
    );
    let api_rules = "/api/rules";
    expect(
        r.call(
            "PUT",
            api_rules,
            api_rules,
            Some(r#"[{"match":{"endpoints":["res.php"]},"fault":"reset"}]"#),
        )
        .await,
        200,
        "API rules",
    );
    expect(
        r.call("GET", api_rules, api_rules, None).await,
        200,
        "API rules",
    );
    expect(
        r.call("PUT", api_rules, api_rules, Some(r#"[{"fault":"nope"}]"#))
            .await,
        400,
        "bad API rules",
    );
    expect(r.call("POST", "/reset", "/reset", None).await, 200, "reset");

    let doc = document();
    let used = validate(&doc, &r.recorded);
    assert_all_recorded(&doc, &used, |p| p.starts_with("/__admin"));
}
