//! What a check gives: a [`Verdict`] and a [`CheckResult`] with the evidence behind it.

use serde::{Serialize, Serializer};

use super::registry::CheckId;
use crate::timeline::Entry;

/// A check's verdict, h2spec/Autobahn style.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Verdict {
    /// Not run against this subject (a scenario's verdict only, never a check's).
    Skipped,
    /// The property holds.
    Ok,
    /// Worth knowing, never graded (the `summary` check).
    Informational,
    /// Could not be graded for this subject: its inputs never reached the subject, or the
    /// subject cannot be asked for the property without a flag; the summary says which.
    /// Never shown as OK.
    NotGraded,
    /// Allowed, but not ideal (e.g. 409 for a duplicate).
    NonStrict,
    /// The property is violated.
    Failed,
}

impl Verdict {
    /// `SKIPPED`, `OK`, `INFORMATIONAL`, `NOT-GRADED`, `NON-STRICT`, `FAILED`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Skipped => "SKIPPED",
            Verdict::Ok => "OK",
            Verdict::Informational => "INFORMATIONAL",
            Verdict::NotGraded => "NOT-GRADED",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Failed => "FAILED",
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckResult {
    /// Which check (its id and title come from the registry).
    pub check: CheckId,
    /// Verdict.
    pub verdict: Verdict,
    /// One line on what was seen.
    pub summary: String,
    /// What the property requires (for failures).
    pub expected: Option<String>,
    /// What happened instead.
    pub actual: Option<String>,
    /// Every offender, one line each (a task and what it did wrong), when a check found
    /// more than one thing wrong; reports show the first few, JSON all of them.
    pub offenders: Vec<String>,
    /// The slice of the timeline that proves it.
    pub evidence: Vec<Entry>,
}

/// As the JSON report shows it: the check's `id` and `title`, then what was seen, and for a
/// failure (or a NON-STRICT answer) the registry's one-line `fix`.
impl Serialize for CheckResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            id: &'static str,
            title: &'static str,
            verdict: Verdict,
            summary: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            expected: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            actual: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            fix: Option<&'static str>,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            offenders: &'a [String],
            #[serde(skip_serializing_if = "<[Entry]>::is_empty")]
            evidence: &'a [Entry],
        }
        let spec = self.check.spec();
        Wire {
            id: spec.id,
            title: spec.title,
            verdict: self.verdict,
            summary: &self.summary,
            expected: self.expected.as_deref(),
            actual: self.actual.as_deref(),
            fix: self.fix(),
            offenders: &self.offenders,
            evidence: &self.evidence,
        }
        .serialize(s)
    }
}

impl CheckResult {
    /// The registry's one-line fix, for a check that FAILED or was NON-STRICT.
    pub fn fix(&self) -> Option<&'static str> {
        matches!(self.verdict, Verdict::Failed | Verdict::NonStrict).then(|| self.check.spec().fix)
    }

    /// The same result, listing every offender.
    pub(super) fn with_offenders(mut self, offenders: Vec<String>) -> Self {
        self.offenders = offenders;
        self
    }
}

/// The most evidence entries a result keeps.
pub(super) const MAX_EVIDENCE: usize = 40;

/// Results, built from the check's id.
impl CheckId {
    pub(super) fn ok(self, summary: impl Into<String>) -> CheckResult {
        CheckResult {
            check: self,
            verdict: Verdict::Ok,
            summary: summary.into(),
            expected: None,
            actual: None,
            offenders: vec![],
            evidence: vec![],
        }
    }

    /// NOT-GRADED: `why` says what kept it from being graded and, where a flag would
    /// grade it, names the flag.
    pub(super) fn not_graded(self, why: impl Into<String>) -> CheckResult {
        CheckResult {
            verdict: Verdict::NotGraded,
            ..self.ok(why)
        }
    }

    pub(super) fn info(self, summary: impl Into<String>) -> CheckResult {
        CheckResult {
            verdict: Verdict::Informational,
            ..self.ok(summary)
        }
    }

    pub(super) fn verdict(
        self,
        verdict: Verdict,
        summary: impl Into<String>,
        expected: String,
        actual: String,
        evidence: Vec<Entry>,
    ) -> CheckResult {
        let mut evidence = evidence;
        evidence.truncate(MAX_EVIDENCE);
        CheckResult {
            check: self,
            verdict,
            summary: summary.into(),
            expected: Some(expected),
            actual: Some(actual),
            offenders: vec![],
            evidence,
        }
    }

    pub(super) fn fail(
        self,
        summary: impl Into<String>,
        expected: String,
        actual: String,
        evidence: Vec<Entry>,
    ) -> CheckResult {
        self.verdict(Verdict::Failed, summary, expected, actual, evidence)
    }
}

/// The worst verdict among a scenario's checks (informational ones do not count): a scenario
/// whose checks are OK but one that could not be graded is NOT-GRADED, never OK.
pub(crate) fn overall(checks: &[CheckResult]) -> Verdict {
    checks
        .iter()
        .map(|c| c.verdict)
        .filter(|v| *v != Verdict::Informational)
        .max()
        .unwrap_or(Verdict::Ok)
}
