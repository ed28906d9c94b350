//! GraphQL over websockets on `/graphql`, in both subprotocols: `graphql-transport-ws`
//! (the graphql-ws library) and the legacy `graphql-ws` (subscriptions-transport-ws).
//!
//! The key is sent in `connection_init`: `{"Authorization": "Bearer …"}` (the name in any
//! letter case, or under `headers`). Every operation runs with the connection's viewer and
//! loaders, after the `authorize` hook accepted it.
//!
//! - `connection`: the protocol-agnostic loop (timeouts, limits, operations, writes);
//! - `operation`: one operation as a stream of events;
//! - `transport_ws`, `legacy_ws`: the two subprotocols' messages and rules;
//! - `upgrade`: how the socket leaves actix-http once the handshake is accepted.

mod connection;
mod legacy_ws;
mod operation;
mod protocol;
pub mod slots;
mod transport_ws;
pub mod upgrade;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use async_graphql::{Data, Executor};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use serde_json::{json, Value};
use tokio::sync::{broadcast, oneshot, watch};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

pub use self::connection::Admit;
use self::connection::{Connection, Shutdown};
pub use self::operation::{Admission, Authorize};
use self::protocol::{close, CloseFrame};
use self::upgrade::{Handoff, Upgradable};
use super::AppState;
use crate::auth::Viewer;
use crate::error::{codes, AppError};
use crate::graphql::loaders::{loaders, RequestActivity};
use crate::tickets::TicketScope;

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

/// The connection's key, as `connection_init` gave it and `authenticate` accepted it.
/// (No `Debug`: it holds the key.)
#[derive(Clone)]
pub struct Credentials {
    pub viewer: Viewer,
    /// The `Authorization` value (`Bearer <key>`).
    pub authorization: String,
}

/// Decides, before each operation, whether the connection's key may still be used.
/// An `Unauthenticated`/`Forbidden` error closes the connection (4403); any other error
/// fails that operation only (`error` with the error's code).
pub type AuthorizeKey = Arc<
    dyn Fn(web::Data<AppState>, Credentials) -> LocalBoxFuture<'static, Result<(), AppError>>
        + Send
        + Sync,
>;

/// The default `AuthorizeKey`: looks the same key up again (one query per operation), so
/// a revoked or expired key stops working on open connections too.
pub fn reauthenticate() -> AuthorizeKey {
    Arc::new(|state, credentials| {
        async move {
            let viewer = state
                .auth
                .authenticate(Some(&credentials.authorization))
                .await?;
            if viewer.key_id == credentials.viewer.key_id
                && viewer.customer == credentials.viewer.customer
            {
                Ok(())
            } else {
                Err(AppError::Unauthenticated("the API key changed"))
            }
        }
        .boxed_local()
    })
}

/// `GET /graphql` with `Upgrade: websocket`, with the default settings.
pub async fn upgrade(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let settings = state.ws;
    serve_app(&req, state, settings, reauthenticate())
}

/// The same handler with other settings and authorization hook, for `web::get().to(…)`.
pub fn handler_with(
    settings: WsSettings,
    authorize: AuthorizeKey,
) -> impl Fn(HttpRequest, web::Data<AppState>) -> std::future::Ready<actix_web::Result<HttpResponse>>
       + Clone
       + 'static {
    move |req, state| std::future::ready(serve_app(&req, state, settings, authorize.clone()))
}

fn serve_app(
    req: &HttpRequest,
    state: web::Data<AppState>,
    settings: WsSettings,
    authorize: AuthorizeKey,
) -> actix_web::Result<HttpResponse> {
    // A connection opened now would only be closed again: the client had better go to
    // another replica at once. (One that slips in just before the announcement is closed
    // with 1001 as soon as it runs: its `Shutdown` is already resolved.)
    if state.going_away.is_announced() {
        return Ok(shutting_down());
    }
    let schema = state.schema.clone();
    let (close, shutdown) = closer(&state.going_away);
    accept(
        req,
        schema,
        settings,
        admit(state, authorize, close),
        shutdown,
    )
}

/// The server's graceful stop, as websockets see it. Announced once, before actix stops
/// accepting connections: every open connection then stops its operations and closes
/// with 1001, and new upgrades are refused (503). Without it, open websockets would hold
/// the stop for actix's whole shutdown timeout, then be dropped without a close frame.
#[derive(Clone, Debug)]
pub struct GoingAway(Arc<watch::Sender<bool>>);

impl Default for GoingAway {
    fn default() -> Self {
        GoingAway(Arc::new(watch::Sender::new(false)))
    }
}

impl GoingAway {
    pub fn announce(&self) {
        self.0.send_replace(true);
    }

    pub fn is_announced(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once announced: at once if it already was.
    fn announced(&self) -> impl std::future::Future<Output = ()> + 'static {
        let mut stopping = self.0.subscribe();
        async move {
            // An error means the sender is gone with the app state: nothing to announce.
            if stopping.wait_for(|stopping| *stopping).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The reason of the close frame every connection gets when the server stops.
const SHUTTING_DOWN: &str = "Server shutting down";

/// A way to close a connection from outside: the sender is handed to whoever decides
/// about the credential, the `Shutdown` to the connection loop. The server's graceful
/// stop closes it too (1001), whatever the state of the connection, even before
/// `connection_init`.
fn closer(going_away: &GoingAway) -> (oneshot::Sender<CloseFrame>, Shutdown) {
    let (close, closed) = oneshot::channel();
    let server_stops = going_away.announced();
    let shutdown = async move {
        let told = async move {
            match closed.await {
                Ok(frame) => frame,
                // The credential is no longer watched (never admitted, or refused).
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = told => frame,
            () = server_stops => CloseFrame::new(close::GOING_AWAY, SHUTTING_DOWN),
        }
    }
    .boxed_local();
    (close, shutdown)
}

/// Closes the connection (4403) when its credential stops being valid: its API key is
/// revoked (on any replica: revocations come through LISTEN/NOTIFY) or its customer token
/// expires. Ends by itself with the connection.
fn watch_credential(
    state: &AppState,
    viewer: &Viewer,
    mut close: oneshot::Sender<CloseFrame>,
    slot: slots::Slot,
) {
    let mut revocations = state.broker.revocations();
    let (key_id, expires_at) = (viewer.key_id, viewer.expires_at);
    actix_web::rt::spawn(async move {
        let revoked = async {
            let Some(key_id) = key_id else {
                return std::future::pending().await;
            };
            loop {
                match revocations.recv().await {
                    Ok(revoked) if revoked == key_id => return,
                    Err(broadcast::error::RecvError::Closed) => {
                        return std::future::pending().await
                    }
                    _ => continue,
                }
            }
        };
        let expired = async {
            match expires_at {
                Some(at) => {
                    let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(left).await
                }
                None => std::future::pending().await,
            }
        };
        // The connection's slot is held for as long as this watcher runs: until it ends.
        let _slot = slot;
        let reason = tokio::select! {
            _ = close.closed() => return,
            _ = revoked => "Forbidden: the API key was revoked",
            _ = expired => "Forbidden: the token expired",
        };
        let _ = close.send(CloseFrame::new(close::FORBIDDEN, reason));
    });
}

/// Authenticates `connection_init` and builds what every operation runs with; from then
/// on the credential is watched (`watch_credential`).
fn admit(
    state: web::Data<AppState>,
    authorize: AuthorizeKey,
    close: oneshot::Sender<CloseFrame>,
) -> Admit {
    Box::new(move |payload| {
        async move {
            let authorization = payload.as_ref().and_then(authorization);
            let viewer = state.auth.authenticate(authorization.as_deref()).await?;
            let slot = state.ws_slots.acquire(&viewer).ok_or_else(|| {
                AppError::Forbidden("too many websocket connections for this key".into())
            })?;
            watch_credential(&state, &viewer, close, slot);
            let activity = RequestActivity::default();
            let mut data = Data::default();
            data.insert(loaders(
                state.db.clone(),
                TicketScope::of(&viewer),
                activity.clone(),
            ));
            data.insert(viewer.clone());
            let credentials = Credentials {
                viewer,
                authorization: authorization.unwrap_or_default(),
            };
            Ok(Admission {
                data: Arc::new(data),
                activity,
                authorize: Box::new(move || authorize(state.clone(), credentials.clone())),
            })
        }
        .boxed_local()
    })
}

/// The `Authorization` value of a `connection_init` payload: a top-level field, or one in
/// `headers` (as some clients send it), the names in any letter case.
fn authorization(payload: &Value) -> Option<String> {
    let field = |object: &Value, name: &str| {
        object
            .as_object()?
            .iter()
            .find_map(|(key, value)| key.eq_ignore_ascii_case(name).then_some(value).cloned())
    };
    let value = field(payload, "authorization")
        .or_else(|| field(&field(payload, "headers")?, "authorization"))?;
    value.as_str().map(str::to_string)
}

/// Accepts the upgrade in the subprotocol the client offers; once the handshake is
/// written, the connection runs on the bare socket (see `upgrade`), on this worker.
/// Without a subprotocol we speak: 400, no upgrade.
fn accept<E: Executor>(
    req: &HttpRequest,
    executor: E,
    settings: WsSettings,
    admit: Admit,
    shutdown: Shutdown,
) -> actix_web::Result<HttpResponse> {
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    let Some(protocol) = protocol::negotiate(offered) else {
        return Ok(no_subprotocol());
    };
    if req.extensions().get::<Upgradable>().is_none() {
        // A request actix-http did not hand over with its socket (say, a chunked body).
        return Ok(HttpResponse::BadRequest().body("this request cannot be upgraded"));
    }
    let handshake = actix_http::ws::handshake(req.head())?.message_body(BoxBody::new(()))?;
    let mut response = HttpResponse::from(handshake);
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol.name()),
    );
    response
        .extensions_mut()
        .insert(Handoff::new(move |tcp, unread| {
            // A copy of what is unread, not the buffer it sits in (held as long as the socket).
            let unread = unread.to_vec();
            async move {
                let config = socket_config(settings.max_message_bytes);
                let socket =
                    WebSocketStream::from_partially_read(tcp, unread, Role::Server, Some(config))
                        .await;
                Connection::new(executor, protocol, settings, socket, admit)
                    .run(shutdown)
                    .await
            }
        }));
    Ok(response)
}

/// The smallest read buffer that still reads a typical client message (an init, a
/// subscribe, a pong) in one go: it is allocated for as long as the socket is open. A
/// larger message grows it as it comes. Writes go out at once (no write buffering).
const READ_BUFFER_BYTES: usize = 1024;

fn socket_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_frame_size(Some(max_message_bytes))
        .max_message_size(Some(max_message_bytes))
}

/// An upgrade that arrives while the server stops (over a connection it already had).
fn shutting_down() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain")
        .body("the server is shutting down")
}

fn no_subprotocol() -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("application/json")
        .body(
            json!({ "errors": [{
                "message": "websocket connections to /graphql must offer the \
                            `graphql-transport-ws` or the `graphql-ws` subprotocol \
                            (Sec-WebSocket-Protocol)",
                "extensions": { "code": codes::BAD_REQUEST }
            }] })
            .to_string(),
        )
}

#[cfg(test)]
mod authorization_tests {
    use serde_json::json;

    use super::authorization;

    #[test]
    fn reads_the_authorization_in_any_case_and_under_headers() {
        let key = Some("Bearer tg_x".to_string());
        assert_eq!(
            authorization(&json!({ "Authorization": "Bearer tg_x" })),
            key
        );
        assert_eq!(
            authorization(&json!({ "authorization": "Bearer tg_x" })),
            key
        );
        assert_eq!(
            authorization(&json!({ "AUTHORIZATION": "Bearer tg_x" })),
            key
        );
        assert_eq!(
            authorization(&json!({ "headers": { "Authorization": "Bearer tg_x" } })),
            key
        );
        assert_eq!(
            authorization(&json!({ "Headers": { "authorization": "Bearer tg_x" } })),
            key
        );
        assert_eq!(authorization(&json!({ "Authorization": 1 })), None);
        assert_eq!(authorization(&json!({ "token": "tg_x" })), None);
        assert_eq!(authorization(&json!("Bearer tg_x")), None);
    }
}

#[cfg(test)]
mod going_away_tests {
    use std::time::Duration;

    use tokio::time::timeout;

    use super::protocol::{close, CloseFrame};
    use super::{closer, GoingAway, Shutdown, SHUTTING_DOWN};

    async fn resolves(shutdown: &mut Shutdown) -> Option<CloseFrame> {
        timeout(Duration::from_millis(50), shutdown).await.ok()
    }

    #[tokio::test]
    async fn the_announcement_closes_every_connection_with_1001() {
        let going_away = GoingAway::default();
        let (_close, mut open) = closer(&going_away);
        // Never admitted: nobody watches its credential.
        let (unwatched, mut uninitialised) = closer(&going_away);
        drop(unwatched);
        assert_eq!(resolves(&mut open).await, None);
        assert_eq!(resolves(&mut uninitialised).await, None);

        going_away.announce();
        let frame = Some(CloseFrame::new(close::GOING_AWAY, SHUTTING_DOWN));
        assert_eq!(resolves(&mut open).await, frame);
        assert_eq!(resolves(&mut uninitialised).await, frame);
        // A connection that starts afterwards is closed at once.
        assert!(going_away.is_announced());
        assert_eq!(resolves(&mut closer(&going_away).1).await, frame);
    }

    #[tokio::test]
    async fn a_revoked_credential_still_closes_4403() {
        let going_away = GoingAway::default();
        let (close, mut shutdown) = closer(&going_away);
        let revoked = CloseFrame::new(close::FORBIDDEN, "Forbidden: the API key was revoked");
        assert!(close.send(revoked.clone()).is_ok());
        assert_eq!(resolves(&mut shutdown).await, Some(revoked));
        assert!(!going_away.is_announced());
    }
}
