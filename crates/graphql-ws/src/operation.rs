//! One operation of a connection, as a stream of events for the connection loop: the
//! re-authorization, then the schema's responses, then the end.

use std::future::ready;
use std::rc::Rc;
use std::sync::Arc;

use async_graphql::{Data, Executor, Request, Response, ServerError};
use futures_util::future::LocalBoxFuture;
use futures_util::stream::{self, BoxStream, LocalBoxStream};
use futures_util::StreamExt;

use crate::is_request_error;

/// Why a credential check said no.
#[derive(Debug)]
pub enum Rejection {
    /// The credential is not (or no longer) valid: the connection is closed with 4403.
    Forbidden,
    /// The check itself failed (its database is down, say). At `connection_init` the
    /// connection is closed with 1013 (try again later); before an operation, only that
    /// operation fails, with this error.
    Failed(ServerError),
}

/// Asked before each operation: an error refuses it.
pub type Authorize = Box<dyn Fn() -> LocalBoxFuture<'static, Result<(), Rejection>>>;

/// Called each time an operation of the connection is polled. Request-scoped batching
/// (a DataLoader that sends its batch once every resolver waits) can watch it.
pub type OnPoll = Rc<dyn Fn()>;

/// What `connection_init` established, shared by every operation of the connection.
pub struct Admission {
    /// The request data of every operation (a viewer, loaders, …).
    pub data: Arc<Data>,
    pub on_poll: Option<OnPoll>,
    pub authorize: Authorize,
}

#[derive(Debug)]
pub(crate) enum OpEvent {
    /// A result to send (`next`/`data`).
    Next(Response),
    /// The operation failed before execution: its errors end it (`error`, no `complete`).
    Rejected(Vec<ServerError>),
    /// The authorization hook refused the operation.
    Refused(Rejection),
    /// The responses are over (`complete`).
    Done,
}

/// The events of one operation, once polled: nothing runs before that.
pub(crate) fn operation<E: Executor>(
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
    match &admission.on_poll {
        Some(on_poll) => tracked(events.boxed_local(), on_poll.clone()),
        None => events.boxed_local(),
    }
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

/// Tells `on_poll` of every poll of `events`.
fn tracked(
    mut events: LocalBoxStream<'static, OpEvent>,
    on_poll: OnPoll,
) -> LocalBoxStream<'static, OpEvent> {
    stream::poll_fn(move |cx| {
        on_poll();
        events.poll_next_unpin(cx)
    })
    .boxed_local()
}
