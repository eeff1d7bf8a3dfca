//! The live dashboard over real HTTP: the page (self-contained, linked from `/`), its event
//! stream (a `resync` first, then a `change` when the mock answered a request), and the admin
//! guard in front of both. What the page shows in a browser is tested in the end-to-end
//! crate's browser tests.

use std::time::Duration;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer};

/// Reads the event stream until an event named `name` arrives (at most 20 s); its data.
async fn next_event(resp: &mut reqwest::Response, buf: &mut String, name: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let event = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if event == Some(name) {
                return data.unwrap_or("").to_owned();
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {name} event within 20 s; got {buf:?}"))
            .expect("the stream reads")
            .unwrap_or_else(|| panic!("the stream ended before a {name} event"));
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_page_is_self_contained_and_linked_from_the_root() {
    let mock = MockServer::start().await.unwrap();
    let http = crate::support::http();
    let page = crate::support::send(http.get(format!("{}/__admin/", mock.uri()))).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("<title>captchaai-mock dashboard</title>")
    );
    for outside in ["src=\"http", "href=\"http", "<link", "@import", "src=\"//"] {
        assert!(
            !page.body.contains(outside),
            "{outside}: nothing is fetched from elsewhere"
        );
    }
    for route in [
        "/events",
        "/tasks",
        "/pingbacks",
        "/journal",
        "/pingback/rules",
        "/solve",
        "/fail",
        "/pingback\"",
    ] {
        assert!(page.body.contains(route), "the page uses {route}");
    }
    let root = crate::support::send(http.get(format!("{}/", mock.uri()))).await;
    assert_eq!(root.status, 200);
    assert!(root.body.contains("href=\"/__admin/\""), "{}", root.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_tells_the_page_when_something_happened() {
    let mock = MockServer::start().await.unwrap();
    let http = crate::support::http();
    let mut events = http
        .get(format!("{}/__admin/events", mock.uri()))
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(events.status(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        events.headers()
    );
    let mut buf = String::new();
    // A new page loads everything first.
    assert_eq!(
        next_event(&mut events, &mut buf, "resync").await,
        r#"{"requests":0,"pingbacks":0}"#
    );
    let a =
        crate::support::res_php(&http, &mock.uri(), DEFAULT_KEY, &[("action", "getbalance")]).await;
    assert_eq!(a, "10");
    assert_eq!(
        next_event(&mut events, &mut buf, "change").await,
        r#"{"requests":1,"pingbacks":0}"#
    );
    // After a reset the journals number from 1 again: the page must reload, not page on.
    let reset = http
        .post(format!("{}/__admin/reset", mock.uri()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(
        next_event(&mut events, &mut buf, "resync").await,
        r#"{"requests":1,"pingbacks":0}"#
    );
}

#[tokio::test]
async fn the_dashboard_and_its_stream_need_the_token_when_one_is_set() {
    let mock = MockServer::start_with(Config::from_toml("[admin]\ntoken = \"dash\"\n").unwrap())
        .await
        .unwrap();
    let http = crate::support::http();
    for path in ["/__admin/", "/__admin/events"] {
        let url = format!("{}{path}", mock.uri());
        let refused = http.get(&url).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{path}");
        let allowed = http.get(&url).bearer_auth("dash").send().await.unwrap();
        assert_eq!(allowed.status(), 200, "{path}");
    }
}

/// The dashboard shows what is happening now: the newest tasks, oldest first.
#[tokio::test]
async fn the_newest_tasks_for_the_dashboard() {
    let mock = MockServer::start().await.unwrap();
    let http = crate::support::http();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let a = crate::support::send(http.get(format!("{}/in.php", mock.uri())).query(&[
            ("key", DEFAULT_KEY),
            ("method", "turnstile"),
            ("sitekey", "0x4AAAAAAA"),
            ("pageurl", "https://example.com"),
        ]))
        .await;
        ids.push(
            a.body
                .strip_prefix("OK|")
                .expect("submitted")
                .parse::<u64>()
                .unwrap(),
        );
    }
    let listed = |query: &'static str| {
        let http = http.clone();
        let url = format!("{}/__admin/tasks?{query}", mock.uri());
        async move {
            let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_u64().unwrap())
                .collect::<Vec<u64>>()
        }
    };
    assert_eq!(listed("limit=2&newest=true").await, ids[2..]);
    assert_eq!(listed("limit=2").await, ids[..2]);
    assert_eq!(listed("limit=10&newest=true").await, ids);
}
