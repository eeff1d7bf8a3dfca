//! The library's public test API as a user's test meets it: the builder, expectations and
//! their failure messages (checked, and on drop), scoped expectations, typed inspection and
//! control, and the recording receiver of the `testing` feature.

use std::{panic::AssertUnwindSafe, time::Duration};

use captchaai_mock::{
    BusyMode, DEFAULT_KEY, Dialect, Distribution, Expectation, Fault, FaultRule, ForceError,
    MockServer, RetryPolicy, TaskState,
    testing::{PingbackRecorder, Reply},
};

const SOLVE: Duration = Duration::from_secs(5);

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

async fn mock(rules: Vec<FaultRule>) -> MockServer {
    let mut b = MockServer::builder()
        .seed(5)
        .solve_time(Distribution::Fixed(SOLVE));
    for r in rules {
        b = b.rule(r);
    }
    b.start().await.expect("the mock starts")
}

/// Submits a turnstile task (with a pingback URL when given): the answer's body.
async fn submit_raw(mock: &MockServer, pingback: Option<&str>) -> String {
    let mut q = vec![
        ("key", mock.key()),
        ("method", "turnstile".to_owned()),
        ("sitekey", "0x4AAAAAAA".to_owned()),
        ("pageurl", "https://example.com".to_owned()),
    ];
    if let Some(url) = pingback {
        q.push(("pingback", url.to_owned()));
    }
    crate::support::send(
        crate::support::http()
            .get(format!("{}/in.php", mock.uri()))
            .query(&q),
    )
    .await
    .body
}

/// Submits a turnstile task (with a pingback URL when given) and returns its id.
async fn submit(mock: &MockServer, pingback: Option<&str>) -> u64 {
    let body = submit_raw(mock, pingback).await;
    body.strip_prefix("OK|")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("submit failed: {body}"))
}

async fn poll(mock: &MockServer, id: u64) -> String {
    crate::support::res_php(
        &crate::support::http(),
        &mock.uri(),
        &mock.key(),
        &[("action", "get"), ("id", &id.to_string())],
    )
    .await
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(AssertUnwindSafe(f)).expect_err("a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn an_unmet_expectation_says_what_did_happen() {
    let rx = PingbackRecorder::start().await.unwrap();
    let mock = mock(vec![]).await;
    let hook = rx.url("/hook");
    let id = submit(&mock, Some(&hook)).await;
    mock.expect(
        Expectation::pingback_attempts()
            .for_task(id)
            .times(2)
            .named("retried"),
    );
    // The receiver has it before the mock has read the answer and journalled the attempt.
    mock.expect_scoped(Expectation::pingback_attempts().for_task(id).times(1))
        .wait_until_satisfied(Duration::from_secs(30))
        .await
        .unwrap();
    let code = mock.task(id).unwrap().outcome.code().to_owned();
    let err = mock.check().expect_err("one attempt, not two").to_string();
    let want = format!(
        "`retried`: expected 2 pingback attempts for task {id}, saw 1:\n  attempt 1 at 5s GET {hook}?id={id}&code="
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains(&code[..20]), "shows the code sent: {err}");
    assert!(err.contains(" -> delivered 200 ("), "{err}");
    // The drop at the end would panic with the same message: empty the list by meeting it.
    mock.fire_pingback(id).unwrap();
    mock.expect_scoped(Expectation::pingback_attempts().for_task(id).times(2))
        .wait_until_satisfied(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(rx.callbacks().len(), 2);
    mock.verify();
}

#[test]
fn the_server_panics_on_drop_when_an_expectation_is_unmet() {
    let rt = paused_runtime();
    let mock = rt.block_on(async {
        let mock = mock(vec![]).await;
        mock.expect(Expectation::submits().times(1).named("one submit"));
        mock.expect(Expectation::tasks_in(TaskState::Solved).times(0));
        mock
    });
    let message = panic_message(move || drop(mock));
    assert_eq!(
        message,
        "`one submit`: expected 1 request to in.php, saw none"
    );
}

#[test]
fn several_unmet_expectations_are_listed_together() {
    let rt = paused_runtime();
    let message = panic_message(|| {
        rt.block_on(async {
            let mock = mock(vec![]).await;
            let id = submit(&mock, None).await;
            mock.expect(Expectation::polls().times(1..).named("polls"));
            mock.expect(Expectation::tasks_in(TaskState::Solved).times(1));
            mock.expect(Expectation::requests().times(..=5));
            assert_eq!(mock.task(id).unwrap().state, TaskState::Pending);
            mock.verify();
        });
    });
    assert_eq!(
        message,
        "2 expectations unmet:\n- `polls`: expected at least 1 poll (res.php get), saw none\n\
         - expected 1 task solved, saw none"
    );
}

#[tokio::test(start_paused = true)]
async fn counts_follow_the_journal_and_the_tasks() {
    let mock = MockServer::builder()
        .solve_time(Distribution::Fixed(SOLVE))
        .threads(1)
        .busy_threads(BusyMode::NoSlot)
        .start()
        .await
        .unwrap();
    let id = submit(&mock, None).await;
    assert_eq!(submit_raw(&mock, None).await, "ERROR_NO_SLOT_AVAILABLE");
    assert_eq!(poll(&mock, id).await, "CAPCHA_NOT_READY");
    tokio::time::sleep(SOLVE).await;
    assert!(poll(&mock, id).await.starts_with("OK|"));

    mock.expect(Expectation::submits().times(2));
    mock.expect(Expectation::polls().for_task(id).times(2));
    mock.expect(Expectation::polls().for_task(id + 1).times(0));
    mock.expect(Expectation::requests().times(4));
    mock.expect(
        Expectation::requests()
            .endpoint("in.php")
            .action("turnstile")
            .times(2),
    );
    mock.expect(Expectation::requests().action("getbalance").times(0));
    mock.expect(Expectation::tasks_in(TaskState::Solved).times(1));
    mock.expect(Expectation::pingback_attempts().times(0));
    mock.verify();
    assert_eq!(mock.counters().busy_rejections, 1);
    assert_eq!(mock.journal().endpoint("res.php").action("get").count(), 2);
    let first = &mock.journal().list()[0];
    assert_eq!(
        first.to_string(),
        format!("at 0s GET in.php method=turnstile task {id} -> OK|{id}")
    );
}

#[tokio::test(start_paused = true)]
async fn a_scoped_expectation_waits_for_a_retry() {
    let rx = PingbackRecorder::builder()
        .fail_first(1, 503)
        .start()
        .await
        .unwrap();
    let mock = MockServer::builder()
        .solve_time(Distribution::Fixed(SOLVE))
        .retry(RetryPolicy::Fixed {
            interval: Duration::from_secs(30),
            attempts: 3,
        })
        .start()
        .await
        .unwrap();
    let id = submit(&mock, Some(&rx.url("/hook"))).await;
    let delivered = mock.expect_scoped(
        Expectation::pingback_attempts()
            .for_task(id)
            .delivered()
            .times(1),
    );
    delivered
        .wait_until_satisfied(Duration::from_secs(60))
        .await
        .expect("delivered on the retry, 30 s after the 503");
    let sent: Vec<u64> = mock
        .pingbacks()
        .for_task(id)
        .into_iter()
        .map(|a| a.sent_at_ms)
        .collect();
    assert_eq!(sent, vec![5_000, 35_000]);
    let answered: Vec<u16> = rx.callbacks_for(id).iter().map(|c| c.answered).collect();
    assert_eq!(answered, vec![503, 200]);
    assert_eq!(mock.pingbacks().for_task(id).count(), 2);

    // Unmet within the wait: the error says what happened so far.
    let never = mock.expect_scoped(Expectation::pingback_attempts().for_task(id).times(3));
    let err = never
        .wait_until_satisfied(Duration::from_secs(600))
        .await
        .expect_err("a third attempt never comes");
    assert!(err.to_string().contains("saw 2:"), "{err}");
    let message = panic_message(move || drop(never));
    assert_eq!(message, err.to_string());
}

#[tokio::test(start_paused = true)]
async fn the_builder_validates_as_a_config_file_does() {
    let bad = FaultRule::always(Fault::Drop).with_probability(1.5);
    let err = MockServer::builder().rule(bad).start().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: pingback.rules[0]: probability must be between 0 and 1, got 1.5"
    );
    let err = MockServer::builder()
        .key("too-short")
        .start()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: accounts[1].key: must be exactly 32 characters, got 9"
    );

    let other = "0123456789abcdef0123456789abcdef";
    let mock = MockServer::builder()
        .dialect(Dialect::TwoCaptcha)
        .key(other)
        .threads(3)
        .start()
        .await
        .unwrap();
    assert_eq!(mock.keys(), vec![DEFAULT_KEY.to_owned(), other.to_owned()]);
    assert!(mock.config().accounts.iter().all(|a| a.threads == 3));
    assert_eq!(mock.config().dialect.callback_method().as_str(), "POST");

    // Rules replaced at run time are checked the same way.
    let err = mock
        .set_rules(vec![FaultRule::always(Fault::Drop).with_probability(-1.0)])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "pingback.rules[0]: probability must be between 0 and 1, got -1"
    );
    assert!(mock.rules().is_empty(), "nothing replaced");
    mock.set_rules(vec![FaultRule::always(Fault::Drop).named("lost")])
        .unwrap();
    assert_eq!(mock.rules()[0].name.as_deref(), Some("lost"));
}

#[tokio::test(start_paused = true)]
async fn forcing_results_is_checked_as_the_admin_api_checks_it() {
    let mock = mock(vec![]).await;
    let a = submit(&mock, None).await;
    let b = submit(&mock, None).await;
    assert_eq!(
        mock.force_solve(a, Some("ERROR_OOPS"))
            .unwrap_err()
            .to_string(),
        "an answer must not contain ERROR (clients treat it as a failure)"
    );
    assert_eq!(
        mock.force_fail(a, Some("ERROR_NOPE")).unwrap_err(),
        ForceError::UnknownCode("ERROR_NOPE".into())
    );
    assert_eq!(
        mock.force_fail(a, Some("CAPCHA_NOT_READY")).unwrap_err(),
        ForceError::UnknownCode("CAPCHA_NOT_READY".into())
    );
    let solved = mock.force_solve(a, Some("my answer")).unwrap();
    assert_eq!(solved.state, TaskState::Solved);
    assert_eq!(poll(&mock, a).await, "OK|my answer");
    let failed = mock
        .force_fail(b, Some("ERROR_PROXY_CONNECTION_FAILED"))
        .unwrap();
    assert_eq!(failed.outcome.code(), "ERROR_PROXY_CONNECTION_FAILED");
    assert_eq!(mock.force_solve(b, None).unwrap_err(), ForceError::Finished);
    assert_eq!(mock.force_solve(1, None).unwrap_err(), ForceError::NotFound);
}

#[tokio::test(start_paused = true)]
async fn the_recorder_answers_as_told_and_says_what_it_got() {
    // A 2captcha mock: POST-form callbacks, from a registered host.
    let mock = MockServer::builder()
        .dialect(Dialect::TwoCaptcha)
        .solve_time(Distribution::Fixed(SOLVE))
        .attempt_timeout(Duration::from_secs(10))
        .start()
        .await
        .unwrap();
    let rx = PingbackRecorder::builder()
        .reply_with(|c, attempt| match (c.param("id"), attempt) {
            (Some(_), 1) => Reply::slow(Duration::from_secs(2)),
            _ => Reply::hang(),
        })
        .clock(&mock)
        .start()
        .await
        .unwrap();
    let hook = rx.url("/cb?t=1");
    let registered = crate::support::res_php(
        &crate::support::http(),
        &mock.uri(),
        DEFAULT_KEY,
        &[("action", "add_pingback"), ("addr", &hook)],
    )
    .await;
    assert_eq!(registered, "OK");
    let id = submit(&mock, Some(&hook)).await;
    let got = rx.wait_for(1, Duration::from_secs(30)).await.unwrap();
    let c = &got[0];
    assert_eq!((c.method.as_str(), c.path.as_str()), ("POST", "/cb"));
    assert_eq!(c.query, "t=1");
    assert_eq!(c.param("id"), Some(id.to_string().as_str()));
    assert_eq!(c.form.len(), 2);
    assert_eq!(
        c.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(c.at, SOLVE, "arrival on the mock's clock");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempt = &mock.pingbacks().for_task(id).list()[0];
    assert_eq!(attempt.latency(), Some(Duration::from_secs(2)));

    // Nothing more comes: the wait says what did.
    let err = rx
        .wait_for(2, Duration::from_secs(60))
        .await
        .expect_err("one callback only");
    assert_eq!((err.expected, err.got.len()), (2, 1));
}

/// The README's example is the crate docs' first example (which `cargo test --doc`
/// compiles and runs), its hidden lines left out.
#[test]
fn the_readmes_rust_example_is_the_crate_example() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme
        .find("## Use it from Rust tests")
        .expect("the README's section")..];
    let start = section.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let readme_example = &section[start..][..section[start..].find("```").expect("closed")];

    let lib = include_str!("../../src/lib.rs");
    let doc: Vec<&str> = lib
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .collect();
    let open = doc.iter().position(|l| *l == "```").expect("a doc example");
    let close = open
        + 1
        + doc[open + 1..]
            .iter()
            .position(|l| *l == "```")
            .expect("closed");
    let visible: Vec<&str> = doc[open + 1..close]
        .iter()
        .filter(|l| !l.starts_with("# ") && **l != "#")
        .copied()
        .collect();
    assert_eq!(readme_example, format!("{}\n", visible.join("\n")));
}
