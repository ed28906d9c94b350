//! The distinct connections mode: one request, one operation, one event stream.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::super::graphql::{self, Refusal};
use super::super::negotiate::ResponseType;
use super::super::persisted::{self, Incoming};
use super::super::{ws, AppState};
use super::{deliver, event_stream, keep_alive, operation_events, QUEUE};
use crate::auth::Viewer;
use crate::error::ErrorCode;

/// `POST /graphql` with `Accept: text/event-stream`: any operation, streamed.
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = async {
        let viewer = graphql::viewer(&req, &state).await?;
        let body = graphql::read_body_in_time(&req, payload, &state).await?;
        let fields = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(Refusal::bad_request("the body must be one JSON object")),
            Err(_) => return Err(Refusal::bad_request("the body is not valid JSON")),
        };
        let incoming = graphql::graphql_request(fields)?;
        Ok((viewer, incoming))
    };
    match started.await {
        Ok((viewer, incoming)) => stream(&req, state, viewer, incoming, false).await,
        Err(refusal) => refusal.into_response(ResponseType::Json),
    }
}

/// `GET /graphql` with `Accept: text/event-stream` and no token (what `EventSource` can
/// send): queries and subscriptions from the URL's parameters; mutations are refused (405).
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let started = async {
        let viewer = graphql::viewer(&req, &state).await?;
        Ok::<_, Refusal>((viewer, graphql::get_incoming(&req)?))
    };
    match started.await {
        Ok((viewer, incoming)) => stream(&req, state, viewer, incoming, true).await,
        Err(refusal) => refusal.into_response(ResponseType::Json),
    }
}

async fn stream(
    req: &HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    incoming: Incoming,
    over_get: bool,
) -> HttpResponse {
    let mut request = match persisted::resolve(&state, &viewer, incoming).await {
        Ok((request, _)) => request,
        Err(error) => {
            let refusal = Refusal::new(StatusCode::BAD_REQUEST, code_of(&error), error.message);
            return refusal.into_response(ResponseType::Json);
        }
    };
    if over_get && graphql::is_mutation(&mut request) {
        return Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "mutations are only accepted over POST",
        )
        .into_response(ResponseType::Json);
    }
    let Some(slot) = state.ws_slots.acquire(ws::slot_key(&viewer)) else {
        return too_many_streams();
    };
    let resume = last_event_id(req);
    let events = operation_events(&state, &viewer, request, None, resume);
    let (queue, received) = mpsc::channel(QUEUE);
    actix_web::rt::spawn(async move {
        let _slot = slot;
        let timeout = state.ws.send_timeout;
        let pump = async {
            let mut events = events;
            while let Some(event) = events.next().await {
                if !deliver(&queue, event, timeout).await {
                    return;
                }
            }
        };
        // Whichever ends first ends the stream: the operation completed, or the client
        // left, stopped reading, or the server stops.
        tokio::select! {
            () = pump => {}
            () = keep_alive(&state, &queue) => {}
        }
    });
    event_stream(received)
}

/// What `EventSource` sends when it reconnects: the `id:` of the last event it received.
pub(super) fn last_event_id(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

pub(super) fn too_many_streams() -> HttpResponse {
    Refusal::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManySubscriptions,
        "too many event streams and websockets open for this key",
    )
    .into_response(ResponseType::Json)
}

pub(super) fn code_of(error: &async_graphql::ServerError) -> ErrorCode {
    let code = error
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("code"))
        .and_then(|code| match code {
            async_graphql::Value::String(code) => Some(code.clone()),
            _ => None,
        });
    ErrorCode::ALL
        .iter()
        .copied()
        .find(|known| Some(known.as_str()) == code.as_deref())
        .unwrap_or(ErrorCode::BadRequest)
}
