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

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

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

/// The kind of proxy sent as `proxytype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyType {
    /// `HTTP`
    Http,
    /// `HTTPS`
    Https,
    /// `SOCKS4`
    Socks4,
    /// `SOCKS5`
    Socks5,
}

impl ProxyType {
    /// The wire spelling (`HTTP`, `HTTPS`, `SOCKS4`, `SOCKS5`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyType::Http => "HTTP",
            ProxyType::Https => "HTTPS",
            ProxyType::Socks4 => "SOCKS4",
            ProxyType::Socks5 => "SOCKS5",
        }
    }
}

impl FromStr for ProxyType {
    type Err = Error;

    /// Case-insensitive, as the service accepts it.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_uppercase().as_str() {
            "HTTP" => Ok(ProxyType::Http),
            "HTTPS" => Ok(ProxyType::Https),
            "SOCKS4" => Ok(ProxyType::Socks4),
            "SOCKS5" => Ok(ProxyType::Socks5),
            _ => Err(Error::bad_input(format!("unknown proxy type: {s:?}"))),
        }
    }
}

/// A proxy the solver loads the page through: `proxy` (`login:pass@ip:port` or `ip:port`) and
/// `proxytype`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    /// `login:pass@ip:port` or `ip:port`.
    pub address: String,
    /// The proxy protocol.
    pub kind: ProxyType,
}

impl Proxy {
    /// A proxy from its address and type.
    pub fn new(address: impl Into<String>, kind: ProxyType) -> Self {
        Proxy {
            address: address.into(),
            kind,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.address.trim().is_empty() {
            return Err(Error::bad_input("proxy address is empty"));
        }
        if self
            .address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::bad_input(
                "proxy address contains whitespace or control characters",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Proxy {
    /// Hides the credentials part of the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self.address.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => self.address.clone(),
        };
        f.debug_struct("Proxy")
            .field("address", &shown)
            .field("kind", &self.kind)
            .finish()
    }
}

/// An image, kept base64-encoded as the service wants it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Image {
    base64: String,
    mime: &'static str,
}

impl Image {
    /// Encodes raw image bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Image {
            base64: B64.encode(bytes),
            mime: sniff_mime(bytes),
        }
    }

    /// Takes base64 text (optionally as a `data:...;base64,` URI) and checks that it decodes.
    pub fn from_base64(text: impl AsRef<str>) -> Result<Self, Error> {
        let text = text.as_ref().trim();
        let payload = match text.strip_prefix("data:") {
            Some(rest) => rest
                .split_once(',')
                .map(|(_, p)| p)
                .ok_or_else(|| Error::bad_input("data uri without a comma"))?,
            None => text,
        };
        let bytes = B64
            .decode(payload)
            .map_err(|e| Error::bad_input("image is not valid base64").with_source(e))?;
        Ok(Image {
            base64: payload.to_owned(),
            mime: sniff_mime(&bytes),
        })
    }

    /// The base64 text sent as `body`.
    pub fn base64(&self) -> &str {
        &self.base64
    }

    /// The MIME type guessed from the image header (PNG when unknown).
    pub fn mime(&self) -> &'static str {
        self.mime
    }

    fn data_uri(&self) -> String {
        format!("data:{};base64,{}", self.mime, self.base64)
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("mime", &self.mime)
            .field("base64_len", &self.base64.len())
            .finish()
    }
}

fn sniff_mime(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        "image/png"
    }
}

/// Grid sizes the service accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GridSize {
    /// `3x3`
    ThreeByThree,
    /// `4x4`
    FourByFour,
}

impl GridSize {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            GridSize::ThreeByThree => "3x3",
            GridSize::FourByFour => "4x4",
        }
    }
}

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

/// A normal image captcha (`method=base64`, POST).
#[derive(Clone, Debug, PartialEq)]
pub struct Normal {
    /// The captcha image.
    pub image: Image,
    /// `numeric`: 0 any, 1 digits only, 2 letters only, 3 digits or letters, 4 both.
    pub numeric: Option<u8>,
    /// `min_len`: minimum answer length.
    pub min_len: Option<u32>,
    /// `max_len`: maximum answer length.
    pub max_len: Option<u32>,
    /// `phrase`: the answer has several words.
    pub phrase: Option<bool>,
    /// `caseSensitive`: the answer is case sensitive.
    pub case_sensitive: Option<bool>,
    /// `lang`: language code of the text.
    pub lang: Option<String>,
    /// `textinstructions`: a hint for the solver.
    pub instructions: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Normal {
    /// A normal image captcha with no options.
    pub fn new(image: Image) -> Self {
        Normal {
            image,
            numeric: None,
            min_len: None,
            max_len: None,
            phrase: None,
            case_sensitive: None,
            lang: None,
            instructions: None,
            proxy: None,
        }
    }

    /// Sets `numeric` (0-4).
    pub fn with_numeric(mut self, numeric: u8) -> Self {
        self.numeric = Some(numeric);
        self
    }

    /// Sets `min_len` and `max_len`.
    pub fn with_length(mut self, min_len: u32, max_len: u32) -> Self {
        self.min_len = Some(min_len);
        self.max_len = Some(max_len);
        self
    }

    /// Sets `phrase`.
    pub fn with_phrase(mut self, phrase: bool) -> Self {
        self.phrase = Some(phrase);
        self
    }

    /// Sets `caseSensitive`.
    pub fn with_case_sensitive(mut self, case_sensitive: bool) -> Self {
        self.case_sensitive = Some(case_sensitive);
        self
    }
}

string_setters!(Normal {
    /// Sets `lang`.
    with_lang => lang,
    /// Sets `textinstructions`.
    with_instructions => instructions,
});

/// A grid (tile selection) captcha (`method=base64`, `img_type=recaptcha`, POST).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// The grid image.
    pub image: Image,
    /// What to select, e.g. "select all images with a bus".
    pub instructions: String,
    /// The grid layout.
    pub grid_size: GridSize,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Grid {
    /// A grid captcha.
    pub fn new(image: Image, instructions: impl Into<String>, grid_size: GridSize) -> Self {
        Grid {
            image,
            instructions: instructions.into(),
            grid_size,
            proxy: None,
        }
    }
}

/// A BLS captcha: exactly nine cell images and an instruction (`method=bls`, POST).
#[derive(Clone, Debug, PartialEq)]
pub struct Bls {
    /// The nine cell images, sent as `image_base64_1` .. `image_base64_9` data URIs.
    pub images: Vec<Image>,
    /// What to select.
    pub instructions: String,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Bls {
    /// A BLS captcha (nine images are checked at submit).
    pub fn new(images: Vec<Image>, instructions: impl Into<String>) -> Self {
        Bls {
            images,
            instructions: instructions.into(),
            proxy: None,
        }
    }
}

/// reCAPTCHA v2, optionally invisible or Enterprise (`method=userrecaptcha`).
#[derive(Clone, Debug, PartialEq)]
pub struct RecaptchaV2 {
    /// The site key (`googlekey`).
    pub googlekey: String,
    /// The page the captcha is on (`pageurl`).
    pub pageurl: String,
    /// `invisible=1`.
    pub invisible: bool,
    /// `enterprise=1` (submitted by POST; the token comes back in `result` with a user agent).
    pub enterprise: bool,
    /// `action`.
    pub action: Option<String>,
    /// `cookies`.
    pub cookies: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl RecaptchaV2 {
    /// A reCAPTCHA v2 task.
    pub fn new(googlekey: impl Into<String>, pageurl: impl Into<String>) -> Self {
        RecaptchaV2 {
            googlekey: googlekey.into(),
            pageurl: pageurl.into(),
            invisible: false,
            enterprise: false,
            action: None,
            cookies: None,
            user_agent: None,
            proxy: None,
        }
    }

    /// Marks the widget invisible (`invisible=1`).
    pub fn invisible(mut self) -> Self {
        self.invisible = true;
        self
    }

    /// Marks the widget Enterprise (`enterprise=1`).
    pub fn enterprise(mut self) -> Self {
        self.enterprise = true;
        self
    }
}

string_setters!(RecaptchaV2 {
    /// Sets `action`.
    with_action => action,
    /// Sets `cookies`.
    with_cookies => cookies,
    /// Sets `userAgent`.
    with_user_agent => user_agent,
});

/// reCAPTCHA v3, optionally Enterprise (`method=userrecaptcha`, `version=v3`).
#[derive(Clone, Debug, PartialEq)]
pub struct RecaptchaV3 {
    /// The site key (`googlekey`).
    pub googlekey: String,
    /// The page the captcha is on (`pageurl`).
    pub pageurl: String,
    /// The action name (`action`), required by the SDK.
    pub action: String,
    /// `enterprise=1`.
    pub enterprise: bool,
    /// `min_score`, between 0 and 1.
    pub min_score: Option<f64>,
    /// `cookies`.
    pub cookies: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl RecaptchaV3 {
    /// A reCAPTCHA v3 task.
    pub fn new(
        googlekey: impl Into<String>,
        pageurl: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        RecaptchaV3 {
            googlekey: googlekey.into(),
            pageurl: pageurl.into(),
            action: action.into(),
            enterprise: false,
            min_score: None,
            cookies: None,
            user_agent: None,
            proxy: None,
        }
    }

    /// Marks the widget Enterprise (`enterprise=1`).
    pub fn enterprise(mut self) -> Self {
        self.enterprise = true;
        self
    }

    /// Sets `min_score` (checked to lie in `0.0..=1.0` at submit).
    pub fn with_min_score(mut self, min_score: f64) -> Self {
        self.min_score = Some(min_score);
        self
    }
}

string_setters!(RecaptchaV3 {
    /// Sets `cookies`.
    with_cookies => cookies,
    /// Sets `userAgent`.
    with_user_agent => user_agent,
});

/// Cloudflare Turnstile (`method=turnstile`, GET).
#[derive(Clone, Debug, PartialEq)]
pub struct Turnstile {
    /// The widget's site key (`sitekey`).
    pub sitekey: String,
    /// The page the widget is on (`pageurl`).
    pub pageurl: String,
    /// `cookies`.
    pub cookies: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Turnstile {
    /// A Turnstile task.
    pub fn new(sitekey: impl Into<String>, pageurl: impl Into<String>) -> Self {
        Turnstile {
            sitekey: sitekey.into(),
            pageurl: pageurl.into(),
            cookies: None,
            user_agent: None,
            proxy: None,
        }
    }
}

string_setters!(Turnstile {
    /// Sets `cookies`.
    with_cookies => cookies,
    /// Sets `userAgent`.
    with_user_agent => user_agent,
});

/// A Cloudflare Challenge page (`method=cloudflare_challenge`, POST); the proxy is required.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudflareChallenge {
    /// The protected page (`pageurl`).
    pub pageurl: String,
    /// The proxy the challenge is solved through (required).
    pub proxy: Proxy,
    /// `cookies`.
    pub cookies: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
}

impl CloudflareChallenge {
    /// A Cloudflare Challenge task.
    pub fn new(pageurl: impl Into<String>, proxy: Proxy) -> Self {
        CloudflareChallenge {
            pageurl: pageurl.into(),
            proxy,
            cookies: None,
            user_agent: None,
        }
    }
}

string_setters!(CloudflareChallenge {
    /// Sets `cookies`.
    with_cookies => cookies,
    /// Sets `userAgent`.
    with_user_agent => user_agent,
});

/// GeeTest v3 (`method=geetest`, GET); the answer is `{challenge, validate, seccode}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Geetest {
    /// `gt`.
    pub gt: String,
    /// `challenge`.
    pub challenge: String,
    /// The page (`pageurl`).
    pub pageurl: String,
    /// `cookies`.
    pub cookies: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Geetest {
    /// A GeeTest task.
    pub fn new(
        gt: impl Into<String>,
        challenge: impl Into<String>,
        pageurl: impl Into<String>,
    ) -> Self {
        Geetest {
            gt: gt.into(),
            challenge: challenge.into(),
            pageurl: pageurl.into(),
            cookies: None,
            user_agent: None,
            proxy: None,
        }
    }
}

string_setters!(Geetest {
    /// Sets `cookies`.
    with_cookies => cookies,
    /// Sets `userAgent`.
    with_user_agent => user_agent,
});

/// CaptchaFox (`method=captchafox`, GET); the proxy is required.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptchaFox {
    /// `sitekey`.
    pub sitekey: String,
    /// The page (`pageurl`).
    pub pageurl: String,
    /// The proxy the challenge is solved through (required).
    pub proxy: Proxy,
    /// `cookies`.
    pub cookies: Option<String>,
    /// `userAgent`.
    pub user_agent: Option<String>,
}

impl CaptchaFox {
    /// A CaptchaFox task.
    pub fn new(sitekey: impl Into<String>, pageurl: impl Into<String>, proxy: Proxy) -> Self {
        CaptchaFox {
            sitekey: sitekey.into(),
            pageurl: pageurl.into(),
            proxy,
            cookies: None,
            user_agent: None,
        }
    }
}

string_setters!(CaptchaFox {
    /// Sets `cookies`.
    with_cookies => cookies,
    /// Sets `userAgent`.
    with_user_agent => user_agent,
});

/// Friendly Captcha (`method=friendly_captcha`, GET).
#[derive(Clone, Debug, PartialEq)]
pub struct FriendlyCaptcha {
    /// `sitekey`.
    pub sitekey: String,
    /// The page (`pageurl`).
    pub pageurl: String,
    /// `version` of the widget.
    pub version: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl FriendlyCaptcha {
    /// A Friendly Captcha task.
    pub fn new(sitekey: impl Into<String>, pageurl: impl Into<String>) -> Self {
        FriendlyCaptcha {
            sitekey: sitekey.into(),
            pageurl: pageurl.into(),
            version: None,
            proxy: None,
        }
    }
}

string_setters!(FriendlyCaptcha {
    /// Sets `version`.
    with_version => version,
});

/// Lemin puzzle (`method=lemin`, GET); the answer is `{answer, challenge_uuid}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lemin {
    /// `captcha_id`.
    pub captcha_id: String,
    /// `div_id`.
    pub div_id: String,
    /// The page (`pageurl`).
    pub pageurl: String,
    /// `apiServer`.
    pub api_server: Option<String>,
    /// Optional proxy.
    pub proxy: Option<Proxy>,
}

impl Lemin {
    /// A Lemin task.
    pub fn new(
        captcha_id: impl Into<String>,
        div_id: impl Into<String>,
        pageurl: impl Into<String>,
    ) -> Self {
        Lemin {
            captcha_id: captcha_id.into(),
            div_id: div_id.into(),
            pageurl: pageurl.into(),
            api_server: None,
            proxy: None,
        }
    }
}

string_setters!(Lemin {
    /// Sets `apiServer`.
    with_api_server => api_server,
});

optional_proxy!(
    Normal,
    Grid,
    Bls,
    RecaptchaV2,
    RecaptchaV3,
    Turnstile,
    Geetest,
    FriendlyCaptcha,
    Lemin
);

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
        let required: Vec<(&str, &str)> = match self {
            Task::Normal(t) => {
                if let Some(n) = t.numeric
                    && n > 4
                {
                    return Err(Error::bad_input(format!(
                        "{kind}: numeric must be 0..=4, got {n}"
                    )));
                }
                if let (Some(min), Some(max)) = (t.min_len, t.max_len)
                    && min > max
                {
                    return Err(Error::bad_input(format!(
                        "{kind}: min_len {min} is greater than max_len {max}"
                    )));
                }
                vec![("image", t.image.base64())]
            }
            Task::Grid(t) => vec![
                ("image", t.image.base64()),
                ("instructions", &t.instructions),
            ],
            Task::Bls(t) => {
                if t.images.len() != 9 {
                    return Err(Error::bad_input(format!(
                        "{kind}: exactly 9 images are required, got {}",
                        t.images.len()
                    )));
                }
                if let Some(i) = t.images.iter().position(|img| img.base64().is_empty()) {
                    return Err(Error::bad_input(format!(
                        "{kind}: image {} is empty",
                        i + 1
                    )));
                }
                vec![("instructions", &t.instructions)]
            }
            Task::RecaptchaV2(t) => vec![("googlekey", &t.googlekey), ("pageurl", &t.pageurl)],
            Task::RecaptchaV3(t) => {
                if let Some(score) = t.min_score
                    && !(score.is_finite() && (0.0..=1.0).contains(&score))
                {
                    return Err(Error::bad_input(format!(
                        "{kind}: min_score must lie in 0.0..=1.0, got {score}"
                    )));
                }
                vec![
                    ("googlekey", &t.googlekey),
                    ("pageurl", &t.pageurl),
                    ("action", &t.action),
                ]
            }
            Task::Turnstile(t) => vec![("sitekey", &t.sitekey), ("pageurl", &t.pageurl)],
            Task::CloudflareChallenge(t) => vec![("pageurl", &t.pageurl)],
            Task::Geetest(t) => vec![
                ("gt", &t.gt),
                ("challenge", &t.challenge),
                ("pageurl", &t.pageurl),
            ],
            Task::CaptchaFox(t) => vec![("sitekey", &t.sitekey), ("pageurl", &t.pageurl)],
            Task::FriendlyCaptcha(t) => vec![("sitekey", &t.sitekey), ("pageurl", &t.pageurl)],
            Task::Lemin(t) => vec![
                ("captcha_id", &t.captcha_id),
                ("div_id", &t.div_id),
                ("pageurl", &t.pageurl),
            ],
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
        let mut p: Vec<(&'static str, String)> = vec![("method", self.kind().api_method().into())];
        fn opt(p: &mut Vec<(&'static str, String)>, name: &'static str, value: &Option<String>) {
            if let Some(v) = value {
                p.push((name, v.clone()));
            }
        }
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        match self {
            Task::Normal(t) => {
                p.push(("body", t.image.base64().to_owned()));
                if let Some(n) = t.numeric {
                    p.push(("numeric", n.to_string()));
                }
                if let Some(n) = t.min_len {
                    p.push(("min_len", n.to_string()));
                }
                if let Some(n) = t.max_len {
                    p.push(("max_len", n.to_string()));
                }
                if let Some(b) = t.phrase {
                    p.push(("phrase", flag(b)));
                }
                if let Some(b) = t.case_sensitive {
                    p.push(("caseSensitive", flag(b)));
                }
                opt(&mut p, "lang", &t.lang);
                opt(&mut p, "textinstructions", &t.instructions);
            }
            Task::Grid(t) => {
                p.push(("body", t.image.base64().to_owned()));
                p.push(("instructions", t.instructions.clone()));
                p.push(("grid_size", t.grid_size.as_str().to_owned()));
                p.push(("img_type", "recaptcha".to_owned()));
            }
            Task::Bls(t) => {
                const NAMES: [&str; 9] = [
                    "image_base64_1",
                    "image_base64_2",
                    "image_base64_3",
                    "image_base64_4",
                    "image_base64_5",
                    "image_base64_6",
                    "image_base64_7",
                    "image_base64_8",
                    "image_base64_9",
                ];
                for (name, image) in NAMES.iter().zip(&t.images) {
                    p.push((name, image.data_uri()));
                }
                p.push(("instructions", t.instructions.clone()));
            }
            Task::RecaptchaV2(t) => {
                p.push(("googlekey", t.googlekey.clone()));
                p.push(("pageurl", t.pageurl.clone()));
                if t.invisible {
                    p.push(("invisible", "1".to_owned()));
                }
                if t.enterprise {
                    p.push(("enterprise", "1".to_owned()));
                }
                opt(&mut p, "action", &t.action);
                opt(&mut p, "cookies", &t.cookies);
                opt(&mut p, "userAgent", &t.user_agent);
            }
            Task::RecaptchaV3(t) => {
                p.push(("googlekey", t.googlekey.clone()));
                p.push(("pageurl", t.pageurl.clone()));
                p.push(("version", "v3".to_owned()));
                p.push(("action", t.action.clone()));
                if t.enterprise {
                    p.push(("enterprise", "1".to_owned()));
                }
                if let Some(score) = t.min_score {
                    p.push(("min_score", score.to_string()));
                }
                opt(&mut p, "cookies", &t.cookies);
                opt(&mut p, "userAgent", &t.user_agent);
            }
            Task::Turnstile(t) => {
                p.push(("sitekey", t.sitekey.clone()));
                p.push(("pageurl", t.pageurl.clone()));
                opt(&mut p, "cookies", &t.cookies);
                opt(&mut p, "userAgent", &t.user_agent);
            }
            Task::CloudflareChallenge(t) => {
                p.push(("pageurl", t.pageurl.clone()));
                opt(&mut p, "cookies", &t.cookies);
                opt(&mut p, "userAgent", &t.user_agent);
            }
            Task::Geetest(t) => {
                p.push(("gt", t.gt.clone()));
                p.push(("challenge", t.challenge.clone()));
                p.push(("pageurl", t.pageurl.clone()));
                opt(&mut p, "cookies", &t.cookies);
                opt(&mut p, "userAgent", &t.user_agent);
            }
            Task::CaptchaFox(t) => {
                p.push(("sitekey", t.sitekey.clone()));
                p.push(("pageurl", t.pageurl.clone()));
                opt(&mut p, "cookies", &t.cookies);
                opt(&mut p, "userAgent", &t.user_agent);
            }
            Task::FriendlyCaptcha(t) => {
                p.push(("sitekey", t.sitekey.clone()));
                p.push(("pageurl", t.pageurl.clone()));
                opt(&mut p, "version", &t.version);
            }
            Task::Lemin(t) => {
                p.push(("captcha_id", t.captcha_id.clone()));
                p.push(("div_id", t.div_id.clone()));
                p.push(("pageurl", t.pageurl.clone()));
                opt(&mut p, "apiServer", &t.api_server);
            }
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
    fn images_decode_and_sniff() {
        assert!(Image::from_base64("not base64!").is_err());
        let img = Image::from_base64("data:image/png;base64,R0lGODlh").unwrap();
        assert_eq!(img.base64(), "R0lGODlh");
        assert_eq!(img.mime(), "image/gif");
        let jpg = Image::from_bytes(&[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(jpg.mime(), "image/jpeg");
    }

    #[test]
    fn proxy_debug_hides_credentials() {
        let p = Proxy::new("user:secret@10.0.0.1:3128", ProxyType::Http);
        let shown = format!("{p:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("10.0.0.1:3128"));
        assert_eq!("socks4".parse::<ProxyType>().unwrap(), ProxyType::Socks4);
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
