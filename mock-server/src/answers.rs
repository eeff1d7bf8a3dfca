//! Deterministic answers shaped like the real ones.
//!
//! An answer depends only on the run seed, the task id, its kind and its answer
//! shape, so a checker can recompute the ground truth and two runs with the same
//! seed hand out the same bytes. Shapes follow what the service returns:
//! reCAPTCHA tokens of several hundred characters starting `03A`, Turnstile
//! tokens starting `0.`, JSON answers for grid, BLS, GeeTest and Lemin. No
//! answer ever contains the substring `ERROR` (2captcha-python raises as soon
//! as a body contains it).

use rand::Rng;

use crate::{
    model::{AnswerShape, TaskKind},
    seed::{self, Stream},
};

/// A solved task's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The `request` value (and the pingback `code`).
    pub(crate) text: String,
    /// `user_agent` for enterprise, Cloudflare and CaptchaFox answers.
    pub(crate) user_agent: Option<&'static str>,
}

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
];

const TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";
const LOWER_DIGITS: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

fn chars(rng: &mut impl Rng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| alphabet[seed::below(rng, alphabet.len() as u64) as usize] as char)
        .collect()
}

fn len_between(rng: &mut impl Rng, lo: usize, hi: usize) -> usize {
    lo + seed::below(rng, (hi - lo + 1) as u64) as usize
}

/// The answer for a task; the same inputs always give the same answer.
pub(crate) fn answer(seed_value: u64, task_id: u64, kind: TaskKind, shape: AnswerShape) -> Answer {
    answer_from(
        &mut seed::stream(seed_value, Stream::Answer, task_id),
        kind,
        shape,
    )
}

/// The browser user agent a task's worker reports (2captcha Turnstile `useragent`).
pub(crate) fn user_agent(seed_value: u64, task_id: u64) -> &'static str {
    let mut rng = seed::stream(seed_value ^ 0x05E7_A6E1, Stream::Answer, task_id);
    USER_AGENTS[seed::below(&mut rng, USER_AGENTS.len() as u64) as usize]
}

/// A different, equally plausible answer for the same task: what a conflicting
/// duplicate pingback carries.
pub(crate) fn conflicting_answer(
    seed_value: u64,
    task_id: u64,
    kind: TaskKind,
    shape: AnswerShape,
) -> Answer {
    let mut rng = seed::stream(seed_value ^ 0xC0FF_11C7, Stream::Answer, task_id);
    let genuine = answer(seed_value, task_id, kind, shape);
    loop {
        let a = answer_from(&mut rng, kind, shape);
        if a.text != genuine.text {
            return a;
        }
    }
}

fn answer_from(rng: &mut impl Rng, kind: TaskKind, shape: AnswerShape) -> Answer {
    let ua = USER_AGENTS[seed::below(rng, USER_AGENTS.len() as u64) as usize];
    let text = match kind {
        TaskKind::Normal => normal_text(rng, shape),
        TaskKind::Grid => {
            let picked = cells(rng, if shape.cells == 0 { 9 } else { shape.cells });
            if shape.two_captcha {
                format!("click:{}", picked.join("/"))
            } else {
                format!("[{}]", picked.join(","))
            }
        }
        TaskKind::Bls => format!("[{}]", cells(rng, 9).join(",")),
        TaskKind::RecaptchaV2
        | TaskKind::RecaptchaV2Enterprise
        | TaskKind::RecaptchaV3
        | TaskKind::RecaptchaV3Enterprise => {
            let n = len_between(rng, 480, 620);
            format!("03A{}", chars(rng, TOKEN, n))
        }
        TaskKind::Turnstile => {
            let n = len_between(rng, 280, 360);
            format!("0.{}", chars(rng, TOKEN, n))
        }
        TaskKind::CloudflareChallenge => {
            let a = chars(rng, TOKEN, 43);
            let ts = 1_700_000_000 + seed::below(rng, 100_000_000);
            let b = chars(rng, TOKEN, 180);
            format!("{a}-{ts}-1.2.1.1-{b}")
        }
        TaskKind::Geetest => {
            let challenge = chars(rng, HEX, 34);
            let validate = chars(rng, HEX, 32);
            // 2captcha names the keys as GeeTest's form fields (unicaps
            // `_service/twocaptcha.py` reads `geetest_challenge`, CaptchaSharp's
            // `TwoCaptchaGeeTestResponse` maps `geetest_*`); CaptchaAI's SDK documents
            // `{challenge, validate, seccode}` (`client.py`, `geetest`).
            let p = if shape.two_captcha { "geetest_" } else { "" };
            format!(
                r#"{{"{p}challenge":"{challenge}","{p}validate":"{validate}","{p}seccode":"{validate}|jordan"}}"#
            )
        }
        TaskKind::Captchafox => {
            let n = len_between(rng, 180, 240);
            format!("fox_{}", chars(rng, TOKEN, n))
        }
        TaskKind::FriendlyCaptcha => {
            let parts: Vec<String> = [64usize, 120, 32, 12]
                .iter()
                .map(|&n| chars(rng, TOKEN, n))
                .collect();
            parts.join(".")
        }
        TaskKind::Lemin => {
            let answer = chars(rng, HEX, 64);
            let u = chars(rng, HEX, 32);
            // CaptchaAI's SDK documents `challenge_uuid` (`core/registry.py`); 2captcha's
            // Lemin answer names it `challenge_id`, as Lemin's own validation call does
            // (CaptchaSharp's `LeminCroppedResponse.ChallengeId`).
            let id = if shape.two_captcha {
                "challenge_id"
            } else {
                "challenge_uuid"
            };
            format!(
                r#"{{"answer":"0x{answer}","{id}":"{}-{}-{}-{}-{}"}}"#,
                &u[0..8],
                &u[8..12],
                &u[12..16],
                &u[16..20],
                &u[20..32]
            )
        }
        TaskKind::Hcaptcha => {
            let n = len_between(rng, 1200, 1500);
            format!("P1_{}", chars(rng, TOKEN, n))
        }
        TaskKind::GeetestV4 => geetest_v4(rng),
        TaskKind::Coordinates => coordinates(rng, shape),
    };
    Answer {
        text: scrub(text),
        user_agent: kind.has_user_agent().then_some(ua),
    }
}

/// GeeTest v4's five values, as 2captcha's API documentation shows them (`method=geetest_v4`:
/// `{"captcha_id":..., "lot_number":..., "pass_token":..., "gen_time":..., "captcha_output":...}`,
/// `gen_time` a string of Unix seconds) and unicaps reads them (`_service/twocaptcha.py`,
/// `GeeTestV4SolutionRequest`). The `captcha_id` is the mock's own, drawn like the rest: a
/// stored task keeps no per-task text beyond its cookies (docs/protocol.md, section 8).
fn geetest_v4(rng: &mut impl Rng) -> String {
    let captcha_id = chars(rng, HEX, 32);
    let lot_number = chars(rng, HEX, 32);
    let pass_token = chars(rng, HEX, 64);
    let gen_time = 1_700_000_000 + seed::below(rng, 100_000_000);
    let n = len_between(rng, 200, 260);
    let captcha_output = chars(rng, TOKEN, n);
    format!(
        r#"{{"captcha_id":"{captcha_id}","lot_number":"{lot_number}","pass_token":"{pass_token}","gen_time":"{gen_time}","captcha_output":"{captcha_output}"}}"#
    )
}

/// A coordinates (click) captcha's points, in 2captcha's plain form
/// `coordinates:x=39,y=59;x=252,y=72` (its API v1 documentation; what 2captcha-python's
/// `coordinates()` hands back as `code`): between `min_clicks` and `max_clicks` points
/// (1 to 4 when not given), each inside the image, counted from its top left corner.
fn coordinates(rng: &mut impl Rng, shape: AnswerShape) -> String {
    let lo = (shape.min_len as usize).max(1);
    let hi = if shape.max_len > 0 {
        (shape.max_len as usize).max(lo)
    } else {
        lo.max(4)
    };
    let n = len_between(rng, lo, hi);
    let side = |units: u8, unknown: u64| match units {
        0 => unknown,
        u => u64::from(u) * 4,
    };
    let (w, h) = (side(shape.extent.0, 300), side(shape.extent.1, 150));
    let points: Vec<String> = (0..n)
        .map(|_| {
            let x = 1 + seed::below(rng, w.saturating_sub(1).max(1));
            let y = 1 + seed::below(rng, h.saturating_sub(1).max(1));
            format!("x={x},y={y}")
        })
        .collect();
    format!("coordinates:{}", points.join(";"))
}

fn normal_text(rng: &mut impl Rng, shape: AnswerShape) -> String {
    let lo = if shape.min_len > 0 {
        shape.min_len as usize
    } else {
        4
    };
    let hi = if shape.max_len > 0 {
        (shape.max_len as usize).max(lo)
    } else {
        lo.max(7)
    };
    let n = len_between(rng, lo, hi);
    let alphabet: &[u8] = match shape.numeric {
        1 => b"0123456789",
        2 | 4 => b"abcdefghijkmnpqrstuvwxyz",
        _ => LOWER_DIGITS,
    };
    let mut s = chars(rng, alphabet, n);
    if shape.case_sensitive && shape.numeric != 1 {
        s = s
            .chars()
            .map(|c| {
                if seed::chance(rng, 0.5) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
    }
    s
}

/// Cells to click, numbered from 1 (left to right, top to bottom).
fn cells(rng: &mut impl Rng, total: u8) -> Vec<String> {
    let mut picked: Vec<u8> = (1..=total).filter(|_| seed::chance(rng, 0.35)).collect();
    if picked.is_empty() {
        picked.push(1 + seed::below(rng, total as u64) as u8);
    }
    picked.iter().map(u8::to_string).collect()
}

/// Breaks up any accidental `ERROR` (case-sensitive, as clients test it).
fn scrub(mut s: String) -> String {
    while let Some(i) = s.find("ERROR") {
        s.replace_range(i..i + 1, "e");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_deterministic_and_shaped() {
        let shape = AnswerShape::default();
        let a = answer(42, 74_000_000_001, TaskKind::RecaptchaV2, shape);
        assert_eq!(a, answer(42, 74_000_000_001, TaskKind::RecaptchaV2, shape));
        assert!(
            a.text.starts_with("03A") && (480..=630).contains(&a.text.len()),
            "{}",
            a.text.len()
        );
        assert_ne!(a, answer(43, 74_000_000_001, TaskKind::RecaptchaV2, shape));
        assert!(
            answer(1, 1, TaskKind::Turnstile, shape)
                .text
                .starts_with("0.")
        );
        let g: serde_json::Value =
            serde_json::from_str(&answer(1, 2, TaskKind::Geetest, shape).text).unwrap();
        assert!(g["seccode"].as_str().unwrap().ends_with("|jordan"));
        let l: serde_json::Value =
            serde_json::from_str(&answer(1, 3, TaskKind::Lemin, shape).text).unwrap();
        assert!(l["answer"].as_str().unwrap().starts_with("0x"));
        let grid: Vec<u8> = serde_json::from_str(
            &answer(1, 4, TaskKind::Grid, AnswerShape { cells: 16, ..shape }).text,
        )
        .unwrap();
        assert!(!grid.is_empty() && grid.iter().all(|c| (1..=16).contains(c)));
        // The 2captcha dialect names the same cells as `click:a/b/c`.
        let clicks = AnswerShape {
            cells: 16,
            two_captcha: true,
            ..shape
        };
        let listed: Vec<String> = grid.iter().map(u8::to_string).collect();
        assert_eq!(
            answer(1, 4, TaskKind::Grid, clicks).text,
            format!("click:{}", listed.join("/"))
        );
        assert!(
            answer(1, 5, TaskKind::RecaptchaV2Enterprise, shape)
                .user_agent
                .is_some()
        );
        assert!(
            answer(1, 5, TaskKind::RecaptchaV2, shape)
                .user_agent
                .is_none()
        );
    }

    #[test]
    fn geetest_v4_and_coordinates_are_shaped() {
        let shape = AnswerShape::default();
        let v4: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&answer(1, 6, TaskKind::GeetestV4, shape).text).unwrap();
        let mut keys: Vec<&str> = v4.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "captcha_id",
                "captcha_output",
                "gen_time",
                "lot_number",
                "pass_token"
            ]
        );
        assert!(v4.values().all(serde_json::Value::is_string));
        assert!(v4["gen_time"].as_str().unwrap().parse::<u64>().is_ok());
        // Two to three points inside a 40 x 16 image.
        let clicks = AnswerShape {
            min_len: 2,
            max_len: 3,
            extent: (10, 4),
            ..shape
        };
        for id in 0..50 {
            let text = answer(2, id, TaskKind::Coordinates, clicks).text;
            let points = text.strip_prefix("coordinates:").unwrap();
            let points: Vec<&str> = points.split(';').collect();
            assert!((2..=3).contains(&points.len()), "{text}");
            for p in points {
                let (x, y) = p.split_once(',').unwrap();
                let x: u32 = x.strip_prefix("x=").unwrap().parse().unwrap();
                let y: u32 = y.strip_prefix("y=").unwrap().parse().unwrap();
                assert!((1..40).contains(&x) && (1..16).contains(&y), "{text}");
            }
        }
    }

    #[test]
    fn normal_answers_follow_hints() {
        let digits = AnswerShape {
            numeric: 1,
            min_len: 5,
            max_len: 5,
            ..Default::default()
        };
        for id in 0..50 {
            let t = answer(9, id, TaskKind::Normal, digits).text;
            assert_eq!(t.len(), 5);
            assert!(t.bytes().all(|b| b.is_ascii_digit()), "{t}");
        }
    }

    #[test]
    fn no_answer_contains_error() {
        assert_eq!(scrub("xxERRORyyERROR".into()), "xxeRRORyyeRROR");
        for id in 0..300 {
            for kind in TaskKind::ALL {
                assert!(
                    !answer(5, id, kind, AnswerShape::default())
                        .text
                        .contains("ERROR")
                );
            }
        }
    }

    #[test]
    fn conflicting_answers_differ() {
        for kind in TaskKind::ALL {
            let s = AnswerShape::default();
            assert_ne!(
                answer(3, 10, kind, s).text,
                conflicting_answer(3, 10, kind, s).text
            );
        }
    }
}
