//! The request log: one line per API request on the mock's stderr, at info level under the
//! target `captchaai_mock::api` (`RUST_LOG=info,captchaai_mock::api=warn` silences it), like
//! the pingback attempts under `captchaai_mock::pingback`:
//!
//! ```text
//! INFO captchaai_mock::api: request method=GET endpoint=res.php action=get task=1000001 code=CAPCHA_NOT_READY latency=84µs
//! ```
//!
//! `code` is the answer's code (`OK` for every successful answer, the error or status code
//! otherwise; for an API fault what the client got: `HTTP_502` for an error page, `RESET`,
//! `STALL`, `TRUNCATED`), never the answer itself: answers carry tokens. Latency is the mock's own time (simulated under a time scale), rounded.
//!
//! At most [`LINES_PER_SECOND`] lines a second: the log is for a person reading along, and
//! under load (a benchmark, a client hammering) one line per request cost polling a third of
//! its throughput. Requests beyond the cap are counted, and the first line of a later second
//! says how many were left out (`requests not logged: 41234 ...`). The journal
//! (`GET /__admin/journal`) and the metrics keep every request.

use std::{
    fmt,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use crate::codes::Code;

/// Request lines a second, at most; see the module's docs.
pub(crate) const LINES_PER_SECOND: u64 = 100;

/// The cap on lines a second: which second is being counted, how many lines it logged, and
/// how many requests were left out since the last line.
struct RateCap {
    second: AtomicU64,
    logged: AtomicU64,
    left_out: AtomicU64,
}

/// What to do with one request.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Log it; `left_out` requests were not logged before it (a summary line first).
    Log { left_out: u64 },
    /// Over the cap: counted, not logged.
    Skip,
}

impl RateCap {
    const fn new() -> RateCap {
        RateCap {
            second: AtomicU64::new(0),
            logged: AtomicU64::new(0),
            left_out: AtomicU64::new(0),
        }
    }

    /// One request in `second` (seconds since the process started).
    fn admit(&self, second: u64) -> Admit {
        let current = self.second.load(Relaxed);
        if second > current
            && self
                .second
                .compare_exchange(current, second, Relaxed, Relaxed)
                .is_ok()
        {
            self.logged.store(0, Relaxed);
        }
        if self.logged.fetch_add(1, Relaxed) >= LINES_PER_SECOND {
            self.left_out.fetch_add(1, Relaxed);
            return Admit::Skip;
        }
        Admit::Log {
            left_out: self.left_out.swap(0, Relaxed),
        }
    }
}

static CAP: RateCap = RateCap::new();

/// Seconds since the first logged request, on tokio's clock (the wall clock outside a paused
/// runtime).
fn second_now() -> u64 {
    static START: OnceLock<tokio::time::Instant> = OnceLock::new();
    let now = tokio::time::Instant::now();
    now.saturating_duration_since(*START.get_or_init(|| now))
        .as_secs()
}

/// Logs one answered API request, within the cap.
pub(crate) fn request(
    method: &str,
    endpoint: &str,
    action: Option<&str>,
    task: Option<u64>,
    code: &str,
    latency: Duration,
) {
    if !tracing::enabled!(target: "captchaai_mock::api", tracing::Level::INFO) {
        return;
    }
    match CAP.admit(second_now()) {
        Admit::Skip => return,
        Admit::Log { left_out: 0 } => {}
        Admit::Log { left_out } => tracing::info!(
            target: "captchaai_mock::api",
            "requests not logged: {left_out} (over {LINES_PER_SECOND} a second; the journal \
             and the metrics have them all)"
        ),
    }
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

/// The code of an answer as the journal records it: a code's own text; for an API fault
/// (`crate::api::faults`) what the client got: `HTTP_500` ... `HTTP_522` for the error pages
/// the fronts send (`HTTP_4XX`, `HTTP_5XX` for other statuses: a metric label's values must
/// be few), `RESET`, `STALL`, `TRUNCATED`; `OK` for every answer that carries a value
/// (`OK|<id>`, a balance, `threadsinfo`'s JSON, a bulk `get`).
pub(crate) fn answer_code(answer: &str) -> &'static str {
    if let Some(status) = answer.strip_prefix("HTTP ") {
        return match status {
            "500" => "HTTP_500",
            "502" => "HTTP_502",
            "503" => "HTTP_503",
            "504" => "HTTP_504",
            "521" => "HTTP_521",
            "522" => "HTTP_522",
            s if s.starts_with('4') => "HTTP_4XX",
            _ => "HTTP_5XX",
        };
    }
    if answer.starts_with("(reset") {
        return "RESET";
    }
    if answer.starts_with("(stalled") {
        return "STALL";
    }
    if answer.starts_with("(truncated") {
        return "TRUNCATED";
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

    use super::{Admit, LINES_PER_SECOND, RateCap, Rounded, answer_code};

    #[test]
    fn at_most_the_cap_a_second_and_the_rest_counted() {
        let cap = RateCap::new();
        for _ in 0..LINES_PER_SECOND {
            assert_eq!(cap.admit(0), Admit::Log { left_out: 0 });
        }
        for _ in 0..5 {
            assert_eq!(cap.admit(0), Admit::Skip);
        }
        // The next second logs again, and says what was left out once.
        assert_eq!(cap.admit(1), Admit::Log { left_out: 5 });
        assert_eq!(cap.admit(1), Admit::Log { left_out: 0 });
        // A late request of an earlier second counts against the current one.
        assert_eq!(cap.admit(0), Admit::Log { left_out: 0 });
    }

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
        // What an API fault gave the client, never OK.
        assert_eq!(answer_code("HTTP 521"), "HTTP_521");
        assert_eq!(answer_code("HTTP 429"), "HTTP_4XX");
        assert_eq!(answer_code("HTTP 599"), "HTTP_5XX");
        assert_eq!(answer_code("(reset: no answer)"), "RESET");
        assert_eq!(answer_code("(stalled: no answer)"), "STALL");
        assert_eq!(answer_code("(truncated: OK|74000000001)"), "TRUNCATED");
    }
}
