//! Pingback delivery throughput: the dispatcher against a plain reqwest loop.
//!
//! Run in release: `cargo bench -p captchaai-mock --bench pingback_delivery`.
//!
//! A fast axum receiver on loopback answers 200 "OK". Three runs send the same
//! callbacks (`GET /hook?token=abc&id=..&code=<turnstile-sized token>`) with the
//! same concurrency cap:
//!
//! 1. **plain**: `concurrency` tasks pulling ids from a counter, one reqwest
//!    client; the ceiling for this machine and receiver.
//! 2. **dispatcher, no faults**: every finished task handed to the dispatcher
//!    (the `bench` feature's `BenchDispatcher`: the dispatcher without the API in
//!    front of it), capped by `max-in-flight-per-host`; timed until the last
//!    attempt is journalled.
//! 3. **dispatcher, every fault at 10%**: delay, duplicate, conflicting
//!    duplicate, drop, reorder, early, malformed and retry, with waits of a
//!    few milliseconds so it still measures throughput. The `oversized-code`
//!    malformed kind (a 64 KB URL) is timed on its own, after the rounds.
//!
//! Environment: `PINGBACK_BENCH_N` (callbacks per run, default 40 000),
//! `PINGBACK_BENCH_CONCURRENCY` (default 64), `PINGBACK_BENCH_ROUNDS`
//! (default 5; medians are reported: five rounds of 40 000 stand up to a
//! shared machine's noise better than two of 100 000, in the same minute),
//! `PINGBACK_BENCH_JOURNAL` (outbound journal capacity),
//! `PINGBACK_BENCH_BURST=1` (one more run handing every job over at once),
//! `PINGBACK_BENCH_ONLY=plain|none|burst|faults` (one run, for a profiler).
//!
//! The dispatcher runs are fed as a finisher under steady load feeds it (at
//! most about 4 096 jobs pending).
//!
//! The receiver shares the runtime (and the machine's cores) with the sender,
//! as the plain loop's does: the ratio is what matters, the absolute rate
//! depends on the machine and its load.

// Wall-clock time is the point of a benchmark; nothing here is simulated.
#![allow(clippy::disallowed_methods)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, routing::any};
use captchaai_mock::{
    Config, Distribution, DuplicateFault, Fault, FaultRule, MalformedKind, ReorderFault,
    RetryPolicy, bench::BenchDispatcher,
};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A turnstile-sized token (about 300 characters, URL-safe).
fn code_for(i: u64) -> String {
    let mut s = format!("0.{i:020}");
    while s.len() < 300 {
        s.push_str("AbCdEfGhIj-_0123456789");
    }
    s.truncate(300);
    s
}

/// A receiver as fast as axum gets: it counts and answers `OK`. (Not the `testing`
/// feature's recorder: recording every callback would be part of what is measured.)
async fn receiver(hits: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/hook",
        any(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::Relaxed);
                "OK"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook?token=abc")
}

async fn plain(url: &str, n: u64, concurrency: usize) -> (u64, Duration, Duration) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    // The codes exist before the clock starts, as the dispatcher's do.
    let codes: Arc<Vec<String>> = Arc::new((0..n).map(code_for).collect());
    let start = Instant::now();
    let cpu = cpu_time();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, next, ok, url) = (client.clone(), next.clone(), ok.clone(), url.to_owned());
        let codes = codes.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let code = &codes[i as usize];
                let mut q = String::new();
                form_urlencoded::Serializer::new(&mut q)
                    .append_pair("id", &i.to_string())
                    .append_pair("code", code)
                    .finish();
                let resp = client.get(format!("{url}&{q}")).send().await.unwrap();
                let status = resp.status();
                let _ = resp.bytes().await;
                if status.is_success() {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    (
        ok.load(Ordering::Relaxed),
        start.elapsed(),
        cpu_time() - cpu,
    )
}

/// Every fault kind at 10% of tasks, with waits of a few milliseconds.
///
/// `oversized-code` is left out of the mix: its callback is a 64 KB URL, 200
/// times a normal one, so a share of it measures bytes moved, not dispatch.
/// It is measured on its own ([`oversized_only`]).
fn rules_with_every_fault() -> Vec<FaultRule> {
    let ms = Duration::from_millis;
    let mut faults = vec![
        Fault::Delay(Distribution::Uniform {
            min: ms(0),
            max: ms(2),
        }),
        Fault::Duplicate(DuplicateFault {
            copies: 1,
            spacing: ms(1),
            conflicting: false,
        }),
        Fault::Duplicate(DuplicateFault {
            copies: 1,
            spacing: ms(1),
            conflicting: true,
        }),
        Fault::Drop,
        Fault::Reorder(ReorderFault {
            window: 10,
            max_hold: ms(5),
        }),
        Fault::Early,
        Fault::Retry(RetryPolicy::Fixed {
            interval: ms(1),
            attempts: 3,
        }),
    ];
    faults.extend(
        [
            MalformedKind::MissingId,
            MalformedKind::MissingCode,
            MalformedKind::NonNumericId,
            MalformedKind::UnknownId,
            MalformedKind::StaleId,
            MalformedKind::WrongMethod,
        ]
        .into_iter()
        .map(Fault::Malformed),
    );
    // Each fault applies to 10% of tasks: rule k sees the tasks no earlier
    // rule took, so its probability is 0.1 / (1 - 0.1 k). Malformed kinds
    // share one 10% slice.
    let malformed = 6.0_f64;
    let mut taken = 0.0_f64;
    faults
        .into_iter()
        .map(|f| {
            let share = if matches!(f, Fault::Malformed(_)) {
                0.1 / malformed
            } else {
                0.1
            };
            let p = (share / (1.0 - taken)).min(1.0);
            taken += share;
            FaultRule::always(f).with_probability(p)
        })
        .collect()
}

/// Only `oversized-code` callbacks (each followed by its genuine one).
fn oversized_only() -> Vec<FaultRule> {
    vec![FaultRule::always(Fault::Malformed(
        MalformedKind::OversizedCode,
    ))]
}

/// Runs `n` finished tasks through a fresh dispatcher; returns the attempts
/// made, the wall time and the CPU time. With `burst`, every job is handed
/// over at once (a burst of tasks finishing together: 100k pending jobs in
/// memory); otherwise at most about 4 096 are pending, as under steady load.
async fn dispatcher(
    url: &str,
    n: u64,
    concurrency: usize,
    rules: &[FaultRule],
    burst: bool,
) -> (u64, Duration, Duration) {
    let mut cfg = Config::default();
    cfg.pingback.max_in_flight_per_host = concurrency;
    cfg.pingback.queue_capacity = n as usize * 2;
    cfg.pingback.queue_capacity_per_host = cfg.pingback.queue_capacity;
    if let Ok(Ok(cap)) = std::env::var("PINGBACK_BENCH_JOURNAL").map(|v| v.parse()) {
        cfg.pingback.journal_capacity = cap;
    }
    let d = Arc::new(BenchDispatcher::new(&cfg));
    // Jobs are made on a runtime worker, as the mock's finisher makes them,
    // before the clock starts: their cost is the finisher's, not the
    // dispatcher's.
    let rules = rules.to_vec();
    let (jobs, expected) = {
        let (d, url) = (d.clone(), url.to_owned());
        tokio::spawn(async move { d.finished_tasks(&url, &rules, n, code_for) })
            .await
            .unwrap()
    };
    let start = Instant::now();
    let cpu = cpu_time();
    // Handed over from a runtime worker, as the finisher does.
    let feeder = {
        let d = d.clone();
        tokio::spawn(async move {
            for (i, job) in jobs.into_iter().enumerate() {
                if !burst && i % 1024 == 0 {
                    while d.stats().pending > 4096 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                if job.is_early() {
                    // The submit handler awaits this; here, a task per submit.
                    let d = d.clone();
                    tokio::spawn(async move { d.deliver_now(job).await });
                } else {
                    d.enqueue(job);
                }
            }
        })
    };
    feeder.await.unwrap();
    loop {
        let s = d.stats();
        if s.delivered + s.failed >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time() - cpu;
    let s = d.stats();
    // Anything sent that did not reach the receiver is a dispatcher failure.
    let lost: Vec<_> = d
        .attempts()
        .into_iter()
        .filter(|r| !r.outcome.reached_receiver() && r.was_sent())
        .take(3)
        .collect();
    assert!(lost.is_empty(), "{s:?} {lost:#?}");
    (s.delivered + s.failed, elapsed, cpu)
}

/// CPU time (user + system, all threads) used by this process so far, from
/// `/proc/self/stat` (clock ticks, 100 per second); zero where unavailable.
/// Less sensitive than wall time to other load on a shared machine.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command (which may hold spaces) end with ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

fn rate(count: u64, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64()
}

/// The three runs, `rounds` times: per round the rates (callbacks/s) and the CPU time per
/// callback (µs) of plain, dispatcher without faults, dispatcher with every fault.
async fn run_rounds(
    url: &str,
    n: u64,
    concurrency: usize,
    rounds: usize,
    rules: &[FaultRule],
) -> (Vec<[f64; 3]>, Vec<[f64; 3]>) {
    // Rounds alternate the order of the three runs, so a slow drift in
    // the machine's load favours none of them; ratios are taken within
    // a round and the median reported.
    let mut rows = Vec::new();
    let mut cpus = Vec::new();
    for round in 1..=rounds {
        let mut r = [0f64; 3];
        let mut cpu = [0f64; 3];
        let order: [usize; 3] = if round % 2 == 1 { [0, 1, 2] } else { [2, 1, 0] };
        for which in order {
            let (c, d, used) = match which {
                0 => plain(url, n, concurrency).await,
                1 => dispatcher(url, n, concurrency, &[], false).await,
                _ => dispatcher(url, n, concurrency, rules, false).await,
            };
            r[which] = rate(c, d);
            cpu[which] = used.as_secs_f64() * 1e6 / c as f64;
        }
        println!(
            "round {round}: plain {:.0}/s | dispatcher {:.0}/s ({:.1}%) | with faults {:.0}/s ({:.1}% of no faults) \
             | CPU per callback (sender + receiver): {:.1} / {:.1} / {:.1} µs",
            r[0],
            r[1],
            100.0 * r[1] / r[0],
            r[2],
            100.0 * r[2] / r[1],
            cpu[0],
            cpu[1],
            cpu[2]
        );
        rows.push(r);
        cpus.push(cpu);
    }
    (rows, cpus)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // as a smoke test of every path (unoptimised, so a short one).
    let benching = std::env::args().any(|a| a == "--bench");
    if !benching {
        println!("smoke run (no --bench): one short round; `cargo bench` measures");
    }
    let (default_n, default_rounds) = if benching { (40_000, 5) } else { (2_000, 1) };
    let n = env_or("PINGBACK_BENCH_N", default_n) as u64;
    let concurrency = env_or("PINGBACK_BENCH_CONCURRENCY", 64);
    let rounds = env_or("PINGBACK_BENCH_ROUNDS", default_rounds);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let hits = Arc::new(AtomicU64::new(0));
        let url = receiver(hits.clone()).await;
        let rules = rules_with_every_fault();
        // Warm up connections and allocator.
        plain(&url, 2_000, concurrency).await;
        dispatcher(&url, 2_000, concurrency, &[], false).await;
        let only = std::env::var("PINGBACK_BENCH_ONLY").unwrap_or_default();
        if !only.is_empty() {
            // For profiling one path: `PINGBACK_BENCH_ONLY=plain|none|faults`.
            let (c, d, used) = match only.as_str() {
                "plain" => plain(&url, n, concurrency).await,
                "none" => dispatcher(&url, n, concurrency, &[], false).await,
                "burst" => dispatcher(&url, n, concurrency, &[], true).await,
                _ => dispatcher(&url, n, concurrency, &rules, false).await,
            };
            println!(
                "{only}: {c} in {d:.2?} = {:.0}/s, {:.1} µs CPU each",
                rate(c, d),
                used.as_secs_f64() * 1e6 / c as f64
            );
            return;
        }
        let (rows, cpus) = run_rounds(&url, n, concurrency, rounds, &rules).await;
        let col = |i: usize| median(rows.iter().map(|r| r[i]).collect());
        let none_vs_plain = median(rows.iter().map(|r| r[1] / r[0]).collect());
        let faults_vs_none = median(rows.iter().map(|r| r[2] / r[1]).collect());
        println!();
        println!("callbacks per run: {n}, concurrency: {concurrency}, medians of {rounds} rounds");
        println!("plain reqwest loop       {:>8.0} callbacks/s", col(0));
        println!(
            "dispatcher, no faults    {:>8.0} callbacks/s  {:>5.1}% of plain   (target >= 80%)",
            col(1),
            100.0 * none_vs_plain
        );
        println!(
            "dispatcher, faults @10%  {:>8.0} callbacks/s  {:>5.1}% of no faults (target >= 90%)",
            col(2),
            100.0 * faults_vs_none
        );
        if std::env::var_os("PINGBACK_BENCH_BURST").is_some() {
            let (c, d, used) = dispatcher(&url, n, concurrency, &[], true).await;
            println!(
                "dispatcher, one burst    {:>8.0} callbacks/s  ({:.1} µs CPU each; all {n} jobs handed over at once)",
                rate(c, d),
                used.as_secs_f64() * 1e6 / c as f64
            );
        }
        let (c, d, used) =
            dispatcher(&url, (n / 50).max(100), concurrency, &oversized_only(), false).await;
        println!(
            "oversized-code alone      {:>8.0} callbacks/s  ({:.0} µs CPU each; half of them carry a 64 KB URL)",
            rate(c, d),
            used.as_secs_f64() * 1e6 / c as f64
        );
        let cpu = |i: usize| median(cpus.iter().map(|c| c[i]).collect());
        println!(
            "CPU per callback, sender and receiver together: plain {:.1} µs, dispatcher {:.1} µs, with faults {:.1} µs",
            cpu(0),
            cpu(1),
            cpu(2)
        );
    });
}
