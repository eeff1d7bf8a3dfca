//! Workloads: a rate-limited fan-out of 200 tasks, the router, a whole run replayed under the
//! paused clock, every method's answer through the pingback path, busy threads.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use captchaai_client::fanout::{FanOutConfig, Rate, fan_out_collect};
use captchaai_client::receiver::{ResultSource, StoreEvent};
use captchaai_client::router::{Dispatch, ResultRouter};
use captchaai_client::task::{FriendlyCaptcha, Geetest, Lemin, RecaptchaV3};
use captchaai_client::{Task, TaskId};
use captchaai_mock::{
    AttemptOutcome, BusyMode, DeliveryKind, Distribution, Fault, FaultRule, RuleMatch,
};
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use super::env::{SOLVE, Setup, account, assert_matches_truth, secs, source, turnstile};

use super::{duplicate, ordinals, turnstiles};

fn mixed_task(i: usize) -> Task {
    let page = "https://example.com/login";
    match i % 5 {
        0 => turnstile(),
        1 => RecaptchaV3::new("6LcR_okUAAAAAPYrPe-HK_0RULO1aZM15ENyM-Mf", page, "login").into(),
        2 => FriendlyCaptcha::new("FCMST5VUMCBOCGQ9", page).into(),
        3 => Geetest::new(
            "81388ea1fc187e0c335c0a8907ff2625",
            "12345678abc90123d45678ef90123a456b",
            page,
        )
        .into(),
        _ => Lemin::new(
            "CROPPED_3dfdd5c_d1872b526b794d83ba3b365eb15a200b",
            "lemin-cropped-captcha",
            page,
        )
        .into(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_fan_out_of_200_tasks_is_rate_limited_and_delivered_exactly_once() {
    let rules = vec![
        FaultRule::always(duplicate(2, secs(1), false)).with_probability(0.2),
        FaultRule::always(duplicate(1, secs(3), true)).with_probability(0.1),
        FaultRule::always(Fault::Drop).with_probability(0.15),
        FaultRule::always(Fault::Delay(Distribution::Uniform {
            min: Duration::ZERO,
            max: secs(60),
        }))
        .with_probability(0.2),
        FaultRule::always(Fault::Early).with_probability(0.05),
    ];
    let env = Setup::new(rules)
        .config(|c| {
            // Real-looking solve times (seeded log-normal per kind), and threads for all.
            c.solving.default_time = None;
            c.accounts = vec![account(1000)];
        })
        .quiet_period(secs(30))
        .start()
        .await;
    let interval = Duration::from_millis(100);
    let config = FanOutConfig::new(secs(1800)).rate(Rate::per_second(NonZeroU32::new(10).unwrap()));
    let tasks = (0..200).map(|i| (i, mixed_task(i)));
    let out = fan_out_collect(&env.solver, tasks, config).await;
    env.settle().await;

    let mut refs: Vec<usize> = out.iter().map(|(i, _)| *i).collect();
    refs.sort_unstable();
    assert_eq!(
        refs,
        (0..200).collect::<Vec<_>>(),
        "every task streamed once"
    );
    let results: Vec<_> = out
        .into_iter()
        .map(|(i, r)| {
            let solution = r.unwrap_or_else(|e| panic!("task #{i}: {e}"));
            (solution.task_id(), Ok(solution))
        })
        .collect();
    env.assert_exactly_once_with_truth(&results);

    // The submit rate held: at least 100 ms between consecutive in.php requests.
    let submits: Vec<u64> = env
        .mock
        .journal()
        .endpoint("in.php")
        .into_iter()
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(submits.len(), 200);
    for pair in submits.windows(2) {
        assert!(
            pair[1] - pair[0] >= interval.as_millis() as u64,
            "submits {pair:?} closer than the rate allows"
        );
    }

    // The faults really happened.
    let journal = env.all_deliveries();
    let count = |k: DeliveryKind| journal.iter().filter(|r| r.kind == k).count();
    let dropped = journal
        .iter()
        .filter(|r| r.outcome == AttemptOutcome::Dropped)
        .count();
    assert!(count(DeliveryKind::Duplicate) > 0);
    assert!(count(DeliveryKind::Conflicting) > 0);
    assert!(dropped > 0);
    let stats = env.store.stats();
    assert_eq!(stats.stored, 200);
    assert_eq!(stats.conflicts as usize, count(DeliveryKind::Conflicting));
    let by_poll = results
        .iter()
        .filter(|(id, _)| source(&env, *id) == ResultSource::Poll)
        .count();
    assert!(by_poll >= dropped, "every dropped pingback was polled");
}

#[tokio::test(start_paused = true)]
async fn the_router_dispatches_each_result_once_to_its_route() {
    let rules = vec![
        FaultRule::always(Fault::Early).matching(ordinals(1, 5)),
        FaultRule::always(duplicate(2, secs(1), true)).matching(ordinals(6, 10)),
        FaultRule::always(Fault::Drop).matching(ordinals(11, 15)),
    ];
    let env = Setup::new(rules).quiet_period(secs(20)).start().await;
    let seen: Arc<Mutex<Vec<Dispatch>>> = Arc::default();
    let (signup, login, fallback) = (Arc::clone(&seen), Arc::clone(&seen), Arc::clone(&seen));
    let router = ResultRouter::builder()
        .route("signup", move |d| signup.lock().unwrap().push(d))
        .route("login", move |d| login.lock().unwrap().push(d))
        .default_handler(move |d| fallback.lock().unwrap().push(d))
        .unassigned_grace(secs(60))
        .build(&env.store);
    let stop = CancellationToken::new();
    tokio::spawn({
        let router = router.clone();
        let stop = stop.clone();
        async move { router.run(stop).await }
    });

    let tasks = turnstiles(20);
    let assigned: Arc<Mutex<HashMap<TaskId, &'static str>>> = Arc::default();
    let results = join_all(tasks.iter().enumerate().map(|(i, task)| {
        let (router, assigned, env) = (router.clone(), Arc::clone(&assigned), &env);
        async move {
            let id = env.solver.submit(task).await.unwrap();
            let route = if i % 2 == 0 { "signup" } else { "login" };
            assigned.lock().unwrap().insert(id, route);
            router.assign(id, route).await.unwrap();
            (id, env.solver.wait_for(task, id).await)
        }
    }))
    .await;
    env.settle().await;
    stop.cancel();

    env.assert_exactly_once_with_truth(&results);
    let seen = seen.lock().unwrap();
    let assigned = assigned.lock().unwrap();
    assert_eq!(seen.len(), 20, "{seen:?}");
    let mut per_task: BTreeMap<TaskId, usize> = BTreeMap::new();
    for d in seen.iter() {
        let id = d.result.task_id();
        *per_task.entry(id).or_default() += 1;
        assert_eq!(d.route.as_deref(), Some(assigned[&id]), "task {id}");
        assert_eq!(d.result.code(), env.truth(id).code(), "task {id}");
    }
    assert!(per_task.values().all(|n| *n == 1), "{per_task:?}");
    let stats = router.stats();
    assert_eq!((stats.dispatched, stats.unhandled), (20, 0));

    // The early results were held until their task was assigned.
    let early: Vec<TaskId> = results
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| {
            env.deliveries(*id)
                .first()
                .is_some_and(|r| &*r.fault == "early")
        })
        .collect();
    assert_eq!(early.len(), 5);
    for id in early {
        let events = env.events_of(id);
        assert!(
            matches!(events.first(), Some(StoreEvent::Stored(_))),
            "{events:?}"
        );
    }
    assert_eq!(env.store.stats().conflicts, 5);
}

#[tokio::test(start_paused = true)]
async fn the_whole_run_is_deterministic_under_the_paused_clock() {
    async fn run() -> Vec<(u64, String, u64)> {
        let rules = vec![
            FaultRule::always(Fault::Drop).with_probability(0.3),
            FaultRule::always(Fault::Delay(Distribution::Uniform {
                min: Duration::ZERO,
                max: secs(40),
            })),
        ];
        let env = Setup::new(rules).quiet_period(secs(20)).start().await;
        let results = env.solve_all(&turnstiles(8)).await;
        env.settle().await;
        env.assert_exactly_once_with_truth(&results);
        env.all_deliveries()
            .iter()
            .map(|r| (r.task_id, format!("{:?}", r.outcome), r.sent_at_ms))
            .collect()
    }
    let first = run().await;
    assert_eq!(first, run().await);
    // Sanity: the solve time is what the config says.
    assert!(
        first
            .iter()
            .all(|(_, _, at)| *at >= SOLVE.as_millis() as u64)
    );
}

#[tokio::test(start_paused = true)]
async fn mixed_methods_answers_survive_the_pingback_path() {
    // Object (GeeTest, Lemin) and token answers, by pingback and by poll (every other task's
    // pingback dropped): the application gets the same raw answer either way.
    let env = Setup::new(vec![FaultRule::always(Fault::Drop).matching(RuleMatch {
        tasks: None,
        methods: vec![captchaai_mock::TaskKind::Geetest],
        url: None,
    })])
    .quiet_period(secs(30))
    .start()
    .await;
    let tasks: Vec<Task> = (0..10).map(mixed_task).collect();
    let results = env.solve_all(&tasks).await;
    env.settle().await;
    env.assert_exactly_once_with_truth(&results);
    for ((id, result), task) in results.iter().zip(&tasks) {
        let solution = result.as_ref().unwrap();
        assert_eq!(solution.kind(), Some(task.kind()));
        assert_matches_truth(*id, result, &env.truth(*id));
        let expected = if task.kind() == captchaai_client::task::TaskKind::Geetest {
            ResultSource::Poll
        } else {
            ResultSource::Pingback
        };
        assert_eq!(source(&env, *id), expected, "{:?}", task.kind());
        if matches!(
            task.kind(),
            captchaai_client::task::TaskKind::Geetest | captchaai_client::task::TaskKind::Lemin
        ) {
            assert!(solution.object().is_some(), "{:?}", solution.answer());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn busy_threads_are_waited_out_and_never_oversubscribed() {
    for mode in [BusyMode::ZeroBalance, BusyMode::NoSlot, BusyMode::Queue] {
        let env = Setup::new(Vec::new())
            .config(|c| {
                c.accounts = vec![account(2)];
                c.busy_threads = mode;
            })
            .quiet_period(secs(20))
            .start()
            .await;
        let out = fan_out_collect(
            &env.solver,
            turnstiles(8).into_iter().enumerate(),
            FanOutConfig::new(secs(600)),
        )
        .await;
        env.settle().await;

        let results: Vec<_> = out
            .into_iter()
            .map(|(i, r)| {
                let solution = r.unwrap_or_else(|e| panic!("{mode:?} task #{i}: {e}"));
                (solution.task_id(), Ok(solution))
            })
            .collect();
        assert_eq!(results.len(), 8);
        env.assert_exactly_once_with_truth(&results);

        // Never more than two tasks on the account's threads at once.
        let spans: Vec<(u64, u64)> = results
            .iter()
            .map(|(id, _)| {
                let t = env.mock.task(id.get()).unwrap();
                (t.started_at_ms.unwrap(), t.finish_at_ms.unwrap())
            })
            .collect();
        for (start, _) in &spans {
            let running = spans
                .iter()
                .filter(|(s, f)| s <= start && start < f)
                .count();
            assert!(
                running <= 2,
                "{mode:?}: {running} tasks at {start} ms: {spans:?}"
            );
        }
        let rejections = env.mock.counters().busy_rejections;
        let threadsinfo = env
            .mock
            .journal()
            .endpoint("res.php")
            .action("threadsinfo")
            .count();
        match mode {
            BusyMode::Queue => {
                assert_eq!(rejections, 0);
                assert!(
                    spans.iter().any(|(s, _)| *s > 0),
                    "some tasks waited in the queue"
                );
            }
            // ERROR_ZERO_BALANCE is ambiguous: the client asks threadsinfo before waiting.
            BusyMode::ZeroBalance => assert!(rejections > 0 && threadsinfo > 0),
            BusyMode::NoSlot => assert!(rejections > 0 && threadsinfo == 0),
        }
    }
}
