//! A pingback endpoint run by someone else (`--receiver URL`), graded from the HTTP side.
//!
//! The harness submits each task to its mock with the endpoint's URL as `pingback` (after
//! registering the callback host in the 2captcha dialect), tells the endpoint about each id
//! (`--register-url`), and reads back what it stored (`--results-url`). The mock runs with
//! the scenario's time scale: the endpoint does not share the harness's clock.
//!
//! Given several replicas of one endpoint (`--receiver` once per replica, `--results-url` and
//! `--register-url` once per replica or not at all), the harness spreads callbacks,
//! registrations and reads over them so that no replica is asked about what it received
//! itself ([`super::replicas`]).

use std::{net::IpAddr, sync::Arc, time::Duration};

use captchaai_mock::{MockHandle, TaskState};

use super::{
    BoxFuture, Capabilities, Driver, Probe, RunContext, Sources, Started, Subject,
    replicas::{Relay, Spread},
    tasks,
    waiter::Waiter,
};
use crate::{
    scenario::{Scenario, ScenarioKind, WorkTask},
    timeline::{Event, Source},
};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// A pingback endpoint run by someone else, graded from the HTTP side.
#[derive(Clone, Debug)]
pub(crate) struct ExternalReceiver {
    /// The callback URL of each replica (at least one). With one, it is given to the mock as
    /// `pingback` (a query such as `?token=s3cret` is kept); with more, the mock gets a relay
    /// that spreads callbacks over them. Replicas share their secret: the same query.
    pub(crate) urls: Vec<String>,
    /// Per replica (or none): `http://host/results/{id}`: 200 with the stored code, 404 when
    /// nothing is stored.
    pub(crate) results_urls: Vec<String>,
    /// Per replica (or none): `http://host/register/{id}`: the harness POSTs each task id
    /// here after submitting, as the application would.
    pub(crate) register_urls: Vec<String>,
    /// Per replica (or none): `http://host/results/{id}?wait=30s`: a long poll for the
    /// result, answered 200 with the code once it is stored (404 when the wait ends without
    /// one). Opened in scenarios that set `wait`, before the callback is sent.
    pub(crate) wait_urls: Vec<String>,
    /// How fast (real time) a valid callback must be acknowledged.
    pub(crate) latency_budget: Duration,
    /// `--trusted-source`: the receiver accepts callbacks from this address only, so
    /// refusing an `untrusted-source` callback is graded. Genuine pingbacks leave from it
    /// (from 127.0.0.1 when it is not given).
    pub(crate) trusted_source: Option<IpAddr>,
    /// `--spoof-from`: where `untrusted-source` callbacks leave from.
    pub(crate) spoof_from: IpAddr,
}

impl ExternalReceiver {
    /// The first replica's callback URL (all replicas share its query).
    fn url(&self) -> &str {
        self.urls.first().map_or("", String::as_str)
    }

    /// Where callbacks leave from.
    fn sources(&self) -> Sources {
        Sources {
            trusted: self.trusted_source.unwrap_or(Sources::LOOPBACK.trusted),
            untrusted: self.spoof_from,
        }
    }
}

impl Subject for ExternalReceiver {
    fn name(&self) -> String {
        match self.urls.as_slice() {
            [one] => format!("receiver at {one}"),
            all => format!("receiver at {} replicas: {}", all.len(), all.join(", ")),
        }
    }

    fn replicas(&self) -> usize {
        self.urls.len()
    }

    fn capabilities(&self, scenario: &Scenario) -> Capabilities {
        Capabilities {
            hosts_receiver: false,
            in_process: false,
            observes_app: false,
            registered_only: !self.register_urls.is_empty() && scenario.subject.registered_only,
            secret: scenario.subject.secret && self.url().contains('?'),
            sources: self.sources(),
            source_checked: self.trusted_source.is_some() && scenario.subject.allow_list,
            latency_budget: Some(self.latency_budget),
            mock_tls: false,
            waits: !self.wait_urls.is_empty(),
        }
    }

    fn supports(&self, scenario: &Scenario) -> Result<(), String> {
        if scenario.kind != ScenarioKind::Receiver {
            return Err(
                "not a receiver scenario: --receiver grades a pingback endpoint only".into(),
            );
        }
        if scenario.receiver.fail_first > 0 || scenario.receiver.latency.is_some() {
            return Err("injects faults inside the receiver, which only works in-process".into());
        }
        Ok(())
    }

    fn start(&self, ctx: RunContext) -> BoxFuture<'_, Result<Started, String>> {
        let this = self.clone();
        Box::pin(async move {
            let spread = Arc::new(Spread::new(this.urls.len()));
            let relay = if this.urls.len() > 1 {
                Some(Arc::new(
                    Relay::start(&this.urls, spread.clone(), ctx.recorder.clone()).await?,
                ))
            } else {
                None
            };
            let url = relay
                .as_ref()
                .map_or_else(|| this.url().to_owned(), |r| r.url.clone());
            // The application registers its callback host first in the 2captcha dialect.
            if ctx.scenario.mock.dialect == captchaai_mock::Dialect::TwoCaptcha {
                let _ = http()
                    .get(format!("{}/res.php", ctx.mock_uri))
                    .query(&[
                        ("key", ctx.api_key.as_str()),
                        ("action", "add_pingback"),
                        ("addr", url.as_str()),
                    ])
                    .send()
                    .await;
            }
            let driver = SubmitOnly {
                http: http(),
                ctx: ctx.clone(),
                callback_url: url.clone(),
                register_urls: this.register_urls.clone(),
                wait_urls: this.wait_urls.clone(),
                latency_budget: this.latency_budget,
                spread: spread.clone(),
                _relay: relay,
            };
            let probe = (!this.results_urls.is_empty()).then(|| {
                Arc::new(ResultsUrl {
                    templates: this.results_urls.clone(),
                    spread,
                    http: http(),
                }) as Arc<dyn Probe>
            });
            Ok(Started {
                receiver: None,
                callback_url: Some(url),
                driver: Arc::new(driver),
                probe,
            })
        })
    }
}

/// Submits each task with the external receiver's URL and waits until the mock has finished it.
struct SubmitOnly {
    http: reqwest::Client,
    ctx: RunContext,
    callback_url: String,
    /// One per replica, or none.
    register_urls: Vec<String>,
    /// One per replica, or none.
    wait_urls: Vec<String>,
    latency_budget: Duration,
    spread: Arc<Spread>,
    /// Serves as long as the run (the driver) lives.
    _relay: Option<Arc<Relay>>,
}

/// The template of the replica `spread` picks (the only one when there is one).
pub(super) fn pick(templates: &[String], replica: usize) -> Option<&String> {
    templates.get(replica).or_else(|| templates.first())
}

impl Driver for SubmitOnly {
    fn run(&self, task: WorkTask) -> BoxFuture<'static, ()> {
        let http = self.http.clone();
        let ctx = self.ctx.clone();
        let url = self.callback_url.clone();
        let register_urls = self.register_urls.clone();
        let spread = self.spread.clone();
        let waiter = Waiter {
            templates: self.wait_urls.clone(),
            budget: self.latency_budget,
        };
        Box::pin(async move {
            let t = tasks::build(task.kind, &task.params);
            let mut form: Vec<(String, String)> = t
                .params()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            form.push(("key".into(), ctx.api_key.clone()));
            form.push(("json".into(), "1".into()));
            form.push(("pingback".into(), url));
            let resp = http
                .post(format!("{}/in.php", ctx.mock_uri))
                .form(&form)
                .send()
                .await;
            let body: Option<serde_json::Value> = match resp {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            let id = body.as_ref().and_then(|b| match &b["request"] {
                serde_json::Value::String(s) if b["status"] == 1 => s.parse::<u64>().ok(),
                serde_json::Value::Number(n) if b["status"] == 1 => n.as_u64(),
                _ => None,
            });
            let Some(id) = id else {
                ctx.recorder.record(
                    Source::App,
                    Event::Note {
                        message: format!(
                            "harness submit for task #{} failed: {body:?}",
                            task.ordinal
                        ),
                    },
                );
                return;
            };
            ctx.recorder.submitted(task.ordinal, id);
            let id_text = id.to_string();
            if let Some(template) = pick(&register_urls, spread.register(&id_text)) {
                let r = http.post(template.replace("{id}", &id_text)).send().await;
                if !r.as_ref().is_ok_and(|r| r.status().is_success()) {
                    ctx.recorder.record(
                        Source::App,
                        Event::Note {
                            message: format!(
                                "registering task {id} failed: {}",
                                r.map_or_else(|e| e.to_string(), |r| r.status().to_string())
                            ),
                        },
                    );
                }
            }
            if ctx.scenario.subject.wait && !waiter.templates.is_empty() {
                waiter.wait(&http, &ctx, &spread, id).await;
            } else {
                wait_finished(&ctx.mock, id).await;
            }
        })
    }
}

/// Waits (real time, bounded by the caller) until the mock has finished a task.
async fn wait_finished(mock: &MockHandle, id: u64) {
    loop {
        match mock.task(id) {
            Some(t) if matches!(t.state, TaskState::Solved | TaskState::Failed) => return,
            Some(t) if t.finish_at_ms.is_none() => return, // never finishes: nothing to wait for
            None => return,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

struct ResultsUrl {
    /// One per replica.
    templates: Vec<String>,
    spread: Arc<Spread>,
    http: reqwest::Client,
}

impl Probe for ResultsUrl {
    fn stored(&self, task_id: &str) -> BoxFuture<'static, Result<Option<String>, String>> {
        let template = pick(&self.templates, self.spread.read(task_id)).map_or("", |t| t);
        let url = template.replace("{id}", &urlencode(task_id));
        let http = self.http.clone();
        Box::pin(async move {
            let failed = |why: String| format!("GET {url}: {why}");
            let r = http
                .get(&url)
                .timeout(RESULTS_TIMEOUT)
                .send()
                .await
                .map_err(|e| failed(transport_error(&e)))?;
            match r.status().as_u16() {
                200 => {}
                404 => return Ok(None),
                s => return Err(failed(format!("answered {s} (the contract: 200 or 404)"))),
            }
            let text = r.text().await.map_err(|e| failed(transport_error(&e)))?;
            Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
        })
    }
}

/// How long a pre-flight request may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// An id no task ever has: the mock hands out ids from 74 000 000 001 up.
const NO_SUCH_ID: &str = "1";

impl ExternalReceiver {
    /// The pre-flight, before any scenario runs: the addresses callbacks leave from are
    /// this machine's, the receiver answers at all (a `HEAD` request: no real callback is
    /// one, and it carries no id to store), and the results URL answers 404 for an id no
    /// task has; for every replica. `Err` lists what was tried and what went wrong (the run
    /// must not start); `Ok` carries notes to show before the run.
    pub(crate) async fn preflight(&self) -> Result<Vec<String>, Vec<String>> {
        let sources = self.sources();
        let mut notes = Vec::new();
        let mut problems = self.replica_problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        if self.trusted_source == Some(self.spoof_from) {
            return Err(vec![format!(
                "--trusted-source and --spoof-from are both {}: forged callbacks must leave \
                 from another address than genuine ones",
                self.spoof_from
            )]);
        }
        if let Err(why) = local(sources.trusted) {
            problems.push(format!(
                "genuine pingbacks cannot leave from --trusted-source: {why}"
            ));
        }
        let untrusted_ok = match local(sources.untrusted) {
            Ok(()) => true,
            Err(why) if self.trusted_source.is_some() => {
                problems.push(format!(
                    "untrusted-source callbacks cannot leave from --spoof-from, so the \
                     allow-list --trusted-source asks for cannot be graded: {why}"
                ));
                false
            }
            Err(why) => {
                notes.push(format!(
                    "untrusted-source callbacks will not be sent ({why}); the allow-list is \
                     not graded"
                ));
                false
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        for url in &self.urls {
            if let Err(why) = head(url, sources.trusted).await {
                problems.push(why);
            } else if self.trusted_source.is_some()
                && untrusted_ok
                && let Err(why) = head(url, sources.untrusted).await
            {
                problems.push(format!(
                    "{why} (untrusted-source callbacks are sent from --spoof-from: it must \
                     reach the receiver for the allow-list to be graded)"
                ));
            }
        }
        for template in &self.results_urls {
            if let Err(why) = no_such_result(template).await {
                problems.push(why);
            }
        }
        if problems.is_empty() {
            Ok(notes)
        } else {
            Err(problems)
        }
    }
}

impl ExternalReceiver {
    /// Replicas given consistently: a results and a register URL per replica (or none), one
    /// secret for all.
    fn replica_problems(&self) -> Vec<String> {
        let n = self.urls.len();
        let mut problems = Vec::new();
        for (flag, given) in [
            ("--results-url", self.results_urls.len()),
            ("--register-url", self.register_urls.len()),
            ("--wait-url", self.wait_urls.len()),
        ] {
            if given != 0 && given != n {
                problems.push(format!(
                    "{flag} is given {given} time(s) for {n} --receiver replica(s): give it \
                     once per replica, in the same order, or not at all"
                ));
            }
        }
        let query = |u: &str| {
            reqwest::Url::parse(u)
                .ok()
                .map(|u| u.query().map(str::to_owned))
        };
        if let Some(other) = self.urls.iter().find(|u| query(u) != query(self.url())) {
            problems.push(format!(
                "--receiver {other} has another query than --receiver {}: replicas of one \
                 endpoint share their secret, so their callback URLs carry the same query",
                self.url()
            ));
        }
        problems
    }
}

/// Whether callbacks can leave from `addr` (an address of this machine).
fn local(addr: IpAddr) -> Result<(), String> {
    std::net::UdpSocket::bind((addr, 0))
        .map(drop)
        .map_err(|e| crate::runner::not_local(addr, &e))
}

fn preflight_client(from: IpAddr) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(from)
        .timeout(PREFLIGHT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build an HTTP client sending from {from}: {e}"))
}

/// `HEAD url` from `from`: any HTTP answer shows the receiver is there.
async fn head(url: &str, from: IpAddr) -> Result<(), String> {
    let http = preflight_client(from)?;
    match http.head(url).send().await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "HEAD {url} from {from}: {} (is the receiver running, and listening there?)",
            transport_error(&e)
        )),
    }
}

/// The results URL for an id no task has must answer 404.
async fn no_such_result(template: &str) -> Result<(), String> {
    let url = template.replace("{id}", NO_SUCH_ID);
    let http = preflight_client(Sources::LOOPBACK.trusted)?;
    match http.get(&url).send().await {
        Ok(r) if r.status().as_u16() == 404 => Ok(()),
        Ok(r) => Err(format!(
            "GET {url} answered {}, for an id no task has: the results URL must answer 404 \
             when nothing is stored for an id (200 with the code when something is), or \
             what the receiver stored cannot be graded",
            r.status().as_u16()
        )),
        Err(e) => Err(format!("GET {url}: {}", transport_error(&e))),
    }
}

/// How long the results endpoint may take to say what it stored for one task.
const RESULTS_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {}s", RESULTS_TIMEOUT.as_secs())
    } else if e.is_connect() {
        // The innermost cause says which: refused, unreachable, an address not assignable.
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let cause = cause.to_string();
        if cause.contains("refused") {
            "connection refused".into()
        } else {
            format!("cannot connect ({cause})")
        }
    } else {
        "the request failed".into()
    }
}

pub(super) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
