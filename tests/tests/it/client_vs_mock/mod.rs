//! The reference client (`Client`, `Receiver`, `ResultStore`, `Solver`, fan-out, router)
//! against the real `captchaai-mock` with seeded pingback faults, over real loopback HTTP, all
//! in one paused current-thread runtime. Every test checks that each task reached the
//! application exactly once with the mock's ground truth, and reads the mock's journals to
//! check the fault really happened.
//!
//! [`env`]: the world each test runs in; [`faults`]: each pingback fault and receiver
//! failure against the client; [`workloads`]: fan-out, router, determinism, every method,
//! busy threads.

mod env;
mod faults;
mod workloads;

use std::time::Duration;

use captchaai_client::Task;
use captchaai_mock::{DuplicateFault, Fault, OrdinalRange, RuleMatch};

use env::turnstile;

pub(crate) fn turnstiles(n: usize) -> Vec<Task> {
    (0..n).map(|_| turnstile()).collect()
}

pub(crate) fn duplicate(copies: u32, spacing: Duration, conflicting: bool) -> Fault {
    Fault::Duplicate(DuplicateFault {
        copies,
        spacing,
        conflicting,
    })
}

pub(crate) fn ordinals(from: u64, to: u64) -> RuleMatch {
    RuleMatch {
        tasks: Some(OrdinalRange { from, to }),
        ..RuleMatch::default()
    }
}
