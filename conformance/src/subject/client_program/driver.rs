//! The client program's driver: a task is done when the program reports it (or its output
//! closes); at the end the program gets [`EXIT_GRACE`] to exit by itself, then its whole
//! process group is stopped, and how it ended decides whether the run broke off.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{process::Child, sync::Notify};

use super::EXIT_GRACE;
use crate::{
    cleanup::GroupGuard,
    scenario::WorkTask,
    subject::{BoxFuture, Driver},
    timeline::{Event, Recorder, Source},
};

/// What the output reader tells the driver.
#[derive(Default)]
pub(super) struct ClientShared {
    /// Ordinals the program reported.
    done: Mutex<HashMap<u64, ()>>,
    notify: Notify,
    /// Its stdout closed.
    exited: Mutex<bool>,
}

impl ClientShared {
    /// The program reported a task.
    pub(super) fn reported(&self, ordinal: u64) {
        self.done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ordinal, ());
        self.notify.notify_waiters();
    }

    /// Its stdout closed: nothing more will be reported.
    pub(super) fn closed(&self) {
        *self.exited.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.notify.notify_waiters();
    }

    fn is_closed(&self) -> bool {
        *self.exited.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reported_count(&self) -> usize {
        self.done.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

pub(super) struct ClientDriver {
    shared: Arc<ClientShared>,
    pid: Option<u32>,
    /// Its process group in the harness's registry, until it is stopped.
    group: Arc<Mutex<Option<GroupGuard>>>,
    child: Arc<tokio::sync::Mutex<Option<Child>>>,
    rec: Recorder,
    tasks: usize,
    /// How the program ended, when the harness saw it end (or gave up on it).
    exit: Arc<Mutex<Option<Ending>>>,
}

impl ClientDriver {
    pub(super) fn new(
        shared: Arc<ClientShared>,
        pid: Option<u32>,
        child: Child,
        rec: Recorder,
        tasks: usize,
    ) -> Self {
        ClientDriver {
            shared,
            group: Arc::new(Mutex::new(pid.and_then(crate::cleanup::track_group))),
            pid,
            child: Arc::new(tokio::sync::Mutex::new(Some(child))),
            rec,
            tasks,
            exit: Arc::new(Mutex::new(None)),
        }
    }
}

/// How a client program's run ended.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// It exited by itself with this status.
    Exited(std::process::ExitStatus),
    /// It reported every task but was still running [`EXIT_GRACE`] later: killed.
    Lingered,
}

impl Driver for ClientDriver {
    fn run(&self, task: WorkTask) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        Box::pin(async move {
            loop {
                let notified = shared.notify.notified();
                if shared
                    .done
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains_key(&task.ordinal)
                    || shared.is_closed()
                {
                    return;
                }
                notified.await;
            }
        })
    }

    fn finish(&self) -> BoxFuture<'static, ()> {
        let pid = self.pid;
        let group = self.group.clone();
        let child = self.child.clone();
        let rec = self.rec.clone();
        let exit = self.exit.clone();
        let shared = self.shared.clone();
        let tasks = self.tasks;
        Box::pin(async move {
            let Some(mut c) = child.lock().await.take() else {
                return;
            };
            // Everything reported (or its output closed): by the contract it exits now,
            // by itself. Otherwise the run is over for it (its deadline passed).
            let reported = shared.reported_count();
            let closed = shared.is_closed();
            let grace = if reported >= tasks || closed {
                EXIT_GRACE
            } else {
                Duration::ZERO
            };
            let status = match tokio::time::timeout(grace, c.wait()).await {
                Ok(Ok(status)) => Some(status),
                _ => c.try_wait().ok().flatten(),
            };
            // The whole process group (`sh -c` and whatever it started, still running or
            // left behind), which the child leads: its pgid is its pid. Never 0 or 1.
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            drop(group.lock().unwrap_or_else(|p| p.into_inner()).take());
            let ending = match status {
                Some(status) => {
                    rec.record(
                        Source::App,
                        Event::Note {
                            message: format!("the client program exited: {status}"),
                        },
                    );
                    Some(Ending::Exited(status))
                }
                None => {
                    let _ = c.kill().await;
                    let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
                    (grace > Duration::ZERO).then(|| {
                        rec.record(
                            Source::App,
                            Event::Note {
                                message: format!(
                                    "the client program was still running {}s after its last result: killed",
                                    EXIT_GRACE.as_secs()
                                ),
                            },
                        );
                        Ending::Lingered
                    })
                }
            };
            *exit.lock().unwrap_or_else(|p| p.into_inner()) = ending;
        })
    }

    fn broke_off(&self) -> Option<String> {
        let ending = (*self.exit.lock().unwrap_or_else(|p| p.into_inner()))?;
        let reported = self.shared.reported_count();
        match ending {
            Ending::Exited(status) => (reported < self.tasks || !status.success()).then(|| {
                format!(
                    "the client program exited ({status}) having reported {reported} of {} task(s); \
                     its stderr is in the evidence",
                    self.tasks
                )
            }),
            Ending::Lingered => Some(format!(
                "the client program reported {reported} of {} task(s) but had not exited {}s \
                 later (it should exit 0 once every task is reported): killed",
                self.tasks,
                EXIT_GRACE.as_secs()
            )),
        }
    }
}
