//! Fan-out: solve many tasks at once, submits rate-limited, results streamed as they arrive.
//!
//! [`fan_out`] returns a [`FanOut`] stream of `(reference, Result<Solution, Error>)`, where
//! the reference is whatever the caller attached to each task. Nothing is spawned: the solves
//! make progress while the stream is polled, and dropping the stream cancels them. When the
//! batch deadline passes, every task still running or not yet submitted is yielded once with
//! a [`crate::ErrorKind::Timeout`] error.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::num::{NonZeroU32, NonZeroUsize};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FuturesUnordered, Stream, StreamExt as _};
use tokio::time::{Instant, Sleep};

use crate::error::Error;
use crate::solution::Solution;
use crate::strategy::Solver;
use crate::task::Task;

/// A submit rate: at most one submit per interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    interval: Duration,
}

impl Rate {
    /// `n` submits per second.
    pub fn per_second(n: NonZeroU32) -> Self {
        Rate {
            interval: Duration::from_secs(1) / n.get(),
        }
    }

    /// One submit every `interval` (zero: no limit).
    pub fn every(interval: Duration) -> Self {
        Rate { interval }
    }

    /// The time between two submits.
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

/// Settings of a fan-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanOutConfig {
    /// Submit rate limit (`None`: as fast as `max_in_flight` allows).
    pub rate: Option<Rate>,
    /// Deadline of the whole batch, counted from the first poll of the stream.
    pub deadline: Duration,
    /// At most this many solves at once (`None`: no limit).
    pub max_in_flight: Option<NonZeroUsize>,
}

impl FanOutConfig {
    /// No rate limit, no concurrency limit, this batch deadline.
    pub fn new(deadline: Duration) -> Self {
        FanOutConfig {
            rate: None,
            deadline,
            max_in_flight: None,
        }
    }

    /// Sets the submit rate.
    pub fn rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Sets the concurrency limit.
    pub fn max_in_flight(mut self, n: NonZeroUsize) -> Self {
        self.max_in_flight = Some(n);
        self
    }
}

type SolveFuture = Pin<Box<dyn Future<Output = (usize, Result<Solution, Error>)> + Send>>;

/// The stream returned by [`fan_out`].
#[must_use = "streams do nothing unless polled"]
pub struct FanOut<R> {
    solver: Solver,
    config: FanOutConfig,
    pending: VecDeque<(usize, R, Task)>,
    running: FuturesUnordered<SolveFuture>,
    refs: BTreeMap<usize, R>,
    flushed: VecDeque<(R, Result<Solution, Error>)>,
    next_submit: Option<Pin<Box<Sleep>>>,
    deadline: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

// No field is structurally pinned (futures are boxed), so the stream is `Unpin` whatever `R`.
impl<R> Unpin for FanOut<R> {}

/// Solves every task with `solver`, submitting at most at `config.rate`, and yields
/// `(reference, result)` pairs in completion order.
///
/// ```no_run
/// # async fn run(solver: captchaai_client::strategy::Solver) {
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use futures::StreamExt;
/// use captchaai_client::fanout::{fan_out, FanOutConfig, Rate};
/// use captchaai_client::task::Turnstile;
///
/// let tasks = (0..10).map(|i| (i, Turnstile::new("0x4AAAAAAA", "https://example.com").into()));
/// let config = FanOutConfig::new(Duration::from_secs(300))
///     .rate(Rate::per_second(NonZeroU32::new(2).unwrap()));
/// let mut results = fan_out(&solver, tasks, config);
/// while let Some((i, result)) = results.next().await {
///     println!("task {i}: {:?}", result.map(|s| s.raw().to_owned()));
/// }
/// # }
/// ```
pub fn fan_out<R, I>(solver: &Solver, tasks: I, config: FanOutConfig) -> FanOut<R>
where
    I: IntoIterator<Item = (R, Task)>,
{
    FanOut {
        solver: solver.clone(),
        config,
        pending: tasks
            .into_iter()
            .enumerate()
            .map(|(i, (r, t))| (i, r, t))
            .collect(),
        running: FuturesUnordered::new(),
        refs: BTreeMap::new(),
        flushed: VecDeque::new(),
        next_submit: None,
        deadline: None,
        expired: false,
    }
}

impl<R> FanOut<R> {
    /// Tasks not submitted yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Tasks being solved.
    pub fn in_flight(&self) -> usize {
        self.running.len()
    }

    fn may_launch(&mut self, cx: &mut Context<'_>) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        if let Some(max) = self.config.max_in_flight
            && self.running.len() >= max.get()
        {
            return false;
        }
        if let Some(rate) = self.config.rate
            && !rate.interval.is_zero()
        {
            if let Some(sleep) = self.next_submit.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return false;
                }
                sleep.as_mut().reset(Instant::now() + rate.interval);
            } else {
                self.next_submit = Some(Box::pin(tokio::time::sleep(rate.interval)));
            }
        }
        true
    }

    fn expire(&mut self) {
        self.expired = true;
        self.running = FuturesUnordered::new();
        let timeout = || Error::timeout("batch deadline passed before this task finished");
        for (_, r) in std::mem::take(&mut self.refs) {
            self.flushed.push_back((r, Err(timeout())));
        }
        for (_, r, _) in std::mem::take(&mut self.pending) {
            self.flushed.push_back((
                r,
                Err(Error::timeout(
                    "batch deadline passed before this task was submitted",
                )),
            ));
        }
    }
}

impl<R> Stream for FanOut<R> {
    type Item = (R, Result<Solution, Error>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(item) = this.flushed.pop_front() {
            return Poll::Ready(Some(item));
        }
        if this.expired {
            return Poll::Ready(None);
        }
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(this.config.deadline)));
        if deadline.as_mut().poll(cx).is_ready() {
            this.expire();
            return Poll::Ready(this.flushed.pop_front());
        }
        while this.may_launch(cx) {
            if let Some((index, reference, task)) = this.pending.pop_front() {
                this.refs.insert(index, reference);
                let solver = this.solver.clone();
                this.running.push(Box::pin(async move {
                    let result = solver.solve(&task).await;
                    (index, result)
                }));
            }
        }
        loop {
            match this.running.poll_next_unpin(cx) {
                Poll::Ready(Some((index, result))) => {
                    if let Some(reference) = this.refs.remove(&index) {
                        return Poll::Ready(Some((reference, result)));
                    }
                }
                // Nothing running: done, or waiting for the rate timer (already polled, so
                // its waker is registered).
                Poll::Ready(None) if this.pending.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Convenience: collects every result of a fan-out.
pub async fn fan_out_collect<R, I>(
    solver: &Solver,
    tasks: I,
    config: FanOutConfig,
) -> Vec<(R, Result<Solution, Error>)>
where
    I: IntoIterator<Item = (R, Task)>,
{
    fan_out(solver, tasks, config).collect().await
}
