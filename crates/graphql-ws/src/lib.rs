//! GraphQL over websockets for any async-graphql `Executor`, in both subprotocols:
//! `graphql-transport-ws` (the graphql-ws library) and the legacy `graphql-ws`
//! (subscriptions-transport-ws). It knows nothing of the application: the caller does the
//! HTTP handshake (with `negotiate` and `socket_config`), checks credentials (`Admit`,
//! `Authorize`) and hands over the socket to `serve`.
//!
//! - `connection`: the protocol-agnostic loop (timeouts, limits, operations, writes);
//! - `operation`: one operation as a stream of events;
//! - `protocol`: what the subprotocols share (client messages, close frames, the
//!   `Protocol` trait, message helpers);
//! - `transport_ws`, `legacy_ws`: the two subprotocols' messages and rules, on `protocol`;
//! - `subprotocol`: `negotiate`, the handshake's choice between them (the only module that
//!   knows both);
//! - `slots`: at most N connections per credential;
//! - `shutdown`: closing connections from outside (revoked credential, server stop).
//!
//! Written here rather than taken from `async-graphql-actix-web`: that integration keeps
//! the HTTP machinery for the socket's whole life, has no per-connection limits (message
//! size, operations, slow readers) and closes with codes the reference clients do not
//! expect in several cases.

#![forbid(unsafe_code)]

mod connection;
mod legacy_ws;
mod operation;
mod protocol;
pub mod shutdown;
pub mod slots;
mod subprotocol;
mod transport_ws;

use std::time::Duration;

use async_graphql::Executor;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

pub use connection::{Admit, Shutdown};
pub use operation::{Admission, Authorize, OnPoll, Rejection};
pub use protocol::{close, CloseFrame};
pub use shutdown::{closer, GoingAway};
pub use subprotocol::{negotiate, Subprotocol};

/// The `extensions.code` values this transport puts in errors of its own.
pub mod codes {
    /// A message the protocol does not allow (legacy protocol: reported, not closed).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// An operation before `connection_init` (legacy protocol).
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// More operations at once than `WsSettings::max_subscriptions`.
    pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";
}

/// The limits of every websocket connection.
#[derive(Clone, Copy, Debug)]
pub struct WsSettings {
    /// How long a client has to send `connection_init` (then 4408).
    pub init_timeout: Duration,
    /// How often the server pings (a websocket ping and a `ping`/`ka` message); a client
    /// silent for two intervals is dropped (1001). Zero disables both.
    pub keepalive: Duration,
    /// Operations running at once on one connection; more get a `TOO_MANY_SUBSCRIPTIONS`
    /// error.
    pub max_subscriptions: usize,
    /// The largest incoming message, fragmented or not (then 4400 "Message too large").
    pub max_message_bytes: usize,
    /// How long a message may wait for a client that does not read (then 1013).
    pub send_timeout: Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        WsSettings {
            init_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(12),
            max_subscriptions: 100,
            max_message_bytes: 64 * 1024,
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves one connection whose handshake (in `protocol`) is written: `unread` is what the
/// client already sent past its request. Runs until the connection ends, on the current
/// thread (the futures are not `Send`: run it on a `LocalSet` or an actix worker).
pub async fn serve<E: Executor>(
    tcp: TcpStream,
    unread: Vec<u8>,
    protocol: Subprotocol,
    executor: E,
    settings: WsSettings,
    admit: Admit,
    shutdown: Shutdown,
) {
    let config = socket_config(settings.max_message_bytes);
    let socket =
        WebSocketStream::from_partially_read(tcp, unread, Role::Server, Some(config)).await;
    serve_socket(socket, protocol, executor, settings, admit, shutdown).await
}

/// `serve` for a socket already wrapped (by `tokio_tungstenite::accept_hdr_async_with_config`
/// with `socket_config`, say).
pub async fn serve_socket<E: Executor>(
    socket: WebSocketStream<TcpStream>,
    protocol: Subprotocol,
    executor: E,
    settings: WsSettings,
    admit: Admit,
    shutdown: Shutdown,
) {
    connection::Connection::new(executor, protocol.0, settings, socket, admit)
        .run(shutdown)
        .await
}

/// The smallest read buffer that still reads a typical client message (an init, a
/// subscribe, a pong) in one go: it is allocated for as long as the socket is open. A
/// larger message grows it as it comes. Writes go out at once (no write buffering).
const READ_BUFFER_BYTES: usize = 1024;

/// The socket settings `serve` uses: messages and frames past `max_message_bytes` are
/// refused (a frame from its header, before its payload is read).
pub fn socket_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(Some(max_message_bytes))
        .max_message_size(Some(max_message_bytes))
}

/// A response that failed as a whole, before execution (parse, validation, a refused
/// document): no data, only errors without a path (field errors always have one). A
/// transport sends it as an `error` message (HTTP: a 400 under the spec's media type).
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}
