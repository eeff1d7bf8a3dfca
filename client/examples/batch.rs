//! Solves a batch of tasks against a CaptchaAI-compatible service (the mock by default) using
//! pingback with polling fallback, and prints each result as it arrives.
//!
//! ```text
//! cargo run -p captchaai-client --example batch -- [BASE_URL] [API_KEY] [COUNT]
//! ```
//!
//! `BASE_URL` defaults to `$CAPTCHAAI_BASE_URL`, then `http://127.0.0.1:8080`; `API_KEY` to
//! `$CAPTCHAAI_KEY`; `COUNT` (tasks in the batch) to 6. The example starts its own pingback
//! receiver on 127.0.0.1 (a free port) and gives the service
//! `http://127.0.0.1:PORT/pingback?token=<random secret>`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use captchaai_client::fanout::{FanOutConfig, Rate, fan_out};
use captchaai_client::receiver::{Receiver, ReceiverConfig, ResultStore};
use captchaai_client::solution::Answer;
use captchaai_client::strategy::{Solver, Strategy};
use captchaai_client::task::{
    FriendlyCaptcha, Geetest, Lemin, RecaptchaV2, RecaptchaV3, Turnstile,
};
use captchaai_client::{Client, Task};
use futures::StreamExt as _;
use rand::Rng as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let base_url = args
        .next()
        .or_else(|| std::env::var("CAPTCHAAI_BASE_URL").ok())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let Some(key) = args.next().or_else(|| std::env::var("CAPTCHAAI_KEY").ok()) else {
        eprintln!("usage: batch [BASE_URL] API_KEY [COUNT]  (or set CAPTCHAAI_KEY)");
        return ExitCode::from(2);
    };
    let count = match args.next().map(|c| c.parse::<usize>()) {
        None => 6,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("COUNT must be a number: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&base_url, &key, count).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failures) => {
            eprintln!("{failures} of {count} tasks failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(base_url: &str, key: &str, count: usize) -> Result<usize, Box<dyn std::error::Error>> {
    // The receiver: our own pingback endpoint on a free loopback port, with a secret.
    let secret = format!("{:016x}", rand::rng().next_u64());
    let config = ReceiverConfig::default()
        .with_secret(secret)?
        .allow_network("127.0.0.0/8".parse()?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let pingback_url = config.callback_url(&format!("http://{addr}"))?;
    let store = ResultStore::new();
    let receiver = Receiver::new(config, store.clone());
    let shutdown = CancellationToken::new();
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { receiver.serve(listener, shutdown).await })
    };
    println!("receiver listening on {addr}; pingback url {pingback_url}");

    let client = Client::builder(base_url, key).build()?;
    let solver = Solver::new(
        client,
        store.clone(),
        Strategy::PingbackWithFallback {
            quiet_period: Duration::from_secs(20),
        },
    )
    .with_pingback_url(pingback_url);

    let tasks = (0..count).map(|i| (i, sample_task(i)));
    let config = FanOutConfig::new(Duration::from_secs(300)).rate(Rate::per_second(
        NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN),
    ));
    let mut results = fan_out(&solver, tasks, config);
    let mut failures = 0;
    while let Some((i, result)) = results.next().await {
        match result {
            Ok(solution) => {
                let answer = match solution.answer() {
                    Answer::Text(t) => shorten(t),
                    Answer::Cells(c) => format!("cells {c:?}"),
                    Answer::Object(o) => serde_json::Value::Object(o.clone()).to_string(),
                };
                println!(
                    "task #{i} ({}) id {}: {answer}",
                    solution.kind().map_or("?", |k| k.name()),
                    solution.task_id()
                );
            }
            Err(e) => {
                failures += 1;
                println!("task #{i}: failed ({}): {e}", e.kind());
            }
        }
    }
    // Stopped first: a waiter is woken as its result is stored, a moment before the call
    // that stored it counts it, so the counters are final only once every callback in
    // flight has been answered.
    shutdown.cancel();
    server.await??;
    let stats = store.stats();
    println!(
        "store: {} stored, {} duplicates, {} conflicts, {} rejected",
        stats.stored, stats.duplicates, stats.conflicts, stats.rejected
    );
    Ok(failures)
}

/// A mix of token methods.
fn sample_task(i: usize) -> Task {
    let page = "https://example.com/login";
    match i % 6 {
        0 => Turnstile::new("0x4AAAAAAAC3DHQFLr1GavRN", page).into(),
        1 => RecaptchaV2::new("6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-", page).into(),
        2 => RecaptchaV3::new("6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf", page, "login")
            .with_min_score(0.3)
            .into(),
        3 => Geetest::new(
            "81388ea1fc187e0c335c0a8907ff2625",
            "12345678abc90123d45678ef90123a456b",
            page,
        )
        .into(),
        4 => Lemin::new(
            "CROPPED_3dfdd5c_d1872b526b794d83ba3b365eb15a200b",
            "lemin-cropped-captcha",
            page,
        )
        .into(),
        _ => FriendlyCaptcha::new("FCMST5VUMCBOCGQ9", page).into(),
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() > 48 {
        let head: String = text.chars().take(48).collect();
        format!("{head}... ({} chars)", text.len())
    } else {
        text.to_owned()
    }
}
