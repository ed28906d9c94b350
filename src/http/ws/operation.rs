//! One operation of a connection, as a stream of events for the connection loop: the
//! re-authorization, then the schema's responses, then the end.

use std::future::ready;
use std::sync::Arc;

use async_graphql::{Data, Executor, Request, Response, ServerError};
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{self, BoxStream, LocalBoxStream};
use futures_util::StreamExt;

use crate::error::AppError;
use crate::graphql::is_request_error;
use crate::graphql::loaders::RequestActivity;

/// Asked before each operation: an error refuses it.
pub type Authorize = Box<dyn Fn() -> LocalBoxFuture<'static, Result<(), AppError>>>;

/// What `connection_init` established, shared by every operation of the connection.
pub struct Admission {
    /// The request data of every operation (the viewer and the loaders).
    pub data: Arc<Data>,
    /// What the loaders watch to send each batch once every resolver waits (see
    /// `RequestActivity`); the polls of every operation count.
    pub activity: RequestActivity,
    pub authorize: Authorize,
}

#[derive(Debug)]
pub(super) enum OpEvent {
    /// A result to send (`next`/`data`).
    Next(Response),
    /// The operation failed before execution: its errors end it (`error`, no `complete`).
    Rejected(Vec<ServerError>),
    /// The authorization hook refused the operation.
    Refused(AppError),
    /// The responses are over (`complete`).
    Done,
}

/// The events of one operation, once polled: nothing runs before that.
pub(super) fn operation<E: Executor>(
    executor: E,
    request: Request,
    admission: &Admission,
) -> LocalBoxStream<'static, OpEvent> {
    let authorized = (admission.authorize)();
    let data = admission.data.clone();
    let events = stream::once(async move {
        match authorized.await {
            Ok(()) => events(executor.execute_stream(request, Some(data))).left_stream(),
            Err(err) => stream::once(ready(OpEvent::Refused(err))).right_stream(),
        }
    })
    .flatten();
    tracked(events.boxed_local(), admission.activity.clone())
}

/// Only the first response can be a request error; a subscription's later ones are events.
fn events(responses: BoxStream<'static, Response>) -> impl futures_util::Stream<Item = OpEvent> {
    responses
        .enumerate()
        .map(|(index, response)| {
            if index == 0 && is_request_error(&response) {
                OpEvent::Rejected(response.errors)
            } else {
                OpEvent::Next(response)
            }
        })
        .chain(stream::once(ready(OpEvent::Done)))
}

/// Counts the polls of `events` as activity of the connection's requests.
fn tracked(
    events: LocalBoxStream<'static, OpEvent>,
    activity: RequestActivity,
) -> LocalBoxStream<'static, OpEvent> {
    stream::unfold(events, move |mut events| {
        let activity = activity.clone();
        async move {
            let event = activity.track(events.next()).await?;
            Some((event, events))
        }
    })
    .boxed_local()
}
