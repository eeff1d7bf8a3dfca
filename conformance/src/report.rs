//! Reports: the human table, JSON (with a format version) and JUnit XML.
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
/// scenario's verdict is `SKIPPED`, not `OK`, and it has no replay command).
pub(crate) const FORMAT_VERSION: u32 = 2;

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
    /// Every check.
    pub checks: Vec<CheckResult>,
    /// The command that replays this run (none for a skipped scenario).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub replay: String,
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
    /// Scenarios FAILED.
    pub(crate) failed: usize,
    /// Scenarios skipped.
    pub(crate) skipped: usize,
    /// Checks run.
    pub(crate) checks: usize,
    /// Checks FAILED.
    pub(crate) failed_checks: usize,
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
                _ => t.ok += 1,
            }
            t.checks += s.checks.len();
            t.failed_checks += s
                .checks
                .iter()
                .filter(|c| c.verdict == Verdict::Failed)
                .count();
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

    /// The JUnit XML report: a suite per scenario, a case per check.
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
                    _ => TestCaseStatus::success(),
                };
                let mut case = TestCase::new(c.check.as_str(), status);
                case.set_classname(s.id.as_str());
                if c.verdict != Verdict::Failed {
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
        Verdict::Failed => label.red().bold().to_string(),
        Verdict::Skipped => label.dimmed().to_string(),
    }
}

/// Writes one scenario's block of the human report. Colours are plain ANSI;
/// write through `anstream`, which strips them off terminals and under `NO_COLOR`.
pub fn write_scenario(
    out: &mut dyn Write,
    s: &ScenarioReport,
    verbose: bool,
) -> std::io::Result<()> {
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
    if !s.schedule.is_empty() {
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
            if let Some(e) = &c.expected {
                writeln!(out, "                  expected: {e}")?;
            }
            if let Some(a) = &c.actual {
                writeln!(out, "                  actual:   {a}")?;
            }
            if !c.evidence.is_empty() {
                writeln!(out, "                  evidence:")?;
                for e in &c.evidence {
                    writeln!(out, "                  {}", evidence_line(e))?;
                }
            }
        }
    }
    if s.verdict == Verdict::Failed {
        writeln!(out, "    {} {}", "replay:".bold(), s.replay)?;
    }
    Ok(())
}

fn evidence_line(e: &Entry) -> String {
    e.to_string()
}

/// Writes the summary line.
pub(crate) fn write_totals(out: &mut dyn Write, r: &SuiteReport) -> std::io::Result<()> {
    let t = &r.totals;
    let sim = humantime::format_duration(std::time::Duration::from_secs(r.simulated_ms / 1000));
    writeln!(
        out,
        "\n{} scenario(s): {} OK, {} NON-STRICT, {} FAILED, {} skipped; {} check(s), {} failed; {:.2} s wall, {sim} simulated",
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
