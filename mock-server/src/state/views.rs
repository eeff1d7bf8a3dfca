//! What inspection reads: tasks with their ground truth ([`TaskView`]), and the inbound
//! journal of API requests ([`InboundRequest`]). The admin API serialises these; the public
//! [`crate::MockHandle`] hands them to tests as they are.

use std::{borrow::Cow, net::SocketAddr};

use serde::Serialize;

use super::{MockState, Outcome, TaskState, World, tasks::Task};
use crate::{
    clock::SimTime,
    config::Config,
    model::TaskKind,
    params::RequestParams,
    pingback::{dispatcher::PingbackAttempt, schedule::Schedule},
};

/// One API request the mock answered, as its inbound journal keeps it.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct InboundRequest {
    /// Position in the inbound journal since start (or the last reset), from 1.
    pub seq: u64,
    /// Simulated milliseconds since start.
    pub at_ms: u64,
    /// `in.php`, `res.php` or `solve.php`.
    pub endpoint: &'static str,
    /// HTTP method.
    pub http_method: Cow<'static, str>,
    /// Body encoding: `query`, `form`, `multipart` or `json`.
    pub encoding: &'static str,
    /// `action` for res.php, `method` for in.php.
    pub action: Option<Cow<'static, str>>,
    /// The task the request concerns (new id for a submit).
    pub task_id: Option<u64>,
    /// Parameters, shortened when journalled (see [`RequestParams`]).
    pub params: RequestParams,
    /// The answer in plain form (`OK|...`, `CAPCHA_NOT_READY`, ...); past 4096 bytes, its
    /// start and `… <N bytes>`.
    pub answer: Cow<'static, str>,
    /// The client's address, when known.
    pub remote: Option<SocketAddr>,
    /// The API fault applied to the request, in the journal's words (`html 502`, `reset`,
    /// `delay 1.2s`, `answer ERROR_SERVER_ERROR`, with the rule's name in brackets), if any.
    /// `answer` then says what the client got: `HTTP 502`, `(reset: no answer)`,
    /// `(stalled: no answer)`, `(truncated: OK|...)`, the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<std::sync::Arc<str>>,
}

impl crate::journal::Weigh for InboundRequest {
    fn weight(&self) -> usize {
        let owned = |c: &Cow<'static, str>| match c {
            Cow::Borrowed(_) => 0,
            Cow::Owned(s) => s.capacity(),
        };
        std::mem::size_of::<Self>()
            + self.params.heap_bytes()
            + owned(&self.answer)
            + owned(&self.http_method)
            + self.action.as_ref().map_or(0, owned)
            // A fault's words: at most about 150 bytes (a rule's name is bounded).
            + self.fault.as_ref().map_or(0, |f| f.len())
    }
}

/// One line: `at 1.5s GET res.php action=get task 74000000001 -> CAPCHA_NOT_READY`.
impl std::fmt::Display for InboundRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = humantime::format_duration(std::time::Duration::from_millis(self.at_ms));
        write!(f, "at {at} {} {}", self.http_method, self.endpoint)?;
        if let Some(a) = &self.action {
            let name = if self.endpoint == "res.php" {
                "action"
            } else {
                "method"
            };
            write!(f, " {name}={a}")?;
        }
        if let Some(t) = self.task_id {
            write!(f, " task {t}")?;
        }
        let answer: String = self.answer.chars().take(80).collect();
        let cut = if answer.len() < self.answer.len() {
            "…"
        } else {
            ""
        };
        write!(f, " -> {answer}{cut}")?;
        match &self.fault {
            Some(fault) => write!(f, " [fault: {fault}]"),
            None => Ok(()),
        }
    }
}

/// A task as the admin API and tests see it: its state now and its ground truth.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct TaskView {
    /// Task id.
    pub id: u64,
    /// Submission ordinal (1 = first since start or reset).
    pub ordinal: u64,
    /// The account's key.
    pub key: String,
    /// Kind.
    pub kind: TaskKind,
    /// State now.
    pub state: TaskState,
    /// Simulated ms at submission.
    pub submitted_at_ms: u64,
    /// Simulated ms when a thread took it.
    pub started_at_ms: Option<u64>,
    /// Simulated ms when it finishes (`None`: never).
    pub finish_at_ms: Option<u64>,
    /// What it ends with (ground truth), even before it finishes.
    pub outcome: Outcome,
    /// `good` or `bad` once reported.
    pub report: Option<&'static str>,
    /// Pingback URL.
    pub pingback: Option<String>,
    /// Compiled pingback schedule.
    pub schedule: Option<Schedule>,
    /// Forced by the admin API.
    pub forced: bool,
    /// reCAPTCHA cookies handed back with the answer (2captcha), as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<String>,
    /// Hand the cookies back as a JSON object (`json_cookies=1`).
    #[serde(skip)]
    pub json_cookies: bool,
}

impl MockState {
    /// How many stored tasks are in each state now (for the metrics). One pass over the
    /// tasks under the lock: a scrape of 100 000 tasks holds it about a millisecond.
    pub(crate) fn task_states(&self) -> [(TaskState, u64); 4] {
        let now = self.0.clock.now();
        let mut counts = [
            (TaskState::Queued, 0),
            (TaskState::Pending, 0),
            (TaskState::Solved, 0),
            (TaskState::Failed, 0),
        ];
        for t in self.world().tasks.values() {
            let slot = match t.state(now) {
                TaskState::Queued => 0,
                TaskState::Pending => 1,
                TaskState::Solved => 2,
                TaskState::Failed => 3,
            };
            counts[slot].1 += 1;
        }
        counts
    }

    /// One task, as the admin API shows it.
    pub(crate) fn task(&self, id: u64) -> Option<TaskView> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let t = w.tasks.get(&id)?;
        Some(self.view(cfg, &w, id, t, now))
    }

    /// Every stored task, in id order, at most `limit`.
    pub(crate) fn tasks(&self, limit: usize) -> Vec<TaskView> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let mut ids: Vec<u64> = w.tasks.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .take(limit)
            .filter_map(|id| w.tasks.get(&id).map(|t| self.view(cfg, &w, id, t, now)))
            .collect()
    }

    /// The newest `limit` stored tasks, oldest first (the dashboard shows what is happening
    /// now, every time something happened). Ids are handed out in order, so it walks down
    /// from the last one: `O(limit)` under the lock while few tasks in that range expired.
    /// When the walk meets more gaps than tasks (most of the newest ids expired), it picks
    /// from every stored id instead, in linear time, and sorts only those.
    pub(crate) fn newest_tasks(&self, limit: usize) -> Vec<TaskView> {
        let cfg = &*self.0.config;
        let now = self.0.clock.now();
        let w = self.world();
        let want = limit.min(w.tasks.len());
        let mut newest = Vec::with_capacity(want);
        let mut id = w.next_id;
        let lowest = cfg.first_task_id;
        let mut walked = 0usize;
        while newest.len() < want && id > lowest && walked <= 2 * want + 64 {
            id -= 1;
            walked += 1;
            if w.tasks.contains_key(&id) {
                newest.push(id);
            }
        }
        if newest.len() < want && id > lowest {
            let mut ids: Vec<u64> = w.tasks.keys().copied().collect();
            let skip = ids.len() - want;
            if skip > 0 {
                ids.select_nth_unstable(skip);
            }
            newest = ids.split_off(skip);
        }
        newest.sort_unstable();
        newest
            .iter()
            .filter_map(|id| w.tasks.get(id).map(|t| self.view(cfg, &w, *id, t, now)))
            .collect()
    }

    pub(super) fn view(
        &self,
        cfg: &Config,
        w: &World,
        id: u64,
        t: &Task,
        now: SimTime,
    ) -> TaskView {
        let cookies = w.cookies.get(&id);
        TaskView {
            id,
            ordinal: id.saturating_sub(cfg.first_task_id) + 1,
            key: w.accounts[t.account as usize].key.clone(),
            kind: t.kind,
            state: t.state(now),
            submitted_at_ms: t.submitted_at.as_millis(),
            started_at_ms: (!t.started_at.is_never()).then(|| t.started_at.as_millis()),
            finish_at_ms: (!t.finish_at.is_never()).then(|| t.finish_at.as_millis()),
            outcome: self.outcome_of(cfg, id, t),
            report: match t.report {
                1 => Some("good"),
                2 => Some("bad"),
                _ => None,
            },
            pingback: t.pingback.as_ref().map(|p| p.url.to_string()),
            schedule: t.pingback.as_ref().map(|p| (*p.schedule).clone()),
            forced: t.forced.is_some(),
            cookies: cookies.map(|(c, _)| c.to_string()),
            json_cookies: cookies.is_some_and(|(_, json)| *json),
        }
    }

    /// Records an inbound request (its `seq` is given when it is read); shortened already
    /// (its parameters by [`RequestParams`], its answer by the API's journal call).
    pub(crate) fn journal_inbound(&self, entry: InboundRequest) {
        self.0.inbound.push(entry);
    }

    /// Inbound journal entries after `since`, optionally for one task or endpoint.
    pub(crate) fn inbound(
        &self,
        since: u64,
        limit: usize,
        task: Option<u64>,
        endpoint: Option<&str>,
    ) -> Vec<InboundRequest> {
        self.inbound_where(since, limit, |e| {
            task.is_none_or(|t| e.task_id == Some(t)) && endpoint.is_none_or(|ep| e.endpoint == ep)
        })
    }

    /// Inbound journal entries after `since` that pass `keep`, at most `limit`.
    pub(crate) fn inbound_where(
        &self,
        since: u64,
        limit: usize,
        keep: impl Fn(&InboundRequest) -> bool,
    ) -> Vec<InboundRequest> {
        self.0
            .inbound
            .query(since, limit, keep)
            .into_iter()
            .map(|n| InboundRequest {
                seq: n.seq,
                ..n.entry
            })
            .collect()
    }

    /// How many inbound journal entries after `since` pass `keep`.
    pub(crate) fn inbound_count(
        &self,
        since: u64,
        keep: impl Fn(&InboundRequest) -> bool,
    ) -> usize {
        self.0.inbound.count(since, keep)
    }

    /// How many delivery attempts after `since` there are, optionally of one task.
    pub(crate) fn deliveries_count(&self, since: u64, task: Option<u64>) -> usize {
        self.0.dispatcher.journal_count(since, task)
    }

    /// Moves the oldest inbound journal entries out, at most `limit`.
    pub(crate) fn take_inbound(&self, limit: usize) -> Vec<InboundRequest> {
        self.0
            .inbound
            .take_oldest(limit)
            .into_iter()
            .map(|n| InboundRequest {
                seq: n.seq,
                ..n.entry
            })
            .collect()
    }

    /// Moves the oldest delivery attempts out of the outbound journal, at most `limit`.
    pub(crate) fn take_deliveries(&self, limit: usize) -> Vec<PingbackAttempt> {
        self.0.dispatcher.take_journal(limit)
    }

    /// Outbound delivery attempts after `since`, optionally for one task.
    pub(crate) fn deliveries(
        &self,
        since: u64,
        limit: usize,
        task: Option<u64>,
    ) -> Vec<PingbackAttempt> {
        self.0.dispatcher.journal(since, limit, task)
    }
}
