//! The one public error type, [`Error`], and its classification, [`ErrorKind`] (both
//! re-exported at the crate root).

use std::fmt;

/// A boxed error source, kept for [`std::error::Error::source`].
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, coarsely: the thing a caller branches on.
///
/// The taxonomy mirrors the official CaptchaAI Python SDK (`captchaai/exceptions.py`):
/// invalid key, bad input (`ValidationError`), proxy, no threads, thread limit, unsolvable,
/// timeout, network, plus an "unexpected answer" for bodies the client cannot parse and a
/// generic API error that keeps the raw code. Every API-level failure keeps its wire code
/// (`ERROR_...`), reachable through [`Error::api_code`].
///
/// The list may grow, so match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The API key is malformed or unknown (`ERROR_WRONG_USER_KEY`, `ERROR_KEY_DOES_NOT_EXIST`).
    InvalidKey,
    /// The task or a setting is invalid, found locally before any request or reported by the
    /// service (`ERROR_BAD_PARAMETERS`, `ERROR_PAGEURL`, image errors, ...).
    BadInput,
    /// The proxy was rejected or failed (`ERROR_BAD_PROXY`, `ERROR_PROXY_CONNECTION_FAILED`).
    Proxy,
    /// The account has no usable threads: no active plan, or (2captcha) no funds.
    NoThreads,
    /// Every thread of the account stayed busy for the whole busy-retry budget.
    ThreadLimit,
    /// The service gave up on the task (`ERROR_CAPTCHA_UNSOLVABLE`).
    Unsolvable,
    /// A deadline passed before a result arrived.
    Timeout,
    /// The service could not be reached, or answered with an HTTP failure status.
    Network,
    /// The service answered something this client cannot interpret.
    UnexpectedAnswer,
    /// Any other API error code (bans, wrong task id, duplicate report, ...); see
    /// [`Error::api_code`].
    Api,
    /// The result store could not be reached (its Redis is down or too slow): the operation
    /// changed nothing and may be retried.
    StoreUnavailable,
}

impl ErrorKind {
    /// A short lowercase name for logs and reports, e.g. `"invalid-key"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidKey => "invalid-key",
            ErrorKind::BadInput => "bad-input",
            ErrorKind::Proxy => "proxy",
            ErrorKind::NoThreads => "no-threads",
            ErrorKind::ThreadLimit => "thread-limit",
            ErrorKind::Unsolvable => "unsolvable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::UnexpectedAnswer => "unexpected-answer",
            ErrorKind::Api => "api",
            ErrorKind::StoreUnavailable => "store-unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every fallible operation in this crate.
///
/// Opaque on purpose (as `reqwest::Error`): inspect it with [`Error::kind`] and the `is_*`
/// helpers, and read the service's code with [`Error::api_code`].
///
/// ```
/// use captchaai_client::{Error, ErrorKind};
///
/// let err = Error::from_api_code("ERROR_CAPTCHA_UNSOLVABLE");
/// assert!(err.is_unsolvable());
/// assert_eq!(err.kind(), ErrorKind::Unsolvable);
/// assert_eq!(err.api_code(), Some("ERROR_CAPTCHA_UNSOLVABLE"));
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    code: Option<String>,
    status: Option<u16>,
    source: Option<Source>,
    /// The request may have reached the service, but its answer did not reach us.
    unanswered: bool,
}

/// A shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                code: None,
                status: None,
                source: None,
                unanswered: false,
            }),
        }
    }

    pub(crate) fn with_code(mut self, code: impl Into<String>) -> Self {
        self.inner.code = Some(code.into());
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Marks a transport failure after which the service may have acted on the request.
    pub(crate) fn unanswered(mut self) -> Self {
        self.inner.unanswered = true;
        self
    }

    /// True when the request may have reached the service, but its answer did not reach
    /// us (a timeout or a connection lost after sending): retrying a submit then risks a
    /// second task.
    pub(crate) fn is_unanswered(&self) -> bool {
        self.inner.unanswered
    }

    pub(crate) fn with_message_suffix(mut self, suffix: &str) -> Self {
        self.inner.message.push_str(suffix);
        self
    }

    pub(crate) fn bad_input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadInput, message)
    }

    pub(crate) fn unexpected(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::UnexpectedAnswer, message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    pub(crate) fn store_unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::StoreUnavailable, message)
    }

    /// Builds the error the client raises for an API error code, classified as the official
    /// SDK does (unknown codes become [`ErrorKind::Api`]).
    ///
    /// Useful to turn a pingback `code` such as `ERROR_CAPTCHA_UNSOLVABLE` into an error.
    pub fn from_api_code(code: &str) -> Self {
        let (kind, message) = classify_code(code);
        Error::new(kind, message).with_code(code)
    }

    /// The coarse classification of this error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The service's error code (`ERROR_...`, `IP_BANNED`, ...) when the service sent one.
    pub fn api_code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// The HTTP status, when the error comes from a non-success HTTP answer.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The human-readable message, without the code.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// True when a deadline passed ([`ErrorKind::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// True when the service gave up on the task ([`ErrorKind::Unsolvable`]).
    pub fn is_unsolvable(&self) -> bool {
        self.kind() == ErrorKind::Unsolvable
    }

    /// True when the API key is malformed or unknown ([`ErrorKind::InvalidKey`]).
    pub fn is_invalid_key(&self) -> bool {
        self.kind() == ErrorKind::InvalidKey
    }

    /// True when the service could not be reached ([`ErrorKind::Network`]).
    pub fn is_network(&self) -> bool {
        self.kind() == ErrorKind::Network
    }

    /// True when the input was rejected ([`ErrorKind::BadInput`]).
    pub fn is_bad_input(&self) -> bool {
        self.kind() == ErrorKind::BadInput
    }

    /// True when the result store could not be reached ([`ErrorKind::StoreUnavailable`]).
    pub fn is_store_unavailable(&self) -> bool {
        self.kind() == ErrorKind::StoreUnavailable
    }

    /// True when the service answered with an API error code.
    pub fn is_api(&self) -> bool {
        self.inner.code.is_some()
    }

    /// True for failures that may heal by themselves and that the client retries with
    /// backoff: `ERROR_SERVER_ERROR`, `ERROR_INTERNAL_SERVER_ERROR`, the rate-limit
    /// penalties `MAX_USER_TURN` and `ERROR: 1005`, HTTP 5xx and 429,
    /// connection failures.
    pub fn is_transient(&self) -> bool {
        match self.api_code() {
            Some(code) => is_transient_code(code),
            None => self.kind() == ErrorKind::Network,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(code) = &self.inner.code {
            d.field("code", code);
        }
        if let Some(status) = self.inner.status {
            d.field("status", &status);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        if let Some(code) = &self.inner.code {
            write!(f, " ({code})")?;
        }
        if let Some(status) = self.inner.status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Codes that may heal: retried with exponential backoff. The rate-limit penalties are among
/// them: `MAX_USER_TURN` lifts after about 10 s, `ERROR: 1005` when the client polls less.
pub(crate) fn is_transient_code(code: &str) -> bool {
    // Of 2captcha's blocks, the short ones are waited out (every request of the client waits
    // for a block to lift); a block of minutes (1001, 1002, 1004) is the account's
    // suspension, reported.
    matches!(
        code,
        "ERROR_SERVER_ERROR"
            | "ERROR_INTERNAL_SERVER_ERROR"
            | "MAX_USER_TURN"
            | "ERROR: 1003"
            | "ERROR: 1005"
    )
}

/// How long one of 2captcha's blocks keeps the account out, from its code (`ERROR: 1001` to
/// `ERROR: 1004`), as 2captcha's error list gives the durations (infosimples/node_two_captcha
/// `src/constants.js`): 10 minutes after a burst of busy answers (1001) or of bad keys
/// (1004), 5 minutes after a burst of no-funds answers (1002), 30 seconds for a long queue of
/// busy answers (1003). `ERROR: 1005` (too many polls) lasts as long as the polls keep
/// coming: it is backed off like `MAX_USER_TURN`, not waited out.
pub(crate) fn block_length(code: &str) -> Option<std::time::Duration> {
    let minutes = |m: u64| std::time::Duration::from_secs(m * 60);
    Some(match code.trim() {
        "ERROR: 1001" | "ERROR: 1004" => minutes(10),
        "ERROR: 1002" => minutes(5),
        "ERROR: 1003" => std::time::Duration::from_secs(30),
        _ => return None,
    })
}

/// The SDK's mapping from codes to error classes, with lowercase messages.
fn classify_code(code: &str) -> (ErrorKind, &'static str) {
    use ErrorKind::*;
    match code {
        "ERROR_WRONG_USER_KEY" => (InvalidKey, "api key must be 32 characters"),
        "ERROR_KEY_DOES_NOT_EXIST" => (InvalidKey, "api key not found"),
        "ERROR_BAD_PARAMETERS" => (BadInput, "required parameters missing or malformed"),
        "ERROR_PAGEURL" => (BadInput, "pageurl is missing or invalid"),
        "ERROR_GOOGLEKEY" => (BadInput, "googlekey/sitekey is missing"),
        "ERROR_WRONG_GOOGLEKEY" => (BadInput, "googlekey is malformed"),
        "ERROR_BAD_TOKEN_OR_PAGEURL" => (BadInput, "wrong sitekey and pageurl pair"),
        "ERROR_TOO_BIG_CAPTCHA_FILESIZE" => (BadInput, "image is too large"),
        "ERROR_ZERO_CAPTCHA_FILESIZE" => (BadInput, "image is too small"),
        "ERROR_IMAGE_DIMENSIONS_TOO_LARGE" => (BadInput, "image dimensions are too large"),
        "ERROR_WRONG_FILE_EXTENSION" => (BadInput, "unsupported image file extension"),
        "ERROR_IMAGE_TYPE_NOT_SUPPORTED" => (BadInput, "unsupported image type"),
        "ERROR_UPLOAD" => (BadInput, "bad image upload"),
        "ERROR_PROXY_FORMAT" => (BadInput, "proxy is malformed"),
        "ERROR_BAD_PROXY" => (Proxy, "proxy was marked bad"),
        "ERROR_PROXY_CONNECTION_FAILED" => (Proxy, "proxy connection failed"),
        "ERROR_CAPTCHA_UNSOLVABLE" => (Unsolvable, "captcha could not be solved"),
        "ERROR_ZERO_BALANCE" | "ERROR_NO_SLOT_AVAILABLE" => {
            (ThreadLimit, "all account threads are busy")
        }
        "ERROR_SERVER_ERROR" => (Api, "transient server error"),
        "ERROR_INTERNAL_SERVER_ERROR" => (Api, "internal server error"),
        "ERROR_WRONG_ID_FORMAT" => (Api, "task id is not numeric"),
        "ERROR_WRONG_CAPTCHA_ID" => (Api, "task id not found"),
        "ERROR_EMPTY_ACTION" => (Api, "missing action parameter"),
        "ERROR_DUPLICATE_REPORT" => (Api, "task already reported"),
        "ERROR_REPORT_NOT_RECORDED" => (Api, "report not recorded"),
        "ERROR_IP_NOT_ALLOWED" => (Api, "source ip not allowed for this key"),
        "IP_BANNED" => (Api, "ip banned after too many bad key attempts"),
        "MAX_USER_TURN" => (Api, "too many submits in a short time"),
        _ if code.starts_with("ERROR: ") => (Api, "account suspended by the service"),
        _ => (Api, "api error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_transient_and_last_as_documented() {
        let min = |m: u64| std::time::Duration::from_secs(m * 60);
        assert_eq!(block_length("ERROR: 1001"), Some(min(10)));
        assert_eq!(block_length("ERROR: 1002"), Some(min(5)));
        assert_eq!(
            block_length("ERROR: 1003"),
            Some(std::time::Duration::from_secs(30))
        );
        assert_eq!(block_length("ERROR: 1004"), Some(min(10)));
        assert_eq!(
            block_length("ERROR: 1005"),
            None,
            "backed off, not waited out"
        );
        assert_eq!(block_length("ERROR: 1006"), None);
        assert!(
            Error::from_api_code("ERROR: 1003").is_transient(),
            "30 seconds"
        );
        assert!(
            !Error::from_api_code("ERROR: 1004").is_transient(),
            "10 minutes"
        );
        assert!(!Error::from_api_code("ERROR_ZERO_BALANCE").is_transient());
    }

    #[test]
    fn codes_map_to_the_sdk_taxonomy() {
        let cases = [
            ("ERROR_WRONG_USER_KEY", ErrorKind::InvalidKey),
            ("ERROR_KEY_DOES_NOT_EXIST", ErrorKind::InvalidKey),
            ("ERROR_BAD_PARAMETERS", ErrorKind::BadInput),
            ("ERROR_UPLOAD", ErrorKind::BadInput),
            ("ERROR_BAD_PROXY", ErrorKind::Proxy),
            ("ERROR_CAPTCHA_UNSOLVABLE", ErrorKind::Unsolvable),
            ("ERROR_ZERO_BALANCE", ErrorKind::ThreadLimit),
            ("ERROR_WRONG_CAPTCHA_ID", ErrorKind::Api),
            ("ERROR: 1005", ErrorKind::Api),
            ("ERROR: 1003", ErrorKind::Api),
            ("SOMETHING_NEW", ErrorKind::Api),
        ];
        for (code, kind) in cases {
            let err = Error::from_api_code(code);
            assert_eq!(err.kind(), kind, "{code}");
            assert_eq!(err.api_code(), Some(code));
            assert!(err.is_api());
        }
    }

    #[test]
    fn transient_classification() {
        assert!(Error::from_api_code("ERROR_SERVER_ERROR").is_transient());
        assert!(Error::from_api_code("ERROR_INTERNAL_SERVER_ERROR").is_transient());
        assert!(Error::from_api_code("MAX_USER_TURN").is_transient());
        assert!(Error::from_api_code("ERROR: 1005").is_transient());
        assert!(
            !Error::from_api_code("ERROR: 1001").is_transient(),
            "a suspension"
        );
        assert!(
            !Error::from_api_code("IP_BANNED").is_transient(),
            "minutes, not seconds"
        );
        assert!(!Error::from_api_code("ERROR_WRONG_USER_KEY").is_transient());
        assert!(Error::new(ErrorKind::Network, "refused").is_transient());
        assert!(!Error::timeout("late").is_transient());
    }

    #[test]
    fn display_carries_code_and_status() {
        let err = Error::new(ErrorKind::Network, "http failure").with_status(503);
        assert_eq!(err.to_string(), "http failure (HTTP 503)");
        let err = Error::from_api_code("ERROR_PAGEURL");
        assert_eq!(
            err.to_string(),
            "pageurl is missing or invalid (ERROR_PAGEURL)"
        );
    }
}
