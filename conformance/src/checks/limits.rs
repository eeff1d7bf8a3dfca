//! The service's limits: busy threads really met, and no submit during a `MAX_USER_TURN`
//! ban.

use std::time::Duration;

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
