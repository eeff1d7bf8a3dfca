//! Acknowledged callbacks per second, and the acknowledgement latency, of the real
//! `captchaai-receiver` binary: one replica on memory, one on Redis, two on one Redis.
//!
//! Run in release: `cargo bench -p captchaai-receiver --bench replicas`.
//!
//! Each configuration runs in rounds; each round starts a fresh `redis-server` (own port,
//! no persistence) and fresh replicas (`--workers 1` each). The callbacks are sent by the
//! mock's own pingback dispatcher (`captchaai_mock::bench::BenchDispatcher`: the dispatcher
//! the mock runs, fed finished tasks as its finisher feeds it, with the mock's default
//! settings: at most 128 callbacks in flight per host, keep-alive connections, the
//! CaptchaAI dialect's `GET /pingback?id=<unique>&code=<a 300-character token>`). The i-th
//! task's pingback URL is replica `i % n`'s, so each replica is a host of its own to the
//! dispatcher. Everything measured is read from the dispatcher's outbound journal (per
//! attempt: when it was due, when it was sent, the status, the time to the answer), moved
//! out as the run goes so that the dispatcher's memory stays flat, as a mock's bounded
//! journal does once full. This process runs the dispatcher as the `captchaai-mock` binary
//! does: mimalloc, and no transparent huge pages.
//!
//! - **saturation**: `n` tasks handed over as a finisher under steady load does (at most
//!   about 4 096 pending): the most the configuration acknowledges per second, from the
//!   first counted send to the last answer. Its latency is the answer's alone (send to
//!   status), since queueing is the point of saturation.
//! - **paced**: tasks finishing at a fixed rate (`rate` per second, `n / 2` of them), each
//!   handed to the dispatcher when due whatever the replicas do (an open loop). The latency
//!   runs from when the callback was due to its answer (the journal's due and send times
//!   are whole milliseconds, the answer's time microseconds), so a receiver that falls
//!   behind shows it (no coordinated omission).
//!
//! A callback counts when it is answered `200` (stored, so acknowledged). The first tenth
//! of each run warms up and is not counted. The store's capacity is 20 000 entries, so every
//! callback after the first 20 000 of a round also evicts the oldest result: a receiver that
//! has been running for a while. The table shows the median round of each (by rate at
//! saturation, by p99 when paced), and each rate as a share of one in-memory replica's.
//!
//! The dispatcher runs on one tokio worker in this process. Dispatcher, replicas and Redis
//! share the machine's cores: the absolute figures depend on the machine and its load (the
//! first line prints the load average), the ratios less.
//!
//! Environment: `RECEIVER_BENCH_N` (callbacks per saturation run, default 100 000),
//! `RECEIVER_BENCH_RATE` (paced rate, default 10 000 per second),
//! `RECEIVER_BENCH_CAPACITY` (the replicas' `--capacity`, default 20 000),
//! `RECEIVER_BENCH_IN_FLIGHT` (the dispatcher's `max-in-flight-per-host`, default the
//! mock's 128), `RECEIVER_BENCH_ROUNDS` (default 3), `RECEIVER_BENCH_ONLY` (one
//! configuration: `memory`, `redis`, `redis-x2`), `RECEIVER_BENCH_BIN` (another
//! `captchaai-receiver` binary to measure, to compare two builds). Without `--bench` (as
//! `cargo test --all-targets` runs it) it is a smoke run: 2 000 callbacks, one round, and
//! it checks that every callback was acknowledged.

// Wall-clock time is the point of a benchmark; nothing here is simulated.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use captchaai_mock::bench::{BenchDispatcher, FinishedTask};
use captchaai_mock::{AttemptOutcome, Config};
use captchaai_test_redis::{Persistence, RedisServer};

// The allocator the `captchaai-mock` binary runs its dispatcher with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        let bin = std::env::var("RECEIVER_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_captchaai-receiver").to_owned());
        let mut child = Command::new(bin)
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

/// The callbacks' targets: each replica's pingback endpoint.
fn pingback_urls(bases: &[String]) -> Vec<String> {
    bases.iter().map(|b| format!("{b}/pingback")).collect()
}

/// A fresh dispatcher, configured as the mock's defaults but for queues and a journal that
/// hold the whole run (per host: `in_flight` sends at once, the mock's
/// `max-in-flight-per-host`).
fn dispatcher(n: u64, in_flight: usize) -> Arc<BenchDispatcher> {
    let mut cfg = Config::default();
    cfg.pingback.max_in_flight_per_host = in_flight;
    cfg.pingback.queue_capacity = n as usize * 2;
    cfg.pingback.queue_capacity_per_host = cfg.pingback.queue_capacity;
    cfg.pingback.journal_capacity = n as usize * 2;
    Arc::new(BenchDispatcher::new(&cfg))
}

/// `n` finished tasks, their callbacks round-robin over the replicas, made on a runtime
/// worker (as the mock's finisher makes them) before the clock starts.
async fn finished(d: &Arc<BenchDispatcher>, urls: &[String], n: u64) -> Vec<FinishedTask> {
    let (d, urls) = (d.clone(), urls.to_vec());
    tokio::spawn(async move {
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        d.finished_tasks_spread(&urls, &[], n, code_for).0
    })
    .await
    .expect("the finished tasks")
}

/// What the bench keeps of one attempt.
struct Sent {
    task_id: u64,
    first: bool,
    acknowledged: bool,
    scheduled_at_ms: u64,
    sent_at_ms: u64,
    answered_us: u64,
}

/// The dispatcher's outbound journal, read as the run goes rather than at its end, so that
/// the dispatcher's memory stays flat. A journal holding the whole run grows by a few MB a
/// second, and each new page the kernel hands it is taken under the journal's lock, which
/// every attempt waits on: a cost of this bench's bookkeeping, not of the receivers.
struct Sends(Vec<Sent>);

impl Sends {
    fn with_capacity(n: u64) -> Self {
        Sends(Vec::with_capacity(usize::try_from(n).unwrap_or(0)))
    }

    /// Moves what the journal holds into the record.
    fn drain(&mut self, d: &BenchDispatcher) {
        for a in d.take_attempts(usize::MAX) {
            self.0.push(Sent {
                task_id: a.task_id,
                first: a.attempt <= 1,
                acknowledged: matches!(
                    a.outcome,
                    AttemptOutcome::Delivered { status } if (200..300).contains(&status)
                ),
                scheduled_at_ms: a.scheduled_at_ms,
                sent_at_ms: a.sent_at_ms,
                answered_us: a.latency_us.unwrap_or(0),
            });
        }
    }
}

/// Waits until every one of `n` callbacks has a final attempt in the journal, reading it.
async fn settled(d: &BenchDispatcher, n: u64, sends: &mut Sends) {
    loop {
        sends.drain(d);
        let s = d.stats();
        if s.delivered + s.failed >= n {
            sends.drain(d);
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The first attempts (and callbacks never sent: shed), in order of their tasks:
/// acknowledged when the replica answered 2xx; the latency from when the callback was due
/// (the task finished) to its answer, or only the answer's when `queueing` is false.
fn measured(sends: Sends, first_task: u64, warm_up: u64, queueing: bool) -> Round {
    let mut attempts = sends.0;
    attempts.retain(|a| a.first && a.task_id >= first_task + warm_up);
    let (mut latencies, mut refused) = (Vec::with_capacity(attempts.len()), 0);
    let (mut from_ms, mut to_us) = (u64::MAX, 0u64);
    for a in &attempts {
        let answered = a.answered_us;
        from_ms = from_ms.min(a.sent_at_ms);
        to_us = to_us.max(a.sent_at_ms * 1000 + answered);
        if a.acknowledged {
            let waited_us = if queueing {
                a.sent_at_ms.saturating_sub(a.scheduled_at_ms) * 1000
            } else {
                0
            };
            latencies.push(Duration::from_micros(waited_us + answered));
        } else {
            refused += 1;
        }
    }
    let elapsed = Duration::from_micros(to_us.saturating_sub(from_ms.saturating_mul(1000)));
    Round::from(latencies, refused, elapsed.max(Duration::from_millis(1)))
}

/// Saturation: every callback handed to the dispatcher as a finisher under steady load
/// does (at most about 4 096 pending), sent as fast as the replicas answer.
async fn saturate(urls: &[String], n: u64, in_flight: usize) -> Round {
    let d = dispatcher(n, in_flight);
    let tasks = finished(&d, urls, n).await;
    let mut sends = Sends::with_capacity(n);
    for (i, task) in tasks.into_iter().enumerate() {
        if i % 1024 == 0 {
            sends.drain(&d);
            while d.stats().pending > 4096 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        d.enqueue(task);
    }
    settled(&d, n, &mut sends).await;
    measured(sends, Config::default().first_task_id, n / 10, false)
}

/// Paced: `n` tasks finishing at `rate` per second, each handed to the dispatcher when it
/// is due, whatever the replicas do (an open loop).
async fn paced(urls: &[String], n: u64, rate: u64, in_flight: usize) -> Round {
    let d = dispatcher(n, in_flight);
    let tasks = finished(&d, urls, n).await;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let mut sends = Sends::with_capacity(n);
    let start = tokio::time::Instant::now() + Duration::from_millis(10);
    for (i, task) in tasks.into_iter().enumerate() {
        if i % 256 == 0 {
            sends.drain(&d);
        }
        let due = start + period.mul_f64(i as f64);
        if due > tokio::time::Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        d.enqueue(task);
    }
    settled(&d, n, &mut sends).await;
    measured(sends, Config::default().first_task_id, n / 10, true)
}

/// One round: fresh Redis and replicas, a saturation run, then a paced one.
/// CPU time (user + system) a process used so far, from `/proc/PID/stat` (clock ticks, 100
/// a second); zero where unavailable.
fn process_cpu(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15.
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

/// CPU time Redis used so far (`INFO cpu`, through `redis-cli`); zero where unavailable.
fn redis_cpu(redis: &RedisServer) -> Duration {
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "INFO", "cpu"])
        .output();
    let text = out.map_or_else(
        |_| String::new(),
        |o| String::from_utf8_lossy(&o.stdout).into_owned(),
    );
    let seconds: f64 = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            matches!(k, "used_cpu_sys" | "used_cpu_user").then(|| v.parse::<f64>().ok())?
        })
        .sum();
    Duration::from_secs_f64(seconds)
}

/// CPU time per callback of one round (both runs, warm-up included), by process.
#[derive(Default)]
struct Cpu {
    replicas: Duration,
    redis: Duration,
    dispatcher: Duration,
}

/// One round: fresh Redis and replicas, a saturation run, then a paced one.
fn run_round(setup: Setup, settings: &Settings) -> (Round, Round, Cpu) {
    let redis = (setup != Setup::Memory).then(|| RedisServer::start(Persistence::Off));
    let store = redis.as_ref().map_or("memory".to_owned(), RedisServer::url);
    let count = if setup == Setup::RedisTwice { 2 } else { 1 };
    let replicas: Vec<Replica> = (0..count)
        .map(|_| Replica::start(&store, settings.capacity))
        .collect();
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let urls = pingback_urls(&bases);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the driver's runtime");
    let cpu = || {
        let replicas: Duration = replicas
            .iter()
            .map(|r| process_cpu(&r.child.id().to_string()))
            .sum();
        let redis = redis.as_ref().map_or(Duration::ZERO, redis_cpu);
        (replicas, redis, process_cpu("self"))
    };
    let before = cpu();
    let saturated = runtime.block_on(saturate(&urls, settings.n, settings.in_flight));
    let paced = runtime.block_on(paced(
        &urls,
        settings.n / 2,
        settings.rate,
        settings.in_flight,
    ));
    let after = cpu();
    let callbacks = (settings.n + settings.n / 2).max(1) as u32;
    let used = Cpu {
        replicas: (after.0 - before.0) / callbacks,
        redis: (after.1 - before.1) / callbacks,
        dispatcher: (after.2 - before.2) / callbacks,
    };
    drop(replicas);
    drop(redis);
    (saturated, paced, used)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

struct Settings {
    n: u64,
    rate: u64,
    capacity: u64,
    in_flight: usize,
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
    // The dispatcher runs in this process, as in the mock's: the same allocator and no
    // transparent huge pages, as `captchaai-mock` sets up (see mock-server/src/main.rs).
    // With them, the dispatcher's journal growing stalled this process for tens of
    // milliseconds at a time (the kernel zeroing and compacting 2 MiB pages), and that was
    // most of the paced p99.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let bench = std::env::args().any(|a| a == "--bench");
    let settings = Settings {
        n: if bench {
            env_or("RECEIVER_BENCH_N", 100_000)
        } else {
            2_000
        },
        rate: env_or("RECEIVER_BENCH_RATE", if bench { 10_000 } else { 1_000 }),
        capacity: env_or("RECEIVER_BENCH_CAPACITY", 20_000),
        in_flight: env_or(
            "RECEIVER_BENCH_IN_FLIGHT",
            Config::default().pingback.max_in_flight_per_host as u64,
        ) as usize,
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
        "load average (1, 5, 15 min): {}",
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    );
    println!(
        "receiver replicas, driven by the mock's dispatcher: {} callbacks at saturation (at most {} in flight per replica), {} paced at {}/s, capacity {}, {} round(s), {} CPUs",
        settings.n,
        settings.in_flight,
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
                let (s, p, cpu) = run_round(setup, &settings);
                println!(
                    "  {:<9} round {}: saturation {:>6.0}/s p99 {} | paced {:>6.0}/s p50 {} p99 {} | acknowledged {}, not {} | CPU per callback: replicas {}, Redis {}, dispatcher {}",
                    setup.name(),
                    r + 1,
                    s.rate,
                    ms(s.p99),
                    p.rate,
                    ms(p.p50),
                    ms(p.p99),
                    s.acked + p.acked,
                    s.refused + p.refused,
                    us(cpu.replicas),
                    us(cpu.redis),
                    us(cpu.dispatcher),
                );
                if !bench {
                    let counted = (settings.n - settings.n / 10) + (settings.n / 2 - settings.n / 20);
                    assert_eq!(
                        (s.acked + p.acked, s.refused + p.refused),
                        (counted, 0),
                        "{setup:?}: every callback is acknowledged"
                    );
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
