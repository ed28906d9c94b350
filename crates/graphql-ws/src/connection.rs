//! One websocket connection, whatever its subprotocol: a single task that waits on the
//! client's frames, the running operations' events, the keep-alive ticks, the
//! initialisation deadline and an external shutdown signal, and writes to the socket
//! itself.
//!
//! Writing from the loop is what bounds memory: while the socket does not take a message,
//! nothing else is polled, so no operation produces more. A client that does not read
//! fills the socket's queue; once a message has waited `send_timeout`, the connection is
//! closed (1013, "Subscriber too slow"; the frame waits for room up to `CLOSE_GRACE`).

use std::collections::HashMap;
use std::future::Future;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::Duration;

use async_graphql::{Executor, Request};
use futures_util::future::{AbortHandle, Abortable, LocalBoxFuture};
use futures_util::stream::{LocalBoxStream, SelectAll};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{interval_at, sleep, timeout, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as WsCloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use crate::operation::{operation, Admission, OpEvent, Rejection};
use crate::protocol::{close, coded_error, ClientMessage, CloseFrame, Protocol, Violation};
use crate::{codes, WsSettings};

/// Checks the `connection_init` payload; called once per connection.
pub type Admit =
    Box<dyn FnOnce(Option<Value>) -> LocalBoxFuture<'static, Result<Admission, Rejection>>>;

/// Resolves when the connection must be closed from outside (with that frame).
pub type Shutdown = LocalBoxFuture<'static, CloseFrame>;

/// How the connection ends.
#[derive(Debug)]
enum End {
    /// Send this close frame.
    Close(CloseFrame),
    /// The client sent a close frame: tungstenite has queued the answer, which echoes the
    /// client's status code (RFC 6455, 5.5.1), and it must still be written.
    Answer,
    /// The client is gone: nothing can be sent.
    Gone,
}

/// Each step either lets the loop go on or ends the connection.
type Flow = ControlFlow<End>;

const GO_ON: Flow = ControlFlow::Continue(());

fn closing(code: u16, reason: &str) -> Flow {
    ControlFlow::Break(End::Close(CloseFrame::new(code, reason)))
}

/// The socket, after the handshake.
pub(crate) type Socket = WebSocketStream<TcpStream>;

pub(crate) struct Connection<E> {
    executor: E,
    protocol: &'static dyn Protocol,
    settings: WsSettings,
    socket: Socket,
    /// Until `connection_init` arrives.
    admit: Option<Admit>,
    /// Once it was accepted.
    admission: Option<Admission>,
    /// The running operations, to stop them by id.
    operations: HashMap<String, AbortHandle>,
    /// Their events, polled together, each tagged with its operation's id.
    events: SelectAll<LocalBoxStream<'static, (Rc<str>, OpEvent)>>,
    /// When the client last sent anything (a pong included).
    last_heard: Instant,
}

impl<E: Executor> Connection<E> {
    pub(crate) fn new(
        executor: E,
        protocol: &'static dyn Protocol,
        settings: WsSettings,
        socket: Socket,
        admit: Admit,
    ) -> Self {
        Connection {
            executor,
            protocol,
            settings,
            socket,
            admit: Some(admit),
            admission: None,
            operations: HashMap::new(),
            events: SelectAll::new(),
            last_heard: Instant::now(),
        }
    }

    /// Serves the connection until it ends, then stops every operation and closes it.
    pub(crate) async fn run(mut self, shutdown: Shutdown) {
        let end = match self.serve(shutdown).await {
            ControlFlow::Break(end) => end,
            ControlFlow::Continue(()) => End::Gone,
        };
        let Connection {
            socket,
            events,
            operations,
            admission,
            ..
        } = self;
        // Dropping their streams stops every operation, before the close frame waits.
        drop((events, operations, admission));
        match end {
            End::Close(frame) => {
                tracing::debug!(code = frame.code, reason = %frame.reason, "closing websocket");
                send_close(socket, frame).boxed_local().await;
            }
            End::Answer => answer_close(socket).boxed_local().await,
            End::Gone => {}
        }
    }

    async fn serve(&mut self, mut shutdown: Shutdown) -> Flow {
        let init_deadline = sleep(self.settings.init_timeout);
        tokio::pin!(init_deadline);
        let keepalive = self.settings.keepalive;
        // Zero disables the keep-alive; `interval` itself refuses a zero period.
        let period = keepalive.max(Duration::from_millis(1));
        let mut ticks = interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // Each step is boxed while it runs: inline, the largest of them would
                // size this future, held by every idle connection.
                frame = self.socket.next() => self.on_frame(frame).boxed_local().await?,
                Some((id, event)) = self.events.next(), if !self.events.is_empty() => {
                    self.on_event(&id, event).boxed_local().await?
                }
                _ = ticks.tick(), if !keepalive.is_zero() => self.on_tick().boxed_local().await?,
                () = &mut init_deadline, if self.admit.is_some() => {
                    closing(close::INIT_TIMEOUT, "Connection initialisation timeout")?
                }
                frame = &mut shutdown => return ControlFlow::Break(End::Close(frame)),
            }
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) -> Flow {
        let Some(frame) = frame else {
            return ControlFlow::Break(End::Gone);
        };
        self.last_heard = Instant::now();
        match frame {
            Ok(Message::Text(text)) => match self.protocol.decode(&text) {
                Ok(message) => self.on_message(message).await,
                Err(violation) => self.on_violation(violation).await,
            },
            Ok(Message::Binary(_)) => self.on_violation(self.protocol.binary()).await,
            // tungstenite answers pings itself (on the next read or write).
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => GO_ON,
            Ok(Message::Close(reason)) => {
                let code = reason.map(|reason| u16::from(reason.code));
                tracing::debug!(?code, "the client closed the websocket");
                ControlFlow::Break(End::Answer)
            }
            Err(err) => frame_error(&err),
        }
    }

    async fn on_message(&mut self, message: ClientMessage) -> Flow {
        match message {
            ClientMessage::Init(payload) => self.on_init(payload).await,
            ClientMessage::Subscribe { id, request } => self.on_subscribe(id, *request).await,
            ClientMessage::Complete { id } => self.on_complete(&id).await,
            ClientMessage::Ping(payload) => match self.protocol.pong(payload) {
                Some(pong) => self.send(pong).await,
                None => GO_ON,
            },
            ClientMessage::Pong => GO_ON,
            ClientMessage::Terminate => closing(close::NORMAL, ""),
        }
    }

    async fn on_violation(&mut self, violation: Violation) -> Flow {
        match violation {
            Violation::Close(frame) => ControlFlow::Break(End::Close(frame)),
            Violation::Reply(message) => self.send(message).await,
        }
    }

    async fn on_init(&mut self, payload: Option<Value>) -> Flow {
        let Some(admit) = self.admit.take() else {
            return closing(close::TOO_MANY_INITS, "Too many initialisation requests");
        };
        // The loop waits for the key check: a graphql-ws client sends nothing before the
        // acknowledgement, and a legacy client's queued `start`s then find the connection
        // ready instead of being refused.
        match admit(payload).await {
            Ok(admission) => {
                self.admission = Some(admission);
                for message in self.protocol.acknowledge() {
                    self.send(message).await?;
                }
                GO_ON
            }
            Err(err) => self.refuse(&err).await,
        }
    }

    async fn on_subscribe(&mut self, id: String, request: Request) -> Flow {
        let Some(admission) = &self.admission else {
            return self.on_violation(self.protocol.unacknowledged(&id)).await;
        };
        if let Some(running) = self.operations.remove(&id) {
            if let Some(frame) = self.protocol.duplicate(&id) {
                return ControlFlow::Break(End::Close(frame));
            }
            running.abort();
        }
        if self.operations.len() >= self.settings.max_subscriptions {
            let error = coded_error(
                format!(
                    "at most {} operations may run at once on one connection",
                    self.settings.max_subscriptions
                ),
                codes::TOO_MANY_SUBSCRIPTIONS,
            );
            return self.send(self.protocol.error(&id, &[error])).await;
        }
        let events = operation(self.executor.clone(), request, admission);
        let (handle, registration) = AbortHandle::new_pair();
        let tag: Rc<str> = Rc::from(id.as_str());
        self.events.push(
            Abortable::new(events, registration)
                .map(move |event| (tag.clone(), event))
                .boxed_local(),
        );
        self.operations.insert(id, handle);
        GO_ON
    }

    async fn on_complete(&mut self, id: &str) -> Flow {
        // An unknown id is no error: the operation may have ended while this was on its way.
        let Some(running) = self.operations.remove(id) else {
            return GO_ON;
        };
        running.abort();
        if self.protocol.confirms_stop() {
            self.send(self.protocol.complete(id)).await
        } else {
            GO_ON
        }
    }

    async fn on_event(&mut self, id: &str, event: OpEvent) -> Flow {
        match event {
            OpEvent::Next(response) => self.send(self.protocol.next(id, &response)).await,
            OpEvent::Done => {
                self.operations.remove(id);
                self.send(self.protocol.complete(id)).await
            }
            OpEvent::Rejected(errors) => {
                self.stop(id);
                self.send(self.protocol.error(id, &errors)).await
            }
            OpEvent::Refused(Rejection::Forbidden) => self.refuse(&Rejection::Forbidden).await,
            OpEvent::Refused(Rejection::Failed(error)) => {
                self.stop(id);
                self.send(self.protocol.error(id, &[error])).await
            }
        }
    }

    async fn on_tick(&mut self) -> Flow {
        // A live client answers pings (browsers at the websocket level, graphql-ws clients
        // also to `ping` messages): two intervals of silence mean the connection is dead.
        if self.last_heard.elapsed() >= self.settings.keepalive * 2 {
            return closing(close::GOING_AWAY, "Keep-alive timeout");
        }
        let ping = self.socket.send(Message::Ping(Bytes::new()));
        deliver(self.settings.send_timeout, ping).await?;
        if self.admission.is_some() {
            self.send(self.protocol.keepalive()).await?;
        }
        GO_ON
    }

    /// Closes because the key was refused (4403), or could not be checked (1013).
    async fn refuse(&mut self, rejection: &Rejection) -> Flow {
        let (code, reason) = match rejection {
            Rejection::Forbidden => (close::FORBIDDEN, "Forbidden"),
            Rejection::Failed(error) => {
                tracing::warn!(error = %error.message, "websocket: the credential could not be checked");
                (
                    close::TRY_AGAIN_LATER,
                    "Service unavailable, try again later",
                )
            }
        };
        if let Some(message) = self.protocol.refusal(reason) {
            self.send(message).await?;
        }
        closing(code, reason)
    }

    fn stop(&mut self, id: &str) {
        if let Some(running) = self.operations.remove(id) {
            running.abort();
        }
    }

    async fn send(&mut self, message: String) -> Flow {
        let sending = self.socket.send(Message::text(message));
        deliver(self.settings.send_timeout, sending).await
    }
}

/// Waits at most `limit` for the socket to take a message.
async fn deliver(limit: Duration, sending: impl Future<Output = Result<(), WsError>>) -> Flow {
    match timeout(limit, sending).await {
        Ok(Ok(())) => GO_ON,
        Ok(Err(_)) => ControlFlow::Break(End::Gone),
        Err(_) => closing(close::TRY_AGAIN_LATER, "Subscriber too slow"),
    }
}

/// How the connection ends after a read failed.
fn frame_error(err: &WsError) -> Flow {
    match err {
        // Refused from the frame header, before its payload is buffered (`max_frame_size`),
        // or once the fragments of a message add up to more (`max_message_size`).
        WsError::Capacity(_) => closing(close::BAD_REQUEST, "Message too large"),
        WsError::Protocol(_) | WsError::Utf8(_) => {
            closing(close::PROTOCOL_ERROR, "Invalid websocket frame")
        }
        _ => ControlFlow::Break(End::Gone),
    }
}

/// How long a close frame may wait for room in the socket's queue. Only a client that
/// stopped reading makes it wait: if it reads again within this time it gets the close
/// frame; otherwise the socket is dropped (the operations are gone already, so waiting
/// holds no more memory than that queue).
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// How long, after the close frame, the client's last bytes are read and dropped.
/// Closing a socket with unread bytes makes the kernel reset it, and a reset can reach
/// the client before it has read the close frame.
const LINGER: Duration = Duration::from_secs(2);

/// Closes from our side: sends `frame`, then ends the TCP connection.
async fn send_close(mut socket: Socket, frame: CloseFrame) {
    let frame = WsCloseFrame {
        code: CloseCode::from(frame.code),
        reason: frame.reason.into(),
    };
    if timeout(CLOSE_GRACE, socket.close(Some(frame)))
        .await
        .is_err()
    {
        return;
    }
    end_tcp(socket).await;
}

/// Answers the client's close frame, then ends the TCP connection.
///
/// When tungstenite read the client's close it queued the answer: the client's own status
/// code and reason (RFC 6455, 5.5.1: "typically echos the status code it received"), or an
/// empty close frame for an empty one. An empty frame is the echo: the client then reads
/// 1005 ("no status code was present", RFC 6455, 7.1.5), which 7.4.1 forbids putting in a
/// frame, and a normal closure all the same. `WebSocketStream::close(Some(..))` is no way
/// to send it: after the peer's close it refuses every message (`SendAfterClosing`) without
/// writing what is queued, and the socket was dropped with the answer unsent (clients saw
/// 1006). `SinkExt::close` only flushes, which writes the queued answer.
async fn answer_close(mut socket: Socket) {
    if timeout(CLOSE_GRACE, SinkExt::close(&mut socket))
        .await
        .is_err()
    {
        return;
    }
    end_tcp(socket).await;
}

/// After the close frame: the server ends TCP first (RFC 6455, 7.1.1), then reads and
/// drops what the client still sends, briefly (see `LINGER`).
async fn end_tcp(mut socket: Socket) {
    let tcp = socket.get_mut();
    let _ = tcp.shutdown().await;
    let mut unread = [0u8; 512];
    let drain = async { while tcp.read(&mut unread).await.is_ok_and(|n| n > 0) {} };
    let _ = timeout(LINGER, drain).await;
}
