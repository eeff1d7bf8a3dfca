//! Forged callbacks (`[[inject]]`): sent by the harness itself, at their time, alongside the
//! workload, straight to the subject's callback URL; each answer is recorded for the
//! `reject-invalid` and `no-state-change` checks.

use std::time::Duration;

use captchaai_mock::CallbackMethod;
use tokio::task::JoinHandle;

use super::TimeScale;
use crate::{
    scenario::{InjectedCallback, Scenario},
    timeline::{Event, Recorder, Source},
};

/// Starts every forged callback of the scenario, each after its `at`.
pub(super) fn spawn_all(
    scenario: &Scenario,
    callback_url: Option<&str>,
    recorder: &Recorder,
    scale: TimeScale,
) -> Vec<JoinHandle<()>> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    let mut injections = Vec::new();
    for inj in scenario.inject.clone() {
        let recorder = recorder.clone();
        let http = http.clone();
        let url = callback_url.map(str::to_owned);
        let method = scenario.mock.dialect.callback_method();
        injections.push(tokio::spawn(async move {
            tokio::time::sleep(scale.real(inj.at)).await;
            inject(
                &http,
                &recorder,
                url.as_deref(),
                method,
                inj.callback,
                inj.task,
            )
            .await;
        }));
    }
    injections
}

/// Sends one forged callback to the receiver and records what it answered.
async fn inject(
    http: &reqwest::Client,
    recorder: &Recorder,
    callback_url: Option<&str>,
    method: CallbackMethod,
    kind: InjectedCallback,
    ordinal: u64,
) {
    let Some(url) = callback_url else { return };
    let Ok(mut url) = reqwest::Url::parse(url) else {
        return;
    };
    let task = recorder.ids().get(&ordinal).copied();
    let id = match kind {
        InjectedCallback::UnknownId => (9_100_000_000_000 + ordinal).to_string(),
        _ => match task {
            Some(t) => t.to_string(),
            None => {
                recorder.record(
                    Source::Injector,
                    Event::Injected {
                        callback: kind,
                        task: None,
                        id: String::new(),
                        status: None,
                        error: Some(format!("task #{ordinal} had no id yet")),
                    },
                );
                return;
            }
        },
    };
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match kind {
        InjectedCallback::Spoofed => {
            url.set_query(None);
        }
        InjectedCallback::WrongSecret => {
            url.set_query(None);
            for (k, _) in &pairs {
                url.query_pairs_mut().append_pair(k, "wrong-secret");
            }
        }
        InjectedCallback::UnknownId => {}
    }
    let code = "03AFY_forged_token_from_the_conformance_harness";
    let req = match method {
        CallbackMethod::Get => {
            url.query_pairs_mut()
                .append_pair("id", &id)
                .append_pair("code", code);
            http.get(url)
        }
        CallbackMethod::Post => http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("id={id}&code={code}")),
    };
    let (status, error) = match tokio::time::timeout(
        Duration::from_secs(30),
        req.header("x-conformance-injected", "1").send(),
    )
    .await
    {
        Ok(Ok(r)) => (Some(r.status().as_u16()), None),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(_) => (None, Some("timeout".to_owned())),
    };
    recorder.record(
        Source::Injector,
        Event::Injected {
            callback: kind,
            task,
            id,
            status,
            error,
        },
    );
}
