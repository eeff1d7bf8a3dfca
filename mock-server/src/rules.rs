//! The rule engine behind every fault vocabulary: ordered rules, each with a `match` that
//! must fit its subject and a `probability`; the first rule that fits and whose draw succeeds
//! decides, and later rules are not consulted.
//!
//! The draws come from the subject's own seeded stream (a task's, for pingback faults), one
//! draw per fitting rule in order, so adding a rule with probability 0 shifts no later draw
//! and concurrency cannot change which rule a subject gets. A vocabulary (the pingback faults
//! in [`crate::pingback::faults`]) says what its rules match on and what they do; this module
//! only picks.

use rand::Rng;

use crate::seed;

/// A rule of some fault vocabulary, as the engine sees it.
pub(crate) trait Rule {
    /// What the rule's `match` is checked against (a task's facts, say).
    type Subject<'a>;

    /// Whether the rule's `match` fits the subject.
    fn fits(&self, subject: &Self::Subject<'_>) -> bool;

    /// The chance that the rule applies to a subject it fits, 0 to 1.
    fn probability(&self) -> f64;
}

/// The index of the rule that decides for `subject`: the first that fits and whose draw from
/// `rng` succeeds; `None` when no rule does.
pub(crate) fn first_applicable<R: Rule>(
    rules: &[R],
    subject: &R::Subject<'_>,
    rng: &mut impl Rng,
) -> Option<usize> {
    rules
        .iter()
        .position(|rule| rule.fits(subject) && seed::chance(rng, rule.probability()))
}

/// Checks a rule's probability as every front end (TOML, JSON, Rust) must.
pub(crate) fn check_probability(p: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("probability must be between 0 and 1, got {p}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{Stream, stream};

    struct Even(f64);

    impl Rule for Even {
        type Subject<'a> = u64;

        fn fits(&self, n: &u64) -> bool {
            n.is_multiple_of(2)
        }

        fn probability(&self) -> f64 {
            self.0
        }
    }

    #[test]
    fn the_first_fitting_rule_whose_draw_succeeds_wins() {
        let rules = [Even(0.0), Even(1.0), Even(1.0)];
        let mut rng = stream(1, Stream::Fault, 1);
        assert_eq!(first_applicable(&rules, &2, &mut rng), Some(1));
        assert_eq!(first_applicable(&rules, &3, &mut rng), None);
        assert!(check_probability(1.5).is_err());
        assert!(check_probability(0.5).is_ok());
    }
}
