//! The per-method table: how each [`TaskKind`] is submitted ([`SubmitMethod`]), when it is
//! polled ([`PollTiming`]) and how its answer is shaped ([`AnswerShape`]). The table itself
//! is in the [module docs](super).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;

/// The HTTP method a task is submitted to `in.php` with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubmitMethod {
    /// Parameters in the query string (token types).
    Get,
    /// Parameters as an `application/x-www-form-urlencoded` body (image, enterprise and
    /// Cloudflare Challenge types).
    Post,
}

/// When to poll `res.php` for a task: once after `initial_wait`, then every `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PollTiming {
    /// Wait between a successful submit and the first poll.
    pub initial_wait: Duration,
    /// Wait between two polls.
    pub interval: Duration,
}

impl PollTiming {
    /// A timing from its two parts.
    pub const fn new(initial_wait: Duration, interval: Duration) -> Self {
        PollTiming {
            initial_wait,
            interval,
        }
    }
}

/// How the answer of a method is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnswerShape {
    /// A token or the text read from an image.
    Text,
    /// A JSON array of cell indices (grid, BLS).
    Cells,
    /// A JSON object (GeeTest, Lemin).
    Object,
}

/// Every method in the SDK's registry, one row each.
///
/// ```
/// use std::time::Duration;
/// use captchaai_client::task::{SubmitMethod, TaskKind};
///
/// let kind: TaskKind = "recaptcha_v2_enterprise".parse().unwrap();
/// assert_eq!(kind.api_method(), "userrecaptcha");
/// assert_eq!(kind.submit_method(), SubmitMethod::Post);
/// assert_eq!(kind.timing().initial_wait, Duration::from_secs(15));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskKind {
    /// Normal image captcha.
    Normal,
    /// Grid (tile selection) image captcha.
    Grid,
    /// BLS: nine images and an instruction.
    Bls,
    /// reCAPTCHA v2.
    RecaptchaV2,
    /// reCAPTCHA v2, invisible.
    RecaptchaV2Invisible,
    /// reCAPTCHA v2 Enterprise.
    RecaptchaV2Enterprise,
    /// reCAPTCHA v3.
    RecaptchaV3,
    /// reCAPTCHA v3 Enterprise.
    RecaptchaV3Enterprise,
    /// Cloudflare Turnstile.
    Turnstile,
    /// Cloudflare Challenge page (cf_clearance).
    CloudflareChallenge,
    /// GeeTest v3.
    Geetest,
    /// CaptchaFox.
    CaptchaFox,
    /// Friendly Captcha.
    FriendlyCaptcha,
    /// Lemin puzzle.
    Lemin,
}

impl TaskKind {
    /// Every kind, in table order.
    pub const ALL: [TaskKind; 14] = [
        TaskKind::Normal,
        TaskKind::Grid,
        TaskKind::Bls,
        TaskKind::RecaptchaV2,
        TaskKind::RecaptchaV2Invisible,
        TaskKind::RecaptchaV2Enterprise,
        TaskKind::RecaptchaV3,
        TaskKind::RecaptchaV3Enterprise,
        TaskKind::Turnstile,
        TaskKind::CloudflareChallenge,
        TaskKind::Geetest,
        TaskKind::CaptchaFox,
        TaskKind::FriendlyCaptcha,
        TaskKind::Lemin,
    ];

    /// The SDK's type name, e.g. `"recaptcha_v2_invisible"`.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Normal => "normal",
            TaskKind::Grid => "grid",
            TaskKind::Bls => "bls",
            TaskKind::RecaptchaV2 => "recaptcha_v2",
            TaskKind::RecaptchaV2Invisible => "recaptcha_v2_invisible",
            TaskKind::RecaptchaV2Enterprise => "recaptcha_v2_enterprise",
            TaskKind::RecaptchaV3 => "recaptcha_v3",
            TaskKind::RecaptchaV3Enterprise => "recaptcha_v3_enterprise",
            TaskKind::Turnstile => "turnstile",
            TaskKind::CloudflareChallenge => "cloudflare_challenge",
            TaskKind::Geetest => "geetest",
            TaskKind::CaptchaFox => "captchafox",
            TaskKind::FriendlyCaptcha => "friendly_captcha",
            TaskKind::Lemin => "lemin",
        }
    }

    /// The `method=` value sent to `in.php`.
    pub fn api_method(self) -> &'static str {
        match self {
            TaskKind::Normal | TaskKind::Grid => "base64",
            TaskKind::Bls => "bls",
            TaskKind::RecaptchaV2
            | TaskKind::RecaptchaV2Invisible
            | TaskKind::RecaptchaV2Enterprise
            | TaskKind::RecaptchaV3
            | TaskKind::RecaptchaV3Enterprise => "userrecaptcha",
            TaskKind::Turnstile => "turnstile",
            TaskKind::CloudflareChallenge => "cloudflare_challenge",
            TaskKind::Geetest => "geetest",
            TaskKind::CaptchaFox => "captchafox",
            TaskKind::FriendlyCaptcha => "friendly_captcha",
            TaskKind::Lemin => "lemin",
        }
    }

    /// GET for token types, urlencoded POST for image, enterprise and Cloudflare Challenge
    /// types, as the SDK does.
    pub fn submit_method(self) -> SubmitMethod {
        match self {
            TaskKind::Normal
            | TaskKind::Grid
            | TaskKind::Bls
            | TaskKind::RecaptchaV2Enterprise
            | TaskKind::RecaptchaV3Enterprise
            | TaskKind::CloudflareChallenge => SubmitMethod::Post,
            _ => SubmitMethod::Get,
        }
    }

    /// The SDK's initial wait and poll interval for this kind.
    pub fn timing(self) -> PollTiming {
        let initial = match self {
            TaskKind::Normal | TaskKind::Grid | TaskKind::Bls => 1,
            TaskKind::RecaptchaV2
            | TaskKind::RecaptchaV2Invisible
            | TaskKind::RecaptchaV2Enterprise
            | TaskKind::CloudflareChallenge
            | TaskKind::Geetest => 15,
            TaskKind::RecaptchaV3
            | TaskKind::RecaptchaV3Enterprise
            | TaskKind::Turnstile
            | TaskKind::CaptchaFox
            | TaskKind::FriendlyCaptcha
            | TaskKind::Lemin => 10,
        };
        PollTiming::new(Duration::from_secs(initial), Duration::from_secs(5))
    }

    /// How the answer is shaped.
    pub fn answer_shape(self) -> AnswerShape {
        match self {
            TaskKind::Grid | TaskKind::Bls => AnswerShape::Cells,
            TaskKind::Geetest | TaskKind::Lemin => AnswerShape::Object,
            _ => AnswerShape::Text,
        }
    }

    /// True for the kinds whose token the SDK reads from the `result` field (enterprise
    /// reCAPTCHA, Cloudflare Challenge).
    pub fn token_in_result_field(self) -> bool {
        matches!(
            self,
            TaskKind::RecaptchaV2Enterprise
                | TaskKind::RecaptchaV3Enterprise
                | TaskKind::CloudflareChallenge
        )
    }

    /// True for the kinds that answer with the solver's user agent, which must be reused.
    pub fn returns_user_agent(self) -> bool {
        matches!(
            self,
            TaskKind::RecaptchaV2Enterprise
                | TaskKind::RecaptchaV3Enterprise
                | TaskKind::CloudflareChallenge
                | TaskKind::CaptchaFox
        )
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TaskKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        TaskKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::bad_input(format!("unknown task kind: {s:?}")))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_sdk_registry() {
        let expect = [
            ("normal", "base64", SubmitMethod::Post, 1),
            ("grid", "base64", SubmitMethod::Post, 1),
            ("bls", "bls", SubmitMethod::Post, 1),
            ("recaptcha_v2", "userrecaptcha", SubmitMethod::Get, 15),
            (
                "recaptcha_v2_invisible",
                "userrecaptcha",
                SubmitMethod::Get,
                15,
            ),
            (
                "recaptcha_v2_enterprise",
                "userrecaptcha",
                SubmitMethod::Post,
                15,
            ),
            ("recaptcha_v3", "userrecaptcha", SubmitMethod::Get, 10),
            (
                "recaptcha_v3_enterprise",
                "userrecaptcha",
                SubmitMethod::Post,
                10,
            ),
            ("turnstile", "turnstile", SubmitMethod::Get, 10),
            (
                "cloudflare_challenge",
                "cloudflare_challenge",
                SubmitMethod::Post,
                15,
            ),
            ("geetest", "geetest", SubmitMethod::Get, 15),
            ("captchafox", "captchafox", SubmitMethod::Get, 10),
            (
                "friendly_captcha",
                "friendly_captcha",
                SubmitMethod::Get,
                10,
            ),
            ("lemin", "lemin", SubmitMethod::Get, 10),
        ];
        assert_eq!(expect.len(), TaskKind::ALL.len());
        for (name, method, http, initial) in expect {
            let kind: TaskKind = name.parse().unwrap();
            assert_eq!(kind.name(), name);
            assert_eq!(kind.api_method(), method, "{name}");
            assert_eq!(kind.submit_method(), http, "{name}");
            assert_eq!(kind.timing().initial_wait, Duration::from_secs(initial));
            assert_eq!(kind.timing().interval, Duration::from_secs(5));
        }
        assert!("hcaptcha".parse::<TaskKind>().is_err());
    }
}
