//! Pingbacks: the callbacks the mock sends when a task finishes, and the
//! faults it can inject into them.
//!
//! - [`faults`]: the rule syntax (documented once, there) and the per-task
//!   schedules compiled from it.
//! - [`dispatcher`]: sends what the schedules say, retries on failure,
//!   journals every attempt, and sheds work instead of blocking the API.

pub mod dispatcher;
pub mod faults;

pub use dispatcher::{AttemptOutcome, DeliveryRecord, Dispatcher, DispatcherStats};
pub use faults::{Fault, FaultRule, RetryPolicy, Schedule};
