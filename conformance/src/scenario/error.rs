//! [`ScenarioError`]: why a scenario file cannot be used, with its file, line and column and
//! a snippet of the text at fault (a miette diagnostic).

use std::path::Path;

use captchaai_mock::TomlLocator;
use miette::{Diagnostic, NamedSource, SourceSpan};

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

    pub(super) fn io(path: &Path, e: &std::io::Error) -> Self {
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
