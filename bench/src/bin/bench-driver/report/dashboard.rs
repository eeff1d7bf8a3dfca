//! The `dashboard` section: polling and submits with the dashboard open, against the same
//! mock without it. `run.sh` writes, per round N, the wrk figures `wrk-dash-off-c64-rN.json`
//! and `wrk-dash-on-c64-rN.json`, each dashboard client's account `dash-client-*.json`, and
//! for the submits `dash-memory-{off,on}-rN.json` (idle and final RSS, the load's figures)
//! with the RSS samples in `dash-memory-{off,on}-rN.tsv`; the client count in
//! `dash-clients.txt`.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Results, load::Target, mib, ms_from_us, pct, rate};

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The memory runs of one mode: (idle KiB, final KiB, peak KiB, tasks, submits/s).
fn memory_runs(r: &Results<'_>, mode: &str) -> Vec<(f64, f64, f64, f64, f64)> {
    (1..)
        .map_while(|round| {
            let v = r.json(&format!("dash-memory-{mode}-r{round}.json"))?;
            let n = |p: &str| v.pointer(p).and_then(Value::as_f64);
            let peak = r
                .text(&format!("dash-memory-{mode}-r{round}.tsv"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once('\t')?.1.trim().parse::<f64>().ok())
                .fold(0.0, f64::max);
            let after = n("/after_kib")?;
            Some((
                n("/idle_kib")?,
                after,
                peak.max(after),
                n("/load/good")?,
                n("/load/rate").unwrap_or(f64::NAN),
            ))
        })
        .collect()
}

/// The sum of a figure over every dashboard client's account whose name starts with `prefix`.
fn client_sum(r: &Results<'_>, prefix: &str, field: &str) -> Option<f64> {
    let mut sum = None;
    for entry in std::fs::read_dir(r.dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix)
            && let Some(x) = r.num(&name, &format!("/{field}"))
        {
            *sum.get_or_insert(0.0) += x;
        }
    }
    sum
}

/// Writes the section; gives the rows for the targets table (issue 16's figures).
pub(super) fn section(r: &Results<'_>, o: &mut String) -> anyhow::Result<Vec<Target>> {
    writeln!(o, "\n## With the dashboard open\n")?;
    let clients = r.text("dash-clients.txt").map(|s| s.trim().to_owned());
    let Some(clients) = clients else {
        writeln!(o, "n/a (section skipped)")?;
        return Ok(Vec::new());
    };
    writeln!(
        o,
        "Dashboard clients open: {clients} (`bench-driver dashboard`: the event stream read, \
         the page's fetches on each event).\n"
    )?;
    writeln!(o, "| polling, c64 | req/s (range) | p50 | p99 | rounds |")?;
    writeln!(o, "|---|---:|---:|---:|---:|")?;
    for (key, label) in [
        ("dash-off-c64", "without a dashboard"),
        ("dash-on-c64", "with the dashboard open"),
    ] {
        writeln!(
            o,
            "| {label} | {}{} | {} | {} | {} |",
            rate(r.wrk(key, "rps")),
            r.spread(key),
            ms_from_us(r.wrk(key, "p50_us")),
            ms_from_us(r.wrk(key, "p99_us")),
            r.wrk_runs(key).len(),
        )?;
    }
    let poll_ratio = r.round_ratio("dash-on-c64", "dash-off-c64");
    let f = |v: Option<f64>| v.map_or("n/a".into(), |x| format!("{x:.0}"));
    writeln!(
        o,
        "\nWith the dashboard open: {} of the throughput without (median of the per-round \
         ratios). The clients read {} `change` and {} `resync` events and made {} refreshes \
         ({} requests, {} answers not 200).\n",
        pct(poll_ratio),
        f(client_sum(r, "dash-client-poll-", "change_events")),
        f(client_sum(r, "dash-client-poll-", "resync_events")),
        f(client_sum(r, "dash-client-poll-", "refreshes")),
        f(client_sum(r, "dash-client-poll-", "requests")),
        f(client_sum(r, "dash-client-poll-", "not_ok")),
    )?;

    writeln!(
        o,
        "| submits (fresh mock each run) | idle | after | peak | growth per task | submits/s |"
    )?;
    writeln!(o, "|---|---:|---:|---:|---:|---:|")?;
    let mut per_task = [None, None];
    for (i, (mode, label)) in [
        ("off", "without a dashboard"),
        ("on", "with the dashboard open"),
    ]
    .into_iter()
    .enumerate()
    {
        let runs = memory_runs(r, mode);
        for (round, (idle, after, peak, tasks, rps)) in runs.iter().enumerate() {
            writeln!(
                o,
                "| {label}, run {} ({tasks:.0} tasks) | {} | {} | {} | {:.0} B | {} |",
                round + 1,
                mib(Some(*idle)),
                mib(Some(*after)),
                mib(Some(*peak)),
                (after - idle) * 1024.0 / tasks.max(1.0),
                rate(Some(*rps)),
            )?;
        }
        per_task[i] = median(
            runs.iter()
                .map(|(idle, after, _, tasks, _)| (after - idle) * 1024.0 / tasks.max(1.0))
                .collect(),
        );
    }
    writeln!(
        o,
        "\nGrowth per task (median): {} without a dashboard, {} with it open. The clients made \
         {} refreshes ({} answers not 200).",
        per_task[0].map_or("n/a".into(), |b| format!("{b:.0} B")),
        per_task[1].map_or("n/a".into(), |b| format!("{b:.0} B")),
        f(client_sum(r, "dash-client-memory-", "refreshes")),
        f(client_sum(r, "dash-client-memory-", "not_ok")),
    )?;
    let flat = per_task[1].zip(per_task[0]);
    Ok(vec![
        (
            "polling with the dashboard open >= 95% of without (c64)".into(),
            pct(poll_ratio),
            poll_ratio.map(|x| x >= 0.95),
        ),
        (
            "memory flat with the dashboard open: growth per task over 100 000 submits within 10% of without".into(),
            flat.map_or("n/a".into(), |(on, off)| format!("{on:.0} vs {off:.0} bytes")),
            flat.map(|(on, off)| on <= off * 1.1),
        ),
    ])
}
