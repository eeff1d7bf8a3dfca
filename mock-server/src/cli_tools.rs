//! The `captchaai-mock` binary's commands besides serving (the `cli` feature): `schema` (the
//! JSON schema of the configuration file, committed as `docs/mock-config.schema.json`), hidden
//! `completions SHELL` (a shell completion script, `clap_complete`) and `man [DIR]` (the man
//! page on stdout, or written into `DIR`, `clap_mangen`), for packagers.
//!
//! Without a command the binary serves, as it always has; a command takes no serving flags.

use std::{io::Write as _, path::PathBuf, process::ExitCode};

/// What the binary does instead of serving.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Tool {
    /// Print the JSON schema of the configuration file (`--config`).
    Schema,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(hide = true)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write it into a folder as `captchaai-mock.1`.
    #[command(hide = true)]
    Man {
        /// The folder to write `captchaai-mock.1` to.
        dir: Option<PathBuf>,
    },
}

/// Runs `tool` for the command line `cmd`: exit 0, or 2 with a message when its output
/// cannot be written.
pub(crate) fn run(tool: Tool, mut cmd: clap::Command) -> ExitCode {
    let result = match tool {
        Tool::Schema => serde_json::to_string_pretty(&schemars::schema_for!(crate::config::Config))
            .map_err(|e| format!("the configuration schema: {e}"))
            .and_then(|text| to_stdout(format!("{text}\n").as_bytes())),
        Tool::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "captchaai-mock", &mut script);
            to_stdout(&script)
        }
        Tool::Man { dir: None } => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(|e| format!("rendering the man page: {e}"))
                .and_then(|()| to_stdout(&page))
        }
        Tool::Man { dir: Some(dir) } => std::fs::create_dir_all(&dir)
            .and_then(|()| clap_mangen::generate_to(cmd, &dir))
            .map_err(|e| format!("writing the man page to {}: {e}", dir.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "captchaai-mock: {e}");
            ExitCode::from(2)
        }
    }
}

fn to_stdout(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing to stdout: {e}"))
}
