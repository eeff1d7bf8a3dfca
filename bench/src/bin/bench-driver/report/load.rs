//! The `load` section: the conformance flow on the `load/thousand-faulted` scenario scaled
//! to 10 000, 100 000 and 1 000 000 tasks (`run.sh` writes, per size N, the scenario's JSON
//! report `load-N.json`, GNU time's figures `load-N-time.json` and the exit code
//! `load-N-exit.txt`; the sizes in `load-sizes.txt`). Wall time and peak RSS are the whole
//! process's: parsing, the run, the checks and writing the report.
//!
//! Then the same sizes with the reference receiver's store on Redis (`--reference-store`,
//! a fresh `redis-server` per size): the same files named `load-redis-N*`, and Redis's own
//! `INFO memory` after the run in `load-redis-N-memory.txt` (its peak is not in the
//! harness's RSS).

use std::fmt::Write as _;

use serde_json::Value;

use super::{Results, mib, rate, times};

/// Where the reference receiver's store was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Memory,
    Redis,
}

impl Store {
    /// The files' stem for `tasks`.
    fn stem(self, tasks: u64) -> String {
        match self {
            Store::Memory => format!("load-{tasks}"),
            Store::Redis => format!("load-redis-{tasks}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Redis => "redis",
        }
    }
}

/// One size's figures.
struct Size {
    tasks: u64,
    store: Store,
    /// The scenario's verdict (`OK`, `FAILED`, ...), or why there is none.
    verdict: String,
    /// Graded checks that passed, and all graded checks (informational ones left out).
    checks_ok: usize,
    checks: usize,
    /// Graded checks that did not pass, by id.
    not_ok: Vec<String>,
    wall_s: Option<f64>,
    peak_kib: Option<f64>,
    /// Submits, polls, pingback attempts and application results, as the `summary` check
    /// counts them.
    events: Option<f64>,
    exit: Option<i64>,
    /// Redis's own peak memory (`used_memory_peak`, bytes), for the Redis runs.
    redis_peak_bytes: Option<f64>,
}

impl Size {
    /// The figures of one run; None for a Redis run that did not run (no exit code).
    fn read(r: &Results<'_>, tasks: u64, store: Store) -> Option<Size> {
        let stem = store.stem(tasks);
        let time = r.json(&format!("{stem}-time.json"));
        let t = |k: &str| time.as_ref().and_then(|v| v.get(k)?.as_f64());
        let exit = r
            .text(&format!("{stem}-exit.txt"))
            .and_then(|s| s.trim().parse().ok());
        if exit.is_none() && store == Store::Redis {
            return None;
        }
        let redis_peak_bytes = r
            .text(&format!("{stem}-memory.txt"))
            .and_then(|info| info_field(&info, "used_memory_peak"));
        let mut size = Size {
            tasks,
            store,
            redis_peak_bytes,
            verdict: "no report".into(),
            checks_ok: 0,
            checks: 0,
            not_ok: Vec::new(),
            wall_s: t("process_wall_s"),
            peak_kib: t("peak_kib"),
            events: None,
            exit,
        };
        let Some(report) = r.json(&format!("{stem}.json")) else {
            return Some(size);
        };
        let Some(scenario) = report.pointer("/scenarios/0") else {
            return Some(size);
        };
        if let Some(v) = scenario.get("verdict").and_then(Value::as_str) {
            v.clone_into(&mut size.verdict);
        }
        for c in scenario
            .get("checks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = c.get("id").and_then(Value::as_str).unwrap_or("?");
            match c.get("verdict").and_then(Value::as_str) {
                Some("INFORMATIONAL") => {
                    if id == "summary" {
                        size.events = c.get("summary").and_then(Value::as_str).map(events);
                    }
                }
                Some("OK") => {
                    size.checks += 1;
                    size.checks_ok += 1;
                }
                _ => {
                    size.checks += 1;
                    size.not_ok.push(id.to_owned());
                }
            }
        }
        Some(size)
    }

    /// Every graded check OK, and the process exited 0.
    fn all_ok(&self) -> bool {
        self.verdict == "OK"
            && self.checks > 0
            && self.checks_ok == self.checks
            && self.exit == Some(0)
    }
}

/// The events a `summary` check counts: every number before its simulated time
/// (`100000 submit(s), 6296 poll(s), pingback attempts: 110855 delivered, ...; application:
/// 100000 result(s); 183.594s simulated`).
fn events(summary: &str) -> f64 {
    summary
        .rsplit_once(';')
        .map_or(summary, |(counts, _simulated)| counts)
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<f64>().ok())
        .sum()
}

/// A numeric field of `INFO` (`name:value` lines).
fn info_field(info: &str, name: &str) -> Option<f64> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

fn secs(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |s| {
        if s < 100.0 {
            format!("{s:.2} s")
        } else {
            format!("{s:.0} s ({:.1} min)", s / 60.0)
        }
    })
}

/// A target row: what, the figure, met or not.
pub(super) type Target = (String, String, Option<bool>);

/// Writes the section; gives the rows for the targets table.
pub(super) fn section(r: &Results<'_>, o: &mut String) -> anyhow::Result<Vec<Target>> {
    writeln!(
        o,
        "\n## Load: the conformance flow at scale (`load/thousand-faulted` scaled, reference subject, in-process)\n"
    )?;
    let sizes: Vec<u64> = r
        .text("load-sizes.txt")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    if sizes.is_empty() {
        writeln!(o, "n/a (section skipped)")?;
        return Ok(Vec::new());
    }
    // Each size in memory, then on Redis (when it ran).
    let sizes: Vec<Size> = sizes
        .into_iter()
        .flat_map(|n| [Store::Memory, Store::Redis].map(|store| (n, store)))
        .filter_map(|(n, store)| Size::read(r, n, store))
        .collect();
    writeln!(
        o,
        "| tasks | store | verdict | checks OK | wall | peak RSS (harness) | Redis peak memory | events | events/s | wall / previous size | wall / in memory |"
    )?;
    writeln!(o, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for s in &sizes {
        let failed = if s.not_ok.is_empty() {
            String::new()
        } else {
            format!(" (not OK: {})", s.not_ok.join(", "))
        };
        let exit = match s.exit {
            Some(0) | None => String::new(),
            Some(code) => format!(", exit {code}"),
        };
        // The previous size on the same store, and this size in memory.
        let previous = sizes
            .iter()
            .filter(|p| p.store == s.store && p.tasks < s.tasks)
            .max_by_key(|p| p.tasks);
        let in_memory = sizes
            .iter()
            .find(|m| m.store == Store::Memory && m.tasks == s.tasks);
        let redis_peak = match s.store {
            Store::Memory => "-".to_owned(),
            Store::Redis => mib(s.redis_peak_bytes.map(|b| b / 1024.0)),
        };
        writeln!(
            o,
            "| {} | {} | {}{failed}{exit} | {}/{} | {} | {} | {redis_peak} | {} | {} | {} | {} |",
            rate(Some(s.tasks as f64)),
            s.store.name(),
            s.verdict,
            s.checks_ok,
            s.checks,
            secs(s.wall_s),
            mib(s.peak_kib),
            rate(s.events),
            rate(super::ratio(s.events, s.wall_s)),
            previous.map_or("".into(), |p| format!(
                "{} for {}x the tasks",
                times(super::ratio(s.wall_s, p.wall_s)),
                s.tasks / p.tasks.max(1)
            )),
            match (s.store, in_memory) {
                (Store::Redis, Some(m)) => times(super::ratio(s.wall_s, m.wall_s)),
                _ => String::new(),
            },
        )?;
    }
    if let Some(version) = r.text("load-redis-version.txt") {
        writeln!(
            o,
            "\nRedis runs: `--reference-store redis://127.0.0.1:PORT/`, a fresh `{}` per size (no persistence); its peak memory is `INFO memory`'s `used_memory_peak` after the run.",
            version.trim().split(" sha=").next().unwrap_or_default()
        )?;
    }
    let find = |n: u64| {
        sizes
            .iter()
            .find(|s| s.tasks == n && s.store == Store::Memory)
    };
    let mut targets = Vec::new();
    if let Some(s) = find(100_000) {
        targets.push((
            "load, 100,000 tasks: every check OK".into(),
            format!("{}/{}", s.checks_ok, s.checks),
            Some(s.all_ok()),
        ));
        targets.push((
            "load, 100,000 tasks: wall < 15 s".into(),
            secs(s.wall_s),
            s.wall_s.map(|w| w < 15.0),
        ));
        targets.push((
            "load, 100,000 tasks: peak RSS < 1 GiB".into(),
            mib(s.peak_kib),
            s.peak_kib.map(|k| k < 1024.0 * 1024.0),
        ));
        let x = find(10_000).and_then(|t| super::ratio(s.wall_s, t.wall_s));
        targets.push((
            "load: 100,000 tasks take <= 12x the wall of 10,000".into(),
            times(x),
            x.map(|x| x <= 12.0),
        ));
    }
    if let Some(s) = find(1_000_000) {
        targets.push((
            "load, 1,000,000 tasks: every check OK".into(),
            format!("{}/{}", s.checks_ok, s.checks),
            Some(s.all_ok()),
        ));
        targets.push((
            "load, 1,000,000 tasks: wall < 4 min".into(),
            secs(s.wall_s),
            s.wall_s.map(|w| w < 240.0),
        ));
        targets.push((
            "load, 1,000,000 tasks: peak RSS < 6 GiB".into(),
            mib(s.peak_kib),
            s.peak_kib.map(|k| k < 6.0 * 1024.0 * 1024.0),
        ));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::{events, info_field};

    #[test]
    fn info_fields_are_read_by_name() {
        let info = "# Memory\r\nused_memory:1000\r\nused_memory_peak:2048\r\nused_memory_peak_human:2K\r\n";
        assert_eq!(info_field(info, "used_memory_peak"), Some(2048.0));
        assert_eq!(info_field(info, "used_memory"), Some(1000.0));
        assert_eq!(info_field(info, "maxmemory"), None);
    }

    #[test]
    fn events_are_the_counts_before_the_simulated_time() {
        let s = "100000 submit(s), 6296 poll(s), pingback attempts: 110855 delivered, 4953 dropped, \
                 4077 rejected; application: 100000 result(s); 183.594s simulated";
        assert_eq!(events(s), 326_181.0);
    }
}
