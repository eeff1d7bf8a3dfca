//! `chaos`: many runs with generated fault schedules against one subject; the first failure
//! is shrunk, printed, and saved as a scenario file with its replay command.

use std::{io::Write, process::ExitCode};

use super::args::{ChaosArgs, ClientArgs, SubjectArgs};
use crate::{
    chaos::{self, ChaosOptions},
    report,
    scenario::ScenarioKind,
};

pub(super) fn run(args: ChaosArgs) -> ExitCode {
    if args.out.exists() && !args.out.is_dir() {
        eprintln!(
            "captchaai-conformance: --out {} is not a folder",
            args.out.display()
        );
        return ExitCode::from(2);
    }
    let subject_args = SubjectArgs {
        receiver: args.receiver,
        client: ClientArgs::default(),
    };
    let subject = subject_args.subject();
    let kind = if subject_args.receiver.receiver.is_some() {
        ScenarioKind::Receiver
    } else {
        ScenarioKind::EndToEnd
    };
    let opts = ChaosOptions {
        runs: args.runs,
        seed: args.seed,
        budget: args.budget,
        out_dir: args.out.clone(),
        progress: true,
        replay_args: subject_args.replay_args(),
    };
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "captchaai-conformance chaos · subject: {} · up to {} run(s), seed {}",
        subject.name(),
        args.runs,
        args.seed
    );
    let outcome = chaos::run(subject.as_ref(), kind, &opts);
    match outcome.failure {
        None => {
            let _ = writeln!(
                out,
                "{} run(s), no failure{}",
                outcome.runs,
                if outcome.budget_exhausted {
                    " (stopped by the time budget)"
                } else {
                    ""
                }
            );
            ExitCode::SUCCESS
        }
        Some(f) => {
            let _ = writeln!(
                out,
                "{} run(s): found a failure, shrunk in {} step(s) to {} task(s), {} rule(s), {} callback(s)\n",
                outcome.runs,
                outcome.shrink_steps,
                f.case.tasks,
                f.case.rules.len(),
                f.callbacks
            );
            let _ = report::write_scenario(&mut out, &f.report, false);
            match &f.saved {
                Ok(()) => {
                    let _ = writeln!(out, "\nscenario file: {}\n\n{}", f.path.display(), f.toml);
                    let _ = writeln!(out, "replay: {}", f.replay);
                }
                Err(e) => {
                    let _ = writeln!(out, "\nscenario (not saved: {e}):\n\n{}", f.toml);
                    eprintln!(
                        "captchaai-conformance: could not save {}: {e}; keep the scenario printed above",
                        f.path.display()
                    );
                }
            }
            ExitCode::from(1)
        }
    }
}
