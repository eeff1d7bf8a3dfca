//! The HTML report (`run --html FILE`): one self-contained file per run, CSS and a little
//! vanilla JavaScript inline, nothing fetched, so it opens offline and can be attached to a
//! CI run as it is.
//!
//! It holds what the terminal report holds, laid out to be looked at: the verdict table; per
//! scenario its checks, each failed one with expected, actual, the registry's fix, offenders
//! and its evidence; and the scenario's timeline as swimlanes, one per place an event was
//! seen ([`Source`]: the client's requests as the mock's API answered them, the mock's
//! pingback attempts, callbacks the harness forged, the receiver, the application). The
//! events a failed check cites are highlighted, and each evidence line links to its row.
//!
//! Fed by the same [`SuiteReport`] as the other renderers: the timeline is the report's own
//! (`ScenarioReport::timeline`, kept when an HTML or JSON report is asked for, by default for
//! a scenario that is not OK only: `run --timeline`). A scenario's
//! timeline is shown up to [`MAX_ROWS`] rows (the JSON report has all): the events a check
//! cites, and the events of the tasks they concern, come first.

use std::collections::{BTreeSet, HashSet};

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::{
    checks::{CheckResult, Verdict},
    report::{ScenarioReport, SuiteReport},
    timeline::{Entry, Source},
};

/// Timeline rows shown per scenario.
pub(crate) const MAX_ROWS: usize = 3000;

/// Offenders listed under a failed check.
const SHOWN_OFFENDERS: usize = 20;

/// The swimlanes, left to right, and what each one is.
const LANES: [(Source, &str, &str); 5] = [
    (
        Source::Api,
        "client",
        "the client's requests, as the mock's API answered them",
    ),
    (
        Source::Dispatcher,
        "mock pingbacks",
        "the mock's pingback attempts and what the receiver answered",
    ),
    (Source::Injector, "forged", "callbacks the harness forged"),
    (
        Source::Receiver,
        "receiver",
        "callbacks as they reached the receiver",
    ),
    (Source::App, "application", "what the application learnt"),
];

const STYLE: &str = include_str!("html_report.css");
const SCRIPT: &str = include_str!("html_report.js");

/// The whole report as one HTML document.
pub(crate) fn render(r: &SuiteReport) -> String {
    let t = &r.totals;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "captchaai-conformance · " (r.subject) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "captchaai-conformance " (r.version) }
                    p.sub {
                        "subject: " b { (r.subject) }
                        @if let Some(seed) = r.seed_override { " · seed " (seed) }
                        " · " (t.scenarios) " scenario(s): "
                        span.t-OK { (t.ok) " OK" } ", "
                        span.t-NON-STRICT { (t.non_strict) " NON-STRICT" } ", "
                        span.t-NOT-GRADED { (t.not_graded) " NOT-GRADED" } ", "
                        span.t-FAILED { (t.failed) " FAILED" } ", "
                        (t.skipped) " skipped; "
                        (t.checks) " check(s), " (t.failed_checks) " failed"
                    }
                }
                (verdict_table(r))
                @for (i, s) in r.scenarios.iter().enumerate() {
                    (scenario(i, s))
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

fn badge(v: Verdict) -> Markup {
    html! { span class=(format!("badge v-{}", v.label())) { (v.label()) } }
}

fn verdict_table(r: &SuiteReport) -> Markup {
    html! {
        table.verdicts {
            thead { tr { th { "scenario" } th { "verdict" } th { "failed checks" } th { "seed" } th { "simulated" } } }
            tbody {
                @for (i, s) in r.scenarios.iter().enumerate() {
                    tr {
                        td { a href=(format!("#s{i}")) { (s.id) } }
                        td { (badge(s.verdict)) }
                        td {
                            @for c in s.checks.iter().filter(|c| c.verdict == Verdict::Failed) {
                                a.check href=(format!("#s{i}-{}", c.check)) { (c.check) } " "
                            }
                        }
                        td { (s.seed) }
                        td { (seconds(s.simulated_ms)) }
                    }
                }
            }
        }
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

/// The anchor of a timeline row: scenario index, source, sequence number.
fn row_id(i: usize, e: &Entry) -> String {
    format!("s{i}-e-{}-{}", source_name(e.source), e.seq)
}

fn source_name(s: Source) -> &'static str {
    match s {
        Source::Api => "api",
        Source::Dispatcher => "dispatcher",
        Source::Receiver => "receiver",
        Source::Injector => "injector",
        Source::App => "app",
    }
}

fn lane_of(s: Source) -> usize {
    LANES.iter().position(|(l, ..)| *l == s).unwrap_or(0)
}

/// What a row says: the entry's one-line form without its time (the row has a time column).
fn entry_text(e: &Entry) -> String {
    let line = e.to_string();
    let line = line.trim_start();
    line.split_once("s  ")
        .map_or(line, |(_, rest)| rest)
        .trim()
        .to_owned()
}

fn is_failure(c: &CheckResult) -> bool {
    matches!(c.verdict, Verdict::Failed | Verdict::NonStrict)
}

fn scenario(i: usize, s: &ScenarioReport) -> Markup {
    html! {
        section.scenario id=(format!("s{i}")) {
            h2 { (s.id) " " (badge(s.verdict)) }
            p.sub { (s.description) }
            @if let Some(why) = &s.skipped {
                p { "skipped: " (why) }
            } @else {
                p.sub {
                    "seed " (s.seed) " · " (seconds(s.simulated_ms)) " simulated · "
                    (s.callbacks) " pingback attempt(s) sent"
                }
                @if let Some(l) = &s.latency { p.sub { "latency: " (l.describe()) } }
                @if !s.schedule.is_empty() {
                    details {
                        summary { "fault schedule: " (s.schedule.len()) " faulted task(s)" }
                        pre { @for line in &s.schedule { (line) "\n" } }
                    }
                }
                @if s.verdict == Verdict::Failed {
                    p { "replay: " code { (s.replay) } }
                }
                (checks(i, s))
                (timeline(i, s))
            }
        }
    }
}

fn checks(i: usize, s: &ScenarioReport) -> Markup {
    html! {
        table.checks {
            thead { tr { th { "check" } th { "verdict" } th { "what was seen" } } }
            tbody {
                @for c in &s.checks {
                    tr id=(format!("s{i}-{}", c.check)) {
                        td { code { (c.check) } br; span.sub { (c.check.spec().title) } }
                        td { (badge(c.verdict)) }
                        td {
                            (c.summary)
                            @if is_failure(c) { (failure(i, s, c)) }
                        }
                    }
                }
            }
        }
    }
}

fn failure(i: usize, s: &ScenarioReport, c: &CheckResult) -> Markup {
    let shown: BTreeSet<(Source, u64)> = s.timeline.iter().map(|e| (e.source, e.seq)).collect();
    html! {
        dl.failure {
            @if let Some(e) = &c.expected { dt { "expected" } dd { (e) } }
            @if let Some(a) = &c.actual { dt { "actual" } dd { (a) } }
            @if let Some(fix) = c.fix() { dt { "fix" } dd.fix { (fix) } }
            @if !c.offenders.is_empty() {
                dt { "offenders (" (c.offenders.len()) ")" }
                dd { ul {
                    @for o in c.offenders.iter().take(SHOWN_OFFENDERS) { li { (o) } }
                    @if c.offenders.len() > SHOWN_OFFENDERS {
                        li.sub { "and " (c.offenders.len() - SHOWN_OFFENDERS) " more in the JSON report" }
                    }
                } }
            }
            @if !c.evidence.is_empty() {
                dt { "evidence" }
                dd { ul.evidence {
                    @for e in &c.evidence {
                        li {
                            @if shown.contains(&(e.source, e.seq)) {
                                a.ev href=(format!("#{}", row_id(i, e))) data-row=(row_id(i, e)) { code { (e.to_string().trim()) } }
                            } @else {
                                code { (e.to_string().trim()) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

/// The rows shown: everything up to [`MAX_ROWS`]; past it, the cited events and the events of
/// the tasks they concern first, then the rest in order, up to the cap; shown in time order.
fn shown_rows<'a>(s: &'a ScenarioReport, cited: &BTreeSet<(Source, u64)>) -> Vec<&'a Entry> {
    if s.timeline.len() <= MAX_ROWS {
        return s.timeline.iter().collect();
    }
    let tasks: HashSet<u64> = s
        .timeline
        .iter()
        .filter(|e| cited.contains(&(e.source, e.seq)))
        .filter_map(Entry::task)
        .collect();
    let first = |e: &Entry| {
        cited.contains(&(e.source, e.seq)) || e.task().is_some_and(|t| tasks.contains(&t))
    };
    let mut keep: BTreeSet<usize> = BTreeSet::new();
    for (n, e) in s.timeline.iter().enumerate() {
        if keep.len() < MAX_ROWS && first(e) {
            keep.insert(n);
        }
    }
    for n in 0..s.timeline.len() {
        if keep.len() >= MAX_ROWS {
            break;
        }
        keep.insert(n);
    }
    keep.into_iter().map(|n| &s.timeline[n]).collect()
}

fn timeline(i: usize, s: &ScenarioReport) -> Markup {
    // Which failed checks cite each event.
    let mut cited_by: std::collections::BTreeMap<(Source, u64), Vec<String>> = Default::default();
    for c in s.checks.iter().filter(|c| is_failure(c)) {
        for e in &c.evidence {
            cited_by
                .entry((e.source, e.seq))
                .or_default()
                .push(c.check.to_string());
        }
    }
    let cited: BTreeSet<(Source, u64)> = cited_by.keys().copied().collect();
    let rows = shown_rows(s, &cited);
    html! {
        details.timeline open[!cited.is_empty()] {
            summary { "timeline: " (s.timeline.len()) " event(s)"
                @if rows.len() < s.timeline.len() { " (" (rows.len()) " shown; the JSON report has all)" }
            }
            @if s.timeline.is_empty() {
                p.sub { "no timeline in this report (run --timeline all keeps every scenario's)" }
            } @else {
                div.controls {
                    label { "task " input.task-filter type="search" placeholder="all tasks" data-scenario=(i); }
                    label { input.cited-only type="checkbox" data-scenario=(i); " only events a failed check cites" }
                }
                table.lanes id=(format!("s{i}-timeline")) {
                    thead { tr {
                        th { "time" }
                        @for (_, name, what) in LANES { th title=(what) { (name) } }
                    } }
                    tbody {
                        @for e in rows {
                            @let lane = lane_of(e.source);
                            @let by = cited_by.get(&(e.source, e.seq));
                            tr id=(row_id(i, e)) class=[by.map(|_| "cited")]
                                data-task=[e.task()] data-checks=[by.map(|b| b.join(" "))] {
                                td.t { (seconds(e.at_ms)) }
                                @for n in 0..LANES.len() {
                                    @if n == lane {
                                        td.ev title=[by.map(|b| format!("cited by {}", b.join(", ")))] {
                                            (entry_text(e))
                                        }
                                    } @else { td {} }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::entry_text;
    use crate::timeline::{Entry, Event, Source};

    #[test]
    fn a_row_drops_the_time_the_time_column_shows() {
        let e = Entry {
            at_ms: 5268,
            source: Source::App,
            seq: 0,
            event: Event::Note {
                message: "hello".into(),
            },
        };
        assert!(e.to_string().contains("5.268s"), "{e}");
        let text = entry_text(&e);
        assert!(!text.contains("5.268"), "{text}");
        assert!(text.contains("hello"), "{text}");
    }
}
