//! The single connection mode: `PUT` reserves a stream (its token in the body, 201),
//! `GET` with the token opens it (one reader at a time: 409 otherwise), each `POST` with
//! the token and `extensions.operationId` runs an operation on it (202), `DELETE
//! ?operationId=` stops one (200). Results produced before the `GET` wait in the stream's
//! small queue. Streams live in the replica that reserved them (a load balancer keeps a
//! client's requests together, as it must for any stream), and only the credential that
//! reserved a stream can see it: anyone else gets 404, as for a token that never existed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::{AbortHandle, Abortable};
use futures_util::StreamExt;
use graphql_ws::slots::Slot;
use serde_json::Value;
use tokio::sync::mpsc;

use super::super::graphql::{self, Refusal};
use super::super::negotiate::ResponseType;
use super::super::persisted;
use super::super::{ws, AppState};
use super::distinct::{code_of, too_many_streams};
use super::{deliver, event_stream, keep_alive, operation_events, token_of, QUEUE};
use crate::auth::Viewer;
use crate::error::ErrorCode;

/// The reserved streams of this replica, by token.
#[derive(Default)]
pub struct Streams(Mutex<HashMap<String, Reservation>>);

struct Reservation {
    /// Whose stream it is (`ws::slot_key`).
    owner: String,
    queue: mpsc::Sender<Bytes>,
    /// Until a `GET` takes it.
    unread: Option<mpsc::Receiver<Bytes>>,
    operations: HashMap<String, AbortHandle>,
    /// Counted as a connection of its credential while it exists.
    _slot: Slot,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        for operation in self.operations.values() {
            operation.abort();
        }
    }
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Reservation>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends a stream: its operations stop, and its reader ends once the queue drains.
    fn close(&self, token: &str) {
        let closed = self.lock().remove(token);
        drop(closed);
    }
}

/// `PUT /graphql`: reserves a stream for the caller.
pub async fn reserve(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let viewer = match graphql::viewer(&req, &state).await {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal.into_response(ResponseType::Json),
    };
    let owner = ws::slot_key(&viewer);
    let Some(slot) = state.ws_slots.acquire(owner.clone()) else {
        return too_many_streams();
    };
    let token = new_token();
    let (queue, unread) = mpsc::channel(QUEUE);
    state.sse.lock().insert(
        token.clone(),
        Reservation {
            owner,
            queue,
            unread: Some(unread),
            operations: HashMap::new(),
            _slot: slot,
        },
    );
    // A reservation nobody opens is forgotten (as an unanswered `connection_init`).
    let (expiring, wait) = (token.clone(), state.ws.init_timeout);
    let streams = state.clone();
    actix_web::rt::spawn(async move {
        tokio::time::sleep(wait).await;
        let mut reserved = streams.sse.lock();
        if reserved.get(&expiring).is_some_and(|r| r.unread.is_some()) {
            reserved.remove(&expiring);
        }
    });
    HttpResponse::Created()
        .content_type("text/plain; charset=utf-8")
        .body(token)
}

/// `GET /graphql` with a token and `Accept: text/event-stream`: the reserved stream.
pub async fn open(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (token, viewer) = match caller(&req, &state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let taken = {
        let mut reserved = state.sse.lock();
        match reserved.get_mut(&token) {
            Some(reservation) if reservation.owner == ws::slot_key(&viewer) => reservation
                .unread
                .take()
                .map(|unread| (unread, reservation.queue.clone()))
                .ok_or(StatusCode::CONFLICT),
            _ => Err(StatusCode::NOT_FOUND),
        }
    };
    let (unread, queue) = match taken {
        Ok(taken) => taken,
        Err(StatusCode::CONFLICT) => {
            return refusal(StatusCode::CONFLICT, "the stream is already open")
        }
        Err(_) => return stream_not_found(),
    };
    actix_web::rt::spawn(async move {
        keep_alive(&state, &queue).await;
        // The client left, stopped reading, or the server stops: the stream is over.
        state.sse.close(&token);
    });
    event_stream(unread)
}

/// `POST /graphql` with a token: runs an operation on the stream (202).
pub async fn run(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (token, viewer) = match caller(&req, &state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let body = match graphql::read_body_in_time(&req, payload, &state).await {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(ResponseType::Json),
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return refusal(StatusCode::BAD_REQUEST, "the body must be one JSON object");
    };
    let operation = fields
        .get("extensions")
        .and_then(|extensions| extensions.get("operationId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(operation) = operation.filter(|id| !id.is_empty() && id.len() <= 128) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "`extensions.operationId` is required",
        );
    };
    let incoming = match graphql::graphql_request(fields) {
        Ok(incoming) => incoming,
        Err(refusal) => return refusal.into_response(ResponseType::Json),
    };
    let request = match persisted::resolve(&state, &viewer, incoming).await {
        Ok((request, _)) => request,
        Err(error) => {
            let refused = Refusal::new(StatusCode::BAD_REQUEST, code_of(&error), error.message);
            return refused.into_response(ResponseType::Json);
        }
    };
    let (abort, registration) = AbortHandle::new_pair();
    let queue = {
        let mut reserved = state.sse.lock();
        let Some(reservation) = reserved
            .get_mut(&token)
            .filter(|reservation| reservation.owner == ws::slot_key(&viewer))
        else {
            return stream_not_found();
        };
        if reservation.operations.contains_key(&operation) {
            return refusal(StatusCode::CONFLICT, "an operation with this id is running");
        }
        if reservation.operations.len() >= state.ws.max_subscriptions {
            return Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManySubscriptions,
                "too many operations on this stream",
            )
            .into_response(ResponseType::Json);
        }
        reservation.operations.insert(operation.clone(), abort);
        reservation.queue.clone()
    };
    let events = operation_events(&state, &viewer, request, Some(operation.clone()), None);
    actix_web::rt::spawn(Abortable::new(
        async move {
            let mut events = events;
            while let Some(event) = events.next().await {
                if !deliver(&queue, event, state.ws.send_timeout).await {
                    // Nobody reads the stream: it is over.
                    state.sse.close(&token);
                    return;
                }
            }
            if let Some(reservation) = state.sse.lock().get_mut(&token) {
                reservation.operations.remove(&operation);
            }
        },
        registration,
    ));
    HttpResponse::Accepted().finish()
}

/// `DELETE /graphql?operationId=` with a token: stops an operation (200).
pub async fn stop(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (token, viewer) = match caller(&req, &state).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let operation = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|params| params.into_inner().remove("operationId"));
    let Some(operation) = operation else {
        return refusal(StatusCode::BAD_REQUEST, "`operationId` is required");
    };
    let mut reserved = state.sse.lock();
    match reserved
        .get_mut(&token)
        .filter(|reservation| reservation.owner == ws::slot_key(&viewer))
    {
        Some(reservation) => {
            if let Some(running) = reservation.operations.remove(&operation) {
                running.abort();
            }
            HttpResponse::Ok().finish()
        }
        None => stream_not_found(),
    }
}

/// The caller and the stream token of a single-connection request.
async fn caller(req: &HttpRequest, state: &AppState) -> Result<(String, Viewer), HttpResponse> {
    let viewer = graphql::viewer(req, state)
        .await
        .map_err(|refusal| refusal.into_response(ResponseType::Json))?;
    let token = token_of(req).ok_or_else(stream_not_found)?;
    Ok((token, viewer))
}

fn new_token() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

fn stream_not_found() -> HttpResponse {
    refusal(StatusCode::NOT_FOUND, "stream not found")
}

fn refusal(status: StatusCode, message: &str) -> HttpResponse {
    Refusal::new(status, ErrorCode::BadRequest, message).into_response(ResponseType::Json)
}
