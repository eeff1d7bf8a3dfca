//! reCAPTCHA: [`RecaptchaV2`] (normal, invisible, Enterprise) and [`RecaptchaV3`] (normal,
//! Enterprise), both `method=userrecaptcha`, with their local checks and `in.php` parameters.

use super::proxy::Proxy;
use super::{Params, TaskKind, push_opt};
use crate::error::Error;

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
optional_proxy!(RecaptchaV2, RecaptchaV3);

impl RecaptchaV2 {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("googlekey", &self.googlekey), ("pageurl", &self.pageurl)]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("googlekey", self.googlekey.clone()));
        p.push(("pageurl", self.pageurl.clone()));
        if self.invisible {
            p.push(("invisible", "1".to_owned()));
        }
        if self.enterprise {
            p.push(("enterprise", "1".to_owned()));
        }
        push_opt(p, "action", &self.action);
        push_opt(p, "cookies", &self.cookies);
        push_opt(p, "userAgent", &self.user_agent);
    }
}

impl RecaptchaV3 {
    /// Checks `min_score`; returns the required parameters.
    pub(super) fn required(&self, kind: TaskKind) -> Result<Vec<(&'static str, &str)>, Error> {
        if let Some(score) = self.min_score
            && !(score.is_finite() && (0.0..=1.0).contains(&score))
        {
            return Err(Error::bad_input(format!(
                "{kind}: min_score must lie in 0.0..=1.0, got {score}"
            )));
        }
        Ok(vec![
            ("googlekey", &self.googlekey),
            ("pageurl", &self.pageurl),
            ("action", &self.action),
        ])
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("googlekey", self.googlekey.clone()));
        p.push(("pageurl", self.pageurl.clone()));
        p.push(("version", "v3".to_owned()));
        p.push(("action", self.action.clone()));
        if self.enterprise {
            p.push(("enterprise", "1".to_owned()));
        }
        if let Some(score) = self.min_score {
            p.push(("min_score", score.to_string()));
        }
        push_opt(p, "cookies", &self.cookies);
        push_opt(p, "userAgent", &self.user_agent);
    }
}
