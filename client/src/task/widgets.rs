//! Widgets solved on a web page: [`Turnstile`], [`CloudflareChallenge`], [`Geetest`],
//! [`CaptchaFox`], [`FriendlyCaptcha`] and [`Lemin`], with their required and optional
//! `in.php` parameters.

use super::proxy::Proxy;
use super::{Params, push_opt};

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

optional_proxy!(Turnstile, Geetest, FriendlyCaptcha, Lemin);

impl Turnstile {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("sitekey", &self.sitekey), ("pageurl", &self.pageurl)]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("sitekey", self.sitekey.clone()));
        p.push(("pageurl", self.pageurl.clone()));
        push_opt(p, "cookies", &self.cookies);
        push_opt(p, "userAgent", &self.user_agent);
    }
}

impl CloudflareChallenge {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("pageurl", &self.pageurl)]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("pageurl", self.pageurl.clone()));
        push_opt(p, "cookies", &self.cookies);
        push_opt(p, "userAgent", &self.user_agent);
    }
}

impl Geetest {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("gt", &self.gt),
            ("challenge", &self.challenge),
            ("pageurl", &self.pageurl),
        ]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("gt", self.gt.clone()));
        p.push(("challenge", self.challenge.clone()));
        p.push(("pageurl", self.pageurl.clone()));
        push_opt(p, "cookies", &self.cookies);
        push_opt(p, "userAgent", &self.user_agent);
    }
}

impl CaptchaFox {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("sitekey", &self.sitekey), ("pageurl", &self.pageurl)]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("sitekey", self.sitekey.clone()));
        p.push(("pageurl", self.pageurl.clone()));
        push_opt(p, "cookies", &self.cookies);
        push_opt(p, "userAgent", &self.user_agent);
    }
}

impl FriendlyCaptcha {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("sitekey", &self.sitekey), ("pageurl", &self.pageurl)]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("sitekey", self.sitekey.clone()));
        p.push(("pageurl", self.pageurl.clone()));
        push_opt(p, "version", &self.version);
    }
}

impl Lemin {
    pub(super) fn required(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("captcha_id", &self.captcha_id),
            ("div_id", &self.div_id),
            ("pageurl", &self.pageurl),
        ]
    }

    pub(super) fn push_params(&self, p: &mut Params) {
        p.push(("captcha_id", self.captcha_id.clone()));
        p.push(("div_id", self.div_id.clone()));
        p.push(("pageurl", self.pageurl.clone()));
        push_opt(p, "apiServer", &self.api_server);
    }
}
