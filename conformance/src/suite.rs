//! Loading a suite and running it: scenarios in parallel (`--jobs`), each on
//! its own runtime with its own mock and receiver, reported in scenario order
//! whatever order they finish in.
//!
//! [`run_one`] is the whole flow for one scenario (runner, checks, report) and the entry
//! point for a Rust subject: the CLI, chaos mode and the tests all go through it.

use std::{
    collections::BTreeMap,
    io::IsTerminal,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
};

use crate::{
    builtin, checks,
    report::{LatencyReport, ScenarioReport, SuiteReport},
    runner,
    scenario::{self, Scenario, ScenarioError},
    subject::Subject,
};

/// How to run a suite.
#[derive(Clone, Debug, Default)]
pub struct SuiteOptions {
    /// Overrides every scenario's seed.
    pub seed: Option<u64>,
    /// Scenarios run at once (at least 1).
    pub jobs: usize,
    /// Report wall times as 0, so two reports of the same run compare byte for byte.
    pub redact_timings: bool,
    /// Show a progress bar (only on a terminal, never in CI).
    pub progress: bool,
    /// Extra arguments the replay command needs (e.g. `--receiver URL`).
    pub replay_args: String,
    /// Which scenarios keep their run's whole timeline in their report
    /// ([`ScenarioReport::timeline`]), for the JSON and HTML reports.
    pub timelines: Timelines,
}

/// Which scenarios' reports carry the run's whole timeline. A timeline costs about a
/// hundred bytes per event in memory and more in a JSON report (a 100,000-task run has
/// over 300,000 events), so a large run that passes is reported without one unless asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timelines {
    /// None: each check's evidence only.
    #[default]
    None,
    /// Scenarios whose verdict is not OK: FAILED, NOT-GRADED or NON-STRICT (the evidence
    /// of a failure, in context).
    Failed,
    /// Every scenario.
    All,
}

impl Timelines {
    /// Whether a scenario with this verdict keeps its timeline.
    pub fn keeps(self, verdict: checks::Verdict) -> bool {
        match self {
            Timelines::None => false,
            Timelines::Failed => verdict != checks::Verdict::Ok,
            Timelines::All => true,
        }
    }
}

/// Why a suite could not load.
#[derive(Debug)]
pub enum LoadError {
    /// A path does not exist or cannot be read.
    Io(std::io::Error),
    /// Invalid scenario files (every one of them, not just the first).
    Invalid(Vec<ScenarioError>),
}

/// Discovers, parses and validates every scenario under `paths`; names must be unique. A
/// path starting with `builtin:` names scenarios of the built-in suite: `builtin:` all of
/// them, `builtin:<area>` an area, `builtin:<area>/<name>` one.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Scenario>, LoadError> {
    let (builtin, disk): (Vec<&PathBuf>, Vec<&PathBuf>) =
        paths.iter().partition(|p| builtin::name_in(p).is_some());
    let builtin = builtin::select(builtin.iter().filter_map(|p| builtin::name_in(p)))
        .map_err(LoadError::Io)?;
    let disk: Vec<PathBuf> = disk.into_iter().cloned().collect();
    let files = if disk.is_empty() {
        Vec::new()
    } else {
        scenario::discover(&disk).map_err(LoadError::Io)?
    };
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let loaded = builtin
        .iter()
        .map(builtin::File::load)
        .chain(files.iter().map(|f| scenario::load(f)));
    for s in loaded {
        match s {
            Ok(s) => ok.push(s),
            Err(e) => errors.push(*e),
        }
    }
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for s in &ok {
        if let Some(first) = names.insert(s.name.clone(), s.path.clone()) {
            let text = builtin::text_of(&s.path).map_or_else(
                || std::fs::read_to_string(&s.path).unwrap_or_default(),
                str::to_owned,
            );
            errors.push(scenario_dup_error(&s.path, &text, &s.name, &first));
        }
    }
    if errors.is_empty() {
        ok.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(ok)
    } else {
        Err(LoadError::Invalid(errors))
    }
}

fn scenario_dup_error(
    path: &std::path::Path,
    text: &str,
    name: &str,
    first: &std::path::Path,
) -> ScenarioError {
    let mut e = ScenarioError::new(
        path,
        text,
        captchaai_mock::TomlLocator::new(text).span("name"),
        format!(
            "scenario name {name:?} is already used by {}",
            first.display()
        ),
        Some("scenario names must be unique in a suite".into()),
    );
    e.label = "duplicate name".into();
    e
}

/// Runs one scenario and grades it.
pub fn run_one(
    scenario: Arc<Scenario>,
    subject: &dyn Subject,
    opts: &SuiteOptions,
) -> ScenarioReport {
    let seed = opts.seed.unwrap_or(scenario.seed);
    let replay = format!(
        "captchaai-conformance run {} --seed {seed}{}",
        shell_word(&scenario.path.display().to_string()),
        if opts.replay_args.is_empty() {
            String::new()
        } else {
            format!(" {}", opts.replay_args)
        }
    );
    let base = ScenarioReport {
        id: scenario.id.clone(),
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        path: scenario.path.display().to_string(),
        tags: scenario.tags.clone(),
        seed,
        verdict: checks::Verdict::Ok,
        skipped: None,
        simulated_ms: 0,
        wall_ms: 0,
        callbacks: 0,
        schedule: Vec::new(),
        latency: None,
        checks: Vec::new(),
        replay,
        timeline: Vec::new(),
    };
    let supported = if scenario.subject.cross_replica && subject.replicas() < 2 {
        Err(
            "a cross-replica scenario: needs two or more replicas of one endpoint \
             (--receiver given once per replica)"
                .to_owned(),
        )
    } else {
        subject.supports(&scenario)
    };
    if let Err(why) = supported {
        return ScenarioReport {
            verdict: checks::Verdict::Skipped,
            skipped: Some(why),
            replay: String::new(),
            ..base
        };
    }
    #[allow(clippy::disallowed_methods)] // wall time of the run, for the report only
    let started = std::time::Instant::now();
    let mut record = runner::run(scenario, subject, seed);
    let wall_ms = if opts.redact_timings {
        0
    } else {
        started.elapsed().as_millis() as u64
    };
    let checks = checks::run_all(&record);
    let callbacks = record
        .timeline
        .entries
        .iter()
        .filter(|e| matches!(&e.event, crate::timeline::Event::Delivery { outcome, .. } if outcome.was_sent()))
        .count() as u64;
    let schedule = record
        .truth
        .values()
        .filter_map(|t| t.schedule.as_ref())
        .filter(|s| s.rule.is_some())
        .map(|s| s.describe())
        .collect();
    let latency = record.caps.latency_budget.map(|budget| {
        LatencyReport::new(
            budget,
            record.scenario.mock.pingback.attempt_timeout,
            record.time_scale,
            &checks::answer_times(&record),
            opts.redact_timings,
        )
    });
    let verdict = checks::overall(&checks);
    let timeline = if opts.timelines.keeps(verdict) {
        std::mem::take(&mut record.timeline.entries)
    } else {
        Vec::new()
    };
    ScenarioReport {
        verdict,
        simulated_ms: record.ended_at_ms,
        timeline,
        wall_ms,
        callbacks,
        schedule,
        latency,
        checks,
        ..base
    }
}

/// Runs scenarios in parallel and calls `on_report` for each, in scenario order.
pub(crate) fn run_suite(
    scenarios: Vec<Scenario>,
    subject: &dyn Subject,
    opts: &SuiteOptions,
    mut on_report: impl FnMut(&ScenarioReport),
) -> SuiteReport {
    #[allow(clippy::disallowed_methods)] // wall time of the suite, for the report only
    let started = std::time::Instant::now();
    let total = scenarios.len();
    let scenarios: Vec<Arc<Scenario>> = scenarios.into_iter().map(Arc::new).collect();
    let next = AtomicUsize::new(0);
    let bar = progress_bar(opts.progress, total);
    let (tx, rx) = mpsc::channel::<(usize, ScenarioReport)>();
    let jobs = opts.jobs.max(1).min(total.max(1));
    let mut ordered: Vec<Option<ScenarioReport>> = (0..total).map(|_| None).collect();
    let bar = Mutex::new(bar);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let scenarios = &scenarios;
            let next = &next;
            let bar = &bar;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(s) = scenarios.get(i) else { break };
                    if let Some(b) = bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                        b.set_message(s.id.clone());
                    }
                    let r = run_one(s.clone(), subject, opts);
                    if let Some(b) = bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                        b.inc(1);
                    }
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut emitted = 0;
        for (i, r) in rx {
            ordered[i] = Some(r);
            while emitted < total {
                match &ordered[emitted] {
                    Some(r) => {
                        if let Some(b) = bar.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                            b.suspend(|| on_report(r));
                        } else {
                            on_report(r);
                        }
                        emitted += 1;
                    }
                    None => break,
                }
            }
        }
    });
    if let Some(b) = bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
        b.finish_and_clear();
    }
    let wall_ms = if opts.redact_timings {
        0
    } else {
        started.elapsed().as_millis() as u64
    };
    SuiteReport::new(
        subject.name(),
        opts.seed,
        ordered.into_iter().flatten().collect(),
        wall_ms,
    )
}

/// A progress bar on a terminal outside CI, else none.
fn progress_bar(wanted: bool, total: usize) -> Option<indicatif::ProgressBar> {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if !wanted || ci || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    Some(bar)
}

/// `word` as one shell word: as it is when it holds only characters no shell treats
/// specially, else in single quotes.
pub(crate) fn shell_word(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:@%+=,".contains(&b));
    if plain {
        std::borrow::Cow::Borrowed(word)
    } else {
        std::borrow::Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word("scenarios/pingback/early.toml"),
            "scenarios/pingback/early.toml"
        );
        assert_eq!(
            shell_word("sp ace/it's $x.toml"),
            r"'sp ace/it'\''s $x.toml'"
        );
        assert_eq!(shell_word(""), "''");
    }
}
