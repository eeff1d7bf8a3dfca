//! The mock's metrics, in the Prometheus text format at `GET /__admin/metrics`.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `captchaai_mock_requests_total` | `endpoint`, `action`, `code` | API requests answered |
//! | `captchaai_mock_request_duration_seconds` | `endpoint` | their latency (histogram) |
//! | `captchaai_mock_tasks` | `state` | stored tasks by state (`queued`, `pending`, `solved`, `failed`), at the scrape |
//! | `captchaai_mock_pingback_attempts_total` | `outcome`, `fault` | pingback attempts, and callbacks never sent (`dropped`, `shed`, `blocked`) |
//! | `captchaai_mock_pingback_duration_seconds` | `outcome` | attempts' latency until the receiver answered or the attempt ended (histogram) |
//!
//! Durations are the mock's own (simulated under a time scale), like the journals'. Every label
//! has a bounded set of values: an `action` or `method` the mock does not know is `other`,
//! a code is the answer's code, never its value, and a fault is its kind (`delay`,
//! `duplicate`, ...), never its drawn parameters. Counters count since start; an admin reset
//! does not zero them (Prometheus expects counters to only grow).
//!
//! Each mock has its own recorder, never the process-global one: a program may run several
//! mocks (the harness runs scenarios in parallel) and may have a recorder of its own. Values
//! are recorded through [`metrics::with_local_recorder`], and the route renders the recorder.
//! A histogram's samples wait in a buffer until they are folded into its buckets; they are
//! folded at every scrape and every [`UPKEEP_EVERY`] samples, so a mock nobody scrapes stays
//! bounded.

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::{pingback::dispatcher::AttemptOutcome, state::TaskState};

/// Histogram buckets, in seconds: from a fast answer (100 µs) to a pingback's timeout.
const BUCKETS: [f64; 14] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0,
];

/// Histogram samples between two foldings into buckets.
const UPKEEP_EVERY: u64 = 4096;

/// What the mock has done so far, as the dashboard's event stream compares it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Activity {
    /// API requests answered.
    pub(crate) requests: u64,
    /// Pingback journal entries.
    pub(crate) attempts: u64,
    /// Admin resets.
    pub(crate) resets: u64,
}

/// One mock's metrics (cheap to clone).
#[derive(Clone)]
pub(crate) struct Telemetry(Arc<Inner>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    samples: AtomicU64,
    /// API requests answered, and pingback journal entries: the dashboard's event stream
    /// reads them to tell a browser that something happened (`admin::dashboard`).
    requests: AtomicU64,
    attempts: AtomicU64,
    /// Admin resets: the journals start again from 1, so a page reloads its views.
    resets: AtomicU64,
    /// The pingback attempt counters by outcome and fault kind, and the latency histograms
    /// by outcome, each registered on its first use (as recording through the macros does)
    /// and kept: a key built and looked up per attempt was a visible share of an attempt's
    /// CPU time.
    pingback_attempts: [[OnceLock<Counter>; FAULT_KINDS.len()]; OUTCOMES.len()],
    pingback_durations: [OnceLock<Histogram>; OUTCOMES.len()],
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A recorder of its own, with every metric described.
    pub(crate) fn new() -> Self {
        let recorder = match PrometheusBuilder::new().set_buckets(&BUCKETS) {
            Ok(b) => b.build_recorder(),
            // Only an empty bucket list is refused, and ours is not empty.
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_counter!("captchaai_mock_requests_total", "API requests answered");
            describe_histogram!(
                "captchaai_mock_request_duration_seconds",
                Unit::Seconds,
                "API requests' latency in the mock's time"
            );
            describe_gauge!("captchaai_mock_tasks", "stored tasks by state");
            describe_counter!(
                "captchaai_mock_pingback_attempts_total",
                "pingback attempts by outcome and fault, callbacks never sent included"
            );
            describe_histogram!(
                "captchaai_mock_pingback_duration_seconds",
                Unit::Seconds,
                "pingback attempts' latency in the mock's time"
            );
        });
        Telemetry(Arc::new(Inner {
            recorder,
            handle,
            samples: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            pingback_attempts: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
            pingback_durations: std::array::from_fn(|_| OnceLock::new()),
        }))
    }

    /// Counts one answered API request. `action` is `None` without one, and must be one the
    /// mock knows (a bounded label): the caller passes `other` for any other.
    pub(crate) fn request(
        &self,
        endpoint: &'static str,
        action: Option<&'static str>,
        code: &'static str,
        latency: Duration,
    ) {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        metrics::with_local_recorder(&self.0.recorder, || {
            counter!(
                "captchaai_mock_requests_total",
                "endpoint" => endpoint,
                "action" => action.unwrap_or(""),
                "code" => code,
            )
            .increment(1);
            histogram!("captchaai_mock_request_duration_seconds", "endpoint" => endpoint)
                .record(latency.as_secs_f64());
        });
        self.sampled();
    }

    /// Counts one pingback attempt (or a callback never sent, without a latency).
    pub(crate) fn pingback(
        &self,
        fault: &str,
        outcome: &AttemptOutcome,
        latency: Option<Duration>,
    ) {
        let (o, f) = (outcome_index(outcome), fault_kind_index(fault));
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        let recorder = &self.0.recorder;
        self.0.pingback_attempts[o][f]
            .get_or_init(|| {
                metrics::with_local_recorder(recorder, || {
                    counter!(
                        "captchaai_mock_pingback_attempts_total",
                        "outcome" => OUTCOMES[o],
                        "fault" => FAULT_KINDS[f],
                    )
                })
            })
            .increment(1);
        if let Some(latency) = latency {
            self.0.pingback_durations[o]
                .get_or_init(|| {
                    metrics::with_local_recorder(recorder, || {
                        histogram!("captchaai_mock_pingback_duration_seconds", "outcome" => OUTCOMES[o])
                    })
                })
                .record(latency.as_secs_f64());
            self.sampled();
        }
    }

    /// The exposition, with the task gauges as of now.
    pub(crate) fn render(&self, tasks: &[(TaskState, u64)]) -> String {
        metrics::with_local_recorder(&self.0.recorder, || {
            for (state, n) in tasks {
                gauge!("captchaai_mock_tasks", "state" => state_label(*state)).set(*n as f64);
            }
        });
        self.0.handle.render()
    }

    /// API requests answered, pingback journal entries and admin resets so far (relaxed
    /// loads: what the dashboard's event stream watches).
    pub(crate) fn activity(&self) -> Activity {
        Activity {
            requests: self.0.requests.load(Ordering::Relaxed),
            attempts: self.0.attempts.load(Ordering::Relaxed),
            resets: self.0.resets.load(Ordering::Relaxed),
        }
    }

    /// Counts an admin reset (metrics are not reset: counters only grow).
    pub(crate) fn reset_seen(&self) {
        self.0.resets.fetch_add(1, Ordering::Relaxed);
    }

    fn sampled(&self) {
        if self.0.samples.fetch_add(1, Ordering::Relaxed) % UPKEEP_EVERY == UPKEEP_EVERY - 1 {
            self.0.handle.run_upkeep();
        }
    }
}

fn state_label(state: TaskState) -> &'static str {
    match state {
        TaskState::Queued => "queued",
        TaskState::Pending => "pending",
        TaskState::Solved => "solved",
        TaskState::Failed => "failed",
    }
}

/// Every pingback outcome's label, in [`outcome_index`] order.
const OUTCOMES: [&str; 8] = [
    "delivered",
    "rejected",
    "timeout",
    "refused",
    "error",
    "dropped",
    "shed",
    "blocked",
];

fn outcome_index(outcome: &AttemptOutcome) -> usize {
    match outcome {
        AttemptOutcome::Delivered { .. } => 0,
        AttemptOutcome::Rejected { .. } => 1,
        AttemptOutcome::Timeout => 2,
        AttemptOutcome::Refused { .. } => 3,
        AttemptOutcome::Error { .. } => 4,
        AttemptOutcome::Dropped => 5,
        AttemptOutcome::Shed => 6,
        AttemptOutcome::Blocked { .. } => 7,
    }
}

/// Every fault kind's label, in [`fault_kind_index`] order; the last for any other.
const FAULT_KINDS: [&str; 10] = [
    "none",
    "delay",
    "duplicate",
    "drop",
    "reorder",
    "early",
    "malformed",
    "retry",
    "manual",
    "other",
];

/// A schedule's fault description (`delay 3s120ms`, `conflicting duplicate x2 every 1s`,
/// `malformed missing-id`, `manual` for a callback fired by hand) as its kind alone.
#[cfg(test)]
fn fault_kind(fault: &str) -> &'static str {
    FAULT_KINDS[fault_kind_index(fault)]
}

/// The position of a fault description's kind in [`FAULT_KINDS`].
fn fault_kind_index(fault: &str) -> usize {
    let word = fault
        .strip_prefix("conflicting ")
        .unwrap_or(fault)
        .split(' ')
        .next()
        .unwrap_or("");
    FAULT_KINDS[..FAULT_KINDS.len() - 1]
        .iter()
        .position(|k| *k == word)
        .unwrap_or(FAULT_KINDS.len() - 1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Telemetry, fault_kind};
    use crate::{pingback::dispatcher::AttemptOutcome, state::TaskState};

    #[test]
    fn fault_labels_are_kinds_never_drawn_parameters() {
        assert_eq!(fault_kind("delay 3s 120ms"), "delay");
        assert_eq!(fault_kind("conflicting duplicate x2 every 1s"), "duplicate");
        assert_eq!(fault_kind("duplicate x3 every 500ms"), "duplicate");
        assert_eq!(fault_kind("malformed missing-id"), "malformed");
        assert_eq!(fault_kind("none"), "none");
        assert_eq!(fault_kind("something new"), "other");
    }

    /// Two mocks in one process keep their own counts (the harness runs several at once).
    #[test]
    fn each_mock_counts_its_own() {
        let (a, b) = (Telemetry::new(), Telemetry::new());
        for _ in 0..3 {
            a.request(
                "res.php",
                Some("get"),
                "CAPCHA_NOT_READY",
                Duration::from_micros(80),
            );
        }
        b.pingback("drop", &AttemptOutcome::Dropped, None);
        let shown = a.render(&[(TaskState::Pending, 2)]);
        assert!(
            shown.contains(
                r#"captchaai_mock_requests_total{endpoint="res.php",action="get",code="CAPCHA_NOT_READY"} 3"#
            ),
            "{shown}"
        );
        assert!(
            shown.contains(r#"captchaai_mock_tasks{state="pending"} 2"#),
            "{shown}"
        );
        assert!(
            shown.contains(r#"captchaai_mock_request_duration_seconds_bucket{endpoint="res.php",le="0.0001"} 3"#),
            "{shown}"
        );
        assert!(!shown.contains("pingback_attempts_total{"), "{shown}");
        let other = b.render(&[]);
        assert!(
            other.contains(
                r#"captchaai_mock_pingback_attempts_total{outcome="dropped",fault="drop"} 1"#
            ),
            "{other}"
        );
        assert!(!other.contains("requests_total{"), "{other}");
    }
}
