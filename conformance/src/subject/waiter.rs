//! The application's long poll for a result (`--wait-url`), in scenarios that set `wait`:
//! opened as soon as a task has its id, on the replica `Spread::read` picks (another than
//! the one its callback goes to), and recorded in the timeline (`wait-opened`, `waited`) for
//! the check `wait-woken`.

use std::time::Duration;

use super::{
    RunContext,
    external_receiver::{pick, transport_error, urlencode},
    replicas::Spread,
};
use crate::timeline::{Event, Source, short};

/// The application's long poll (`--wait-url`), opened on another replica than the callback's
/// as soon as the task has an id.
pub(super) struct Waiter {
    /// One per replica.
    pub(super) templates: Vec<String>,
    /// `--latency-budget`: how long after a callback was acknowledged the waiter must answer.
    pub(super) budget: Duration,
}

impl Waiter {
    /// Opens the long poll for `id`, and records how it ended: its answer, or that the
    /// harness stopped waiting (twice the budget after a callback was acknowledged on another
    /// replica, or the task's deadline, whichever comes first; the template's own `wait`
    /// should outlast both).
    pub(super) async fn wait(
        &self,
        http: &reqwest::Client,
        ctx: &RunContext,
        spread: &Spread,
        id: u64,
    ) {
        let id_text = id.to_string();
        let replica = spread.read(&id_text);
        let Some(template) = pick(&self.templates, replica) else {
            return;
        };
        let url = template.replace("{id}", &urlencode(&id_text));
        ctx.recorder.record(
            Source::App,
            Event::WaitOpened {
                task: id,
                replica: replica + 1,
            },
        );
        let deadline_real = ctx.scenario.subject.deadline.as_secs_f64() / ctx.time_scale.max(1e-9);
        let cap = tokio::time::Instant::now() + Duration::from_secs_f64(deadline_real);
        let request = http
            .get(&url)
            .timeout(Duration::from_secs_f64(deadline_real))
            .send();
        tokio::pin!(request);
        let answer = loop {
            let until = spread
                .acknowledged_elsewhere(&id_text, replica)
                .map_or(cap, |at| (at + 2 * self.budget).min(cap));
            if tokio::time::Instant::now() >= until {
                break Err(format!(
                    "no answer: the harness stopped waiting {}",
                    if until == cap {
                        "at the task's deadline"
                    } else {
                        "twice the latency budget after the result was acknowledged on another replica"
                    }
                ));
            }
            tokio::select! {
                r = &mut request => break r.map_err(|e| transport_error(&e)),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        };
        let (status, code, error) = match answer {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.ok();
                let code = text
                    .filter(|_| status == 200)
                    .map(|t| short(t.trim_end_matches(['\r', '\n'])));
                (Some(status), code, None)
            }
            Err(why) => (None, None, Some(why)),
        };
        ctx.recorder.record(
            Source::App,
            Event::Waited {
                task: id,
                replica: replica + 1,
                status,
                code,
                error,
            },
        );
    }
}
