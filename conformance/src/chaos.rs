//! Chaos mode: many runs with generated fault schedules, the same invariants,
//! and a shrunk, replayable scenario file when something breaks.
//!
//! Cases are drawn by proptest strategies over the fault rules from one seed
//! (so a chaos run is itself replayable), each run is graded by the usual
//! checks, and a failing case is shrunk (fewer tasks, fewer and simpler
//! rules) to the smallest schedule that still fails. That case is written as
//! a scenario file the user can keep, with the command that replays it.
//!
//! It runs each generated case through the same flow as `run` ([`run_one`]); the
//! `chaos` command (`cli::chaos`) prints what it found.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use proptest::{
    prelude::*,
    test_runner::{
        Config as ProptestConfig, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
    },
};

use crate::{
    checks::Verdict,
    report::ScenarioReport,
    scenario::{self, ScenarioKind},
    subject::Subject,
    suite::{SuiteOptions, run_one},
};

/// One generated fault.
#[derive(Clone, Debug)]
pub(crate) enum ChaosFault {
    /// Identical copies.
    Duplicate {
        /// Copies.
        copies: u32,
    },
    /// A conflicting copy.
    Conflicting,
    /// A malformed callback first.
    Malformed(&'static str),
    /// A fixed delay, in seconds.
    Delay(u32),
    /// Dropped.
    Drop,
    /// Held for a reorder window.
    Reorder {
        /// Window size.
        window: u32,
    },
    /// Sent before the `in.php` answer reaches the client.
    Early,
    /// Retried on failure, 2 s apart.
    Retry {
        /// Attempts in all.
        attempts: u32,
    },
}

impl ChaosFault {
    fn toml(&self) -> String {
        match self {
            ChaosFault::Duplicate { copies } => {
                format!("{{ duplicate = {{ copies = {copies}, spacing = \"1s\" }} }}")
            }
            ChaosFault::Conflicting => {
                "{ duplicate = { copies = 1, spacing = \"1s\", conflicting = true } }".into()
            }
            ChaosFault::Malformed(k) => format!("{{ malformed = \"{k}\" }}"),
            ChaosFault::Delay(s) => format!("{{ delay = {{ fixed = \"{s}s\" }} }}"),
            ChaosFault::Drop => "\"drop\"".into(),
            ChaosFault::Reorder { window } => {
                format!("{{ reorder = {{ window = {window}, max-hold = \"5s\" }} }}")
            }
            ChaosFault::Early => "\"early\"".into(),
            ChaosFault::Retry { attempts } => {
                format!(
                    "{{ retry = {{ fixed = {{ interval = \"2s\", attempts = {attempts} }} }} }}"
                )
            }
        }
    }
}

/// One generated case.
#[derive(Clone, Debug)]
pub(crate) struct ChaosCase {
    /// Tasks in the workload.
    pub(crate) tasks: u32,
    /// Rules, in order, with their probabilities.
    pub(crate) rules: Vec<(f64, ChaosFault)>,
    /// The run's seed.
    pub(crate) seed: u64,
    /// Callbacks the receiver's side fails (HTTP 500) before passing any on; in-process
    /// subjects only (an external receiver is graded as it is).
    pub(crate) receiver_fails: u32,
}

fn fault() -> impl Strategy<Value = ChaosFault> {
    // Simpler faults first: proptest shrinks towards earlier alternatives.
    prop_oneof![
        (1u32..=3).prop_map(|copies| ChaosFault::Duplicate { copies }),
        Just(ChaosFault::Conflicting),
        prop::sample::select(vec![
            "missing-id",
            "missing-code",
            "non-numeric-id",
            "unknown-id",
            "oversized-code",
            "stale-id",
            "wrong-method"
        ])
        .prop_map(ChaosFault::Malformed),
        (1u32..=20).prop_map(ChaosFault::Delay),
        Just(ChaosFault::Drop),
        (2u32..=4).prop_map(|window| ChaosFault::Reorder { window }),
        Just(ChaosFault::Early),
        (2u32..=4).prop_map(|attempts| ChaosFault::Retry { attempts }),
    ]
}

fn case() -> impl Strategy<Value = ChaosCase> {
    (
        1u32..=6,
        prop::collection::vec((prop::sample::select(vec![1.0f64, 0.5]), fault()), 1..=3),
        any::<u64>(),
        0u32..=2,
    )
        .prop_map(|(tasks, rules, seed, receiver_fails)| ChaosCase {
            tasks,
            rules,
            seed: seed % 1_000_000,
            receiver_fails,
        })
}

/// The scenario file for a case.
pub(crate) fn scenario_toml(
    case: &ChaosCase,
    kind: ScenarioKind,
    origin: &str,
    name: &str,
) -> String {
    let mut s = String::new();
    s.push_str(&format!("name = \"{name}\"\n"));
    s.push_str(&format!(
        "description = \"Found by {origin}; shrunk to the smallest schedule that still fails.\"\n"
    ));
    s.push_str("tags = [\"chaos\"]\n");
    s.push_str(&format!("seed = {}\n", case.seed));
    if kind == ScenarioKind::Receiver {
        s.push_str("kind = \"receiver\"\n");
    }
    s.push_str("\n[mock]\nsolve-time = { fixed = \"5s\" }\n");
    if kind == ScenarioKind::Receiver {
        // An external receiver runs on real time: registration must beat the callback.
        s.push_str("time-scale = 10.0\n");
    }
    for (p, f) in &case.rules {
        s.push_str(&format!(
            "\n[[faults]]\nprobability = {p:?}\nfault = {}\n",
            f.toml()
        ));
    }
    if kind != ScenarioKind::Receiver && case.receiver_fails > 0 {
        s.push_str(&format!(
            "\n[receiver]\nfail-first = {}\n",
            case.receiver_fails
        ));
    }
    s.push_str("\n[subject]\nstrategy = \"pingback-with-fallback\"\nfallback-after = \"60s\"\n");
    if case
        .rules
        .iter()
        .any(|(_, f)| matches!(f, ChaosFault::Early))
    {
        // An early callback names an id before the application knows it: a
        // receiver that takes registered ids only must refuse it (see
        // scenarios/pingback/early.toml), so early cases grade the other setting.
        s.push_str("registered-only = false\n");
    }
    s.push_str(&format!(
        "\n[workload]\ntasks = [{{ method = \"turnstile\", count = {} }}]\n",
        case.tasks
    ));
    s
}

/// How to run chaos mode.
#[derive(Clone, Debug)]
pub(crate) struct ChaosOptions {
    /// Cases to try (before shrinking).
    pub(crate) runs: u32,
    /// Seed of the case generator.
    pub(crate) seed: u64,
    /// Stop trying new cases after this much wall time.
    pub(crate) budget: Duration,
    /// Where to write the failing scenario file.
    pub(crate) out_dir: PathBuf,
    /// Show a progress bar on a terminal.
    pub(crate) progress: bool,
    /// Extra arguments for the replay command.
    pub(crate) replay_args: String,
}

/// A failure found and shrunk.
#[derive(Clone, Debug)]
pub(crate) struct ChaosFailure {
    /// The shrunk case.
    pub(crate) case: ChaosCase,
    /// Its scenario file.
    pub(crate) path: PathBuf,
    /// Its text.
    pub(crate) toml: String,
    /// The report of the shrunk run.
    pub(crate) report: ScenarioReport,
    /// Callbacks the shrunk schedule sent.
    pub(crate) callbacks: usize,
    /// The replay command.
    pub(crate) replay: String,
    /// Whether the scenario file was written (why not, if it was not).
    pub(crate) saved: Result<(), String>,
}

/// What chaos mode found.
#[derive(Clone, Debug)]
pub(crate) struct ChaosOutcome {
    /// Generated cases run, up to and including the first failure.
    pub(crate) runs: u32,
    /// Runs spent shrinking the failure (not counted in `runs`).
    pub(crate) shrink_steps: u32,
    /// The shrunk failure, if any.
    pub(crate) failure: Option<ChaosFailure>,
    /// True when the time budget ended the search early.
    pub(crate) budget_exhausted: bool,
}

/// Where a finding is kept: `chaos-<generator seed>-<n>.toml`, the first `n`
/// not taken in the folder, so findings never overwrite each other and can sit
/// side by side in a suite (the name is the file's stem).
fn finding_path(dir: &Path, seed: u64) -> PathBuf {
    (1..)
        .map(|n| dir.join(format!("chaos-{seed}-{n}.toml")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| dir.join(format!("chaos-{seed}.toml")))
}

fn run_case(
    case: &ChaosCase,
    kind: ScenarioKind,
    subject: &dyn Subject,
    path: &Path,
    (origin, replay_args): (&str, &str),
) -> Result<(ScenarioReport, String), String> {
    let name = path
        .file_stem()
        .map_or_else(|| "chaos".to_owned(), |s| s.to_string_lossy().into_owned());
    let toml = scenario_toml(case, kind, origin, &name);
    let s = scenario::parse(&toml, path).map_err(|e| e.message.clone())?;
    Ok((
        run_one(
            Arc::new(s),
            subject,
            &SuiteOptions {
                jobs: 1,
                replay_args: replay_args.to_owned(),
                ..Default::default()
            },
        ),
        toml,
    ))
}

/// A progress bar on a terminal outside CI, else none.
fn progress_bar(opts: &ChaosOptions) -> Option<indicatif::ProgressBar> {
    (opts.progress && std::io::stderr().is_terminal() && std::env::var("CI").is_err()).then(|| {
        let b = indicatif::ProgressBar::new(opts.runs as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("chaos {bar:30} {pos}/{len} {wide_msg}")
        {
            b.set_style(style);
        }
        b
    })
}

/// The case generator: `opts.runs` cases from the generator seed, shrinking at most 256 steps.
fn case_runner(opts: &ChaosOptions) -> TestRunner {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&opts.seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let config = ProptestConfig {
        cases: opts.runs,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    TestRunner::new_with_rng(config, rng)
}

/// Runs the shrunk case once more, with the user's replay flags, and saves it as a scenario
/// file beside earlier findings.
fn keep_failure(
    minimal: ChaosCase,
    kind: ScenarioKind,
    subject: &dyn Subject,
    opts: &ChaosOptions,
    origin: &str,
) -> Option<ChaosFailure> {
    let dir = std::fs::create_dir_all(&opts.out_dir);
    let path = finding_path(&opts.out_dir, opts.seed);
    let (report, toml) =
        run_case(&minimal, kind, subject, &path, (origin, &opts.replay_args)).ok()?;
    let saved = dir
        .and_then(|()| std::fs::write(&path, &toml))
        .map_err(|e| e.to_string());
    let replay = format!(
        "captchaai-conformance run {} --seed {}{}",
        crate::suite::shell_word(&path.display().to_string()),
        minimal.seed,
        if opts.replay_args.is_empty() {
            String::new()
        } else {
            format!(" {}", opts.replay_args)
        }
    );
    Some(ChaosFailure {
        callbacks: report.callbacks as usize,
        case: minimal,
        path,
        toml,
        report,
        replay,
        saved,
    })
}

/// Runs chaos mode against a subject.
pub(crate) fn run(subject: &dyn Subject, kind: ScenarioKind, opts: &ChaosOptions) -> ChaosOutcome {
    let origin = format!("`captchaai-conformance chaos --seed {}`", opts.seed);
    #[allow(clippy::disallowed_methods)] // the wall-time budget of the search
    let started = std::time::Instant::now();
    let runs = AtomicU32::new(0);
    let shrink_steps = AtomicU32::new(0);
    let found = std::sync::atomic::AtomicBool::new(false);
    let exhausted = std::sync::atomic::AtomicBool::new(false);
    let bar = progress_bar(opts);
    let mut runner = case_runner(opts);
    let result = runner.run(&case(), |c| {
        if started.elapsed() > opts.budget {
            exhausted.store(true, Ordering::Relaxed);
            return Ok(());
        }
        if found.load(Ordering::Relaxed) {
            shrink_steps.fetch_add(1, Ordering::Relaxed);
        } else {
            runs.fetch_add(1, Ordering::Relaxed);
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        // Searched cases are never written: the path only names the scenario.
        let path = Path::new("chaos").join(format!("chaos-{}.toml", c.seed));
        match run_case(&c, kind, subject, &path, (&origin, "")) {
            Ok((r, _)) if r.verdict == Verdict::Failed => {
                found.store(true, Ordering::Relaxed);
                let failed: Vec<&str> = r
                    .checks
                    .iter()
                    .filter(|c| c.verdict == Verdict::Failed)
                    .map(|c| c.check.as_str())
                    .collect();
                Err(TestCaseError::fail(failed.join(", ")))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(TestCaseError::fail(format!(
                "generated an invalid scenario: {e}"
            ))),
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let failure = match result {
        Err(TestError::Fail(_, minimal)) => keep_failure(minimal, kind, subject, opts, &origin),
        _ => None,
    };
    ChaosOutcome {
        runs: runs.load(Ordering::Relaxed),
        shrink_steps: shrink_steps.load(Ordering::Relaxed),
        failure,
        budget_exhausted: exhausted.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;

    use super::*;

    #[test]
    fn generated_files_are_valid_scenarios() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let c = case().new_tree(&mut runner).unwrap().current();
            for kind in [ScenarioKind::Receiver, ScenarioKind::EndToEnd] {
                let toml = scenario_toml(&c, kind, "a test", "x");
                scenario::parse(&toml, Path::new("chaos/x.toml"))
                    .unwrap_or_else(|e| panic!("{}\n{toml}", e.message));
            }
        }
    }

    #[test]
    fn the_reference_subject_survives_chaos() {
        // The README's example: `chaos --runs 200 --seed 7`.
        let opts = ChaosOptions {
            runs: 200,
            seed: 7,
            budget: Duration::from_secs(120),
            out_dir: std::env::temp_dir(),
            progress: false,
            replay_args: String::new(),
        };
        let out = run(
            &crate::subject::reference::Reference,
            ScenarioKind::EndToEnd,
            &opts,
        );
        assert!(out.failure.is_none(), "{:?}", out.failure.map(|f| f.toml));
        assert_eq!(out.runs, 200);
    }
}
