//! Several replicas of one pingback endpoint (`--receiver` given once per replica): the
//! harness is the load balancer in front of them, and a hostile one.
//!
//! [`Spread`] decides where each request goes. Every task id gets a home replica, round
//! robin in the order ids are first seen: its genuine callback goes there; its registration
//! goes to the next replica; every later callback naming it (a duplicate, a conflicting copy,
//! a stale callback, a retry, the genuine one after a malformed one) to the replica after
//! the previous one; the results URL is read, and the application's long poll opened, on the
//! replica before its home. So with two or more replicas nothing about one id is ever asked
//! of the replica that stored it first, unless the replicas share their state.
//!
//! [`Relay`] is what the mock sends its callbacks to: a loopback HTTP server that forwards
//! each request (method, query, headers, body) to the replica [`Spread`] picks and answers
//! with the replica's status and body. It sends from the address the callback came from, so
//! an allow-list on the replicas sees the mock's (or the forger's) source address. It records
//! each answer in the timeline (`received ... (replica N)`), and [`Spread`] keeps when each
//! id was first acknowledged on each replica, so a long poll can be judged against it.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, Request, State},
    http::{HeaderName, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::timeline::{Event, HandledBy, Recorder, Source, short};

/// Where each request about a task id goes, over `replicas` replicas.
#[derive(Debug)]
pub(super) struct Spread {
    replicas: usize,
    ids: Mutex<Ids>,
}

#[derive(Debug, Default)]
struct Ids {
    /// The next home replica, and where the next callback without an id goes.
    next: usize,
    /// Per id: its home replica and how many callbacks named it so far.
    seen: HashMap<String, (usize, usize)>,
    /// Per id: each replica that acknowledged a callback naming it (2xx), and when it
    /// first did.
    acked: HashMap<String, Vec<(usize, Instant)>>,
}

impl Ids {
    fn entry(&mut self, replicas: usize, id: &str) -> &mut (usize, usize) {
        if !self.seen.contains_key(id) {
            let home = self.next % replicas;
            self.next = self.next.wrapping_add(1);
            self.seen.insert(id.to_owned(), (home, 0));
        }
        self.seen.entry(id.to_owned()).or_default()
    }
}

impl Spread {
    pub(super) fn new(replicas: usize) -> Self {
        Spread {
            replicas: replicas.max(1),
            ids: Mutex::new(Ids::default()),
        }
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The replica a registration of `id` goes to: the one after its home.
    pub(super) fn register(&self, id: &str) -> usize {
        let n = self.replicas;
        (self.ids().entry(n, id).0 + 1) % n
    }

    /// The replica the next callback goes to: its id's home for the first one naming it,
    /// the next replica for each later one; round robin for a callback without an id.
    pub(super) fn deliver(&self, id: Option<&str>) -> usize {
        let n = self.replicas;
        let mut ids = self.ids();
        let Some(id) = id else {
            let r = ids.next % n;
            ids.next = ids.next.wrapping_add(1);
            return r;
        };
        let (home, count) = ids.entry(n, id);
        let r = (*home + *count) % n;
        *count += 1;
        r
    }

    /// The replica what was stored for `id` is read from, and the application's long poll
    /// for it opened on: the one before its home.
    pub(super) fn read(&self, id: &str) -> usize {
        let n = self.replicas;
        (self.ids().entry(n, id).0 + n - 1) % n
    }

    /// A replica answered a callback naming `id` with a 2xx.
    fn acknowledged(&self, id: &str, replica: usize) {
        let mut ids = self.ids();
        let acks = ids.acked.entry(id.to_owned()).or_default();
        if !acks.iter().any(|(r, _)| *r == replica) {
            acks.push((replica, Instant::now()));
        }
    }

    /// When a callback naming `id` was first acknowledged on another replica than `not`.
    pub(super) fn acknowledged_elsewhere(&self, id: &str, not: usize) -> Option<Instant> {
        self.ids()
            .acked
            .get(id)?
            .iter()
            .filter(|(r, _)| *r != not)
            .map(|(_, at)| *at)
            .min()
    }
}

/// The largest callback body the relay forwards (an oversized code is 100 000 characters).
const BODY_LIMIT: usize = 1 << 20;

/// How long a replica may take to answer one forwarded callback (the mock's own attempt
/// timeout ends the attempt earlier).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// The front the mock sends callbacks to; stops serving when dropped.
#[derive(Debug)]
pub(super) struct Relay {
    /// The URL to give the mock (and the forgers) as the callback URL: the relay's address
    /// with the replicas' query (their shared secret, if any).
    pub(super) url: String,
    serving: tokio::task::AbortHandle,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

struct Forwarder {
    replicas: Vec<reqwest::Url>,
    spread: Arc<Spread>,
    recorder: Recorder,
    /// One HTTP client per source address callbacks came from.
    clients: Mutex<HashMap<IpAddr, reqwest::Client>>,
}

impl Relay {
    /// Serves on a free loopback port, forwarding to `replicas` (their callback URLs).
    pub(super) async fn start(
        replicas: &[String],
        spread: Arc<Spread>,
        recorder: Recorder,
    ) -> Result<Self, String> {
        let urls = replicas
            .iter()
            .map(|u| reqwest::Url::parse(u).map_err(|e| format!("{u}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| format!("cannot serve the replicas' relay: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot serve the replicas' relay: {e}"))?;
        let query = urls[0].query().map(|q| format!("?{q}")).unwrap_or_default();
        let forwarder = Arc::new(Forwarder {
            replicas: urls,
            spread,
            recorder,
            clients: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(forward).with_state(forwarder);
        let serving = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        })
        .abort_handle();
        Ok(Relay {
            url: format!("http://{addr}/pingback{query}"),
            serving,
        })
    }
}

impl Forwarder {
    fn client(&self, from: IpAddr) -> Result<reqwest::Client, String> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&from) {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .no_proxy()
            .local_address(from)
            .timeout(FORWARD_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build an HTTP client sending from {from}: {e}"))?;
        clients.insert(from, c.clone());
        Ok(c)
    }
}

/// The task id a callback names: `id` in its query, else in its form body.
fn callback_id(query: Option<&str>, body: &[u8]) -> Option<String> {
    callback_param(query, body, "id")
}

/// A parameter of a callback: in its query, else in its form body.
fn callback_param(query: Option<&str>, body: &[u8], name: &str) -> Option<String> {
    let find = |bytes: &[u8]| {
        form_urlencoded::parse(bytes)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    query
        .and_then(|q| find(q.as_bytes()))
        .or_else(|| find(body))
}

/// Headers that belong to one connection, not to the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::HOST,
        header::CONNECTION,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::TE,
        header::UPGRADE,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

async fn forward(
    State(f): State<Arc<Forwarder>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            let why = format!("the replicas' relay could not read the callback: {e}");
            return (StatusCode::PAYLOAD_TOO_LARGE, why).into_response();
        }
    };
    let query = parts.uri.query();
    let id = callback_id(query, &body);
    let target = f.spread.deliver(id.as_deref());
    let mut url = f.replicas[target].clone();
    url.set_query(query);
    let http = match f.client(peer.ip()) {
        Ok(c) => c,
        Err(why) => return (StatusCode::BAD_GATEWAY, why).into_response(),
    };
    // What the timeline shows of it; forged callbacks are the injector's to record.
    let seen = (!parts.headers.contains_key("x-conformance-injected")).then(|| {
        let code = callback_param(query, &body, "code");
        (parts.method.to_string(), code.map(|c| short(&c)))
    });
    let mut request = http.request(parts.method, url.clone()).body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status();
            let bytes = r.bytes().await.unwrap_or_default();
            if let Some((method, code)) = seen {
                if let Some(id) = id.as_deref().filter(|_| status.is_success()) {
                    f.spread.acknowledged(id, target);
                }
                f.recorder.record(
                    Source::Receiver,
                    Event::Received {
                        method,
                        id,
                        code,
                        status: status.as_u16(),
                        handled_by: HandledBy::Subject,
                        replica: Some(target + 1),
                    },
                );
            }
            (status, bytes).into_response()
        }
        Err(e) => {
            let why = format!("replica {} ({url}) did not answer: {e}", target + 1);
            (StatusCode::BAD_GATEWAY, why).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_about_an_id_is_asked_of_its_home_but_its_first_callback() {
        let s = Spread::new(3);
        for id in ["11", "12", "13", "14"] {
            let register = s.register(id);
            let first = s.deliver(Some(id));
            let second = s.deliver(Some(id));
            let read = s.read(id);
            assert_ne!(register, first, "{id}: registered where it is delivered");
            assert_ne!(
                second, first,
                "{id}: a duplicate on the genuine one's replica"
            );
            assert_ne!(read, first, "{id}: read where it was delivered");
            assert_ne!(read, second, "{id}: read where the duplicate went");
        }
        // Homes go round: four ids over three replicas use every one.
        let homes: std::collections::BTreeSet<usize> = ["21", "22", "23"]
            .iter()
            .map(|id| s.deliver(Some(id)))
            .collect();
        assert_eq!(homes.len(), 3);
    }

    #[test]
    fn a_waiter_learns_of_acknowledgements_on_other_replicas_only() {
        let s = Spread::new(3);
        let waiter = s.read("31");
        assert_eq!(s.acknowledged_elsewhere("31", waiter), None);
        s.acknowledged("31", waiter);
        assert_eq!(
            s.acknowledged_elsewhere("31", waiter),
            None,
            "its own replica's acknowledgement does not count"
        );
        let home = s.deliver(Some("31"));
        s.acknowledged("31", home);
        let first = s.acknowledged_elsewhere("31", waiter);
        assert!(first.is_some());
        // A later acknowledgement on yet another replica keeps the first time.
        s.acknowledged("31", (home + 1) % 3);
        assert_eq!(s.acknowledged_elsewhere("31", waiter), first);
        assert_eq!(s.acknowledged_elsewhere("32", waiter), None);
    }

    #[test]
    fn one_replica_gets_everything() {
        let s = Spread::new(1);
        assert_eq!(
            (
                s.register("1"),
                s.deliver(Some("1")),
                s.deliver(None),
                s.read("1")
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn the_id_comes_from_the_query_or_the_form_body() {
        assert_eq!(callback_id(Some("t=s&id=7&code=x"), b""), Some("7".into()));
        assert_eq!(callback_id(Some("t=s"), b"id=8&code=x"), Some("8".into()));
        assert_eq!(callback_id(None, b"code=x"), None);
    }
}
