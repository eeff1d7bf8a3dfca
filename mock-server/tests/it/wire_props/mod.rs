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
//!
//! This file: the mocks, sending, the properties; [`requests`]: what is sent (generated);
//! [`oracle`]: what an answer may be.

mod oracle;
mod requests;

use std::sync::LazyLock;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer};
use proptest::prelude::*;

use self::{
    oracle::check,
    requests::{Body, Req, req},
};
use crate::support::{Answer, BOUNDARY};

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
