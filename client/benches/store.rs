//! The result store's cost per insert as it grows: flat from 10 000 to 1 000 000 entries,
//! whatever the mix of awaited, registered and unregistered entries.
//!
//! Run in release: `cargo bench -p captchaai-client --bench store`.
//!
//! For each size N a store (capacity N, a ttl longer than the run) is filled with N
//! entries, then `ops` more inserts are timed, each at capacity:
//!
//! - **awaited**: every entry is registered and waited on (the harness's case: one waiter per
//!   task in flight). Each insert is a new wait; nothing can be evicted, so the store grows
//!   past its capacity by the new waiters.
//! - **registered**: registered ids nobody waits on. Each insert (a registration) evicts the
//!   oldest.
//! - **orphans**: everything awaited, and each insert is a result for an id nobody
//!   registered, which evicts the previous one (unregistered results go first).
//! - **gave-up**: every entry was waited on and passed over by an eviction, then every
//!   waiter gave up. Each insert (a registration) evicts the oldest of them.
//! - **hashmap-floor**: no store: a bare `HashMap` of entry-sized values where each insert
//!   removes the oldest key. What any map of that size costs on this machine (caches), for
//!   comparison with `registered`, which does the same plus its bookkeeping.
//!
//! Figures: nanoseconds per insert in the steady state (the median round); the fill's wall
//! time per entry, which includes the first insert at capacity (it passes over every awaited
//! entry once: the amortised part of the cost); and the growth of the process's resident
//! memory during the fill divided by N (for the workloads with waiters this includes each
//! waiting future, about what an application's waiting task holds). Each cell runs in a
//! process of its own.
//!
//! Environment: `STORE_BENCH_SIZES` (comma-separated, default `10000,100000,1000000`),
//! `STORE_BENCH_OPS` (timed inserts per round, default 20 000), `STORE_BENCH_ROUNDS`
//! (default 3), `STORE_BENCH_ONLY` (one workload by name). Without `--bench` (as
//! `cargo test --all-targets` runs it) it is a smoke run with small sizes.

// Wall-clock time is the point of a benchmark; nothing here is simulated.
#![allow(clippy::disallowed_methods)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use captchaai_client::TaskId;
use captchaai_client::receiver::{ResultSource, ResultStore, StoreConfig, TaskResult};

type Waiting = Pin<Box<dyn Future<Output = captchaai_client::Result<TaskResult>>>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Awaited,
    Registered,
    Orphans,
    GaveUp,
    HashMapFloor,
}

impl Workload {
    const ALL: [Workload; 5] = [
        Workload::Awaited,
        Workload::Registered,
        Workload::Orphans,
        Workload::GaveUp,
        Workload::HashMapFloor,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::Awaited => "awaited",
            Workload::Registered => "registered",
            Workload::Orphans => "orphans",
            Workload::GaveUp => "gave-up",
            Workload::HashMapFloor => "hashmap-floor",
        }
    }
}

/// A store of one size, filled for one workload, with the waits it holds.
struct Filled {
    store: ResultStore,
    waits: Vec<Waiting>,
    next_id: u64,
    /// Resident memory growth during the fill.
    fill_bytes: u64,
    /// Wall time of the fill, in nanoseconds per entry.
    fill_ns: f64,
}

/// Starts a wait and polls it once: the id is registered and awaited from then on.
/// The answer of an in-memory store's operation, which is ready when first polled.
fn at_once<T>(operation: impl Future<Output = T>) -> T {
    futures::FutureExt::now_or_never(operation).expect("the in-memory store never waits")
}

fn start_wait(store: &ResultStore, id: u64, deadline: tokio::time::Instant) -> Waiting {
    let store = store.clone();
    let mut waiting: Waiting =
        Box::pin(async move { store.wait_until(TaskId::new(id), deadline).await });
    let polled = waiting
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending(), "task {id} has no result yet");
    waiting
}

fn fill(workload: Workload, size: usize) -> Filled {
    let before = resident_bytes();
    let start = Instant::now();
    let store = ResultStore::with_config(StoreConfig {
        ttl: Duration::from_secs(24 * 3600),
        capacity: size,
        ..StoreConfig::default()
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
    let mut waits = Vec::new();
    for id in 0..size as u64 {
        match workload {
            Workload::Registered => {
                at_once(store.register(TaskId::new(id))).expect("a memory store");
            }
            Workload::Awaited | Workload::Orphans | Workload::GaveUp => {
                waits.push(start_wait(&store, id, deadline));
            }
            Workload::HashMapFloor => unreachable!("measured without a store"),
        }
    }
    let mut next_id = size as u64;
    if matches!(
        workload,
        Workload::Awaited | Workload::Orphans | Workload::GaveUp
    ) {
        // The first insert at capacity passes over every awaited entry, once: each costs a
        // step then, and never again while it is awaited. That is part of what filling the
        // store costs (amortised over the entries), not of the steady state timed below.
        waits.push(start_wait(&store, next_id, deadline));
        next_id += 1;
    }
    if workload == Workload::GaveUp {
        waits.clear();
    }
    let fill_ns = start.elapsed().as_nanos() as f64 / size as f64;
    let fill_bytes = resident_bytes().saturating_sub(before);
    Filled {
        store,
        waits,
        next_id,
        fill_bytes,
        fill_ns,
    }
}

/// Times `ops` inserts at capacity; nanoseconds per insert.
fn timed_inserts(workload: Workload, filled: &mut Filled, ops: u64) -> f64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
    let start = Instant::now();
    for _ in 0..ops {
        let id = filled.next_id;
        filled.next_id += 1;
        match workload {
            Workload::Awaited => {
                let waiting = start_wait(&filled.store, id, deadline);
                filled.waits.push(waiting);
            }
            Workload::Registered | Workload::GaveUp | Workload::HashMapFloor => {
                at_once(filled.store.register(TaskId::new(id))).expect("a memory store");
            }
            Workload::Orphans => {
                let recorded =
                    filled
                        .store
                        .record(TaskId::new(id), "03AGdBq24", ResultSource::Pingback);
                at_once(recorded).expect("a non-empty code");
            }
        }
    }
    start.elapsed().as_nanos() as f64 / ops as f64
}

/// `VmRSS` of this process, in bytes (0 where `/proc` is missing).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .split(',')
            .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{name}: {s:?}")))
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse().unwrap_or_else(|_| panic!("{name}: {v:?}"))
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The floor: a map of entry-sized values, each insert removing the oldest key.
fn hashmap_floor(size: usize, ops: u64, rounds: u64) -> (f64, f64, f64) {
    let mut per_round = Vec::new();
    let mut fills = Vec::new();
    let mut bytes = None;
    for _ in 0..rounds {
        let before = resident_bytes();
        let start = Instant::now();
        let mut map: std::collections::HashMap<TaskId, [u64; 12]> =
            std::collections::HashMap::new();
        for id in 0..size as u64 {
            map.insert(TaskId::new(id), [id; 12]);
        }
        fills.push(start.elapsed().as_nanos() as f64 / size as f64);
        bytes.get_or_insert(resident_bytes().saturating_sub(before) as f64 / size as f64);
        let start = Instant::now();
        for n in 0..ops {
            let id = size as u64 + n;
            map.insert(TaskId::new(id), [id; 12]);
            map.remove(&TaskId::new(n));
        }
        per_round.push(start.elapsed().as_nanos() as f64 / ops as f64);
        std::hint::black_box(&map);
    }
    (median(per_round), median(fills), bytes.unwrap_or(0.0))
}

/// Measures one workload at one size: (nanoseconds per insert, nanoseconds per entry of the
/// fill, resident bytes per entry).
fn cell(workload: Workload, size: usize, ops: u64, rounds: u64) -> (f64, f64, f64) {
    if workload == Workload::HashMapFloor {
        return hashmap_floor(size, ops, rounds);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    let _guard = runtime.enter();
    let mut per_round = Vec::new();
    let mut fills = Vec::new();
    let mut bytes = None;
    for _ in 0..rounds {
        let mut filled = fill(workload, size);
        // Later rounds reuse the memory the first one freed: only the first fill counts.
        bytes.get_or_insert(filled.fill_bytes as f64 / size as f64);
        fills.push(filled.fill_ns);
        per_round.push(timed_inserts(workload, &mut filled, ops));
    }
    (median(per_round), median(fills), bytes.unwrap_or(0.0))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // as a smoke test of every path (unoptimised, so a short one).
    let benching = std::env::args().any(|a| a == "--bench");
    let ops = env_or("STORE_BENCH_OPS", if benching { 20_000 } else { 500 }).max(1);
    let rounds = env_or("STORE_BENCH_ROUNDS", if benching { 3 } else { 1 }).max(1);

    // Each cell runs in a process of its own, so that one cell's freed memory cannot hide
    // the next one's growth.
    if let Ok(spec) = std::env::var("STORE_BENCH_CELL") {
        let (name, size) = spec
            .split_once(':')
            .expect("STORE_BENCH_CELL=workload:size");
        let workload = Workload::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .expect("a workload name");
        let size: usize = size.parse().expect("a size");
        let (ns, fill_ns, bytes) = cell(workload, size, ops, rounds);
        println!("{ns} {fill_ns} {bytes}");
        return;
    }

    if !benching {
        println!("smoke run (no --bench): small sizes; `cargo bench` measures");
    }
    let default_sizes: &[usize] = if benching {
        &[10_000, 100_000, 1_000_000]
    } else {
        &[1_000, 4_000]
    };
    let sizes = env_list("STORE_BENCH_SIZES", default_sizes);
    let only = std::env::var("STORE_BENCH_ONLY").unwrap_or_default();
    let exe = std::env::current_exe().expect("the bench's own path");

    println!("{ops} timed inserts per round, {rounds} rounds, median round");
    println!(
        "| workload | entries | ns per insert | vs. {} | fill, ns per entry | resident bytes per entry |",
        sizes[0]
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for workload in Workload::ALL {
        if !only.is_empty() && only != workload.name() {
            continue;
        }
        let mut first = None;
        for &size in &sizes {
            let output = std::process::Command::new(&exe)
                .args(std::env::args().skip(1))
                .env("STORE_BENCH_CELL", format!("{}:{size}", workload.name()))
                .env("STORE_BENCH_OPS", ops.to_string())
                .env("STORE_BENCH_ROUNDS", rounds.to_string())
                .output()
                .expect("the bench runs itself");
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{} at {size}: {}{}",
                workload.name(),
                text,
                String::from_utf8_lossy(&output.stderr)
            );
            let mut figures = text
                .split_whitespace()
                .map(|f| f.parse::<f64>().unwrap_or(0.0));
            let ns = figures.next().unwrap_or(0.0);
            let fill_ns = figures.next().unwrap_or(0.0);
            let bytes = figures.next().unwrap_or(0.0);
            let base = *first.get_or_insert(ns);
            println!(
                "| {} | {size} | {ns:.0} | {:.2}x | {fill_ns:.0} | {bytes:.0} |",
                workload.name(),
                ns / base,
            );
        }
    }
}
