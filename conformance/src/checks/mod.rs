//! Checks: pure functions over a run's record, each giving a verdict with the evidence that
//! proves it.
//!
//! Where they sit in the flow: scenario → runner → mock and subject → timeline → **checks**
//! → report. The runner hands over a `RunRecord` (the timeline, the mock's ground truth, what
//! the receiver stored, what the subject can be graded on); `run_all` picks the checks that
//! apply to it and runs them in the registry's order.
//!
//! - `registry`: every check declared once ([`CheckId`], [`CheckSpec`]: id, title, what it
//!   proves, how to fix a failure); `docs/checks.md` is generated from it;
//! - `verdict`: [`Verdict`], [`CheckResult`] and the builders checks use;
//! - `index`: the per-task view of a run every check reads;
//! - one file per area: `outcomes` (what the application got), `idempotency` (once, first
//!   wins, nothing else stored), `timing` (tolerances, deadlines), `polling` (etiquette),
//!   `strategy` (fallback, pingback only, via, router), `receiver` (the HTTP side: answers
//!   and what was kept), `rejection` (what a receiver must refuse, and why what cannot be
//!   graded is not), `wait` (a long poll woken across replicas), `limits` (busy threads,
//!   rate limits).

mod idempotency;
mod index;
mod limits;
mod outcomes;
mod polling;
mod receiver;
mod registry;
mod rejection;
mod strategy;
mod timing;
mod verdict;
mod wait;

use index::Index;
pub(crate) use receiver::answer_times;
pub(crate) use registry::markdown;
pub use registry::{CheckId, CheckSpec};
pub(crate) use verdict::overall;
pub use verdict::{CheckResult, Verdict};

use crate::{
    runner::RunRecord,
    scenario::{ExpectedOutcome, InjectedCallback, StrategyName, Via},
    timeline::{CallbackKind, Event, ResultPath},
};

/// Runs every check that applies to the run, in the registry's order.
pub(crate) fn run_all(rec: &RunRecord) -> Vec<CheckResult> {
    let ix = Index::new(rec);
    let mut out = vec![outcomes::run_completed(&ix)];
    // A bare receiver has no application side to grade: only the HTTP side.
    if rec.caps.observes_app {
        app_checks(&ix, &mut out);
    }
    receiver_checks(&ix, &mut out);
    if rec.scenario.expect.busy_rejections && rec.caps.observes_app {
        out.push(limits::busy_threads(&ix));
    }
    if let Some(burst) = &rec.scenario.mock.api.rate_limits.max_user_turn
        && rec.caps.observes_app
    {
        out.push(limits::rate_limit_respected(&ix, burst.ban));
    }
    if rec.caps.observes_app {
        fault_checks(&ix, &mut out);
    }
    out.push(outcomes::summary(&ix));
    out
}

/// What the API's faults and blocks ask of a client, graded where the scenario sets them up:
/// no second task after a failed poll (`[[api-faults]]`), a wait after busy answers (busy
/// answers on demand, or blocks that punish hammering), no request during a block.
fn fault_checks(ix: &Index<'_>, out: &mut Vec<CheckResult>) {
    let api = &ix.rec.scenario.mock.api;
    let limits = &api.rate_limits;
    let answers = |codes: &[&str]| {
        api.rules.iter().any(|r| {
            matches!(&r.fault, captchaai_mock::ApiFault::Answer(code) if codes.contains(&code.as_str()))
        })
    };
    let blocks = limits.no_slot_block.is_some()
        || limits.zero_balance_block.is_some()
        || limits.queue_block.is_some()
        || limits.bad_key_block.is_some();
    if !api.rules.is_empty() {
        out.push(polling::no_resubmit(ix));
    }
    if blocks || answers(&["ERROR_NO_SLOT_AVAILABLE", "ERROR_ZERO_BALANCE"]) {
        out.push(limits::busy_backoff(ix));
    }
    if blocks || answers(&["ERROR: 1001", "ERROR: 1002", "ERROR: 1003", "ERROR: 1004"]) {
        out.push(limits::blocks(ix));
    }
}

/// What the application side shows: results, errors, polls, the strategy.
fn app_checks(ix: &Index<'_>, out: &mut Vec<CheckResult>) {
    let rec = ix.rec;
    out.push(idempotency::exactly_once(ix));
    out.push(outcomes::nothing_lost(ix));
    match outcomes::expected_error(rec.scenario.expect.outcome) {
        None => out.push(outcomes::ground_truth(ix)),
        Some(kind) => out.push(outcomes::expected_outcome(ix, &kind)),
    }
    if let Some(c) = timing::deadline(ix) {
        out.push(c);
    }
    if matches!(
        rec.scenario.expect.outcome,
        ExpectedOutcome::InvalidKey | ExpectedOutcome::BadInput | ExpectedOutcome::NoFunds
    ) {
        out.push(polling::no_fatal_retry(ix));
    }
    if ix.tasks.iter().any(|t| !t.polls.is_empty()) {
        out.push(polling::poll_etiquette(ix));
        out.push(polling::polling_stops(ix));
    }
    match rec.scenario.subject.strategy {
        StrategyName::PingbackWithFallback => out.push(strategy::fallback(ix)),
        StrategyName::PingbackOnly => out.push(strategy::pingback_only(ix)),
        StrategyName::PollOnly => {}
    }
    match rec.scenario.expect.via {
        Via::Any => {}
        Via::Pingback => out.push(strategy::via(ix, ResultPath::Pingback)),
        Via::Poll => out.push(strategy::via(ix, ResultPath::Poll)),
    }
    if let Some(max) = rec.scenario.expect.max_polls {
        out.push(polling::max_polls(ix, max));
    }
    if rec.scenario.subject.router {
        out.push(strategy::router(ix));
    }
}

/// What the receiver's side shows: answers to callbacks, and what it stored (when it can
/// be read). A check applies when the run gave it something to grade: valid callbacks the
/// subject answered (not all dropped, or answered by the scenario's receiver-side faults),
/// invalid ones sent, forged ones.
fn receiver_checks(ix: &Index<'_>, out: &mut Vec<CheckResult>) {
    let rec = ix.rec;
    let acks = receiver::acks_apply(ix);
    if acks {
        out.push(receiver::ack_valid(ix));
    }
    let invalid = rec.timeline.entries.iter().any(|e| match &e.event {
        Event::Delivery { kind, outcome, .. } => !kind.is_valid() && outcome.was_sent(),
        Event::Injected { callback, .. } => *callback != InjectedCallback::UntrustedSource,
        _ => false,
    });
    if invalid {
        out.push(rejection::reject_invalid(ix));
    }
    let untrusted = rec.timeline.entries.iter().any(|e| {
        matches!(
            &e.event,
            Event::Injected {
                callback: InjectedCallback::UntrustedSource,
                ..
            }
        )
    });
    if untrusted {
        out.push(rejection::trusted_source(ix));
    }
    // Read back for at least one id: a run that created no task has nothing to change.
    let storage_known = rec.probed && rec.probe_error.is_none() && !rec.stored.is_empty();
    if let Some(why) = rec.probe_error.as_deref().filter(|_| rec.probed) {
        out.push(receiver::results_readable(why));
    }
    // Something to judge: a result was stored, or callbacks were sent that could have changed
    // the store (a poll-only run that stored nothing has neither).
    let callbacks_sent = rec.timeline.entries.iter().any(|e| match &e.event {
        Event::Delivery { outcome, .. } => outcome.was_sent(),
        Event::Injected { .. } => true,
        _ => false,
    });
    if storage_known && (callbacks_sent || rec.stored.values().any(Option::is_some)) {
        out.push(idempotency::no_state_change(ix));
    }
    if storage_known && acks {
        out.push(receiver::receiver_kept(ix));
    }
    let conflicts = ix.tasks.iter().any(|t| {
        t.deliveries.iter().any(|d| {
            matches!(
                &d.event,
                Event::Delivery {
                    kind: CallbackKind::Conflicting,
                    ..
                }
            )
        })
    });
    // Who won is known from the application, or from what the receiver stored.
    if conflicts && (rec.caps.observes_app || storage_known) {
        out.push(idempotency::first_wins(ix));
    }
    if rec.scenario.subject.wait {
        out.push(wait::wait_woken(ix));
    }
}
