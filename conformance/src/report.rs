//! Reports: the human table, JSON (with a format version) and JUnit XML; the HTML report
//! is [`crate::html_report`].
//!
//! Where they sit in the flow: scenario → runner → mock and subject → timeline → checks →
//! **report**. A [`ScenarioReport`] is one scenario's checks with what identifies its run
//! (seed, compiled fault schedule, replay command); the suite report totals them, and the
//! renderers here write it for people (terminal) and machines (JSON, JUnit). Check ids and
//! titles come from the registry; evidence lines are the timeline's own one-line form.

use std::{fmt::Write as _, io::Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::{
    checks::{CheckResult, Verdict},
    timeline::Entry,
};

/// Version of the JSON report format; bumped on any incompatible change (2: a skipped
/// scenario's verdict is `SKIPPED`, not `OK`, and it has no replay command; 3: the verdict
/// `NOT-GRADED`, counted in `totals`; a failed check's `fix` and every `offenders` line; a
/// receiver run's `latency`; 4: a scenario's whole `timeline`, with `--json`, `--html` or
/// `--format json`; 5: the `timeline` of scenarios not OK only, unless `--timeline all`).
pub(crate) const FORMAT_VERSION: u32 = 5;

/// One scenario's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    /// `<area>/<name>`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The file.
    pub path: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The seed used.
    pub seed: u64,
    /// Overall verdict (worst graded check).
    pub verdict: Verdict,
    /// Why the scenario did not run, if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Simulated time the run covered.
    pub simulated_ms: u64,
    /// Wall time the run took (0 with `--redact-timings`).
    pub wall_ms: u64,
    /// Pingback attempts that were sent (not dropped or shed).
    pub callbacks: u64,
    /// The compiled pingback fault schedule, one line per faulted task.
    pub schedule: Vec<String>,
    /// For a receiver in another process: the latency budget and the sender's timeout it
    /// was held to, and how fast it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyReport>,
    /// Every check.
    pub checks: Vec<CheckResult>,
    /// The command that replays this run (none for a skipped scenario).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub replay: String,
    /// The run's whole timeline, in order, when [`SuiteOptions::timelines`] asked for it
    /// (by default, with `--json` or `--html`, for a scenario not OK only; empty
    /// otherwise): the evidence of every check is a slice of it.
    ///
    /// [`SuiteOptions::timelines`]: crate::suite::SuiteOptions::timelines
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Entry>,
}

/// How a receiver in another process was timed: the latency budget it was held to and the
/// sender's timeout, each in real time and in the scenario's simulated time, and how fast
/// it answered valid callbacks (real time; 0 with `--redact-timings`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyReport {
    /// Simulated seconds per real second.
    pub time_scale: f64,
    /// `--latency-budget`, real milliseconds: a valid callback answered later fails `ack-valid`.
    pub budget_ms: f64,
    /// The budget in simulated milliseconds.
    pub budget_simulated_ms: f64,
    /// The mock's per-attempt timeout in real milliseconds: it gives up on an answer then.
    pub sender_timeout_ms: f64,
    /// The sender's timeout in simulated milliseconds (the scenario's `attempt-timeout`).
    pub sender_timeout_simulated_ms: f64,
    /// Valid callbacks the receiver answered.
    pub answered: usize,
    /// Median answer time, real milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile (nearest rank), real milliseconds.
    pub p99_ms: Option<f64>,
    /// Slowest answer, real milliseconds.
    pub max_ms: Option<f64>,
}

impl LatencyReport {
    /// From the budget (real time), the sender's timeout (simulated), the time scale and
    /// the answer times (real milliseconds, sorted); with `redact`, the answer times are 0.
    pub(crate) fn new(
        budget: std::time::Duration,
        sender_timeout: std::time::Duration,
        time_scale: f64,
        answers_ms: &[f64],
        redact: bool,
    ) -> Self {
        let at = |q: f64| nearest_rank(answers_ms, q).map(|ms| if redact { 0.0 } else { ms });
        let budget_ms = budget.as_secs_f64() * 1000.0;
        let timeout_sim_ms = sender_timeout.as_secs_f64() * 1000.0;
        LatencyReport {
            time_scale,
            budget_ms,
            budget_simulated_ms: budget_ms * time_scale,
            sender_timeout_ms: timeout_sim_ms / time_scale,
            sender_timeout_simulated_ms: timeout_sim_ms,
            answered: answers_ms.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }

    /// `budget 1s real (10s simulated at x10); sender timeout ...; 272 answered: p50 ...`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "budget {} real ({} simulated at time scale {}); sender timeout {} real ({} simulated)",
            ms_text(self.budget_ms),
            ms_text(self.budget_simulated_ms),
            self.time_scale,
            ms_text(self.sender_timeout_ms),
            ms_text(self.sender_timeout_simulated_ms),
        );
        match (self.p50_ms, self.p99_ms, self.max_ms) {
            (Some(p50), Some(p99), Some(max)) => {
                let _ = write!(
                    s,
                    "; {} valid callback(s) answered in p50 {}, p99 {}, max {}",
                    self.answered,
                    ms_text(p50),
                    ms_text(p99),
                    ms_text(max)
                );
            }
            _ => s.push_str("; no valid callback was answered"),
        }
        s
    }
}

/// The `q` quantile (0 to 1) of sorted values by nearest rank: the smallest value at or
/// above a share `q` of them.
pub(crate) fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

/// `250ms`, `1s`, `1s 500ms`: milliseconds as a person reads them.
pub(crate) fn ms_text(ms: f64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.round().max(0.0) as u64))
        .to_string()
}

/// Verdict counts.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Totals {
    /// Scenarios run.
    pub(crate) scenarios: usize,
    /// Scenarios OK.
    pub(crate) ok: usize,
    /// Scenarios NON-STRICT.
    pub(crate) non_strict: usize,
    /// Scenarios NOT-GRADED: no check failed, and one could not be graded.
    pub(crate) not_graded: usize,
    /// Scenarios FAILED.
    pub(crate) failed: usize,
    /// Scenarios skipped.
    pub(crate) skipped: usize,
    /// Checks run.
    pub(crate) checks: usize,
    /// Checks FAILED.
    pub(crate) failed_checks: usize,
    /// Checks NOT-GRADED.
    pub(crate) not_graded_checks: usize,
}

/// The whole suite.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct SuiteReport {
    /// [`FORMAT_VERSION`].
    pub(crate) format_version: u32,
    /// `captchaai-conformance`.
    pub(crate) tool: &'static str,
    /// Tool version.
    pub(crate) version: &'static str,
    /// The subject graded.
    pub(crate) subject: String,
    /// `--seed`, when given.
    pub(crate) seed_override: Option<u64>,
    /// Scenarios, ordered by id.
    pub(crate) scenarios: Vec<ScenarioReport>,
    /// Counts.
    pub(crate) totals: Totals,
    /// Simulated time in all.
    pub(crate) simulated_ms: u64,
    /// Wall time in all (0 with `--redact-timings`).
    pub(crate) wall_ms: u64,
}

impl SuiteReport {
    /// Builds the report and its totals.
    pub(crate) fn new(
        subject: String,
        seed_override: Option<u64>,
        scenarios: Vec<ScenarioReport>,
        wall_ms: u64,
    ) -> Self {
        let mut t = Totals {
            scenarios: scenarios.len(),
            ..Totals::default()
        };
        for s in &scenarios {
            if s.skipped.is_some() {
                t.skipped += 1;
                continue;
            }
            match s.verdict {
                Verdict::Failed => t.failed += 1,
                Verdict::NonStrict => t.non_strict += 1,
                Verdict::NotGraded => t.not_graded += 1,
                _ => t.ok += 1,
            }
            t.checks += s.checks.len();
            let count = |v: Verdict| s.checks.iter().filter(|c| c.verdict == v).count();
            t.failed_checks += count(Verdict::Failed);
            t.not_graded_checks += count(Verdict::NotGraded);
        }
        let simulated_ms = scenarios.iter().map(|s| s.simulated_ms).sum();
        SuiteReport {
            format_version: FORMAT_VERSION,
            tool: "captchaai-conformance",
            version: env!("CARGO_PKG_VERSION"),
            subject,
            seed_override,
            scenarios,
            totals: t,
            simulated_ms,
            wall_ms,
        }
    }

    /// True when some scenario failed.
    pub(crate) fn failed(&self) -> bool {
        self.totals.failed > 0
    }

    /// The JSON report.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The HTML report: one self-contained page ([`crate::html_report`]).
    pub(crate) fn to_html(&self) -> String {
        crate::html_report::render(self)
    }

    /// The JUnit XML report: a suite per scenario, a case per check; a check that could not
    /// be graded is a skipped case whose message says why (and which flag would grade it).
    pub(crate) fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("captchaai-conformance");
        for s in &self.scenarios {
            let mut suite = TestSuite::new(s.id.as_str());
            if let Some(why) = &s.skipped {
                let mut case = TestCase::new("scenario", TestCaseStatus::skipped());
                case.set_classname(s.id.as_str());
                case.set_system_out(xml_text(why));
                suite.add_test_case(case);
            }
            for c in &s.checks {
                let status = match c.verdict {
                    Verdict::Failed => {
                        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        st.set_message(xml_text(&c.summary));
                        st.set_description(xml_text(&failure_text(c, &s.replay)));
                        st
                    }
                    Verdict::NotGraded => {
                        let mut st = TestCaseStatus::skipped();
                        st.set_message(xml_text(&format!("NOT-GRADED: {}", c.summary)));
                        st
                    }
                    _ => TestCaseStatus::success(),
                };
                let mut case = TestCase::new(c.check.as_str(), status);
                case.set_classname(s.id.as_str());
                if !matches!(c.verdict, Verdict::Failed | Verdict::NotGraded) {
                    case.set_system_out(xml_text(&format!("{}: {}", c.verdict.label(), c.summary)));
                }
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        report.to_string().unwrap_or_default()
    }
}

/// Text XML 1.0 can carry: characters it forbids (most control characters, U+FFFE and
/// U+FFFF), which a subject's output may hold, become U+FFFD.
fn xml_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => c,
            _ => '\u{FFFD}',
        })
        .collect()
}

fn failure_text(c: &CheckResult, replay: &str) -> String {
    let mut s = String::new();
    if let Some(e) = &c.expected {
        let _ = writeln!(s, "expected: {e}");
    }
    if let Some(a) = &c.actual {
        let _ = writeln!(s, "actual:   {a}");
    }
    if let Some(fix) = c.fix() {
        let _ = writeln!(s, "fix:      {fix}");
    }
    if !c.offenders.is_empty() {
        let _ = writeln!(s, "offenders ({}):", c.offenders.len());
        for o in &c.offenders {
            let _ = writeln!(s, "  {o}");
        }
    }
    if !c.evidence.is_empty() {
        let _ = writeln!(s, "evidence:");
        for e in &c.evidence {
            let _ = writeln!(s, "  {e}");
        }
    }
    let _ = writeln!(s, "replay: {replay}");
    s
}

fn paint(v: Verdict) -> String {
    paint_label(v, &format!("{:<13}", v.label()))
}

fn paint_label(v: Verdict, label: &str) -> String {
    match v {
        Verdict::Ok => label.green().to_string(),
        Verdict::NonStrict => label.yellow().to_string(),
        Verdict::Informational => label.blue().to_string(),
        Verdict::NotGraded => label.magenta().bold().to_string(),
        Verdict::Failed => label.red().bold().to_string(),
        Verdict::Skipped => label.dimmed().to_string(),
    }
}

/// Offenders a failed check lists on the terminal; the JSON report has all of them.
const SHOWN_OFFENDERS: usize = 10;

/// Writes one scenario's block of the human report. A skipped scenario is one line, and only
/// with `verbose`: otherwise [`write_totals`] folds every skip into one line. Colours are
/// plain ANSI; write through `anstream`, which strips them off terminals and under `NO_COLOR`.
pub fn write_scenario(
    out: &mut dyn Write,
    s: &ScenarioReport,
    verbose: bool,
) -> std::io::Result<()> {
    if s.skipped.is_some() && !verbose {
        return Ok(());
    }
    let head = paint_label(s.verdict, s.verdict.label());
    writeln!(
        out,
        "{}  {}  {head}",
        s.id.bold(),
        format!("[seed {}]", s.seed).dimmed()
    )?;
    if let Some(why) = &s.skipped {
        writeln!(out, "    {}", why.dimmed())?;
        return Ok(());
    }
    writeln!(out, "    {}", s.description.dimmed())?;
    write_schedule(out, s, verbose)?;
    if let Some(l) = &s.latency {
        writeln!(out, "    {} {}", "latency".dimmed(), l.describe().dimmed())?;
    }
    for c in &s.checks {
        writeln!(
            out,
            "    {} {:<17} {}",
            paint(c.verdict),
            c.check,
            c.summary
        )?;
        if matches!(c.verdict, Verdict::Failed | Verdict::NonStrict)
            && (verbose || c.verdict == Verdict::Failed)
        {
            write_failure(out, c)?;
        }
    }
    if s.verdict == Verdict::Failed {
        writeln!(out, "    {} {}", "replay:".bold(), s.replay)?;
    }
    Ok(())
}

/// The compiled fault schedule: the first three lines, or every one with `verbose`.
fn write_schedule(out: &mut dyn Write, s: &ScenarioReport, verbose: bool) -> std::io::Result<()> {
    if s.schedule.is_empty() {
        return Ok(());
    }
    let shown = if verbose {
        s.schedule.len()
    } else {
        s.schedule.len().min(3)
    };
    writeln!(
        out,
        "    {} {} faulted task(s):",
        "schedule".dimmed(),
        s.schedule.len()
    )?;
    for line in &s.schedule[..shown] {
        writeln!(out, "      {}", line.dimmed())?;
    }
    if shown < s.schedule.len() {
        writeln!(
            out,
            "      {}",
            format!("(+{} more in the JSON report)", s.schedule.len() - shown).dimmed()
        )?;
    }
    Ok(())
}

/// Under a failed (or, with `-v`, NON-STRICT) check: expected and actual, the fix, every
/// offender (the first [`SHOWN_OFFENDERS`]), and the evidence.
fn write_failure(out: &mut dyn Write, c: &CheckResult) -> std::io::Result<()> {
    const INDENT: &str = "                  ";
    if let Some(e) = &c.expected {
        writeln!(out, "{INDENT}expected: {e}")?;
    }
    if let Some(a) = &c.actual {
        writeln!(out, "{INDENT}actual:   {a}")?;
    }
    if let Some(fix) = c.fix() {
        writeln!(out, "{INDENT}{}      {fix}", "fix:".bold())?;
    }
    if c.offenders.len() > 1 {
        writeln!(out, "{INDENT}offenders ({}):", c.offenders.len())?;
        for o in c.offenders.iter().take(SHOWN_OFFENDERS) {
            writeln!(out, "{INDENT}  {o}")?;
        }
        if c.offenders.len() > SHOWN_OFFENDERS {
            writeln!(
                out,
                "{INDENT}  {}",
                format!(
                    "and {} more (all in the JSON report)",
                    c.offenders.len() - SHOWN_OFFENDERS
                )
                .dimmed()
            )?;
        }
    }
    if !c.evidence.is_empty() {
        writeln!(out, "{INDENT}evidence:")?;
        for e in &c.evidence {
            writeln!(out, "{INDENT}{}", evidence_line(e))?;
        }
    }
    Ok(())
}

fn evidence_line(e: &Entry) -> String {
    e.to_string()
}

/// Writes the summary: skipped scenarios folded into one line (by reason; `-v` lists them),
/// then the counts.
pub(crate) fn write_totals(
    out: &mut dyn Write,
    r: &SuiteReport,
    verbose: bool,
) -> std::io::Result<()> {
    let t = &r.totals;
    if t.skipped > 0 && !verbose {
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for why in r.scenarios.iter().filter_map(|s| s.skipped.as_deref()) {
            match reasons.iter_mut().find(|(w, _)| *w == why) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        }
        let reasons: Vec<String> = reasons
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        writeln!(
            out,
            "{}",
            format!(
                "{} scenario(s) skipped ({}); -v lists them",
                t.skipped,
                reasons.join("; ")
            )
            .dimmed()
        )?;
    }
    let sim = humantime::format_duration(std::time::Duration::from_secs(r.simulated_ms / 1000));
    let not_graded = if t.not_graded > 0 {
        t.not_graded.magenta().bold().to_string()
    } else {
        t.not_graded.to_string()
    };
    writeln!(
        out,
        "\n{} scenario(s): {} OK, {} NON-STRICT, {not_graded} NOT-GRADED, {} FAILED, {} skipped; {} check(s), {} failed, {} not graded; {:.2} s wall, {sim} simulated",
        t.scenarios,
        t.ok.green(),
        t.non_strict.yellow(),
        if t.failed > 0 {
            t.failed.red().bold().to_string()
        } else {
            t.failed.to_string()
        },
        t.skipped,
        t.checks,
        t.failed_checks,
        t.not_graded_checks,
        r.wall_ms as f64 / 1000.0,
    )
}

#[cfg(test)]
mod tests {
    use super::xml_text;

    #[test]
    fn junit_text_drops_what_xml_forbids() {
        assert_eq!(xml_text("a\u{FFFF}b\u{1}c\td"), "a\u{FFFD}b\u{FFFD}c\td");
        assert_eq!(xml_text("ok é 🦀"), "ok é 🦀");
    }
}
