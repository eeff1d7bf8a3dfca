//! Scenario files: loading, validation, discovery.
//!
//! A scenario is parsed into [`raw::RawScenario`] (serde, `deny_unknown_fields`),
//! then validated into [`Scenario`] before anything runs. Any problem becomes a
//! [`ScenarioError`]: a miette diagnostic naming the file, line and column with
//! a snippet of the offending text.

pub mod raw;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use captchaai_mock::{
    AccountConfig, Config as MockConfig, ConfigError, Dialect, FaultRule, TaskKind, TomlLocator,
};
use miette::{Diagnostic, NamedSource, SourceSpan};
use serde::Serialize;

pub use raw::{
    ExpectedOutcome, InjectedCallback, KeyChoice, RawScenario, ScenarioKind, StrategyName,
    SubmitPattern, Via,
};

/// The API key every scenario's mock account uses.
pub const SCENARIO_KEY: &str = "conformance-suite-key-0000000001";

/// A scenario that cannot be used, with where and why.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(captchaai_conformance::invalid_scenario))]
pub struct ScenarioError {
    /// The file's text, for the snippet.
    #[source_code]
    pub src: NamedSource<String>,
    /// Where.
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    /// What is wrong.
    pub message: String,
    /// The label under the snippet.
    pub label: String,
    /// How to fix it.
    #[help]
    pub help: Option<String>,
    /// File, line and column, e.g. `scenarios/a/b.toml:3:7`.
    pub location: String,
}

impl ScenarioError {
    pub(crate) fn new(
        path: &Path,
        text: &str,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let span = span.filter(|r| r.end <= text.len() && r.start <= r.end);
        let location = match &span {
            Some(r) => {
                let (line, col) = TomlLocator::new(text).line_col(r.start);
                format!("{}:{line}:{col}", path.display())
            }
            None => path.display().to_string(),
        };
        let message = message.into();
        ScenarioError {
            src: NamedSource::new(path.display().to_string(), text.to_owned()),
            label: short_label(&message),
            span: span.map(|r| {
                SourceSpan::from(r.start..r.end.max(r.start + 1).min(text.len().max(r.start + 1)))
            }),
            message: format!("{location}: {message}"),
            help,
            location,
        }
    }

    fn io(path: &Path, e: &std::io::Error) -> Self {
        ScenarioError::new(path, "", None, format!("cannot read: {e}"), None)
    }
}

/// The label under the snippet: the message itself when short, else its first clause.
fn short_label(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    if line.chars().count() <= 60 {
        return line.to_owned();
    }
    let cut = line
        .find([',', ':', '('])
        .filter(|&i| i >= 10)
        .unwrap_or(line.len().min(60));
    let mut end = cut.min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].trim_end().to_owned()
}

/// The scenario key of a mock config field: a scenario's `[mock]` table is flat
/// where the mock's config nests (`solving.unsolvable-rate` is
/// `mock.unsolvable-rate`), and its one account is `[mock]` itself.
fn scenario_field(field: &str) -> String {
    for (mock, scenario) in [
        ("solving.", "mock."),
        ("api.", "mock."),
        ("accounts[0].", "mock."),
        ("pingback.", "pingback."),
    ] {
        if let Some(rest) = field.strip_prefix(mock) {
            return format!("{scenario}{rest}");
        }
    }
    format!("mock.{field}")
}

/// One task of the workload.
#[derive(Clone, Debug, Serialize)]
pub struct WorkTask {
    /// Submission ordinal, from 1.
    pub ordinal: u64,
    /// Kind.
    pub kind: TaskKind,
    /// Parameter overrides.
    pub params: BTreeMap<String, String>,
    /// Router route.
    pub route: Option<String>,
}

/// The subject's settings, validated.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectSettings {
    /// Strategy.
    pub strategy: StrategyName,
    /// Quiet period before fallback polling.
    pub fallback_after: Duration,
    /// Deadline per task.
    pub deadline: Duration,
    /// Which key.
    pub key: KeyChoice,
    /// Shared secret in the callback URL.
    pub secret: bool,
    /// Registered ids only.
    pub registered_only: bool,
    /// Dispatch through the router.
    pub router: bool,
    /// `json=1`.
    pub json: bool,
}

/// Receiver-side faults.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReceiverEnv {
    /// Fail the first N callbacks.
    pub fail_first: u32,
    /// With this status.
    pub fail_status: u16,
    /// Hold each callback this long.
    pub latency: Option<Duration>,
}

/// A harness-sent callback.
#[derive(Clone, Debug, Serialize)]
pub struct Injection {
    /// When.
    pub at: Duration,
    /// What.
    pub callback: InjectedCallback,
    /// Task ordinal.
    pub task: u64,
}

/// Named expectations.
#[derive(Clone, Debug, Serialize)]
pub struct Expect {
    /// Outcome of every task.
    pub outcome: ExpectedOutcome,
    /// How results arrive.
    pub via: Via,
    /// Polls per task, at most.
    pub max_polls: Option<u32>,
    /// At least one busy rejection.
    pub busy_rejections: bool,
}

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `<area>/<file stem>`, e.g. `pingback/duplicates`.
    pub id: String,
    /// The file.
    pub path: PathBuf,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The folder the file sits in.
    pub area: String,
    /// Seed from the file.
    pub seed: u64,
    /// Which side it grades.
    pub kind: ScenarioKind,
    /// The mock configuration (seed set at run time).
    pub mock: MockConfig,
    /// Workload, one entry per task.
    pub tasks: Vec<WorkTask>,
    /// Submission spacing.
    pub submit: SubmitPattern,
    /// Deadline for the whole batch.
    pub batch_deadline: Option<Duration>,
    /// Subject settings.
    pub subject: SubjectSettings,
    /// Receiver-side faults.
    pub receiver: ReceiverEnv,
    /// Harness-sent callbacks.
    pub inject: Vec<Injection>,
    /// Expectations.
    pub expect: Expect,
}

impl Scenario {
    /// The fault rules.
    pub fn faults(&self) -> &[FaultRule] {
        &self.mock.pingback.rules
    }

    /// Simulated time from the first submit to the last.
    pub fn submit_span(&self) -> Duration {
        submit_span(&self.submit, self.tasks.len() as u64)
    }

    /// True when the scenario matches a `--filter` term (a substring of its name, id or a tag).
    pub fn matches(&self, filter: &str) -> bool {
        self.name.contains(filter)
            || self.id.contains(filter)
            || self.tags.iter().any(|t| t.contains(filter))
    }
}

/// Simulated time from the first of `tasks` submits to the last.
fn submit_span(pattern: &SubmitPattern, tasks: u64) -> Duration {
    let gaps = u32::try_from(tasks.saturating_sub(1)).unwrap_or(u32::MAX);
    match *pattern {
        SubmitPattern::AllAtOnce => Duration::ZERO,
        SubmitPattern::Every(d) => d.saturating_mul(gaps),
        SubmitPattern::PerSecond(n) => Duration::from_secs_f64(gaps as f64 / n.max(1) as f64),
    }
}

const MAX_TASKS: u64 = 100_000;
/// The longest a scenario's submissions (or batch, or injections) may stretch
/// in simulated time.
const MAX_SIMULATED: Duration = Duration::from_secs(30 * 86_400);
/// The longest deadline (and slow-receiver latency) a scenario may set.
const MAX_DEADLINE: Duration = Duration::from_secs(7 * 86_400);

/// Parses and validates a scenario's text.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, Box<ScenarioError>> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let help = e
            .message()
            .contains("unknown field")
            .then(|| "check the spelling against scenarios/schema.json".to_owned());
        // toml points an error in any `[[faults]]` rule at the first one.
        let (span, message) =
            match TomlLocator::new(text).failing_element::<FaultRule>("faults", &e) {
                Some((i, span)) => (Some(span), format!("faults[{i}]: {}", e.message())),
                None => (e.span(), e.message().to_owned()),
            };
        Box::new(ScenarioError::new(path, text, span, message, help))
    })?;
    validate(raw, text, path)
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Box<ScenarioError>> {
    let text = std::fs::read_to_string(path).map_err(|e| Box::new(ScenarioError::io(path, &e)))?;
    parse(&text, path)
}

fn validate(raw: RawScenario, text: &str, path: &Path) -> Result<Scenario, Box<ScenarioError>> {
    let err = |span: std::ops::Range<usize>, msg: String, help: Option<&str>| {
        Box::new(ScenarioError::new(
            path,
            text,
            (span.end > 0).then_some(span),
            msg,
            help.map(str::to_owned),
        ))
    };
    // Where a field's value is, for checks on values serde took without a span.
    let at = |field: &str| TomlLocator::new(text).span(field).unwrap_or(0..0);
    let name = raw.name.get_ref().clone();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(err(
            raw.name.span(),
            format!("name {name:?} must be kebab-case (a-z, 0-9, -)"),
            None,
        ));
    }
    let groups = raw.workload.tasks.get_ref();
    if groups.is_empty() {
        return Err(err(
            raw.workload.tasks.span(),
            "workload.tasks is empty: a scenario needs at least one task".into(),
            None,
        ));
    }
    let total: u64 = groups.iter().map(|g| g.count as u64).sum();
    if groups.iter().any(|g| g.count == 0) || total > MAX_TASKS {
        return Err(err(
            raw.workload.tasks.span(),
            format!(
                "every task group needs a count of at least 1 and the workload at most {MAX_TASKS} tasks (got {total})"
            ),
            None,
        ));
    }
    let days = |d: Duration| humantime::format_duration(d).to_string();
    match raw.workload.submit {
        SubmitPattern::PerSecond(0) => {
            return Err(err(
                at("workload.submit"),
                "workload.submit per-second must be at least 1".into(),
                None,
            ));
        }
        SubmitPattern::Every(d) if submit_span(&raw.workload.submit, total) > MAX_SIMULATED => {
            return Err(err(
                at("workload.submit"),
                format!(
                    "submitting {total} task(s) every {} takes longer than {}, the longest a run may cover",
                    days(d),
                    days(MAX_SIMULATED)
                ),
                None,
            ));
        }
        _ => {}
    }
    if raw
        .workload
        .batch_deadline
        .is_some_and(|d| d.is_zero() || d > MAX_SIMULATED)
    {
        return Err(err(
            at("workload.batch-deadline"),
            format!(
                "workload.batch-deadline must be above zero and at most {}",
                days(MAX_SIMULATED)
            ),
            None,
        ));
    }
    let s = &raw.subject;
    let strategy = *s.strategy.get_ref();
    let deadline = *s.deadline.get_ref();
    let fallback_after = *s.fallback_after.get_ref();
    if deadline.is_zero() || deadline > MAX_DEADLINE {
        return Err(err(
            s.deadline.span(),
            format!(
                "subject.deadline must be above zero and at most {}",
                days(MAX_DEADLINE)
            ),
            None,
        ));
    }
    // Another process sees the scenario in real time divided by the scale: below 1 a run
    // would take longer than the simulated time it covers (days, for a 1e-9 scale).
    if raw.mock.time_scale.is_finite() && raw.mock.time_scale < 1.0 {
        return Err(err(
            at("mock.time-scale"),
            format!(
                "mock.time-scale must be at least 1 (simulated seconds per real second), got {}",
                raw.mock.time_scale
            ),
            None,
        ));
    }
    if raw.mock.threads == 0 {
        return Err(err(
            at("mock.threads"),
            "mock.threads must be at least 1 (to grade a key the service refuses, set `key = \"unknown\"` under [subject])".into(),
            None,
        ));
    }
    if raw
        .receiver
        .fail_status
        .is_some_and(|c| !(400..=599).contains(&c))
    {
        return Err(err(
            at("receiver.fail-status"),
            "receiver.fail-status must be an HTTP error status, 400 to 599".into(),
            None,
        ));
    }
    if raw.receiver.latency.is_some_and(|d| d > MAX_DEADLINE) {
        return Err(err(
            at("receiver.latency"),
            format!("receiver.latency must be at most {}", days(MAX_DEADLINE)),
            None,
        ));
    }
    if strategy == StrategyName::PingbackWithFallback && fallback_after >= deadline {
        return Err(err(
            s.fallback_after.span(),
            format!(
                "subject.fallback-after ({}) must be shorter than subject.deadline ({}): polling would never start",
                humantime::format_duration(fallback_after),
                humantime::format_duration(deadline)
            ),
            Some("lower fallback-after or raise deadline"),
        ));
    }
    if *s.router.get_ref() && strategy == StrategyName::PollOnly {
        return Err(err(
            s.router.span(),
            "subject.router needs a pingback strategy: the router is fed by the pingback store"
                .into(),
            None,
        ));
    }
    if raw.kind == ScenarioKind::Client && strategy != StrategyName::PollOnly {
        return Err(err(
            s.strategy.span(),
            "a `kind = \"client\"` scenario grades polling etiquette and needs `strategy = \"poll-only\"`".into(),
            None,
        ));
    }
    if raw.kind == ScenarioKind::Receiver && strategy == StrategyName::PollOnly {
        return Err(err(
            s.strategy.span(),
            "a `kind = \"receiver\"` scenario needs pingbacks: use a pingback strategy".into(),
            None,
        ));
    }
    let m = &raw.mock;
    if !raw.inject.is_empty() && strategy == StrategyName::PollOnly {
        return Err(err(
            s.strategy.span(),
            "`inject` sends callbacks to the receiver: the strategy must use pingbacks".into(),
            None,
        ));
    }
    for (i, inj) in raw.inject.iter().enumerate() {
        if inj.at > MAX_SIMULATED {
            return Err(err(
                at(&format!("inject[{i}].at")),
                format!("inject.at must be at most {}", days(MAX_SIMULATED)),
                None,
            ));
        }
        if inj.task == 0 || inj.task > total {
            return Err(err(
                at(&format!("inject[{i}].task")),
                format!(
                    "inject.task {} is not a task ordinal (1..={total})",
                    inj.task
                ),
                None,
            ));
        }
    }

    let mut mock = MockConfig {
        seed: raw.seed,
        time_scale: m.time_scale,
        dialect: m.dialect,
        busy_threads: m.busy_threads,
        task_id: m.task_id,
        accounts: vec![AccountConfig {
            key: SCENARIO_KEY.to_owned(),
            threads: m.threads,
            balance: m.balance,
        }],
        ..MockConfig::default()
    };
    // The checkers read every task's ground truth after the run, which may
    // cover days of simulated time: results are kept longer than any run.
    mock.solving.result_ttl = MAX_SIMULATED * 3;
    mock.solving.unsolvable_rate = m.unsolvable_rate;
    mock.solving.unsolvable = m.unsolvable.clone();
    mock.solving.default_time = m.solve_time.clone();
    mock.solving.times = m.solve_times.clone();
    mock.api.server_error_rate = m.server_error_rate;
    mock.api.http_error_rate = m.http_error_rate;
    mock.api.rate_limits = m.rate_limits.clone();
    mock.pingback.rules = raw.faults.clone();
    mock.pingback.retry = raw.pingback.retry.clone();
    mock.pingback.attempt_timeout = raw.pingback.attempt_timeout;
    mock.pingback.journal_capacity = (total as usize * 8).clamp(10_000, 1_000_000);
    mock.journal.capacity = (total as usize * 64).clamp(10_000, 4_000_000);
    if let Err(e) = mock.validate() {
        return Err(match e {
            ConfigError::Invalid { field, message, .. } => {
                let field = scenario_field(&field);
                err(at(&field), format!("{field}: {message}"), None)
            }
            e => err(0..0, format!("mock settings: {e}"), None),
        });
    }

    let mut tasks = Vec::with_capacity(total as usize);
    for g in groups {
        for _ in 0..g.count {
            tasks.push(WorkTask {
                ordinal: tasks.len() as u64 + 1,
                kind: g.method,
                params: g.params.clone(),
                route: g.route.clone(),
            });
        }
    }
    if m.dialect != Dialect::TwoCaptcha
        && let Some(i) = groups.iter().position(|g| g.method == TaskKind::Hcaptcha)
    {
        return Err(err(
            at(&format!("workload.tasks[{i}].method")),
            "hcaptcha exists only in the 2captcha dialect (CaptchaAI answers ERROR_SERVER_ERROR)"
                .into(),
            Some("set `dialect = \"2captcha\"` under [mock]"),
        ));
    }

    let area = path
        .parent()
        .and_then(Path::file_name)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.clone());
    let id = if area.is_empty() {
        stem
    } else {
        format!("{area}/{stem}")
    };
    Ok(Scenario {
        id,
        path: path.to_owned(),
        name,
        description: raw.description,
        tags: raw.tags,
        area,
        seed: raw.seed,
        kind: raw.kind,
        mock,
        tasks,
        submit: raw.workload.submit,
        batch_deadline: raw.workload.batch_deadline,
        subject: SubjectSettings {
            strategy,
            fallback_after,
            deadline,
            key: s.key,
            secret: s.secret,
            registered_only: s.registered_only,
            router: *s.router.get_ref(),
            json: s.json,
        },
        receiver: ReceiverEnv {
            fail_first: raw.receiver.fail_first,
            fail_status: raw.receiver.fail_status.unwrap_or(500),
            latency: raw.receiver.latency,
        },
        inject: raw
            .inject
            .into_iter()
            .map(|i| Injection {
                at: i.at,
                callback: i.callback,
                task: i.task,
            })
            .collect(),
        expect: Expect {
            outcome: raw.expect.outcome,
            via: raw.expect.via,
            max_polls: raw.expect.max_polls,
            busy_rejections: raw.expect.busy_rejections,
        },
    })
}

/// Every `*.toml` file under the given files and folders, sorted, without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let p = entry?.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or folder", p.display()),
            ));
        }
    }
    out.sort();
    // The same file reached by two paths (`scenarios` and `./scenarios/a/b.toml`) is one file.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// The JSON schema of scenario files.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawScenario)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "dup"
description = "d"
seed = 7
[[faults]]
fault = { duplicate = { copies = 2 } }
[workload]
tasks = [{ method = "turnstile", count = 3 }]
"#;

    #[test]
    fn a_good_file_validates() {
        let s = parse(GOOD, Path::new("scenarios/pingback/dup.toml")).unwrap();
        assert_eq!(s.id, "pingback/dup");
        assert_eq!(s.tasks.len(), 3);
        assert_eq!(s.tasks[2].ordinal, 3);
        assert_eq!(s.mock.pingback.rules.len(), 1);
        assert_eq!(s.subject.strategy, StrategyName::PingbackWithFallback);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad = GOOD.replace("seed = 7", "seed = 7\nsede = 8");
        let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
        assert!(e.location.starts_with("x/y.toml:5:1"), "{}", e.location);
        assert!(e.message.contains("sede"), "{}", e.message);

        let bad = GOOD.replace(
            "fault = { duplicate = { copies = 2 } }",
            "fault = { duplicate = { copies = 0 } }",
        );
        let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
        assert!(
            e.message
                .contains("faults[0]: duplicate.copies must be between 1 and 100"),
            "{}",
            e.message
        );
        assert!(e.location.starts_with("x/y.toml:6:34"), "{}", e.location);

        // The second of two rules is found in its own table, not at the first.
        let bad = GOOD.replace(
            "[workload]",
            "[[faults]]\nprobability = 0.5\nfault = { duplicate = { copies = 500 } }\n[workload]",
        );
        let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
        assert!(
            e.message.contains("faults[1]: duplicate.copies"),
            "{}",
            e.message
        );
        assert!(e.location.ends_with(":9:34"), "{}", e.location);

        let bad = format!("{GOOD}[subject]\ndeadline = \"10s\"\nfallback-after = \"20s\"\n");
        let e = parse(&bad, Path::new("x/y.toml")).unwrap_err();
        assert!(
            e.message.contains("must be shorter than subject.deadline"),
            "{}",
            e.message
        );
        assert!(e.location.ends_with(":11:18"), "{}", e.location);
    }

    /// Values that parse but are out of range point at themselves, under the
    /// scenario's own key, not at the top of the file.
    #[test]
    fn range_errors_point_at_the_value() {
        let cases = [
            (
                format!("{GOOD}[mock]\nthreads = 2\nunsolvable-rate = 1.5\n"),
                "mock.unsolvable-rate: must be between 0 and 1",
                ":11:19",
            ),
            (
                format!("{GOOD}[mock.unsolvable]\ngeetest = -1.0\n"),
                "mock.unsolvable.geetest: must be between 0 and 1",
                ":10:11",
            ),
            (
                format!("{GOOD}[mock]\ntime-scale = 0.0\n"),
                "mock.time-scale must be at least 1",
                ":10:14",
            ),
            (
                format!("{GOOD}[pingback]\nattempt-timeout = \"0s\"\n"),
                "pingback.attempt-timeout: must be above zero",
                ":10:19",
            ),
            (
                format!(
                    "{GOOD}[[inject]]\nat = \"1s\"\ntask = 1\ncallback = \"spoofed\"\n\
                     [[inject]]\nat = \"1s\"\ntask = 4\ncallback = \"spoofed\"\n"
                ),
                "inject.task 4 is not a task ordinal (1..=3)",
                ":15:8",
            ),
            (
                GOOD.replace("method = \"turnstile\"", "method = \"hcaptcha\""),
                "hcaptcha exists only in the 2captcha dialect",
                ":8:21",
            ),
            (
                format!("{GOOD}[mock]\nthreads = 0\n"),
                "mock.threads must be at least 1",
                ":10:11",
            ),
            (
                format!("{GOOD}[receiver]\nfail-first = 1\nfail-status = 200\n"),
                "receiver.fail-status must be an HTTP error status",
                ":11:15",
            ),
            (
                format!(
                    "{GOOD}[pingback]\nretry = {{ fixed = {{ interval = \"1s\", attempts = 0 }} }}\n"
                ),
                "pingback.retry: retry attempts must be between 1 and 100",
                ":10:9",
            ),
            (
                format!("{GOOD}[mock.rate-limits]\nmax-user-turn = {{ submits = 0 }}\n"),
                "mock.rate-limits.max-user-turn: submits must be at least 1",
                ":10:17",
            ),
            (
                GOOD.replace(
                    "[workload]",
                    "[subject]\ndeadline = \"500000000000years\"\n[workload]",
                ),
                "subject.deadline must be above zero and at most 7days",
                ":8:12",
            ),
            (
                GOOD.replace("[workload]", "[workload]\nsubmit = { per-second = 0 }"),
                "per-second must be at least 1",
                ":8:10",
            ),
            (
                GOOD.replace(
                    "[workload]",
                    "[workload]\nsubmit = { every = \"1000years\" }",
                ),
                "takes longer than 30days",
                ":8:10",
            ),
        ];
        for (text, message, location) in cases {
            let e = parse(&text, Path::new("x/y.toml")).unwrap_err();
            assert!(e.message.contains(message), "{}\n{text}", e.message);
            assert!(e.location.ends_with(location), "{} {text}", e.location);
        }
        let ok = GOOD.replace("method = \"turnstile\"", "method = \"hcaptcha\"")
            + "[mock]\ndialect = \"2captcha\"\n";
        parse(&ok, Path::new("x/y.toml")).unwrap();
    }
}
