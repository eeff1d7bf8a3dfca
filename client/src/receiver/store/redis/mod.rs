//! The Redis backend: the state of a [`ResultStore`](super::ResultStore) shared by every
//! replica of a receiver ([`RedisConfig`] documents the key layout and what Redis needs).
//!
//! - **One step per operation.** Registering, recording (first result wins, the
//!   registered-only check, capacity eviction, ttl) and starting a wait are each one call of
//!   one Lua script (`store.lua`, sent by hash: `EVALSHA`, loaded again after a Redis
//!   restart), so two replicas racing on one task cannot both win.
//! - **Wake-ups.** Storing a result publishes it on the task's channel. A waiter subscribes
//!   first, then starts its wait (which reads the result), so a result stored in between is
//!   not missed; after the subscription connection drops, every waiter of this replica is
//!   checked again once it is back (`hub.rs`).
//! - **Failures.** Every call is bounded by [`RedisConfig::with_timeout`]; a failure is
//!   [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable), and the operation
//!   either happened whole or not at all (a script is atomic), so retrying it is safe.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`RedisConfig`], `RedisBackend` (calls, answers, errors) |
//! | `store.lua` | the operations, run by Redis |
//! | `hub.rs` | subscriptions and wake-ups of this replica's waiters |

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use tokio::time::Instant;

mod hub;

use super::backend::{Backend, Change, StartedWait, WaitGuard, Waited};
use super::event::StoreEvent;
use super::result::{Recorded, ResultSource, TaskResult};
use crate::error::Error;
use crate::task_id::TaskId;

use hub::Hub;

/// Default prefix of every key and channel name.
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "captchaai:";
/// Default bound of one call to Redis.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest ttl or wait Redis is asked to keep a key for (ten years): longer ones are
/// clamped, so that an expiry time stays exact in Lua's numbers.
const LONGEST: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

const SCRIPT: &str = include_str!("store.lua");

/// Where a Redis-backed [`ResultStore`](super::ResultStore) keeps its state.
///
/// ```
/// use std::time::Duration;
/// use captchaai_client::receiver::RedisConfig;
///
/// let redis = RedisConfig::new("redis://127.0.0.1:6379/0")?
///     .with_key_prefix("shop-a:")?
///     .with_timeout(Duration::from_secs(1));
/// assert_eq!(redis.key_prefix(), "shop-a:");
/// # Ok::<(), captchaai_client::Error>(())
/// ```
///
/// # What Redis needs
///
/// Redis 7.0 or later (the script uses `PEXPIREAT ... GT`), one instance or a primary with
/// replicas; Redis Cluster is not supported (the script touches keys of several slots).
/// Results acknowledged to the sender survive a Redis restart only if Redis persists them:
/// `appendonly yes` with `appendfsync always` loses nothing, `everysec` at most a second.
///
/// # Keys
///
/// Every key and channel starts with the prefix (default `captchaai:`), so several
/// receivers can share one Redis, each with its own prefix. With `P` the prefix:
///
/// | key | type | what | bounded by |
/// |---|---|---|---|
/// | `P t:<id>` | hash | one task: `c` code, `s` source, `r` registered, `w` waiters, `m` its member in `all` | its ttl |
/// | `P all` | sorted set | entries nobody waits on, by expiry: the eviction order | capacity |
/// | `P orphans` | sorted set | results nobody registered, by expiry: evicted first | capacity |
/// | `P waited` | sorted set | awaited entries, by their last waiter's deadline | capacity plus the waits |
/// | `P seq` | string | a counter that orders changes in the same millisecond | one number |
/// | `P counts` | hash | `duplicates` and `conflicts` seen by the script, across all replicas | two numbers |
/// | channel `P ch:<id>` | pub/sub | the first result of `<id>`, as `<source>\n<code>` | |
///
/// A task key expires `ttl` after its last change; the sorted sets drop what expired when
/// the store is full (before evicting anything) and when it is counted. An awaited entry's key lives at least until its waiter's deadline, and
/// when its last waiter leaves without a result it counts as changed then (in memory, it
/// keeps its old place in the eviction order: the one difference between the backends).
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    key_prefix: String,
    timeout: Duration,
    call_hook: Option<CallHook>,
}

/// What [`RedisConfig::with_call_hook`] takes: called as a request goes to Redis, its value
/// dropped once the call is over.
type CallHook = Arc<dyn Fn() -> Box<dyn Send> + Send + Sync>;

impl fmt::Debug for RedisConfig {
    /// A password in the URL is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redacted(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("call_hook", &self.call_hook.is_some())
            .finish()
    }
}

impl RedisConfig {
    /// Redis at `url` (`redis://[:password@]host[:port][/db]`, or `rediss://` is refused:
    /// this build has no TLS), with the default prefix and timeout.
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
        let url = url.into();
        redis::Client::open(url.as_str()).map_err(|e| {
            Error::bad_input(format!("invalid redis url {:?}", redacted(&url))).with_source(e)
        })?;
        Ok(RedisConfig {
            url,
            key_prefix: DEFAULT_REDIS_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            call_hook: None,
        })
    }

    /// The prefix of every key and channel (default `captchaai:`): non-empty, printable
    /// ASCII without spaces.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Result<Self, Error> {
        let prefix = prefix.into();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::bad_input(format!(
                "invalid redis key prefix {prefix:?}: use printable ASCII without spaces"
            )));
        }
        self.key_prefix = prefix;
        Ok(self)
    }

    /// How long one call to Redis may take, connecting included (default 2 s, at least
    /// 1 ms); a call that takes longer fails as unavailable.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Calls `hook` as each request/response call to Redis starts (a script call, a read,
    /// `PING`, a (un)subscription and its confirmation, connecting) and drops what it
    /// returned once that call is over (answered, failed or timed out); never while a waiter
    /// merely waits for a result to be published. Off by default, and then free.
    ///
    /// It exists for test harnesses that run a store on a runtime whose clock is paused
    /// (`tokio::time::pause`): such a clock jumps to the next timer whenever nothing is ready
    /// to run, and an answer from another process leaves nothing ready, so every call would
    /// time out at once. The harness's hook holds the clock while a call is out (see the
    /// conformance harness's `--reference-store`). Hidden: not part of the stable API.
    #[doc(hidden)]
    pub fn with_call_hook(
        mut self,
        hook: impl Fn() -> Box<dyn Send> + Send + Sync + 'static,
    ) -> Self {
        self.call_hook = Some(Arc::new(hook));
        self
    }

    /// The URL, with any password replaced by `***`.
    pub fn url(&self) -> String {
        redacted(&self.url)
    }

    /// The prefix of every key and channel.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The bound of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// The URL with the password of its user info replaced.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.into()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparseable url>".to_owned(),
    }
}

/// The names of the keys shared by every task.
#[derive(Debug)]
struct Keys {
    prefix: String,
    all: String,
    orphans: String,
    waited: String,
    seq: String,
    counts: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
            all: format!("{prefix}all"),
            orphans: format!("{prefix}orphans"),
            waited: format!("{prefix}waited"),
            seq: format!("{prefix}seq"),
            counts: format!("{prefix}counts"),
        }
    }

    fn task(&self, task_id: TaskId) -> String {
        format!("{}t:{task_id}", self.prefix)
    }

    fn channel(&self, task_id: TaskId) -> String {
        format!("{}ch:{task_id}", self.prefix)
    }

    /// The task of a channel name, if it is one of ours.
    fn task_of_channel(&self, channel: &str) -> Option<TaskId> {
        channel
            .strip_prefix(&self.prefix)?
            .strip_prefix("ch:")?
            .parse()
            .ok()
    }
}

/// What the connection, the script and the hub share.
struct Inner {
    connection: ConnectionManager,
    script: Script,
    keys: Keys,
    ttl_ms: u64,
    capacity: u64,
    timeout: Duration,
    call_hook: Option<CallHook>,
}

pub(super) struct RedisBackend {
    inner: Arc<Inner>,
    hub: Hub,
}

impl RedisBackend {
    /// Connects lazily: nothing is sent before the first operation. Needs a Tokio runtime.
    pub(super) fn new(config: RedisConfig, ttl: Duration, capacity: usize) -> Result<Self, Error> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            Error::bad_input(format!("invalid redis url {:?}", config.url())).with_source(e)
        })?;
        // The manager's own response timeout would cut any call longer than it; ours bounds
        // the whole call (reconnecting included) instead. No blocking command is sent on it.
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.timeout))
            .set_connection_timeout(Some(config.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| unavailable("cannot set up the redis connection", e))?;
        let inner = Arc::new(Inner {
            connection,
            script: Script::new(SCRIPT),
            keys: Keys::new(&config.key_prefix),
            ttl_ms: millis(ttl).max(1),
            capacity: u64::try_from(capacity).unwrap_or(u64::MAX),
            timeout: config.timeout,
            call_hook: config.call_hook,
        });
        let hub = Hub::new(client, Arc::clone(&inner));
        Ok(RedisBackend { inner, hub })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.min(LONGEST).as_millis()).unwrap_or(u64::MAX)
}

fn unavailable(what: &str, e: redis::RedisError) -> Error {
    Error::store_unavailable(format!("{what}: {e}")).with_source(e)
}

/// One answer of the script: `{value, code, source, evicted}`.
struct Answer {
    value: Value,
    kept: Option<(String, ResultSource)>,
    evicted: Vec<StoreEvent>,
}

impl Inner {
    /// Runs one operation of the script on `task_id`, bounded by the timeout.
    async fn call(&self, op: &str, task_id: TaskId, extra: &[&[u8]]) -> Result<Answer, Error> {
        let keys = &self.keys;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(keys.task(task_id))
            .key(&keys.all)
            .key(&keys.orphans)
            .key(&keys.waited)
            .key(&keys.seq)
            .key(&keys.counts)
            .arg(op)
            .arg(&keys.prefix)
            .arg(self.ttl_ms)
            .arg(self.capacity)
            .arg(task_id.get());
        for arg in extra {
            invocation.arg(*arg);
        }
        let mut connection = self.connection.clone();
        let value: Value = self
            .bounded(op, invocation.invoke_async(&mut connection))
            .await?;
        parse_answer(value).map_err(|why| {
            Error::store_unavailable(format!(
                "unexpected answer from the store script ({op}): {why}"
            ))
        })
    }

    /// What the call hook returned for a call starting now (dropped when it is over).
    fn call_started(&self) -> Option<Box<dyn Send>> {
        self.call_hook.as_ref().map(|hook| hook())
    }

    /// Bounds a call by the timeout and maps its failure.
    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Error> {
        let _call = self.call_started();
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(&format!("redis {what} failed"), e)),
            Err(_) => Err(Error::store_unavailable(format!(
                "redis {what} did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// The kept result of a task (one `HMGET`).
    async fn get(&self, task_id: TaskId) -> Result<Option<TaskResult>, Error> {
        let mut connection = self.connection.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.keys.task(task_id)).arg("c").arg("s");
        let (code, source): (Option<String>, Option<String>) = self
            .bounded("get", cmd.query_async(&mut connection))
            .await?;
        Ok(code.map(|code| {
            let source = source
                .as_deref()
                .and_then(parse_source)
                .unwrap_or(ResultSource::Pingback);
            TaskResult::new(task_id, code, source, None)
        }))
    }
}

fn source_name(source: ResultSource) -> &'static str {
    match source {
        ResultSource::Pingback => "pingback",
        ResultSource::Poll => "poll",
        ResultSource::Manual => "manual",
    }
}

fn parse_source(name: &str) -> Option<ResultSource> {
    match name {
        "pingback" => Some(ResultSource::Pingback),
        "poll" => Some(ResultSource::Poll),
        "manual" => Some(ResultSource::Manual),
        _ => None,
    }
}

/// A published result: `<source>\n<code>`.
fn parse_published(task_id: TaskId, payload: &[u8]) -> Option<TaskResult> {
    let text = std::str::from_utf8(payload).ok()?;
    let (source, code) = text.split_once('\n')?;
    Some(TaskResult::new(
        task_id,
        code.to_owned(),
        parse_source(source)?,
        None,
    ))
}

fn parse_answer(value: Value) -> Result<Answer, String> {
    let Value::Array(mut items) = value else {
        return Err(format!("not an array: {value:?}"));
    };
    if items.len() != 4 {
        return Err(format!("{} items instead of 4", items.len()));
    }
    let evicted = items.pop().unwrap_or(Value::Nil);
    let source = items.pop().unwrap_or(Value::Nil);
    let code = items.pop().unwrap_or(Value::Nil);
    let value = items.pop().unwrap_or(Value::Nil);
    let kept = match (text(&code), text(&source)) {
        (Some(code), Some(source)) => Some((code, parse_source(&source).ok_or("unknown source")?)),
        (None, None) => None,
        _ => return Err("a code without a source".to_owned()),
    };
    let Value::Array(evicted) = evicted else {
        return Err("evictions are not an array".to_owned());
    };
    let mut events = Vec::with_capacity(evicted.len() / 2);
    for pair in evicted.chunks(2) {
        let [id, had] = pair else {
            return Err("an odd list of evictions".to_owned());
        };
        let task_id: TaskId = text(id)
            .and_then(|id| id.parse().ok())
            .ok_or("an evicted id that is not a task id")?;
        events.push(StoreEvent::Evicted {
            task_id,
            had_result: matches!(had, Value::Int(1)),
        });
    }
    Ok(Answer {
        value,
        kept,
        evicted: events,
    })
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(value: &Value) -> Result<i64, Error> {
    match value {
        Value::Int(n) => Ok(*n),
        other => Err(Error::store_unavailable(format!(
            "unexpected answer from the store script: {other:?} instead of a number"
        ))),
    }
}

impl Backend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn register(&self, task_id: TaskId) -> BoxFuture<'_, Result<Change<bool>, Error>> {
        async move {
            let answer = self.inner.call("register", task_id, &[]).await?;
            Ok(Change::new(int(&answer.value)? == 1, answer.evicted))
        }
        .boxed()
    }

    fn is_registered(&self, task_id: TaskId) -> BoxFuture<'_, Result<bool, Error>> {
        async move {
            let mut connection = self.inner.connection.clone();
            let mut cmd = redis::cmd("HEXISTS");
            cmd.arg(self.inner.keys.task(task_id)).arg("r");
            let registered: bool = self
                .inner
                .bounded("is_registered", cmd.query_async(&mut connection))
                .await?;
            Ok(registered)
        }
        .boxed()
    }

    fn get(&self, task_id: TaskId) -> BoxFuture<'_, Result<Option<TaskResult>, Error>> {
        self.inner.get(task_id).boxed()
    }

    fn record(
        &self,
        result: TaskResult,
        registered_only: bool,
    ) -> BoxFuture<'_, Result<Change<Option<Recorded>>, Error>> {
        async move {
            let task_id = result.task_id();
            let source = source_name(result.source());
            let only = if registered_only { "1" } else { "0" };
            let answer = self
                .inner
                .call(
                    "record",
                    task_id,
                    &[result.code().as_bytes(), source.as_bytes(), only.as_bytes()],
                )
                .await?;
            let status = text(&answer.value).unwrap_or_default();
            let kept = |answer: Answer| {
                let (code, source) = answer.kept.ok_or_else(|| {
                    Error::store_unavailable("the store script kept no result".to_owned())
                })?;
                Ok::<_, Error>(TaskResult::new(task_id, code, source, None))
            };
            let evicted = answer.evicted.clone();
            let recorded = match status.as_str() {
                "stored" => Some(Recorded::Stored(result)),
                "duplicate" => Some(Recorded::Duplicate(kept(answer)?)),
                "conflict" => Some(Recorded::Conflict {
                    kept: kept(answer)?,
                    rejected: result.into_code(),
                }),
                "unregistered" => None,
                other => {
                    return Err(Error::store_unavailable(format!(
                        "unexpected answer from the store script: {other:?}"
                    )));
                }
            };
            Ok(Change::new(recorded, evicted))
        }
        .boxed()
    }

    fn start_wait(
        &self,
        task_id: TaskId,
        deadline: Instant,
    ) -> BoxFuture<'_, Result<Change<StartedWait>, Error>> {
        async move {
            // Subscribed before the script reads the result: one stored in between still
            // reaches the slot.
            let (slot, interest) = self.hub.want(task_id).await?;
            let wait_ms = millis(deadline.saturating_duration_since(Instant::now()));
            let answer = self
                .inner
                .call("wait", task_id, &[wait_ms.to_string().as_bytes()])
                .await?;
            let newly_registered = int(&answer.value)? == 1;
            let waited = match answer.kept {
                Some((code, source)) => Waited::Ready(TaskResult::new(task_id, code, source, None)),
                None => {
                    let inner = Arc::clone(&self.inner);
                    let filled = Arc::clone(&slot);
                    Waited::Pending {
                        slot,
                        guard: WaitGuard::new(move || {
                            drop(interest);
                            if !filled.is_filled() {
                                unwait(inner, task_id);
                            }
                        }),
                    }
                }
            };
            let started = StartedWait {
                newly_registered,
                waited,
            };
            Ok(Change::new(started, answer.evicted))
        }
        .boxed()
    }

    fn len(&self) -> BoxFuture<'_, Result<Change<usize>, Error>> {
        async move {
            // Any id: `len` touches no task.
            let answer = self.inner.call("len", TaskId::new(0), &[]).await?;
            let len = usize::try_from(int(&answer.value)?).unwrap_or(0);
            Ok(Change::new(len, answer.evicted))
        }
        .boxed()
    }

    fn health(&self) -> BoxFuture<'_, Result<(), Error>> {
        async move {
            let mut connection = self.inner.connection.clone();
            let pong: String = self
                .inner
                .bounded("PING", redis::cmd("PING").query_async(&mut connection))
                .await?;
            if pong != "PONG" {
                return Err(Error::store_unavailable(format!(
                    "redis answered PING with {pong:?}"
                )));
            }
            self.hub.health()
        }
        .boxed()
    }
}

/// Ends a wait that got no result, in the background (it runs when the waiting future is
/// dropped, which cannot wait). If it never reaches Redis, the entry rejoins the eviction
/// order at the waiter's deadline anyway.
fn unwait(inner: Arc<Inner>, task_id: TaskId) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        if let Err(e) = inner.call("unwait", task_id, &[]).await {
            tracing::debug!(%task_id, error = %e, "ending a wait in redis failed; it ends at its deadline");
        }
    });
}
