//! Every status and error code the service answers with (`ERROR_WRONG_USER_KEY`,
//! `CAPCHA_NOT_READY`, `OK_REPORT_RECORDED`, ...): the vocabulary the state decides in and the
//! API renders ([`crate::api::wire`]: `json=0` text or `json=1` JSON).
//!
//! Each code carries the description 2captcha sends as `error_text` beside `request` in a
//! `json=1` error (`{"status":0,"request":"ERROR_WRONG_USER_KEY","error_text":"You've
//! provided ..."}`; unicaps `_service/twocaptcha.py` and CaptchaSharp's `TwoCaptchaResponse`
//! read it). The texts are 2captcha's own, as its error list gives them and as
//! infosimples/node_two_captcha `src/constants.js` copies them; codes 2captcha does not list
//! (`ERROR_SERVER_ERROR`, `ERROR_PROXY_FORMAT`, ...) get a sentence in the same style.

use serde::Serialize;

macro_rules! codes {
    ($($(#[$m:meta])* $name:ident = $text:literal, $description:literal,)*) => {
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

            /// What the code means, in 2captcha's words (its `error_text`).
            #[cfg(test)]
            pub(crate) const fn description(self) -> &'static str {
                match self { $(Code::$name => $description,)* }
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
            /// all (`CAPCHA_NOT_READY`) cost no formatting and no allocation. With
            /// `error_text`, an error carries its description too (2captcha); a status that
            /// is no error (`CAPCHA_NOT_READY`, `OK_REPORT_RECORDED`) never does.
            pub(crate) fn json_reply(self, error_text: bool) -> &'static str {
                const FAILED: &[&str] = &[$(concat!(r#"{"status":0,"request":""#, $text, r#""}"#),)*];
                const TEXT: &[&str] = &[$(concat!(
                    r#"{"status":0,"request":""#, $text, r#"","error_text":""#, $description, r#""}"#
                ),)*];
                const OK: &[&str] = &[$(concat!(r#"{"status":1,"request":""#, $text, r#""}"#),)*];
                if !self.is_error() {
                    OK[self as usize]
                } else if error_text && self != Code::NotReady {
                    TEXT[self as usize]
                } else {
                    FAILED[self as usize]
                }
            }
        }
    };
}

codes! {
    /// Key is not 32 characters.
    WrongUserKey = "ERROR_WRONG_USER_KEY",
        "You've provided key parameter value in incorrect format, it should contain 32 symbols.",
    /// Unknown key (CaptchaAI: also an account with no plan).
    KeyDoesNotExist = "ERROR_KEY_DOES_NOT_EXIST", "The key you've provided does not exist.",
    /// CaptchaAI: all threads busy; 2captcha: no funds.
    ZeroBalance = "ERROR_ZERO_BALANCE", "You don't have funds on your account.",
    /// Queue full, retry in a few seconds.
    NoSlotAvailable = "ERROR_NO_SLOT_AVAILABLE",
        "No slot available: the queue of your captchas is too long, retry in 5 seconds.",
    /// `pageurl` missing or invalid.
    PageUrl = "ERROR_PAGEURL", "pageurl parameter is missing in your request.",
    /// 2captcha: the site key is blank or malformed; CaptchaAI: any site-key problem.
    GoogleKey = "ERROR_GOOGLEKEY",
        "The sitekey value provided in your request is incorrect: it's blank or malformed.",
    /// 2captcha: the `googlekey` parameter is missing.
    WrongGoogleKey = "ERROR_WRONG_GOOGLEKEY", "The googlekey parameter is missing in your request.",
    /// Wrong sitekey and pageurl pair.
    BadTokenOrPageUrl = "ERROR_BAD_TOKEN_OR_PAGEURL",
        "Your request contains an invalid pair of googlekey and pageurl.",
    /// Missing or ill-formed parameters; unknown method.
    BadParameters = "ERROR_BAD_PARAMETERS",
        "Some required parameters are missing in your request or the values have incorrect format.",
    /// Image smaller than the minimum (100 bytes).
    ZeroCaptchaFilesize = "ERROR_ZERO_CAPTCHA_FILESIZE", "Image size is less than 100 bytes.",
    /// Image larger than the limit, in bytes or (2captcha) in pixels.
    TooBigCaptchaFilesize = "ERROR_TOO_BIG_CAPTCHA_FILESIZE",
        "Image size is more than 100 kB or image is bigger than 600px on any side.",
    /// Image wider or taller than the limit, when configured to say so (CaptchaAI's SDK
    /// expects it; neither service's documentation lists it).
    ImageDimensionsTooLarge = "ERROR_IMAGE_DIMENSIONS_TOO_LARGE",
        "Image dimensions are too large.",
    /// File extension not jpg, jpeg, png or gif.
    WrongFileExtension = "ERROR_WRONG_FILE_EXTENSION",
        "Image file has unsupported extension. Accepted extensions: jpg, jpeg, gif, png.",
    /// File content is not a supported image.
    ImageTypeNotSupported = "ERROR_IMAGE_TYPE_NOT_SUPPORTED", "Server can't recognize image file type.",
    /// Malformed multipart or base64.
    Upload = "ERROR_UPLOAD",
        "Server can't get file data from your POST-request: it is malformed or the base64 data is not a valid image.",
    /// Proxy string malformed.
    ProxyFormat = "ERROR_PROXY_FORMAT", "The proxy is not in a format the service accepts.",
    /// Proxy marked bad.
    BadProxy = "ERROR_BAD_PROXY", "The proxy you sent is marked as BAD.",
    /// `add_pingback` for an address the caller does not own; a pingback URL whose host is not
    /// registered (2captcha dialect).
    IpAddres = "ERROR_IP_ADDRES",
        "Your request is coming from an IP address that doesn't match the IP address of your pingback IP or domain.",
    /// Request IP not allowed.
    IpNotAllowed = "ERROR_IP_NOT_ALLOWED",
        "The request is sent from the IP that is not on the list of your allowed IPs.",
    /// Too many bad-key attempts.
    IpBanned = "IP_BANNED",
        "Your IP address is banned due to many frequent attempts to access the server using wrong authorization keys.",
    /// More than 60 in.php requests in 3 s.
    MaxUserTurn = "MAX_USER_TURN",
        "You made more than 60 requests to in.php within 3 seconds. Your account is banned for 10 seconds.",
    /// Transient server error.
    ServerError = "ERROR_SERVER_ERROR", "Temporary server error, retry later.",
    /// Transient internal server error.
    InternalServerError = "ERROR_INTERNAL_SERVER_ERROR", "Temporary internal server error, retry later.",
    /// Not solved yet (sic).
    NotReady = "CAPCHA_NOT_READY", "Your captcha is not solved yet.",
    /// The task could not be solved.
    CaptchaUnsolvable = "ERROR_CAPTCHA_UNSOLVABLE",
        "We are unable to solve your captcha - three of our workers were unable solve it. We will not charge you for this request.",
    /// Task id not numeric.
    WrongIdFormat = "ERROR_WRONG_ID_FORMAT",
        "You've provided captcha ID in wrong format. The ID can contain numbers only.",
    /// Unknown task id.
    WrongCaptchaId = "ERROR_WRONG_CAPTCHA_ID", "You've provided incorrect captcha ID.",
    /// Proxy failed while solving.
    ProxyConnectionFailed = "ERROR_PROXY_CONNECTION_FAILED",
        "We were unable to load the captcha through your proxy server.",
    /// No `action`, or an unknown one.
    EmptyAction = "ERROR_EMPTY_ACTION", "Action parameter is missing or no value is provided for action parameter.",
    /// A second report for the same task.
    DuplicateReport = "ERROR_DUPLICATE_REPORT", "You have already reported this captcha.",
    /// Report for an unknown, unfinished or too old task (counted from its submission).
    ReportNotRecorded = "ERROR_REPORT_NOT_RECORDED",
        "Error is returned to your report request if you already complained lots of correctly solved captchas (more than 40%), or if more than 15 minutes passed after you submitted the captcha.",
    /// Report accepted.
    ReportRecorded = "OK_REPORT_RECORDED", "",
    /// 2captcha block: 120 `ERROR_NO_SLOT_AVAILABLE` answers in a minute (10 minutes).
    Error1001 = "ERROR: 1001",
        "You received 120 ERROR_NO_SLOT_AVAILABLE errors in one minute. You are blocked for 10 minutes.",
    /// 2captcha block: 120 `ERROR_ZERO_BALANCE` answers in a minute (5 minutes).
    Error1002 = "ERROR: 1002",
        "You received 120 ERROR_ZERO_BALANCE errors in one minute because your balance is out. You are blocked for 5 minutes.",
    /// 2captcha block: far more `ERROR_NO_SLOT_AVAILABLE` answers than captchas sent (30 s).
    Error1003 = "ERROR: 1003",
        "You are getting ERROR_NO_SLOT_AVAILABLE because the server has a long queue of your captchas. You are blocked for 30 seconds.",
    /// 2captcha block: requests with a wrong key from one address (10 minutes).
    Error1004 = "ERROR: 1004",
        "Your IP address is blocked because there were 5 requests with incorrect API key from your IP. You are blocked for 10 minutes.",
    /// 2captcha suspension (rate limit), literally `ERROR: 1005`.
    Error1005 = "ERROR: 1005", "You are making too many requests to res.php to get answers.",
}

impl Code {
    /// True for codes that mean failure (`status: 0`).
    pub(crate) fn is_error(self) -> bool {
        !matches!(self, Code::ReportRecorded)
    }
}
