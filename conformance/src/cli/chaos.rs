//! `chaos`: many runs with generated fault schedules against one subject; the first failure
//! is shrunk, printed, and saved as a scenario file with its replay command.

use std::process::ExitCode;

use super::{
    Output,
    args::{ChaosArgs, ClientArgs, SubjectArgs},
    complain,
};
use crate::{
    chaos::{self, ChaosOptions},
    report,
    scenario::ScenarioKind,
};

pub(super) fn run(args: ChaosArgs, out: &mut Output) -> ExitCode {
    if args.out.exists() && !args.out.is_dir() {
        complain(&format!("--out {} is not a folder", args.out.display()));
        return ExitCode::from(2);
    }
    let subject_args = SubjectArgs {
        receiver: args.receiver,
        client: ClientArgs::default(),
        reference_store: None,
    };
    if let Some(receiver) = subject_args.external_receiver()
        && let Err(code) = super::preflight(&receiver)
    {
        return code;
    }
    let subject = subject_args.subject();
    let kind = if !subject_args.receiver.receiver.is_empty() {
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
    out.line(format_args!(
        "captchaai-conformance chaos · subject: {} · up to {} run(s), seed {}",
        subject.name(),
        args.runs,
        args.seed
    ));
    let outcome = chaos::run(subject.as_ref(), kind, &opts);
    match outcome.failure {
        None => {
            out.line(format_args!(
                "{} run(s), no failure{}",
                outcome.runs,
                if outcome.budget_exhausted {
                    " (stopped by the time budget)"
                } else {
                    ""
                }
            ));
            ExitCode::SUCCESS
        }
        Some(f) => {
            out.line(format_args!(
                "{} run(s): found a failure, shrunk in {} step(s) to {} task(s), {} rule(s), {} callback(s)\n",
                outcome.runs,
                outcome.shrink_steps,
                f.case.tasks,
                f.case.rules.len(),
                f.callbacks
            ));
            out.with(|w| report::write_scenario(w, &f.report, false));
            match &f.saved {
                Ok(()) => {
                    out.line(format_args!(
                        "\nscenario file: {}\n\n{}",
                        f.path.display(),
                        f.toml
                    ));
                    out.line(format_args!("replay: {}", f.replay));
                }
                Err(e) => {
                    out.line(format_args!("\nscenario (not saved: {e}):\n\n{}", f.toml));
                    complain(&format!(
                        "could not save {}: {e}; keep the scenario printed above",
                        f.path.display()
                    ));
                }
            }
            ExitCode::from(1)
        }
    }
}
