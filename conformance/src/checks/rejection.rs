//! What a receiver must refuse: malformed callbacks always; forged ones (without the secret,
//! or with a wrong one), ones for ids the application never registered, and ones from an
//! address it does not trust, each where the subject can be asked to tell them apart
//! ([`Capabilities`](crate::subject::Capabilities)). What cannot be graded is NOT-GRADED,
//! with the flag (or scenario setting) that would grade it, never OK; and so is a check
//! whose callbacks never reached the subject.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    index::{Index, TaskLens, an},
    registry::CheckId,
    verdict::CheckResult,
};
use crate::{
    scenario::InjectedCallback,
    timeline::{DeliveryOutcome, Entry, Event, Expected, HandledBy, Source},
};

/// A defence a receiver may have, graded only when the subject says it has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Defence {
    /// Accepts registered task ids only (`--register-url`, `registered-only`).
    Registration,
    /// Checks a shared secret in its URL (`?token=...`, `secret`).
    Secret,
    /// Accepts callbacks from the trusted source address only (`--trusted-source`,
    /// `allow-list`).
    AllowList,
}

impl Defence {
    /// Whether this run grades it.
    pub(super) fn graded(self, ix: &Index<'_>) -> bool {
        let caps = &ix.rec.caps;
        match self {
            Defence::Registration => caps.registered_only,
            Defence::Secret => caps.secret,
            Defence::AllowList => caps.source_checked,
        }
    }

    /// The defence a forged callback tests.
    pub(super) fn tested_by(kind: InjectedCallback) -> Defence {
        match kind {
            InjectedCallback::Spoofed | InjectedCallback::WrongSecret => Defence::Secret,
            InjectedCallback::UnknownId => Defence::Registration,
            InjectedCallback::UntrustedSource => Defence::AllowList,
        }
    }
}

/// Why a defence is not graded in this run, naming the flag (or the scenario setting) that
/// would grade it.
pub(super) fn ungraded_why(ix: &Index<'_>, d: Defence) -> String {
    let scenario = &ix.rec.scenario.subject;
    let off_in_scenario = match d {
        Defence::Registration => !scenario.registered_only,
        Defence::Secret => !scenario.secret,
        Defence::AllowList => !scenario.allow_list,
    };
    if ix.rec.caps.in_process || off_in_scenario {
        return match d {
            Defence::Registration => {
                "the scenario sets registered-only = false: an unknown id looks like an early one"
                    .into()
            }
            Defence::Secret => "the scenario sets secret = false".into(),
            Defence::AllowList => "the scenario sets allow-list = false".into(),
        };
    }
    match d {
        Defence::Registration => "the receiver is not told which ids the application submitted, \
             so an unknown id looks like an early one: --register-url 'http://HOST/register/{id}' \
             grades it (the harness POSTs each task id there, as your application would)"
            .into(),
        Defence::Secret => "the receiver URL carries no shared secret: give --receiver the URL \
             with the secret it checks ('http://HOST/pingback?token=SECRET') to grade it"
            .into(),
        Defence::AllowList => format!(
            "the receiver is not said to trust one address: --trusted-source {} grades it, if \
             it accepts callbacks from that address only",
            ix.rec.caps.sources.trusted
        ),
    }
}

/// What a check of refusals saw.
#[derive(Default)]
struct Refusals<'e> {
    /// Answered 4xx.
    rejected: usize,
    /// Stale-id or wrong-method callbacks answered without a 5xx (they need no 4xx).
    tolerated: usize,
    /// Accepted where that is not graded, by what was accepted and the defence it tests.
    ungraded: BTreeMap<(String, Defence), usize>,
    /// Never reached the receiver (refused, not sendable), with the first reason.
    unreached: usize,
    unreached_why: Option<String>,
    /// Each failure: the entry, a line naming it, what was seen.
    offenders: Vec<(&'e Entry, String, String)>,
}

impl<'e> Refusals<'e> {
    /// Grades one callback's answer under its rule.
    fn answer(&mut self, e: &'e Entry, what: &str, ix: &Index<'_>, rule: Rule) {
        let (status, outcome, error) = match &e.event {
            Event::Delivery {
                status, outcome, ..
            } => (*status, *outcome, None),
            Event::Injected {
                status,
                outcome,
                error,
                ..
            } => (*status, *outcome, error.as_deref()),
            _ => return,
        };
        let who = match e.task().and_then(|id| ix.by_id.get(&id)) {
            Some(&i) => format!("{}: ", ix.tasks[i].name()),
            None => String::new(),
        };
        let must = match rule {
            Rule::Reject => true,
            Rule::RejectIf(d) => d.graded(ix),
            Rule::NoCrash => false,
        };
        match status {
            Some(s) if (400..500).contains(&s) => self.rejected += 1,
            Some(s) if s >= 500 => self.offenders.push((
                e,
                format!("{who}{} callback crashed the receiver ({s})", an(what)),
                format!("HTTP {s}"),
            )),
            Some(s) if must => self.offenders.push((
                e,
                format!("{who}{} callback was accepted ({s})", an(what)),
                format!("HTTP {s}"),
            )),
            Some(_) => match rule {
                Rule::RejectIf(d) => *self.ungraded.entry((what.to_owned(), d)).or_default() += 1,
                _ => self.tolerated += 1,
            },
            // Connected, never answered: a receiver that hangs on bad input.
            None if outcome == DeliveryOutcome::Timeout && (must || rule == Rule::NoCrash) => {
                self.offenders.push((
                    e,
                    format!("{who}{} callback got no answer (timeout)", an(what)),
                    "no answer".into(),
                ))
            }
            None => {
                self.unreached += 1;
                self.unreached_why
                    .get_or_insert_with(|| format!("{what}: {}", error.unwrap_or(outcome.name())));
            }
        }
    }

    /// The result: FAILED with every offender, NOT-GRADED when something could not be
    /// graded, OK otherwise (`ok` gives its summary).
    fn verdict(self, c: CheckId, ix: &Index<'_>, ok: String) -> CheckResult {
        if let Some((_, first, actual)) = self.offenders.first() {
            let n = self.offenders.len();
            let summary = if n == 1 {
                first.clone()
            } else {
                format!(
                    "{n} callback(s) that must be refused were not ({} rejected); first: {first}",
                    self.rejected
                )
            };
            let entries: BTreeSet<(Source, u64)> = self
                .offenders
                .iter()
                .map(|(e, _, _)| (e.source, e.seq))
                .collect();
            // The first offender's task's story, and every offending callback.
            let tasks: Vec<&TaskLens<'_>> = self
                .offenders
                .iter()
                .take(1)
                .filter_map(|(e, _, _)| e.task().and_then(|id| ix.by_id.get(&id)))
                .map(|&i| &ix.tasks[i])
                .collect();
            let evidence = ix.evidence_of(&tasks, |e| entries.contains(&(e.source, e.seq)));
            let offenders = self.offenders.iter().map(|(_, l, _)| l.clone()).collect();
            return c
                .fail(summary, "a 4xx answer".into(), actual.clone(), evidence)
                .with_offenders(offenders);
        }
        // One sentence per defence, after every kind of callback it would have refused.
        let mut by_defence: BTreeMap<Defence, Vec<String>> = BTreeMap::new();
        for ((what, d), n) in &self.ungraded {
            by_defence
                .entry(*d)
                .or_default()
                .push(format!("{n} {what}"));
        }
        let mut not_graded: Vec<String> = by_defence
            .iter()
            .map(|(d, counts)| {
                format!(
                    "{} accepted ({})",
                    counts.join(" and "),
                    ungraded_why(ix, *d)
                )
            })
            .collect();
        if self.unreached > 0 {
            not_graded.push(format!(
                "{} never reached the receiver ({})",
                self.unreached,
                self.unreached_why.unwrap_or_default()
            ));
        }
        if not_graded.is_empty() {
            c.ok(ok)
        } else {
            c.not_graded(format!("{ok}; not graded: {}", not_graded.join("; ")))
        }
    }
}

/// How a callback must be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// 4xx, always.
    Reject,
    /// 4xx when the run grades this defence.
    RejectIf(Defence),
    /// Anything but a 5xx.
    NoCrash,
}

pub(super) fn reject_invalid(ix: &Index<'_>) -> CheckResult {
    let mut seen = Refusals::default();
    for e in &ix.rec.timeline.entries {
        match &e.event {
            Event::Delivery {
                kind,
                outcome,
                handled_by: HandledBy::Subject,
                ..
            } if outcome.was_sent() => {
                let rule = match kind.expected() {
                    Expected::Acknowledge => continue,
                    Expected::Reject => Rule::Reject,
                    Expected::RejectIfRegisteredOnly => Rule::RejectIf(Defence::Registration),
                    // A stale id is a well-formed callback for a finished task, and the
                    // other HTTP method may be accepted: grade only that they do not fail.
                    Expected::NoCrash => Rule::NoCrash,
                };
                seen.answer(e, kind.name(), ix, rule);
            }
            // Untrusted sources are `trusted-source`'s.
            Event::Injected { callback, .. } if *callback != InjectedCallback::UntrustedSource => {
                let what = format!("injected {}", callback.name());
                seen.answer(e, &what, ix, Rule::RejectIf(Defence::tested_by(*callback)));
            }
            _ => {}
        }
    }
    let ok = match (seen.rejected, seen.tolerated) {
        (r, 0) => format!("{r} invalid callback(s) rejected"),
        (0, t) => format!(
            "{t} stale-id or wrong-method callback(s) answered without a 5xx (neither has to be refused)"
        ),
        (r, t) => format!(
            "{r} invalid callback(s) rejected; {t} stale-id or wrong-method callback(s) answered without a 5xx"
        ),
    };
    seen.verdict(CheckId::RejectInvalid, ix, ok)
}

pub(super) fn trusted_source(ix: &Index<'_>) -> CheckResult {
    let mut seen = Refusals::default();
    for e in &ix.rec.timeline.entries {
        if let Event::Injected {
            callback: InjectedCallback::UntrustedSource,
            ..
        } = &e.event
        {
            seen.answer(
                e,
                "untrusted-source",
                ix,
                Rule::RejectIf(Defence::AllowList),
            );
        }
    }
    let sources = ix.rec.caps.sources;
    let ok = format!(
        "{} callback(s) from {} refused (genuine pingbacks leave from {})",
        seen.rejected, sources.untrusted, sources.trusted
    );
    seen.verdict(CheckId::TrustedSource, ix, ok)
}
