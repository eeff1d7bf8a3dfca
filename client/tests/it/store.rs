//! The result store: bounds (TTL, capacity), streams, and a property test over arbitrary
//! interleavings of callbacks (through the real router, without a socket) and polled
//! results.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use captchaai_client::receiver::{
    Receiver, ReceiverConfig, Recorded, ResultSource, ResultStore, StoreConfig,
};
use futures::{FutureExt as _, StreamExt as _};
use proptest::prelude::*;
use tower::ServiceExt as _;

use crate::support::{evictions, form_encode, id};

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_ttl_since_their_last_change() {
    let store = ResultStore::with_config(StoreConfig {
        ttl: Duration::from_secs(60),
        ..StoreConfig::default()
    });
    let mut events = store.events();
    store.register(id(1));
    store.register(id(2));
    tokio::time::advance(Duration::from_secs(40)).await;
    store.record(id(2), "r", ResultSource::Pingback).unwrap();
    tokio::time::advance(Duration::from_secs(20)).await;
    // id 1 registered 60 s ago: gone; id 2 changed 20 s ago: kept.
    assert!(!store.is_registered(id(1)));
    assert_eq!(store.len(), 1);
    assert_eq!(store.get(id(2)).unwrap().code(), "r");
    tokio::time::advance(Duration::from_secs(40)).await;
    assert!(store.get(id(2)).is_none());
    assert!(store.is_empty());
    assert_eq!(store.stats().evicted, 2);
    assert_eq!(evictions(&mut events), [(id(1), false), (id(2), true)]);
}

#[tokio::test(start_paused = true)]
async fn a_waited_on_pending_entry_outlives_the_ttl() {
    // A long retry schedule (Svix: 5 s, 5 min, 30 min, 2 h, ...) can deliver a
    // result long after the ttl; the application is still waiting for it.
    let store = ResultStore::with_config(StoreConfig {
        ttl: Duration::from_secs(60),
        ..StoreConfig::default()
    });
    store.register(id(1));
    store.register(id(2)); // nobody waits on this one
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.wait(id(1), Duration::from_secs(3600)).await })
    };
    tokio::time::advance(Duration::from_secs(30 * 60)).await;
    assert!(store.is_registered(id(1)), "kept while awaited");
    assert!(
        !store.is_registered(id(2)),
        "the ttl still applies to the rest"
    );
    store.record(id(1), "late", ResultSource::Pingback).unwrap();
    assert_eq!(waiter.await.unwrap().unwrap().code(), "late");
    // Once it has its result, the entry expires normally.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(store.get(id(1)).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_unexpected_results_never_evicts_an_awaited_task() {
    // Without a secret, anyone who can reach the endpoint can post results for made-up ids;
    // they must not push out the task the application is waiting for.
    let store = ResultStore::with_config(StoreConfig {
        capacity: 3,
        ..StoreConfig::default()
    });
    let waiting = {
        let store = store.clone();
        tokio::spawn(async move { store.wait(id(1), Duration::from_secs(3600)).await })
    };
    tokio::task::yield_now().await;
    for n in 100..200 {
        tokio::time::advance(Duration::from_secs(1)).await;
        store
            .record(id(n), format!("forged{n}"), ResultSource::Pingback)
            .unwrap();
        assert!(store.len() <= 3, "capacity holds: {}", store.len());
    }
    assert!(store.is_registered(id(1)), "the awaited task stays");
    assert_eq!(store.get(id(199)).unwrap().code(), "forged199");
    assert!(
        store.get(id(100)).is_none(),
        "the oldest forged result went"
    );
    store
        .record(id(1), "genuine", ResultSource::Pingback)
        .unwrap();
    assert_eq!(waiting.await.unwrap().unwrap().code(), "genuine");
}

#[tokio::test(start_paused = true)]
async fn capacity_evicts_unregistered_results_before_registered_ids() {
    let store = ResultStore::with_config(StoreConfig {
        capacity: 3,
        ..StoreConfig::default()
    });
    let mut events = store.events();
    store.register(id(1));
    store.register(id(2));
    store
        .record(id(3), "early", ResultSource::Pingback)
        .unwrap();
    // Full. A fourth entry evicts the result nobody registered (3), not the older ids.
    store
        .record(id(4), "another", ResultSource::Pingback)
        .unwrap();
    store.register(id(5));
    assert!(store.is_registered(id(1)) && store.is_registered(id(2)));
    assert!(store.get(id(3)).is_none() && store.get(id(4)).is_none());
    // No unregistered result left: the oldest entry nobody waits on goes.
    store.register(id(6));
    assert!(!store.is_registered(id(1)));
    assert_eq!(store.len(), 3);
    assert_eq!(
        evictions(&mut events),
        [(id(3), true), (id(4), true), (id(1), false)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_store_full_of_waiters_grows_only_by_them() {
    let store = ResultStore::with_config(StoreConfig {
        capacity: 2,
        ..StoreConfig::default()
    });
    let waiters: Vec<_> = (1..=4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.wait(id(n), Duration::from_secs(60)).await })
        })
        .collect();
    tokio::task::yield_now().await;
    assert_eq!(store.len(), 4, "awaited entries are never evicted");
    // Unexpected results still come and go, one at a time.
    for n in 10..20 {
        store.record(id(n), "x", ResultSource::Pingback).unwrap();
        assert_eq!(store.len(), 5);
    }
    for (n, waiter) in (1..=4).zip(waiters) {
        store
            .record(id(n), format!("r{n}"), ResultSource::Poll)
            .unwrap();
        assert_eq!(waiter.await.unwrap().unwrap().code(), format!("r{n}"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_sized_for_any_run_costs_only_what_it_holds() {
    // The harness sizes the store from the scenario; the largest limits must neither
    // allocate up front nor overflow the clock.
    let store = ResultStore::with_config(StoreConfig {
        ttl: Duration::MAX,
        capacity: usize::MAX,
        ..StoreConfig::default()
    });
    store.register(id(1));
    store.record(id(2), "r", ResultSource::Pingback).unwrap();
    tokio::time::advance(Duration::from_secs(365 * 24 * 3600)).await;
    assert!(store.is_registered(id(1)));
    assert_eq!(store.get(id(2)).unwrap().code(), "r");
    assert_eq!(store.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn wait_times_out_on_time() {
    let store = ResultStore::new();
    let start = tokio::time::Instant::now();
    let err = store
        .wait(id(5), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert!(store.is_registered(id(5)), "wait registers the id");
}

#[tokio::test(start_paused = true)]
async fn subscribe_yields_each_first_result_once() {
    let store = ResultStore::new();
    let mut results = store.subscribe();
    store.record(id(1), "a", ResultSource::Pingback).unwrap();
    store.record(id(1), "a", ResultSource::Poll).unwrap();
    store.record(id(1), "b", ResultSource::Pingback).unwrap();
    store.record(id(2), "c", ResultSource::Manual).unwrap();
    let first = results.next().await.unwrap();
    assert_eq!((first.task_id(), first.code()), (id(1), "a"));
    let second = results.next().await.unwrap();
    assert_eq!((second.task_id(), second.code()), (id(2), "c"));
    assert!(results.next().now_or_never().is_none(), "nothing else");
    assert!(
        store
            .record(id(3), "", ResultSource::Manual)
            .unwrap_err()
            .is_bad_input()
    );
    assert!(store.get(id(3)).is_none());
}

// ---------------------------------------------------------------- property test

const SECRET: &str = "s";
const IDS: u64 = 4;
const CODES: [&str; 4] = ["tokA", "tokB", "tok+C", "ERROR_CAPTCHA_UNSOLVABLE"];

#[derive(Debug, Clone)]
enum Op {
    Register(u64),
    Callback { id: u64, code: usize, post: bool },
    Malformed { id: u64, kind: u8 },
    WrongSecret { id: u64, code: usize },
    Polled { id: u64, code: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..IDS).prop_map(Op::Register),
        (0..IDS, 0..CODES.len(), any::<bool>()).prop_map(|(id, code, post)| Op::Callback {
            id,
            code,
            post
        }),
        (0..IDS, 0u8..8).prop_map(|(id, kind)| Op::Malformed { id, kind }),
        (0..IDS, 0..CODES.len()).prop_map(|(id, code)| Op::WrongSecret { id, code }),
        (0..IDS, 0..CODES.len()).prop_map(|(id, code)| Op::Polled { id, code }),
    ]
}

/// The request an op sends, if it is a callback.
fn request(op: &Op) -> Option<Request<Body>> {
    let get = |query: String| {
        Request::builder()
            .uri(format!("/pingback?{query}"))
            .body(Body::empty())
            .unwrap()
    };
    let post = |query: String, content_type: &str, body: String| {
        Request::builder()
            .method("POST")
            .uri(format!("/pingback?{query}"))
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let form = "application/x-www-form-urlencoded";
    Some(match op {
        Op::Register(_) | Op::Polled { .. } => return None,
        Op::Callback {
            id,
            code,
            post: false,
        } => get(format!(
            "token={SECRET}&id={id}&code={}",
            form_encode(CODES[*code])
        )),
        Op::Callback {
            id,
            code,
            post: true,
        } => post(
            format!("token={SECRET}"),
            form,
            format!("id={id}&code={}", form_encode(CODES[*code])),
        ),
        Op::WrongSecret { id, code } => get(format!(
            "token=x&id={id}&code={}",
            form_encode(CODES[*code])
        )),
        Op::Malformed { id, kind } => match kind {
            0 => get(format!("token={SECRET}&code=tokA")),
            1 => get(format!("token={SECRET}&id={id}x&code=tokA")),
            2 => get(format!("token={SECRET}&id={id}")),
            3 => get(format!("token={SECRET}&id={id}&code=")),
            4 => get(format!("token={SECRET}&id={id}&code={}", "z".repeat(65))),
            5 => get(format!("token={SECRET}&id={id}&id=9&code=tokA")),
            6 => post(
                format!("token={SECRET}"),
                "application/json",
                format!(r#"{{"id":{id},"code":"tokA"}}"#),
            ),
            _ => Request::builder()
                .method("DELETE")
                .uri(format!("/pingback?token={SECRET}&id={id}&code=tokA"))
                .body(Body::empty())
                .unwrap(),
        },
    })
}

#[derive(Default, Debug)]
struct Model {
    registered: BTreeSet<u64>,
    results: BTreeMap<u64, String>,
    rejected: u64,
}

/// Applies one callback through the router and updates the model with what must happen.
async fn send_callback(
    router: &axum::Router,
    op: &Op,
    registered_only: bool,
    model: &mut Model,
) -> Result<(), TestCaseError> {
    let request = request(op).expect("a callback op");
    let status = router.clone().oneshot(request).await.unwrap().status();
    match op {
        Op::Callback { id: i, code, .. } => {
            if registered_only && !model.registered.contains(i) {
                prop_assert_eq!(status, StatusCode::NOT_FOUND);
                model.rejected += 1;
            } else {
                prop_assert_eq!(status, StatusCode::OK);
                model
                    .results
                    .entry(*i)
                    .or_insert_with(|| CODES[*code].to_owned());
            }
        }
        Op::WrongSecret { .. } => {
            prop_assert_eq!(status, StatusCode::FORBIDDEN);
            model.rejected += 1;
        }
        _ => {
            prop_assert!(status.is_client_error(), "{op:?} got {status}");
            model.rejected += 1;
        }
    }
    Ok(())
}

/// Records a polled result and checks what the store says it did.
fn record_polled(
    store: &ResultStore,
    i: u64,
    code: usize,
    model: &mut Model,
) -> Result<(), TestCaseError> {
    let was_new = !model.results.contains_key(&i);
    let recorded = store
        .record(id(i), CODES[code], ResultSource::Poll)
        .unwrap();
    let expected = model
        .results
        .entry(i)
        .or_insert_with(|| CODES[code].to_owned());
    prop_assert_eq!(recorded.winner().code(), expected.as_str());
    prop_assert_eq!(matches!(recorded, Recorded::Stored(_)), was_new);
    let is_conflict = matches!(recorded, Recorded::Conflict { .. });
    prop_assert_eq!(is_conflict, !was_new && expected.as_str() != CODES[code]);
    Ok(())
}

/// The store holds exactly what the model holds.
fn assert_matches(store: &ResultStore, model: &Model, op: &Op) -> Result<(), TestCaseError> {
    for i in 0..IDS {
        let got = store.get(id(i)).map(|r| r.code().to_owned());
        prop_assert_eq!(
            got.as_ref(),
            model.results.get(&i),
            "task {} after {:?}",
            i,
            op
        );
        prop_assert_eq!(store.is_registered(id(i)), model.registered.contains(&i));
    }
    let stats = store.stats();
    prop_assert_eq!(stats.rejected, model.rejected);
    prop_assert_eq!(stats.stored as usize, model.results.len());
    let known: BTreeSet<u64> = model
        .registered
        .iter()
        .chain(model.results.keys())
        .copied()
        .collect();
    prop_assert_eq!(store.len(), known.len());
    Ok(())
}

fn run_case(registered_only: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = ResultStore::new();
        let config = ReceiverConfig::default()
            .with_secret(SECRET)
            .unwrap()
            .with_max_code_len(64)
            .unwrap()
            .registered_only(registered_only);
        let router = Receiver::new(config, store.clone()).router();
        let mut firsts = store.subscribe();
        let mut model = Model::default();

        for op in &ops {
            match op {
                Op::Register(i) => {
                    store.register(id(*i));
                    model.registered.insert(*i);
                }
                Op::Polled { id: i, code } => record_polled(&store, *i, *code, &mut model)?,
                _ => send_callback(&router, op, registered_only, &mut model).await?,
            }
            // After every step the store is exactly the model.
            assert_matches(&store, &model, op)?;
        }

        // Each task yielded exactly one result, the first valid one, and nothing else.
        let mut streamed: BTreeMap<u64, String> = BTreeMap::new();
        while let Some(Some(result)) = firsts.next().now_or_never() {
            let previous = streamed.insert(result.task_id().get(), result.code().to_owned());
            prop_assert!(
                previous.is_none(),
                "task {} streamed twice",
                result.task_id()
            );
        }
        prop_assert_eq!(&streamed, &model.results);
        for i in &model.registered {
            let waited = store.wait(id(*i), Duration::ZERO).await;
            match model.results.get(i) {
                Some(code) => {
                    let result = waited.unwrap();
                    prop_assert_eq!(result.code(), code.as_str());
                }
                None => prop_assert!(waited.unwrap_err().is_timeout()),
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn first_valid_result_wins_under_any_interleaving(
        registered_only in any::<bool>(),
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        run_case(registered_only, ops)?;
    }
}
