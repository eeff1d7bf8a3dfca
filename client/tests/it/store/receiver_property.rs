//! A property test over the receiver in front of each backend: arbitrary interleavings of
//! callbacks (through the real router, without a socket: valid, malformed, with a wrong
//! secret, GET and POST), registrations and polled results, in registered-only mode or not.
//! After every step the store holds exactly what a model of the rules holds; at the end,
//! each task was streamed once, and a wait finds what the model kept.

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

use crate::support::{form_encode, id};

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
async fn record_polled(
    store: &ResultStore,
    i: u64,
    code: usize,
    model: &mut Model,
) -> Result<(), TestCaseError> {
    let was_new = !model.results.contains_key(&i);
    let recorded = store
        .record(id(i), CODES[code], ResultSource::Poll)
        .await
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
async fn assert_matches(store: &ResultStore, model: &Model, op: &Op) -> Result<(), TestCaseError> {
    for i in 0..IDS {
        let got = store.get(id(i)).await.unwrap().map(|r| r.code().to_owned());
        prop_assert_eq!(
            got.as_ref(),
            model.results.get(&i),
            "task {} after {:?}",
            i,
            op
        );
        prop_assert_eq!(
            store.is_registered(id(i)).await.unwrap(),
            model.registered.contains(&i)
        );
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
    prop_assert_eq!(store.len().await.unwrap(), known.len());
    Ok(())
}

/// The store a case runs against: in memory (under tokio's paused clock), or on Redis at
/// this URL (on the real clock, a fresh key prefix per case).
#[derive(Clone, Copy, Debug)]
enum On<'a> {
    Memory,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Redis(&'a str),
}

impl On<'_> {
    async fn store(self) -> ResultStore {
        match self {
            On::Memory => ResultStore::new(),
            #[cfg(feature = "redis")]
            On::Redis(url) => {
                let redis = captchaai_client::receiver::RedisConfig::new(url)
                    .unwrap()
                    .with_key_prefix(captchaai_test_redis::unique_prefix("property"))
                    .unwrap();
                ResultStore::with_redis(redis, StoreConfig::default())
                    .await
                    .unwrap()
            }
            #[cfg(not(feature = "redis"))]
            On::Redis(_) => unreachable!("built without the redis feature"),
        }
    }
}

fn run_case(on: On<'_>, registered_only: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(matches!(on, On::Memory))
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = on.store().await;
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
                    store.register(id(*i)).await.unwrap();
                    model.registered.insert(*i);
                }
                Op::Polled { id: i, code } => {
                    record_polled(&store, *i, *code, &mut model).await?;
                }
                _ => send_callback(&router, op, registered_only, &mut model).await?,
            }
            // After every step the store is exactly the model.
            assert_matches(&store, &model, op).await?;
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

fn case() -> impl Strategy<Value = (bool, Vec<Op>)> {
    (any::<bool>(), proptest::collection::vec(op(), 0..40))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn first_valid_result_wins_under_any_interleaving_in_memory(
        (registered_only, ops) in case(),
    ) {
        run_case(On::Memory, registered_only, ops)?;
    }
}

#[cfg(feature = "redis")]
#[test]
fn first_valid_result_wins_under_any_interleaving_on_redis() {
    // One Redis for every case (the macro has no fixture), a key prefix per case.
    let redis = captchaai_test_redis::TestRedis::get();
    let url = redis.url();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 100,
        // No source file to keep regressions beside: a failure prints its minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&case(), |(registered_only, ops)| {
        run_case(On::Redis(&url), registered_only, ops)
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
