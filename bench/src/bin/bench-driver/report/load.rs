//! The `load` section: the conformance flow on the `load/thousand-faulted` scenario scaled
//! to 10 000, 100 000 and 1 000 000 tasks (`run.sh` writes, per size N, the scenario's JSON
//! report `load-N.json`, GNU time's figures `load-N-time.json` and the exit code
//! `load-N-exit.txt`; the sizes in `load-sizes.txt`). Wall time and peak RSS are the whole
//! process's: parsing, the run, the checks and writing the report.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Results, mib, rate, times};

/// One size's figures.
struct Size {
    tasks: u64,
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
}

impl Size {
    fn read(r: &Results<'_>, tasks: u64) -> Size {
        let time = r.json(&format!("load-{tasks}-time.json"));
        let t = |k: &str| time.as_ref().and_then(|v| v.get(k)?.as_f64());
        let exit = r
            .text(&format!("load-{tasks}-exit.txt"))
            .and_then(|s| s.trim().parse().ok());
        let mut size = Size {
            tasks,
            verdict: "no report".into(),
            checks_ok: 0,
            checks: 0,
            not_ok: Vec::new(),
            wall_s: t("process_wall_s"),
            peak_kib: t("peak_kib"),
            events: None,
            exit,
        };
        let Some(report) = r.json(&format!("load-{tasks}.json")) else {
            return size;
        };
        let Some(scenario) = report.pointer("/scenarios/0") else {
            return size;
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
        size
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
    let sizes: Vec<Size> = sizes.into_iter().map(|n| Size::read(r, n)).collect();
    writeln!(
        o,
        "| tasks | verdict | checks OK | wall | peak RSS | events | events/s | wall / previous size |"
    )?;
    writeln!(o, "|---:|---|---:|---:|---:|---:|---:|---:|")?;
    let mut previous: Option<&Size> = None;
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
        writeln!(
            o,
            "| {} | {}{failed}{exit} | {}/{} | {} | {} | {} | {} | {} |",
            rate(Some(s.tasks as f64)),
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
        )?;
        previous = Some(s);
    }
    let find = |n: u64| sizes.iter().find(|s| s.tasks == n);
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
    use super::events;

    #[test]
    fn events_are_the_counts_before_the_simulated_time() {
        let s = "100000 submit(s), 6296 poll(s), pingback attempts: 110855 delivered, 4953 dropped, \
                 4077 rejected; application: 100000 result(s); 183.594s simulated";
        assert_eq!(events(s), 326_181.0);
    }
}
