//! Image submissions (`method=base64` or `post`): which kind an image is (a normal captcha, a
//! grid, or in the 2captcha dialect a coordinates captcha), and the parameters of grids
//! (`grid_size`, `recaptcharows`/`recaptchacols`) and of coordinates (`min_clicks`,
//! `max_clicks`, the instruction image). The images themselves are checked in
//! [`super::images`].

use super::{
    images::{ImageLimits, check_image, check_instruction_image, image_dimensions, image_from},
    submission::Checks,
    wire::Code,
};
use crate::{
    model::{Dialect, TaskKind},
    params::Params,
};

/// `base64` and `post`: a normal image, a grid when the request marks it as one, or (2captcha)
/// a coordinates captcha with `coordinatescaptcha=1`, whose image extent comes along.
pub(super) fn image_kind(
    p: &Params,
    method: &str,
    checks: &Checks,
) -> Result<(TaskKind, (u8, u8)), Code> {
    let limits = &checks.images;
    // CaptchaAI documents no coordinates captcha: like any parameter it does not know, the
    // flag is ignored there and the image is a normal (or grid) captcha.
    if checks.dialect == Dialect::TwoCaptcha && p.flag("coordinatescaptcha") {
        let image = image_from(p, method)?;
        check_image(&image, limits)?;
        check_instruction_image(p, limits)?;
        clicks(p)?;
        let units = |px: u32| u8::try_from(px.div_ceil(4)).unwrap_or(u8::MAX);
        let extent = image_dimensions(&image).map_or((0, 0), |(w, h)| (units(w), units(h)));
        return Ok((TaskKind::Coordinates, extent));
    }
    Ok((grid_or_normal(p, method, limits)?, (0, 0)))
}

/// A coordinates captcha's `min_clicks` and `max_clicks` (2captcha-python documents both):
/// whole numbers from 1 to 20, the least not above the most; anything else is
/// `ERROR_BAD_PARAMETERS`.
pub(super) fn clicks(p: &Params) -> Result<(u8, u8), Code> {
    let count = |name: &str| {
        p.non_empty(name).map_or(Ok(0), |v| {
            v.parse::<u8>()
                .ok()
                .filter(|n| (1..=20).contains(n))
                .ok_or(Code::BadParameters)
        })
    };
    let (lo, hi) = (count("min_clicks")?, count("max_clicks")?);
    if hi > 0 && lo > hi {
        return Err(Code::BadParameters);
    }
    Ok((lo, hi))
}

/// A normal image, or a grid when the request marks it as one.
fn grid_or_normal(p: &Params, method: &str, limits: &ImageLimits) -> Result<TaskKind, Code> {
    let sdk_grid = p
        .get("img_type")
        .is_some_and(|t| t.eq_ignore_ascii_case("recaptcha"));
    let grid = sdk_grid
        || p.non_empty("grid_size").is_some()
        || p.flag("recaptcha")
        || p.non_empty("recaptcharows").is_some()
        || p.non_empty("recaptchacols").is_some();
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

/// The cells of a grid: CaptchaAI's `grid_size` as rows x columns (`3x3`, `4x4`), or
/// 2captcha's `recaptcharows` and `recaptchacols` (what 2captcha-python sends for its
/// `rows` and `cols`: `twocaptcha/solver.py`, `rename_params`); 2 to 6 each way, a side
/// not given is 3.
pub(super) fn grid_cells(p: &Params) -> Result<u8, Code> {
    let side = |s: &str| {
        s.trim()
            .parse::<u8>()
            .ok()
            .filter(|n| (2..=6).contains(n))
            .ok_or(Code::BadParameters)
    };
    if let Some(size) = p.non_empty("grid_size") {
        let (rows, cols) = size.split_once(['x', 'X']).ok_or(Code::BadParameters)?;
        return Ok(side(rows)? * side(cols)?);
    }
    let rows = p.non_empty("recaptcharows").map_or(Ok(3), side)?;
    let cols = p.non_empty("recaptchacols").map_or(Ok(3), side)?;
    Ok(rows * cols)
}
