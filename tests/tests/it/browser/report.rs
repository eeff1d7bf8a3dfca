//! The harness's HTML report of a failing run in Chromium: the failed check is shown with
//! its fix, and following its evidence lands on the timeline row, highlighted.

use std::process::Command;

use fantoccini::Locator;

use super::Browser;
use crate::bins;

/// The cited row's highlight (the report's `--cite` colour), as the browser computes it.
const HIGHLIGHT: &str = "rgba(255, 241, 194, 1)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_of_a_failing_run_highlights_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("impossible.toml");
    // Results by poll are expected while every pingback arrives first: `via` fails.
    std::fs::write(
        &scenario,
        "name = \"impossible\"\ndescription = \"expects polling where pingbacks win\"\nseed = 3\n\n\
         [mock]\nsolve-time = { fixed = \"5s\" }\n\n[expect]\nvia = \"poll\"\n\n\
         [workload]\ntasks = [{ method = \"turnstile\" }]\n",
    )
    .unwrap();
    let html = dir.path().join("report.html");
    let out = Command::new(bins::conformance())
        .current_dir(bins::workspace())
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .arg("run")
        .arg(&scenario)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failing run: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let b = Browser::start().await;
    b.client
        .goto(&format!("file://{}", html.display()))
        .await
        .unwrap();
    let check = b.wait_for("#s0-via").await;
    assert!(check.is_displayed().await.unwrap());
    let text = check.text().await.unwrap();
    assert!(
        text.contains("FAILED") && text.contains("follow the configured strategy"),
        "{text}"
    );
    // The pingback that proves it: follow its evidence link.
    let link = b
        .wait_for("#s0-via a.ev[data-row^=\"s0-e-dispatcher-\"]")
        .await;
    let row_id = link.attr("data-row").await.unwrap().expect("data-row");
    link.click().await.unwrap();
    let url = b.client.current_url().await.unwrap();
    assert_eq!(
        url.fragment(),
        Some(row_id.as_str()),
        "the link leads to the row"
    );
    let row = b.client.find(Locator::Id(&row_id)).await.unwrap();
    assert!(row.is_displayed().await.unwrap());
    let class = row.attr("class").await.unwrap().unwrap_or_default();
    assert!(class.split_whitespace().any(|c| c == "cited"), "{class}");
    let cell = row.find(Locator::Css("td.ev")).await.unwrap();
    assert!(cell.text().await.unwrap().contains("delivered 200"));
    assert_eq!(cell.css_value("background-color").await.unwrap(), HIGHLIGHT);
    // A row no check cites is not highlighted.
    let plain = b
        .client
        .find(Locator::Css("#s0-timeline tbody tr:not(.cited) td"))
        .await
        .ok();
    if let Some(plain) = plain {
        assert_ne!(
            plain.css_value("background-color").await.unwrap(),
            HIGHLIGHT
        );
    }

    let shot = b.screenshot("report").await;
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "{}",
        shot.display()
    );
    b.close().await;
}
