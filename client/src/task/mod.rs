//! Typed tasks: one struct per captcha method of the official CaptchaAI SDK, gathered in
//! [`Task`], and the per-method table ([`TaskKind`]) that says how each is submitted and
//! polled.
//!
//! The table mirrors the SDK's `core/registry.py`:
//!
//! | kind | `method` | HTTP | initial wait / interval | answer |
//! |---|---|---|---|---|
//! | normal | `base64` | POST | 1 s / 5 s | text |
//! | grid | `base64` | POST | 1 s / 5 s | cell list |
//! | bls | `bls` | POST | 1 s / 5 s | cell list |
//! | recaptcha v2 (+ invisible) | `userrecaptcha` | GET | 15 s / 5 s | token |
//! | recaptcha v2 enterprise | `userrecaptcha` | POST | 15 s / 5 s | token (`result`) + user agent |
//! | recaptcha v3 | `userrecaptcha` | GET | 10 s / 5 s | token |
//! | recaptcha v3 enterprise | `userrecaptcha` | POST | 10 s / 5 s | token (`result`) + user agent |
//! | turnstile | `turnstile` | GET | 10 s / 5 s | token |
//! | cloudflare challenge | `cloudflare_challenge` | POST | 15 s / 5 s | cf_clearance (`result`) + user agent |
//! | geetest | `geetest` | GET | 15 s / 5 s | JSON object |
//! | captchafox | `captchafox` | GET | 10 s / 5 s | token + user agent |
//! | friendly captcha | `friendly_captcha` | GET | 10 s / 5 s | token |
//! | lemin | `lemin` | GET | 10 s / 5 s | JSON object |
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `kind.rs` | [`TaskKind`] and the table above ([`SubmitMethod`], [`PollTiming`], [`AnswerShape`]) |
//! | `image.rs` | [`Image`] |
//! | `proxy.rs` | [`Proxy`], [`ProxyType`] |
//! | `image_tasks.rs` | [`Normal`], [`Grid`] ([`GridSize`]), [`Bls`] |
//! | `recaptcha.rs` | [`RecaptchaV2`], [`RecaptchaV3`] |
//! | `widgets.rs` | [`Turnstile`], [`CloudflareChallenge`], [`Geetest`], [`CaptchaFox`], [`FriendlyCaptcha`], [`Lemin`] |
//!
//! Each method's struct holds its own local checks and `in.php` parameters; [`Task`] here
//! dispatches to them and adds what every method shares (the blank-parameter check, the
//! proxy).

/// Defines builder-style setters for optional string fields.
macro_rules! string_setters {
    ($ty:ident { $( $(#[$doc:meta])* $setter:ident => $field:ident ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                pub fn $setter(mut self, value: impl Into<String>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}

/// Defines `with_proxy` for tasks whose proxy is optional.
macro_rules! optional_proxy {
    ($($ty:ident),*) => {
        $(
            impl $ty {
                /// Routes the solve through this proxy (`proxy` and `proxytype`).
                pub fn with_proxy(mut self, proxy: Proxy) -> Self {
                    self.proxy = Some(proxy);
                    self
                }
            }
        )*
    };
}

mod image;
mod image_tasks;
mod kind;
mod proxy;
mod recaptcha;
mod widgets;

pub use image::Image;
pub use image_tasks::{Bls, Grid, GridSize, Normal};
pub use kind::{AnswerShape, PollTiming, SubmitMethod, TaskKind};
pub use proxy::{Proxy, ProxyType};
pub use recaptcha::{RecaptchaV2, RecaptchaV3};
pub use widgets::{CaptchaFox, CloudflareChallenge, FriendlyCaptcha, Geetest, Lemin, Turnstile};

use crate::error::Error;

/// The `in.php` parameters of a task, in the order they are sent.
type Params = Vec<(&'static str, String)>;

/// Adds an optional parameter when it is set.
fn push_opt(p: &mut Params, name: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        p.push((name, v.clone()));
    }
}

/// The wire spelling of a boolean option.
fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

/// A task to solve: one variant per method of the official SDK.
///
/// ```
/// use captchaai_client::Task;
/// use captchaai_client::task::{RecaptchaV2, Turnstile, TaskKind};
///
/// let task: Task = Turnstile::new("0x4AAAAAAA", "https://example.com/login").into();
/// assert_eq!(task.kind(), TaskKind::Turnstile);
///
/// let task: Task = RecaptchaV2::new("6Le-wvkS", "https://example.com").invisible().into();
/// assert_eq!(task.kind(), TaskKind::RecaptchaV2Invisible);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Normal image captcha.
    Normal(Normal),
    /// Grid image captcha.
    Grid(Grid),
    /// BLS captcha.
    Bls(Bls),
    /// reCAPTCHA v2 (normal, invisible or Enterprise).
    RecaptchaV2(RecaptchaV2),
    /// reCAPTCHA v3 (normal or Enterprise).
    RecaptchaV3(RecaptchaV3),
    /// Cloudflare Turnstile.
    Turnstile(Turnstile),
    /// Cloudflare Challenge page.
    CloudflareChallenge(CloudflareChallenge),
    /// GeeTest v3.
    Geetest(Geetest),
    /// CaptchaFox.
    CaptchaFox(CaptchaFox),
    /// Friendly Captcha.
    FriendlyCaptcha(FriendlyCaptcha),
    /// Lemin puzzle.
    Lemin(Lemin),
}

macro_rules! task_from {
    ($($variant:ident),*) => {
        $(
            impl From<$variant> for Task {
                fn from(task: $variant) -> Self {
                    Task::$variant(task)
                }
            }
        )*
    };
}

task_from!(
    Normal,
    Grid,
    Bls,
    RecaptchaV2,
    RecaptchaV3,
    Turnstile,
    CloudflareChallenge,
    Geetest,
    CaptchaFox,
    FriendlyCaptcha,
    Lemin
);

impl Task {
    /// The row of the method table this task uses.
    pub fn kind(&self) -> TaskKind {
        match self {
            Task::Normal(_) => TaskKind::Normal,
            Task::Grid(_) => TaskKind::Grid,
            Task::Bls(_) => TaskKind::Bls,
            Task::RecaptchaV2(t) if t.enterprise => TaskKind::RecaptchaV2Enterprise,
            Task::RecaptchaV2(t) if t.invisible => TaskKind::RecaptchaV2Invisible,
            Task::RecaptchaV2(_) => TaskKind::RecaptchaV2,
            Task::RecaptchaV3(t) if t.enterprise => TaskKind::RecaptchaV3Enterprise,
            Task::RecaptchaV3(_) => TaskKind::RecaptchaV3,
            Task::Turnstile(_) => TaskKind::Turnstile,
            Task::CloudflareChallenge(_) => TaskKind::CloudflareChallenge,
            Task::Geetest(_) => TaskKind::Geetest,
            Task::CaptchaFox(_) => TaskKind::CaptchaFox,
            Task::FriendlyCaptcha(_) => TaskKind::FriendlyCaptcha,
            Task::Lemin(_) => TaskKind::Lemin,
        }
    }

    /// The proxy this task is solved through, if any.
    pub fn proxy(&self) -> Option<&Proxy> {
        match self {
            Task::Normal(t) => t.proxy.as_ref(),
            Task::Grid(t) => t.proxy.as_ref(),
            Task::Bls(t) => t.proxy.as_ref(),
            Task::RecaptchaV2(t) => t.proxy.as_ref(),
            Task::RecaptchaV3(t) => t.proxy.as_ref(),
            Task::Turnstile(t) => t.proxy.as_ref(),
            Task::CloudflareChallenge(t) => Some(&t.proxy),
            Task::Geetest(t) => t.proxy.as_ref(),
            Task::CaptchaFox(t) => Some(&t.proxy),
            Task::FriendlyCaptcha(t) => t.proxy.as_ref(),
            Task::Lemin(t) => t.proxy.as_ref(),
        }
    }

    /// Checks the task locally, as the SDK's validator does before any request.
    pub fn validate(&self) -> Result<(), Error> {
        let kind = self.kind();
        let required = match self {
            Task::Normal(t) => t.required(kind)?,
            Task::Grid(t) => t.required(),
            Task::Bls(t) => t.required(kind)?,
            Task::RecaptchaV2(t) => t.required(),
            Task::RecaptchaV3(t) => t.required(kind)?,
            Task::Turnstile(t) => t.required(),
            Task::CloudflareChallenge(t) => t.required(),
            Task::Geetest(t) => t.required(),
            Task::CaptchaFox(t) => t.required(),
            Task::FriendlyCaptcha(t) => t.required(),
            Task::Lemin(t) => t.required(),
        };
        let missing: Vec<&str> = required
            .iter()
            .filter(|(_, v)| v.trim().is_empty())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(Error::bad_input(format!(
                "{kind}: missing required parameter(s): {}",
                missing.join(", ")
            )));
        }
        if let Some(proxy) = self.proxy() {
            proxy.validate()?;
        }
        Ok(())
    }

    /// The method-specific `in.php` parameters (without `key`, `json` and `pingback`), in
    /// the SDK's spelling (`userAgent`, `caseSensitive`, `apiServer`).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut p: Params = vec![("method", self.kind().api_method().into())];
        match self {
            Task::Normal(t) => t.push_params(&mut p),
            Task::Grid(t) => t.push_params(&mut p),
            Task::Bls(t) => t.push_params(&mut p),
            Task::RecaptchaV2(t) => t.push_params(&mut p),
            Task::RecaptchaV3(t) => t.push_params(&mut p),
            Task::Turnstile(t) => t.push_params(&mut p),
            Task::CloudflareChallenge(t) => t.push_params(&mut p),
            Task::Geetest(t) => t.push_params(&mut p),
            Task::CaptchaFox(t) => t.push_params(&mut p),
            Task::FriendlyCaptcha(t) => t.push_params(&mut p),
            Task::Lemin(t) => t.push_params(&mut p),
        }
        if let Some(proxy) = self.proxy() {
            p.push(("proxy", proxy.address.clone()));
            p.push(("proxytype", proxy.kind.as_str().to_owned()));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn recaptcha_params_use_sdk_spelling() {
        let task: Task = RecaptchaV3::new("key", "https://a.example", "login")
            .enterprise()
            .with_min_score(0.7)
            .with_user_agent("UA/1")
            .with_proxy(Proxy::new("u:p@1.2.3.4:8080", ProxyType::Socks5))
            .into();
        assert_eq!(task.kind(), TaskKind::RecaptchaV3Enterprise);
        let p = task.params();
        assert_eq!(get(&p, "method"), Some("userrecaptcha"));
        assert_eq!(get(&p, "version"), Some("v3"));
        assert_eq!(get(&p, "enterprise"), Some("1"));
        assert_eq!(get(&p, "min_score"), Some("0.7"));
        assert_eq!(get(&p, "userAgent"), Some("UA/1"));
        assert_eq!(get(&p, "proxy"), Some("u:p@1.2.3.4:8080"));
        assert_eq!(get(&p, "proxytype"), Some("SOCKS5"));
        assert_eq!(get(&p, "invisible"), None);
    }

    #[test]
    fn bls_sends_nine_data_uris() {
        let gif = Image::from_bytes(b"GIF89a-some-bytes");
        let task: Task = Bls::new(vec![gif; 9], "pick cats").into();
        task.validate().unwrap();
        let p = task.params();
        assert_eq!(get(&p, "method"), Some("bls"));
        let first = get(&p, "image_base64_1").unwrap();
        assert!(first.starts_with("data:image/gif;base64,"), "{first}");
        assert!(get(&p, "image_base64_9").is_some());
        let short: Task = Bls::new(vec![Image::from_bytes(b"x"); 8], "x").into();
        assert!(short.validate().unwrap_err().is_bad_input());
    }

    #[test]
    fn validation_catches_blank_and_out_of_range_inputs() {
        let task: Task = Turnstile::new(" ", "").into();
        let err = task.validate().unwrap_err();
        assert!(err.is_bad_input());
        assert!(err.message().contains("sitekey, pageurl"), "{err}");

        let task: Task = RecaptchaV3::new("k", "u", "a").with_min_score(1.5).into();
        assert!(task.validate().is_err());
        let task: Task = RecaptchaV3::new("k", "u", "a")
            .with_min_score(f64::NAN)
            .into();
        assert!(task.validate().is_err());

        let task: Task = Normal::new(Image::from_bytes(b"png"))
            .with_numeric(9)
            .into();
        assert!(task.validate().is_err());
        let task: Task = Normal::new(Image::from_bytes(b"png"))
            .with_length(5, 2)
            .into();
        assert!(task.validate().is_err());

        let task: Task =
            CloudflareChallenge::new("https://x", Proxy::new("1.2.3.4 :80", ProxyType::Http))
                .into();
        assert!(task.validate().is_err());
    }

    #[test]
    fn normal_and_grid_params() {
        let task: Task = Normal::new(Image::from_bytes(b"abc"))
            .with_case_sensitive(true)
            .with_phrase(false)
            .with_instructions("type it")
            .into();
        let p = task.params();
        assert_eq!(get(&p, "method"), Some("base64"));
        assert_eq!(get(&p, "body"), Some("YWJj"));
        assert_eq!(get(&p, "caseSensitive"), Some("1"));
        assert_eq!(get(&p, "phrase"), Some("0"));
        assert_eq!(get(&p, "textinstructions"), Some("type it"));

        let task: Task = Grid::new(Image::from_bytes(b"abc"), "buses", GridSize::FourByFour).into();
        let p = task.params();
        assert_eq!(get(&p, "grid_size"), Some("4x4"));
        assert_eq!(get(&p, "img_type"), Some("recaptcha"));
    }
}
