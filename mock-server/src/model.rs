//! The service's vocabulary: which service the mock imitates ([`Dialect`]), the kinds of task
//! it solves ([`TaskKind`]), how a callback travels ([`CallbackMethod`]) and how a task id is
//! written in a JSON answer ([`TaskIdEncoding`]).
//!
//! Every other module speaks these words: the configuration names them, the API validates
//! submissions into them, the fault rules match on them and the dispatcher sends with them.
//! They depend on nothing else in the crate, so no module has to import another one's
//! internals to use them. Where a fact follows from one of them (the callback method of a
//! dialect, the default solve time of a kind), it is a method here, written once.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which service the mock imitates where CaptchaAI and 2captcha differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Dialect {
    /// CaptchaAI: GET pingbacks, no registration, `threadsinfo`, threads are the plan.
    #[default]
    #[serde(rename = "captchaai")]
    Captchaai,
    /// 2captcha: POST-form pingbacks from registered hosts only, balance is charged.
    #[serde(rename = "2captcha")]
    TwoCaptcha,
}

impl Dialect {
    /// How this service sends its pingbacks: CaptchaAI with GET (`?id=..&code=..`),
    /// 2captcha with a POST form.
    ///
    /// ```
    /// use captchaai_mock::{CallbackMethod, Dialect};
    /// assert_eq!(Dialect::Captchaai.callback_method(), CallbackMethod::Get);
    /// assert_eq!(Dialect::TwoCaptcha.callback_method(), CallbackMethod::Post);
    /// ```
    pub fn callback_method(self) -> CallbackMethod {
        match self {
            Dialect::Captchaai => CallbackMethod::Get,
            Dialect::TwoCaptcha => CallbackMethod::Post,
        }
    }

    /// The name used in configuration files and on the command line (`captchaai`, `2captcha`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Captchaai => "captchaai",
            Dialect::TwoCaptcha => "2captcha",
        }
    }
}

/// How task ids appear in JSON answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TaskIdEncoding {
    /// `"request": "74000000001"` (documented).
    #[default]
    String,
    /// `"request": 74000000001` (seen from CaptchaAI production).
    Integer,
}

/// HTTP method of a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CallbackMethod {
    /// `GET url?id=..&code=..` (CaptchaAI).
    Get,
    /// `POST url` with a form body (2captcha).
    Post,
}

impl CallbackMethod {
    /// The other method.
    pub fn other(self) -> Self {
        match self {
            CallbackMethod::Get => CallbackMethod::Post,
            CallbackMethod::Post => CallbackMethod::Get,
        }
    }

    /// `GET` or `POST`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackMethod::Get => "GET",
            CallbackMethod::Post => "POST",
        }
    }
}

/// The kind of task: one row of the SDK's method table.
// Not `#[non_exhaustive]`: code that maps every kind to something (the conformance harness
// builds a client task per kind) should be told by the compiler when a kind is added.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum TaskKind {
    /// Normal image captcha (`method=base64` or `post`).
    Normal,
    /// Grid / tile selection (`method=base64` with `grid_size` or `img_type=recaptcha`).
    Grid,
    /// BLS (`method=bls`, nine images).
    Bls,
    /// reCAPTCHA v2 (also invisible).
    RecaptchaV2,
    /// reCAPTCHA v2 Enterprise.
    RecaptchaV2Enterprise,
    /// reCAPTCHA v3.
    RecaptchaV3,
    /// reCAPTCHA v3 Enterprise.
    RecaptchaV3Enterprise,
    /// Cloudflare Turnstile.
    Turnstile,
    /// Cloudflare Challenge (cf_clearance).
    CloudflareChallenge,
    /// GeeTest v3.
    Geetest,
    /// CaptchaFox.
    Captchafox,
    /// Friendly Captcha.
    FriendlyCaptcha,
    /// Lemin.
    Lemin,
    /// hCaptcha (2captcha dialect only; CaptchaAI answers `ERROR_SERVER_ERROR`).
    Hcaptcha,
    /// GeeTest v4 (`method=geetest_v4`; 2captcha dialect only, CaptchaAI answers
    /// `ERROR_SERVER_ERROR`).
    GeetestV4,
    /// Coordinates (click) captcha: an image with `coordinatescaptcha=1` (2captcha dialect
    /// only; CaptchaAI ignores the flag and reads the image as a normal captcha).
    Coordinates,
}

impl TaskKind {
    /// Every kind.
    pub const ALL: [TaskKind; 16] = [
        TaskKind::Normal,
        TaskKind::Grid,
        TaskKind::Bls,
        TaskKind::RecaptchaV2,
        TaskKind::RecaptchaV2Enterprise,
        TaskKind::RecaptchaV3,
        TaskKind::RecaptchaV3Enterprise,
        TaskKind::Turnstile,
        TaskKind::CloudflareChallenge,
        TaskKind::Geetest,
        TaskKind::Captchafox,
        TaskKind::FriendlyCaptcha,
        TaskKind::Lemin,
        TaskKind::Hcaptcha,
        TaskKind::GeetestV4,
        TaskKind::Coordinates,
    ];

    /// The kebab-case name used in config files and reports.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Normal => "normal",
            TaskKind::Grid => "grid",
            TaskKind::Bls => "bls",
            TaskKind::RecaptchaV2 => "recaptcha-v2",
            TaskKind::RecaptchaV2Enterprise => "recaptcha-v2-enterprise",
            TaskKind::RecaptchaV3 => "recaptcha-v3",
            TaskKind::RecaptchaV3Enterprise => "recaptcha-v3-enterprise",
            TaskKind::Turnstile => "turnstile",
            TaskKind::CloudflareChallenge => "cloudflare-challenge",
            TaskKind::Geetest => "geetest",
            TaskKind::Captchafox => "captchafox",
            TaskKind::FriendlyCaptcha => "friendly-captcha",
            TaskKind::Lemin => "lemin",
            TaskKind::Hcaptcha => "hcaptcha",
            TaskKind::GeetestV4 => "geetest-v4",
            TaskKind::Coordinates => "coordinates",
        }
    }

    /// Parses a kebab-case name.
    ///
    /// ```
    /// use captchaai_mock::TaskKind;
    /// assert_eq!(TaskKind::from_name("recaptcha-v2"), Some(TaskKind::RecaptchaV2));
    /// assert_eq!(TaskKind::from_name("funcaptcha"), None);
    /// ```
    pub fn from_name(s: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Default solve-time median, from the times seen live.
    pub fn default_median(self) -> Duration {
        Duration::from_secs(match self {
            TaskKind::Normal => 6,
            TaskKind::Grid => 10,
            TaskKind::Bls => 8,
            TaskKind::RecaptchaV2 => 37,
            TaskKind::RecaptchaV2Enterprise => 40,
            TaskKind::RecaptchaV3 => 5,
            TaskKind::RecaptchaV3Enterprise => 6,
            TaskKind::Turnstile => 8,
            TaskKind::CloudflareChallenge => 90,
            TaskKind::Geetest => 15,
            TaskKind::Captchafox => 15,
            TaskKind::FriendlyCaptcha => 10,
            TaskKind::Lemin => 12,
            TaskKind::Hcaptcha => 20,
            TaskKind::GeetestV4 => 15,
            TaskKind::Coordinates => 10,
        })
    }

    /// The answer carries a `user_agent` (enterprise, Cloudflare, CaptchaFox).
    pub fn has_user_agent(self) -> bool {
        matches!(
            self,
            TaskKind::RecaptchaV2Enterprise
                | TaskKind::RecaptchaV3Enterprise
                | TaskKind::CloudflareChallenge
                | TaskKind::Captchafox
        )
    }

    /// Any reCAPTCHA token task (v2, v3, Enterprise).
    pub fn is_recaptcha(self) -> bool {
        matches!(
            self,
            TaskKind::RecaptchaV2
                | TaskKind::RecaptchaV2Enterprise
                | TaskKind::RecaptchaV3
                | TaskKind::RecaptchaV3Enterprise
        )
    }

    /// The token is also given in `result` (enterprise, Cloudflare).
    pub fn has_result_field(self) -> bool {
        matches!(
            self,
            TaskKind::RecaptchaV2Enterprise
                | TaskKind::RecaptchaV3Enterprise
                | TaskKind::CloudflareChallenge
        )
    }

    /// Price in the 2captcha dialect (per task, USD).
    pub fn price(self) -> f64 {
        match self {
            TaskKind::Normal | TaskKind::Grid | TaskKind::Bls | TaskKind::Coordinates => 0.00085,
            _ => 0.00299,
        }
    }
}

/// How a normal captcha's text answer is shaped (`numeric`, `caseSensitive`, lengths).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AnswerShape {
    /// `numeric`: 0 any, 1 digits only, 2 letters only, 3 digits and letters, 4 no digits.
    pub(crate) numeric: u8,
    /// `caseSensitive` / `regsense`.
    pub(crate) case_sensitive: bool,
    /// `min_len` (0 = unset); a coordinates captcha's `min_clicks`.
    pub(crate) min_len: u8,
    /// `max_len` (0 = unset); a coordinates captcha's `max_clicks`.
    pub(crate) max_len: u8,
    /// Number of grid cells (rows x columns, 9 for 3x3) for grid tasks.
    pub(crate) cells: u8,
    /// A coordinates captcha's image width and height in units of 4 pixels, rounded up
    /// (0 = unknown), so that its points fall inside the image; one byte each keeps a
    /// stored task as small as it was.
    pub(crate) extent: (u8, u8),
    /// The 2captcha dialect's shapes: grid cells as `click:3/8/9` instead of CaptchaAI's
    /// JSON array (`[3,8,9]`), GeeTest's keys as `geetest_challenge`, `geetest_validate`,
    /// `geetest_seccode`, Lemin's `challenge_id` instead of `challenge_uuid`.
    pub(crate) two_captcha: bool,
}

/// A validated submission: what to create.
#[derive(Clone, Debug)]
pub(crate) struct Submission {
    /// The kind of task.
    pub(crate) kind: TaskKind,
    /// Answer shaping for image tasks.
    pub(crate) shape: AnswerShape,
    /// The callback URL, if any.
    pub(crate) pingback: Option<String>,
    /// reCAPTCHA `cookies` to hand back with the answer (2captcha dialect),
    /// and whether as a JSON object (`json_cookies=1`).
    pub(crate) cookies: Option<(String, bool)>,
}
