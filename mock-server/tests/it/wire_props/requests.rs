//! What the property sends: parameter soups mutated from well-formed requests, of real
//! names and values and junk; files; raw bodies (broken multipart and JSON, binary junk);
//! any HTTP method, any encoding, either dialect's mock.

use std::sync::LazyLock;

use proptest::{prelude::*, sample::select};

use super::K;
use crate::support::{BOUNDARY, FilePart};

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
pub(super) enum Body {
    None,
    Form(Vec<(String, String)>),
    Multipart(Vec<(String, String)>, Vec<FilePart>),
    Json(Vec<(String, String)>),
    /// Bytes with a chosen content type: broken JSON, broken multipart, junk.
    Raw(Option<String>, Vec<u8>),
}

#[derive(Clone, Debug)]
pub(super) struct Req {
    pub(super) endpoint: &'static str,
    pub(super) method: &'static str,
    pub(super) two_captcha: bool,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Body,
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

pub(super) fn req() -> impl Strategy<Value = Req> {
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
