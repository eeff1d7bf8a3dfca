//! Deliberately broken subjects, each modelled on a real mistake (most from the
//! Python store in CaptchaAI's pingback tutorial). The harness must catch every
//! one of them; a harness that passes a broken subject is broken.
//!
//! They share nothing with the reference receiver: a naive store like the
//! tutorial's, a naive receiver, and a driver built on the client's low-level
//! `submit` and `poll_once`.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    routing::get,
};
use captchaai_client::{Client, RetryPolicy, TaskId};
use captchaai_conformance::{
    scenario::WorkTask,
    subject::{
        BoxFuture, Driver, Probe, RunContext, Started, Subject, reference::record_error, tasks,
    },
    timeline::{AppErrorKind, Recorder, ResultPath},
};
use tokio::sync::Notify;

/// How the broken receiver misbehaves.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReceiverFlaws {
    /// Last write wins, and every accepted callback is handed to the application.
    pub(crate) no_dedup: bool,
    /// Results for ids not registered yet are dropped (the tutorial's lost early result).
    pub(crate) lose_early: bool,
    /// A second callback for an id is answered 500.
    pub(crate) fail_duplicates: bool,
    /// A second callback for an id is answered 202, the first 200.
    pub(crate) duplicates_202: bool,
    /// Callbacks for ids the application never submitted are stored (200).
    pub(crate) accept_unknown: bool,
    /// The receiver is down: callbacks go to a port nobody listens on.
    pub(crate) down: bool,
}

/// How the broken client misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Polling {
    /// Wait for the pingback only (used with a pingback scenario).
    Never,
    /// Poll from the first moment every 200 ms: no initial wait, no interval.
    WithoutWaiting,
    /// Wait for a pingback at most `fallback-after`, then poll every 5 s (correct).
    Fallback,
}

/// A broken subject.
#[derive(Clone, Debug)]
pub(crate) struct Broken {
    pub(crate) name: &'static str,
    pub(crate) receiver: ReceiverFlaws,
    pub(crate) polling: Polling,
    /// The client's retry policy, when not the reference one.
    pub(crate) retry: Option<RetryPolicy>,
}

#[derive(Default)]
struct NaiveStore {
    results: HashMap<String, String>,
    registered: HashSet<String>,
    submitted: HashSet<String>,
}

#[derive(Clone)]
struct Shared {
    store: Arc<Mutex<NaiveStore>>,
    notify: Arc<Notify>,
    flaws: ReceiverFlaws,
    recorder: Recorder,
    ordinals: Arc<Mutex<HashMap<String, u64>>>,
}

#[derive(serde::Deserialize)]
struct Callback {
    id: Option<String>,
    code: Option<String>,
}

async fn callback(
    State(s): State<Shared>,
    Query(q): Query<Callback>,
) -> (StatusCode, &'static str) {
    let (Some(id), Some(code)) = (q.id, q.code) else {
        return (StatusCode::BAD_REQUEST, "Bad request");
    };
    let ordinal;
    {
        let mut st = s.store.lock().unwrap();
        if !s.flaws.accept_unknown
            && !st.submitted.contains(&id)
            && !st.registered.contains(&id)
            && !s.flaws.lose_early
        {
            // A sane receiver: unknown ids are not ours.
            return (StatusCode::NOT_FOUND, "unknown task");
        }
        if st.results.contains_key(&id) {
            if s.flaws.fail_duplicates {
                return (StatusCode::INTERNAL_SERVER_ERROR, "duplicate!");
            }
            if s.flaws.duplicates_202 {
                return (StatusCode::ACCEPTED, "already have it");
            }
            if !s.flaws.no_dedup {
                return (StatusCode::OK, "OK");
            }
        }
        if s.flaws.lose_early && !st.registered.contains(&id) {
            return (StatusCode::OK, "OK"); // acknowledged, and lost
        }
        st.results.insert(id.clone(), code.clone());
        ordinal = s.ordinals.lock().unwrap().get(&id).copied();
    }
    s.notify.notify_waiters();
    if s.flaws.no_dedup {
        // The naive application handles every callback it is given.
        s.recorder.result(
            ordinal.unwrap_or(0),
            id.parse().ok(),
            code,
            Some(ResultPath::Pingback),
            None,
        );
    }
    (StatusCode::OK, "OK")
}

impl Subject for Broken {
    fn name(&self) -> String {
        format!("broken: {}", self.name)
    }

    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>> {
        let this = self.clone();
        Box::pin(async move {
            let shared = Shared {
                store: Arc::default(),
                notify: Arc::new(Notify::new()),
                flaws: this.receiver,
                recorder: ctx.recorder.clone(),
                ordinals: Arc::default(),
            };
            let router = Router::new()
                .route("/pingback", get(callback))
                .with_state(shared.clone());
            let base = ctx.receiver_base.clone().ok_or("no receiver address")?;
            let client = Client::builder(ctx.mock_uri.clone(), ctx.api_key.clone())
                .deadline(ctx.scenario.subject.deadline)
                .seed(ctx.seed)
                .retry(this.retry.unwrap_or_default())
                .build()
                .map_err(|e| e.to_string())?;
            let uses_pingback = ctx.scenario.subject.strategy
                != captchaai_conformance::scenario::StrategyName::PollOnly;
            // Nothing listens on the discard port.
            let callback_url = if this.receiver.down {
                "http://127.0.0.1:9/pingback".to_owned()
            } else {
                format!("{base}/pingback")
            };
            let driver = BrokenDriver {
                client,
                shared: shared.clone(),
                // A pingback-only scenario never polls, whatever the flaw.
                polling: if ctx.scenario.subject.strategy
                    == captchaai_conformance::scenario::StrategyName::PingbackOnly
                {
                    Polling::Never
                } else {
                    this.polling
                },
                pingback: uses_pingback.then(|| callback_url.clone()),
                deadline: ctx.scenario.subject.deadline,
                fallback_after: ctx.scenario.subject.fallback_after,
            };
            Ok(Started {
                receiver: Some(router),
                callback_url: uses_pingback.then_some(callback_url),
                driver: Arc::new(driver),
                probe: Some(Arc::new(NaiveProbe(shared.store.clone()))),
            })
        })
    }
}

struct BrokenDriver {
    client: Client,
    shared: Shared,
    polling: Polling,
    pingback: Option<String>,
    deadline: Duration,
    fallback_after: Duration,
}

impl Driver for BrokenDriver {
    fn run(&self, task: WorkTask) -> BoxFuture<'static, ()> {
        let client = self.client.clone();
        let shared = self.shared.clone();
        let polling = self.polling;
        let pingback = self.pingback.clone();
        let deadline = self.deadline;
        let fallback_after = self.fallback_after;
        Box::pin(async move {
            let rec = shared.recorder.clone();
            let t = tasks::build(task.kind, &task.params);
            let id: TaskId = match client.submit(&t, pingback.as_deref()).await {
                Ok(id) => id,
                Err(e) => return record_error(&rec, task.ordinal, None, &e),
            };
            let key = id.to_string();
            {
                let mut st = shared.store.lock().unwrap();
                st.submitted.insert(key.clone());
                st.registered.insert(key.clone());
            }
            shared
                .ordinals
                .lock()
                .unwrap()
                .insert(key.clone(), task.ordinal);
            rec.submitted(task.ordinal, id.get());
            let start = tokio::time::Instant::now();
            let end = start + deadline;
            let mut next_poll = match polling {
                Polling::Never => None,
                Polling::WithoutWaiting => Some(start),
                Polling::Fallback => Some(start + fallback_after),
            };
            loop {
                if let Some(code) = shared.store.lock().unwrap().results.get(&key).cloned() {
                    if !shared.flaws.no_dedup {
                        rec.result(
                            task.ordinal,
                            Some(id.get()),
                            code,
                            Some(ResultPath::Pingback),
                            None,
                        );
                    }
                    return;
                }
                let now = tokio::time::Instant::now();
                if now >= end {
                    rec.error(
                        task.ordinal,
                        Some(id.get()),
                        AppErrorKind::Timeout,
                        None,
                        "no result before the deadline",
                    );
                    return;
                }
                if let Some(at) = next_poll
                    && now >= at
                {
                    match client.poll_once(&id).await {
                        Ok(Some(solution)) => {
                            shared
                                .store
                                .lock()
                                .unwrap()
                                .results
                                .entry(key.clone())
                                .or_insert_with(|| solution.raw().to_owned());
                            rec.result(
                                task.ordinal,
                                Some(id.get()),
                                solution.raw(),
                                Some(ResultPath::Poll),
                                None,
                            );
                            return;
                        }
                        Ok(None) => {}
                        Err(e) => return record_error(&rec, task.ordinal, Some(id.get()), &e),
                    }
                    next_poll = Some(match polling {
                        Polling::WithoutWaiting => now + Duration::from_millis(200),
                        _ => now + Duration::from_secs(5),
                    });
                }
                let wake = next_poll.unwrap_or(end).min(end);
                let notified = shared.notify.notified();
                let _ =
                    tokio::time::timeout_at(wake.max(tokio::time::Instant::now()), notified).await;
            }
        })
    }
}

struct NaiveProbe(Arc<Mutex<NaiveStore>>);

impl Probe for NaiveProbe {
    fn stored(&self, task_id: &str) -> BoxFuture<'static, Result<Option<String>, String>> {
        let v = self.0.lock().unwrap().results.get(task_id).cloned();
        Box::pin(async move { Ok(v) })
    }
}
