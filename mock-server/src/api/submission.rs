//! `in.php` submissions: which method a request names, what each method requires, and which
//! error code each kind of bad input gets, in the service's order (the first problem found is
//! the answer).
//!
//! Kinds follow the official CaptchaAI SDK's method table, and in the 2captcha dialect
//! 2captcha's `hcaptcha` and `geetest_v4`. The mock is lenient where real clients differ
//! (`userAgent`/`user_agent`, `caseSensitive`/`regsense`, `apiServer`/`api_server`; BLS and
//! grid in the shapes CaptchaAI's examples use) and strict where the service is (key, page URL,
//! site key, image size and type, proxy format). Image submissions (normal, grid, coordinates)
//! are told apart in [`super::image_submission`], their images checked in [`super::images`].

use super::{
    image_submission::{clicks, grid_cells, image_kind},
    images::{ImageLimits, check_bls},
    wire::Code,
};
use crate::{
    config::{Config, SiteKeyCodes},
    model::{AnswerShape, Dialect, Submission, TaskKind},
    params::Params,
    url::{MAX_PINGBACK_URL, is_host, is_http_url},
};

/// What a submission is checked against: the dialect and the configuration's choices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checks {
    /// The dialect.
    pub(crate) dialect: Dialect,
    /// The codes of site-key problems.
    pub(crate) site_keys: SiteKeyCodes,
    /// Image limits.
    pub(crate) images: ImageLimits,
}

impl Checks {
    /// The checks a configuration asks for.
    pub(crate) fn new(cfg: &Config) -> Self {
        Checks {
            dialect: cfg.dialect,
            site_keys: cfg.answers.site_key_codes(cfg.dialect),
            images: ImageLimits::new(&cfg.images, cfg.dialect),
        }
    }
}

/// Validates an `in.php` request (key already checked) into a [`Submission`].
pub(crate) fn parse_submission(p: &Params, checks: &Checks) -> Result<Submission, Code> {
    let dialect = checks.dialect;
    let method = p
        .non_empty("method")
        .ok_or(Code::BadParameters)?
        .to_ascii_lowercase();
    check_proxy(p)?;
    let (kind, extent) = kind_of(&method, p, checks)?;
    // A pingback URL is any http(s) URL of at most 2048 bytes (it is stored with the task
    // and sent with every attempt); targets are otherwise unrestricted, but for the mock's
    // own address (see `pingback::dispatcher`).
    let pingback = match p.non_empty("pingback") {
        Some(url) if is_http_url(url) && url.len() <= MAX_PINGBACK_URL => Some(url.to_owned()),
        Some(_) => return Err(Code::BadParameters),
        None => None,
    };
    // 2captcha hands the worker's cookies back with a reCAPTCHA token.
    let cookies = (dialect == Dialect::TwoCaptcha && kind.is_recaptcha())
        .then(|| p.non_empty("cookies"))
        .flatten()
        .map(|c| (c.to_owned(), p.flag("json_cookies")));
    Ok(Submission {
        kind,
        shape: AnswerShape {
            extent,
            ..answer_shape(p, kind, dialect)
        },
        pingback,
        cookies,
    })
}

/// The kind a `method` names, once its parameters pass, and a coordinates captcha's image
/// extent (see [`AnswerShape::extent`]).
fn kind_of(method: &str, p: &Params, checks: &Checks) -> Result<(TaskKind, (u8, u8)), Code> {
    if matches!(method, "base64" | "post") {
        return image_kind(p, method, checks);
    }
    Ok((token_kind(method, p, checks)?, (0, 0)))
}

/// The kind a `method` other than an image's names, once its parameters pass.
fn token_kind(method: &str, p: &Params, checks: &Checks) -> Result<TaskKind, Code> {
    let (dialect, limits, keys) = (checks.dialect, &checks.images, checks.site_keys);
    Ok(match method {
        "bls" => {
            check_bls(p, limits)?;
            TaskKind::Bls
        }
        "userrecaptcha" => recaptcha_kind(p, keys)?,
        "turnstile" => {
            require_site_key(p, &["sitekey", "googlekey"], keys)?;
            require_page_url(p)?;
            TaskKind::Turnstile
        }
        "cloudflare_challenge" => {
            require_page_url(p)?;
            require_proxy(p)?;
            TaskKind::CloudflareChallenge
        }
        "geetest" => {
            p.non_empty("gt").ok_or(Code::BadParameters)?;
            p.non_empty("challenge").ok_or(Code::BadParameters)?;
            require_page_url(p)?;
            TaskKind::Geetest
        }
        "captchafox" => {
            require_site_key(p, &["sitekey"], keys)?;
            require_page_url(p)?;
            require_proxy(p)?;
            TaskKind::Captchafox
        }
        "friendly_captcha" | "friendlycaptcha" => {
            require_site_key(p, &["sitekey"], keys)?;
            require_page_url(p)?;
            TaskKind::FriendlyCaptcha
        }
        "lemin" => {
            p.non_empty("captcha_id").ok_or(Code::BadParameters)?;
            p.non_empty("div_id").ok_or(Code::BadParameters)?;
            require_page_url(p)?;
            // A host (`api.leminnow.com`, the SDK's documented default) or a URL.
            check_api_server(p)?;
            TaskKind::Lemin
        }
        "hcaptcha" => match dialect {
            // Production CaptchaAI answered ERROR_SERVER_ERROR to hcaptcha.
            Dialect::Captchaai => return Err(Code::ServerError),
            Dialect::TwoCaptcha => {
                require_site_key(p, &["sitekey"], keys)?;
                require_page_url(p)?;
                TaskKind::Hcaptcha
            }
        },
        "geetest_v4" => match dialect {
            // CaptchaAI documents no GeeTest v4 (its SDK's method table, `core/registry.py`,
            // has GeeTest v3 only): answered as it answered hcaptcha, a method it lacks.
            Dialect::Captchaai => return Err(Code::ServerError),
            Dialect::TwoCaptcha => geetest_v4(p)?,
        },
        _ => return Err(Code::BadParameters),
    })
}

/// `geetest_v4` (2captcha's API v1: `captcha_id` and `pageurl` required; 2captcha-python's
/// `geetest_v4` sends them, with `risk_type` when given). `captcha_id` missing or blank is
/// `ERROR_BAD_PARAMETERS`, as for GeeTest v3's `gt` (2captcha documents no code of its own);
/// the optional `api_server` is a host or a URL, as for Lemin.
fn geetest_v4(p: &Params) -> Result<TaskKind, Code> {
    let id = p.non_empty("captcha_id").ok_or(Code::BadParameters)?;
    if id.len() > 200 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Code::BadParameters);
    }
    require_page_url(p)?;
    check_api_server(p)?;
    Ok(TaskKind::GeetestV4)
}

/// An optional `api_server` (or the SDK's `apiServer`): a host (`api.leminnow.com`) or a URL.
fn check_api_server(p: &Params) -> Result<(), Code> {
    match p.get_any(&["apiServer", "api_server"]) {
        Some(server)
            if !is_host(server.trim().trim_end_matches('/')) && !is_http_url(server.trim()) =>
        {
            Err(Code::BadParameters)
        }
        _ => Ok(()),
    }
}

/// `userrecaptcha`: v2 or v3, Enterprise or not.
fn recaptcha_kind(p: &Params, keys: SiteKeyCodes) -> Result<TaskKind, Code> {
    require_site_key(p, &["googlekey"], keys)?;
    require_page_url(p)?;
    // v3's `action` is not required: 2captcha documents a default (`verify`), and the
    // official SDK always sends one, so requiring it would only refuse lenient clients.
    if let Some(score) = p.non_empty("min_score")
        && !score.parse::<f64>().is_ok_and(|s| (0.0..=1.0).contains(&s))
    {
        return Err(Code::BadParameters);
    }
    let v3 = p
        .get("version")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("v3"));
    Ok(match (v3, p.flag("enterprise")) {
        (false, false) => TaskKind::RecaptchaV2,
        (false, true) => TaskKind::RecaptchaV2Enterprise,
        (true, false) => TaskKind::RecaptchaV3,
        (true, true) => TaskKind::RecaptchaV3Enterprise,
    })
}

fn answer_shape(p: &Params, kind: TaskKind, dialect: Dialect) -> AnswerShape {
    let num = |names: &[&str]| {
        p.get_any(names)
            .and_then(|v| v.trim().parse::<u8>().ok())
            .unwrap_or(0)
    };
    let (min_len, max_len) = match kind {
        TaskKind::Coordinates => clicks(p).unwrap_or((0, 0)),
        _ => (num(&["min_len"]).min(20), num(&["max_len"]).min(20)),
    };
    AnswerShape {
        numeric: num(&["numeric"]).min(4),
        case_sensitive: p
            .get_any(&["caseSensitive", "regsense", "case_sensitive"])
            .is_some_and(|v| v.trim() == "1"),
        min_len,
        max_len,
        cells: match kind {
            TaskKind::Grid => grid_cells(p).unwrap_or(9),
            _ => 0,
        },
        two_captcha: dialect == Dialect::TwoCaptcha,
        extent: (0, 0),
    }
}

/// The site key (`googlekey`, `sitekey`), with the codes `[answers] site-key-codes` picks.
/// 2captcha tells a missing one (`ERROR_WRONG_GOOGLEKEY`: "the googlekey parameter is
/// missing in your request") from a blank or malformed one (`ERROR_GOOGLEKEY`: "it's blank
/// or malformed"), as its error list says (copied by infosimples/node_two_captcha
/// `src/constants.js` and qwbarch/2captcha-haskell `Error.hs`). CaptchaAI documents one code
/// for all three (docs.captchaai.com, error handling: "googlekey value blank/malformed or
/// parameter missing"); its SDK's messages read the two codes the other way round
/// (`core/orchestrator.py`: `ERROR_GOOGLEKEY` "is missing", `ERROR_WRONG_GOOGLEKEY` "is
/// malformed").
fn require_site_key(p: &Params, names: &[&str], codes: SiteKeyCodes) -> Result<(), Code> {
    let (missing, blank, malformed) = match codes {
        SiteKeyCodes::Single => (Code::GoogleKey, Code::GoogleKey, Code::GoogleKey),
        SiteKeyCodes::Split => (Code::WrongGoogleKey, Code::GoogleKey, Code::GoogleKey),
        SiteKeyCodes::Sdk => (Code::GoogleKey, Code::GoogleKey, Code::WrongGoogleKey),
    };
    if names.iter().all(|n| p.get(n).is_none()) {
        return Err(missing);
    }
    let Some(key) = p.get_any(names).map(str::trim) else {
        return Err(blank);
    };
    let ok = key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(malformed) }
}

fn require_page_url(p: &Params) -> Result<(), Code> {
    let url = p.non_empty("pageurl").ok_or(Code::PageUrl)?;
    if is_http_url(url) {
        Ok(())
    } else {
        Err(Code::PageUrl)
    }
}

fn require_proxy(p: &Params) -> Result<(), Code> {
    if p.non_empty("proxy").is_none() || p.non_empty("proxytype").is_none() {
        return Err(Code::BadParameters);
    }
    Ok(())
}

/// `proxy` is `login:pass@host:port` or `host:port`; `proxytype` one of
/// HTTP, HTTPS, SOCKS4, SOCKS5. A proxy on port 0 is "marked bad", so tests can
/// reach `ERROR_BAD_PROXY` deterministically.
fn check_proxy(p: &Params) -> Result<(), Code> {
    if let Some(t) = p.non_empty("proxytype")
        && !["HTTP", "HTTPS", "SOCKS4", "SOCKS5"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(t))
    {
        return Err(Code::ProxyFormat);
    }
    let Some(proxy) = p.non_empty("proxy") else {
        return Ok(());
    };
    let hostport = match proxy.rsplit_once('@') {
        Some((cred, hp)) => {
            if !cred.contains(':') {
                return Err(Code::ProxyFormat);
            }
            hp
        }
        None => proxy,
    };
    let (host, port) = hostport.rsplit_once(':').ok_or(Code::ProxyFormat)?;
    if host.is_empty() || host.contains(['/', ' ']) {
        return Err(Code::ProxyFormat);
    }
    let port: u16 = port.parse().map_err(|_| Code::ProxyFormat)?;
    if port == 0 {
        return Err(Code::BadProxy);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    use crate::api::images::tests::{limits, png};

    fn params(q: &str) -> Params {
        Params::from_query(Some(q))
    }

    /// The checks of a dialect's defaults, with the test image limits.
    fn checks(dialect: Dialect) -> Checks {
        let cfg = Config {
            dialect,
            ..Config::default()
        };
        Checks {
            images: limits(),
            ..Checks::new(&cfg)
        }
    }

    #[test]
    fn token_methods_check_their_parameters() {
        let d = Dialect::Captchaai;
        assert_eq!(
            parse_submission(
                &params("method=userrecaptcha&pageurl=https://a.b"),
                &checks(d)
            )
            .unwrap_err(),
            Code::GoogleKey
        );
        assert_eq!(
            parse_submission(&params("method=userrecaptcha&googlekey=6Lc"), &checks(d))
                .unwrap_err(),
            Code::PageUrl
        );
        assert_eq!(
            parse_submission(
                &params("method=userrecaptcha&googlekey=6Lc&pageurl=notaurl"),
                &checks(d)
            )
            .unwrap_err(),
            Code::PageUrl
        );
        assert_eq!(
            parse_submission(
                &params("method=userrecaptcha&googlekey=6L%20c&pageurl=https://a.b"),
                &checks(d)
            )
            .unwrap_err(),
            Code::GoogleKey
        );
        // 2captcha tells a missing site key from a blank or malformed one.
        let two = Dialect::TwoCaptcha;
        let site_key = |q: &str| parse_submission(&params(q), &checks(two)).unwrap_err();
        assert_eq!(
            site_key("method=userrecaptcha&pageurl=https://a.b"),
            Code::WrongGoogleKey
        );
        assert_eq!(
            site_key("method=userrecaptcha&googlekey=&pageurl=https://a.b"),
            Code::GoogleKey
        );
        assert_eq!(
            site_key("method=turnstile&sitekey=a%20b&pageurl=https://a.b"),
            Code::GoogleKey
        );
        let s = parse_submission(
            &params(
                "method=userrecaptcha&googlekey=6Lc&pageurl=https://a.b&version=v3&enterprise=1",
            ),
            &checks(d),
        )
        .unwrap();
        assert_eq!(s.kind, TaskKind::RecaptchaV3Enterprise);
        assert_eq!(
            parse_submission(&params("method=nope"), &checks(d)).unwrap_err(),
            Code::BadParameters
        );
        assert_eq!(
            parse_submission(
                &params("method=hcaptcha&sitekey=a&pageurl=https://a.b"),
                &checks(d)
            )
            .unwrap_err(),
            Code::ServerError
        );
        assert_eq!(
            parse_submission(
                &params("method=hcaptcha&sitekey=a&pageurl=https://a.b"),
                &checks(Dialect::TwoCaptcha)
            )
            .unwrap()
            .kind,
            TaskKind::Hcaptcha
        );
    }

    #[test]
    fn grids_need_instructions_and_a_real_size() {
        let d = Dialect::Captchaai;
        let body = format!(
            "method=base64&body={}",
            base64::engine::general_purpose::STANDARD.encode(png(30, 30, 200))
        )
        .replace('+', "%2B");
        let grid = |extra: &str| parse_submission(&params(&format!("{body}&{extra}")), &checks(d));
        let cells = |extra: &str| grid(extra).map(|s| (s.kind, s.shape.cells));
        assert_eq!(
            cells("instructions=boats&grid_size=4x4&img_type=recaptcha"),
            Ok((TaskKind::Grid, 16))
        );
        assert_eq!(
            cells("textinstructions=boats&img_type=recaptcha"),
            Ok((TaskKind::Grid, 9))
        );
        assert_eq!(
            cells("instructions=boats&grid_size=3X2"),
            Ok((TaskKind::Grid, 6))
        );
        assert_eq!(
            cells("recaptcha=1&imginstructions=x"),
            Ok((TaskKind::Grid, 9))
        );
        assert_eq!(cells("recaptcha=1&grid_size=4x4"), Ok((TaskKind::Grid, 16)));
        // 2captcha-python's `rows` and `cols`, as it sends them.
        assert_eq!(
            cells("recaptcha=1&textinstructions=x&recaptcharows=4&recaptchacols=4"),
            Ok((TaskKind::Grid, 16))
        );
        assert_eq!(
            cells("textinstructions=x&recaptcharows=2"),
            Ok((TaskKind::Grid, 6)),
            "a side not given is 3"
        );
        for bad in [
            "grid_size=3x3&img_type=recaptcha",
            "recaptcha=1&grid_size=4",
            "instructions=boats&grid_size=abc",
            "instructions=boats&grid_size=9x9",
            "instructions=boats&grid_size=3x",
            "instructions=boats&recaptcharows=7",
            "instructions=boats&recaptchacols=x",
        ] {
            assert_eq!(grid(bad).unwrap_err(), Code::BadParameters, "{bad}");
        }
        // Without grid markers it is a normal image, which needs no instructions.
        assert_eq!(cells("numeric=1"), Ok((TaskKind::Normal, 0)));
    }

    #[test]
    fn lemin_api_server_is_a_host_or_a_url() {
        let d = Dialect::Captchaai;
        let lemin = |server: &str| {
            parse_submission(
                &params(&format!(
                    "method=lemin&captcha_id=CROPPED_1&div_id=d&pageurl=https://a.b&apiServer={server}"
                )),
                &checks(d),
            )
            .map(|s| s.kind)
        };
        for ok in [
            "api.leminnow.com",
            "api.leminnow.com/",
            "https://api.leminnow.com/",
            "10.0.0.1:8080",
        ] {
            assert_eq!(lemin(ok), Ok(TaskKind::Lemin), "{ok}");
        }
        for bad in ["not%20a%20url", "ftp://x", "%2F%2F", "-"] {
            assert_eq!(lemin(bad), Err(Code::BadParameters), "{bad}");
        }
    }

    #[test]
    fn proxies_are_checked() {
        let d = Dialect::Captchaai;
        let base = "method=cloudflare_challenge&pageurl=https://a.b";
        assert_eq!(
            parse_submission(&params(base), &checks(d)).unwrap_err(),
            Code::BadParameters
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=nohost&proxytype=HTTP")),
                &checks(d)
            )
            .unwrap_err(),
            Code::ProxyFormat
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=1.2.3.4:80&proxytype=FTP")),
                &checks(d)
            )
            .unwrap_err(),
            Code::ProxyFormat
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=u:p@1.2.3.4:0&proxytype=http")),
                &checks(d)
            )
            .unwrap_err(),
            Code::BadProxy
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=u:p@1.2.3.4:8080&proxytype=socks5")),
                &checks(d)
            )
            .unwrap()
            .kind,
            TaskKind::CloudflareChallenge
        );
    }
}
