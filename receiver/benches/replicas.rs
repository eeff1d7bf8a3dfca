//! Acknowledged callbacks per second, and the acknowledgement latency, of the real
//! `captchaai-receiver` binary: one replica on memory, one on Redis, two on one Redis.
//!
//! Run in release: `cargo bench -p captchaai-receiver --bench replicas`.
//!
//! Each configuration runs in rounds; each round starts a fresh `redis-server` (own port,
//! no persistence) and fresh replicas (`--workers 1` each), then a driver in this process
//! sends `n` callbacks (`GET /pingback?id=<unique>&code=<a 300-character token>`) with
//! `concurrency` requests in flight over keep-alive connections, spread round-robin over the
//! replicas. A callback counts when it is answered `200` (stored, so acknowledged); the
//! latency is from sending the request to reading the status. The first tenth of each round
//! warms up and is not counted. The store's capacity is 20 000 entries, so from the first
//! fifth of a round on every callback also evicts the oldest result: a receiver that has
//! been running for a while. Rates are acknowledged callbacks over the wall time of the
//! counted part; the table shows the median round and its p50 and p99.
//!
//! The driver is a plain concurrent reqwest loop (one tokio worker). Driver, replicas and
//! Redis share the machine's cores: the absolute figures depend on the machine, the ratios
//! less.
//!
//! Environment: `RECEIVER_BENCH_N` (callbacks per round, default 100 000),
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

/// Sends `n` callbacks, `concurrency` at a time, round-robin over `urls`.
async fn drive(urls: &[String], n: u64, concurrency: usize) -> Round {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client");
    let warm_up = n / 10;
    // Prepared before the clock starts.
    let requests: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|i| {
                let base = &urls[i as usize % urls.len()];
                format!("{base}/pingback?id={}&code={}", 1_000_000 + i, code_for(i))
            })
            .collect(),
    );
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
    let mut latencies = Vec::new();
    let mut refused = 0;
    for worker in workers {
        let (mine, not_acked) = worker.await.expect("a driver task");
        latencies.extend(mine);
        refused += not_acked;
    }
    let elapsed = counted_from.get().map_or(Duration::ZERO, Instant::elapsed);
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Round {
        acked: latencies.len() as u64,
        refused,
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn run_round(setup: Setup, n: u64, concurrency: usize, capacity: u64) -> Round {
    let redis = (setup != Setup::Memory).then(|| RedisServer::start(Persistence::Off));
    let store = redis.as_ref().map_or("memory".to_owned(), RedisServer::url);
    let count = if setup == Setup::RedisTwice { 2 } else { 1 };
    let replicas: Vec<Replica> = (0..count)
        .map(|_| Replica::start(&store, capacity))
        .collect();
    let urls: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the driver's runtime");
    let round = runtime.block_on(drive(&urls, n, concurrency));
    drop(replicas);
    drop(redis);
    round
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
    let (n, rounds) = if bench {
        (
            env_or("RECEIVER_BENCH_N", 100_000),
            env_or("RECEIVER_BENCH_ROUNDS", 3),
        )
    } else {
        (2_000, 1)
    };
    let concurrency = env_or("RECEIVER_BENCH_CONCURRENCY", 64) as usize;
    let capacity = env_or("RECEIVER_BENCH_CAPACITY", 20_000);
    let only = std::env::var("RECEIVER_BENCH_ONLY").ok();
    let setups: Vec<Setup> = Setup::ALL
        .into_iter()
        .filter(|s| only.as_deref().is_none_or(|o| o == s.name()))
        .collect();
    println!(
        "receiver replicas: {n} callbacks per round, {concurrency} in flight, capacity {capacity}, {rounds} round(s), {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut medians = Vec::new();
    for setup in setups {
        let mut results: Vec<Round> = (0..rounds)
            .map(|r| {
                let round = run_round(setup, n, concurrency, capacity);
                println!(
                    "  {:<9} round {}: {:>8.0} acknowledged/s  p50 {}  p99 {}  ({} acknowledged, {} not)",
                    setup.name(),
                    r + 1,
                    round.rate,
                    ms(round.p50),
                    ms(round.p99),
                    round.acked,
                    round.refused
                );
                if !bench {
                    assert_eq!(round.refused, 0, "{setup:?}: every callback is acknowledged");
                }
                round
            })
            .collect();
        results.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        medians.push((setup, results.swap_remove(results.len() / 2)));
    }
    let memory = medians
        .iter()
        .find(|(s, _)| *s == Setup::Memory)
        .map(|(_, r)| r.rate);
    println!();
    println!(
        "| receiver | acknowledged/s | p50 | p99 | share of one in-memory replica | not acknowledged |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (setup, round) in &medians {
        let share = memory.map_or("n/a".to_owned(), |m| {
            format!("{:.0}%", 100.0 * round.rate / m)
        });
        println!(
            "| {} | {:.0} | {} | {} | {} | {} |",
            setup.describe(),
            round.rate,
            ms(round.p50),
            ms(round.p99),
            share,
            round.refused
        );
    }
}
