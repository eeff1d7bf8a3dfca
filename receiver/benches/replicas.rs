//! Acknowledged callbacks per second, and the acknowledgement latency, of the real
//! `captchaai-receiver` binary: one replica on memory, one on Redis, two on one Redis.
//!
//! Run in release: `cargo bench -p captchaai-receiver --bench replicas`.
//!
//! Each configuration runs in rounds; each round starts a fresh `redis-server` (own port,
//! no persistence) and fresh replicas (`--workers 1` each), and a driver in this process
//! sends callbacks (`GET /pingback?id=<unique>&code=<a 300-character token>`) over
//! keep-alive connections, spread round-robin over the replicas, twice:
//!
//! - **saturation**: `n` callbacks with `concurrency` requests in flight (a closed loop):
//!   the most the configuration acknowledges per second. Its latency is mostly queueing
//!   (in flight divided by rate), so it says little about the receiver.
//! - **paced**: callbacks sent at a fixed rate (`rate` per second, for `n / 2` callbacks),
//!   whatever the answers (an open loop, as a sender with many tasks behaves; at most 256
//!   in flight, as a sender caps its connections to a host). Latency is counted from the
//!   moment each callback was due, so a receiver that falls behind shows it (no
//!   coordinated omission); it includes up to a millisecond of the pacer's timer.
//!
//! A callback counts when it is answered `200` (stored, so acknowledged); the latency is up
//! to reading the status. The first tenth of each run warms up and is not counted. The
//! store's capacity is 20 000 entries, so every callback after the first 20 000 of a round
//! also evicts the oldest result: a receiver that has been running for a while. The table
//! shows the median round of each (by rate at saturation, by p99 when paced).
//!
//! The driver is a plain concurrent reqwest loop on one tokio worker. Driver, replicas and
//! Redis share the machine's cores: the absolute figures depend on the machine and its
//! load, the ratios less.
//!
//! Environment: `RECEIVER_BENCH_N` (callbacks per saturation run, default 100 000),
//! `RECEIVER_BENCH_RATE` (paced rate, default 10 000 per second),
//! `RECEIVER_BENCH_CAPACITY` (the replicas' `--capacity`, default 20 000),
//! `RECEIVER_BENCH_CONCURRENCY` (default 64), `RECEIVER_BENCH_ROUNDS` (default 3),
//! `RECEIVER_BENCH_ONLY` (one configuration: `memory`, `redis`, `redis-x2`). Without
//! `--bench` (as `cargo test --all-targets` runs it) it is a smoke run: 2 000 callbacks, one
//! round, and it checks that every callback was acknowledged.

// Wall-clock time is the point of a benchmark; nothing here is simulated.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use captchaai_test_redis::{Persistence, RedisServer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    Memory,
    Redis,
    RedisTwice,
}

impl Setup {
    const ALL: [Setup; 3] = [Setup::Memory, Setup::Redis, Setup::RedisTwice];

    fn name(self) -> &'static str {
        match self {
            Setup::Memory => "memory",
            Setup::Redis => "redis",
            Setup::RedisTwice => "redis-x2",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Setup::Memory => "one replica, in memory",
            Setup::Redis => "one replica on Redis",
            Setup::RedisTwice => "two replicas on one Redis",
        }
    }
}

/// One receiver process, killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(store: &str, capacity: u64) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_captchaai-receiver"))
            .args(["--bind", "127.0.0.1:0", "--workers", "1", "--store", store])
            .args([
                "--capacity",
                &capacity.to_string(),
                "--key-prefix",
                "bench:",
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the captchaai-receiver binary");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the receiver's first line");
        let base = line
            .trim()
            .strip_prefix("captchaai-receiver listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Replica { child, base }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A turnstile-sized token (300 characters, URL-safe).
fn code_for(i: u64) -> String {
    let mut s = format!("0.{i:020}");
    while s.len() < 300 {
        s.push_str("AbCdEfGhIj-_0123456789");
    }
    s.truncate(300);
    s
}

struct Round {
    acked: u64,
    refused: u64,
    rate: f64,
    p50: Duration,
    p99: Duration,
}

impl Round {
    fn from(mut latencies: Vec<Duration>, refused: u64, elapsed: Duration) -> Round {
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Round {
            acked: latencies.len() as u64,
            refused,
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

fn client(concurrency: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// The callbacks, prepared before the clock starts: ids from `first`, round-robin over the
/// replicas.
fn callbacks(urls: &[String], first: u64, n: u64) -> Arc<Vec<String>> {
    Arc::new(
        (0..n)
            .map(|i| {
                let base = &urls[i as usize % urls.len()];
                format!("{base}/pingback?id={}&code={}", first + i, code_for(i))
            })
            .collect(),
    )
}

/// Sends `n` callbacks, `concurrency` at a time.
async fn saturate(urls: &[String], n: u64, concurrency: usize) -> Round {
    let client = client(concurrency);
    let warm_up = n / 10;
    let requests = callbacks(urls, 1_000_000, n);
    let next = Arc::new(AtomicU64::new(0));
    let counted_from = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, next, requests) = (client.clone(), next.clone(), requests.clone());
        let counted_from = counted_from.clone();
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut refused) = (Vec::new(), 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                if i == warm_up {
                    let _ = counted_from.set(Instant::now());
                }
                let sent = Instant::now();
                let status = client
                    .get(&requests[i as usize])
                    .send()
                    .await
                    .map(|r| r.status());
                let latency = sent.elapsed();
                if i < warm_up {
                    continue;
                }
                match status {
                    Ok(s) if s.is_success() => latencies.push(latency),
                    _ => refused += 1,
                }
            }
            (latencies, refused)
        }));
    }
    let (mut latencies, mut refused) = (Vec::new(), 0);
    for worker in workers {
        let (mine, not_acked) = worker.await.expect("a driver task");
        latencies.extend(mine);
        refused += not_acked;
    }
    let elapsed = counted_from.get().map_or(Duration::ZERO, Instant::elapsed);
    Round::from(latencies, refused, elapsed)
}

/// Most paced callbacks in flight at once (per driver, whatever the number of replicas).
const PACED_IN_FLIGHT: usize = 256;

/// Sends `n` callbacks at `rate` per second, each when it is due.
async fn paced(urls: &[String], n: u64, rate: u64) -> Round {
    let client = client(PACED_IN_FLIGHT);
    let warm_up = n / 10;
    let requests = callbacks(urls, 50_000_000, n);
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(10);
    // As a sender caps its connections to one host (the mock: 128 per host), so that a
    // receiver that falls behind is not buried under new connections; a callback waiting
    // for a free slot is late, and its latency says so.
    let slots = Arc::new(tokio::sync::Semaphore::new(PACED_IN_FLIGHT));
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..n {
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let slot = Arc::clone(&slots).acquire_owned().await.expect("open");
        let (client, requests) = (client.clone(), requests.clone());
        sends.spawn(async move {
            let status = client
                .get(&requests[i as usize])
                .send()
                .await
                .map(|r| r.status());
            drop(slot);
            (i, due.elapsed(), status.is_ok_and(|s| s.is_success()))
        });
    }
    let (mut latencies, mut refused) = (Vec::new(), 0);
    while let Some(sent) = sends.join_next().await {
        let (i, latency, acked) = sent.expect("a send");
        match (i < warm_up, acked) {
            (true, _) => {}
            (false, true) => latencies.push(latency),
            (false, false) => refused += 1,
        }
    }
    let counted = start + period.mul_f64(warm_up as f64);
    Round::from(latencies, refused, counted.elapsed())
}

/// One round: fresh Redis and replicas, a saturation run, then a paced one.
fn run_round(setup: Setup, settings: &Settings) -> (Round, Round) {
    let redis = (setup != Setup::Memory).then(|| RedisServer::start(Persistence::Off));
    let store = redis.as_ref().map_or("memory".to_owned(), RedisServer::url);
    let count = if setup == Setup::RedisTwice { 2 } else { 1 };
    let replicas: Vec<Replica> = (0..count)
        .map(|_| Replica::start(&store, settings.capacity))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the driver's runtime");
    let saturated = runtime.block_on(saturate(&urls, settings.n, settings.concurrency));
    let paced = runtime.block_on(paced(&urls, settings.n / 2, settings.rate));
    drop(replicas);
    drop(redis);
    (saturated, paced)
}

struct Settings {
    n: u64,
    rate: u64,
    capacity: u64,
    concurrency: usize,
    rounds: u64,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse().unwrap_or_else(|_| panic!("{name}: {v:?}"))
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let settings = Settings {
        n: if bench {
            env_or("RECEIVER_BENCH_N", 100_000)
        } else {
            2_000
        },
        rate: env_or("RECEIVER_BENCH_RATE", if bench { 10_000 } else { 1_000 }),
        capacity: env_or("RECEIVER_BENCH_CAPACITY", 20_000),
        concurrency: env_or("RECEIVER_BENCH_CONCURRENCY", 64) as usize,
        rounds: if bench {
            env_or("RECEIVER_BENCH_ROUNDS", 3)
        } else {
            1
        },
    };
    let only = std::env::var("RECEIVER_BENCH_ONLY").ok();
    let setups: Vec<Setup> = Setup::ALL
        .into_iter()
        .filter(|s| only.as_deref().is_none_or(|o| o == s.name()))
        .collect();
    println!(
        "receiver replicas: {} callbacks at saturation ({} in flight), {} paced at {}/s, capacity {}, {} round(s), {} CPUs",
        settings.n,
        settings.concurrency,
        settings.n / 2,
        settings.rate,
        settings.capacity,
        settings.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut medians = Vec::new();
    for setup in setups {
        let (mut saturated, mut paced): (Vec<Round>, Vec<Round>) = (0..settings.rounds)
            .map(|r| {
                let (s, p) = run_round(setup, &settings);
                println!(
                    "  {:<9} round {}: saturation {:>6.0}/s p99 {} | paced {:>6.0}/s p50 {} p99 {} | acknowledged {}, not {}",
                    setup.name(),
                    r + 1,
                    s.rate,
                    ms(s.p99),
                    p.rate,
                    ms(p.p50),
                    ms(p.p99),
                    s.acked + p.acked,
                    s.refused + p.refused,
                );
                if !bench {
                    assert_eq!(s.refused + p.refused, 0, "{setup:?}: every callback is acknowledged");
                }
                (s, p)
            })
            .unzip();
        saturated.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        paced.sort_by_key(|p| p.p99);
        let middle = saturated.len() / 2;
        medians.push((
            setup,
            saturated.swap_remove(middle),
            paced.swap_remove(middle),
        ));
    }
    let memory = medians
        .iter()
        .find(|(s, ..)| *s == Setup::Memory)
        .map(|(_, s, _)| s.rate);
    println!();
    println!(
        "| receiver | acknowledged/s at saturation | share of one in-memory replica | paced at {}/s: acknowledged/s | p50 | p99 | not acknowledged |",
        settings.rate
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (setup, saturated, paced) in &medians {
        let share = memory.map_or("n/a".to_owned(), |m| {
            format!("{:.0}%", 100.0 * saturated.rate / m)
        });
        println!(
            "| {} | {:.0} | {} | {:.0} | {} | {} | {} |",
            setup.describe(),
            saturated.rate,
            share,
            paced.rate,
            ms(paced.p50),
            ms(paced.p99),
            saturated.refused + paced.refused,
        );
    }
}
