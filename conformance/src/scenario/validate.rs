//! From [`RawScenario`] to [`Scenario`]: every value range and every combination that cannot
//! run is refused here, before anything starts, with the file, line and column of the value
//! at fault.
//!
//! The checks run in a fixed order (name, workload, value ranges, strategy, injections, the
//! mock's own settings, the dialect), so a file with several problems always reports the
//! same one first.

use std::{ops::Range, path::Path, time::Duration};

use captchaai_mock::{
    AccountConfig, Config as MockConfig, ConfigError, Dialect, TaskKind, TomlLocator,
};

use super::{
    Expect, Injection, ReceiverEnv, SCENARIO_KEY, Scenario, ScenarioError, SubjectSettings,
    WorkTask,
    bounds::{self, MAX_PINGBACK_ATTEMPTS, PerTask},
    raw::{RawScenario, RawTaskGroup, ScenarioKind, StrategyName, SubmitPattern},
};

/// The most tasks a workload may hold.
const MAX_TASKS: u64 = 1_000_000;
/// The longest a scenario's submissions (or batch, or injections) may stretch
/// in simulated time.
const MAX_SIMULATED: Duration = Duration::from_secs(30 * 86_400);
/// The longest deadline (and slow-receiver latency) a scenario may set.
const MAX_DEADLINE: Duration = Duration::from_secs(7 * 86_400);

type Checked<T> = Result<T, Box<ScenarioError>>;

/// Validates a parsed scenario file.
pub(super) fn validate(raw: RawScenario, text: &str, path: &Path) -> Checked<Scenario> {
    let v = Validator { text, path };
    v.name(&raw)?;
    let total = v.workload(&raw)?;
    v.ranges(&raw)?;
    v.strategy(&raw)?;
    v.injections(&raw, total)?;
    let mock = v.mock_config(&raw, total)?;
    let tasks = expand(raw.workload.tasks.get_ref(), total);
    v.dialect(&raw)?;
    Ok(build(raw, path, mock, tasks))
}

/// Simulated time from the first of `tasks` submits to the last.
pub(super) fn submit_span(pattern: &SubmitPattern, tasks: u64) -> Duration {
    let gaps = u32::try_from(tasks.saturating_sub(1)).unwrap_or(u32::MAX);
    match *pattern {
        SubmitPattern::AllAtOnce => Duration::ZERO,
        SubmitPattern::Every(d) => d.saturating_mul(gaps),
        SubmitPattern::PerSecond(n) => Duration::from_secs_f64(gaps as f64 / n.max(1) as f64),
    }
}

/// `4,000,000`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn days(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The file being validated, for errors that point into it.
struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    /// An error at `span` (none when the span is empty).
    fn err(&self, span: Range<usize>, msg: String, help: Option<&str>) -> Box<ScenarioError> {
        Box::new(ScenarioError::new(
            self.path,
            self.text,
            (span.end > 0).then_some(span),
            msg,
            help.map(str::to_owned),
        ))
    }

    /// Where a field's value is, for checks on values serde took without a span.
    fn at(&self, field: &str) -> Range<usize> {
        TomlLocator::new(self.text).span(field).unwrap_or(0..0)
    }

    /// The name is kebab-case.
    fn name(&self, raw: &RawScenario) -> Checked<()> {
        let name = raw.name.get_ref();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(self.err(
                raw.name.span(),
                format!("name {name:?} must be kebab-case (a-z, 0-9, -)"),
                None,
            ));
        }
        Ok(())
    }

    /// The workload has tasks, at most [`MAX_TASKS`], and its submissions and batch deadline
    /// fit in [`MAX_SIMULATED`]; gives the number of tasks.
    fn workload(&self, raw: &RawScenario) -> Checked<u64> {
        let groups = raw.workload.tasks.get_ref();
        if groups.is_empty() {
            return Err(self.err(
                raw.workload.tasks.span(),
                "workload.tasks is empty: a scenario needs at least one task".into(),
                None,
            ));
        }
        let total: u64 = groups.iter().map(|g| g.count as u64).sum();
        if groups.iter().any(|g| g.count == 0) || total > MAX_TASKS {
            return Err(self.err(
                raw.workload.tasks.span(),
                format!(
                    "every task group needs a count of at least 1 and the workload at most {MAX_TASKS} tasks (got {total})"
                ),
                None,
            ));
        }
        match raw.workload.submit {
            SubmitPattern::PerSecond(0) => {
                return Err(self.err(
                    self.at("workload.submit"),
                    "workload.submit per-second must be at least 1".into(),
                    None,
                ));
            }
            SubmitPattern::Every(d) if submit_span(&raw.workload.submit, total) > MAX_SIMULATED => {
                return Err(self.err(
                    self.at("workload.submit"),
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
            return Err(self.err(
                self.at("workload.batch-deadline"),
                format!(
                    "workload.batch-deadline must be above zero and at most {}",
                    days(MAX_SIMULATED)
                ),
                None,
            ));
        }
        Ok(total)
    }

    /// Single values in range: the deadline, the time scale, threads, the receiver's
    /// failure status and latency.
    fn ranges(&self, raw: &RawScenario) -> Checked<()> {
        let deadline = &raw.subject.deadline;
        if deadline.get_ref().is_zero() || *deadline.get_ref() > MAX_DEADLINE {
            return Err(self.err(
                deadline.span(),
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
            return Err(self.err(
                self.at("mock.time-scale"),
                format!(
                    "mock.time-scale must be at least 1 (simulated seconds per real second), got {}",
                    raw.mock.time_scale
                ),
                None,
            ));
        }
        if raw.mock.threads == 0 {
            return Err(self.err(
                self.at("mock.threads"),
                "mock.threads must be at least 1 (to grade a key the service refuses, set `key = \"unknown\"` under [subject])".into(),
                None,
            ));
        }
        if raw
            .receiver
            .fail_status
            .is_some_and(|c| !(400..=599).contains(&c))
        {
            return Err(self.err(
                self.at("receiver.fail-status"),
                "receiver.fail-status must be an HTTP error status, 400 to 599".into(),
                None,
            ));
        }
        if raw.receiver.latency.is_some_and(|d| d > MAX_DEADLINE) {
            return Err(self.err(
                self.at("receiver.latency"),
                format!("receiver.latency must be at most {}", days(MAX_DEADLINE)),
                None,
            ));
        }
        Ok(())
    }

    /// The strategy fits the rest: fallback before the deadline, a router and injections
    /// need pingbacks, a client scenario polls, a receiver scenario does not.
    fn strategy(&self, raw: &RawScenario) -> Checked<()> {
        let s = &raw.subject;
        let strategy = *s.strategy.get_ref();
        let deadline = *s.deadline.get_ref();
        let fallback_after = *s.fallback_after.get_ref();
        if strategy == StrategyName::PingbackWithFallback && fallback_after >= deadline {
            return Err(self.err(
                s.fallback_after.span(),
                format!(
                    "subject.fallback-after ({}) must be shorter than subject.deadline ({}): polling would never start",
                    humantime::format_duration(fallback_after),
                    humantime::format_duration(deadline)
                ),
                Some("lower fallback-after or raise deadline"),
            ));
        }
        let poll_only = strategy == StrategyName::PollOnly;
        let refused = if *s.router.get_ref() && poll_only {
            Some((
                s.router.span(),
                "subject.router needs a pingback strategy: the router is fed by the pingback store",
            ))
        } else if raw.kind == ScenarioKind::Client && strategy == StrategyName::PingbackOnly {
            Some((
                s.strategy.span(),
                "a `kind = \"client\"` scenario grades what the client does with the API and needs `strategy = \"poll-only\"` or `\"pingback-with-fallback\"`",
            ))
        } else if raw.kind == ScenarioKind::Receiver && poll_only {
            Some((
                s.strategy.span(),
                "a `kind = \"receiver\"` scenario needs pingbacks: use a pingback strategy",
            ))
        } else if *s.wait.get_ref() && !(raw.kind == ScenarioKind::Receiver && s.cross_replica) {
            Some((
                s.wait.span(),
                "subject.wait needs `kind = \"receiver\"` and `cross-replica = true`: the long poll is opened on another replica than the callback's",
            ))
        } else if !raw.inject.is_empty() && poll_only {
            Some((
                s.strategy.span(),
                "`inject` sends callbacks to the receiver: the strategy must use pingbacks",
            ))
        } else {
            None
        };
        match refused {
            Some((span, message)) => Err(self.err(span, message.into(), None)),
            None => Ok(()),
        }
    }

    /// Each forged callback is within [`MAX_SIMULATED`] and names a task of the workload.
    fn injections(&self, raw: &RawScenario, total: u64) -> Checked<()> {
        for (i, inj) in raw.inject.iter().enumerate() {
            if inj.at > MAX_SIMULATED {
                return Err(self.err(
                    self.at(&format!("inject[{i}].at")),
                    format!("inject.at must be at most {}", days(MAX_SIMULATED)),
                    None,
                ));
            }
            if inj.task == 0 || inj.task > total {
                return Err(self.err(
                    self.at(&format!("inject[{i}].task")),
                    format!(
                        "inject.task {} is not a task ordinal (1..={total})",
                        inj.task
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// The mock's configuration for the scenario, validated by the mock's own rules (an
    /// error names the scenario's key for the field).
    fn mock_config(&self, raw: &RawScenario, total: u64) -> Checked<MockConfig> {
        let m = &raw.mock;
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
        mock.api.rules = raw.api_faults.clone();
        mock.pingback.retry = raw.pingback.retry.clone();
        mock.pingback.attempt_timeout = raw.pingback.attempt_timeout;
        // Every attempt the rules allow is kept (the checks read them all), and every
        // callback may wait in the queue at once without being shed.
        let worst = self.pingback_bound(raw, total)?;
        mock.pingback.journal_capacity = usize::try_from(total * worst.attempts)
            .unwrap_or(usize::MAX)
            .max(10_000);
        mock.pingback.queue_capacity = usize::try_from(total * worst.callbacks)
            .unwrap_or(usize::MAX)
            .max(mock.pingback.queue_capacity);
        mock.journal.capacity = (total as usize * 64).clamp(10_000, 4_000_000);
        // One receiver host takes every callback of a run, and the journals are the evidence
        // the checks read: neither the per-host queue bound nor the journal's byte bound
        // (meant for a mock strangers can reach) may cut a run short.
        mock.pingback.queue_capacity_per_host = mock.pingback.queue_capacity;
        mock.journal.max_bytes = usize::MAX;
        if let Err(e) = mock.validate() {
            return Err(match e {
                ConfigError::Invalid { field, message, .. } => {
                    let field = scenario_field(&field);
                    self.err(self.at(&field), format!("{field}: {message}"), None)
                }
                e => self.err(0..0, format!("mock settings: {e}"), None),
            });
        }
        Ok(mock)
    }

    /// The worst task the fault rules allow, when the whole workload doing it fits in
    /// [`MAX_PINGBACK_ATTEMPTS`]; otherwise an error at the rule (or retry policy) that
    /// makes it too many.
    fn pingback_bound(&self, raw: &RawScenario, total: u64) -> Checked<PerTask> {
        let worst = bounds::worst_task(&raw.faults, &raw.pingback.retry);
        let all = total.saturating_mul(worst.attempts);
        if all <= MAX_PINGBACK_ATTEMPTS {
            return Ok(worst);
        }
        let (span, cause) = match worst.rule {
            Some(i) => (
                self.at(&format!("faults[{i}].fault")),
                format!("faults[{i}]"),
            ),
            None => (self.at("pingback.retry"), "pingback.retry".to_owned()),
        };
        Err(self.err(
            span,
            format!(
                "too many pingback attempts for one run: {cause} allows up to {} ({total} task(s) x {} callback(s) x {} attempt(s) each), more than the {} a run can journal and grade",
                group(all),
                worst.callbacks,
                worst.attempts / worst.callbacks.max(1),
                group(MAX_PINGBACK_ATTEMPTS)
            ),
            Some("lower the task count, the duplicate copies or the retry attempts, or split the workload into several scenarios"),
        ))
    }

    /// hCaptcha, GeeTest v4 and coordinates tasks need the 2captcha dialect.
    fn dialect(&self, raw: &RawScenario) -> Checked<()> {
        let groups = raw.workload.tasks.get_ref();
        let two_captcha_only = |k: TaskKind| {
            matches!(
                k,
                TaskKind::Hcaptcha | TaskKind::GeetestV4 | TaskKind::Coordinates
            )
        };
        if raw.mock.dialect != Dialect::TwoCaptcha
            && let Some(i) = groups.iter().position(|g| two_captcha_only(g.method))
        {
            let what = match groups[i].method {
                TaskKind::Hcaptcha => {
                    "hcaptcha exists only in the 2captcha dialect (CaptchaAI answers ERROR_SERVER_ERROR)"
                }
                TaskKind::GeetestV4 => {
                    "geetest-v4 exists only in the 2captcha dialect (CaptchaAI answers ERROR_SERVER_ERROR)"
                }
                _ => {
                    "coordinates exists only in the 2captcha dialect (CaptchaAI reads the image as a normal captcha)"
                }
            };
            return Err(self.err(
                self.at(&format!("workload.tasks[{i}].method")),
                what.into(),
                Some("set `dialect = \"2captcha\"` under [mock]"),
            ));
        }
        Ok(())
    }
}

/// The scenario key of a mock config field: a scenario's `[mock]` table is flat
/// where the mock's config nests (`solving.unsolvable-rate` is
/// `mock.unsolvable-rate`), and its one account is `[mock]` itself.
fn scenario_field(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("api.rules") {
        return format!("api-faults{rest}");
    }
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

/// One [`WorkTask`] per task of each group, numbered from 1 in order.
fn expand(groups: &[RawTaskGroup], total: u64) -> Vec<WorkTask> {
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
    tasks
}

/// The validated scenario; its id is `<folder>/<file stem>`.
fn build(raw: RawScenario, path: &Path, mock: MockConfig, tasks: Vec<WorkTask>) -> Scenario {
    let name = raw.name.get_ref().clone();
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
    let s = &raw.subject;
    Scenario {
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
            strategy: *s.strategy.get_ref(),
            fallback_after: *s.fallback_after.get_ref(),
            deadline: *s.deadline.get_ref(),
            key: s.key,
            secret: s.secret,
            registered_only: s.registered_only,
            allow_list: s.allow_list,
            cross_replica: s.cross_replica,
            wait: *s.wait.get_ref(),
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
    }
}
