//! The service's limits: busy threads really met, no submit during a `MAX_USER_TURN` ban, a
//! wait after a busy answer, no request during an `ERROR: 100x` block.

use std::time::Duration;

use captchaai_mock::RateLimitConfig;

use super::{
    index::{Index, ms, secs},
    registry::CheckId,
    verdict::CheckResult,
};
use crate::timeline::{AnswerClass, Entry, Event};

pub(super) fn busy_threads(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::BusyThreads;
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
pub(super) const IN_FLIGHT_MS: u64 = 1000;

/// After a `MAX_USER_TURN` answer, a client waits for the ban to lift before submitting again.
pub(super) fn rate_limit_respected(ix: &Index<'_>, ban: Duration) -> CheckResult {
    let c = CheckId::RateLimits;
    let ban_ms = ms(ban);
    let submits = ix.submits();
    let refused = |e: &Entry| matches!(&e.event, Event::Submit { answer, .. } if answer.class() == AnswerClass::MaxUserTurn);
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

/// The wait a busy answer asks for (2captcha: "If server returns ERROR_NO_SLOT_AVAILABLE make
/// a 5 seconds timeout before sending next request").
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// After a busy answer, no task submits again within [`BUSY_WAIT`]: in any window of that
/// length there are at most as many busy-answered submits as tasks.
pub(super) fn busy_backoff(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::BusyBackoff;
    let busy: Vec<&Entry> = ix
        .submits()
        .into_iter()
        .filter(|e| matches!(&e.event, Event::Submit { answer, .. } if answer.class() == AnswerClass::Busy))
        .collect();
    if busy.is_empty() {
        return c.not_graded("the run met no busy answer");
    }
    let window = ms(BUSY_WAIT).saturating_sub(ix.tol(BUSY_WAIT));
    let tasks = ix.tasks.len();
    for (i, first) in busy.iter().enumerate() {
        let within: Vec<&Entry> = busy[i..]
            .iter()
            .take_while(|e| e.at_ms < first.at_ms + window)
            .copied()
            .collect();
        if within.len() > tasks {
            return c.fail(
                format!(
                    "{} busy-answered submits within {} for {tasks} task(s)",
                    within.len(),
                    secs(window)
                ),
                format!(
                    "at most one busy-answered submit per task in any {}",
                    secs(ms(BUSY_WAIT))
                ),
                format!("{} from {}", within.len(), secs(first.at_ms)),
                within.iter().map(|e| (*e).clone()).collect(),
            );
        }
    }
    c.ok(format!(
        "{} busy answer(s), none followed by a submit within {}",
        busy.len(),
        secs(ms(BUSY_WAIT))
    ))
}

/// How long an `ERROR: 100x` answer blocks the account: the scenario's setting when it
/// configures the block, 2captcha's documented duration otherwise (an `answer` fault).
fn block_length(code: &str, limits: &RateLimitConfig) -> Option<Duration> {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    Some(match code {
        "ERROR: 1001" => limits
            .no_slot_block
            .as_ref()
            .map_or(minutes(10), |b| b.block),
        "ERROR: 1002" => limits
            .zero_balance_block
            .as_ref()
            .map_or(minutes(5), |b| b.block),
        "ERROR: 1003" => limits
            .queue_block
            .as_ref()
            .map_or(Duration::from_secs(30), |b| b.block),
        "ERROR: 1004" => limits
            .bad_key_block
            .as_ref()
            .map_or(minutes(10), |b| b.block),
        _ => return None,
    })
}

/// After an `ERROR: 1001` to `1004` answer the client sends nothing to the API until the block
/// lifts (requests sent within [`IN_FLIGHT_MS`] of the answer excepted).
pub(super) fn blocks(ix: &Index<'_>) -> CheckResult {
    let c = CheckId::Blocks;
    let limits = &ix.rec.scenario.mock.api.rate_limits;
    let requests: Vec<&Entry> = ix
        .rec
        .timeline
        .entries
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::Submit { .. } | Event::Poll { .. } | Event::Request { .. }
            )
        })
        .collect();
    let answer_of = |e: &Entry| match &e.event {
        Event::Submit { answer, .. } | Event::Poll { answer, .. } => Some(answer.text().to_owned()),
        Event::Request { answer, .. } => Some(answer.clone()),
        _ => None,
    };
    let grace = IN_FLIGHT_MS.max(ix.tol(Duration::ZERO));
    let mut blocks = 0;
    let mut until = 0;
    for (i, e) in requests.iter().enumerate() {
        let Some(length) = answer_of(e).and_then(|a| block_length(&a, limits)) else {
            continue;
        };
        if e.at_ms < until {
            continue; // an answer within a block already counted
        }
        blocks += 1;
        let start = e.at_ms;
        until = start + ms(length);
        let inside: Vec<&Entry> = requests[i + 1..]
            .iter()
            .filter(|r| r.at_ms > start + grace && r.at_ms < until)
            .copied()
            .collect();
        if let Some(first) = inside.first() {
            let mut evidence = vec![(*e).clone()];
            evidence.extend(inside.iter().take(20).map(|r| (*r).clone()));
            return c.fail(
                format!(
                    "{} request(s) during a {} block",
                    inside.len(),
                    secs(ms(length))
                ),
                format!("nothing from {} until {}", secs(start + grace), secs(until)),
                format!("a request at {}", secs(first.at_ms)),
                evidence,
            );
        }
    }
    if blocks == 0 {
        return c.not_graded("the client met no ERROR: 100x block");
    }
    c.ok(format!("{blocks} block(s), no request until each lifted"))
}
