//! `in.php` submissions: which method a request names, what each method requires, and which
//! error code each kind of bad input gets, in the service's order (the first problem found is
//! the answer).
//!
//! Kinds follow the official CaptchaAI SDK's method table. The mock is lenient where real
//! clients differ (`userAgent`/`user_agent`, `caseSensitive`/`regsense`,
//! `apiServer`/`api_server`; BLS and grid in the shapes CaptchaAI's examples use) and strict
//! where the service is (key, page URL, site key, image size and type, proxy format). Images
//! are checked in [`super::images`].

use super::{
    images::{ImageLimits, check_bls, check_image, image_from},
    wire::Code,
};
use crate::{
    model::{AnswerShape, Dialect, Submission, TaskKind},
    params::Params,
    url::{MAX_PINGBACK_URL, is_host, is_http_url},
};

/// Validates an `in.php` request (key already checked) into a [`Submission`].
pub(crate) fn parse_submission(
    p: &Params,
    dialect: Dialect,
    limits: &ImageLimits,
) -> Result<Submission, Code> {
    let method = p
        .non_empty("method")
        .ok_or(Code::BadParameters)?
        .to_ascii_lowercase();
    check_proxy(p)?;
    let kind = kind_of(&method, p, dialect, limits)?;
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
        shape: answer_shape(p, kind, dialect),
        pingback,
        cookies,
    })
}

/// The kind a `method` names, once its parameters pass.
fn kind_of(
    method: &str,
    p: &Params,
    dialect: Dialect,
    limits: &ImageLimits,
) -> Result<TaskKind, Code> {
    Ok(match method {
        "base64" | "post" => image_kind(p, method, limits)?,
        "bls" => {
            check_bls(p, limits)?;
            TaskKind::Bls
        }
        "userrecaptcha" => recaptcha_kind(p)?,
        "turnstile" => {
            require_site_key(p, &["sitekey", "googlekey"])?;
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
            require_site_key(p, &["sitekey"])?;
            require_page_url(p)?;
            require_proxy(p)?;
            TaskKind::Captchafox
        }
        "friendly_captcha" | "friendlycaptcha" => {
            require_site_key(p, &["sitekey"])?;
            require_page_url(p)?;
            TaskKind::FriendlyCaptcha
        }
        "lemin" => {
            p.non_empty("captcha_id").ok_or(Code::BadParameters)?;
            p.non_empty("div_id").ok_or(Code::BadParameters)?;
            require_page_url(p)?;
            // A host (`api.leminnow.com`, the SDK's documented default) or a URL.
            if let Some(server) = p.get_any(&["apiServer", "api_server"])
                && !is_host(server.trim().trim_end_matches('/'))
                && !is_http_url(server.trim())
            {
                return Err(Code::BadParameters);
            }
            TaskKind::Lemin
        }
        "hcaptcha" => match dialect {
            // Production CaptchaAI answered ERROR_SERVER_ERROR to hcaptcha.
            Dialect::Captchaai => return Err(Code::ServerError),
            Dialect::TwoCaptcha => {
                require_site_key(p, &["sitekey"])?;
                require_page_url(p)?;
                TaskKind::Hcaptcha
            }
        },
        _ => return Err(Code::BadParameters),
    })
}

/// `base64` and `post`: a normal image, or a grid when the request marks it as one.
fn image_kind(p: &Params, method: &str, limits: &ImageLimits) -> Result<TaskKind, Code> {
    let sdk_grid = p
        .get("img_type")
        .is_some_and(|t| t.eq_ignore_ascii_case("recaptcha"));
    let grid = sdk_grid || p.non_empty("grid_size").is_some() || p.flag("recaptcha");
    let image = image_from(p, method)?;
    check_image(&image, limits)?;
    if !grid {
        return Ok(TaskKind::Normal);
    }
    // The SDK's shape names what to select; the older shapes in CaptchaAI's examples
    // (`recaptcha=1`, a bare `grid_size`) are taken leniently.
    if sdk_grid
        && p.get_any(&["instructions", "textinstructions", "imginstructions"])
            .is_none()
    {
        return Err(Code::BadParameters);
    }
    grid_cells(p)?;
    Ok(TaskKind::Grid)
}

/// `userrecaptcha`: v2 or v3, Enterprise or not.
fn recaptcha_kind(p: &Params) -> Result<TaskKind, Code> {
    require_site_key(p, &["googlekey"])?;
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
    AnswerShape {
        numeric: num(&["numeric"]).min(4),
        case_sensitive: p
            .get_any(&["caseSensitive", "regsense", "case_sensitive"])
            .is_some_and(|v| v.trim() == "1"),
        min_len: num(&["min_len"]).min(20),
        max_len: num(&["max_len"]).min(20),
        cells: match kind {
            TaskKind::Grid => grid_cells(p).unwrap_or(9),
            _ => 0,
        },
        clicks: kind == TaskKind::Grid && dialect == Dialect::TwoCaptcha,
    }
}

/// The cells of a grid: `grid_size` as rows x columns (`3x3`, `4x4`; 2 to 6
/// each way), 3x3 when absent.
fn grid_cells(p: &Params) -> Result<u8, Code> {
    let Some(size) = p.non_empty("grid_size") else {
        return Ok(9);
    };
    let side = |s: &str| {
        s.trim()
            .parse::<u8>()
            .ok()
            .filter(|n| (2..=6).contains(n))
            .ok_or(Code::BadParameters)
    };
    let (rows, cols) = size.split_once(['x', 'X']).ok_or(Code::BadParameters)?;
    Ok(side(rows)? * side(cols)?)
}

fn require_site_key(p: &Params, names: &[&str]) -> Result<(), Code> {
    let key = p.get_any(names).ok_or(Code::GoogleKey)?.trim();
    let ok = key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Code::WrongGoogleKey)
    }
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

    #[test]
    fn token_methods_check_their_parameters() {
        let l = limits();
        let d = Dialect::Captchaai;
        assert_eq!(
            parse_submission(&params("method=userrecaptcha&pageurl=https://a.b"), d, &l)
                .unwrap_err(),
            Code::GoogleKey
        );
        assert_eq!(
            parse_submission(&params("method=userrecaptcha&googlekey=6Lc"), d, &l).unwrap_err(),
            Code::PageUrl
        );
        assert_eq!(
            parse_submission(
                &params("method=userrecaptcha&googlekey=6Lc&pageurl=notaurl"),
                d,
                &l
            )
            .unwrap_err(),
            Code::PageUrl
        );
        assert_eq!(
            parse_submission(
                &params("method=userrecaptcha&googlekey=6L%20c&pageurl=https://a.b"),
                d,
                &l
            )
            .unwrap_err(),
            Code::WrongGoogleKey
        );
        let s = parse_submission(
            &params(
                "method=userrecaptcha&googlekey=6Lc&pageurl=https://a.b&version=v3&enterprise=1",
            ),
            d,
            &l,
        )
        .unwrap();
        assert_eq!(s.kind, TaskKind::RecaptchaV3Enterprise);
        assert_eq!(
            parse_submission(&params("method=nope"), d, &l).unwrap_err(),
            Code::BadParameters
        );
        assert_eq!(
            parse_submission(
                &params("method=hcaptcha&sitekey=a&pageurl=https://a.b"),
                d,
                &l
            )
            .unwrap_err(),
            Code::ServerError
        );
        assert_eq!(
            parse_submission(
                &params("method=hcaptcha&sitekey=a&pageurl=https://a.b"),
                Dialect::TwoCaptcha,
                &l
            )
            .unwrap()
            .kind,
            TaskKind::Hcaptcha
        );
    }

    #[test]
    fn grids_need_instructions_and_a_real_size() {
        let l = limits();
        let d = Dialect::Captchaai;
        let body = format!(
            "method=base64&body={}",
            base64::engine::general_purpose::STANDARD.encode(png(30, 30, 200))
        )
        .replace('+', "%2B");
        let grid = |extra: &str| parse_submission(&params(&format!("{body}&{extra}")), d, &l);
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
        for bad in [
            "grid_size=3x3&img_type=recaptcha",
            "recaptcha=1&grid_size=4",
            "instructions=boats&grid_size=abc",
            "instructions=boats&grid_size=9x9",
            "instructions=boats&grid_size=3x",
        ] {
            assert_eq!(grid(bad).unwrap_err(), Code::BadParameters, "{bad}");
        }
        // Without grid markers it is a normal image, which needs no instructions.
        assert_eq!(cells("numeric=1"), Ok((TaskKind::Normal, 0)));
    }

    #[test]
    fn lemin_api_server_is_a_host_or_a_url() {
        let l = limits();
        let d = Dialect::Captchaai;
        let lemin = |server: &str| {
            parse_submission(
                &params(&format!(
                    "method=lemin&captcha_id=CROPPED_1&div_id=d&pageurl=https://a.b&apiServer={server}"
                )),
                d,
                &l,
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
        let l = limits();
        let d = Dialect::Captchaai;
        let base = "method=cloudflare_challenge&pageurl=https://a.b";
        assert_eq!(
            parse_submission(&params(base), d, &l).unwrap_err(),
            Code::BadParameters
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=nohost&proxytype=HTTP")),
                d,
                &l
            )
            .unwrap_err(),
            Code::ProxyFormat
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=1.2.3.4:80&proxytype=FTP")),
                d,
                &l
            )
            .unwrap_err(),
            Code::ProxyFormat
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=u:p@1.2.3.4:0&proxytype=http")),
                d,
                &l
            )
            .unwrap_err(),
            Code::BadProxy
        );
        assert_eq!(
            parse_submission(
                &params(&format!("{base}&proxy=u:p@1.2.3.4:8080&proxytype=socks5")),
                d,
                &l
            )
            .unwrap()
            .kind,
            TaskKind::CloudflareChallenge
        );
    }
}
