//! GraphQL over Server-Sent Events on `/graphql`, the graphql-sse protocol, for clients
//! that cannot keep a websocket (corporate proxies, serverless edges):
//!
//! - distinct connections (`distinct.rs`): `POST` (or `GET`) with
//!   `Accept: text/event-stream` streams one operation's results, `next` events then
//!   `complete`;
//! - a single connection (`single.rs`): `PUT` reserves a stream token, `GET` with the token
//!   opens the stream, each `POST` with the token runs an operation on it (202) and
//!   `DELETE ?operationId=` stops one.
//!
//! The same credential, limits and scopes as websockets: the `Authorization` header on
//! every request, one connection slot per stream (`TICKETGATE_WS_MAX_CONNECTIONS_PER_KEY`),
//! the subscriptions gauge under `protocol="sse"`. A client that stops reading is dropped
//! after `TICKETGATE_WS_SEND_TIMEOUT_MS` (the queue in between is small and bounded); a
//! comment every `TICKETGATE_WS_KEEPALIVE_MS` keeps proxies from closing an idle stream;
//! streams end when the server stops. Each `messageAdded`/`ticketChanged` event carries its
//! position as the event's `id:`, and a `Last-Event-ID` header resumes from it (what
//! `EventSource` sends when it reconnects), replayed from the outbox.
//!
//! Hand-written: async-graphql's actix integration streams only its own SSE variant
//! (no protocol events, no single-connection mode, no resume).

pub mod distinct;
pub mod single;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use async_graphql::{Data, Executor, Request, Response};
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::graphql::ResponseBody;
use super::AppState;
use crate::auth::{TicketScope, Viewer};
use crate::events::position::{Announced, ResumeFrom};
use crate::graphql::loaders::{loaders, RequestActivity};
use crate::metrics::ActiveGauge;

/// The header (or query parameter `token`) naming a single-connection stream.
pub const TOKEN_HEADER: &str = "x-graphql-event-stream-token";

/// Events a stream may hold for a client that reads slowly, before the send timeout runs.
const QUEUE: usize = 32;

/// A comment line: nothing to the client, but bytes on an idle connection.
const KEEPALIVE: &[u8] = b":\n\n";

/// Route guard: the client asked for an event stream.
pub fn accepts_event_stream(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.to_ascii_lowercase().contains("text/event-stream"))
}

/// Route guard: a request of the single connection mode (it names a stream token).
pub fn has_stream_token(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    let head = ctx.head();
    head.headers().contains_key(TOKEN_HEADER)
        || head.uri.query().is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair == "token" || pair.starts_with("token="))
        })
}

/// The single-connection token of a request, from its header or its `token` parameter.
pub fn token_of(req: &HttpRequest) -> Option<String> {
    if let Some(token) = req.headers().get(TOKEN_HEADER) {
        return token.to_str().ok().map(str::to_string);
    }
    actix_web::web::Query::<std::collections::HashMap<String, String>>::from_query(
        req.query_string(),
    )
    .ok()
    .and_then(|params| params.into_inner().remove("token"))
}

/// What every operation of one stream runs with: the viewer, the stream's loaders, and the
/// gauge its subscriptions count in (as a websocket connection's data).
fn session(state: &AppState, viewer: &Viewer) -> Arc<Data> {
    let mut data = Data::default();
    data.insert(loaders(
        state.db.clone(),
        TicketScope::of(viewer),
        RequestActivity::default(),
    ));
    data.insert(viewer.clone());
    data.insert(ActiveGauge(
        state.metrics.subscriptions.with_label_values(&["sse"]),
    ));
    Arc::new(data)
}

/// The events of one operation: a `next` per result (its event position as the `id:`
/// when it has one), then `complete`. `operation` is the single-connection mode's id.
fn operation_events(
    state: &AppState,
    viewer: &Viewer,
    request: Request,
    operation: Option<String>,
    resume: Option<String>,
) -> BoxStream<'static, Bytes> {
    let announced = Announced::default();
    let mut request = request.data(announced.clone());
    if let Some(resume) = resume {
        request = request.data(ResumeFrom(resume));
    }
    let results = state
        .schema
        .execute_stream(request, Some(session(state, viewer)));
    let last = operation.clone();
    results
        .map(move |response| next_event(&response, operation.as_deref(), announced.take()))
        .chain(stream::once(async move { complete_event(last.as_deref()) }))
        .boxed()
}

fn next_event(response: &Response, operation: Option<&str>, id: Option<Arc<str>>) -> Bytes {
    let body = ResponseBody::of(response);
    let data = match operation {
        Some(operation) => serde_json::to_string(&serde_json::json!({
            "id": operation,
            "payload": body,
        })),
        None => serde_json::to_string(&body),
    }
    .unwrap_or_else(|_| "{}".into());
    let mut event = String::with_capacity(data.len() + 64);
    event.push_str("event: next\n");
    if let Some(id) = id {
        // Positions are base64url: never a line break.
        event.push_str("id: ");
        event.push_str(&id);
        event.push('\n');
    }
    event.push_str("data: ");
    event.push_str(&data);
    event.push_str("\n\n");
    Bytes::from(event)
}

fn complete_event(operation: Option<&str>) -> Bytes {
    match operation {
        Some(operation) => Bytes::from(format!(
            "event: complete\ndata: {}\n\n",
            serde_json::json!({ "id": operation })
        )),
        None => Bytes::from_static(b"event: complete\ndata:\n\n"),
    }
}

/// Sends `event` unless the client has not made room for it within `timeout`.
async fn deliver(queue: &mpsc::Sender<Bytes>, event: Bytes, timeout: Duration) -> bool {
    queue.send_timeout(event, timeout).await.is_ok()
}

/// An event-stream response reading `queue` (the stream ends when every sender is gone).
fn event_stream(queue: mpsc::Receiver<Bytes>) -> HttpResponse {
    let body = stream::unfold(queue, |mut queue| async move {
        let event = queue.recv().await?;
        Some((Ok::<_, Infallible>(event), queue))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body)
}

/// Feeds a queue with keep-alive comments until the client is gone or stops reading, or
/// the server stops; then returns (dropping its sender).
async fn keep_alive(state: &AppState, queue: &mpsc::Sender<Bytes>) {
    let (every, timeout) = (state.ws.keepalive, state.ws.send_timeout);
    let stopping = state.going_away.announced();
    tokio::pin!(stopping);
    if !deliver(queue, Bytes::from_static(KEEPALIVE), timeout).await {
        return;
    }
    loop {
        let tick = async {
            match every.is_zero() {
                true => std::future::pending().await,
                false => tokio::time::sleep(every).await,
            }
        };
        tokio::select! {
            () = tick => {
                if !deliver(queue, Bytes::from_static(KEEPALIVE), timeout).await {
                    return;
                }
            }
            () = queue.closed() => return,
            () = &mut stopping => return,
        }
    }
}
