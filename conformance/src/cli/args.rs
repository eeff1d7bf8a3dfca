//! The flags of `run` and `chaos`, their value parsers, and the subject they select.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::ValueEnum;

use crate::subject::{
    ExternalClient, ExternalReceiver, Reference, ReferenceOnRedis, Sources, Subject,
};

/// Who is graded: the reference subject, an external receiver, or a client program.
#[derive(Debug, clap::Args)]
pub(super) struct SubjectArgs {
    #[command(flatten)]
    pub(super) receiver: ReceiverArgs,
    #[command(flatten)]
    pub(super) client: ClientArgs,
    /// Keep the reference subject's received results in Redis at this URL (`redis://host:port/db`, Redis 7 or later) instead of memory: each run under a key prefix of its own, its keys expiring six hours after the longest the run could last. Checked before the run. Use a Redis for tests: nothing is flushed.
    #[arg(long, value_name = "URL", conflicts_with_all = ["receiver", "client_cmd"], value_parser = redis_url)]
    pub(super) reference_store: Option<String>,
}

/// An external pingback endpoint (run and chaos).
#[derive(Debug, clap::Args)]
pub(super) struct ReceiverArgs {
    /// Grade the pingback endpoint at this URL (receiver scenarios only); once per replica of one endpoint: callbacks are spread over them.
    #[arg(long, value_parser = http_url)]
    pub(super) receiver: Vec<String>,
    /// With --receiver: `http://host/results/{id}` answers 200 with the stored code, 404 if none (once per replica, in the same order: each is read from another replica than the one the callback went to).
    #[arg(long, requires = "receiver", value_parser = id_template)]
    pub(super) results_url: Vec<String>,
    /// With --receiver: the harness POSTs each task id to `http://host/register/{id}` after submitting it (once per replica, in the same order: each id is registered on another replica than the one its callback goes to).
    #[arg(long, requires = "receiver", value_parser = id_template)]
    pub(super) register_url: Vec<String>,
    /// With --receiver: `http://host/results/{id}?wait=30s` long-polls for the result, 200 with the code once stored (once per replica, in the same order): in scenarios that set `wait`, the harness opens it on another replica than the callback's before the callback is sent, and grades `wait-woken`.
    #[arg(long, requires = "receiver", value_parser = id_template)]
    pub(super) wait_url: Vec<String>,
    /// With --receiver: how fast a valid callback must be acknowledged (real time).
    #[arg(long, value_parser = positive_duration, default_value = "1s")]
    pub(super) latency_budget: Duration,
    /// With --receiver: the receiver accepts callbacks from this address only; genuine pingbacks leave from it and refusing others is graded [default source: 127.0.0.1].
    #[arg(long, requires = "receiver")]
    pub(super) trusted_source: Option<IpAddr>,
    /// With --receiver: the address forged untrusted-source callbacks leave from.
    #[arg(long, requires = "receiver", default_value_t = Sources::LOOPBACK.untrusted)]
    pub(super) spoof_from: IpAddr,
}

/// An external client program (run only: chaos varies pingback faults, which a polling
/// client never sees).
#[derive(Debug, Default, clap::Args)]
pub(super) struct ClientArgs {
    /// Grade a client program run with `sh -c` (polling client scenarios only; see the README for the contract).
    #[arg(long, conflicts_with = "receiver", value_parser = non_empty)]
    pub(super) client_cmd: Option<String>,
    /// With --client-cmd: serve the mock over HTTPS and point the child's CA variables at its CA.
    #[arg(long, requires = "client_cmd")]
    pub(super) tls: bool,
}

impl SubjectArgs {
    /// The external receiver (its replicas) `--receiver` names, if it does.
    pub(super) fn external_receiver(&self) -> Option<ExternalReceiver> {
        let r = &self.receiver;
        (!r.receiver.is_empty()).then(|| ExternalReceiver {
            urls: r.receiver.clone(),
            results_urls: r.results_url.clone(),
            register_urls: r.register_url.clone(),
            wait_urls: r.wait_url.clone(),
            latency_budget: r.latency_budget,
            trusted_source: r.trusted_source,
            spoof_from: r.spoof_from,
        })
    }

    pub(super) fn subject(&self) -> Box<dyn Subject> {
        if let Some(receiver) = self.external_receiver() {
            Box::new(receiver)
        } else if let Some(cmd) = &self.client.client_cmd {
            Box::new(ExternalClient {
                cmd: cmd.clone(),
                tls: self.client.tls,
            })
        } else if let Some(reference) = self.reference_on_redis() {
            Box::new(reference)
        } else {
            Box::new(Reference)
        }
    }

    /// The reference subject on Redis `--reference-store` names, if it does.
    pub(super) fn reference_on_redis(&self) -> Option<ReferenceOnRedis> {
        // The URL was parsed already (`redis_url`).
        let url = self.reference_store.as_deref()?;
        ReferenceOnRedis::new(url).ok()
    }

    /// The flags a replay command needs, shell-quoted.
    pub(super) fn replay_args(&self) -> String {
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let r = &self.receiver;
        let mut v = Vec::new();
        if !r.receiver.is_empty() {
            for u in &r.receiver {
                v.push(format!("--receiver {}", q(u)));
            }
            for u in &r.results_url {
                v.push(format!("--results-url {}", q(u)));
            }
            for u in &r.register_url {
                v.push(format!("--register-url {}", q(u)));
            }
            for u in &r.wait_url {
                v.push(format!("--wait-url {}", q(u)));
            }
            if r.latency_budget != DEFAULT_LATENCY_BUDGET {
                v.push(format!(
                    "--latency-budget {}",
                    humantime::format_duration(r.latency_budget)
                ));
            }
            if let Some(a) = r.trusted_source {
                v.push(format!("--trusted-source {a}"));
            }
            if r.spoof_from != Sources::LOOPBACK.untrusted {
                v.push(format!("--spoof-from {}", r.spoof_from));
            }
        }
        if let Some(reference) = self.reference_on_redis() {
            // Never a password in a report: the replay asks for it back.
            v.push(format!("--reference-store {}", q(&reference.url())));
        }
        if let Some(c) = &self.client.client_cmd {
            v.push(format!("--client-cmd {}", q(c)));
            if self.client.tls {
                v.push("--tls".into());
            }
        }
        v.join(" ")
    }
}

/// A duration above zero.
fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be above zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// A value that is not empty (or only blanks).
fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_owned())
    }
}

const DEFAULT_LATENCY_BUDGET: Duration = Duration::from_secs(1);

/// An absolute `http://` or `https://` URL with a host: a mistyped receiver
/// URL would otherwise grade nothing (every callback fails to send).
fn http_url(s: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(s).map_err(|e| format!("not a URL ({e}): {s:?}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "needs an http:// or https:// URL with a host, got {s:?}"
        ));
    }
    Ok(s.to_owned())
}

/// A Redis URL the store accepts.
fn redis_url(s: &str) -> Result<String, String> {
    ReferenceOnRedis::new(s)?;
    Ok(s.to_owned())
}

/// A URL with `{id}` where the task id goes.
fn id_template(s: &str) -> Result<String, String> {
    if !s.contains("{id}") {
        return Err(format!("needs `{{id}}` where the task id goes, got {s:?}"));
    }
    http_url(&s.replace("{id}", "1"))?;
    Ok(s.to_owned())
}

#[derive(Debug, clap::Args)]
pub(super) struct ChaosArgs {
    #[command(flatten)]
    pub(super) receiver: ReceiverArgs,
    /// Generated cases to try (before shrinking).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub(super) runs: u32,
    /// Seed of the case generator.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Stop trying new cases after this much wall time.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    pub(super) budget: Duration,
    /// Where to write the shrunk failing scenario.
    #[arg(long, default_value = "chaos-failures")]
    pub(super) out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(super) struct RunArgs {
    /// Scenario files, folders or built-in names: `builtin:<area>/<name>`, `builtin:<area>` (default: the built-in suite, `builtin:`).
    pub(super) paths: Vec<PathBuf>,
    /// Seed for every scenario, overriding the files' seeds.
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Scenarios run at once (default: the number of CPUs; 1 with --receiver, so scenarios do not load the one endpoint with each other's callbacks).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u16).range(1..))]
    pub(super) jobs: Option<u16>,
    /// Only scenarios whose name, id or tag contains this (repeatable: any).
    #[arg(long)]
    pub(super) filter: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub(super) format: Format,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    pub(super) junit: Option<PathBuf>,
    /// Also write the JSON report here.
    #[arg(long)]
    pub(super) json: Option<PathBuf>,
    /// Also write the HTML report here: one self-contained page with each scenario's timeline.
    #[arg(long)]
    pub(super) html: Option<PathBuf>,
    /// Which scenarios' whole timeline the JSON and HTML reports carry: `failed` those not OK (FAILED, NOT-GRADED, NON-STRICT), `all` every scenario, `none` no scenario (each check's evidence is always there).
    #[arg(long, value_enum, default_value_t = TimelineArg::Failed)]
    pub(super) timeline: TimelineArg,
    /// Report wall times as 0 (for byte-identical reports of the same seed).
    #[arg(long)]
    pub(super) redact_timings: bool,
    /// Show expected/actual and evidence for NON-STRICT checks and every schedule line.
    #[arg(long, short = 'v')]
    pub(super) verbose: bool,
    #[command(flatten)]
    pub(super) subject: SubjectArgs,
}

/// `--timeline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum TimelineArg {
    Failed,
    All,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    Human,
    Json,
}
