//! What follows the dialect unless configured, where CaptchaAI's and 2captcha's sources
//! (their documentation, their SDKs, the clients people use against them) disagree: the shape
//! of answers and of errors (`[answers]`) and the image limits (`[images]`). Each setting
//! left out takes its dialect's default; docs/protocol.md says which and why.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::Dialect;

/// Image limits (`[images]`); each one left out takes the dialect's documented value.
///
/// | | captchaai | 2captcha |
/// |---|---|---|
/// | `min-bytes` | 100 | 100 |
/// | `max-bytes` | 1 MiB (1024 KB) | 100 kB |
/// | `max-dimension` (pixels, either side) | none | 600 |
///
/// Too small an image is `ERROR_ZERO_CAPTCHA_FILESIZE`; too large in bytes
/// `ERROR_TOO_BIG_CAPTCHA_FILESIZE`, and too large in pixels the same code (the only one either
/// service documents for it) unless `dimension-code = "ERROR_IMAGE_DIMENSIONS_TOO_LARGE"`
/// (what CaptchaAI's SDK says its API answers above 1000 pixels).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ImageConfig {
    /// Smallest image in bytes (both services document 100).
    pub min_bytes: Option<usize>,
    /// Largest image in bytes (CaptchaAI's error page: 1024 KB; 2captcha: 100 kB).
    pub max_bytes: Option<usize>,
    /// Largest width or height in pixels (2captcha: 600; CaptchaAI documents none).
    pub max_dimension: Option<u32>,
    /// The code for an image over `max-dimension`.
    pub dimension_code: DimensionCode,
}

/// The code for an image wider or taller than allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DimensionCode {
    /// `ERROR_TOO_BIG_CAPTCHA_FILESIZE`, as 2captcha documents it.
    #[default]
    #[serde(rename = "ERROR_TOO_BIG_CAPTCHA_FILESIZE")]
    TooBigCaptchaFilesize,
    /// `ERROR_IMAGE_DIMENSIONS_TOO_LARGE`, as CaptchaAI's SDK expects it.
    #[serde(rename = "ERROR_IMAGE_DIMENSIONS_TOO_LARGE")]
    ImageDimensionsTooLarge,
}

impl ImageConfig {
    /// The smallest image accepted, in bytes.
    pub fn min_bytes(&self) -> usize {
        self.min_bytes.unwrap_or(100)
    }

    /// The largest image accepted in a dialect, in bytes.
    pub fn max_bytes(&self, dialect: Dialect) -> usize {
        self.max_bytes.unwrap_or(match dialect {
            // docs.captchaai.com/pages/err_handling: "exceeds the allowed size (1024 KB Max)".
            Dialect::Captchaai => 1024 * 1024,
            // 2captcha's error codes: "Image size is more than 100 kB or ... 600px".
            Dialect::TwoCaptcha => 100 * 1024,
        })
    }

    /// The largest width or height accepted in a dialect, in pixels (`None`: no limit).
    pub fn max_dimension(&self, dialect: Dialect) -> Option<u32> {
        self.max_dimension.or(match dialect {
            Dialect::Captchaai => None,
            Dialect::TwoCaptcha => Some(600),
        })
    }
}

/// How a structured answer (GeeTest v3 and v4, Lemin, coordinates) is given in a `json=1`
/// answer's `request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StructuredJson {
    /// A JSON string holding the JSON text: `"request":"{\"challenge\":...}"` (CaptchaAI's
    /// SDK parses it); coordinates as their plain text, `"coordinates:x=39,y=59;..."`.
    String,
    /// The JSON value itself: `"request":{"geetest_challenge":...}` (2captcha; unicaps and
    /// CaptchaSharp index it as a mapping); coordinates as `[{"x":"39","y":"59"},...]`.
    Value,
}

/// How a structured answer (GeeTest, Cloudflare Challenge) is written after `OK|` in a
/// plain-text (`json=0`) answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StructuredText {
    /// The answer's own text: GeeTest's JSON, Cloudflare's `cf_clearance` token (what
    /// 2captcha answers: its clients `json.loads` the text after `OK|`).
    Json,
    /// CaptchaAI's blog's form: `challenge:...,validate:...,seccode:...` and
    /// `cf_clearance=...;user_agent=...`.
    Fields,
}

/// Which code a site-key problem (`googlekey`, `sitekey`) gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SiteKeyCodes {
    /// `ERROR_GOOGLEKEY` for a missing, blank or malformed key (CaptchaAI's error page).
    Single,
    /// `ERROR_WRONG_GOOGLEKEY` for a missing key, `ERROR_GOOGLEKEY` for a blank or malformed
    /// one (2captcha's error list).
    Split,
    /// `ERROR_GOOGLEKEY` for a missing key, `ERROR_WRONG_GOOGLEKEY` for a malformed one (the
    /// messages of CaptchaAI's SDK, `core/orchestrator.py`).
    Sdk,
}

/// How answers are shaped, and which codes some errors get, where the services, their
/// clients and their documentation disagree (`[answers]`); each setting left out takes the
/// dialect's default.
///
/// ```toml
/// [answers]
/// error-text = true               # json=1 errors carry `error_text` (2captcha: yes; captchaai: no)
/// structured-json = "value"       # or "string" (2captcha: value; captchaai: string)
/// structured-text = "fields"      # or "json" (default for both)
/// site-key-codes = "split"        # or "single", "sdk" (2captcha: split; captchaai: single)
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AnswersConfig {
    /// `json=1` errors carry `error_text` beside `request`.
    pub error_text: Option<bool>,
    /// A structured answer in `json=1`: a JSON `string` or the JSON `value`.
    pub structured_json: Option<StructuredJson>,
    /// A structured answer in `json=0`: its `json` text or CaptchaAI's `fields`.
    pub structured_text: Option<StructuredText>,
    /// The codes of site-key problems: `single`, `split` or `sdk`.
    pub site_key_codes: Option<SiteKeyCodes>,
}

impl AnswersConfig {
    /// Whether `json=1` errors carry `error_text` in a dialect.
    pub fn error_text(&self, dialect: Dialect) -> bool {
        self.error_text.unwrap_or(dialect == Dialect::TwoCaptcha)
    }

    /// How a structured answer is given in `json=1`, in a dialect.
    pub fn structured_json(&self, dialect: Dialect) -> StructuredJson {
        self.structured_json.unwrap_or(match dialect {
            Dialect::Captchaai => StructuredJson::String,
            Dialect::TwoCaptcha => StructuredJson::Value,
        })
    }

    /// How a structured answer is written in `json=0`.
    pub fn structured_text(&self) -> StructuredText {
        self.structured_text.unwrap_or(StructuredText::Json)
    }

    /// The codes of site-key problems in a dialect.
    pub fn site_key_codes(&self, dialect: Dialect) -> SiteKeyCodes {
        self.site_key_codes.unwrap_or(match dialect {
            Dialect::Captchaai => SiteKeyCodes::Single,
            Dialect::TwoCaptcha => SiteKeyCodes::Split,
        })
    }
}
