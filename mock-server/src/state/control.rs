//! Steering a running mock (the admin API and tests): force a task's result, fire a
//! pingback by hand, read and replace the fault rules.

use std::{cmp::Reverse, sync::Arc};

use super::{MockState, TaskState, TaskView, tasks::Forced};
use crate::{codes::Code, pingback::faults::FaultRule};

/// Why a task cannot be forced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForceError {
    /// No such task (never submitted, or expired).
    #[error("no such task")]
    NotFound,
    /// It has finished already: its result was out (polled, maybe delivered)
    /// and changing it now would make the API contradict itself.
    #[error("task has finished already")]
    Finished,
    /// A forced answer clients would not take for one.
    #[error("{0}")]
    InvalidAnswer(&'static str),
    /// A forced failure with a code that is not one of the service's error codes.
    #[error("unknown error code {0:?}")]
    UnknownCode(String),
}

/// Why a pingback cannot be sent again by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FireError {
    /// No such task (never submitted, or expired).
    #[error("no such task")]
    NotFound,
    /// It was submitted without a pingback URL.
    #[error("task has no pingback URL")]
    NoPingback,
    /// It has no result to send yet.
    #[error("task is not finished")]
    NotFinished,
    /// The delivery queue is full.
    #[error("shed: the pingback queue is full (pingback.queue-capacity)")]
    Shed,
}

/// A forced result.
#[derive(Clone, Debug)]
pub(crate) enum ForceResult {
    /// Solved, with the task's own answer or this one.
    Solve(Option<String>),
    /// Failed with this code.
    Fail(Code),
}

impl ForceResult {
    /// A forced solve, its answer checked: clients take an answer that contains `ERROR`
    /// for a failure, and an empty one for none.
    pub(crate) fn solve(answer: Option<String>) -> Result<ForceResult, ForceError> {
        if answer.as_deref().is_some_and(|a| a.contains("ERROR")) {
            return Err(ForceError::InvalidAnswer(
                "an answer must not contain ERROR (clients treat it as a failure)",
            ));
        }
        if answer.as_deref().is_some_and(|a| a.trim().is_empty()) {
            return Err(ForceError::InvalidAnswer(
                "an answer must not be empty (leave `answer` out for the task's own)",
            ));
        }
        Ok(ForceResult::Solve(answer))
    }

    /// A forced failure with one of the service's error codes (`ERROR_CAPTCHA_UNSOLVABLE`
    /// when none is given); `CAPCHA_NOT_READY` is no failure.
    pub(crate) fn fail(code: Option<&str>) -> Result<ForceResult, ForceError> {
        let code = match code {
            None => Code::CaptchaUnsolvable,
            Some(c) => match Code::parse(c) {
                Some(code) if code.is_error() && code != Code::NotReady => code,
                _ => return Err(ForceError::UnknownCode(c.to_owned())),
            },
        };
        Ok(ForceResult::Fail(code))
    }
}

impl MockState {
    /// Forces a task that has not finished to finish now, solved (with its
    /// own or a given answer) or failed (with a code). Its pingback, if any,
    /// fires as scheduled. The thread it held goes to the next queued task
    /// (`queue` busy mode), and so on down the queue.
    pub(crate) fn force(&self, id: u64, result: ForceResult) -> Result<TaskView, ForceError> {
        let now = self.0.clock.now();
        let cfg = &*self.0.config;
        let mut w = self.world();
        let t = w.tasks.get_mut(&id).ok_or(ForceError::NotFound)?;
        if !t.finish_at.is_never() && t.finish_at <= now {
            return Err(ForceError::Finished);
        }
        t.forced = Some(Box::new(match result {
            ForceResult::Solve(answer) => Forced::Solved(answer),
            ForceResult::Fail(code) => Forced::Failed(code),
        }));
        // Its thread is free from now, or, if it was still queued, from when
        // it would have got one.
        let (old_start, old_finish) = (t.started_at, t.finish_at);
        t.finish_at = now;
        t.started_at = old_start.min(now);
        let account = t.account;
        let has_pb = t.pingback.as_ref().is_some_and(|p| !p.fired);
        w.expiry
            .push(Reverse((now.saturating_add(cfg.result_ttl()), id)));
        if has_pb {
            w.finish_queue.push(Reverse((now, id)));
        }
        w.advance_queue(cfg, account, old_finish, old_start.max(now), now);
        w.accounts[account as usize].slots_dirty = true;
        let view = w.tasks.get(&id).map(|t| self.view(cfg, &w, id, t, now));
        drop(w);
        self.0.finish_notify.notify_one();
        view.ok_or(ForceError::NotFound)
    }

    /// Sends a finished task's pingback again, by hand: one genuine callback
    /// with the default retry policy, regardless of its fault schedule.
    pub(crate) fn fire_pingback(&self, id: u64) -> Result<(), FireError> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let t = w.tasks.get(&id).ok_or(FireError::NotFound)?;
        if t.pingback.is_none() {
            return Err(FireError::NoPingback);
        }
        if !matches!(t.state(now), TaskState::Solved | TaskState::Failed) {
            return Err(FireError::NotFinished);
        }
        let job = self.job_for(cfg, id, t, now);
        drop(w);
        self.0
            .dispatcher
            .fire_manual(job)
            .map_err(|_| FireError::Shed)
    }

    /// The ordered fault rules in effect.
    pub(crate) fn rules(&self) -> Arc<Vec<FaultRule>> {
        self.0
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the fault rules (validated by the caller); tasks submitted from now on use
    /// them.
    pub(crate) fn set_rules(&self, rules: Vec<FaultRule>) {
        *self.0.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
    }
}
