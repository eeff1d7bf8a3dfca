//! Snapshots of the exact wire answers of `in.php`, `res.php` and `solve.php`:
//! every SDK method's submit and solved `get`, every error the mock can
//! produce, and every `res.php` action, against a real [`MockServer`] on
//! 127.0.0.1.
//!
//! Each step of a case is sent in all four encodings real clients use (GET
//! query, urlencoded POST, multipart POST, JSON POST) and in both response
//! formats (`json=0`, `json=1`). The test first asserts that the four encodings
//! get byte-identical answers (status, content type, CORS header, body), then
//! snapshots one rendering per format. The mock state is reset before every
//! single request, so task ids and answers are the same whatever the order:
//! answers are seeded (seed 1) and the first task id is always 74000000001.
//!
//! Review a changed snapshot against `/work/shared/docs/protocol.md` §1-§4
//! before accepting it (`INSTA_UPDATE=always cargo test -p captchaai-mock
//! --test wire_snapshots`, then read the diff).

mod common;

use std::fmt::Write as _;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer, state::ForceResult, wire::Code};
use common::{Answer, Encoding, FilePart};

const K: &str = DEFAULT_KEY;
const PAGE: &str = "https://example.com/login";
const GKEY: &str = "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-";
const TKEY: &str = "0x4AAAAAAAC3DHQFLr1GavRN";
const FIRST: &str = "74000000001";

/// The configuration most cases use: seed 1, realistic solve times (so a
/// fresh task is not ready), and a small image limit so that
/// `ERROR_TOO_BIG_CAPTCHA_FILESIZE` is reachable with a small request.
const MAIN: &str = "seed = 1\n[images]\nmax-bytes = 4096\n";

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
            http: common::http(),
            label: label.to_owned(),
        }
    }

    async fn main() -> Env {
        Env::new("captchaai dialect, seed 1, images.max-bytes = 4096", MAIN).await
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/{endpoint}", self.mock.uri())
    }

    /// Submits (urlencoded POST, plain text) and returns the new task id.
    async fn submit(&self, params: &[(&str, &str)]) -> u64 {
        self.submit_owned(&common::pairs(params)).await
    }

    async fn submit_owned(&self, params: &[(String, String)]) -> u64 {
        let mut p = vec![("key".to_owned(), K.to_owned())];
        p.extend_from_slice(params);
        let a = common::send(self.http.post(self.url("in.php")).form(&p)).await;
        a.body
            .strip_prefix("OK|")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("setup submit {params:?} failed: {}", a.body))
    }

    /// Sends a setup request to res.php (json=0) and returns the body.
    async fn res(&self, params: &[(&str, &str)]) -> String {
        let mut p = vec![("key", K)];
        p.extend_from_slice(params);
        common::send(self.http.get(self.url("res.php")).query(&p))
            .await
            .body
    }

    fn solve(&self, id: u64) {
        self.mock
            .state()
            .force(id, ForceResult::Solve(None))
            .expect("task exists");
    }
}

/// The response formats a step is sent in.
const MODES: [Option<&str>; 2] = [Some("0"), Some("1")];

/// A readable record of a case: one block per step.
struct Transcript {
    text: String,
}

async fn nothing(_: &Env) {}

impl Transcript {
    fn new(env: &Env) -> Transcript {
        Transcript {
            text: format!("mock: {}\n", env.label),
        }
    }

    /// A step sent in all four encodings, after no setup.
    async fn step(&mut self, env: &Env, title: &str, endpoint: &str, params: &[(&str, &str)]) {
        self.step_after(env, title, endpoint, params, nothing).await;
    }

    /// A step sent in all four encodings, `setup` run after each reset.
    async fn step_after(
        &mut self,
        env: &Env,
        title: &str,
        endpoint: &str,
        params: &[(&str, &str)],
        setup: impl AsyncFn(&Env),
    ) {
        let params = common::pairs(params);
        self.run(
            env,
            title,
            endpoint,
            &params,
            &[],
            &Encoding::ALL,
            &MODES,
            setup,
        )
        .await;
    }

    /// The general form.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &mut self,
        env: &Env,
        title: &str,
        endpoint: &str,
        params: &[(String, String)],
        files: &[FilePart],
        encodings: &[Encoding],
        modes: &[Option<&str>],
        setup: impl AsyncFn(&Env),
    ) {
        let url = env.url(endpoint);
        let _ = writeln!(
            self.text,
            "\n## {title}\n{endpoint} {}",
            show(params, files)
        );
        let names: Vec<&str> = encodings.iter().map(|e| e.name()).collect();
        let _ = writeln!(
            self.text,
            "encodings: {} (identical answers)",
            names.join(", ")
        );
        for mode in modes {
            let mut seen: Vec<(Encoding, Answer)> = Vec::new();
            for &enc in encodings {
                env.mock.state().reset();
                setup(env).await;
                let mut p = params.to_vec();
                if let Some(m) = mode {
                    p.push(("json".into(), (*m).into()));
                }
                let a = common::send(common::request(&env.http, &url, enc, &p, files)).await;
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

    /// A single hand-built request (broken bodies and the like), per format.
    async fn raw(
        &mut self,
        env: &Env,
        title: &str,
        shown: &str,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) {
        let _ = writeln!(self.text, "\n## {title}\n{shown}");
        for mode in ["0", "1"] {
            env.mock.state().reset();
            let a = common::send(build(mode)).await;
            assert_eq!(a.status, 200, "{title}: HTTP 200 always");
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

fn image_b64() -> String {
    common::b64(&common::png(20, 10, 1))
}

fn data_uri(seed: u32) -> String {
    format!(
        "data:image/png;base64,{}",
        common::b64(&common::png(8, 8, seed))
    )
}

/// What the official SDK sends for each of its methods (protocol.md §3).
fn sdk_params(method: &str) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = match method {
        "normal" => vec![
            ("method".into(), "base64".into()),
            ("body".into(), image_b64()),
        ],
        "grid" => vec![
            ("method".into(), "base64".into()),
            ("body".into(), common::b64(&common::png(30, 30, 2))),
            ("instructions".into(), "crosswalks".into()),
            ("grid_size".into(), "3x3".into()),
            ("img_type".into(), "recaptcha".into()),
        ],
        "bls" => {
            let mut v = vec![("method".into(), "bls".into())];
            for i in 1..=9 {
                v.push((format!("image_base64_{i}"), data_uri(10 + i)));
            }
            v.push(("instructions".into(), "select all squares with 7".into()));
            v
        }
        _ => {
            let pairs: &[(&str, &str)] = match method {
                "recaptcha_v2" => &[("googlekey", GKEY), ("pageurl", PAGE)],
                "recaptcha_v2_invisible" => {
                    &[("googlekey", GKEY), ("pageurl", PAGE), ("invisible", "1")]
                }
                "recaptcha_v2_enterprise" => &[
                    ("googlekey", GKEY),
                    ("pageurl", PAGE),
                    ("enterprise", "1"),
                    ("action", "login"),
                ],
                "recaptcha_v3" => &[
                    ("googlekey", GKEY),
                    ("pageurl", PAGE),
                    ("version", "v3"),
                    ("action", "verify"),
                    ("min_score", "0.7"),
                ],
                "recaptcha_v3_enterprise" => &[
                    ("googlekey", GKEY),
                    ("pageurl", PAGE),
                    ("version", "v3"),
                    ("action", "verify"),
                    ("enterprise", "1"),
                ],
                "turnstile" => &[("sitekey", TKEY), ("pageurl", PAGE)],
                "cloudflare_challenge" => &[
                    ("pageurl", PAGE),
                    ("proxy", "user:pass@1.2.3.4:8080"),
                    ("proxytype", "HTTP"),
                ],
                "geetest" => &[
                    ("gt", "f1ab2cdefa3456789012345678901234"),
                    ("challenge", "12345678abc90123d45678ef90123a456b"),
                    ("pageurl", PAGE),
                ],
                "captchafox" => &[
                    ("sitekey", "sk_xtNxpk6fCdFbxh1_xJeGflSdCE9tn99G"),
                    ("pageurl", PAGE),
                    ("proxy", "user:pass@1.2.3.4:8080"),
                    ("proxytype", "HTTP"),
                ],
                "friendly_captcha" => &[("sitekey", "FCMGEMUD2KTDSQ5H"), ("pageurl", PAGE)],
                "lemin" => &[
                    (
                        "captcha_id",
                        "CROPPED_3dfdd5c_d1872b526b794d83ba3b365eb15a200b",
                    ),
                    ("div_id", "lemin-cropped-captcha"),
                    ("pageurl", PAGE),
                ],
                other => panic!("no SDK method {other}"),
            };
            let api_method = match method {
                m if m.starts_with("recaptcha") => "userrecaptcha",
                m => m,
            };
            let mut v = vec![("method".to_owned(), api_method.to_owned())];
            v.extend(common::pairs(pairs));
            v
        }
    };
    p.insert(0, ("key".into(), K.into()));
    p
}

/// One SDK method: its submit, a poll before it is solved, and the solved
/// `get` (forced through the state API; the answer is the seeded ground truth).
async fn sdk_case(method: &str) {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let params = sdk_params(method);
    let all = Encoding::ALL;
    t.run(
        &env,
        &format!("submit {method}"),
        "in.php",
        &params,
        &[],
        &all,
        &MODES,
        nothing,
    )
    .await;
    let get = common::pairs(&[("key", K), ("action", "get"), ("id", FIRST)]);
    let submit = async |env: &Env| {
        env.submit_owned(&params[1..]).await;
    };
    t.run(
        &env,
        "get before it is solved",
        "res.php",
        &get,
        &[],
        &all,
        &MODES,
        submit,
    )
    .await;
    let solved = async |env: &Env| {
        let id = env.submit_owned(&params[1..]).await;
        env.solve(id);
    };
    t.run(
        &env,
        "get once solved",
        "res.php",
        &get,
        &[],
        &all,
        &MODES,
        solved,
    )
    .await;
    // The answer in the snapshot is the mock's ground truth for the task.
    env.mock.state().reset();
    let id = env.submit_owned(&params[1..]).await;
    let truth = env
        .mock
        .state()
        .force(id, ForceResult::Solve(None))
        .expect("task");
    let body = env.res(&[("action", "get"), ("id", FIRST)]).await;
    assert_eq!(body, format!("OK|{}", truth.outcome.code()));
    insta::assert_snapshot!(format!("sdk_{method}"), t.finish());
}

macro_rules! sdk_methods {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                sdk_case(stringify!($name)).await;
            }
        )*
    };
}

mod sdk_method {
    use super::sdk_case;
    sdk_methods!(
        normal,
        grid,
        bls,
        recaptcha_v2,
        recaptcha_v2_invisible,
        recaptcha_v2_enterprise,
        recaptcha_v3,
        recaptcha_v3_enterprise,
        turnstile,
        cloudflare_challenge,
        geetest,
        captchafox,
        friendly_captcha,
        lemin,
    );
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
        data: common::png(10, 10, i),
    };
    let submit = async |params: &[(&str, &str)], files: &[FilePart]| {
        let mut p = common::pairs(&[("key", K)]);
        p.extend(common::pairs(params));
        common::send(
            env.http
                .post(env.url("in.php"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={}", common::BOUNDARY),
                )
                .body(common::multipart_body(&p, files)),
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

/// `method=post` with the image as a multipart file (the only encoding that
/// can carry a file), and the file errors.
#[tokio::test]
async fn normal_as_multipart_file() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let params = common::pairs(&[("key", K), ("method", "post")]);
    let file = |name: &str, data: Vec<u8>| FilePart {
        field: "file".into(),
        filename: name.into(),
        content_type: "image/png".into(),
        data,
    };
    let mp = [Encoding::Multipart];
    let ok = [file("captcha.png", common::png(20, 10, 1))];
    t.run(
        &env,
        "submit with file",
        "in.php",
        &params,
        &ok,
        &mp,
        &MODES,
        nothing,
    )
    .await;
    let get = common::pairs(&[("key", K), ("action", "get"), ("id", FIRST)]);
    let solved = async |env: &Env| {
        let body = common::multipart_body(&params, &ok);
        let a = common::send(
            env.http
                .post(env.url("in.php"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={}", common::BOUNDARY),
                )
                .body(body),
        )
        .await;
        let id = a
            .body
            .strip_prefix("OK|")
            .expect("submitted")
            .parse()
            .expect("id");
        env.solve(id);
    };
    t.run(
        &env,
        "get once solved",
        "res.php",
        &get,
        &[],
        &Encoding::ALL,
        &MODES,
        solved,
    )
    .await;
    let bmp = [file("captcha.bmp", common::png(20, 10, 1))];
    t.run(
        &env,
        "wrong file extension",
        "in.php",
        &params,
        &bmp,
        &mp,
        &MODES,
        nothing,
    )
    .await;
    let tiny = [file("captcha.png", common::png_header(1, 1, 60))];
    t.run(
        &env,
        "file under 100 bytes",
        "in.php",
        &params,
        &tiny,
        &mp,
        &MODES,
        nothing,
    )
    .await;
    let other = [FilePart {
        field: "image".into(),
        ..file("captcha.png", common::png(20, 10, 1))
    }];
    t.run(
        &env,
        "file in a field other than `file`",
        "in.php",
        &params,
        &other,
        &mp,
        &MODES,
        nothing,
    )
    .await;
    // No file at all, in every encoding.
    t.step(
        &env,
        "method=post without a file",
        "in.php",
        &[("key", K), ("method", "post")],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn in_php_key_errors() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let tp = [
        ("method", "turnstile"),
        ("sitekey", TKEY),
        ("pageurl", PAGE),
    ];
    let with_key = |key: &'static str| {
        let mut v = vec![("key", key)];
        v.extend_from_slice(&tp);
        v
    };
    t.step(&env, "no key", "in.php", &tp).await;
    t.step(
        &env,
        "key of 31 characters",
        "in.php",
        &with_key("captchaai-mock-test-key-0000000"),
    )
    .await;
    t.step(
        &env,
        "key of 33 characters",
        "in.php",
        &with_key("captchaai-mock-test-key-000000011"),
    )
    .await;
    t.step(
        &env,
        "unknown 32-character key",
        "in.php",
        &with_key("0123456789abcdef0123456789abcdef"),
    )
    .await;
    t.step(
        &env,
        "the key is checked before the method",
        "in.php",
        &[("key", "short"), ("method", "nope")],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn in_php_parameter_errors() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let grid_body = common::b64(&common::png(30, 30, 2));
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("no method", &[("key", K), ("pageurl", PAGE)]),
        ("empty method", &[("key", K), ("method", "")]),
        (
            "unknown method",
            &[("key", K), ("method", "funcaptcha"), ("pageurl", PAGE)],
        ),
        (
            "userrecaptcha without googlekey",
            &[("key", K), ("method", "userrecaptcha"), ("pageurl", PAGE)],
        ),
        (
            "userrecaptcha with a malformed googlekey",
            &[
                ("key", K),
                ("method", "userrecaptcha"),
                ("googlekey", "6Le wvk<>"),
                ("pageurl", PAGE),
            ],
        ),
        (
            "userrecaptcha without pageurl",
            &[("key", K), ("method", "userrecaptcha"), ("googlekey", GKEY)],
        ),
        (
            "userrecaptcha with a pageurl that is not a URL",
            &[
                ("key", K),
                ("method", "userrecaptcha"),
                ("googlekey", GKEY),
                ("pageurl", "example.com/login"),
            ],
        ),
        (
            "userrecaptcha v3 with min_score out of range",
            &[
                ("key", K),
                ("method", "userrecaptcha"),
                ("googlekey", GKEY),
                ("pageurl", PAGE),
                ("version", "v3"),
                ("min_score", "1.5"),
            ],
        ),
        (
            "turnstile without sitekey",
            &[("key", K), ("method", "turnstile"), ("pageurl", PAGE)],
        ),
        (
            "turnstile without pageurl",
            &[("key", K), ("method", "turnstile"), ("sitekey", TKEY)],
        ),
        (
            "geetest without gt",
            &[
                ("key", K),
                ("method", "geetest"),
                ("challenge", "abc"),
                ("pageurl", PAGE),
            ],
        ),
        (
            "geetest without challenge",
            &[
                ("key", K),
                ("method", "geetest"),
                ("gt", "abc"),
                ("pageurl", PAGE),
            ],
        ),
        (
            "lemin without div_id",
            &[
                ("key", K),
                ("method", "lemin"),
                ("captcha_id", "CROPPED_x"),
                ("pageurl", PAGE),
            ],
        ),
        (
            "lemin with an api_server that is not a URL",
            &[
                ("key", K),
                ("method", "lemin"),
                ("captcha_id", "CROPPED_x"),
                ("div_id", "d"),
                ("pageurl", PAGE),
                ("api_server", "not a url"),
            ],
        ),
        (
            "grid without instructions",
            &[
                ("key", K),
                ("method", "base64"),
                ("body", &grid_body),
                ("grid_size", "3x3"),
                ("img_type", "recaptcha"),
            ],
        ),
        (
            "grid with a grid_size that is not rows x columns",
            &[
                ("key", K),
                ("method", "base64"),
                ("body", &grid_body),
                ("instructions", "crosswalks"),
                ("grid_size", "abc"),
                ("img_type", "recaptcha"),
            ],
        ),
        (
            "cloudflare_challenge without a proxy",
            &[
                ("key", K),
                ("method", "cloudflare_challenge"),
                ("pageurl", PAGE),
            ],
        ),
        (
            "captchafox without proxytype",
            &[
                ("key", K),
                ("method", "captchafox"),
                ("sitekey", "sk_x"),
                ("pageurl", PAGE),
                ("proxy", "1.2.3.4:8080"),
            ],
        ),
        (
            "a pingback that is not a URL",
            &[
                ("key", K),
                ("method", "turnstile"),
                ("sitekey", TKEY),
                ("pageurl", PAGE),
                ("pingback", "ftp://x"),
            ],
        ),
        (
            "bls without instructions",
            &[("key", K), ("method", "bls"), ("body", "aGVsbG8=")],
        ),
        (
            "bls with 2 of 9 images",
            &[
                ("key", K),
                ("method", "bls"),
                ("instructions", "x"),
                ("image_base64_1", "aGVsbG8="),
                ("image_base64_2", "aGVsbG8="),
            ],
        ),
    ];
    for (title, params) in cases {
        t.step(&env, title, "in.php", params).await;
    }
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn in_php_image_errors() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let b64 = |d: &[u8]| common::b64(d);
    let small = b64(&common::png_header(10, 10, 99));
    let big = b64(&common::png(40, 40, 3)); // about 5 KB > 4096
    let wide = b64(&common::png_header(1001, 10, 200));
    let junk = b64(&[b'x'; 200]);
    let bls_small = format!("data:image/png;base64,{small}");
    let mut bls: Vec<(&str, &str)> = vec![("key", K), ("method", "bls"), ("instructions", "x")];
    let names: Vec<String> = (1..=9).map(|i| format!("image_base64_{i}")).collect();
    let good: Vec<String> = (1..=9).map(data_uri).collect();
    for (i, name) in names.iter().enumerate() {
        bls.push((name, if i == 4 { &bls_small } else { &good[i] }));
    }
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "empty body",
            vec![("key", K), ("method", "base64"), ("body", "")],
        ),
        ("no body", vec![("key", K), ("method", "base64")]),
        (
            "image of 99 bytes",
            vec![("key", K), ("method", "base64"), ("body", &small)],
        ),
        (
            "image over images.max-bytes",
            vec![("key", K), ("method", "base64"), ("body", &big)],
        ),
        (
            "image 1001 pixels wide",
            vec![("key", K), ("method", "base64"), ("body", &wide)],
        ),
        (
            "200 bytes that are no image",
            vec![("key", K), ("method", "base64"), ("body", &junk)],
        ),
        (
            "body that is not base64",
            vec![("key", K), ("method", "base64"), ("body", "@@not base64@@")],
        ),
        (
            "grid image of 99 bytes",
            vec![
                ("key", K),
                ("method", "base64"),
                ("body", &small),
                ("grid_size", "3x3"),
                ("img_type", "recaptcha"),
            ],
        ),
        ("bls with one image of 99 bytes", bls),
    ];
    for (title, params) in &cases {
        t.step(&env, title, "in.php", params).await;
    }
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn in_php_proxy_errors() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let base = [
        ("key", K),
        ("method", "cloudflare_challenge"),
        ("pageurl", PAGE),
    ];
    let with = |proxy: &'static str, kind: &'static str| {
        let mut v = base.to_vec();
        v.push(("proxy", proxy));
        v.push(("proxytype", kind));
        v
    };
    t.step(
        &env,
        "proxy without a port",
        "in.php",
        &with("user:pass@1.2.3.4", "HTTP"),
    )
    .await;
    t.step(
        &env,
        "proxy credentials without a colon",
        "in.php",
        &with("userpass@1.2.3.4:8080", "HTTP"),
    )
    .await;
    t.step(
        &env,
        "proxy port not a number",
        "in.php",
        &with("1.2.3.4:http", "HTTP"),
    )
    .await;
    t.step(
        &env,
        "unknown proxytype",
        "in.php",
        &with("1.2.3.4:8080", "FTP"),
    )
    .await;
    t.step(
        &env,
        "a proxy marked bad (port 0)",
        "in.php",
        &with("user:pass@1.2.3.4:0", "HTTP"),
    )
    .await;
    t.step(
        &env,
        "proxytype is case-insensitive, ip:port is enough",
        "in.php",
        &with("1.2.3.4:1080", "socks5"),
    )
    .await;
    t.step(
        &env,
        "a proxy on a token method is checked too",
        "in.php",
        &[
            ("key", K),
            ("method", "turnstile"),
            ("sitekey", TKEY),
            ("pageurl", PAGE),
            ("proxy", "nohost"),
            ("proxytype", "HTTP"),
        ],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn in_php_hcaptcha_is_a_server_error_on_captchaai() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    t.step(
        &env,
        "hcaptcha (CaptchaAI production answered ERROR_SERVER_ERROR)",
        "in.php",
        &[
            ("key", K),
            ("method", "hcaptcha"),
            ("sitekey", "a5f74b19-9e45-40e0-b45d-47ff91b7a6c2"),
            ("pageurl", PAGE),
        ],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn in_php_broken_bodies() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let url = env.url("in.php");
    let q = |mode: &str| [("key", K.to_owned()), ("json", mode.to_owned())];
    t.raw(
        &env,
        "multipart body that does not parse (key and json in the query)",
        "POST in.php?key=<test key>&json=.. multipart/form-data; boundary=XX, body `garbage`",
        |m| {
            env.http
                .post(&url)
                .query(&q(m))
                .header("content-type", "multipart/form-data; boundary=XX")
                .body("garbage")
        },
    )
    .await;
    let res_url = env.url("res.php");
    t.raw(
        &env,
        "the same broken multipart body on res.php: nothing is uploaded there, so a bad parameter",
        "POST res.php?key=<test key>&action=getbalance&json=.. multipart/form-data; boundary=XX, body `garbage`",
        |m| {
            env.http
                .post(&res_url)
                .query(&[("key", K), ("action", "getbalance"), ("json", m)])
                .header("content-type", "multipart/form-data; boundary=XX")
                .body("garbage")
        },
    )
    .await;
    t.raw(
        &env,
        "multipart content type without a boundary",
        "POST in.php?key=<test key>&json=.. multipart/form-data, body `--x--`",
        |m| {
            env.http
                .post(&url)
                .query(&q(m))
                .header("content-type", "multipart/form-data")
                .body("--x--")
        },
    )
    .await;
    t.raw(
        &env,
        "JSON body that does not parse",
        "POST in.php?key=<test key>&json=.. application/json, body `{\"method\":`",
        |m| {
            env.http
                .post(&url)
                .query(&q(m))
                .header("content-type", "application/json")
                .body("{\"method\":")
        },
    )
    .await;
    t.raw(
        &env,
        "JSON body that is not an object",
        "POST in.php?key=<test key>&json=.. application/json, body `[1,2]`",
        |m| {
            env.http
                .post(&url)
                .query(&q(m))
                .header("content-type", "application/json")
                .body("[1,2]")
        },
    )
    .await;
    t.raw(
        &env,
        "a broken body with a wrong key: the key is checked first",
        "POST in.php?key=short&json=.. application/json, body `[1,2]`",
        |m| {
            env.http
                .post(&url)
                .query(&[("key", "short"), ("json", m)])
                .header("content-type", "application/json")
                .body("[1,2]")
        },
    )
    .await;
    t.raw(
        &env,
        "JSON numbers and booleans become text",
        "POST in.php application/json {\"key\":..,\"method\":\"userrecaptcha\",\"googlekey\":..,\"pageurl\":..,\"enterprise\":true,\"json\":<number>}",
        |m| {
            env.http.post(&url).json(&serde_json::json!({
                "key": K,
                "method": "userrecaptcha",
                "googlekey": GKEY,
                "pageurl": PAGE,
                "enterprise": true,
                "json": m.parse::<u8>().unwrap_or(0),
            }))
        },
    )
    .await;
    t.raw(
        &env,
        "query parameters win over body parameters",
        "POST in.php?json=..&method=turnstile, form body method=nope&json=<other>&key=..&sitekey=..&pageurl=..",
        |m| {
            let other = if m == "1" { "0" } else { "1" };
            env.http
                .post(&url)
                .query(&[("json", m), ("method", "turnstile")])
                .form(&[
                    ("method", "nope"),
                    ("json", other),
                    ("key", K),
                    ("sitekey", TKEY),
                    ("pageurl", PAGE),
                ])
        },
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn in_php_json_default_and_cors() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let tp = common::pairs(&[
        ("key", K),
        ("method", "turnstile"),
        ("sitekey", TKEY),
        ("pageurl", PAGE),
    ]);
    t.run(
        &env,
        "json absent: plain text (the 2captcha default)",
        "in.php",
        &tp,
        &[],
        &Encoding::ALL,
        &[None],
        nothing,
    )
    .await;
    let mut acao = tp.clone();
    acao.push(("header_acao".into(), "1".into()));
    t.run(
        &env,
        "header_acao=1 on a submit",
        "in.php",
        &acao,
        &[],
        &Encoding::ALL,
        &MODES,
        nothing,
    )
    .await;
    t.step(
        &env,
        "header_acao=1 on an error",
        "in.php",
        &[("key", "short"), ("header_acao", "1")],
    )
    .await;
    t.step(
        &env,
        "header_acao=1 on res.php",
        "res.php",
        &[("key", K), ("action", "getbalance"), ("header_acao", "1")],
    )
    .await;
    t.step(
        &env,
        "header_acao=0: no header",
        "res.php",
        &[("key", K), ("action", "getbalance"), ("header_acao", "0")],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

/// A CORS preflight and a HEAD probe are answered without submitting, reading or reporting
/// anything; a JSON body may carry `ids` as an array.
#[tokio::test]
async fn preflight_probe_and_json_array_ids() {
    let env = Env::main().await;
    let submit = format!(
        "in.php?key={K}&method=turnstile&sitekey={TKEY}&pageurl={PAGE}&json=1&header_acao=1"
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
        env.mock.state().task(74_000_000_001).is_none(),
        "neither created a task"
    );
    let a = env
        .submit(&[
            ("method", "turnstile"),
            ("sitekey", TKEY),
            ("pageurl", PAGE),
        ])
        .await;
    let b = env
        .submit(&[
            ("method", "turnstile"),
            ("sitekey", TKEY),
            ("pageurl", PAGE),
        ])
        .await;
    env.solve(a);
    let bulk = common::send(
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

#[tokio::test]
async fn task_id_as_integer() {
    let env = Env::new(
        "captchaai dialect, seed 1, task-id = integer",
        "task-id = \"integer\"\n",
    )
    .await;
    let mut t = Transcript::new(&env);
    let tp = [
        ("key", K),
        ("method", "turnstile"),
        ("sitekey", TKEY),
        ("pageurl", PAGE),
    ];
    t.step(
        &env,
        "submit: the id is a JSON integer (plain text unchanged)",
        "in.php",
        &tp,
    )
    .await;
    let submit = async |env: &Env| {
        env.submit(&tp[1..]).await;
    };
    t.step_after(
        &env,
        "get takes the id as usual",
        "res.php",
        &[("key", K), ("action", "get"), ("id", FIRST)],
        submit,
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn busy_threads() {
    let tp = [
        ("method", "turnstile"),
        ("sitekey", TKEY),
        ("pageurl", PAGE),
    ];
    let with_key: Vec<(&str, &str)> = [("key", K)].into_iter().chain(tp).collect();
    let one_busy = async |env: &Env| {
        env.submit(&tp).await;
    };
    let threads = [("key", K), ("action", "threadsinfo")];
    let mut text = String::new();
    for (label, busy) in [
        ("zero-balance", "zero-balance"),
        ("no-slot", "no-slot"),
        ("queue", "queue"),
    ] {
        let env = Env::new(
            &format!("one thread, busy-threads = {label}"),
            &format!("busy-threads = \"{busy}\"\n[[accounts]]\nkey = \"{K}\"\nthreads = 1\n"),
        )
        .await;
        let mut t = Transcript::new(&env);
        t.step_after(
            &env,
            "second submit while the only thread is busy",
            "in.php",
            &with_key,
            one_busy,
        )
        .await;
        t.step_after(
            &env,
            "threadsinfo with the thread busy",
            "res.php",
            &threads,
            one_busy,
        )
        .await;
        if busy == "queue" {
            let two = async |env: &Env| {
                env.submit(&tp).await;
                env.submit(&tp).await;
            };
            let get2 = [("key", K), ("action", "get"), ("id", "74000000002")];
            t.step_after(&env, "the queued task is not ready", "res.php", &get2, two)
                .await;
            let first_done = async |env: &Env| {
                env.submit(&tp).await;
                env.submit(&tp).await;
                env.solve(74_000_000_001);
            };
            t.step_after(
                &env,
                "threadsinfo once the first is forced done: the queued one holds the thread",
                "res.php",
                &threads,
                first_done,
            )
            .await;
        }
        text.push_str(&t.finish());
    }
    let env = Env::new(
        "an account without threads (no active plan)",
        &format!("[[accounts]]\nkey = \"{K}\"\nthreads = 0\n"),
    )
    .await;
    let mut t = Transcript::new(&env);
    t.step(&env, "submit", "in.php", &with_key).await;
    t.step(&env, "threadsinfo", "res.php", &threads).await;
    text.push_str(&t.finish());
    let env = Env::new("solving.max-tasks = 1", "[solving]\nmax-tasks = 1\n").await;
    let mut t = Transcript::new(&env);
    t.step_after(
        &env,
        "a submit beyond the stored-task cap",
        "in.php",
        &with_key,
        one_busy,
    )
    .await;
    text.push_str(&t.finish());
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn res_php_get() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let tp = [
        ("method", "turnstile"),
        ("sitekey", TKEY),
        ("pageurl", PAGE),
    ];
    let get = |id: &'static str| [("key", K), ("action", "get"), ("id", id)];
    let one = async |env: &Env| {
        env.submit(&tp).await;
    };
    t.step_after(&env, "not ready", "res.php", &get(FIRST), one)
        .await;
    let failed = async |env: &Env| {
        let id = env.submit(&tp).await;
        env.mock
            .state()
            .force(id, ForceResult::Fail(Code::CaptchaUnsolvable))
            .expect("a pending task");
    };
    t.step_after(&env, "forced unsolvable", "res.php", &get(FIRST), failed)
        .await;
    let proxy_failed = async |env: &Env| {
        let id = env.submit(&tp).await;
        env.mock
            .state()
            .force(id, ForceResult::Fail(Code::ProxyConnectionFailed))
            .expect("a pending task");
    };
    t.step_after(
        &env,
        "forced failure with another code",
        "res.php",
        &get(FIRST),
        proxy_failed,
    )
    .await;
    let custom = async |env: &Env| {
        let id = env.submit(&tp).await;
        env.mock
            .state()
            .force(
                id,
                ForceResult::Solve(Some("custom answer with \"quotes\" & | bars".into())),
            )
            .expect("a pending task");
    };
    t.step_after(
        &env,
        "forced solve with a custom answer",
        "res.php",
        &get(FIRST),
        custom,
    )
    .await;
    t.step(&env, "unknown id", "res.php", &get("74000000999"))
        .await;
    t.step(&env, "id 0", "res.php", &get("0")).await;
    t.step(&env, "non-numeric id", "res.php", &get("74000000001x"))
        .await;
    t.step(&env, "negative id", "res.php", &get("-1")).await;
    t.step(
        &env,
        "id beyond u64",
        "res.php",
        &get("99999999999999999999999"),
    )
    .await;
    t.step(&env, "empty id", "res.php", &get("")).await;
    t.step(&env, "no id", "res.php", &[("key", K), ("action", "get")])
        .await;
    let mixed = async |env: &Env| {
        let a = env.submit(&tp).await;
        env.submit(&tp).await;
        let c = env.submit(&tp).await;
        env.solve(a);
        env.mock
            .state()
            .force(c, ForceResult::Fail(Code::CaptchaUnsolvable))
            .expect("a pending task");
    };
    t.step_after(
        &env,
        "bulk get: solved, not ready, unsolvable, unknown, malformed",
        "res.php",
        &[
            ("key", K),
            ("action", "get"),
            ("ids", "74000000001,74000000002,74000000003,74000000999,abc"),
        ],
        mixed,
    )
    .await;
    t.step_after(
        &env,
        "bulk get with one id",
        "res.php",
        &[("key", K), ("action", "get"), ("ids", FIRST)],
        one,
    )
    .await;
    t.step_after(
        &env,
        "bulk get with one id and a trailing comma",
        "res.php",
        &[("key", K), ("action", "get"), ("ids", &format!("{FIRST},"))],
        one,
    )
    .await;
    t.step(
        &env,
        "bulk get with one unknown id: an error, as get answers it",
        "res.php",
        &[("key", K), ("action", "get"), ("ids", "74000000999")],
    )
    .await;
    t.step(
        &env,
        "bulk get with no id",
        "res.php",
        &[("key", K), ("action", "get"), ("ids", "")],
    )
    .await;
    let text = t.finish();
    let other = "another-account-key-000000000001";
    let env = Env::new(
        "two accounts",
        &format!("[[accounts]]\nkey = \"{K}\"\n[[accounts]]\nkey = \"{other}\"\n"),
    )
    .await;
    let mut t = Transcript::new(&env);
    t.step_after(
        &env,
        "another account's task is unknown",
        "res.php",
        &[("key", other), ("action", "get"), ("id", FIRST)],
        one,
    )
    .await;
    t.step_after(
        &env,
        "nor can it be reported",
        "res.php",
        &[("key", other), ("action", "reportbad"), ("id", FIRST)],
        one,
    )
    .await;
    insta::assert_snapshot!(format!("{text}{}", t.finish()));
}

#[tokio::test]
async fn res_php_unsolvable_by_rate() {
    let env = Env::new(
        "solving.unsolvable-rate = 1, every solve takes 0 s",
        "[solving]\nunsolvable-rate = 1.0\ndefault-time = { fixed = \"0s\" }\n",
    )
    .await;
    let mut t = Transcript::new(&env);
    let rp = [
        ("method", "userrecaptcha"),
        ("googlekey", GKEY),
        ("pageurl", PAGE),
    ];
    let one = async |env: &Env| {
        env.submit(&rp).await;
    };
    t.step_after(
        &env,
        "get",
        "res.php",
        &[("key", K), ("action", "get"), ("id", FIRST)],
        one,
    )
    .await;
    t.step_after(
        &env,
        "get2",
        "res.php",
        &[("key", K), ("action", "get2"), ("id", FIRST)],
        one,
    )
    .await;
    t.step_after(
        &env,
        "reportbad on an unsolvable task",
        "res.php",
        &[("key", K), ("action", "reportbad"), ("id", FIRST)],
        one,
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn res_php_account_actions() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    t.step(
        &env,
        "getbalance",
        "res.php",
        &[("key", K), ("action", "getbalance")],
    )
    .await;
    t.step(
        &env,
        "threadsinfo, idle",
        "res.php",
        &[("key", K), ("action", "threadsinfo")],
    )
    .await;
    let two = async |env: &Env| {
        env.submit(&[
            ("method", "turnstile"),
            ("sitekey", TKEY),
            ("pageurl", PAGE),
        ])
        .await;
        env.submit(&[
            ("method", "turnstile"),
            ("sitekey", TKEY),
            ("pageurl", PAGE),
        ])
        .await;
    };
    t.step_after(
        &env,
        "threadsinfo with two tasks solving",
        "res.php",
        &[("key", K), ("action", "threadsinfo")],
        two,
    )
    .await;
    t.step(&env, "no action", "res.php", &[("key", K)]).await;
    t.step(
        &env,
        "empty action",
        "res.php",
        &[("key", K), ("action", " ")],
    )
    .await;
    t.step(
        &env,
        "unknown action",
        "res.php",
        &[("key", K), ("action", "getstats")],
    )
    .await;
    t.step(&env, "no key", "res.php", &[("action", "getbalance")])
        .await;
    t.step(
        &env,
        "wrong key length",
        "res.php",
        &[("key", "abc"), ("action", "getbalance")],
    )
    .await;
    t.step(
        &env,
        "unknown key",
        "res.php",
        &[
            ("key", "0123456789abcdef0123456789abcdef"),
            ("action", "threadsinfo"),
        ],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn res_php_reports() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    let tp = [
        ("method", "turnstile"),
        ("sitekey", TKEY),
        ("pageurl", PAGE),
    ];
    let solved = async |env: &Env| {
        let id = env.submit(&tp).await;
        env.solve(id);
    };
    let reported = async |env: &Env| {
        let id = env.submit(&tp).await;
        env.solve(id);
        assert_eq!(
            env.res(&[("action", "reportgood"), ("id", FIRST)]).await,
            "OK_REPORT_RECORDED"
        );
    };
    let pending = async |env: &Env| {
        env.submit(&tp).await;
    };
    let report =
        |action: &'static str, id: &'static str| [("key", K), ("action", action), ("id", id)];
    t.step_after(
        &env,
        "reportgood on a solved task",
        "res.php",
        &report("reportgood", FIRST),
        solved,
    )
    .await;
    t.step_after(
        &env,
        "reportbad on a solved task",
        "res.php",
        &report("reportbad", FIRST),
        solved,
    )
    .await;
    t.step_after(
        &env,
        "reportbad after reportgood",
        "res.php",
        &report("reportbad", FIRST),
        reported,
    )
    .await;
    t.step_after(
        &env,
        "reportgood twice",
        "res.php",
        &report("reportgood", FIRST),
        reported,
    )
    .await;
    t.step_after(
        &env,
        "report on a task not finished",
        "res.php",
        &report("reportbad", FIRST),
        pending,
    )
    .await;
    t.step(
        &env,
        "report on an unknown task",
        "res.php",
        &report("reportgood", "74000000999"),
    )
    .await;
    t.step(
        &env,
        "report with a non-numeric id",
        "res.php",
        &report("reportgood", "x1"),
    )
    .await;
    t.step(
        &env,
        "report without an id",
        "res.php",
        &[("key", K), ("action", "reportbad")],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn res_php_pingback_registration_captchaai() {
    let env = Env::main().await;
    let mut t = Transcript::new(&env);
    t.step(
        &env,
        "add_pingback",
        "res.php",
        &[
            ("key", K),
            ("action", "add_pingback"),
            ("addr", "http://127.0.0.1:9/hook"),
        ],
    )
    .await;
    t.step(
        &env,
        "add_pingback without addr",
        "res.php",
        &[("key", K), ("action", "add_pingback")],
    )
    .await;
    let added = async |env: &Env| {
        assert_eq!(
            env.res(&[
                ("action", "add_pingback"),
                ("addr", "http://127.0.0.1:9/hook")
            ])
            .await,
            "OK"
        );
        assert_eq!(
            env.res(&[("action", "add_pingback"), ("addr", "hooks.example.com")])
                .await,
            "OK"
        );
    };
    let get = [("key", K), ("action", "get_pingback")];
    t.step(&env, "get_pingback, none registered", "res.php", &get)
        .await;
    t.step_after(
        &env,
        "get_pingback after two add_pingback",
        "res.php",
        &get,
        added,
    )
    .await;
    t.step_after(
        &env,
        "del_pingback one",
        "res.php",
        &[
            ("key", K),
            ("action", "del_pingback"),
            ("addr", "127.0.0.1:9"),
        ],
        added,
    )
    .await;
    t.step_after(
        &env,
        "del_pingback all",
        "res.php",
        &[("key", K), ("action", "del_pingback"), ("addr", "all")],
        added,
    )
    .await;
    t.step(
        &env,
        "del_pingback without addr",
        "res.php",
        &[("key", K), ("action", "del_pingback")],
    )
    .await;
    t.step(
        &env,
        "captchaai dialect: a pingback needs no registration",
        "in.php",
        &[
            ("key", K),
            ("method", "turnstile"),
            ("sitekey", TKEY),
            ("pageurl", PAGE),
            ("pingback", "http://127.0.0.1:9/hook?token=abc"),
        ],
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

/// 2captcha hands a reCAPTCHA worker's cookies back with the token, as sent
/// or as a JSON object with `json_cookies=1`; other methods and the captchaai
/// dialect carry none.
#[tokio::test]
async fn two_captcha_cookies() {
    let env = Env::new("2captcha dialect, seed 1", "dialect = \"2captcha\"\n").await;
    let mut t = Transcript::new(&env);
    let rc = |json: &'static str| {
        [
            ("method", "userrecaptcha"),
            ("googlekey", GKEY),
            ("pageurl", PAGE),
            ("cookies", "KEY1:Value1;KEY2:Value2"),
            ("json_cookies", json),
        ]
    };
    let solved = async |env: &Env, json: &'static str| {
        let id = env.submit(&rc(json)).await;
        env.solve(id);
    };
    let get = |id: &'static str| [("key", K), ("action", "get"), ("id", id)];
    t.step_after(
        &env,
        "cookies as sent",
        "res.php",
        &get(FIRST),
        async |env: &Env| solved(env, "0").await,
    )
    .await;
    t.step_after(
        &env,
        "cookies as a JSON object (json_cookies=1)",
        "res.php",
        &get(FIRST),
        async |env: &Env| solved(env, "1").await,
    )
    .await;
    let turnstile = async |env: &Env| {
        let id = env
            .submit(&[
                ("method", "turnstile"),
                ("sitekey", TKEY),
                ("pageurl", PAGE),
                ("cookies", "KEY1:Value1"),
            ])
            .await;
        env.solve(id);
    };
    t.step_after(
        &env,
        "turnstile: no cookies field",
        "res.php",
        &get(FIRST),
        turnstile,
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn two_captcha_dialect() {
    let env = Env::new(
        "2captcha dialect, seed 1",
        &format!("dialect = \"2captcha\"\n[[accounts]]\nkey = \"{K}\"\n[[accounts]]\nkey = \"poor-account-key-000000000000001\"\nbalance = 0.0\n"),
    )
    .await;
    let mut t = Transcript::new(&env);
    let tp = [
        ("method", "turnstile"),
        ("sitekey", TKEY),
        ("pageurl", PAGE),
    ];
    let with_pb: Vec<(&str, &str)> = [("key", K)]
        .into_iter()
        .chain(tp)
        .chain([("pingback", "http://127.0.0.1:9/hook")])
        .collect();
    t.step(&env, "pingback host not registered", "in.php", &with_pb)
        .await;
    let registered = async |env: &Env| {
        assert_eq!(
            env.res(&[("action", "add_pingback"), ("addr", "127.0.0.1:9")])
                .await,
            "OK"
        );
    };
    t.step_after(
        &env,
        "after add_pingback for the host",
        "in.php",
        &with_pb,
        registered,
    )
    .await;
    let other_host = async |env: &Env| {
        assert_eq!(
            env.res(&[("action", "add_pingback"), ("addr", "127.0.0.1:10")])
                .await,
            "OK"
        );
    };
    t.step_after(
        &env,
        "another host registered, not this one",
        "in.php",
        &with_pb,
        other_host,
    )
    .await;
    let balance = [("key", K), ("action", "getbalance")];
    t.step(&env, "getbalance before any task", "res.php", &balance)
        .await;
    let one = async |env: &Env| {
        env.submit(&tp).await;
    };
    t.step_after(
        &env,
        "getbalance after one turnstile (charged at submit)",
        "res.php",
        &balance,
        one,
    )
    .await;
    let image = async |env: &Env| {
        env.submit_owned(&sdk_params("normal")[1..]).await;
    };
    t.step_after(
        &env,
        "getbalance after one normal captcha",
        "res.php",
        &balance,
        image,
    )
    .await;
    let poor: Vec<(&str, &str)> = [("key", "poor-account-key-000000000000001")]
        .into_iter()
        .chain(tp)
        .collect();
    t.step(&env, "submit with a zero balance", "in.php", &poor)
        .await;
    let solved = async |env: &Env| {
        let id = env.submit(&tp).await;
        env.solve(id);
    };
    let get = |action: &'static str| [("key", K), ("action", action), ("id", FIRST)];
    t.step_after(
        &env,
        "get on a solved turnstile (2captcha adds useragent)",
        "res.php",
        &get("get"),
        solved,
    )
    .await;
    t.step_after(
        &env,
        "get2: answer and price",
        "res.php",
        &get("get2"),
        solved,
    )
    .await;
    t.step_after(
        &env,
        "get2 before it is solved",
        "res.php",
        &get("get2"),
        one,
    )
    .await;
    t.step(
        &env,
        "threadsinfo is CaptchaAI only",
        "res.php",
        &[("key", K), ("action", "threadsinfo")],
    )
    .await;
    t.step(
        &env,
        "hcaptcha is accepted in the 2captcha dialect",
        "in.php",
        &[
            ("key", K),
            ("method", "hcaptcha"),
            ("sitekey", "a5f74b19-9e45-40e0-b45d-47ff91b7a6c2"),
            ("pageurl", PAGE),
        ],
    )
    .await;
    let hcaptcha_solved = async |env: &Env| {
        let id = env
            .submit(&[
                ("method", "hcaptcha"),
                ("sitekey", "a5f74b19-9e45-40e0-b45d-47ff91b7a6c2"),
                ("pageurl", PAGE),
            ])
            .await;
        env.solve(id);
    };
    t.step_after(
        &env,
        "get on a solved hcaptcha",
        "res.php",
        &get("get"),
        hcaptcha_solved,
    )
    .await;
    let grid_solved = async |env: &Env| {
        let id = env.submit_owned(&sdk_params("grid")[1..]).await;
        env.solve(id);
    };
    t.step_after(
        &env,
        "get on a solved grid: 2captcha's click:a/b/c",
        "res.php",
        &get("get"),
        grid_solved,
    )
    .await;
    insta::assert_snapshot!(t.finish());
}

#[tokio::test]
async fn solve_php() {
    let env = Env::new(
        "every solve takes 0 s",
        "[solving]\ndefault-time = { fixed = \"0s\" }\n",
    )
    .await;
    let mut t = Transcript::new(&env);
    let mut normal: Vec<(String, String)> = sdk_params("normal");
    normal.truncate(3);
    t.run(
        &env,
        "solve.php: submit and wait, answered like get",
        "solve.php",
        &normal,
        &[],
        &Encoding::ALL,
        &MODES,
        nothing,
    )
    .await;
    t.step(
        &env,
        "solve.php with an error",
        "solve.php",
        &[("key", K), ("method", "base64")],
    )
    .await;
    let env2 = Env::new(
        "unsolvable-rate = 1, every solve takes 0 s",
        "[solving]\nunsolvable-rate = 1.0\ndefault-time = { fixed = \"0s\" }\n",
    )
    .await;
    let mut t2 = Transcript::new(&env2);
    t2.run(
        &env2,
        "solve.php on an unsolvable task",
        "solve.php",
        &normal,
        &[],
        &Encoding::ALL,
        &MODES,
        nothing,
    )
    .await;
    insta::assert_snapshot!(format!("{}{}", t.finish(), t2.finish()));
}

/// The default 1 MB image limit, and bodies beyond the 32 MiB the mock reads
/// (answered with a code, never a 413).
#[tokio::test]
async fn oversized_bodies() {
    let env = Env::new("defaults (images.max-bytes = 1 MiB)", "").await;
    let mut t = Transcript::new(&env);
    let mut big = common::png_header(10, 10, 1024 * 1024 + 1);
    big[30..].fill(7);
    let file = [FilePart {
        field: "file".into(),
        filename: "big.png".into(),
        content_type: "image/png".into(),
        data: big,
    }];
    let params = common::pairs(&[("key", K), ("method", "post")]);
    t.run(
        &env,
        "an image file of 1 MiB + 1 byte",
        "in.php",
        &params,
        &file,
        &[Encoding::Multipart],
        &MODES,
        nothing,
    )
    .await;
    let huge = vec![b'a'; 32 * 1024 * 1024 + 1];
    for endpoint in ["in.php", "res.php"] {
        let url = env.url(endpoint);
        t.raw(
            &env,
            &format!("{endpoint}: a body of 32 MiB + 1 byte"),
            &format!("POST {endpoint}?key=<test key>&action=getbalance&json=.. form body of 32 MiB + 1 byte"),
            |m| {
                env.http
                    .post(&url)
                    .query(&[("key", K), ("action", "getbalance"), ("json", m)])
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(huge.clone())
            },
        )
        .await;
    }
    insta::assert_snapshot!(t.finish());
}
