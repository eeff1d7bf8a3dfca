//! Images of `in.php` submissions: where they come from (a multipart file, or base64 in
//! `body`, `image_base64_N`), and the service's checks in its order: size, type, dimensions.

use base64::Engine as _;

use super::wire::Code;
use crate::{
    config::{DimensionCode, ImageConfig},
    model::Dialect,
    params::{Params, Upload},
};

/// Image limits, as the dialect documents them unless configured (see [`ImageConfig`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImageLimits {
    /// Smallest accepted image in bytes (100, as both services document).
    pub(crate) min_bytes: usize,
    /// Largest accepted image in bytes.
    pub(crate) max_bytes: usize,
    /// Largest accepted width or height in pixels, if any.
    pub(crate) max_dimension: Option<u32>,
    /// The code for an image over it.
    pub(crate) dimension_code: Code,
}

impl ImageLimits {
    /// The limits in effect for a dialect.
    pub(crate) fn new(c: &ImageConfig, dialect: Dialect) -> Self {
        ImageLimits {
            min_bytes: c.min_bytes(),
            max_bytes: c.max_bytes(dialect),
            max_dimension: c.max_dimension(dialect),
            dimension_code: match c.dimension_code {
                DimensionCode::TooBigCaptchaFilesize => Code::TooBigCaptchaFilesize,
                DimensionCode::ImageDimensionsTooLarge => Code::ImageDimensionsTooLarge,
            },
        }
    }
}

/// The image of a `base64`/`post` submission: the multipart file `file` (or `file_1`, as some
/// clients name a single image), or base64 in `body`.
pub(super) fn image_from(p: &Params, method: &str) -> Result<Vec<u8>, Code> {
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

/// A coordinates captcha's optional instruction image (`imginstructions`): base64 in the
/// parameter, or a multipart file of that name (2captcha-python's `hintImg`, which it sends
/// as a file when given a path: `solver.py`, `check_hint_img`). Checked as any image is.
pub(super) fn check_instruction_image(p: &Params, limits: &ImageLimits) -> Result<(), Code> {
    let image = match upload(p, "imginstructions") {
        Some(file) => file_bytes(file)?,
        None => match p.non_empty("imginstructions") {
            Some(b64) => decode_base64_image(b64)?,
            None => return Ok(()),
        },
    };
    check_image(&image, limits)
}

/// BLS images: nine numbered ones, each as base64 (`image_base64_N`) or as a multipart file
/// (`file_N`); or the whole grid as one image (base64 `body`, or the file `file`).
pub(super) fn check_bls(p: &Params, limits: &ImageLimits) -> Result<(), Code> {
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

/// Size, type and dimension checks, in the service's order. An image too wide or too tall
/// is `ERROR_TOO_BIG_CAPTCHA_FILESIZE` unless configured otherwise: 2captcha's error list
/// gives that code for "more than 100 kB or bigger than 600px on any side", and neither
/// service documents another.
pub(super) fn check_image(data: &[u8], limits: &ImageLimits) -> Result<(), Code> {
    if data.len() < limits.min_bytes {
        return Err(Code::ZeroCaptchaFilesize);
    }
    if data.len() > limits.max_bytes {
        return Err(Code::TooBigCaptchaFilesize);
    }
    let (w, h) = image_dimensions(data).ok_or(Code::ImageTypeNotSupported)?;
    if limits.max_dimension.is_some_and(|max| w > max || h > max) {
        return Err(limits.dimension_code);
    }
    Ok(())
}

/// Width and height of a PNG, GIF or JPEG; `None` for anything else.
/// A JPEG whose size marker cannot be found counts as (0, 0): it is a JPEG.
pub(crate) fn image_dimensions(d: &[u8]) -> Option<(u32, u32)> {
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
pub(super) mod tests {
    use super::*;

    pub(crate) fn limits() -> ImageLimits {
        ImageLimits {
            min_bytes: 100,
            max_bytes: 1024,
            max_dimension: Some(1000),
            dimension_code: Code::ImageDimensionsTooLarge,
        }
    }

    pub(crate) fn png(w: u32, h: u32, len: usize) -> Vec<u8> {
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
        let unlimited = ImageLimits {
            max_dimension: None,
            ..limits()
        };
        assert_eq!(check_image(&png(5000, 10, 200), &unlimited), Ok(()));
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[0x20, 0x00, 0x10, 0x00]);
        gif.resize(150, 0);
        assert_eq!(image_dimensions(&gif), Some((32, 16)));
    }
}
