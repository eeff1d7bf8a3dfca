//! The pages people look at, tested in a real browser: Debian's `chromium`, headless, driven
//! over WebDriver (`chromium-driver`'s `chromedriver`) with `fantoccini`.
//!
//! - [`dashboard`]: the mock's live dashboard lists a task and shows its pingback attempt
//!   without a reload; its force-solve button finishes a task;
//! - [`report`]: the harness's HTML report of a failing run shows the failed check and
//!   highlights its evidence on the timeline.
//!
//! `scripts/test.sh` installs `chromium` and `chromium-driver` when they are missing; a test
//! that cannot find them fails and says so, it never skips. Every test starts its own
//! `chromedriver` on a free loopback port and stops it when done; screenshots are saved under
//! `<target>/browser-screenshots/`.

mod dashboard;
mod report;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Where `chromium-driver` and `chromium` put their programs.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Longest wait for anything a page does.
pub(crate) const PAGE_WAIT: Duration = Duration::from_secs(20);

/// A headless Chromium session; its `chromedriver` is killed when this drops.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A port nobody listens on now (the driver binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a headless session.
    pub(crate) async fn start() -> Browser {
        for program in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: the browser tests need Debian's chromium and \
                 chromium-driver (scripts/test.sh installs them: \
                 `apt-get install -y chromium chromium-driver`)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let mut browser_guard = DriverGuard(Some(driver));
        let url = format!("http://127.0.0.1:{port}");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,1000",
                ],
            }
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        // The driver needs a moment to listen: retry the session for at most 20 s.
        let mut last = String::new();
        for _ in 0..100 {
            let mut builder = ClientBuilder::rustls().expect("a TLS configuration");
            builder.capabilities(caps.clone());
            match builder.connect(&url).await {
                Ok(client) => {
                    let driver = browser_guard.0.take().expect("the driver");
                    return Browser { client, driver };
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no WebDriver session from chromedriver on port {port} within 20 s: {last}");
    }

    /// Waits for an element.
    pub(crate) async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {PAGE_WAIT:?}: {e}"))
    }

    /// Saves a screenshot as `<target>/browser-screenshots/<name>.png`; its path.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }

    /// Ends the session (the driver stops on drop).
    pub(crate) async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// Kills the driver if the session never started.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `<target>/browser-screenshots`: this test runs from `<target>/<profile>/deps/`.
fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.ancestors()
        .nth(3)
        .expect("test executables live in <target>/<profile>/deps")
        .join("browser-screenshots")
}
