//! Forged callbacks (`[[inject]]`): sent by the harness itself, at their time, alongside the
//! workload, straight to the subject's callback URL; each answer is recorded for the
//! `reject-invalid`, `trusted-source` and `no-state-change` checks.
//!
//! Each forged callback gets past every defence but the one it tests: `spoofed` and
//! `wrong-secret` differ from a genuine callback only in the secret, `unknown-id` only in
//! the id, and all three leave from the trusted source address, as genuine pingbacks do;
//! `untrusted-source` carries the right secret and a real task's id, and leaves from the
//! untrusted address ([`Sources`]).

use std::{net::IpAddr, time::Duration};

use captchaai_mock::CallbackMethod;
use tokio::task::JoinHandle;

use super::TimeScale;
use crate::{
    scenario::{InjectedCallback, Scenario},
    subject::Sources,
    timeline::{DeliveryOutcome, Event, Recorder, Source},
};

/// The first forged unknown id of an in-process run (plus the injection's task ordinal).
pub(super) const IN_PROCESS_UNKNOWN_IDS: u64 = 9_100_000_000_000;

/// The `code` every forged callback carries.
pub(crate) const FORGED_CODE: &str = "03AFY_forged_token_from_the_conformance_harness";

/// How forged callbacks are sent.
#[derive(Clone, Copy, Debug)]
pub(super) struct Senders {
    /// The run's time scale (`at` and the sender's timeout are simulated).
    pub(super) scale: TimeScale,
    /// Where they leave from.
    pub(super) sources: Sources,
    /// An `unknown-id` callback claims this id plus its task ordinal: never handed out.
    pub(super) unknown_ids: u64,
}

/// Starts every forged callback of the scenario, each after its `at`.
pub(super) fn spawn_all(
    scenario: &Scenario,
    callback_url: Option<&str>,
    recorder: &Recorder,
    senders: Senders,
) -> Vec<JoinHandle<()>> {
    let timeout = senders.scale.real(scenario.mock.pingback.attempt_timeout);
    let mut injections = Vec::new();
    for inj in scenario.inject.clone() {
        let recorder = recorder.clone();
        let url = callback_url.map(str::to_owned);
        let method = scenario.mock.dialect.callback_method();
        injections.push(tokio::spawn(async move {
            tokio::time::sleep(senders.scale.real(inj.at)).await;
            let Some(url) = url else { return };
            let forged = Forged {
                kind: inj.callback,
                ordinal: inj.task,
                method,
                timeout,
            };
            forged.send(&recorder, &url, senders).await;
        }));
    }
    injections
}

/// One forged callback.
struct Forged {
    kind: InjectedCallback,
    ordinal: u64,
    method: CallbackMethod,
    timeout: Duration,
}

impl Forged {
    /// Sends it to the receiver and records what it answered.
    async fn send(&self, recorder: &Recorder, callback_url: &str, senders: Senders) {
        let Ok(mut url) = reqwest::Url::parse(callback_url) else {
            return;
        };
        let task = recorder.ids().get(&self.ordinal).copied();
        let from = match self.kind {
            InjectedCallback::UntrustedSource => senders.sources.untrusted,
            _ => senders.sources.trusted,
        };
        let record = |id: String, outcome, status, error| {
            recorder.record(
                Source::Injector,
                Event::Injected {
                    callback: self.kind,
                    task,
                    id,
                    from: Some(from),
                    outcome,
                    status,
                    error,
                },
            );
        };
        let id = match (self.kind, task) {
            (InjectedCallback::UnknownId, _) => (senders.unknown_ids + self.ordinal).to_string(),
            (_, Some(t)) => t.to_string(),
            (_, None) => {
                let why = format!("task #{} had no id yet", self.ordinal);
                return record(String::new(), DeliveryOutcome::Error, None, Some(why));
            }
        };
        let http = match client_from(from) {
            Ok(c) => c,
            Err(why) => return record(id, DeliveryOutcome::Error, None, Some(why)),
        };
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match self.kind {
            InjectedCallback::Spoofed => url.set_query(None),
            InjectedCallback::WrongSecret => {
                url.set_query(None);
                for (k, _) in &pairs {
                    url.query_pairs_mut().append_pair(k, "wrong-secret");
                }
            }
            InjectedCallback::UnknownId | InjectedCallback::UntrustedSource => {}
        }
        let req = match self.method {
            CallbackMethod::Get => {
                url.query_pairs_mut()
                    .append_pair("id", &id)
                    .append_pair("code", FORGED_CODE);
                http.get(url)
            }
            CallbackMethod::Post => http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("id={id}&code={FORGED_CODE}")),
        };
        let sent = req.header("x-conformance-injected", "1").send();
        let (outcome, status, error) = match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(r)) => {
                let s = r.status();
                let outcome = if s.is_success() {
                    DeliveryOutcome::Delivered
                } else {
                    DeliveryOutcome::Rejected
                };
                (outcome, Some(s.as_u16()), None)
            }
            Ok(Err(e)) if e.is_connect() => (DeliveryOutcome::Refused, None, Some(e.to_string())),
            Ok(Err(e)) if e.is_timeout() => (DeliveryOutcome::Timeout, None, Some(e.to_string())),
            Ok(Err(e)) => (DeliveryOutcome::Error, None, Some(e.to_string())),
            Err(_) => (
                DeliveryOutcome::Timeout,
                None,
                Some(format!(
                    "no answer within the sender's timeout ({})",
                    humantime::format_duration(self.timeout)
                )),
            ),
        };
        record(id, outcome, status, error);
    }
}

/// A client whose connections leave from `from`, or why none can: the address is not one
/// of this machine's (macOS has only 127.0.0.1 on loopback until an alias is added).
fn client_from(from: IpAddr) -> Result<reqwest::Client, String> {
    if let Err(e) = std::net::UdpSocket::bind((from, 0)) {
        return Err(not_local(from, &e));
    }
    reqwest::Client::builder()
        .no_proxy()
        .local_address(from)
        .build()
        .map_err(|e| format!("cannot build a client sending from {from}: {e}"))
}

/// Why callbacks cannot leave from `addr`.
pub(crate) fn not_local(addr: IpAddr, e: &std::io::Error) -> String {
    let hint = if addr.is_loopback() {
        format!(
            "; on Linux all of 127.0.0.0/8 is local, on macOS only 127.0.0.1 until an alias \
             is added (sudo ifconfig lo0 alias {addr})"
        )
    } else {
        String::new()
    };
    format!("cannot send from {addr}, not an address of this machine ({e}){hint}")
}
