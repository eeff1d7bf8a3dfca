//! Malformed callbacks (each kind goes first, then the genuine one) and stale ids (only a
//! task already delivered), in both dialects.

use captchaai_mock::{
    DeliveryKind, Dialect, Fault, FaultRule, MalformedKind, OrdinalRange, RuleMatch,
};

use super::faults::{DIALECTS, assert_callback, genuine, method_of, setup};
use crate::support::pingback::*;

const MALFORMED: [MalformedKind; 7] = [
    MalformedKind::MissingId,
    MalformedKind::MissingCode,
    MalformedKind::NonNumericId,
    MalformedKind::UnknownId,
    MalformedKind::StaleId,
    MalformedKind::OversizedCode,
    MalformedKind::WrongMethod,
];

#[tokio::test(start_paused = true)]
async fn every_malformed_kind_goes_first_then_the_genuine_callback() {
    for dialect in DIALECTS {
        for kind in MALFORMED {
            // The first task is normal, so a stale id has an earlier task to reuse.
            let rule = FaultRule::always(Fault::Malformed(kind)).matching(RuleMatch {
                tasks: Some(OrdinalRange { from: 2, to: 2 }),
                ..RuleMatch::default()
            });
            let s = setup(dialect, vec![rule]).await;
            let first = s.mock.submit(&s.url).await;
            until_ms(&s.mock, 10_000).await;
            let id = s.mock.submit(&s.url).await;
            until_ms(&s.mock, 60_000).await;

            let hits = s.rx.callbacks();
            let code = s.mock.code_of(id);
            let j = s.mock.journal(id);
            assert_eq!(hits.len(), 3, "{kind:?} {dialect:?}: {hits:#?}");
            let bad = &hits[1];
            let sid = id.to_string();
            let method = method_of(dialect);
            match kind {
                MalformedKind::MissingId => assert_callback(bad, method, &[("code", &code)]),
                MalformedKind::MissingCode => assert_callback(bad, method, &[("id", &sid)]),
                MalformedKind::NonNumericId => {
                    let bad_id = bad.param("id").unwrap();
                    assert!(bad_id.parse::<u64>().is_err(), "{bad_id}");
                    assert_callback(bad, method, &[("id", bad_id), ("code", &code)]);
                }
                MalformedKind::UnknownId => {
                    let bad_id: u64 = bad.param("id").unwrap().parse().unwrap();
                    assert!(bad_id != id && bad_id != first, "{bad_id}");
                    assert!(s.mock.server.task(bad_id).is_none());
                    assert_ne!(bad.param("code"), Some(code.as_str()));
                }
                MalformedKind::StaleId => {
                    assert_eq!(bad.param("id"), Some(first.to_string().as_str()));
                    let stale_code = bad.param("code").unwrap();
                    assert_ne!(stale_code, s.mock.code_of(first));
                    assert_ne!(stale_code, code);
                }
                MalformedKind::OversizedCode => {
                    let big = bad.param("code").unwrap();
                    assert!(big.bytes().all(|b| b == b'A'));
                    if method == "POST" {
                        assert_eq!(big.len(), 100_000);
                    } else {
                        // As long as a URL may be: just under 64 KiB.
                        let url_len = s.url.len() + bad.query.len() - "token=abc".len();
                        assert!(big.len() > 60_000 && url_len < 65_535, "{}", big.len());
                        assert!(j[0].url.len() <= 2048 + 3, "journal URLs are bounded");
                    }
                    assert_eq!(bad.param("id"), Some(sid.as_str()));
                    assert_eq!(bad.method, method);
                }
                MalformedKind::WrongMethod => {
                    let other = if method == "GET" { "POST" } else { "GET" };
                    assert_callback(bad, other, &[("id", &sid), ("code", &code)]);
                }
            }
            genuine(&hits[2], dialect, id, &code);
            assert_eq!(s.mock.ms(bad.received), 15_000);
            assert_eq!(s.mock.ms(hits[2].received), 15_000);

            let kinds: Vec<_> = j.iter().map(|r| (r.delivery, r.kind)).collect();
            assert_eq!(
                kinds,
                vec![
                    (0, DeliveryKind::Malformed(kind)),
                    (1, DeliveryKind::Genuine)
                ]
            );
            assert!(j[0].last_attempt, "malformed callbacks are never retried");
            assert_eq!(j[0].code_len, bad.param("code").map_or(0, str::len));
            assert_eq!(&*j[0].fault, format!("malformed {}", kind.name()));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stale_id_is_one_already_delivered_never_one_still_pending() {
    let rule = FaultRule::always(Fault::Malformed(MalformedKind::StaleId));
    let s = setup(Dialect::Captchaai, vec![rule]).await;
    // Three tasks finish together at 5 s: none is delivered when their stale
    // callbacks go, so they carry the never-issued id below the first.
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(s.mock.submit(&s.url).await);
    }
    until_ms(&s.mock, 10_000).await;
    let late = s.mock.submit(&s.url).await;
    until_ms(&s.mock, 60_000).await;
    let journal = s.mock.journal_all();
    let stale: Vec<(u64, String)> = journal
        .iter()
        .filter(|r| r.kind.is_malformed())
        .map(|r| (r.task_id, r.id.clone().unwrap()))
        .collect();
    let below_first = (ids[0] - 1).to_string();
    assert_eq!(stale.len(), 4);
    for (task, id) in &stale[..3] {
        assert_eq!(id, &below_first, "task {task}");
    }
    // The late one reuses a task delivered at 5 s.
    assert_eq!(stale[3].0, late);
    let reused: u64 = stale[3].1.parse().unwrap();
    assert!(ids.contains(&reused), "{reused}");
    let hit =
        s.rx.callbacks()
            .into_iter()
            .find(|h| h.param("id") == Some(stale[3].1.as_str()) && s.mock.ms(h.received) == 15_000)
            .unwrap();
    assert_ne!(hit.param("code"), Some(s.mock.code_of(reused).as_str()));
}
