//! The most a scenario's rules let a run produce: pingback callbacks and attempts per task,
//! whatever the seed draws. The mock's outbound journal and delivery queue are sized from
//! it, so a run never loses an attempt the checks read or sheds a callback because of the
//! harness's own limits; validation refuses a scenario whose worst case is more than a run
//! can hold.

use captchaai_mock::{Fault, FaultRule, RetryPolicy};

/// The most pingback attempts a run may journal (each kept until the run is graded, and
/// read into its timeline).
pub(super) const MAX_PINGBACK_ATTEMPTS: u64 = 4_000_000;

/// The mock's own bounds, for a fault this module does not know yet: the most copies a
/// duplicate fault sends after the genuine callback, and the most attempts a retry policy
/// makes.
const MAX_COPIES: u64 = 100;
const MAX_ATTEMPTS: u64 = 100;

/// The worst a single task can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PerTask {
    /// Callbacks planned (each pending in the dispatcher until its last attempt).
    pub(super) callbacks: u64,
    /// Journal entries: every attempt of every callback, or one for a callback never sent.
    pub(super) attempts: u64,
    /// The rule it comes from (`None`: a task no rule applies to).
    pub(super) rule: Option<usize>,
}

/// The worst task: the fault of any rule (a rule's draw may pick any task), or none, each
/// with the retry policy it runs under.
pub(super) fn worst_task(rules: &[FaultRule], retry: &RetryPolicy) -> PerTask {
    let default_attempts = u64::from(retry.max_attempts());
    let plain = PerTask {
        callbacks: 1,
        attempts: default_attempts,
        rule: None,
    };
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (callbacks, attempts_each) = match &r.fault {
                Fault::None | Fault::Delay(_) | Fault::Reorder(_) | Fault::Early => {
                    (1, default_attempts)
                }
                Fault::Duplicate(d) => (u64::from(d.copies) + 1, default_attempts),
                // One entry says it was dropped.
                Fault::Drop => (1, 1),
                Fault::Malformed(_) => (2, default_attempts),
                Fault::Retry(p) => (1, u64::from(p.max_attempts())),
                // A fault added to the mock since: as many as any fault can plan, until it
                // gets its own arm here.
                _ => (MAX_COPIES + 1, MAX_ATTEMPTS),
            };
            PerTask {
                callbacks,
                attempts: callbacks * attempts_each,
                rule: Some(i),
            }
        })
        .fold(plain, |worst, t| {
            if t.attempts > worst.attempts {
                t
            } else {
                worst
            }
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use captchaai_mock::{DuplicateFault, MalformedKind};

    use super::*;

    fn duplicate(copies: u32) -> FaultRule {
        FaultRule::always(Fault::Duplicate(DuplicateFault {
            copies,
            spacing: Duration::from_secs(1),
            conflicting: true,
        }))
        .with_probability(0.1)
    }

    /// A rule that applies to few tasks still bounds every task: its draw may pick any.
    #[test]
    fn the_worst_rule_bounds_every_task() {
        let rules = [
            FaultRule::always(Fault::Malformed(MalformedKind::MissingCode)),
            duplicate(60),
            FaultRule::always(Fault::Drop),
        ];
        let w = worst_task(&rules, &RetryPolicy::None);
        assert_eq!((w.callbacks, w.attempts, w.rule), (61, 61, Some(1)));
    }

    /// Every callback may be tried as often as the default policy allows; a task with a
    /// retry fault of its own, as often as that policy does.
    #[test]
    fn retries_multiply_the_callbacks() {
        let retry = RetryPolicy::Fixed {
            interval: Duration::from_secs(1),
            attempts: 100,
        };
        let w = worst_task(&[duplicate(100)], &retry);
        assert_eq!((w.callbacks, w.attempts), (101, 10_100));

        let svix = FaultRule::always(Fault::Retry(RetryPolicy::Preset(
            captchaai_mock::RetryPreset::Svix,
        )));
        let w = worst_task(&[svix], &RetryPolicy::None);
        assert_eq!((w.callbacks, w.attempts, w.rule), (1, 8, Some(0)));

        let w = worst_task(&[], &retry);
        assert_eq!((w.callbacks, w.attempts, w.rule), (1, 100, None));
    }
}
