//! Hidden commands for packagers: `completions SHELL` prints a shell completion script
//! (`clap_complete`), `man [DIR]` prints the man page, or writes one page per command into
//! `DIR` (`clap_mangen`).

use std::{path::PathBuf, process::ExitCode};

use clap::CommandFactory;

use super::{Cli, Output, complain};

#[derive(Debug, clap::Args)]
pub(super) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub(super) struct ManArgs {
    /// Write `captchaai-conformance.1` and a page per command (`captchaai-conformance-run.1`,
    /// ...) here instead of printing the main page.
    dir: Option<PathBuf>,
}

pub(super) fn completions(args: &CompletionsArgs, out: &mut Output) -> ExitCode {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "captchaai-conformance", &mut script);
    out.with(|w| w.write_all(&script));
    ExitCode::SUCCESS
}

pub(super) fn man(args: &ManArgs, out: &mut Output) -> ExitCode {
    let cmd = Cli::command();
    match &args.dir {
        Some(dir) => {
            let written =
                std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir));
            match written {
                Ok(()) => {
                    out.line(format_args!("man pages written to {}", dir.display()));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    complain(&format!("writing man pages to {}: {e}", dir.display()));
                    ExitCode::from(2)
                }
            }
        }
        None => {
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
                complain(&format!("rendering the man page: {e}"));
                return ExitCode::from(2);
            }
            out.with(|w| w.write_all(&page));
            ExitCode::SUCCESS
        }
    }
}
