//! Pingbacks: the callbacks the mock sends when a task finishes, and the faults it can
//! inject into them. In the order a callback meets them:
//!
//! - [`faults`]: the rule syntax (documented once, there): what a rule matches and what it
//!   does; the rule engine ([`crate::rules`]) picks a task's rule.
//! - [`retry`]: retry policies.
//! - [`schedule`]: the per-task schedule compiled from the rule at submission.
//! - [`dispatcher`]: sends what the schedules say, retries on failure, journals every
//!   attempt, and sheds work instead of blocking the API.

pub(crate) mod dispatcher;
pub(crate) mod faults;
pub(crate) mod retry;
pub(crate) mod schedule;
