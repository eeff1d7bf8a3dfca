//! Structured answers in pingbacks (2captcha): the callback's `code` is the answer's plain
//! text, as after `OK|` in `res.php`: GeeTest v4's JSON object, a coordinates captcha's
//! `coordinates:x=..,y=..;..`, the same text the admin API gives as the task's answer.

use crate::support::pingback::*;
use captchaai_mock::{Dialect, TaskKind};

use super::faults::{genuine, setup};

#[tokio::test(start_paused = true)]
async fn geetest_v4_and_coordinates_call_back_with_their_plain_text() {
    let s = setup(Dialect::TwoCaptcha, vec![]).await;
    let v4 = s.mock.submit_kind(TaskKind::GeetestV4, &s.url).await;
    let points = s.mock.submit_kind(TaskKind::Coordinates, &s.url).await;
    until_ms(&s.mock, 120_000).await;
    let hits = s.rx.callbacks();
    assert_eq!(hits.len(), 2, "{hits:#?}");
    for hit in &hits {
        let id: u64 = hit.param("id").unwrap().parse().unwrap();
        let code = s.mock.code_of(id);
        genuine(hit, Dialect::TwoCaptcha, id, &code);
        if id == v4 {
            let v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&code).expect("GeeTest v4's code is its JSON object");
            for key in [
                "captcha_id",
                "lot_number",
                "pass_token",
                "gen_time",
                "captcha_output",
            ] {
                assert!(v[key].is_string(), "{key} in {code}");
            }
        } else {
            assert_eq!(id, points);
            let rest = code.strip_prefix("coordinates:").expect(&code);
            for p in rest.split(';') {
                let (x, y) = p.split_once(',').expect(p);
                let x: u32 = x.strip_prefix("x=").unwrap().parse().unwrap();
                let y: u32 = y.strip_prefix("y=").unwrap().parse().unwrap();
                assert!((1..40).contains(&x) && (1..16).contains(&y), "{code}");
            }
        }
    }
}
