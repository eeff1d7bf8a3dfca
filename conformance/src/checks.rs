//! Checkers: pure functions over a run's record, each giving a verdict with
//! the evidence that proves it.
//!
//! | check | property |
//! |---|---|
//! | `run-completed` | the subject finished its tasks |
//! | `exactly-once` | each task's result reaches the application exactly once |
//! | `nothing-lost` | every task ends in a result or an error |
//! | `ground-truth` | each result equals the mock's ground truth (answer, or unsolvable) |
//! | `expected-outcome` | every task ends as the scenario expects (timeout, invalid key, bad input) |
//! | `deadline` | a task that never finishes ends in a timeout within its deadline plus tolerance |
//! | `no-fatal-retry` | errors that cannot heal are not retried |
//! | `poll-etiquette` | no poll before the initial wait, none more often than the interval |
//! | `polling-stops` | no poll once the result is in |
//! | `fallback` | polling starts only after the fallback delay, only for tasks without a pingback result, and does start when the pingback never comes |
//! | `pingback-only` | the pingback-only strategy never polls |
//! | `via` | results arrive the way the scenario expects |
//! | `max-polls` | at most N polls per task |
//! | `rate-limits` | after `MAX_USER_TURN`, no submit until the ban lifts (scenarios with `rate-limits.max-user-turn`) |
//! | `ack-valid` | valid callbacks (genuine, duplicates, conflicting copies) are acknowledged with 2xx; an identical duplicate as the first was (`NON-STRICT` otherwise) |
//! | `reject-invalid` | malformed, spoofed and unknown-id callbacks are rejected with 4xx |
//! | `no-state-change` | nothing but the first valid result is ever stored |
//! | `first-wins` | conflicting duplicates never replace the first result |
//! | `router` | each result is dispatched once, to its route's handler |
//! | `busy-threads` | the run really met busy threads |
//! | `summary` | informational counts |

use std::{collections::BTreeMap, time::Duration};

use captchaai_mock::Outcome;
use serde::Serialize;

use crate::{
    runner::{ENV_FAILURE_BODY, RunRecord, Truth},
    scenario::{ExpectedOutcome, StrategyName, Via},
    timeline::{Entry, Event, Source, short},
};

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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    /// Stable id, e.g. `exactly-once`.
    pub id: &'static str,
    /// The property, in words.
    pub title: &'static str,
    /// Verdict.
    pub verdict: Verdict,
    /// One line on what was seen.
    pub summary: String,
    /// What the property requires (for failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What happened instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// The slice of the timeline that proves it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Entry>,
}

const MAX_EVIDENCE: usize = 40;

struct Check {
    id: &'static str,
    title: &'static str,
}

impl Check {
    fn ok(&self, summary: impl Into<String>) -> CheckResult {
        CheckResult {
            id: self.id,
            title: self.title,
            verdict: Verdict::Ok,
            summary: summary.into(),
            expected: None,
            actual: None,
            evidence: vec![],
        }
    }

    fn info(&self, summary: impl Into<String>) -> CheckResult {
        CheckResult {
            verdict: Verdict::Informational,
            ..self.ok(summary)
        }
    }

    fn verdict(
        &self,
        verdict: Verdict,
        summary: impl Into<String>,
        expected: String,
        actual: String,
        evidence: Vec<Entry>,
    ) -> CheckResult {
        let mut evidence = evidence;
        evidence.truncate(MAX_EVIDENCE);
        CheckResult {
            id: self.id,
            title: self.title,
            verdict,
            summary: summary.into(),
            expected: Some(expected),
            actual: Some(actual),
            evidence,
        }
    }

    fn fail(
        &self,
        summary: impl Into<String>,
        expected: String,
        actual: String,
        evidence: Vec<Entry>,
    ) -> CheckResult {
        self.verdict(Verdict::Failed, summary, expected, actual, evidence)
    }
}

/// Per-task view of a run.
struct TaskLens<'a> {
    ordinal: u64,
    id: Option<u64>,
    submitted_at: Option<u64>,
    app: Vec<&'a Entry>,
    polls: Vec<&'a Entry>,
    deliveries: Vec<&'a Entry>,
}

impl TaskLens<'_> {
    /// `task #3 (id 74000000003)`: the application's number and, once known, the mock's id,
    /// so a message can be matched with the evidence lines, which name ids.
    fn name(&self) -> String {
        match self.id {
            Some(id) => format!("task #{} (id {id})", self.ordinal),
            None => format!("task #{}", self.ordinal),
        }
    }
}

struct Index<'a> {
    rec: &'a RunRecord,
    tasks: Vec<TaskLens<'a>>,
    by_id: BTreeMap<u64, usize>,
}

impl<'a> Index<'a> {
    fn new(rec: &'a RunRecord) -> Self {
        let mut tasks: Vec<TaskLens<'a>> = rec
            .scenario
            .tasks
            .iter()
            .map(|t| TaskLens {
                ordinal: t.ordinal,
                id: rec.ids.get(&t.ordinal).copied(),
                submitted_at: None,
                app: vec![],
                polls: vec![],
                deliveries: vec![],
            })
            .collect();
        let by_id: BTreeMap<u64, usize> = tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.id.map(|id| (id, i)))
            .collect();
        for e in &rec.timeline.entries {
            match &e.event {
                Event::AppResult { ordinal, .. } | Event::AppError { ordinal, .. } => {
                    if let Some(t) = tasks.iter_mut().find(|t| t.ordinal == *ordinal) {
                        t.app.push(e);
                    }
                }
                Event::Submit { task: Some(id), .. } => {
                    if let Some(&i) = by_id.get(id) {
                        tasks[i].submitted_at.get_or_insert(e.at_ms);
                    }
                }
                Event::Poll { task: Some(id), .. } => {
                    if let Some(&i) = by_id.get(id) {
                        tasks[i].polls.push(e);
                    }
                }
                Event::Delivery { task, .. } => {
                    if let Some(&i) = by_id.get(task) {
                        tasks[i].deliveries.push(e);
                    }
                }
                _ => {}
            }
        }
        Index { rec, tasks, by_id }
    }

    fn evidence(&self, t: &TaskLens<'_>) -> Vec<Entry> {
        let mut v: Vec<Entry> = self
            .rec
            .timeline
            .entries
            .iter()
            .filter(|e| {
                t.id.is_some_and(|id| e.task() == Some(id))
                    || matches!(&e.event, Event::AppResult { ordinal, .. } | Event::AppError { ordinal, .. } | Event::AppSubmitted { ordinal, .. } if *ordinal == t.ordinal)
            })
            .cloned()
            .collect();
        if v.len() > MAX_EVIDENCE {
            let tail = v.split_off(v.len() - MAX_EVIDENCE / 2);
            v.truncate(MAX_EVIDENCE / 2);
            v.extend(tail);
        }
        v
    }

    /// Every submit the mock saw, in order.
    fn submits(&self) -> Vec<&'a Entry> {
        self.rec
            .timeline
            .entries
            .iter()
            .filter(|e| matches!(e.event, Event::Submit { .. }))
            .collect()
    }

    fn tol(&self, d: Duration) -> u64 {
        // In-process runs share one paused clock: times are exact but for
        // client jitter. Another process sleeps on its own clock, scaled: allow
        // for scheduling and loopback latency (50 ms real) times the time scale.
        if self.rec.in_process {
            50.max(d.as_millis() as u64 / 20)
        } else {
            ((50.0 * self.rec.time_scale) as u64).max(d.as_millis() as u64 / 10)
        }
    }

    /// Tolerance on a deadline: wider for another process, whose per-sleep
    /// jitter (the official SDK adds up to 1 s to every sleep) accumulates.
    fn deadline_tol(&self, d: Duration) -> u64 {
        if self.rec.in_process {
            self.tol(d)
        } else {
            self.tol(d).max(d.as_millis() as u64 / 4)
        }
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn secs(ms: u64) -> String {
    format!("{:.3}s", ms as f64 / 1000.0)
}

/// Initial wait and poll interval of the official SDK's table (protocol.md §3).
pub fn sdk_timing(kind: &str) -> (Duration, Duration) {
    let initial = match kind {
        "normal" | "grid" | "bls" => 1,
        "recaptcha-v2" | "recaptcha-v2-enterprise" | "cloudflare-challenge" | "geetest" => 15,
        _ => 10,
    };
    (Duration::from_secs(initial), Duration::from_secs(5))
}

fn is_final_poll_answer(answer: &str) -> bool {
    answer != "CAPCHA_NOT_READY"
        && !answer.starts_with("ERROR_WRONG")
        && !answer.starts_with("ERROR_KEY")
}

/// Runs every applicable check.
pub fn run_all(rec: &RunRecord) -> Vec<CheckResult> {
    let ix = Index::new(rec);
    let mut out = vec![run_completed(&ix)];
    // A bare receiver has no application side to grade: only the HTTP side.
    if rec.app_observed {
        app_checks(&ix, &mut out);
    }
    let deliveries = rec
        .timeline
        .entries
        .iter()
        .any(|e| matches!(e.event, Event::Delivery { .. }));
    if deliveries {
        out.push(ack_valid(&ix));
    }
    let invalid = rec.timeline.entries.iter().any(|e| match &e.event {
        Event::Delivery { kind, .. } => {
            !matches!(kind.as_str(), "genuine" | "duplicate" | "conflicting")
        }
        Event::Injected { .. } => true,
        _ => false,
    });
    if invalid {
        out.push(reject_invalid(&ix));
    }
    let storage_known = rec.probed && rec.probe_error.is_none();
    if let Some(why) = rec.probe_error.as_deref().filter(|_| rec.probed) {
        out.push(results_readable(why));
    }
    if storage_known {
        out.push(no_state_change(&ix));
        if deliveries {
            out.push(receiver_kept(&ix));
        }
    }
    let conflicts = ix.tasks.iter().any(|t| {
        t.deliveries
            .iter()
            .any(|d| matches!(&d.event, Event::Delivery { kind, .. } if kind == "conflicting"))
    });
    // Who won is known from the application, or from what the receiver stored.
    if conflicts && (rec.app_observed || storage_known) {
        out.push(first_wins(&ix));
    }
    if rec.scenario.expect.busy_rejections && rec.app_observed {
        out.push(busy_threads(&ix));
    }
    if let Some(burst) = &rec.scenario.mock.api.rate_limits.max_user_turn
        && rec.app_observed
    {
        out.push(rate_limit_respected(&ix, burst.ban));
    }
    out.push(summary(&ix));
    out
}

fn app_checks(ix: &Index<'_>, out: &mut Vec<CheckResult>) {
    let rec = ix.rec;
    out.push(exactly_once(ix));
    out.push(nothing_lost(ix));
    match rec.scenario.expect.outcome {
        ExpectedOutcome::GroundTruth => out.push(ground_truth(ix)),
        other => out.push(expected_outcome(ix, other)),
    }
    if let Some(c) = deadline(ix) {
        out.push(c);
    }
    if matches!(
        rec.scenario.expect.outcome,
        ExpectedOutcome::InvalidKey | ExpectedOutcome::BadInput
    ) {
        out.push(no_fatal_retry(ix));
    }
    if ix.tasks.iter().any(|t| !t.polls.is_empty()) {
        out.push(poll_etiquette(ix));
        out.push(polling_stops(ix));
    }
    match rec.scenario.subject.strategy {
        StrategyName::PingbackWithFallback => out.push(fallback(ix)),
        StrategyName::PingbackOnly => out.push(pingback_only(ix)),
        StrategyName::PollOnly => {}
    }
    if rec.scenario.expect.via != Via::Any {
        out.push(via(ix));
    }
    if let Some(max) = rec.scenario.expect.max_polls {
        out.push(max_polls(ix, max));
    }
    if rec.scenario.subject.router {
        out.push(router(ix));
    }
}

/// The results URL could not be read: what the receiver stored is unknown, so the storage
/// checks are not graded, and this says why.
fn results_readable(why: &str) -> CheckResult {
    let c = Check {
        id: "results-readable",
        title: "the results URL says what the receiver stored",
    };
    c.fail(
        format!("the results URL could not be read ({why}); storage was not graded"),
        "200 with the stored code, or 404".into(),
        why.to_owned(),
        Vec::new(),
    )
}

fn run_completed(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "run-completed",
        title: "the subject finishes its tasks",
    };
    match &ix.rec.aborted {
        None => c.ok(format!(
            "{} task(s) finished, {} of simulated time",
            ix.tasks.len(),
            secs(ix.rec.ended_at_ms)
        )),
        Some(why) => c.fail(
            why.clone(),
            "the run completes".into(),
            why.clone(),
            ix.rec
                .timeline
                .entries
                .iter()
                .rev()
                .take(20)
                .rev()
                .cloned()
                .collect(),
        ),
    }
}

fn exactly_once(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "exactly-once",
        title: "each task's result reaches the application exactly once",
    };
    let dup: Vec<&TaskLens<'_>> = ix.tasks.iter().filter(|t| t.app.len() > 1).collect();
    match dup.first() {
        None => c.ok(format!("{} task(s), none delivered twice", ix.tasks.len())),
        Some(t) => c.fail(
            format!(
                "{} task(s) reached the application more than once",
                dup.len()
            ),
            format!("{} delivered to the application once", t.name()),
            format!("delivered {} times", t.app.len()),
            ix.evidence(t),
        ),
    }
}

fn nothing_lost(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "nothing-lost",
        title: "no task is lost: each ends in a result or an error",
    };
    let lost: Vec<&TaskLens<'_>> = ix.tasks.iter().filter(|t| t.app.is_empty()).collect();
    match lost.first() {
        None => c.ok(format!("all {} task(s) accounted for", ix.tasks.len())),
        Some(t) => c.fail(
            format!(
                "{} of {} task(s) never reached the application",
                lost.len(),
                ix.tasks.len()
            ),
            format!("{} ends in a result or an error", t.name()),
            "nothing reached the application".into(),
            ix.evidence(t),
        ),
    }
}

fn ground_truth(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "ground-truth",
        title: "each result equals the mock's ground truth",
    };
    let mut bad = Vec::new();
    for t in &ix.tasks {
        let Some(first) = t.app.first() else { continue };
        let truth = t.id.and_then(|id| ix.rec.truth.get(&id));
        if let (Some(tr), Event::AppResult { code, .. }) = (truth, &first.event)
            && conflicting_taken_first(t, tr) == Some(code.as_str())
        {
            continue;
        }
        let verdict = match (truth.map(|t| &t.outcome), &first.event) {
            (Some(Outcome::Solved { answer, .. }), Event::AppResult { code, .. })
                if code == answer =>
            {
                None
            }
            (Some(Outcome::Solved { answer, .. }), Event::AppResult { code, .. }) => Some((
                format!("the answer {}", short(answer)),
                format!("the answer {}", short(code)),
            )),
            (Some(Outcome::Solved { answer, .. }), Event::AppError { kind, code, .. }) => Some((
                format!("the answer {}", short(answer)),
                format!(
                    "{} error{}",
                    an(kind),
                    code.as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ),
            )),
            (Some(Outcome::Failed { code: want }), Event::AppError { kind, code, .. }) => {
                if code.as_deref() == Some(want.as_str())
                    || (kind == "unsolvable" && want == "ERROR_CAPTCHA_UNSOLVABLE")
                {
                    None
                } else {
                    Some((
                        format!("the failure {want}"),
                        format!(
                            "{} error{}",
                            an(kind),
                            code.as_deref()
                                .map(|c| format!(" ({c})"))
                                .unwrap_or_default()
                        ),
                    ))
                }
            }
            (Some(Outcome::Failed { code: want }), Event::AppResult { code, .. }) => (code != want)
                .then(|| {
                    (
                        format!("the failure {want}"),
                        format!("the result {}", short(code)),
                    )
                }),
            (
                None,
                Event::AppError {
                    kind,
                    code,
                    message,
                    ..
                },
            ) => Some((
                "the task is accepted and solved".into(),
                format!(
                    "{} error{} before any task id: {}",
                    an(kind),
                    code.as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    short(message)
                ),
            )),
            (None, _) => Some((
                "a task the mock knows".into(),
                "a result for an unknown task".into(),
            )),
            (Some(_), _) => None,
        };
        if let Some((e, a)) = verdict {
            bad.push((t, e, a));
        }
    }
    match bad.first() {
        None => c.ok(format!(
            "{} result(s) match",
            ix.tasks.iter().filter(|t| !t.app.is_empty()).count()
        )),
        Some((t, e, a)) => c.fail(
            format!(
                "{} task(s) got something other than the ground truth",
                bad.len()
            ),
            format!("{}: {e}", t.name()),
            a.clone(),
            ix.evidence(t),
        ),
    }
}

fn expected_kind(o: ExpectedOutcome) -> &'static str {
    match o {
        ExpectedOutcome::Timeout => "timeout",
        ExpectedOutcome::InvalidKey => "invalid-key",
        ExpectedOutcome::BadInput => "bad-input",
        ExpectedOutcome::GroundTruth => "result",
    }
}

fn expected_outcome(ix: &Index<'_>, want: ExpectedOutcome) -> CheckResult {
    let c = Check {
        id: "expected-outcome",
        title: "every task ends as the scenario expects",
    };
    let kind = expected_kind(want);
    let bad: Vec<&TaskLens<'_>> = ix
        .tasks
        .iter()
        .filter(|t| {
            !t.app
                .first()
                .is_some_and(|e| matches!(&e.event, Event::AppError { kind: k, .. } if k == kind))
        })
        .collect();
    match bad.first() {
        None => c.ok(format!(
            "all {} task(s) ended in {} error",
            ix.tasks.len(),
            an(kind)
        )),
        Some(t) => c.fail(
            format!("{} task(s) did not end in {} error", bad.len(), an(kind)),
            format!("{} ends in {} error", t.name(), an(kind)),
            t.app
                .first()
                .map_or("nothing".into(), |e| e.to_string().trim().to_owned()),
            ix.evidence(t),
        ),
    }
}

fn deadline(ix: &Index<'_>) -> Option<CheckResult> {
    let c = Check {
        id: "deadline",
        title: "a task that never finishes ends in a timeout within its deadline",
    };
    let d = ix.rec.scenario.subject.deadline;
    let never: Vec<&TaskLens<'_>> = ix
        .tasks
        .iter()
        .filter(|t| {
            t.id.and_then(|id| ix.rec.truth.get(&id))
                .is_some_and(|tr| tr.finish_at_ms.is_none())
        })
        .collect();
    if never.is_empty() {
        return None;
    }
    let tol = ix.deadline_tol(d);
    for t in &never {
        let start = t.submitted_at.unwrap_or(0);
        let timeout = t.app.iter().find_map(|e| match &e.event {
            Event::AppError { kind, .. } if kind == "timeout" => Some(e.at_ms),
            _ => None,
        });
        let want = format!(
            "{}: a timeout error {} after submit (±{})",
            t.name(),
            secs(ms(d)),
            secs(tol)
        );
        match timeout {
            None => {
                return Some(c.fail(
                    "a never-finishing task did not time out",
                    want,
                    "no timeout error".into(),
                    ix.evidence(t),
                ));
            }
            Some(at) => {
                let took = at.saturating_sub(start);
                if took > ms(d) + tol || took + tol < ms(d) {
                    return Some(c.fail(
                        "a timeout came at the wrong time",
                        want,
                        format!("a timeout {} after submit", secs(took)),
                        ix.evidence(t),
                    ));
                }
            }
        }
    }
    Some(c.ok(format!(
        "{} never-finishing task(s) timed out after {}",
        never.len(),
        secs(ms(d))
    )))
}

fn no_fatal_retry(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "no-fatal-retry",
        title: "errors that cannot heal are not retried",
    };
    let submits = ix.submits();
    let polls = ix
        .rec
        .timeline
        .entries
        .iter()
        .filter(|e| matches!(e.event, Event::Poll { .. }))
        .count();
    if submits.len() <= ix.tasks.len() && polls == 0 {
        c.ok(format!(
            "{} submit(s) for {} task(s), no polls",
            submits.len(),
            ix.tasks.len()
        ))
    } else {
        c.fail(
            "a fatal answer was retried",
            format!("at most {} submit(s) and no polls", ix.tasks.len()),
            format!("{} submit(s), {polls} poll(s)", submits.len()),
            submits.into_iter().cloned().collect(),
        )
    }
}

fn poll_etiquette(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "poll-etiquette",
        title: "no poll before the initial wait, none more often than the interval",
    };
    let mut early = Vec::new();
    for t in &ix.tasks {
        let (Some(id), Some(start)) = (t.id, t.submitted_at) else {
            continue;
        };
        let kind = ix
            .rec
            .truth
            .get(&id)
            .map_or("normal", |tr| tr.kind.as_str());
        let (initial, interval) = sdk_timing(kind);
        let tol = ix.tol(interval);
        for w in t.polls.windows(2) {
            let gap = w[1].at_ms.saturating_sub(w[0].at_ms);
            if gap + tol < ms(interval) {
                return c.fail(
                    format!("{} was polled {} apart", t.name(), secs(gap)),
                    format!("polls at least {} apart", secs(ms(interval))),
                    format!("two polls {} apart", secs(gap)),
                    ix.evidence(t),
                );
            }
        }
        if let Some(first) = t.polls.first() {
            let after = first.at_ms.saturating_sub(start);
            if after + ix.tol(initial) < ms(initial) {
                early.push((t, after, initial));
            }
        }
    }
    match early.first() {
        None => c.ok("every poll respected the initial wait and the interval"),
        Some((t, after, initial)) => c.verdict(
            Verdict::NonStrict,
            format!(
                "{} task(s) polled once before the initial wait (allowed: 2captcha-python does it)",
                early.len()
            ),
            format!(
                "first poll of {} at least {} after submit",
                t.name(),
                secs(ms(*initial))
            ),
            format!("first poll {} after submit", secs(*after)),
            ix.evidence(t),
        ),
    }
}

fn result_in_at(t: &TaskLens<'_>) -> Option<u64> {
    let polled = t.polls.iter().find_map(|p| match &p.event {
        Event::Poll { answer, .. } if is_final_poll_answer(answer) => Some(p.at_ms),
        _ => None,
    });
    let app = t.app.first().map(|e| e.at_ms);
    match (polled, app) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn polling_stops(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "polling-stops",
        title: "no poll once the result is in",
    };
    for t in &ix.tasks {
        let Some(done) = result_in_at(t) else {
            continue;
        };
        let extra: Vec<&&Entry> = t
            .polls
            .iter()
            .filter(|p| p.at_ms > done + ix.tol(Duration::ZERO))
            .collect();
        if let Some(p) = extra.first() {
            return c.fail(
                format!(
                    "{} was polled {} time(s) after its result was in",
                    t.name(),
                    extra.len()
                ),
                format!("no poll after {}", secs(done)),
                format!("a poll at {}", secs(p.at_ms)),
                ix.evidence(t),
            );
        }
    }
    c.ok("polling stopped as soon as each result was in")
}

/// The conflicting copy's code, when that copy was the first valid callback the subject took:
/// the genuine one never reached it (failed in front of it by the scenario's receiver faults,
/// or dropped), so keeping the conflicting code is all a correct subject can do.
fn conflicting_taken_first<'r>(t: &TaskLens<'_>, truth: &'r Truth) -> Option<&'r str> {
    let first = t.deliveries.iter().find_map(|d| match &d.event {
        Event::Delivery {
            kind,
            status: Some(s),
            response,
            ..
        } if matches!(kind.as_str(), "genuine" | "duplicate" | "conflicting")
            && (200..300).contains(s)
            && response.as_deref() != Some(ENV_FAILURE_BODY) =>
        {
            Some(kind.as_str())
        }
        _ => None,
    })?;
    (first == "conflicting")
        .then_some(truth.conflicting_code.as_deref())
        .flatten()
}

fn first_acked_genuine(t: &TaskLens<'_>) -> Option<u64> {
    t.deliveries.iter().find_map(|d| match &d.event {
        Event::Delivery {
            kind,
            status: Some(s),
            response,
            ..
        } if matches!(kind.as_str(), "genuine" | "duplicate")
            && (200..300).contains(s)
            && response.as_deref() != Some(ENV_FAILURE_BODY) =>
        {
            Some(d.at_ms)
        }
        _ => None,
    })
}

fn fallback(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "fallback",
        title: "polling starts only after the fallback delay, only without a pingback result, and does start without one",
    };
    let quiet = ms(ix.rec.scenario.subject.fallback_after);
    let tol = ix.tol(ix.rec.scenario.subject.fallback_after);
    let mut fell_back = 0;
    for t in &ix.tasks {
        let Some(start) = t.submitted_at else {
            continue;
        };
        let pingback_at = first_acked_genuine(t);
        if let Some(first) = t.polls.first() {
            fell_back += 1;
            if first.at_ms + tol < start + quiet {
                return c.fail(
                    format!("{} was polled before the fallback delay", t.name()),
                    format!("first poll at least {} after submit", secs(quiet)),
                    format!("first poll {} after submit", secs(first.at_ms - start)),
                    ix.evidence(t),
                );
            }
            if let Some(pb) = pingback_at
                && pb + tol < first.at_ms
                && pb < start + quiet
            {
                return c.fail(
                    format!("{} was polled although its pingback had arrived", t.name()),
                    "no polling for a task whose pingback arrived within the fallback delay".into(),
                    format!(
                        "pingback acknowledged at {}, poll at {}",
                        secs(pb),
                        secs(first.at_ms)
                    ),
                    ix.evidence(t),
                );
            }
        } else if pingback_at.is_none()
            && t.app.first().is_none_or(|e| e.at_ms > start + quiet + tol)
        {
            let finished =
                t.id.and_then(|id| ix.rec.truth.get(&id))
                    .and_then(|tr| tr.finish_at_ms);
            if finished.is_some() {
                return c.fail(
                    format!(
                        "{} never fell back to polling although no pingback arrived",
                        t.name()
                    ),
                    format!("polling from {} after submit", secs(quiet)),
                    "no poll at all".into(),
                    ix.evidence(t),
                );
            }
        }
    }
    c.ok(format!(
        "{fell_back} task(s) fell back to polling, each after {}",
        secs(quiet)
    ))
}

fn pingback_only(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "pingback-only",
        title: "the pingback-only strategy never polls",
    };
    match ix.tasks.iter().find(|t| !t.polls.is_empty()) {
        None => c.ok("no polls"),
        Some(t) => c.fail(
            format!("{} was polled", t.name()),
            "no polls".into(),
            format!("{} poll(s)", t.polls.len()),
            ix.evidence(t),
        ),
    }
}

fn via(ix: &Index<'_>) -> CheckResult {
    let want = match ix.rec.scenario.expect.via {
        Via::Pingback => "pingback",
        Via::Poll => "poll",
        Via::Any => "any",
    };
    let c = Check {
        id: "via",
        title: "results arrive the way the scenario expects",
    };
    for t in &ix.tasks {
        let got = t.app.first().and_then(|e| match &e.event {
            Event::AppResult { via, .. } => via.clone(),
            _ => None,
        });
        let app_at = t.app.first().map_or(u64::MAX, |e| e.at_ms);
        let polled_first = t.polls.iter().any(|p| {
            p.at_ms <= app_at
                && matches!(&p.event, Event::Poll { answer, .. } if is_final_poll_answer(answer))
        });
        let inferred = got.unwrap_or_else(|| {
            if polled_first {
                "poll".into()
            } else {
                "pingback".into()
            }
        });
        if t.app
            .iter()
            .any(|e| matches!(e.event, Event::AppResult { .. }))
            && inferred != want
        {
            return c.fail(
                format!("{} arrived by {inferred}", t.name()),
                format!("results by {want}"),
                format!("by {inferred}"),
                ix.evidence(t),
            );
        }
    }
    c.ok(format!("every result arrived by {want}"))
}

fn max_polls(ix: &Index<'_>, max: u32) -> CheckResult {
    let c = Check {
        id: "max-polls",
        title: "no more polls per task than the scenario allows",
    };
    match ix.tasks.iter().find(|t| t.polls.len() > max as usize) {
        None => c.ok(format!("at most {max} poll(s) per task")),
        Some(t) => c.fail(
            format!("{} was polled {} times", t.name(), t.polls.len()),
            format!("at most {max}"),
            t.polls.len().to_string(),
            ix.evidence(t),
        ),
    }
}

fn ack_valid(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "ack-valid",
        title: "valid callbacks are acknowledged with 2xx",
    };
    let latency_env = ix.rec.scenario.receiver.latency.is_some();
    let budget_ms = ix.rec.latency_budget.map(|b| b.as_secs_f64() * 1000.0);
    let mut non_strict = None;
    let mut acked = 0;
    let mut slowest = 0.0f64;
    for t in &ix.tasks {
        // What the first acknowledged genuine callback was answered: an identical
        // duplicate should be answered the same.
        let genuine_status = t.deliveries.iter().find_map(|d| match &d.event {
            Event::Delivery {
                kind,
                status: Some(s),
                ..
            } if kind == "genuine" && (200..300).contains(s) => Some(*s),
            _ => None,
        });
        for d in &t.deliveries {
            let Event::Delivery {
                kind,
                status,
                outcome,
                response,
                latency_ms,
                ..
            } = &d.event
            else {
                continue;
            };
            if !matches!(kind.as_str(), "genuine" | "duplicate" | "conflicting")
                || response.as_deref() == Some(ENV_FAILURE_BODY)
            {
                continue;
            }
            // Only an answer is acknowledged late; a timeout or refusal is judged below.
            let real_ms = latency_ms
                .filter(|_| status.is_some())
                .map(|l| l / ix.rec.time_scale);
            if let (Some(ms), Some(budget)) = (real_ms, budget_ms) {
                slowest = slowest.max(ms);
                if ms > budget {
                    return c.fail(
                        format!(
                            "{}: {} callback took {ms:.0} ms to acknowledge",
                            t.name(),
                            an(kind)
                        ),
                        format!("an answer within {budget:.0} ms"),
                        format!("{ms:.0} ms"),
                        ix.evidence(t),
                    );
                }
            }
            match status {
                Some(s) if (200..300).contains(s) => {
                    acked += 1;
                    if let Some(first) = genuine_status
                        && kind == "duplicate"
                        && *s != first
                    {
                        non_strict.get_or_insert((
                            t,
                            format!(
                                "an identical duplicate answered {s}, the first callback {first}"
                            ),
                        ));
                    }
                }
                Some(409) if kind != "genuine" => {
                    non_strict.get_or_insert((t, format!("{kind} answered 409")));
                }
                Some(s) => {
                    return c.fail(
                        format!("{}: {} callback was answered {s}", t.name(), an(kind)),
                        "2xx for every valid callback (409 tolerated for duplicates)".into(),
                        format!("HTTP {s}"),
                        ix.evidence(t),
                    );
                }
                None if matches!(outcome.as_str(), "dropped" | "shed") => {}
                None if latency_env && outcome == "timeout" => {}
                None => {
                    return c.fail(
                        format!(
                            "{}: {} callback got no answer ({outcome})",
                            t.name(),
                            an(kind)
                        ),
                        "an answer within the sender's timeout".into(),
                        outcome.clone(),
                        ix.evidence(t),
                    );
                }
            }
        }
    }
    match non_strict {
        Some((t, why)) => c.verdict(
            Verdict::NonStrict,
            why.clone(),
            "2xx for duplicates, identical ones answered as the first".into(),
            why,
            ix.evidence(t),
        ),
        None if budget_ms.is_some() => c.ok(format!(
            "{acked} valid callback(s) acknowledged, slowest in {slowest:.0} ms"
        )),
        None => c.ok(format!("{acked} valid callback(s) acknowledged")),
    }
}

fn receiver_kept(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "receiver-kept",
        title: "every acknowledged result is stored",
    };
    let mut kept = 0;
    for t in &ix.tasks {
        let Some(id) = t.id else { continue };
        if first_acked_genuine(t).is_none() {
            continue;
        }
        match ix.rec.stored.get(&id.to_string()) {
            Some(Some(_)) => kept += 1,
            _ => {
                return c.fail(
                    format!(
                        "{}: its callback was acknowledged but nothing is stored",
                        t.name()
                    ),
                    "the acknowledged result is stored".into(),
                    "nothing stored".into(),
                    ix.evidence(t),
                );
            }
        }
    }
    c.ok(format!("{kept} acknowledged result(s) stored"))
}

fn reject_invalid(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "reject-invalid",
        title: "malformed, spoofed and unknown-id callbacks are rejected with 4xx",
    };
    let registered_only = ix.rec.registered_only;
    let secret = ix.rec.secret;
    let mut rejected = 0;
    // Invalid callbacks accepted where this subject cannot be asked to refuse
    // them (unknown ids without registration, spoofs without a secret).
    let mut ungraded: BTreeMap<String, usize> = BTreeMap::new();
    for e in &ix.rec.timeline.entries {
        // `must_reject`: refusing it is graded; `conditional`: it would be, with
        // registration (unknown ids) or a shared secret (forgeries).
        let (what, status, must_reject, conditional) = match &e.event {
            Event::Delivery {
                kind,
                status,
                response,
                ..
            } if response.as_deref() != Some(ENV_FAILURE_BODY) => match kind.as_str() {
                "genuine" | "duplicate" | "conflicting" => continue,
                "missing-id" | "missing-code" | "non-numeric-id" | "oversized-code" => {
                    (kind.clone(), *status, true, false)
                }
                "unknown-id" => (kind.clone(), *status, registered_only, true),
                // A stale id is a well-formed callback for a finished task, and the
                // other HTTP method may be accepted: grade only that they do not fail.
                _ => (kind.clone(), *status, false, false),
            },
            Event::Injected {
                callback, status, ..
            } => {
                let name = serde_json::to_value(callback)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let must = match callback {
                    crate::scenario::InjectedCallback::UnknownId => registered_only,
                    _ => secret,
                };
                (format!("injected {name}"), *status, must, true)
            }
            _ => continue,
        };
        let evidence = || {
            let task = e.task();
            ix.tasks
                .iter()
                .find(|t| t.id.is_some() && t.id == task)
                .map_or_else(|| vec![e.clone()], |t| ix.evidence(t))
        };
        match status {
            Some(s) if (400..500).contains(&s) => rejected += 1,
            Some(s) if s >= 500 => {
                return c.fail(
                    format!("{} callback crashed the receiver ({s})", an(&what)),
                    "a 4xx answer".into(),
                    format!("HTTP {s}"),
                    evidence(),
                );
            }
            Some(s) if must_reject => {
                return c.fail(
                    format!("{} callback was accepted ({s})", an(&what)),
                    "a 4xx answer".into(),
                    format!("HTTP {s}"),
                    evidence(),
                );
            }
            Some(_) if conditional => *ungraded.entry(what).or_default() += 1,
            _ => {}
        }
    }
    if ungraded.is_empty() {
        return c.ok(format!("{rejected} invalid callback(s) rejected"));
    }
    let accepted: Vec<String> = ungraded
        .iter()
        .map(|(what, n)| format!("{n} {what}"))
        .collect();
    c.info(format!(
        "{rejected} invalid callback(s) rejected; accepted, not graded: {} ({})",
        accepted.join(", "),
        ungraded_why(ix)
    ))
}

/// Why accepting unknown-id or spoofed callbacks is not graded for this run.
fn ungraded_why(ix: &Index<'_>) -> &'static str {
    if ix.rec.in_process {
        return match (ix.rec.registered_only, ix.rec.secret) {
            (false, _) => {
                "the scenario sets registered-only = false: an unknown id looks like an early one"
            }
            (true, false) => "the scenario sets secret = false",
            (true, true) => "",
        };
    }
    match (ix.rec.registered_only, ix.rec.secret) {
        (false, false) => {
            "the receiver is not told which ids are registered (--register-url) and its URL carries no secret"
        }
        (false, true) => {
            "the receiver is not told which ids are registered (--register-url), so an unknown id looks like an early one"
        }
        (true, false) => "the callback URL carries no shared secret to check",
        (true, true) => "",
    }
}

fn no_state_change(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "no-state-change",
        title: "nothing but the first valid result is ever stored",
    };
    let registered_only = ix.rec.registered_only;
    let mut checked = 0;
    let mut ungraded = Vec::new();
    for (id, stored) in &ix.rec.stored {
        let Some(code) = stored else { continue };
        let known = id.parse::<u64>().ok().and_then(|n| ix.rec.truth.get(&n));
        match known {
            Some(truth) => {
                checked += 1;
                let t = ix.by_id.get(&truth.task).map(|&i| &ix.tasks[i]);
                let rightful = t
                    .and_then(|t| conflicting_taken_first(t, truth))
                    .unwrap_or(truth.outcome.code());
                if code != rightful {
                    return c.fail(
                        format!("task {id} holds a code that is not its first valid result"),
                        format!("stored {}", short(rightful)),
                        format!("stored {}", short(code)),
                        t.map_or_else(Vec::new, |t| ix.evidence(t)),
                    );
                }
            }
            // A receiver that accepts unregistered ids (to keep early results)
            // cannot tell an unknown id from an early one: only a registered-only
            // receiver must store nothing for ids it never asked for.
            None if registered_only => {
                let evidence: Vec<Entry> = ix
                    .rec
                    .timeline
                    .entries
                    .iter()
                    .filter(|e| match &e.event {
                        Event::Delivery { id: Some(i), .. }
                        | Event::Received { id: Some(i), .. } => i == id,
                        Event::Injected { id: i, .. } => i == id,
                        _ => false,
                    })
                    .cloned()
                    .collect();
                return c.fail(
                    format!("a result was stored for {id}, an id the application never submitted"),
                    "nothing stored for unknown ids".into(),
                    format!("stored {}", short(code)),
                    evidence,
                );
            }
            None => ungraded.push(id.as_str()),
        }
    }
    if !ungraded.is_empty() {
        return c.info(format!(
            "{checked} stored result(s) are each task's first valid result; also stored, not graded: \
             results for {} id(s) the application never submitted ({}) ({})",
            ungraded.len(),
            ungraded.join(", "),
            ungraded_why(ix)
        ));
    }
    c.ok(format!(
        "{checked} stored result(s) are each task's first valid result"
    ))
}

fn first_wins(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "first-wins",
        title: "conflicting duplicates never replace the first result",
    };
    for t in &ix.tasks {
        if !t
            .deliveries
            .iter()
            .any(|d| matches!(&d.event, Event::Delivery { kind, .. } if kind == "conflicting"))
        {
            continue;
        }
        let Some(truth) = t.id.and_then(|id| ix.rec.truth.get(&id)) else {
            continue;
        };
        let want = conflicting_taken_first(t, truth).unwrap_or(truth.outcome.code());
        let app_codes: Vec<String> = t
            .app
            .iter()
            .filter_map(|e| match &e.event {
                Event::AppResult { code, .. } => Some(code.clone()),
                Event::AppError { code, .. } => code.clone(),
                _ => None,
            })
            .collect();
        let stored =
            t.id.and_then(|id| ix.rec.stored.get(&id.to_string()).cloned().flatten());
        let replaced_app = app_codes.iter().any(|c| c != want);
        let replaced_store = stored.as_deref().is_some_and(|s| s != want);
        if replaced_app || replaced_store {
            return c.fail(
                format!("{}: the conflicting copy won", t.name()),
                format!("the first result {}", short(want)),
                if replaced_store {
                    format!("stored {}", short(stored.as_deref().unwrap_or("")))
                } else {
                    format!(
                        "the application got {}",
                        app_codes
                            .iter()
                            .map(|c| short(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                ix.evidence(t),
            );
        }
    }
    c.ok("every conflicting copy was ignored")
}

fn router(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "router",
        title: "each result is dispatched once, to its route's handler",
    };
    for (t, w) in ix.tasks.iter().zip(&ix.rec.scenario.tasks) {
        let want = w.route.clone().unwrap_or_else(|| "default".into());
        for e in &t.app {
            if let Event::AppResult { route, .. } = &e.event
                && route.as_deref() != Some(want.as_str())
            {
                return c.fail(
                    format!("{} went to the wrong handler", t.name()),
                    format!("route {want}"),
                    format!("route {}", route.as_deref().unwrap_or("(none)")),
                    ix.evidence(t),
                );
            }
        }
    }
    c.ok("every result reached its route's handler")
}

fn busy_threads(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "busy-threads",
        title: "the run met busy threads",
    };
    if ix.rec.busy_rejections > 0 {
        c.ok(format!(
            "the mock rejected {} submit(s) as busy and the subject coped",
            ix.rec.busy_rejections
        ))
    } else {
        let queued = ix.rec.scenario.mock.busy_threads == captchaai_mock::BusyMode::Queue;
        if queued {
            c.ok("queue mode: busy threads queue silently")
        } else {
            c.fail(
                "no submit was rejected as busy",
                "at least one busy rejection".into(),
                "none".into(),
                vec![],
            )
        }
    }
}

/// Submits already on their way when the first `MAX_USER_TURN` answer arrived are not the
/// client's fault: only submits sent this long after it count.
const IN_FLIGHT_MS: u64 = 1000;

/// After a `MAX_USER_TURN` answer, a client waits for the ban to lift before submitting again.
fn rate_limit_respected(ix: &Index<'_>, ban: Duration) -> CheckResult {
    let c = Check {
        id: "rate-limits",
        title: "no submit while a MAX_USER_TURN ban lasts",
    };
    let ban_ms = ms(ban);
    let submits = ix.submits();
    let refused = |e: &Entry| matches!(&e.event, Event::Submit { answer, .. } if answer.contains("MAX_USER_TURN"));
    let mut ban_start: Option<u64> = None;
    let mut refusals = 0;
    for (i, e) in submits.iter().enumerate() {
        if !refused(e) {
            continue;
        }
        refusals += 1;
        match ban_start {
            Some(start) if e.at_ms < start + ban_ms => {
                if e.at_ms > start + IN_FLIGHT_MS {
                    let evidence = submits[..=i]
                        .iter()
                        .filter(|s| s.at_ms >= start)
                        .map(|s| (*s).clone())
                        .collect();
                    return c.fail(
                        format!(
                            "a submit {} into a {} ban was refused again",
                            secs(e.at_ms - start),
                            secs(ban_ms)
                        ),
                        format!(
                            "no submit from {} after the first MAX_USER_TURN until the ban lifts",
                            secs(IN_FLIGHT_MS)
                        ),
                        format!("submitted at {}", secs(e.at_ms)),
                        evidence,
                    );
                }
            }
            _ => ban_start = Some(e.at_ms),
        }
    }
    c.ok(format!(
        "{refusals} submit(s) refused with MAX_USER_TURN, none repeated during a ban"
    ))
}

fn summary(ix: &Index<'_>) -> CheckResult {
    let c = Check {
        id: "summary",
        title: "what happened",
    };
    let mut polls = 0;
    let mut submits = 0;
    let mut attempts: BTreeMap<String, usize> = BTreeMap::new();
    let mut app_results = 0;
    let mut app_errors: BTreeMap<String, usize> = BTreeMap::new();
    for e in &ix.rec.timeline.entries {
        match (&e.event, e.source) {
            (Event::Poll { .. }, _) => polls += 1,
            (Event::Submit { .. }, _) => submits += 1,
            (Event::Delivery { outcome, .. }, _) => {
                *attempts.entry(outcome.clone()).or_default() += 1
            }
            (Event::AppResult { .. }, Source::App) => app_results += 1,
            (Event::AppError { kind, .. }, Source::App) => {
                *app_errors.entry(kind.clone()).or_default() += 1
            }
            _ => {}
        }
    }
    let attempts: Vec<String> = attempts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let errors: Vec<String> = app_errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
    c.info(format!(
        "{submits} submit(s), {polls} poll(s), pingback attempts: {}; application: {app_results} result(s){}; {} simulated",
        if attempts.is_empty() { "none".into() } else { attempts.join(", ") },
        if errors.is_empty() { String::new() } else { format!(", errors: {}", errors.join(", ")) },
        secs(ix.rec.ended_at_ms)
    ))
}

/// The worst verdict among graded checks (informational ones do not count).
pub fn overall(checks: &[CheckResult]) -> Verdict {
    checks
        .iter()
        .map(|c| c.verdict)
        .filter(|v| *v != Verdict::Informational)
        .max()
        .unwrap_or(Verdict::Ok)
}

/// "a" or "an", and the word: `an("unsolvable")` is "an unsolvable".
fn an(word: &str) -> String {
    let vowel = word
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {word}", if vowel { "an" } else { "a" })
}
