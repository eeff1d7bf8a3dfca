//! The live dashboard: `GET /__admin/` is one self-contained page (HTML, CSS and JavaScript
//! embedded in the binary, nothing fetched from elsewhere), built on the admin API's own JSON
//! routes; `GET /__admin/events` is its event stream (server-sent events). Both sit behind
//! the admin guard like every admin route. `GET /` links to the page.
//!
//! # The event stream, and why a slow browser cannot stall the mock
//!
//! Nothing is queued for a browser. Each stream looks at counters of the mock (API
//! requests answered, pingback journal entries, admin resets: [`crate::telemetry::Telemetry::activity`])
//! every [`TICK`] and, when they moved, sends one `change` event with the new counts; the page
//! then fetches what is new from `/__admin/journal?since=` and `/__admin/pingbacks?since=`.
//! The stream is pulled: a browser that reads slowly is sent nothing more until it has read
//! what it was sent, so what waits for it is bounded by one event, whatever the load, and the
//! request path pays two relaxed atomic increments whether a dashboard is open or not. When
//! more happened between two events than the journals keep ([`RESYNC_AFTER`]), the event is
//! `resync` instead: the page reloads its views rather than page through entries the journals
//! may have dropped; so it is after an admin reset, when the journals number from 1 again.
//! The stream ends when the mock shuts down.

use std::{convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::State,
    http::header::{CACHE_CONTROL, CONTENT_TYPE},
    response::{
        Html, IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::get,
};
use futures::{Stream, StreamExt as _};

use crate::{state::MockState, telemetry::Activity};

/// How often a stream looks for news (real time: a browser's view, not the simulation's).
const TICK: Duration = Duration::from_millis(200);

/// More new entries than this between two events: `resync` (the page reloads its views).
const RESYNC_AFTER: u64 = 1000;

const PAGE: &str = include_str!("dashboard.html");

/// The dashboard's routes (mounted at `/__admin`).
pub(super) fn routes() -> Router<MockState> {
    Router::new()
        .route("/", get(page))
        .route("/events", get(events))
}

pub(super) async fn page() -> Response {
    ([(CACHE_CONTROL, "no-store")], Html(PAGE)).into_response()
}

/// `GET /`: where the mock's pages are.
pub(crate) async fn landing() -> Response {
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<title>captchaai-mock</title></head><body>",
            "<h1>captchaai-mock ",
            env!("CARGO_PKG_VERSION"),
            "</h1><p>The API: <code>/in.php</code>, <code>/res.php</code>, ",
            "<code>/solve.php</code>.</p>",
            "<p><a href=\"/__admin/\">The dashboard</a> (tasks, pingbacks, requests, fault rules), ",
            "<a href=\"/__admin/metrics\">metrics</a>, ",
            "<a href=\"/__admin/health\">health</a>.</p></body></html>"
        ),
    )
        .into_response()
}

/// What a stream last told its browser.
struct Seen {
    state: MockState,
    told: Activity,
    first: bool,
}

async fn events(State(s): State<MockState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stop = s.shutdown_token().clone();
    let seen = Seen {
        state: s,
        told: Activity::default(),
        first: true,
    };
    let stream = futures::stream::unfold(seen, |mut seen| async move {
        loop {
            if !seen.first {
                tokio::time::sleep(TICK).await;
            }
            let now = seen.state.dispatcher().telemetry().activity();
            let first = std::mem::take(&mut seen.first);
            if !first && now == seen.told {
                continue;
            }
            let was = seen.told;
            let behind = now.requests.saturating_sub(was.requests)
                + now.attempts.saturating_sub(was.attempts);
            let name = if first || now.resets != was.resets || behind > RESYNC_AFTER {
                "resync"
            } else {
                "change"
            };
            seen.told = now;
            let data = format!(
                r#"{{"requests":{},"pingbacks":{}}}"#,
                now.requests, now.attempts
            );
            return Some((Ok(Event::default().event(name).data(data)), seen));
        }
    });
    Sse::new(stream.take_until(stop.cancelled_owned())).keep_alive(KeepAlive::default())
}
