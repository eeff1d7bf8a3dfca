//! Writing to stdout and stderr without ever panicking (`println!` and `eprintln!` panic when
//! the stream is closed).
//!
//! A command's output goes through [`Output`], which remembers a failed write: the command
//! then exits 2 instead of 0 (its output was lost), and 1 stays 1. Messages go to stderr
//! through [`complain`], which loses them when stderr is closed: the exit code still says what
//! happened.

use std::{
    io::{self, Write},
    process::ExitCode,
};

/// A command's stdout (colour as the terminal allows), remembering whether a write failed.
pub(super) struct Output {
    stream: anstream::AutoStream<io::Stdout>,
    failed: Option<io::Error>,
}

impl Output {
    pub(super) fn stdout() -> Output {
        Output {
            stream: anstream::stdout(),
            failed: None,
        }
    }

    /// Writes with `write`; a failure is remembered (the first one) and later writes skipped.
    pub(super) fn with(&mut self, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = write(&mut self.stream).and_then(|()| self.stream.flush()) {
            self.failed = Some(e);
        }
    }

    /// One line.
    pub(super) fn line(&mut self, line: impl std::fmt::Display) {
        self.with(|w| writeln!(w, "{line}"));
    }

    /// The exit code: `code`, or 2 if it was 0 and the output could not be written.
    pub(super) fn finish(mut self, code: ExitCode) -> ExitCode {
        let _ = self.stream.flush();
        match self.failed {
            Some(e) => {
                complain(&format!("writing the output failed: {e}"));
                if code == ExitCode::SUCCESS {
                    ExitCode::from(2)
                } else {
                    code
                }
            }
            None => code,
        }
    }
}

/// `captchaai-conformance: <message>` on stderr; lost if stderr is closed.
pub(super) fn complain(message: &str) {
    let _ = writeln!(io::stderr().lock(), "captchaai-conformance: {message}");
}

/// Text on stderr as it is (a rendered diagnostic); lost if stderr is closed.
pub(super) fn to_stderr(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}
