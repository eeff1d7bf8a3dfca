//! Every status and error code the service answers with (`ERROR_WRONG_USER_KEY`,
//! `CAPCHA_NOT_READY`, `OK_REPORT_RECORDED`, ...): the vocabulary the state decides in and the
//! API renders ([`crate::api::wire`]: `json=0` text or `json=1` JSON).

use serde::Serialize;

macro_rules! codes {
    ($($(#[$m:meta])* $name:ident = $text:literal,)*) => {
        /// Every status and error code the mock can answer.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub(crate) enum Code {
            $($(#[$m])* #[serde(rename = $text)] $name,)*
        }

        impl Code {
            /// The code as it appears on the wire.
            pub(crate) const fn as_str(self) -> &'static str {
                match self { $(Code::$name => $text,)* }
            }

            /// Every code, for tests.
            #[cfg(test)]
            pub(crate) const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// Parses a wire code.
            pub(crate) fn parse(s: &str) -> Option<Code> {
                match s { $($text => Some(Code::$name),)* _ => None }
            }

            /// The whole `json=1` answer, `{"status":0,"request":"<code>"}` (status 1 for
            /// `OK_REPORT_RECORDED`), as a static string: the most frequent answers of
            /// all (`CAPCHA_NOT_READY`) cost no formatting and no allocation.
            pub(crate) fn json_reply(self) -> &'static str {
                const FAILED: &[&str] = &[$(concat!(r#"{"status":0,"request":""#, $text, r#""}"#),)*];
                const OK: &[&str] = &[$(concat!(r#"{"status":1,"request":""#, $text, r#""}"#),)*];
                if self.is_error() {
                    FAILED[self as usize]
                } else {
                    OK[self as usize]
                }
            }
        }
    };
}

codes! {
    /// Key is not 32 characters.
    WrongUserKey = "ERROR_WRONG_USER_KEY",
    /// Unknown key (CaptchaAI: also an account with no plan).
    KeyDoesNotExist = "ERROR_KEY_DOES_NOT_EXIST",
    /// CaptchaAI: all threads busy; 2captcha: no funds.
    ZeroBalance = "ERROR_ZERO_BALANCE",
    /// Queue full, retry in a few seconds.
    NoSlotAvailable = "ERROR_NO_SLOT_AVAILABLE",
    /// `pageurl` missing or invalid.
    PageUrl = "ERROR_PAGEURL",
    /// `googlekey`/`sitekey` missing.
    GoogleKey = "ERROR_GOOGLEKEY",
    /// `googlekey` malformed.
    WrongGoogleKey = "ERROR_WRONG_GOOGLEKEY",
    /// Wrong sitekey and pageurl pair.
    BadTokenOrPageUrl = "ERROR_BAD_TOKEN_OR_PAGEURL",
    /// Missing or ill-formed parameters; unknown method.
    BadParameters = "ERROR_BAD_PARAMETERS",
    /// Image smaller than 100 bytes.
    ZeroCaptchaFilesize = "ERROR_ZERO_CAPTCHA_FILESIZE",
    /// Image larger than the limit.
    TooBigCaptchaFilesize = "ERROR_TOO_BIG_CAPTCHA_FILESIZE",
    /// Image wider or taller than the limit.
    ImageDimensionsTooLarge = "ERROR_IMAGE_DIMENSIONS_TOO_LARGE",
    /// File extension not jpg, jpeg, png or gif.
    WrongFileExtension = "ERROR_WRONG_FILE_EXTENSION",
    /// File content is not a supported image.
    ImageTypeNotSupported = "ERROR_IMAGE_TYPE_NOT_SUPPORTED",
    /// Malformed multipart or base64.
    Upload = "ERROR_UPLOAD",
    /// Proxy string malformed.
    ProxyFormat = "ERROR_PROXY_FORMAT",
    /// Proxy marked bad.
    BadProxy = "ERROR_BAD_PROXY",
    /// Request from an IP not on the allow-list (also: unregistered pingback host in the 2captcha dialect).
    IpAddres = "ERROR_IP_ADDRES",
    /// Request IP not allowed.
    IpNotAllowed = "ERROR_IP_NOT_ALLOWED",
    /// Too many bad-key attempts.
    IpBanned = "IP_BANNED",
    /// More than 60 in.php requests in 3 s.
    MaxUserTurn = "MAX_USER_TURN",
    /// Transient server error.
    ServerError = "ERROR_SERVER_ERROR",
    /// Transient internal server error.
    InternalServerError = "ERROR_INTERNAL_SERVER_ERROR",
    /// Not solved yet (sic).
    NotReady = "CAPCHA_NOT_READY",
    /// The task could not be solved.
    CaptchaUnsolvable = "ERROR_CAPTCHA_UNSOLVABLE",
    /// Task id not numeric.
    WrongIdFormat = "ERROR_WRONG_ID_FORMAT",
    /// Unknown task id.
    WrongCaptchaId = "ERROR_WRONG_CAPTCHA_ID",
    /// Proxy failed while solving.
    ProxyConnectionFailed = "ERROR_PROXY_CONNECTION_FAILED",
    /// No `action`, or an unknown one.
    EmptyAction = "ERROR_EMPTY_ACTION",
    /// A second report for the same task.
    DuplicateReport = "ERROR_DUPLICATE_REPORT",
    /// Report for an unknown, unfinished or too old task.
    ReportNotRecorded = "ERROR_REPORT_NOT_RECORDED",
    /// Report accepted.
    ReportRecorded = "OK_REPORT_RECORDED",
    /// 2captcha suspension (rate limit), literally `ERROR: 1005`.
    Error1005 = "ERROR: 1005",
}

impl Code {
    /// True for codes that mean failure (`status: 0`).
    pub(crate) fn is_error(self) -> bool {
        !matches!(self, Code::ReportRecorded)
    }
}
