//! API faults (`[[api.rules]]`) as a client meets them over a real socket: error pages, a
//! connection closed without an answer, a stall, an answer cut short, a late answer, another
//! code; matched by endpoint, action, method and ordinal, drawn from one seeded stream per
//! request ordinal, journalled with the request, and replaced at run time by the admin API.

use std::time::Duration;

use captchaai_mock::{
    ApiFault, ApiFaultRule, ApiRuleMatch, Config, DEFAULT_KEY, MockServer, OrdinalRange, PageBody,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support;

const K: &str = DEFAULT_KEY;

fn on(endpoint: &str) -> ApiRuleMatch {
    ApiRuleMatch {
        endpoints: vec![endpoint.into()],
        ..ApiRuleMatch::default()
    }
}

async fn mock(rules: Vec<ApiFaultRule>) -> MockServer {
    let mut b = MockServer::builder();
    for r in rules {
        b = b.api_rule(r);
    }
    b.start().await.expect("mock starts")
}

fn balance_url(m: &MockServer) -> String {
    format!("{}/res.php?key={K}&action=getbalance", m.uri())
}

/// The raw bytes a request gets back, until the server closes the connection.
async fn raw_get(m: &MockServer, path_and_query: &str) -> Vec<u8> {
    let addr = m.uri().trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    out
}

#[tokio::test]
async fn error_pages_look_like_the_services_front_ends() {
    let m = mock(vec![
        ApiFaultRule::always(ApiFault::Page {
            status: 502,
            body: PageBody::Html,
        })
        .matching(ApiRuleMatch {
            requests: Some(OrdinalRange { from: 1, to: 1 }),
            ..on("res.php")
        }),
        ApiFaultRule::always(ApiFault::Page {
            status: 521,
            body: PageBody::Html,
        })
        .matching(ApiRuleMatch {
            requests: Some(OrdinalRange { from: 2, to: 2 }),
            ..on("res.php")
        }),
        ApiFaultRule::always(ApiFault::Page {
            status: 503,
            body: PageBody::Empty,
        })
        .matching(ApiRuleMatch {
            requests: Some(OrdinalRange { from: 3, to: 3 }),
            ..on("res.php")
        }),
    ])
    .await;
    let http = support::http();
    let answers: Vec<(u16, String, String)> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            let r = http.get(balance_url(&m)).send().await.expect("an answer");
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            v.push((r.status().as_u16(), ct, r.text().await.expect("body")));
        }
        v
    };
    insta::assert_snapshot!("nginx_502_page", answers[0].2);
    insta::assert_snapshot!("cloudflare_521_page", answers[1].2);
    assert_eq!(answers[0].0, 502);
    assert!(answers[0].1.starts_with("text/html"), "{:?}", answers[0]);
    assert!(answers[0].2.contains("<title>502 Bad Gateway</title>"));
    assert!(answers[0].2.contains("<center>nginx</center>"));
    assert_eq!(answers[1].0, 521);
    assert!(answers[1].2.contains("Web server is down"));
    assert!(answers[1].2.contains("Cloudflare Ray ID"));
    assert_eq!((answers[2].0, answers[2].2.as_str()), (503, ""));
    assert_eq!(
        answers[3],
        (200, "text/plain; charset=utf-8".into(), "10".into())
    );

    let journal = m.journal().endpoint("res.php").list();
    let faults: Vec<(Option<&str>, &str)> = journal
        .iter()
        .map(|e| (e.fault.as_deref(), e.answer.as_ref()))
        .collect();
    assert_eq!(
        faults,
        [
            (Some("html 502"), "HTTP 502"),
            (Some("html 521"), "HTTP 521"),
            (Some("empty 503"), "HTTP 503"),
            (None, "10"),
        ]
    );
}

#[tokio::test]
async fn a_reset_closes_the_connection_without_an_answer() {
    let m = mock(vec![
        ApiFaultRule::always(ApiFault::Reset).matching(on("res.php")),
    ])
    .await;
    // A real client sees a connection error, not a response.
    let err = support::http()
        .get(balance_url(&m))
        .send()
        .await
        .expect_err("no answer");
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    assert!(err.status().is_none(), "{err:?}");
    // Nothing at all comes back on the socket.
    let raw = raw_get(&m, &format!("/res.php?key={K}&action=getbalance")).await;
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    let journal = m.journal().endpoint("res.php").list();
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].answer, "(reset: no answer)");
    assert_eq!(journal[0].fault.as_deref(), Some("reset"));
}

#[tokio::test]
async fn a_truncated_answer_promises_more_than_it_sends() {
    let m = mock(vec![
        ApiFaultRule::always(ApiFault::Truncated).matching(on("in.php")),
    ])
    .await;
    let path = format!(
        "/in.php?key={K}&method=turnstile&sitekey=0x4AAAAAAA&pageurl=https://example.com&json=1"
    );
    let raw = String::from_utf8(raw_get(&m, &path).await).expect("utf-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head, then a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let promised: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("a Content-Length")
        .parse()
        .expect("a number");
    let whole = r#"{"status":1,"request":"74000000001"}"#;
    assert_eq!(promised, whole.len());
    assert_eq!(body, &whole[..whole.len() / 2], "half of it, then the end");
    // The request was processed: the task exists, and the journal says how it was sent.
    assert!(m.task(74_000_000_001).is_some());
    let e = &m.journal().endpoint("in.php").list()[0];
    assert_eq!(e.answer, "(truncated: OK|74000000001)");
    assert_eq!(e.task_id, Some(74_000_000_001));
    // A real client fails reading the body.
    let r = support::http()
        .get(format!("{}{path}", m.uri()))
        .send()
        .await
        .expect("the head arrives");
    assert!(r.text().await.is_err(), "the body cannot be read whole");
}

#[tokio::test(start_paused = true)]
async fn a_stall_outlasts_the_clients_timeout_and_a_delay_does_not() {
    let m = mock(vec![
        ApiFaultRule::always(ApiFault::Stall(Duration::from_secs(90))).matching(ApiRuleMatch {
            requests: Some(OrdinalRange { from: 1, to: 1 }),
            ..on("res.php")
        }),
        ApiFaultRule::always(ApiFault::Delay(captchaai_mock::Distribution::Fixed(
            Duration::from_secs(4),
        )))
        .matching(on("res.php"))
        .named("slow"),
    ])
    .await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let start = tokio::time::Instant::now();
    let err = http.get(balance_url(&m)).send().await.expect_err("stalled");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        start.elapsed().as_secs(),
        30,
        "the client's own timeout fired"
    );
    let start = tokio::time::Instant::now();
    let body = http
        .get(balance_url(&m))
        .send()
        .await
        .expect("late, but an answer")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "10");
    assert_eq!(start.elapsed().as_secs(), 4);
    let journal = m.journal().endpoint("res.php").list();
    assert_eq!(journal[0].answer, "(stalled: no answer)");
    assert_eq!(journal[0].fault.as_deref(), Some("stall 1m 30s"));
    assert_eq!(journal[1].answer, "10");
    assert_eq!(journal[1].fault.as_deref(), Some("delay 4s (slow)"));
}

#[tokio::test]
async fn an_answer_fault_is_any_code_in_the_requests_format() {
    let cfg = Config::from_toml(
        "dialect = \"2captcha\"\n[[api.rules]]\nmatch = { endpoints = [\"in.php\"], actions = [\"turnstile\"], http-methods = [\"POST\"] }\nfault = { answer = \"ERROR_NO_SLOT_AVAILABLE\" }\n",
    )
    .expect("config");
    let m = MockServer::start_with(cfg).await.expect("mock");
    let http = support::http();
    let submit = |json: &'static str| {
        http.post(format!("{}/in.php", m.uri())).form(&[
            ("key", K),
            ("method", "turnstile"),
            ("sitekey", "0x4AAAAAAA"),
            ("pageurl", "https://example.com"),
            ("json", json),
        ])
    };
    assert_eq!(
        support::send(submit("0")).await.body,
        "ERROR_NO_SLOT_AVAILABLE"
    );
    let json = support::send(submit("1")).await.body;
    assert!(
        json.starts_with(r#"{"status":0,"request":"ERROR_NO_SLOT_AVAILABLE","error_text":"#),
        "{json}"
    );
    // The same submit by GET does not fit `http-methods`, so it is answered.
    let get = support::send(http.get(format!(
        "{}/in.php?key={K}&method=turnstile&sitekey=0x4AAAAAAA&pageurl=https://example.com",
        m.uri()
    )))
    .await;
    assert_eq!(get.body, "OK|74000000001");
    assert_eq!(m.tasks().len(), 1, "the faulted submits created no task");
}

/// One stream per request ordinal: the same requests in the same order draw the same faults,
/// and the requests of one endpoint do not shift the other's.
#[tokio::test]
async fn faults_follow_the_seed_and_each_endpoints_ordinals() {
    let rules = || {
        vec![
            ApiFaultRule::always(ApiFault::Answer("ERROR_SERVER_ERROR".into()))
                .with_probability(0.5)
                .matching(on("res.php")),
        ]
    };
    let pattern = |extra_submits: usize| {
        let rules = rules();
        async move {
            let m = mock(rules).await;
            let http = support::http();
            let mut seen = Vec::new();
            for i in 0..24 {
                if i < extra_submits {
                    // Requests to in.php in between change nothing at res.php.
                    let _ =
                        support::send(http.get(format!("{}/in.php?key={K}&method=nope", m.uri())))
                            .await;
                }
                seen.push(support::send(http.get(balance_url(&m))).await.body == "10");
            }
            seen
        }
    };
    let a = pattern(0).await;
    assert_eq!(a, pattern(0).await, "the same seed, the same faults");
    assert_eq!(a, pattern(24).await, "in.php's ordinals are its own");
    let faulted = a.iter().filter(|ok| !**ok).count();
    assert!((4..=20).contains(&faulted), "about half of 24: {faulted}");
}

#[tokio::test]
async fn the_admin_api_reads_and_replaces_the_rules() {
    let cfg = Config::from_toml("[api]\nserver-error-rate = 0.25\n").expect("config");
    let m = MockServer::start_with(cfg).await.expect("mock");
    let http = support::http();
    let url = format!("{}/__admin/api/rules", m.uri());
    let rules: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        rules,
        serde_json::json!([
            {"name": "http-error-rate", "probability": 0.0, "match": {"endpoints": ["in.php"]}, "fault": {"status": 503, "body": "empty"}},
            {"name": "server-error-rate", "probability": 0.25, "match": {"endpoints": ["in.php"]}, "fault": {"answer": "ERROR_SERVER_ERROR"}},
        ]),
        "the legacy rate as the rules it stands for"
    );
    let put = http
        .put(&url)
        .body(r#"[{"match": {"endpoints": ["res.php"]}, "fault": "reset"}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert!(http.get(balance_url(&m)).send().await.is_err(), "now reset");
    let bad = http
        .put(&url)
        .body(r#"[{"fault": {"status": 502, "stall": "1s"}}]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(text.contains("exactly one of"), "{text}");
    assert_eq!(m.api_rules().len(), 1, "a refused body changes nothing");
    m.reset();
    assert_eq!(
        m.api_rules().len(),
        2,
        "reset goes back to the configured rules"
    );
}
