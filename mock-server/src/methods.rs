//! The method catalogue: which `in.php` methods exist, what each requires, and
//! which error code each kind of bad input gets.
//!
//! Kinds follow the official CaptchaAI SDK's table (protocol.md §3). The mock
//! is lenient where real clients differ (`userAgent`/`user_agent`,
//! `caseSensitive`/`regsense`, `apiServer`/`api_server`; BLS and grid in the
//! shapes CaptchaAI's examples use) and strict where the service is (key,
//! page URL, site key, image size and type, proxy format).

use std::time::Duration;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    config::Dialect,
    params::{Params, Upload},
    wire::Code,
};

/// The kind of task: one row of the SDK's method table.
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
}

impl TaskKind {
    /// Every kind.
    pub const ALL: [TaskKind; 14] = [
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
        }
    }

    /// Parses a kebab-case name.
    pub fn from_name(s: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Index into per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Default solve-time median, from the times seen live (protocol.md §3).
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
            TaskKind::Normal | TaskKind::Grid | TaskKind::Bls => 0.00085,
            _ => 0.00299,
        }
    }
}

/// How a normal captcha's text answer is shaped (`numeric`, `caseSensitive`, lengths).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnswerShape {
    /// `numeric`: 0 any, 1 digits only, 2 letters only, 3 digits and letters, 4 no digits.
    pub numeric: u8,
    /// `caseSensitive` / `regsense`.
    pub case_sensitive: bool,
    /// `min_len` (0 = unset).
    pub min_len: u8,
    /// `max_len` (0 = unset).
    pub max_len: u8,
    /// Number of grid cells (rows x columns, 9 for 3x3) for grid tasks.
    pub cells: u8,
    /// Grid cells in 2captcha's form, `click:3/8/9`, instead of CaptchaAI's JSON array
    /// (`[3,8,9]`): the 2captcha dialect's grid answers.
    pub clicks: bool,
}

/// A validated submission: what to create.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The kind of task.
    pub kind: TaskKind,
    /// Answer shaping for image tasks.
    pub shape: AnswerShape,
    /// The callback URL, if any.
    pub pingback: Option<String>,
    /// reCAPTCHA `cookies` to hand back with the answer (2captcha dialect),
    /// and whether as a JSON object (`json_cookies=1`).
    pub cookies: Option<(String, bool)>,
}

/// Image limits.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Smallest accepted image in bytes (100, as the service).
    pub min_bytes: usize,
    /// Largest accepted image in bytes.
    pub max_bytes: usize,
    /// Largest accepted width or height in pixels.
    pub max_dimension: u32,
}

/// Validates an `in.php` request (key already checked) into a [`Submission`].
pub fn parse_submission(
    p: &Params,
    dialect: Dialect,
    limits: &ImageLimits,
) -> Result<Submission, Code> {
    let method = p
        .non_empty("method")
        .ok_or(Code::BadParameters)?
        .to_ascii_lowercase();
    check_proxy(p)?;
    let kind = match method.as_str() {
        "base64" | "post" => {
            let sdk_grid = p
                .get("img_type")
                .is_some_and(|t| t.eq_ignore_ascii_case("recaptcha"));
            let grid = sdk_grid || p.non_empty("grid_size").is_some() || p.flag("recaptcha");
            let image = image_from(p, &method)?;
            check_image(&image, limits)?;
            if grid {
                // The SDK's shape (protocol.md §3) names what to select; the older
                // shapes in CaptchaAI's examples (`recaptcha=1`, a bare `grid_size`)
                // are taken leniently.
                if sdk_grid
                    && p.get_any(&["instructions", "textinstructions", "imginstructions"])
                        .is_none()
                {
                    return Err(Code::BadParameters);
                }
                grid_cells(p)?;
                TaskKind::Grid
            } else {
                TaskKind::Normal
            }
        }
        "bls" => {
            check_bls(p, limits)?;
            TaskKind::Bls
        }
        "userrecaptcha" => {
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
            match (v3, p.flag("enterprise")) {
                (false, false) => TaskKind::RecaptchaV2,
                (false, true) => TaskKind::RecaptchaV2Enterprise,
                (true, false) => TaskKind::RecaptchaV3,
                (true, true) => TaskKind::RecaptchaV3Enterprise,
            }
        }
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
            {
                check_url_like(server.trim()).map_err(|_| Code::BadParameters)?;
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
    };
    let pingback = match p.non_empty("pingback") {
        Some(url) => {
            check_url_like(url).map_err(|_| Code::BadParameters)?;
            Some(url.to_owned())
        }
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
    check_url_like(url).map_err(|_| Code::PageUrl)
}

/// An absolute http(s) URL with a host.
fn check_url_like(url: &str) -> Result<(), ()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or(())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(());
    }
    Ok(())
}

/// A host name or address, with an optional port: `api.leminnow.com`, `10.0.0.1:8080`.
fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.contains(|c: char| c.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'))
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

/// The image of a `base64`/`post` submission: the multipart file `file` (or `file_1`, as some
/// clients name a single image), or base64 in `body`.
fn image_from(p: &Params, method: &str) -> Result<Vec<u8>, Code> {
    if method == "post" {
        let file = upload(p, "file")
            .or_else(|| upload(p, "file_1"))
            .ok_or(Code::Upload)?;
        return file_bytes(file);
    }
    let body = p.get("body").ok_or(Code::Upload)?;
    decode_base64_image(body)
}

/// The uploaded file of a multipart field.
fn upload<'a>(p: &'a Params, field: &str) -> Option<&'a Upload> {
    p.uploads.iter().find(|u| u.field == field)
}

/// An uploaded file's bytes, refused when its name has an extension the service does not take.
fn file_bytes(file: &Upload) -> Result<Vec<u8>, Code> {
    if let Some(name) = &file.filename {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if !["jpg", "jpeg", "png", "gif"].contains(&ext.as_str()) {
            return Err(Code::WrongFileExtension);
        }
    }
    Ok(file.data.to_vec())
}

/// Decodes base64, tolerating a data-URI prefix and whitespace.
fn decode_base64_image(s: &str) -> Result<Vec<u8>, Code> {
    let payload = match s.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => s,
    };
    let cleaned: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    if cleaned.is_empty() {
        return Err(Code::ZeroCaptchaFilesize);
    }
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.as_bytes()))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(cleaned.as_bytes()))
        .map_err(|_| Code::Upload)
}

/// BLS images: nine numbered ones, each as base64 (`image_base64_N`) or as a multipart file
/// (`file_N`); or the whole grid as one image (base64 `body`, or the file `file`).
fn check_bls(p: &Params, limits: &ImageLimits) -> Result<(), Code> {
    p.get_any(&["instructions", "textinstructions"])
        .ok_or(Code::BadParameters)?;
    let mut numbered = Vec::new();
    for i in 1..=9 {
        if let Some(img) = p.get(&format!("image_base64_{i}")) {
            numbered.push(decode_base64_image(img));
        } else if let Some(file) = upload(p, &format!("file_{i}")) {
            numbered.push(file_bytes(file));
        }
    }
    if numbered.is_empty() {
        // CaptchaAI's examples also send one `body` with the whole grid.
        let image = match upload(p, "file") {
            Some(file) => file_bytes(file)?,
            None => decode_base64_image(p.get("body").ok_or(Code::Upload)?)?,
        };
        return check_image(&image, limits);
    }
    if numbered.len() != 9 {
        return Err(Code::BadParameters);
    }
    for img in numbered {
        check_image(&img?, limits)?;
    }
    Ok(())
}

/// Size, type and dimension checks, in the service's order.
pub fn check_image(data: &[u8], limits: &ImageLimits) -> Result<(), Code> {
    if data.len() < limits.min_bytes {
        return Err(Code::ZeroCaptchaFilesize);
    }
    if data.len() > limits.max_bytes {
        return Err(Code::TooBigCaptchaFilesize);
    }
    let (w, h) = image_dimensions(data).ok_or(Code::ImageTypeNotSupported)?;
    if w > limits.max_dimension || h > limits.max_dimension {
        return Err(Code::ImageDimensionsTooLarge);
    }
    Ok(())
}

/// Width and height of a PNG, GIF or JPEG; `None` for anything else.
/// A JPEG whose size marker cannot be found counts as (0, 0): it is a JPEG.
pub fn image_dimensions(d: &[u8]) -> Option<(u32, u32)> {
    if d.len() >= 24 && d.starts_with(b"\x89PNG\r\n\x1a\n") {
        let w = u32::from_be_bytes([d[16], d[17], d[18], d[19]]);
        let h = u32::from_be_bytes([d[20], d[21], d[22], d[23]]);
        return Some((w, h));
    }
    if d.len() >= 10 && (d.starts_with(b"GIF87a") || d.starts_with(b"GIF89a")) {
        return Some((
            u16::from_le_bytes([d[6], d[7]]) as u32,
            u16::from_le_bytes([d[8], d[9]]) as u32,
        ));
    }
    if d.len() >= 3 && d[..3] == [0xFF, 0xD8, 0xFF] {
        let mut i = 2;
        while i + 9 < d.len() {
            if d[i] != 0xFF {
                i += 1;
                continue;
            }
            let marker = d[i + 1];
            let len = u16::from_be_bytes([d[i + 2], d[i + 3]]) as usize;
            if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
                let h = u16::from_be_bytes([d[i + 5], d[i + 6]]) as u32;
                let w = u16::from_be_bytes([d[i + 7], d[i + 8]]) as u32;
                return Some((w, h));
            }
            i += 2 + len.max(2);
        }
        return Some((0, 0));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ImageLimits {
        ImageLimits {
            min_bytes: 100,
            max_bytes: 1024,
            max_dimension: 1000,
        }
    }

    fn png(w: u32, h: u32, len: usize) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&h.to_be_bytes());
        v.resize(len, 0);
        v
    }

    #[test]
    fn image_checks_in_order() {
        assert_eq!(
            check_image(&png(10, 10, 50), &limits()),
            Err(Code::ZeroCaptchaFilesize)
        );
        assert_eq!(
            check_image(&png(10, 10, 2000), &limits()),
            Err(Code::TooBigCaptchaFilesize)
        );
        assert_eq!(
            check_image(&[7u8; 200], &limits()),
            Err(Code::ImageTypeNotSupported)
        );
        assert_eq!(
            check_image(&png(5000, 10, 200), &limits()),
            Err(Code::ImageDimensionsTooLarge)
        );
        assert_eq!(check_image(&png(300, 100, 200), &limits()), Ok(()));
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[0x20, 0x00, 0x10, 0x00]);
        gif.resize(150, 0);
        assert_eq!(image_dimensions(&gif), Some((32, 16)));
    }

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
