//! Property: whatever arrives at `in.php`, `res.php` or `solve.php` (random
//! parameter soups of real names and junk, any HTTP method, any of the four
//! encodings, binary junk, broken multipart and JSON bodies), the mock never
//! panics, always answers HTTP 200, and the body is one of the protocol's
//! shapes:
//!
//! - `text/plain`: a known code (`support::FAILURE_CODES`, `OK_REPORT_RECORDED`), `OK|...`, `OK`, a bare
//!   number (balance), or, for bulk `get` and `get_pingback`, a `|`/`,` list;
//! - `application/json`: an object with an integer `status` of 0 or 1 whose
//!   `request` is a known error code when `status` is 0, and an id, `OK`,
//!   `OK_REPORT_RECORDED`, a number or an answer without `ERROR` when it is 1.
//!
//! When the query string fixes `json` or `header_acao`, the response format
//! and the CORS header must follow it. One mock per dialect serves every case.

use std::sync::LazyLock;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer};
use proptest::{prelude::*, sample::select};

use crate::support::{Answer, BOUNDARY, FilePart, REPORT_RECORDED, is_code, is_failure_code};
const K: &str = DEFAULT_KEY;

struct Harness {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    captchaai: MockServer,
    two_captcha: MockServer,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // A fast clock so `solve.php` (which waits for the task) returns quickly.
    let fast = "time-scale = 1000.0\n[images]\nmax-bytes = 20000\n";
    let (captchaai, two_captcha) = rt.block_on(async {
        let a = MockServer::start_with(Config::from_toml(fast).expect("config"))
            .await
            .expect("mock starts");
        let b = MockServer::start_with(
            Config::from_toml(&format!("dialect = \"2captcha\"\n{fast}")).expect("config"),
        )
        .await
        .expect("mock starts");
        (a, b)
    });
    Harness {
        rt,
        http: crate::support::http(),
        captchaai,
        two_captcha,
    }
});

const NAMES: &[&str] = &[
    "key",
    "method",
    "json",
    "action",
    "id",
    "ids",
    "body",
    "file",
    "googlekey",
    "sitekey",
    "pageurl",
    "version",
    "enterprise",
    "invisible",
    "min_score",
    "proxy",
    "proxytype",
    "gt",
    "challenge",
    "captcha_id",
    "div_id",
    "api_server",
    "apiServer",
    "pingback",
    "header_acao",
    "instructions",
    "textinstructions",
    "grid_size",
    "img_type",
    "recaptcha",
    "numeric",
    "min_len",
    "max_len",
    "caseSensitive",
    "regsense",
    "image_base64_1",
    "image_base64_5",
    "image_base64_9",
    "addr",
    "soft_id",
    "userAgent",
    "action",
    "method",
];

const VALUES: &[&str] = &[
    K,
    "0123456789abcdef0123456789abcdef",
    "short",
    "1",
    "0",
    "true",
    "",
    " ",
    "v3",
    "base64",
    "post",
    "bls",
    "userrecaptcha",
    "turnstile",
    "cloudflare_challenge",
    "geetest",
    "captchafox",
    "friendly_captcha",
    "lemin",
    "hcaptcha",
    "get",
    "get2",
    "getbalance",
    "threadsinfo",
    "reportgood",
    "reportbad",
    "add_pingback",
    "get_pingback",
    "del_pingback",
    "all",
    "74000000001",
    "74000000002",
    "74000000003",
    "74000000001,74000000002,x",
    "-1",
    "99999999999999999999999",
    "https://example.com/login",
    "http://127.0.0.1:9/hook",
    "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-",
    "user:pass@1.2.3.4:8080",
    "1.2.3.4:0",
    "HTTP",
    "socks5",
    "3x3",
    "4x4",
    "recaptcha",
    "0.7",
    "1.5",
    "ERROR_ZERO_BALANCE",
    "OK|",
    "{\"a\":1}",
    "%%%",
    "a\r\nb",
    "日本語",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(NAMES).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
        1 => "\\PC{0,10}",
    ]
}

fn image_value() -> impl Strategy<Value = String> {
    (1u32..40, 1u32..40, any::<bool>()).prop_map(|(w, h, uri)| {
        let b64 = crate::support::b64(&crate::support::png(w, h, w ^ h));
        if uri {
            format!("data:image/png;base64,{b64}")
        } else {
            b64
        }
    })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(VALUES).prop_map(str::to_owned),
        1 => image_value(),
        1 => "[0-9]{1,25}",
        1 => "\\PC{0,24}",
        1 => proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    (
        proptest::collection::vec((name(), value()), 0..10),
        // Most soups carry the right key, so they get past the key check.
        prop_oneof![3 => Just(Some(K.to_owned())), 1 => Just(None)],
    )
        .prop_map(|(mut v, key)| {
            if let Some(k) = key {
                v.insert(0, ("key".to_owned(), k));
            }
            v
        })
}

/// Well-formed requests real clients send, as starting points for mutation.
/// An endpoint and the parameters of a well-formed request to it.
type Template = (&'static str, Vec<(String, String)>);

fn templates() -> Vec<Template> {
    let page = ("pageurl", "https://example.com/login");
    let gkey = ("googlekey", "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-");
    let proxy = [("proxy", "user:pass@1.2.3.4:8080"), ("proxytype", "HTTP")];
    let img = crate::support::b64(&crate::support::png(20, 10, 1));
    let cell = format!(
        "data:image/png;base64,{}",
        crate::support::b64(&crate::support::png(8, 8, 2))
    );
    let mut bls = vec![("method", "bls"), ("instructions", "x")];
    let names: Vec<String> = (1..=9).map(|i| format!("image_base64_{i}")).collect();
    for n in &names {
        bls.push((n.as_str(), cell.as_str()));
    }
    let submit: Vec<Vec<(&str, &str)>> = vec![
        vec![("method", "base64"), ("body", &img)],
        vec![
            ("method", "base64"),
            ("body", &img),
            ("grid_size", "4x4"),
            ("img_type", "recaptcha"),
        ],
        bls.clone(),
        vec![("method", "userrecaptcha"), gkey, page],
        vec![("method", "userrecaptcha"), gkey, page, ("enterprise", "1")],
        vec![
            ("method", "userrecaptcha"),
            gkey,
            page,
            ("version", "v3"),
            ("action", "verify"),
        ],
        vec![
            ("method", "turnstile"),
            ("sitekey", "0x4AAAAAAAC3DHQFLr1GavRN"),
            page,
        ],
        vec![("method", "cloudflare_challenge"), page, proxy[0], proxy[1]],
        vec![("method", "geetest"), ("gt", "a"), ("challenge", "b"), page],
        vec![
            ("method", "captchafox"),
            ("sitekey", "sk_1"),
            page,
            proxy[0],
            proxy[1],
        ],
        vec![("method", "friendly_captcha"), ("sitekey", "FC1"), page],
        vec![
            ("method", "lemin"),
            ("captcha_id", "C"),
            ("div_id", "d"),
            page,
        ],
        vec![("method", "hcaptcha"), ("sitekey", "s"), page],
        vec![
            ("method", "turnstile"),
            ("sitekey", "s"),
            page,
            ("pingback", "http://127.0.0.1:9/hook"),
        ],
    ];
    let res: Vec<Vec<(&str, &str)>> = vec![
        vec![("action", "get"), ("id", "74000000001")],
        vec![("action", "get"), ("id", "74000000002")],
        vec![("action", "get2"), ("id", "74000000001")],
        vec![
            ("action", "get"),
            ("ids", "74000000001,74000000002,74000000003"),
        ],
        vec![("action", "getbalance")],
        vec![("action", "threadsinfo")],
        vec![("action", "reportgood"), ("id", "74000000001")],
        vec![("action", "reportbad"), ("id", "74000000002")],
        vec![("action", "add_pingback"), ("addr", "127.0.0.1:9")],
        vec![("action", "get_pingback")],
        vec![("action", "del_pingback"), ("addr", "all")],
    ];
    let with_key = |v: &Vec<(&str, &str)>| {
        let mut out = vec![("key".to_owned(), K.to_owned())];
        out.extend(crate::support::pairs(v));
        out
    };
    let mut t: Vec<Template> = Vec::new();
    for v in &submit {
        t.push(("in.php", with_key(v)));
    }
    for v in &res {
        t.push(("res.php", with_key(v)));
    }
    t.push(("solve.php", with_key(&submit[0])));
    t.push(("solve.php", with_key(&submit[6])));
    t
}

static TEMPLATES: LazyLock<Vec<Template>> = LazyLock::new(templates);

/// A template, mutated: pairs dropped, junk pairs added, `json` and
/// `header_acao` set or not, sometimes sent to the wrong endpoint.
fn soup() -> impl Strategy<Value = (&'static str, Vec<(String, String)>)> {
    (
        0..TEMPLATES.len(),
        proptest::collection::vec(prop_oneof![6 => Just(true), 1 => Just(false)], 12),
        proptest::collection::vec((name(), value()), 0..4),
        prop_oneof![
            Just(None),
            Just(Some("1")),
            Just(Some("0")),
            Just(Some("true")),
            Just(Some("x"))
        ],
        prop_oneof![3 => Just(None), 1 => Just(Some("1")), 1 => Just(Some("0"))],
        prop_oneof![
            8 => Just(None),
            1 => select(&["in.php", "res.php", "solve.php"][..]).prop_map(Some),
        ],
    )
        .prop_map(|(i, keep, extra, json, acao, endpoint)| {
            let (ep, base) = &TEMPLATES[i];
            let mut v: Vec<(String, String)> = base
                .iter()
                .enumerate()
                .filter(|(j, _)| keep.get(*j).copied().unwrap_or(true))
                .map(|(_, p)| p.clone())
                .collect();
            for (k, val) in extra {
                let at = (k.len() + val.len()) % (v.len() + 1);
                v.insert(at, (k, val));
            }
            if let Some(j) = json {
                v.push(("json".into(), j.into()));
            }
            if let Some(c) = acao {
                v.push(("header_acao".into(), c.into()));
            }
            (endpoint.unwrap_or(ep), v)
        })
}

#[derive(Clone, Debug)]
enum Body {
    None,
    Form(Vec<(String, String)>),
    Multipart(Vec<(String, String)>, Vec<FilePart>),
    Json(Vec<(String, String)>),
    /// Bytes with a chosen content type: broken JSON, broken multipart, junk.
    Raw(Option<String>, Vec<u8>),
}

#[derive(Clone, Debug)]
struct Req {
    endpoint: &'static str,
    method: &'static str,
    two_captcha: bool,
    query: Vec<(String, String)>,
    body: Body,
}

fn file() -> impl Strategy<Value = FilePart> {
    (
        prop_oneof![Just("file".to_owned()), Just("file_1".to_owned()), name()],
        prop_oneof![
            Just("captcha.png".to_owned()),
            Just("x.bmp".to_owned()),
            Just("noext".to_owned()),
            "\\PC{0,12}"
        ],
        prop_oneof![
            (1u32..60, 1u32..60).prop_map(|(w, h)| crate::support::png(w, h, 7)),
            Just(crate::support::png_header(5000, 5, 300)),
            proptest::collection::vec(any::<u8>(), 0..300),
        ],
    )
        .prop_map(|(field, filename, data)| FilePart {
            field,
            filename,
            content_type: "image/png".into(),
            data,
        })
}

fn raw_body() -> impl Strategy<Value = (Option<String>, Vec<u8>)> {
    let content_type = prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("multipart/form-data; boundary=XX".to_owned())),
        Just(Some(format!("multipart/form-data; boundary={BOUNDARY}"))),
        Just(Some("multipart/form-data".to_owned())),
        Just(Some("application/x-www-form-urlencoded".to_owned())),
        Just(Some("application/octet-stream".to_owned())),
        "[ -~]{0,30}".prop_map(Some),
    ];
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        Just(b"{\"key\":".to_vec()),
        Just(b"[1,2,3]".to_vec()),
        Just(b"{\"key\":null,\"json\":true,\"x\":{\"y\":[1]}}".to_vec()),
        Just(b"--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nabc".to_vec()),
        (
            pairs(),
            proptest::collection::vec(file(), 0..2),
            0usize..400
        )
            .prop_map(|(p, f, cut)| {
                // A valid multipart body, truncated somewhere.
                let mut b = crate::support::multipart_body(&p, &f);
                b.truncate(cut.min(b.len()));
                b
            }),
    ];
    (content_type, bytes)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    None,
    Form,
    Multipart,
    Json,
    Raw,
}

fn req() -> impl Strategy<Value = Req> {
    let kind = prop_oneof![
        3 => Just(Kind::None),
        3 => Just(Kind::Form),
        2 => Just(Kind::Multipart),
        2 => Just(Kind::Json),
        1 => Just(Kind::Raw),
    ];
    (
        prop_oneof![4 => soup(), 1 => (select(&["in.php", "res.php"][..]), pairs())],
        0usize..16,
        kind,
        proptest::collection::vec(file(), 0..3),
        raw_body(),
        select(&["GET", "POST", "POST", "PUT", "PATCH", "DELETE"][..]),
        any::<bool>(),
    )
        .prop_map(
            |((endpoint, pairs), split, kind, files, raw, method, two_captcha)| {
                // The first `split` pairs travel in the query, the rest in the body.
                let split = match kind {
                    Kind::None => pairs.len(),
                    _ => split.min(pairs.len()),
                };
                let query = pairs[..split].to_vec();
                let rest = pairs[split..].to_vec();
                let body = match kind {
                    Kind::None => Body::None,
                    Kind::Form => Body::Form(rest),
                    Kind::Multipart => Body::Multipart(rest, files),
                    Kind::Json => Body::Json(rest),
                    Kind::Raw => Body::Raw(raw.0, raw.1),
                };
                Req {
                    endpoint,
                    method,
                    two_captcha,
                    query,
                    body,
                }
            },
        )
}

async fn send(h: &Harness, r: &Req) -> Answer {
    let mock = if r.two_captcha {
        &h.two_captcha
    } else {
        &h.captchaai
    };
    let url = format!("{}/{}", mock.uri(), r.endpoint);
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).expect("a method");
    let mut b = h.http.request(method, &url);
    if !r.query.is_empty() {
        b = b.query(&r.query);
    }
    b = match &r.body {
        Body::None => b,
        Body::Form(p) => b.form(p),
        Body::Json(p) => {
            let map: serde_json::Map<String, serde_json::Value> = p
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            b.json(&map)
        }
        Body::Multipart(p, f) => b
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(crate::support::multipart_body(p, f)),
        Body::Raw(ct, bytes) => {
            let b = match ct {
                Some(ct) => b.header("content-type", ct.as_str()),
                None => b,
            };
            b.body(bytes.clone())
        }
    };
    crate::support::send(b).await
}

fn flag(v: &str) -> bool {
    matches!(v.trim(), "1" | "true" | "True" | "TRUE" | "yes")
}

/// Every pair the request carries anywhere (query and any body form).
fn all_pairs(r: &Req) -> Vec<&(String, String)> {
    let mut v: Vec<&(String, String)> = r.query.iter().collect();
    match &r.body {
        Body::Form(p) | Body::Json(p) | Body::Multipart(p, _) => v.extend(p.iter()),
        Body::None | Body::Raw(..) => {}
    }
    v
}

/// What the request could have asked for that loosens the shape checks.
struct Context {
    bulk: bool,
    pingback_list: bool,
    threadsinfo: bool,
}

fn context(r: &Req) -> Context {
    let pairs = all_pairs(r);
    // Raw bodies may carry anything: assume the loosest context.
    let raw = matches!(r.body, Body::Raw(..));
    let has = |k: &str, v: &str| pairs.iter().any(|(pk, pv)| pk == k && pv.trim() == v);
    Context {
        bulk: raw || pairs.iter().any(|(k, _)| k == "ids"),
        pingback_list: raw || has("action", "get_pingback"),
        threadsinfo: raw || has("action", "threadsinfo"),
    }
}

fn plain_ok(body: &str, cx: &Context) -> Result<(), String> {
    if is_code(body)
        || body == "OK"
        || (body.starts_with("OK|") && body.len() > 3 && !body.contains("ERROR"))
        || (!body.is_empty() && body.parse::<f64>().is_ok())
    {
        return Ok(());
    }
    if cx.bulk
        && body
            .split('|')
            .all(|p| is_code(p) || (!p.is_empty() && !p.contains("ERROR")))
    {
        return Ok(());
    }
    if cx.pingback_list {
        return Ok(()); // the hosts the client registered, verbatim
    }
    Err(format!("plain body is no protocol answer: {body:?}"))
}

fn json_ok(body: &str, cx: &Context) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| format!("JSON body does not parse ({e}): {body:?}"))?;
    let status = v
        .get("status")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("no integer status: {body}"))?;
    let request = v
        .get("request")
        .ok_or_else(|| format!("no request: {body}"))?;
    match (status, request) {
        (0, serde_json::Value::String(s)) if is_failure_code(s) => Ok(()),
        (1, serde_json::Value::Number(n)) if n.is_u64() => Ok(()),
        (1, serde_json::Value::String(s)) => {
            // A threadsinfo answer carries both counts as integers (its exact
            // shape is pinned by the snapshots); a bare `OK` is add/del_pingback.
            let counts = v.get("threads").is_some() || v.get("working_threads").is_some();
            if s == "OK" && cx.threadsinfo && counts {
                let int = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).is_some();
                return if int("threads") && int("working_threads") {
                    Ok(())
                } else {
                    Err(format!("threadsinfo without integer counts: {body}"))
                };
            }
            if s == REPORT_RECORDED || s == "OK" || cx.pingback_list {
                return Ok(());
            }
            if cx.bulk {
                return Ok(()); // codes and answers joined by `|`
            }
            if s.is_empty() || s.contains("ERROR") {
                return Err(format!(
                    "a successful answer must be non-empty and free of ERROR: {body}"
                ));
            }
            Ok(())
        }
        _ => Err(format!("status/request do not fit the protocol: {body}")),
    }
}

fn check(r: &Req, a: &Answer) -> Result<(), String> {
    if a.status != 200 {
        return Err(format!("HTTP {} (always 200): {:?}", a.status, a.body));
    }
    let cx = context(r);
    let is_json = a.content_type == "application/json";
    if is_json {
        json_ok(&a.body, &cx)?;
    } else if a.content_type == "text/plain; charset=utf-8" {
        plain_ok(&a.body, &cx)?;
    } else {
        return Err(format!("unexpected content type {:?}", a.content_type));
    }
    // The query string comes first: when it carries `json` or `header_acao`,
    // its first value decides.
    let first = |k: &str| {
        r.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    if let Some(j) = first("json")
        && !cx.threadsinfo
        && flag(j) != is_json
    {
        return Err(format!(
            "json={j:?} in the query, but the answer is {}",
            a.content_type
        ));
    }
    if let Some(c) = first("header_acao")
        && flag(c) != a.acao.is_some()
    {
        return Err(format!(
            "header_acao={c:?} in the query, but CORS header is {:?}",
            a.acao
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 160,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_request_gets_a_protocol_answer(reqs in proptest::collection::vec(req(), 1..4)) {
        let h = &*HARNESS;
        for r in &reqs {
            let a = h.rt.block_on(send(h, r));
            if let Err(why) = check(r, &a) {
                prop_assert!(false, "{why}\nrequest: {r:#?}");
            }
        }
    }
}

/// The mocks are still healthy after the soup: a plain request still works.
#[test]
fn still_serving_after_junk() {
    let h = &*HARNESS;
    let junk = Req {
        endpoint: "in.php",
        method: "POST",
        two_captcha: false,
        query: vec![("key".into(), K.into())],
        body: Body::Raw(
            Some(format!("multipart/form-data; boundary={BOUNDARY}")),
            vec![0xFF; 1000],
        ),
    };
    let a = h.rt.block_on(send(h, &junk));
    assert_eq!((a.status, a.body.as_str()), (200, "ERROR_UPLOAD"));
    let balance = h.rt.block_on(crate::support::send(
        h.http
            .get(format!("{}/res.php", h.captchaai.uri()))
            .query(&[("key", K), ("action", "getbalance")]),
    ));
    assert_eq!((balance.status, balance.body.as_str()), (200, "10"));
}

/// The oracle itself must be able to fail: broken answers are rejected.
#[test]
fn the_oracle_rejects_broken_answers() {
    let req = |query: &[(&str, &str)]| Req {
        endpoint: "res.php",
        method: "GET",
        two_captcha: false,
        query: crate::support::pairs(query),
        body: Body::None,
    };
    let plain = |status: u16, body: &str| Answer {
        status,
        content_type: "text/plain; charset=utf-8".into(),
        acao: None,
        body: body.into(),
    };
    let json = |body: &str| Answer {
        content_type: "application/json".into(),
        ..plain(200, body)
    };
    let get = req(&[("key", K), ("action", "get"), ("id", "1")]);
    assert!(check(&get, &plain(200, "CAPCHA_NOT_READY")).is_ok());
    assert!(check(&get, &plain(200, "OK|token")).is_ok());
    assert!(
        check(
            &get,
            &json(r#"{"status":0,"request":"ERROR_WRONG_CAPTCHA_ID"}"#)
        )
        .is_ok()
    );
    let broken = [
        plain(500, "ERROR_SERVER_ERROR"),
        plain(200, "Internal Server Error"),
        plain(200, "OK|"),
        plain(200, ""),
        plain(200, "OK|ERROR_CAPTCHA_UNSOLVABLE"),
        json(r#"{"status":1,"request":"ERROR_CAPTCHA_UNSOLVABLE"}"#),
        json(r#"{"status":0,"request":"NOT_A_CODE"}"#),
        json(r#"{"status":"1","request":"abc"}"#),
        json(r#"{"request":"abc"}"#),
        json(r#"{"status":2,"request":"abc"}"#),
        json("not json"),
        Answer {
            content_type: "text/html".into(),
            ..plain(200, "OK|x")
        },
    ];
    for a in &broken {
        assert!(check(&get, a).is_err(), "accepted {a:?}");
    }
    // The query decides the format and the CORS header.
    let want_json = req(&[("key", K), ("action", "get"), ("id", "1"), ("json", "1")]);
    assert!(check(&want_json, &plain(200, "CAPCHA_NOT_READY")).is_err());
    let want_cors = req(&[("key", K), ("header_acao", "1")]);
    assert!(check(&want_cors, &plain(200, "ERROR_EMPTY_ACTION")).is_err());
    let cors = Answer {
        acao: Some("*".into()),
        ..plain(200, "ERROR_EMPTY_ACTION")
    };
    assert!(check(&want_cors, &cors).is_ok());
    assert!(
        check(&get, &cors).is_ok(),
        "no header_acao in the query: either is fine"
    );
}
