//! [`RejectReason`]: why the receiver refused a callback, and the HTTP status it answers.

/// Why the receiver refused a callback. Each reason has its HTTP status
/// ([`RejectReason::status`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// Neither GET nor POST (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The source address is outside the allow-list (403).
    #[error("source address not allowed")]
    SourceNotAllowed,
    /// An allow-list is set but the source address is unknown: the app was not served with
    /// `into_make_service_with_connect_info` (403, fail closed).
    #[error("source address unknown; serve with into_make_service_with_connect_info")]
    NoConnectInfo,
    /// The shared secret is missing or wrong (403).
    #[error("missing or wrong secret")]
    BadSecret,
    /// A POST body that is not `application/x-www-form-urlencoded` (415).
    #[error("body must be application/x-www-form-urlencoded")]
    UnsupportedContentType,
    /// The body is larger than the receiver accepts (413).
    #[error("body too large")]
    BodyTooLarge,
    /// The body could not be read (400).
    #[error("unreadable body")]
    UnreadableBody,
    /// No `id` (400).
    #[error("missing id")]
    MissingId,
    /// `id` is not a number (400).
    #[error("id is not numeric")]
    InvalidId,
    /// `id` or `code` given twice with different values (400).
    #[error("parameter given twice with different values")]
    AmbiguousParameter,
    /// No `code`, or an empty one (400).
    #[error("missing code")]
    MissingCode,
    /// `code` longer than the configured maximum (400).
    #[error("code too large")]
    CodeTooLarge,
    /// Registered-only mode and the task is not registered (404).
    #[error("unknown task")]
    UnknownTask,
    /// The store could not be reached, so the result was not kept (503, `Retry-After: 1`):
    /// the sender retries, and nothing is acknowledged that is not stored.
    #[error("result store unavailable")]
    StoreUnavailable,
}

impl RejectReason {
    /// The HTTP status the receiver answers with.
    pub fn status(&self) -> u16 {
        match self {
            RejectReason::MethodNotAllowed => 405,
            RejectReason::SourceNotAllowed
            | RejectReason::NoConnectInfo
            | RejectReason::BadSecret => 403,
            RejectReason::UnsupportedContentType => 415,
            RejectReason::BodyTooLarge => 413,
            RejectReason::UnknownTask => 404,
            RejectReason::StoreUnavailable => 503,
            RejectReason::UnreadableBody
            | RejectReason::MissingId
            | RejectReason::InvalidId
            | RejectReason::AmbiguousParameter
            | RejectReason::MissingCode
            | RejectReason::CodeTooLarge => 400,
        }
    }
}
