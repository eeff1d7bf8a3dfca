//! The task store: a submission becomes a task (its fate, answer shape, pingback schedule and
//! thread decided at once), `get` reads it, reports mark it, and finished tasks expire after
//! `solving.result-ttl`.

use std::{cmp::Reverse, collections::HashMap, sync::Arc, time::Duration};

use serde::Serialize;

use super::{MockState, World, fate, stream_subject};
use crate::{
    answers::{self, Answer},
    clock::SimTime,
    codes::Code,
    config::{ComplaintLimit, Config},
    model::{AnswerShape, CallbackMethod, Submission, TaskKind},
    pingback::{
        dispatcher::Job,
        faults::{FaultRule, MalformedKind, TaskFacts},
        schedule::{self, DeliveryKind, Schedule},
    },
};

/// How a task ended or will end (its ground truth, known from the moment it is submitted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Solved with this answer.
    Solved {
        /// The `request` value.
        answer: String,
        /// The `user_agent` field, if the kind has one.
        user_agent: Option<String>,
    },
    /// Failed with this code (`ERROR_CAPTCHA_UNSOLVABLE` unless forced otherwise).
    Failed {
        /// The error code.
        code: String,
    },
}

impl Outcome {
    /// The pingback `code`: the answer, or the error code.
    pub fn code(&self) -> &str {
        match self {
            Outcome::Solved { answer, .. } => answer,
            Outcome::Failed { code } => code,
        }
    }
}

/// A task's state at some moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for a thread (`queue` busy mode).
    Queued,
    /// Being solved.
    Pending,
    /// Solved.
    Solved,
    /// Failed.
    Failed,
}

impl TaskState {
    /// Solved or failed: its result is out.
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Solved | TaskState::Failed)
    }
}

/// A result forced by the admin API or a test.
#[derive(Debug)]
pub(super) enum Forced {
    Solved(Option<String>),
    Failed(Code),
}

#[derive(Debug)]
pub(super) struct TaskPingback {
    pub(super) url: Arc<str>,
    pub(super) schedule: Arc<Schedule>,
    pub(super) fired: bool,
}

/// One stored task, kept small: a million pending tasks must fit in memory.
#[derive(Debug)]
pub(super) struct Task {
    pub(super) account: u32,
    pub(super) kind: TaskKind,
    pub(super) unsolvable: bool,
    pub(super) report: u8,
    pub(super) shape: AnswerShape,
    pub(super) submitted_at: SimTime,
    pub(super) started_at: SimTime,
    pub(super) finish_at: SimTime,
    pub(super) pingback: Option<Box<TaskPingback>>,
    pub(super) forced: Option<Box<Forced>>,
}

impl Task {
    pub(super) fn state(&self, now: SimTime) -> TaskState {
        if now >= self.finish_at && !self.finish_at.is_never() {
            if self.failed() {
                TaskState::Failed
            } else {
                TaskState::Solved
            }
        } else if now < self.started_at {
            TaskState::Queued
        } else {
            TaskState::Pending
        }
    }

    fn failed(&self) -> bool {
        match self.forced.as_deref() {
            Some(Forced::Failed(_)) => true,
            Some(Forced::Solved(_)) => false,
            None => self.unsolvable,
        }
    }
}

/// What a submission asks of its account's threads.
pub(super) struct Claim {
    /// The new task's id.
    pub(super) id: u64,
    /// Now.
    pub(super) now: SimTime,
    /// Its pingback must race the submit answer: the task is done at once, on no thread.
    pub(super) early: bool,
    /// Its solve time once a thread takes it (`None`: never finishes).
    pub(super) solve: Option<Duration>,
    /// It will fail (it is not charged).
    pub(super) unsolvable: bool,
}

/// Why a submission was refused (besides parameter errors).
pub(crate) type SubmitResult = Result<Submitted, Code>;

/// An accepted submission.
#[derive(Debug)]
pub(crate) struct Submitted {
    /// New task id.
    pub(crate) id: u64,
    /// A delivery to make before answering (the `early` fault).
    pub(crate) early: Option<Job>,
}

impl MockState {
    /// Accepts a validated submission for an account.
    pub(crate) fn submit(&self, account: u32, sub: Submission) -> SubmitResult {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let rules = self.rules();
        let mut w = self.world();
        Self::expire(&mut w, now, 64);
        if w.tasks.len() >= cfg.solving.max_tasks {
            return Err(Code::NoSlotAvailable);
        }
        let id = w.next_id;
        let ordinal = id - cfg.first_task_id + 1;
        let (unsolvable, solve) = fate(cfg, id, sub.kind);
        let schedule = sub
            .pingback
            .as_deref()
            .map(|url| schedule_for(cfg, &rules, id, ordinal, sub.kind, url));
        let early = schedule.as_ref().is_some_and(|s| s.early);
        let claim = Claim {
            id,
            now,
            early,
            solve,
            unsolvable,
        };
        let (started_at, finish_at) = w.take_thread(cfg, account, &sub, claim)?;

        let pingback = sub.pingback.map(|url| {
            Box::new(TaskPingback {
                url: Arc::from(url),
                schedule: Arc::new(schedule.unwrap_or_else(|| unreachable_schedule(id, ordinal))),
                fired: early,
            })
        });
        let has_pingback = pingback.is_some();
        let task = Task {
            account,
            kind: sub.kind,
            unsolvable,
            report: 0,
            shape: sub.shape,
            submitted_at: now,
            started_at,
            finish_at,
            pingback,
            forced: None,
        };
        w.tasks.insert(id, task);
        if let Some((text, json)) = sub.cookies {
            w.cookies.insert(id, (text.into_boxed_str(), json));
        }
        w.next_id += 1;
        w.counters.submitted += 1;
        if !finish_at.is_never() {
            w.expiry
                .push(Reverse((finish_at.saturating_add(cfg.result_ttl()), id)));
        }
        let early_job = if early {
            w.tasks.get(&id).map(|t| self.job_for(cfg, id, t, now))
        } else {
            if has_pingback && !finish_at.is_never() {
                w.finish_queue.push(Reverse((finish_at, id)));
                drop(w);
                self.0.finish_notify.notify_one();
            }
            None
        };
        Ok(Submitted {
            id,
            early: early_job,
        })
    }

    /// Forgets up to `budget` tasks whose result has expired.
    pub(super) fn expire(world: &mut World, now: SimTime, budget: usize) {
        for _ in 0..budget {
            let Some(Reverse((at, id))) = world.expiry.peek().copied() else {
                break;
            };
            if at > now {
                break;
            }
            world.expiry.pop();
            // A forced task has two entries: count it once.
            if world.tasks.remove(&id).is_some() {
                world.counters.expired += 1;
                world.cookies.remove(&id);
            }
        }
    }

    /// Before a read of task `id`: forgets it if its result has expired, and a few other
    /// expired tasks with it. A result past its TTL is never served, whether or not a submit
    /// has run the expiry since.
    fn expire_on_read(world: &mut World, cfg: &Config, now: SimTime, id: u64) {
        Self::expire(world, now, 8);
        let expired = world.tasks.get(&id).is_some_and(|t| {
            !t.finish_at.is_never() && t.finish_at.saturating_add(cfg.result_ttl()) <= now
        });
        if expired {
            world.tasks.remove(&id);
            world.cookies.remove(&id);
            world.counters.expired += 1;
        }
    }

    /// What a task ends with: its forced result, or what its stream decided.
    pub(super) fn outcome_of(&self, cfg: &Config, id: u64, t: &Task) -> Outcome {
        match t.forced.as_deref() {
            Some(Forced::Failed(code)) => Outcome::Failed {
                code: code.as_str().to_owned(),
            },
            Some(Forced::Solved(Some(answer))) => Outcome::Solved {
                answer: answer.clone(),
                user_agent: answers::answer(cfg.seed, stream_subject(cfg, id), t.kind, t.shape)
                    .user_agent
                    .map(str::to_owned),
            },
            _ if t.unsolvable && t.forced.is_none() => Outcome::Failed {
                code: Code::CaptchaUnsolvable.as_str().to_owned(),
            },
            _ => {
                let Answer { text, user_agent } =
                    answers::answer(cfg.seed, stream_subject(cfg, id), t.kind, t.shape);
                Outcome::Solved {
                    answer: text,
                    user_agent: user_agent.map(str::to_owned),
                }
            }
        }
    }

    /// What `res.php?action=get` says about a task of this account.
    pub(crate) fn get(&self, account: u32, id: u64) -> Result<Outcome, Code> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let mut w = self.world();
        Self::expire_on_read(&mut w, cfg, now, id);
        let t = w
            .tasks
            .get(&id)
            .filter(|t| t.account == account)
            .ok_or(Code::WrongCaptchaId)?;
        match t.state(now) {
            TaskState::Queued | TaskState::Pending => Err(Code::NotReady),
            TaskState::Solved | TaskState::Failed => Ok(self.outcome_of(cfg, id, t)),
        }
    }

    /// The price charged for a task (2captcha `get2`).
    pub(crate) fn price(&self, account: u32, id: u64) -> Option<f64> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let mut w = self.world();
        Self::expire_on_read(&mut w, cfg, now, id);
        w.tasks
            .get(&id)
            .filter(|t| t.account == account)
            .map(|t| t.kind.price())
    }

    /// `reportgood` / `reportbad`: recorded once, for a finished task, within
    /// `solving.report-window` of its submission (2captcha's error list: "more than 15
    /// minutes passed after you submitted the captcha"; counted from the submission, not from
    /// when the task finished).
    pub(crate) fn report(&self, account: u32, id: u64, good: bool) -> Code {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let window = self.0.config.solving.report_window;
        let mut w = self.world();
        Self::expire_on_read(&mut w, cfg, now, id);
        let Some(t) = w.tasks.get_mut(&id).filter(|t| t.account == account) else {
            return Code::ReportNotRecorded;
        };
        if !matches!(t.state(now), TaskState::Solved | TaskState::Failed) {
            return Code::ReportNotRecorded;
        }
        if now
            .as_duration()
            .saturating_sub(t.submitted_at.as_duration())
            > window
        {
            return Code::ReportNotRecorded;
        }
        if t.report != 0 {
            return Code::DuplicateReport;
        }
        if !good
            && let Some(limit) = cfg.solving.complaint_limit
            && complains_too_much(&w.tasks, account, now, limit)
        {
            return Code::ReportNotRecorded;
        }
        let Some(t) = w.tasks.get_mut(&id) else {
            return Code::ReportNotRecorded;
        };
        t.report = if good { 1 } else { 2 };
        Code::ReportRecorded
    }

    /// The `code` a conflicting duplicate of task `id` carries, when its pingback schedule
    /// sends one (ground truth for graders: what a receiver that never saw the genuine
    /// callback may rightly keep).
    pub(crate) fn conflicting_code(&self, id: u64) -> Option<String> {
        let cfg = &*self.0.config;
        let world = self.world();
        let t = world.tasks.get(&id)?;
        let pb = t.pingback.as_deref()?;
        needs_conflicting_code(&pb.schedule).then(|| {
            answers::conflicting_answer(cfg.seed, stream_subject(cfg, id), t.kind, t.shape).text
        })
    }
}

/// Whether a key's complaints (`reportbad` recorded) already exceed `limit.share` of its
/// solved tasks, once it has `limit.minimum` of them; both counted over the tasks the mock
/// still holds. A walk over every stored task: it runs only for a `reportbad` while the
/// opt-in limit is set, and reports are rare next to polls.
fn complains_too_much(
    tasks: &HashMap<u64, Task>,
    account: u32,
    now: SimTime,
    limit: ComplaintLimit,
) -> bool {
    let (mut solved, mut complaints) = (0u64, 0u64);
    for t in tasks.values().filter(|t| t.account == account) {
        if t.state(now) == TaskState::Solved {
            solved += 1;
            complaints += u64::from(t.report == 2);
        }
    }
    solved >= u64::from(limit.minimum) && complaints as f64 > limit.share * solved as f64
}

/// A task's pingback schedule, compiled from the task's stream subject (so a run whose ids
/// start elsewhere draws the same faults) and then labelled with its real id.
fn schedule_for(
    cfg: &Config,
    rules: &[FaultRule],
    id: u64,
    ordinal: u64,
    kind: TaskKind,
    url: &str,
) -> Schedule {
    let mut s = schedule::compile(
        cfg.seed,
        rules,
        &cfg.pingback.retry,
        TaskFacts {
            task_id: stream_subject(cfg, id),
            ordinal,
            kind,
            url,
            method: cfg.dialect.callback_method(),
        },
    );
    s.task_id = id;
    s
}

/// True when a schedule sends a code other than the genuine one.
pub(crate) fn needs_conflicting_code(schedule: &Schedule) -> bool {
    schedule.deliveries.iter().any(|d| {
        matches!(
            d.kind,
            DeliveryKind::Conflicting
                | DeliveryKind::Malformed(MalformedKind::UnknownId | MalformedKind::StaleId)
        )
    })
}

/// A plain schedule, for a pingback URL without a compiled schedule: `submit` never stores
/// one, but it keeps the type total.
pub(super) fn unreachable_schedule(task_id: u64, ordinal: u64) -> Schedule {
    schedule::compile(
        0,
        &[],
        &Default::default(),
        TaskFacts {
            task_id,
            ordinal,
            kind: TaskKind::Normal,
            url: "",
            method: CallbackMethod::Get,
        },
    )
}
