//! The results table: reads what `run.sh` wrote into a results directory and
//! renders Markdown, with ratios and the project's targets. A figure that is
//! missing (a section skipped or failed) shows as `n/a`.

use std::{fmt::Write as _, path::Path};

use serde_json::Value;

mod dashboard;
mod load;

/// A polled server: file-name stem and label.
const SERVERS: &[(&str, &str)] = &[
    (
        "ceiling",
        "bare axum handler (ceiling, one worker per core)",
    ),
    (
        "ceiling-same-workers",
        "bare axum handler, as many workers as the mock",
    ),
    ("mock", "**captchaai-mock**"),
    (
        "wiremock-tuned",
        "WireMock, tuned (`--no-request-journal --disable-request-logging`)",
    ),
    ("wiremock-defaults", "WireMock, defaults"),
    (
        "wiremock-tuned-noquery",
        "WireMock, tuned, polled without the query string (its best case)",
    ),
];

struct Results<'a> {
    dir: &'a Path,
}

impl Results<'_> {
    fn text(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(name)).ok()
    }

    fn json(&self, name: &str) -> Option<Value> {
        let text = self.text(name)?;
        serde_json::from_str(text.trim()).ok()
    }

    fn num(&self, name: &str, pointer: &str) -> Option<f64> {
        self.json(name)?.pointer(pointer)?.as_f64()
    }

    /// The wrk runs of `key` (`mock-c64`): one file, or one per round.
    fn wrk_runs(&self, key: &str) -> Vec<Value> {
        if let Some(v) = self.json(&format!("wrk-{key}.json")) {
            return vec![v];
        }
        (1..)
            .map_while(|round| self.json(&format!("wrk-{key}-r{round}.json")))
            .collect()
    }

    /// A figure of the median round (by requests per second) of `key`.
    fn wrk(&self, key: &str, field: &str) -> Option<f64> {
        let mut runs = self.wrk_runs(key);
        runs.sort_by(|a, b| rps_of(a).total_cmp(&rps_of(b)));
        let median = runs.get(runs.len().checked_sub(1)? / 2)?;
        median.get(field)?.as_f64()
    }

    /// `min-max` requests per second over the rounds of `key`.
    fn spread(&self, key: &str) -> String {
        let rps: Vec<f64> = self.wrk_runs(key).iter().map(rps_of).collect();
        if rps.len() < 2 {
            return String::new();
        }
        let min = rps.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rps.iter().copied().fold(0.0, f64::max);
        format!(" ({}-{})", rate(Some(min)), rate(Some(max)))
    }

    /// The median over rounds of `a`'s throughput divided by `b`'s in the
    /// same round: both saw the same machine, whatever else ran on it.
    fn round_ratio(&self, a: &str, b: &str) -> Option<f64> {
        let (ra, rb) = (self.wrk_runs(a), self.wrk_runs(b));
        let mut ratios: Vec<f64> = ra
            .iter()
            .zip(&rb)
            .filter(|(_, y)| rps_of(y) > 0.0)
            .map(|(x, y)| rps_of(x) / rps_of(y))
            .collect();
        ratios.sort_by(f64::total_cmp);
        match ratios.len() {
            0 => None,
            n if n % 2 == 1 => Some(ratios[n / 2]),
            n => Some((ratios[n / 2 - 1] + ratios[n / 2]) / 2.0),
        }
    }

    fn kib(&self, name: &str) -> Option<f64> {
        self.text(name)?.trim().parse().ok()
    }

    /// `(label, KiB)` samples of a sustained-load RSS file.
    fn rss_samples(&self, name: &str) -> Vec<(String, f64)> {
        self.text(&format!("rss-{name}-sustained.tsv"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (t, k) = l.split_once('\t')?;
                Some((t.to_owned(), k.trim().parse().ok()?))
            })
            .collect()
    }

    /// A `callbacks/s` figure from the pingback bench's summary.
    fn pingback(&self, prefix: &str) -> Option<f64> {
        self.text("pingback.txt")?.lines().find_map(|l| {
            l.strip_prefix(prefix)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
    }
}

fn rps_of(v: &Value) -> f64 {
    v.get("rps").and_then(Value::as_f64).unwrap_or(0.0)
}

fn rate(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) => {
            let n = v.round() as u64;
            let s = n.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
    }
}

fn ms_from_us(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |us| format!("{:.2} ms", us / 1000.0))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |ms| {
        if ms < 100.0 {
            format!("{ms:.1} ms")
        } else {
            format!("{:.2} s", ms / 1000.0)
        }
    })
}

fn mib(kib: Option<f64>) -> String {
    kib.map_or("n/a".into(), |k| {
        if k >= 1024.0 * 1024.0 {
            format!("{:.2} GiB", k / 1024.0 / 1024.0)
        } else {
            format!("{:.1} MiB", k / 1024.0)
        }
    })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |r| format!("{:.0}%", r * 100.0))
}

fn times(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |r| format!("{r:.1}x"))
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "n/a",
    }
}

/// Renders the whole report.
///
/// Over 100 lines on purpose, for now: the report is one page written top to bottom, and the
/// targets table at its end reads figures from every section before it (about fifteen
/// values); the newer sections (`journal_section`, `load::section`, `dashboard`) already
/// return theirs. Moving the older sections out means giving each a results struct the
/// targets read, the next change this file should get.
pub(crate) fn render(dir: &Path) -> anyhow::Result<String> {
    let r = Results { dir };
    let mut o = String::new();
    let env = r.text("env.txt").unwrap_or_default();
    writeln!(o, "## Environment\n")?;
    for line in env.lines() {
        writeln!(o, "- {line}")?;
    }

    // Polling.
    writeln!(
        o,
        "\n## Polling `res.php?action=get` for a pending task (`json=1`), `wrk -t1 --latency`\n"
    )?;
    writeln!(
        o,
        "| server | c64 req/s | c64 p50 | c64 p99 | c256 req/s | c256 p50 | c256 p99 | socket errors / non-2xx |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for (name, label) in SERVERS {
        if r.wrk_runs(&format!("{name}-c64")).is_empty() {
            continue;
        }
        let errors: f64 = ["c64", "c256"]
            .iter()
            .flat_map(|c| r.wrk_runs(&format!("{name}-{c}")))
            .filter_map(|v| {
                let e = v.get("errors")?.as_object()?;
                Some(e.values().filter_map(Value::as_f64).sum::<f64>())
            })
            .sum();
        writeln!(
            o,
            "| {label} | {}{} | {} | {} | {}{} | {} | {} | {} |",
            rate(r.wrk(&format!("{name}-c64"), "rps")),
            r.spread(&format!("{name}-c64")),
            ms_from_us(r.wrk(&format!("{name}-c64"), "p50_us")),
            ms_from_us(r.wrk(&format!("{name}-c64"), "p99_us")),
            rate(r.wrk(&format!("{name}-c256"), "rps")),
            r.spread(&format!("{name}-c256")),
            ms_from_us(r.wrk(&format!("{name}-c256"), "p50_us")),
            ms_from_us(r.wrk(&format!("{name}-c256"), "p99_us")),
            errors
        )?;
    }
    let of_ceiling64 = r.round_ratio("mock-c64", "ceiling-c64");
    let of_ceiling256 = r.round_ratio("mock-c256", "ceiling-c256");
    let of_same64 = r.round_ratio("mock-c64", "ceiling-same-workers-c64");
    let of_same256 = r.round_ratio("mock-c256", "ceiling-same-workers-c256");
    let vs_tuned64 = r.round_ratio("mock-c64", "wiremock-tuned-c64");
    let vs_tuned256 = r.round_ratio("mock-c256", "wiremock-tuned-c256");
    let vs_default64 = r.round_ratio("mock-c64", "wiremock-defaults-c64");
    let vs_noquery64 = r.round_ratio("mock-c64", "wiremock-tuned-noquery-c64");
    writeln!(
        o,
        "\nFigures are from the median of {} interleaved rounds (range of req/s in brackets); ratios are the median of the per-round ratios.\n\ncaptchaai-mock polls at **{} of the ceiling** at c64 ({} at c256), **{} tuned WireMock** at c64 ({} at c256), {} WireMock with defaults, {} tuned WireMock polled without a query string.",
        r.wrk_runs("mock-c64").len(),
        pct(of_ceiling64),
        pct(of_ceiling256),
        times(vs_tuned64),
        times(vs_tuned256),
        times(vs_default64),
        times(vs_noquery64),
    )?;
    if of_same64.is_some() {
        writeln!(
            o,
            "Against the bare handler with as many worker threads as the mock: {} at c64 ({} at c256).",
            pct(of_same64),
            pct(of_same256),
        )?;
    }

    // Submits.
    let submits = r.wrk("mock-submit", "rps");
    let submit_ceiling = r.wrk("ceiling-submit", "rps");
    let accepted = match (
        r.num("health-mock-submit-before.json", "/counters/submitted"),
        r.num("health-mock-submit-after.json", "/counters/submitted"),
        r.wrk("mock-submit", "requests"),
    ) {
        (Some(a), Some(b), Some(n)) if n > 0.0 => Some(((b - a) / n).min(1.0)),
        _ => None,
    };
    writeln!(
        o,
        "\n## Submits: `in.php` (a fresh task each request), `wrk -t1 -c64`\n"
    )?;
    writeln!(
        o,
        "| server | submits/s | p50 | p99 | tasks created / answers |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|")?;
    writeln!(
        o,
        "| bare axum handler (ceiling: a counter, no task) | {} | {} | {} | n/a |",
        rate(submit_ceiling),
        ms_from_us(r.wrk("ceiling-submit", "p50_us")),
        ms_from_us(r.wrk("ceiling-submit", "p99_us")),
    )?;
    writeln!(
        o,
        "| **captchaai-mock** | {} | {} | {} | {} |",
        rate(submits),
        ms_from_us(r.wrk("mock-submit", "p50_us")),
        ms_from_us(r.wrk("mock-submit", "p99_us")),
        pct(accepted),
    )?;
    writeln!(
        o,
        "\ncaptchaai-mock submits at {} of the ceiling. (WireMock has no stateful submit to compare: a stub would answer a fixed id.)",
        pct(ratio(submits, submit_ceiling))
    )?;

    // Pingbacks.
    let plain = r.pingback("plain reqwest loop");
    let pb = r.pingback("dispatcher, no faults");
    let pb_faults = r.pingback("dispatcher, faults @10%");
    writeln!(
        o,
        "\n## Pingback delivery to a fast receiver, 64 in flight (`cargo bench -p captchaai-mock --bench pingback_delivery`)\n"
    )?;
    writeln!(o, "| sender | callbacks/s | share of plain |")?;
    writeln!(o, "|---|---:|---:|")?;
    writeln!(
        o,
        "| plain reqwest loop (ceiling) | {} | 100% |",
        rate(plain)
    )?;
    writeln!(
        o,
        "| **captchaai-mock dispatcher**, no faults | {} | {} |",
        rate(pb),
        pct(ratio(pb, plain))
    )?;
    writeln!(
        o,
        "| captchaai-mock dispatcher, every fault at 10% | {} | {} |",
        rate(pb_faults),
        pct(ratio(pb_faults, plain))
    )?;

    // Memory.
    writeln!(o, "\n## Memory (RSS from `/proc/PID/status`)\n")?;
    writeln!(
        o,
        "| server | idle | after the c64/c256 runs | after 1 min more of sustained polling | peak while polling |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|")?;
    let mut mock_after_minute = None;
    for (name, label) in SERVERS {
        let samples = r.rss_samples(name);
        if samples.is_empty() {
            continue;
        }
        let first = samples.first().map(|s| s.1);
        let last = samples.last().map(|s| s.1);
        let peak = samples
            .iter()
            .map(|s| s.1)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        if *name == "mock" {
            mock_after_minute = last;
        }
        writeln!(
            o,
            "| {label} | {} | {} | {} | {} |",
            mib(r.kib(&format!("rss-{name}-idle.txt"))),
            mib(first),
            mib(last),
            mib(peak),
        )?;
    }
    let mem = r.json("memory.json");
    let tasks = mem.as_ref().and_then(|m| m.get("tasks")?.as_f64());
    let idle = mem.as_ref().and_then(|m| m.get("idle_kib")?.as_f64());
    let after = mem.as_ref().and_then(|m| m.get("after_kib")?.as_f64());
    let good = mem.as_ref().and_then(|m| m.pointer("/load/good")?.as_f64());
    let stored = r.num("health-mock-memory.json", "/tasks");
    let per_task = match (idle, after, stored) {
        (Some(i), Some(a), Some(n)) if n > 0.0 => Some((a - i) * 1024.0 / n),
        _ => None,
    };
    writeln!(
        o,
        "\ncaptchaai-mock with {} pending tasks (never solved; {} submits accepted, {} stored): RSS {} idle, {} after, **{} per pending task** (everything included: task map, thread slots, allocator slack, the full request journal). Submitted by `bench-driver load` at {} submits/s.",
        rate(tasks),
        rate(good),
        rate(stored),
        mib(idle),
        mib(after),
        per_task.map_or("n/a".into(), |b| format!("{b:.0} bytes")),
        rate(mem.as_ref().and_then(|m| m.pointer("/load/rate")?.as_f64())),
    )?;

    let journal_peak = journal_section(&r, &mut o)?;

    // Start-up.
    writeln!(o, "\n## Start-up: spawn to first HTTP 200\n")?;
    writeln!(o, "| server | median | min | max | runs |")?;
    writeln!(o, "|---|---:|---:|---:|---:|")?;
    for (name, label) in [
        ("ceiling", "bare axum handler"),
        ("mock", "**captchaai-mock**"),
        ("wiremock", "WireMock (JVM)"),
    ] {
        let Some(v) = r.json(&format!("startup-{name}.json")) else {
            continue;
        };
        writeln!(
            o,
            "| {label} | {} | {} | {} | {} |",
            ms(v.get("median_ms").and_then(Value::as_f64)),
            ms(v.get("min_ms").and_then(Value::as_f64)),
            ms(v.get("max_ms").and_then(Value::as_f64)),
            v.get("runs_ms")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
        )?;
    }
    let startup = r.num("startup-mock.json", "/median_ms");

    // Conformance.
    writeln!(
        o,
        "\n## Conformance suite (`captchaai-conformance run scenarios`)\n"
    )?;
    if let Some(c) = r.json("conformance.json") {
        let t = |k: &str| c.pointer(&format!("/totals/{k}")).and_then(Value::as_f64);
        let wall = c.get("wall_ms").and_then(Value::as_f64);
        let sim = c.get("simulated_ms").and_then(Value::as_f64);
        writeln!(
            o,
            "| scenarios | ok | non-strict | failed | checks | wall time | simulated time | speed-up | process wall time |"
        )?;
        writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            rate(t("scenarios")),
            rate(t("ok")),
            rate(t("non_strict")),
            rate(t("failed")),
            rate(t("checks")),
            ms(wall),
            sim.map_or("n/a".into(), |s| {
                humantime::format_duration_secs(s / 1000.0)
            }),
            ratio(sim, wall).map_or("n/a".into(), |x| format!("{x:.0}x")),
            ms(r.num("conformance-process.json", "/process_wall_ms")),
        )?;
    } else {
        writeln!(o, "n/a (section skipped or the suite did not run)")?;
    }

    let dash_targets = dashboard::section(&r, &mut o)?;
    let load_targets = load::section(&r, &mut o)?;

    // Targets.
    writeln!(o, "\n## Targets\n")?;
    writeln!(o, "| target | figure | verdict |")?;
    writeln!(o, "|---|---:|---|")?;
    let p99 = r.wrk("mock-c64", "p99_us").map(|us| us / 1000.0);
    let rows: [(&str, String, Option<bool>); 9] = [
        (
            "polling >= 80% of the bare axum ceiling (c64)",
            pct(of_ceiling64),
            of_ceiling64.map(|x| x >= 0.8),
        ),
        (
            "(same, against the bare handler with the mock's worker count)",
            pct(of_same64),
            of_same64.map(|x| x >= 0.8),
        ),
        (
            "polling >= 3x tuned WireMock (c64)",
            times(vs_tuned64),
            vs_tuned64.map(|x| x >= 3.0),
        ),
        (
            "(same, against WireMock's best case: no query string)",
            times(vs_noquery64),
            vs_noquery64.map(|x| x >= 3.0),
        ),
        (
            "polling p99 < 2 ms (c64)",
            p99.map_or("n/a".into(), |v| format!("{v:.2} ms")),
            p99.map(|v| v < 2.0),
        ),
        (
            "pingback delivery >= 80% of a plain reqwest loop",
            pct(ratio(pb, plain)),
            ratio(pb, plain).map(|x| x >= 0.8),
        ),
        (
            "RSS after a minute of sustained polling < 64 MiB",
            mib(mock_after_minute),
            mock_after_minute.map(|k| k < 64.0 * 1024.0),
        ),
        (
            "< 1 KiB per pending task",
            per_task.map_or("n/a".into(), |b| format!("{b:.0} bytes")),
            per_task.map(|b| b < 1024.0),
        ),
        (
            "start-up to first answer < 50 ms (median)",
            ms(startup),
            startup.map(|m| m < 50.0),
        ),
    ];
    for (what, figure, ok) in rows {
        writeln!(o, "| {what} | {figure} | {} |", verdict(ok))?;
    }
    writeln!(
        o,
        "| worst-case journal: peak RSS above idle over 200 rejected 30 MB requests < 64 MiB | {} | {} |",
        mib(journal_peak),
        verdict(journal_peak.map(|k| k < 64.0 * 1024.0))
    )?;
    for (what, figure, ok) in dash_targets.into_iter().chain(load_targets) {
        writeln!(o, "| {what} | {figure} | {} |", verdict(ok))?;
    }

    // Quiet.
    if let Some(q) = r.text("quiet.tsv") {
        writeln!(
            o,
            "\n## How quiet the machine was (whole-machine CPU use over 1 s before each section, our servers idle)\n"
        )?;
        writeln!(
            o,
            "| section | CPU busy | waited for quiet | load average |"
        )?;
        writeln!(o, "|---|---:|---:|---|")?;
        for line in q.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            if let [section, busy, waited, load] = f[..] {
                writeln!(o, "| {section} | {busy}% | {waited} s | {load} |")?;
            }
        }
    }
    Ok(o)
}

/// The worst-case inbound journal (`journal.json`, `bench-driver flood`): rejected requests
/// with 30 MB bodies; the peak RSS above idle in KiB, for the targets.
fn journal_section(r: &Results<'_>, o: &mut String) -> anyhow::Result<Option<f64>> {
    writeln!(
        o,
        "\n## Worst-case inbound journal: rejected requests with large bodies (`bench-driver flood`)\n"
    )?;
    let Some(j) = r.json("journal.json") else {
        writeln!(o, "n/a (section skipped)")?;
        return Ok(None);
    };
    let f = |k: &str| j.get(k).and_then(Value::as_f64);
    let (idle, peak, after) = (f("idle_kib"), f("peak_kib"), f("after_kib"));
    let above = match (idle, peak) {
        (Some(i), Some(p)) => Some(p - i),
        _ => None,
    };
    writeln!(
        o,
        "| requests | body | at once | answered as expected | other / cut | RSS idle | peak | peak above idle | after | journal answer |"
    )?;
    writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        o,
        "| {} | {} MB | {} | {} | {} / {} | {} | {} | **{}** | {} | {} bytes |",
        rate(f("requests")),
        f("bytes_each").map_or("n/a".into(), |b| format!("{:.0}", b / 1e6)),
        rate(f("connections")),
        rate(f("expected_answers")),
        rate(f("other_answers")),
        rate(f("cut")),
        mib(idle),
        mib(peak),
        mib(above),
        mib(after),
        r.text("journal-answer-bytes.txt")
            .map_or("n/a".into(), |t| t.trim().to_owned()),
    )?;
    Ok(above)
}

mod humantime {
    /// `2h 13m 5s`-style, whole seconds.
    pub(super) fn format_duration_secs(secs: f64) -> String {
        let s = secs.round() as u64;
        let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
        match (h, m) {
            (0, 0) => format!("{s}s"),
            (0, _) => format!("{m}m {s}s"),
            _ => format!("{h}h {m}m {s}s"),
        }
    }
}
