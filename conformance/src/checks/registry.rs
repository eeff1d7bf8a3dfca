//! The check registry: every check declared once, with its id, the title reports show,
//! what it proves and a one-line fix for a failure.
//!
//! Checks name themselves by [`CheckId`], reports take the id and title from here, and
//! `docs/checks.md` is generated from it (`captchaai-conformance checks`; a test fails when
//! the file and the registry differ). A new check is one entry below.

use std::fmt;

use serde::{Serialize, Serializer};

/// What the registry knows about a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    /// Stable id, as reports and JUnit show it (`exactly-once`).
    pub id: &'static str,
    /// The property in a few words, as the JSON report's `title` shows it.
    pub title: &'static str,
    /// What an OK proves, in a sentence.
    pub proves: &'static str,
    /// How to fix a failure, in a line.
    pub fix: &'static str,
}

/// Declares [`CheckId`] and its registry entries in one place.
macro_rules! registry {
    ($(
        $(#[$doc:meta])*
        $name:ident {
            id: $id:literal,
            title: $title:literal,
            proves: $proves:literal,
            fix: $fix:literal $(,)?
        }
    )*) => {
        /// A check, by name. Each has one [`CheckSpec`] in the registry.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum CheckId {
            $( $(#[$doc])* $name, )*
        }

        impl CheckId {
            /// Every check, in the order reports list them.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$name),*];

            /// The check's registry entry.
            pub fn spec(self) -> &'static CheckSpec {
                match self {
                    $(CheckId::$name => &CheckSpec {
                        id: $id,
                        title: $title,
                        proves: $proves,
                        fix: $fix,
                    },)*
                }
            }
        }
    };
}

registry! {
    /// The subject finished its tasks.
    RunCompleted {
        id: "run-completed",
        title: "the subject finishes its tasks",
        proves: "the subject finished every task within the run's cap (its deadline with a margin), and a client program exited by itself once it had reported every task",
        fix: "end every task by its deadline; a client program prints one line per task, then exits 0",
    }
    /// Each task's result reaches the application once.
    ExactlyOnce {
        id: "exactly-once",
        title: "each task's result reaches the application exactly once",
        proves: "duplicate callbacks, and a result found both by pingback and by polling, reach the application once",
        fix: "deduplicate by task id before handing a result on: store it with set-if-absent and hand on only the first",
    }
    /// Every task ends in a result or an error.
    NothingLost {
        id: "nothing-lost",
        title: "no task is lost: each ends in a result or an error",
        proves: "every task ends in a result or an error the application sees",
        fix: "give every task an end: a result, an error, or a timeout at its deadline; never drop a failed submit silently",
    }
    /// Each result equals the mock's ground truth.
    GroundTruth {
        id: "ground-truth",
        title: "each result equals the mock's ground truth",
        proves: "each result is the code the mock decided for that task, and an unsolvable task ends in the unsolvable error",
        fix: "hand on the code sent for that id unchanged, map ERROR_CAPTCHA_UNSOLVABLE to an error, and retry transient errors (ERROR_SERVER_ERROR, busy threads)",
    }
    /// Every task ends as the scenario expects.
    ExpectedOutcome {
        id: "expected-outcome",
        title: "every task ends as the scenario expects",
        proves: "every task ends in the error the scenario expects: a timeout, an invalid key, or bad input",
        fix: "report the service's error by its kind: a refused key as invalid-key, refused parameters as bad-input, no result by the deadline as timeout",
    }
    /// A task that never finishes times out at its deadline.
    Deadline {
        id: "deadline",
        title: "a task that never finishes ends in a timeout within its deadline",
        proves: "a task the service never finishes ends in a timeout error at its deadline (within the tolerance), neither earlier nor later",
        fix: "keep one deadline per task, counted from the submit across polling and waiting for the pingback, and report a timeout when it passes",
    }
    /// Errors that cannot heal are not retried.
    NoFatalRetry {
        id: "no-fatal-retry",
        title: "errors that cannot heal are not retried",
        proves: "after an answer that cannot heal (a wrong key, bad parameters) the client neither submits again nor polls",
        fix: "treat ERROR_WRONG_USER_KEY, ERROR_KEY_DOES_NOT_EXIST and parameter errors as final: fail the task at once",
    }
    /// The SDK's initial wait and poll interval.
    PollEtiquette {
        id: "poll-etiquette",
        title: "no poll before the initial wait, none more often than the interval",
        proves: "the first poll waits the SDK's initial delay for the task kind, and polls are at least the interval apart (one early first poll is NON-STRICT)",
        fix: "wait the initial delay for the task kind (1 s for images; 15 s for reCAPTCHA v2, Cloudflare and GeeTest; 10 s for the rest) before the first poll, then poll at most every 5 s",
    }
    /// No poll once the result is in.
    PollingStops {
        id: "polling-stops",
        title: "no poll once the result is in",
        proves: "no task is polled after its result or a final error arrived, by poll or by pingback",
        fix: "stop polling a task as soon as its result or a final error arrives, whichever way it came",
    }
    /// Fallback polling, only when and after it should.
    Fallback {
        id: "fallback",
        title: "polling starts only after the fallback delay, only without a pingback result, and does start without one",
        proves: "with pingback-with-fallback, polling starts only after the quiet period, only for tasks whose pingback has not arrived, and does start when it never comes",
        fix: "start polling a task only when its quiet period has passed without a pingback, and always start then",
    }
    /// The pingback-only strategy never polls.
    PingbackOnly {
        id: "pingback-only",
        title: "the pingback-only strategy never polls",
        proves: "with the pingback-only strategy no task is ever polled",
        fix: "with pingback-only, wait for the callback and never call res.php get",
    }
    /// Results arrive the way the scenario expects.
    Via {
        id: "via",
        title: "results arrive the way the scenario expects",
        proves: "every result reaches the application by the path the scenario expects (pingback or poll)",
        fix: "follow the configured strategy: take a pingback result when it arrives within the quiet period, poll only after it",
    }
    /// At most N polls per task.
    MaxPolls {
        id: "max-polls",
        title: "no more polls per task than the scenario allows",
        proves: "no task is polled more often than the scenario's max-polls",
        fix: "space polls by at least the interval and stop at the result, so a task needs no more polls than allowed",
    }
    /// The router dispatches each result once, to its route.
    Router {
        id: "router",
        title: "each result is dispatched once, to its route's handler",
        proves: "each result is dispatched once, to the handler of the route its task was assigned",
        fix: "assign each task its route before its result can arrive, and dispatch each task id once",
    }
    /// Valid callbacks get 2xx.
    AckValid {
        id: "ack-valid",
        title: "valid callbacks are acknowledged with 2xx",
        proves: "genuine callbacks and their copies (identical or conflicting) are answered 2xx within the latency budget; an identical duplicate as the first one was (NON-STRICT otherwise, and for a 409)",
        fix: "answer 200 to every valid callback, repeats included, and answer fast: store, reply, and do slow work after the reply",
    }
    /// Invalid callbacks get 4xx.
    RejectInvalid {
        id: "reject-invalid",
        title: "malformed, spoofed and unknown-id callbacks are rejected with 4xx",
        proves: "malformed callbacks (missing or non-numeric id, missing or oversized code) are answered 4xx, and so are forged and unknown-id ones where the subject can tell (a secret, registration); none is answered 5xx",
        fix: "validate before storing: answer 400 to a missing or non-numeric id or a missing or oversized code, 403 to a wrong secret, 404 to an id you never registered",
    }
    /// Callbacks from an untrusted address get 4xx.
    TrustedSource {
        id: "trusted-source",
        title: "callbacks from an address the receiver does not trust are rejected",
        proves: "a callback with the right secret and a real task's id, sent from another address than genuine pingbacks (--spoof-from), is answered 4xx by a receiver that trusts the sender's address only (--trusted-source)",
        fix: "check the connection's peer address against the allow-list before anything else and answer 403 to any other; behind a proxy, allow the proxy and trust only the header it sets",
    }
    /// The results URL can be read.
    ResultsReadable {
        id: "results-readable",
        title: "the results URL says what the receiver stored",
        proves: "the results URL answers 200 with the stored code or 404, so what the receiver stored can be graded",
        fix: "serve GET on the results URL: 200 with the stored code, 404 when nothing is stored, within 5 s",
    }
    /// Nothing but the first valid result is stored.
    NoStateChange {
        id: "no-state-change",
        title: "nothing but the first valid result is ever stored",
        proves: "what the receiver stored for each id is the first valid result; malformed, forged, unknown-id and conflicting callbacks changed nothing",
        fix: "store with set-if-absent, and only after the callback passed validation (id, code, secret, registration)",
    }
    /// Every acknowledged result is stored.
    ReceiverKept {
        id: "receiver-kept",
        title: "every acknowledged result is stored",
        proves: "a result the receiver answered 2xx is stored, including one that arrived before the application knew its id",
        fix: "store before answering 2xx, and keep a result that arrives before its id is registered (or refuse it with a 4xx so it is sent again)",
    }
    /// The first result wins over a conflicting copy.
    FirstWins {
        id: "first-wins",
        title: "conflicting duplicates never replace the first result",
        proves: "a conflicting copy (the same id, another code) never replaces the first result, in the store or in the application",
        fix: "keep the first code stored for an id: acknowledge a later conflicting copy, but do not store or hand it on",
    }
    /// A long poll on one replica is woken by a result stored through another.
    WaitWoken {
        id: "wait-woken",
        title: "a long poll on one replica is answered by a callback to another",
        proves: "the application's long poll for a result (--wait-url), opened on one replica before the callback was sent, answered the task's code within the latency budget after another replica acknowledged the callback (a task whose own replica acknowledged a callback before the wait ended is not graded)",
        fix: "wake waiters through the shared store, not process memory: subscribe to the task's channel (Redis pub/sub) before reading, publish when storing, and answer the waiter from the store",
    }
    /// The run met busy threads.
    BusyThreads {
        id: "busy-threads",
        title: "the run met busy threads",
        proves: "the scenario really exercised busy threads: the mock refused a submit as busy (or queued it, in queue mode) and the subject coped",
        fix: "submit the workload's tasks concurrently, as the scenario does: a subject that sends one task at a time never meets busy threads",
    }
    /// No submit during a MAX_USER_TURN ban.
    RateLimits {
        id: "rate-limits",
        title: "no submit while a MAX_USER_TURN ban lasts",
        proves: "after a MAX_USER_TURN answer the client sends no submit until the ban lifts (submits already in flight excepted)",
        fix: "on MAX_USER_TURN, pause every submit of the account until the ban lifts instead of retrying at once",
    }
    /// One accepted task per workload task.
    NoResubmit {
        id: "no-resubmit",
        title: "a failed poll never leads to a second task",
        proves: "each workload task was accepted once: an HTML error page, a reset, a stall, a cut answer or a transient error was met by asking again, never by submitting the captcha again",
        fix: "retry the request that failed (a poll: with backoff, within the deadline); submit again only when the submit itself was refused",
    }
    /// Busy answers are retried after a wait.
    BusyBackoff {
        id: "busy-backoff",
        title: "after a busy answer, a task waits before it submits again",
        proves: "after ERROR_NO_SLOT_AVAILABLE or ERROR_ZERO_BALANCE no task submitted again within 5 s: at most one busy-answered submit per task in any 5 s",
        fix: "on ERROR_NO_SLOT_AVAILABLE wait about 5 s before submitting again (2captcha), on ERROR_ZERO_BALANCE ask threadsinfo and wait 8 s or stop (CaptchaAI's SDK); never resubmit at once",
    }
    /// No request during a block.
    Blocks {
        id: "blocks",
        title: "no request while an ERROR: 100x block lasts",
        proves: "after an ERROR: 1001 to 1004 answer the client sent nothing more to the API until the block lifted (requests already in flight excepted)",
        fix: "treat ERROR: 1001 to 1004 as a block of the account: send nothing for its duration (10 min, 5 min, 30 s, 10 min) or fail the tasks",
    }
    /// Informational counts.
    Summary {
        id: "summary",
        title: "what happened",
        proves: "nothing: informational counts of submits, polls, pingback attempts by outcome, results and errors",
        fix: "nothing to fix: it is never graded",
    }
}

impl CheckId {
    /// The stable id (`exactly-once`).
    pub fn as_str(self) -> &'static str {
        self.spec().id
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `docs/checks.md`: the registry as a Markdown table.
pub(crate) fn markdown() -> String {
    let mut s = String::from(
        "# Checks\n\n\
         Every check the conformance harness can run, what an OK proves, and how to fix a \
         failure.\n\n\
         Generated from the check registry (`conformance/src/checks/registry.rs`) with \
         `cargo run -p captchaai-conformance -- checks > docs/checks.md`; a test fails when \
         this file and the registry differ.\n\n\
         | check | what it proves | how to fix a failure |\n\
         |---|---|---|\n",
    );
    for id in CheckId::ALL {
        let c = id.spec();
        s.push_str(&format!("| `{}` | {} | {} |\n", c.id, c.proves, c.fix));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_every_entry_is_written() {
        let ids: BTreeSet<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(ids.len(), CheckId::ALL.len());
        for c in CheckId::ALL {
            let s = c.spec();
            assert!(
                s.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                s.id
            );
            for text in [s.title, s.proves, s.fix] {
                assert!(!text.is_empty() && !text.contains('|'), "{}: {text}", s.id);
            }
        }
    }

    #[test]
    fn docs_checks_md_is_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/checks.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/checks.md differs from the check registry; regenerate it with\n  \
             cargo run -p captchaai-conformance -- checks > docs/checks.md"
        );
    }
}
