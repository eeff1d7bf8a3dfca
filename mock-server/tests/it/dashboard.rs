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

/// A browser cannot send the bearer header on a page load: with a token set it signs in
/// once with a form, and its cookie then opens the dashboard, its stream and the JSON routes
/// the page fetches, but never on another site's behalf.
#[tokio::test]
async fn a_browser_signs_in_with_the_token_and_its_cookie_opens_the_dashboard() {
    let mock = MockServer::start_with(Config::from_toml("[admin]\ntoken = \"dash\"\n").unwrap())
        .await
        .unwrap();
    let base = mock.uri();
    // As a browser does it: redirects are looked at, not followed.
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let html = "text/html,application/xhtml+xml,*/*;q=0.8";

    // A page load without a credential: the form, not the JSON error.
    let page = http.get(format!("{base}/__admin/")).header("accept", html);
    let form = page.send().await.unwrap();
    assert_eq!(form.status(), 401);
    let form = form.text().await.unwrap();
    assert!(form.contains("action=\"/__admin/login\""), "{form}");
    assert!(form.contains("name=\"token\""), "{form}");
    // A script still gets JSON.
    let script = http
        .get(format!("{base}/__admin/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 401);
    assert!(script.text().await.unwrap().contains("\"error\""));

    let login = |token: &'static str| {
        http.post(format!("{base}/__admin/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let wrong = login("dashX").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(wrong.text().await.unwrap().contains("not the admin token"));

    let signed_in = login("dash").await.unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/__admin/");
    let set = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in [
        "captchaai_admin=dash",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/__admin",
    ] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    assert!(!set.contains("Secure"), "no Secure over plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();

    for path in [
        "/__admin/",
        "/__admin/events",
        "/__admin/tasks?newest=true&limit=5",
    ] {
        let opened = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 200, "{path} with the cookie");
    }
    // The page's own requests carry its origin; another site's do not pass.
    let own = http
        .post(format!("{base}/__admin/reset"))
        .header("cookie", &cookie)
        .header("origin", base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let forged = http
        .post(format!("{base}/__admin/reset"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("another site"));
    // A cookie with another token is no credential.
    let stale = http
        .get(format!("{base}/__admin/health"))
        .header("cookie", "captchaai_admin=old")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
}

/// The ids `GET /__admin/tasks?{query}` lists, in its order.
async fn listed_ids(http: &reqwest::Client, mock: &MockServer, query: &str) -> Vec<u64> {
    let url = format!("{}/__admin/tasks?{query}", mock.uri());
    let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
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
    let listed = |query: &'static str| listed_ids(&http, &mock, query);
    assert_eq!(listed("limit=2&newest=true").await, ids[2..]);
    assert_eq!(listed("limit=2").await, ids[..2]);
    assert_eq!(listed("limit=10&newest=true").await, ids);
}

/// The newest tasks are found by walking down from the last id; when most of the newest ids
/// expired, the walk gives up and the answer is still the newest stored tasks.
#[tokio::test]
async fn the_newest_tasks_skip_expired_ones() {
    // Turnstile tasks finish at once and expire a real second later; reCAPTCHA ones stay.
    let cfg = Config::from_toml(
        "time-scale = 100.0\nbusy-threads = \"queue\"\n[solving]\nresult-ttl = \"1s\"\n[solving.times]\n\
         turnstile = { fixed = \"1s\" }\nrecaptcha-v2 = { fixed = \"1h\" }\n",
    )
    .unwrap();
    let mock = MockServer::start_with(cfg).await.unwrap();
    let http = crate::support::http();
    let submit = |method: &'static str| {
        let (http, uri) = (http.clone(), mock.uri());
        async move {
            let query: &[(&str, &str)] = match method {
                "turnstile" => &[("sitekey", "0x4AAAAAAA")],
                _ => &[("googlekey", "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-")],
            };
            let a = crate::support::send(
                http.get(format!("{uri}/in.php"))
                    .query(&[
                        ("key", DEFAULT_KEY),
                        ("method", method),
                        ("pageurl", "https://example.com"),
                    ])
                    .query(query),
            )
            .await;
            a.body
                .strip_prefix("OK|")
                .unwrap_or_else(|| panic!("submitted: {}", a.body))
                .parse::<u64>()
                .unwrap()
        }
    };
    let mut kept = vec![submit("userrecaptcha").await, submit("userrecaptcha").await];
    for _ in 0..150 {
        submit("turnstile").await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Each submit forgets up to 64 expired tasks: three forget all 150.
    for _ in 0..3 {
        kept.push(submit("userrecaptcha").await);
    }
    let listed = |query: &'static str| listed_ids(&http, &mock, query);
    assert_eq!(
        listed("limit=1000").await,
        kept,
        "only the reCAPTCHA tasks are stored"
    );
    assert_eq!(listed("limit=5&newest=true").await, kept);
    assert_eq!(listed("limit=4&newest=true").await, kept[1..]);
    assert_eq!(listed("limit=2&newest=true").await, kept[3..]);
}
