//! `export DIR`: the built-in suite written out as files, to be copied and changed, then run
//! with `run DIR`.

use std::{path::PathBuf, process::ExitCode};

use super::{Output, complain};
use crate::builtin;

#[derive(Debug, clap::Args)]
pub(super) struct ExportArgs {
    /// The folder to write to (created if missing): `<area>/<name>.toml` and `schema.json`.
    dir: PathBuf,
    /// Overwrite files that exist with other content (by default nothing is written then).
    #[arg(long)]
    force: bool,
}

pub(super) fn run(args: &ExportArgs, out: &mut Output) -> ExitCode {
    match builtin::export(&args.dir, args.force) {
        Ok(written) => {
            out.line(format_args!(
                "wrote {} file(s) to {} ({} built-in scenario file(s) and schema.json; the \
                 others were there already); run them with: captchaai-conformance run {}",
                written.len(),
                args.dir.display(),
                builtin::files().count(),
                crate::suite::shell_word(&args.dir.display().to_string()),
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            complain(&e);
            ExitCode::from(2)
        }
    }
}
