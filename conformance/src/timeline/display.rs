//! One line per entry, as the terminal report's evidence and JUnit failures show it:
//! `     5.268s  pingback  task 74000000003 genuine #1 GET id=... code=... → delivered 200 [...]`.

use std::fmt::{self, Display, Formatter};

use super::event::{Entry, Event};

/// [`short`] for a value the journal already truncated: names its real length.
fn short_of(s: &str, len: usize) -> String {
    let head: String = s.chars().take(40).collect();
    if len <= 40 && s.chars().count() <= 40 {
        s.to_owned()
    } else {
        format!("{head}…({len} chars)")
    }
}

/// Shortens long values (tokens, oversized codes) for display.
pub(crate) fn short(s: &str) -> String {
    cut(s, 40)
}

/// `s` cut to `max` characters, saying how long it was.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}…({} chars)", s.chars().count())
}

impl Display for Entry {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = self.at_ms as f64 / 1000.0;
        write!(f, "{t:>10.3}s  ")?;
        match &self.event {
            Event::Submit { .. } | Event::Poll { .. } | Event::Request { .. } => {
                api_request(f, &self.event)
            }
            Event::Delivery { .. } => delivery(f, &self.event),
            Event::Received {
                method,
                id,
                code,
                status,
                handled_by,
                replica,
            } => {
                write!(
                    f,
                    "received  {method} id={} code={} → {status}",
                    id.as_deref().unwrap_or("∅"),
                    // Shortened when recorded.
                    code.as_deref().unwrap_or("∅"),
                )?;
                match replica {
                    Some(r) => write!(f, " (replica {r})"),
                    None => write!(f, " (by {})", handled_by.name()),
                }
            }
            Event::WaitOpened { task, replica } => {
                write!(f, "wait      task {task} opened on replica {replica}")
            }
            Event::Waited {
                task,
                replica,
                status,
                code,
                error,
            } => {
                write!(f, "waited    task {task} on replica {replica}")?;
                match (status, code, error) {
                    (Some(s), Some(c), _) => write!(f, " → {s} code={c}"),
                    (Some(s), None, _) => write!(f, " → {s}"),
                    (None, _, Some(e)) => write!(f, " → {e}"),
                    (None, _, None) => write!(f, " → no answer"),
                }
            }
            Event::Injected {
                callback,
                id,
                from,
                outcome,
                status,
                error,
                ..
            } => {
                write!(f, "injected  {} id={id}", callback.name())?;
                if let Some(from) = from {
                    write!(f, " from {from}")?;
                }
                match (status, error) {
                    (Some(s), _) => write!(f, " → {s}"),
                    (None, Some(e)) => write!(f, " → {}: {e}", outcome.name()),
                    (None, None) => write!(f, " → {}", outcome.name()),
                }
            }
            Event::AppSubmitted { .. } | Event::AppResult { .. } | Event::AppError { .. } => {
                application(f, &self.event)
            }
            Event::Note { message } => write!(f, "note      {message}"),
            Event::Store { what, task } => {
                write!(
                    f,
                    "store     {what}{}",
                    task.map(|t| format!(" task {t}")).unwrap_or_default()
                )
            }
        }
    }
}

/// `submit`, `poll` and `request` lines.
fn api_request(f: &mut Formatter<'_>, event: &Event) -> fmt::Result {
    match event {
        Event::Submit {
            task,
            method,
            answer,
        } => {
            write!(
                f,
                "submit    {} → {}",
                method.as_deref().unwrap_or("?"),
                short(answer.text())
            )?;
            if let Some(t) = task {
                write!(f, " (task {t})")?;
            }
            Ok(())
        }
        Event::Poll { task, answer } => write!(
            f,
            "poll      task {} → {}",
            task.map_or("?".into(), |t| t.to_string()),
            short(answer.text())
        ),
        Event::Request { action, answer } => write!(
            f,
            "request   {} → {}",
            action.as_deref().unwrap_or("?"),
            short(answer)
        ),
        _ => Ok(()),
    }
}

/// A `pingback` line: one attempt, what it carried, how it ended, and the task's fault.
fn delivery(f: &mut Formatter<'_>, event: &Event) -> fmt::Result {
    let Event::Delivery {
        task,
        kind,
        attempt,
        method,
        code,
        code_len,
        outcome,
        status,
        fault,
        id,
        ..
    } = event
    else {
        return Ok(());
    };
    write!(
        f,
        "pingback  task {task} {} #{attempt} {method} id={} code={} → {}{} [{fault}]",
        kind.name(),
        id.as_deref().unwrap_or("∅"),
        code.as_deref()
            .map_or("∅".into(), |c| short_of(c, *code_len)),
        outcome.name(),
        status.map(|s| format!(" {s}")).unwrap_or_default()
    )
}

/// `app` lines: what the application learnt.
fn application(f: &mut Formatter<'_>, event: &Event) -> fmt::Result {
    match event {
        Event::AppSubmitted { ordinal, task } => {
            write!(f, "app       #{ordinal} submitted as task {task}")
        }
        Event::AppResult {
            ordinal,
            task,
            code,
            via,
            route,
        } => {
            write!(f, "app       #{ordinal} result {}", short(code))?;
            if let Some(t) = task {
                write!(f, " (task {t})")?;
            }
            if let Some(v) = via {
                write!(f, " via {}", v.name())?;
            }
            if let Some(r) = route {
                write!(f, " route {r}")?;
            }
            Ok(())
        }
        Event::AppError {
            ordinal,
            kind,
            code,
            message,
            ..
        } => write!(
            f,
            "app       #{ordinal} error {}{}: {}",
            kind.name(),
            code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            short(message)
        ),
        _ => Ok(()),
    }
}
