//! Builds `captchaai-client` tasks for workload entries: realistic inputs per
//! kind, with the scenario's parameter overrides (`pageurl = "not-a-url"`).

use std::collections::BTreeMap;

use captchaai_client::{
    Task,
    task::{
        Bls, CaptchaFox, CloudflareChallenge, FriendlyCaptcha, Geetest, Grid, GridSize, Image,
        Lemin, Normal, Proxy, ProxyType, RecaptchaV2, RecaptchaV3, Turnstile,
    },
};
use captchaai_mock::TaskKind;

/// A small valid PNG (a 40x16 greyscale image, well over 100 bytes).
pub(crate) fn sample_png() -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &d in data {
            a = (a + d as u32) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }
    let (w, h) = (40u32, 16u32);
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            raw.push(((x * 7 + y * 13) % 256) as u8);
        }
    }
    // zlib stream with stored (uncompressed) deflate blocks.
    let mut z = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, c) in chunks.iter().enumerate() {
        z.push(u8::from(i + 1 == chunks.len()));
        z.extend_from_slice(&(c.len() as u16).to_le_bytes());
        z.extend_from_slice(&(!(c.len() as u16)).to_le_bytes());
        z.extend_from_slice(c);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// The task for a workload entry.
pub fn build(kind: TaskKind, params: &BTreeMap<String, String>) -> Task {
    let p = |name: &str, default: &str| {
        params
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let pageurl = p("pageurl", "https://shop.example.com/checkout");
    let proxy = || Proxy::new(p("proxy", "user:pass@203.0.113.7:8080"), ProxyType::Http);
    let image = || match params.get("body") {
        Some(b64) => Image::from_base64(b64).unwrap_or_else(|_| Image::from_bytes(b64.as_bytes())),
        None => Image::from_bytes(&sample_png()),
    };
    match kind {
        TaskKind::Normal => Normal::new(image()).into(),
        TaskKind::Grid => Grid::new(
            image(),
            p("instructions", "crosswalks"),
            GridSize::ThreeByThree,
        )
        .into(),
        TaskKind::Bls => Bls::new(
            (0..9).map(|_| image()).collect(),
            p("instructions", "select all boats"),
        )
        .into(),
        TaskKind::RecaptchaV2 => RecaptchaV2::new(
            p("googlekey", "6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-"),
            pageurl,
        )
        .into(),
        TaskKind::RecaptchaV2Enterprise => RecaptchaV2::new(
            p("googlekey", "6Lc_aCMTAAAAABx7u2W0WPXnVbI_v6ZdbM6rYf16"),
            pageurl,
        )
        .enterprise()
        .into(),
        TaskKind::RecaptchaV3 => RecaptchaV3::new(
            p("googlekey", "6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf"),
            pageurl,
            p("action", "login"),
        )
        .into(),
        TaskKind::RecaptchaV3Enterprise => RecaptchaV3::new(
            p("googlekey", "6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf"),
            pageurl,
            p("action", "login"),
        )
        .enterprise()
        .into(),
        TaskKind::Turnstile => {
            Turnstile::new(p("sitekey", "0x4AAAAAAAC3DHQFLr1GavRN"), pageurl).into()
        }
        TaskKind::CloudflareChallenge => CloudflareChallenge::new(pageurl, proxy()).into(),
        TaskKind::Geetest => Geetest::new(
            p("gt", "81388ea1fc187e0c335c0a8907ff2625"),
            p("challenge", "2e2f0f65240058b683cb6ea21c303eea"),
            pageurl,
        )
        .into(),
        TaskKind::Captchafox => CaptchaFox::new(
            p("sitekey", "sk_xtNxpk6fCdFbxh1_xJeGflSdCE9tn99G"),
            pageurl,
            proxy(),
        )
        .into(),
        TaskKind::FriendlyCaptcha => {
            FriendlyCaptcha::new(p("sitekey", "FCMGEMUD2KTDSQ5H"), pageurl).into()
        }
        TaskKind::Lemin => Lemin::new(
            p(
                "captcha_id",
                "CROPPED_3dfdd5c_d1872b526b794d83ba3b365eb15a200b",
            ),
            p("div_id", "lemin-cropped-captcha"),
            pageurl,
        )
        .into(),
        // The client does not model hCaptcha (CaptchaAI does not support it); the
        // closest token task keeps the workload meaningful in the 2captcha dialect.
        TaskKind::Hcaptcha => Turnstile::new(
            p("sitekey", "a5f74b19-9e45-40e0-b45d-47ff91b7a6c2"),
            pageurl,
        )
        .into(),
        // Nor GeeTest v4 or coordinates captchas (2captcha's, not in CaptchaAI's SDK, whose
        // table the client follows): the closest kinds keep the workload meaningful, a
        // GeeTest v3 (an object answer) and a grid (an image with an instruction, a
        // structured answer).
        TaskKind::GeetestV4 => Geetest::new(
            p("gt", "81388ea1fc187e0c335c0a8907ff2625"),
            p("challenge", "2e2f0f65240058b683cb6ea21c303eea"),
            pageurl,
        )
        .into(),
        TaskKind::Coordinates => Grid::new(
            image(),
            p("textinstructions", "click the apples"),
            GridSize::ThreeByThree,
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_png_is_a_png_over_100_bytes() {
        let png = sample_png();
        assert!(png.len() > 100);
        // The PNG signature, then the IHDR chunk's width and height.
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
        assert_eq!((be(16), be(20)), (40, 16));
    }
}
