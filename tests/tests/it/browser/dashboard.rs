//! The mock's live dashboard in Chromium: a task submitted while the page is open appears,
//! and so does its pingback attempt when it is delivered, without a reload; the force-solve
//! button finishes a task; with an admin token, the browser signs in and all of it works.

use std::time::Duration;

use captchaai_mock::{Config, DEFAULT_KEY, MockServer};
use fantoccini::Locator;

use super::Browser;

/// A receiver that answers every callback 200; its URL.
async fn receiver() -> (String, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let app = axum::Router::new().route("/hook", axum::routing::any(|| async { "OK" }));
    let until = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(until.cancelled_owned())
            .await;
    });
    (url, stop)
}

async fn submit(http: &reqwest::Client, mock: &MockServer, params: &[(&str, &str)]) -> String {
    let mut query = vec![("key", DEFAULT_KEY)];
    query.extend_from_slice(params);
    let body = http
        .get(format!("{}/in.php", mock.uri()))
        .query(&query)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.strip_prefix("OK|")
        .unwrap_or_else(|| panic!("submitted: {body}"))
        .to_owned()
}

/// A reCAPTCHA task that finishes in an hour: something for the solve button.
async fn submit_slow(http: &reqwest::Client, mock: &MockServer) -> String {
    submit(
        http,
        mock,
        &[
            ("method", "userrecaptcha"),
            ("googlekey", "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-"),
            ("pageurl", "https://example.com/login"),
        ],
    )
    .await
}

/// Clicks task `id`'s force-solve button and waits until the page shows it solved.
async fn click_solve(b: &Browser, id: &str) {
    let button = format!(
        "#tasks tr[data-task=\"{id}\"][data-state=\"pending\"] button[data-action=\"solve\"]:not([disabled])"
    );
    // The table is redrawn on every update: a button found just before a redraw is gone,
    // so find and click again (bounded).
    let mut clicked = false;
    for _ in 0..10 {
        let found = b.wait_for(&button).await;
        if found.click().await.is_ok() {
            clicked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(clicked, "the solve button of task {id} could be clicked");
    b.wait_for(&format!(
        "#tasks tr[data-task=\"{id}\"][data-state=\"solved\"]"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_tasks_and_pingbacks_live_and_force_solves() {
    // Turnstile tasks finish after 5 simulated seconds (half a real second); reCAPTCHA ones
    // after an hour, so the button has something to finish.
    let cfg = Config::from_toml(
        "time-scale = 10.0\n[solving.times]\nturnstile = { fixed = \"5s\" }\n\
         recaptcha-v2 = { fixed = \"1h\" }\n",
    )
    .unwrap();
    let mock = MockServer::start_with(cfg).await.unwrap();
    let (hook, stop_receiver) = receiver().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let b = Browser::start().await;
    b.client
        .goto(&format!("{}/__admin/", mock.uri()))
        .await
        .unwrap();
    b.wait_for("#live.on").await;
    // Set on this page: a reload would lose it.
    b.client
        .execute("window.sameDocument = 'yes'; return true", vec![])
        .await
        .unwrap();

    let id = submit(
        &http,
        &mock,
        &[
            ("method", "turnstile"),
            ("sitekey", "0x4AAAAAAA"),
            ("pageurl", "https://example.com"),
            ("pingback", &hook),
        ],
    )
    .await;
    b.wait_for(&format!("#tasks tr[data-task=\"{id}\"]")).await;
    let attempt = b
        .wait_for(&format!(
            "#attempts tr[data-task=\"{id}\"][data-outcome=\"delivered\"]"
        ))
        .await;
    let text = attempt.text().await.unwrap();
    assert!(text.contains("genuine") && text.contains("200"), "{text}");
    b.wait_for(&format!(
        "#tasks tr[data-task=\"{id}\"][data-state=\"solved\"] td.pingbacks[data-attempts=\"1\"] rect.o-delivered"
    ))
    .await;
    let same = b
        .client
        .execute("return window.sameDocument || null", vec![])
        .await
        .unwrap();
    assert_eq!(same, "yes", "shown without a reload");

    // Force-solve a task an hour from finishing.
    let slow = submit_slow(&http, &mock).await;
    click_solve(&b, &slow).await;
    let task: serde_json::Value = http
        .get(format!("{}/__admin/tasks/{slow}", mock.uri()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (task["state"].as_str(), task["forced"].as_bool()),
        (Some("solved"), Some(true)),
        "{task}"
    );
    let msg = b
        .client
        .find(Locator::Css("#msg"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(msg, "solve: done");

    let shot = b.screenshot("dashboard").await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "{}",
        shot.display()
    );
    b.close().await;
    stop_receiver.cancel();
}

/// With `admin.token` set, the browser signs in with the form, and its cookie then carries
/// the page, its event stream and its POSTs (the force-solve button).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_browser_signs_in_and_the_dashboard_works() {
    let cfg = Config::from_toml("[admin]\ntoken = \"s3cret\"\n").unwrap();
    let mock = MockServer::start_with(cfg).await.unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let b = Browser::start().await;
    b.client
        .goto(&format!("{}/__admin/", mock.uri()))
        .await
        .unwrap();
    let field = b.wait_for("input#token").await;
    field.send_keys("s3cret").await.unwrap();
    b.wait_for("input[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_for("#live.on").await;

    let slow = submit_slow(&http, &mock).await;
    click_solve(&b, &slow).await;
    let task: serde_json::Value = http
        .get(format!("{}/__admin/tasks/{slow}", mock.uri()))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["forced"].as_bool(), Some(true), "{task}");
    b.close().await;
}
