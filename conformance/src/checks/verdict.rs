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
    /// Worth knowing, not graded.
    Informational,
    /// Allowed, but not ideal (e.g. 409 for a duplicate).
    NonStrict,
    /// The property is violated.
    Failed,
}

impl Verdict {
    /// `SKIPPED`, `OK`, `INFORMATIONAL`, `NON-STRICT`, `FAILED`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Skipped => "SKIPPED",
            Verdict::Ok => "OK",
            Verdict::Informational => "INFORMATIONAL",
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
    /// The slice of the timeline that proves it.
    pub evidence: Vec<Entry>,
}

/// As the JSON report shows it: the check's `id` and `title`, then what was seen.
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
            #[serde(skip_serializing_if = "no_evidence")]
            evidence: &'a [Entry],
        }
        fn no_evidence(e: &&[Entry]) -> bool {
            e.is_empty()
        }
        let spec = self.check.spec();
        Wire {
            id: spec.id,
            title: spec.title,
            verdict: self.verdict,
            summary: &self.summary,
            expected: self.expected.as_deref(),
            actual: self.actual.as_deref(),
            evidence: &self.evidence,
        }
        .serialize(s)
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
            evidence: vec![],
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

/// The worst verdict among graded checks (informational ones do not count).
pub(crate) fn overall(checks: &[CheckResult]) -> Verdict {
    checks
        .iter()
        .map(|c| c.verdict)
        .filter(|v| *v != Verdict::Informational)
        .max()
        .unwrap_or(Verdict::Ok)
}
