//! The request log: one line per API request on the mock's stderr, at info level under the
//! target `captchaai_mock::api` (`RUST_LOG=info,captchaai_mock::api=warn` silences it), like
//! the pingback attempts under `captchaai_mock::pingback`:
//!
//! ```text
//! INFO captchaai_mock::api: request method=GET endpoint=res.php action=get task=1000001 code=CAPCHA_NOT_READY latency=84µs
//! ```
//!
//! `code` is the answer's code (`OK` for every successful answer, the error or status code
//! otherwise, `HTTP_503` for an injected transient fault), never the answer itself: answers
//! carry tokens. Latency is the mock's own time (simulated under a time scale), rounded.

use std::{fmt, time::Duration};

use crate::codes::Code;

/// Logs one answered API request.
pub(crate) fn request(
    method: &str,
    endpoint: &str,
    action: Option<&str>,
    task: Option<u64>,
    code: &str,
    latency: Duration,
) {
    tracing::info!(
        target: "captchaai_mock::api",
        method = %method,
        endpoint = %endpoint,
        action = %action.unwrap_or("-"),
        task = %OrDash(task),
        code = %code,
        latency = %Rounded(latency),
        "request"
    );
}

/// The code of an answer as the journal records it: a code's own text, `HTTP_503` for the
/// injected transient fault, `OK` for every answer that carries a value (`OK|<id>`, a
/// balance, `threadsinfo`'s JSON, a bulk `get`).
pub(crate) fn answer_code(answer: &str) -> &'static str {
    if answer == "HTTP 503" {
        return "HTTP_503";
    }
    Code::parse(answer).map_or("OK", Code::as_str)
}

/// An optional number, `-` when absent.
struct OrDash(Option<u64>);

impl fmt::Display for OrDash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("-"),
        }
    }
}

/// A duration rounded for reading: whole microseconds under a millisecond, one decimal under
/// ten milliseconds, whole milliseconds under ten seconds, then seconds with one decimal.
pub(crate) struct Rounded(pub(crate) Duration);

impl fmt::Display for Rounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        if us < 1_000 {
            write!(f, "{us}µs")
        } else if us < 10_000 {
            write!(f, "{:.1}ms", self.0.as_secs_f64() * 1e3)
        } else if us < 10_000_000 {
            write!(f, "{}ms", (self.0.as_secs_f64() * 1e3).round())
        } else {
            write!(f, "{:.1}s", self.0.as_secs_f64())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Rounded, answer_code};

    #[test]
    fn latencies_are_rounded_to_what_a_reader_needs() {
        let shown = |us: u64| Rounded(Duration::from_micros(us)).to_string();
        assert_eq!(shown(84), "84µs");
        assert_eq!(shown(1_234), "1.2ms");
        assert_eq!(shown(45_678), "46ms");
        assert_eq!(shown(12_345_678), "12.3s");
    }

    #[test]
    fn the_code_never_carries_the_answer() {
        assert_eq!(answer_code("OK|3f9a-token"), "OK");
        assert_eq!(answer_code("10.5"), "OK");
        assert_eq!(answer_code("CAPCHA_NOT_READY"), "CAPCHA_NOT_READY");
        assert_eq!(answer_code("ERROR_WRONG_USER_KEY"), "ERROR_WRONG_USER_KEY");
        assert_eq!(answer_code("HTTP 503"), "HTTP_503");
    }
}
