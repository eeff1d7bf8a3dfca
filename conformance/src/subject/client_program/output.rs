//! What a client program prints: one JSON line per task on stdout (recorded as the
//! application's results and errors; anything else noted as ignored), and its stderr
//! (noted, for the evidence when it dies).

use std::sync::Arc;

use futures::StreamExt as _;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{ChildStderr, ChildStdout},
};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::{MAX_LINE, MAX_NOTED_LINES, driver::ClientShared};
use crate::timeline::{AppErrorKind, Event, Recorder, Source};

/// Reads the program's stdout to its end: each task line is recorded and marks its task
/// done; the first [`MAX_NOTED_LINES`] other lines are noted.
pub(super) async fn read_stdout(stdout: ChildStdout, rec: Recorder, shared: Arc<ClientShared>) {
    let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE));
    let mut ignored = 0usize;
    let mut note = |message: String| {
        ignored += 1;
        if ignored <= MAX_NOTED_LINES {
            rec.record(Source::App, Event::Note { message });
        } else if ignored == MAX_NOTED_LINES + 1 {
            rec.record(
                Source::App,
                Event::Note {
                    message: "more output ignored (not noted)".into(),
                },
            );
        }
    };
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                note(format!(
                    "ignored output: a line longer than {MAX_LINE} bytes"
                ));
                continue;
            }
            Err(LinesCodecError::Io(_)) => break,
        };
        match record_line(&rec, &line) {
            Ok(ordinal) => shared.reported(ordinal),
            Err(Some(why)) => note(why),
            Err(None) => {}
        }
    }
    shared.closed();
}

/// Notes the first [`MAX_NOTED_LINES`] lines of the program's stderr.
pub(super) async fn read_stderr(stderr: ChildStderr, rec: Recorder) {
    let mut lines = BufReader::new(stderr).lines();
    let mut kept = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        if kept < MAX_NOTED_LINES {
            rec.record(
                Source::App,
                Event::Note {
                    // Long enough for a Python traceback's last line.
                    message: format!("stderr: {}", crate::timeline::cut(&line, 160)),
                },
            );
            kept += 1;
        }
    }
}

/// Parses one output line: the task ordinal it completes, or why it is ignored (`None`:
/// a blank line, not worth a note).
fn record_line(rec: &Recorder, line: &str) -> Result<u64, Option<String>> {
    let ignored = |why: &str| {
        Some(format!(
            "ignored output ({why}): {}",
            crate::timeline::short(line)
        ))
    };
    if line.trim().is_empty() {
        return Err(None);
    }
    let v: serde_json::Value = match serde_json::from_str(line.trim()) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => return Err(ignored("not a JSON object")),
    };
    let text = |k: &str| match &v[k] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let Some(ordinal) = text("ref").and_then(|r| r.parse::<u64>().ok()) else {
        return Err(ignored("no numeric \"ref\""));
    };
    let answer = text("answer").filter(|a| !a.is_empty());
    let solved = match text("outcome").as_deref() {
        Some("solved") if answer.is_some() => true,
        Some("solved") => return Err(ignored("\"solved\" without an \"answer\"")),
        Some("error") => false,
        _ => return Err(ignored("\"outcome\" must be \"solved\" or \"error\"")),
    };
    let task = text("task_id").and_then(|t| t.parse::<u64>().ok());
    if let Some(t) = task
        && !rec.ids().contains_key(&ordinal)
    {
        rec.submitted(ordinal, t);
    }
    if solved {
        rec.result(ordinal, task, answer.unwrap_or_default(), None, None);
    } else {
        rec.error(
            ordinal,
            task,
            AppErrorKind::from_name(&text("error").unwrap_or_else(|| "api".into())),
            text("code"),
            text("message").unwrap_or_default(),
        );
    }
    Ok(ordinal)
}
