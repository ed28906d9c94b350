//! GraphQL over websockets on `/graphql`: the actix handshake and the application's
//! credentials around the `graphql-ws` crate, which speaks both subprotocols.
//!
//! The key is sent in `connection_init`: `{"Authorization": "Bearer …"}` (the name in any
//! letter case, or under `headers`). Every operation runs with the connection's viewer and
//! loaders, after the `authorize` hook accepted it. The socket leaves actix-http once the
//! handshake is accepted (see `upgrade`).

use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use async_graphql::{Data, ErrorExtensions, Executor, ServerError};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use graphql_ws::{close, Admission, Admit, CloseFrame, Rejection, Shutdown, WsSettings};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

use super::upgrade::{Handoff, Upgradable};
use super::{refusal_body, AppState};
use crate::auth::TicketScope;
use crate::auth::Viewer;
use crate::error::{AppError, ErrorCode};
use crate::events::presence::ConnectionPresence;
use crate::graphql::loaders::{loaders, RequestActivity};
use crate::metrics::ActiveGauge;
use prometheus::IntGaugeVec;

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
    let (close, shutdown) = graphql_ws::closer(&state.going_away);
    accept(
        req,
        schema,
        settings,
        admit(state.clone(), authorize, close),
        shutdown,
        &state.metrics.subscriptions,
    )
}

/// Closes the connection (4403) when its credential stops being valid: its API key is
/// revoked (on any replica: revocations come through LISTEN/NOTIFY) or its customer token
/// expires. Ends by itself with the connection.
fn watch_credential(
    state: &AppState,
    viewer: &Viewer,
    mut close: oneshot::Sender<CloseFrame>,
    slot: graphql_ws::slots::Slot,
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
            let viewer = state
                .auth
                .authenticate(authorization.as_deref())
                .await
                .map_err(rejection)?;
            let Some(slot) = state.ws_slots.acquire(slot_key(&viewer)) else {
                tracing::debug!("websocket refused: too many connections for this key");
                return Err(Rejection::Forbidden);
            };
            watch_credential(&state, &viewer, close, slot);
            let activity = RequestActivity::default();
            let mut data = Data::default();
            data.insert(loaders(
                state.db.clone(),
                TicketScope::of(&viewer),
                activity.clone(),
            ));
            data.insert(viewer.clone());
            // Ends what the connection made present when it goes (see `presence`).
            data.insert(ConnectionPresence::new(state.db.clone()));
            let credentials = Credentials {
                viewer,
                authorization: authorization.unwrap_or_default(),
            };
            Ok(Admission {
                data: Arc::new(data),
                on_poll: Some(Rc::new(move || activity.polled())),
                authorize: Box::new(move || {
                    let authorized = authorize(state.clone(), credentials.clone());
                    async move { authorized.await.map_err(rejection) }.boxed_local()
                }),
            })
        }
        .boxed_local()
    })
}

/// The credential a connection slot is counted for: a customer of a team, or an API key.
pub(super) fn slot_key(viewer: &Viewer) -> String {
    match (&viewer.customer, viewer.key_id) {
        (Some(distinct_id), _) => format!("c:{}:{distinct_id}", viewer.team_id),
        (None, key_id) => format!("k:{}", key_id.unwrap_or_default()),
    }
}

/// How the transport treats an error checking a credential: a key that is not (or no
/// longer) valid closes the connection; any other error (the database is down, say) is
/// reported with its code.
fn rejection(err: AppError) -> Rejection {
    if matches!(err, AppError::Unauthenticated(_) | AppError::Forbidden(_)) {
        return Rejection::Forbidden;
    }
    let error = err.extend();
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    Rejection::Failed(server_error)
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
    subscriptions: &IntGaugeVec,
) -> actix_web::Result<HttpResponse> {
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    let Some(protocol) = graphql_ws::negotiate(offered) else {
        return Ok(no_subprotocol());
    };
    let admit = counted_in(
        admit,
        ActiveGauge(subscriptions.with_label_values(&[protocol.name()])),
    );
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
            graphql_ws::serve(tcp, unread, protocol, executor, settings, admit, shutdown)
        }));
    Ok(response)
}

/// Admits as `admit` does, and gives the connection's operations the gauge their
/// subscriptions count in (the gateway holds it while a subscription streams).
fn counted_in(admit: Admit, gauge: ActiveGauge) -> Admit {
    Box::new(move |payload| {
        let admitted = admit(payload);
        async move {
            let mut admission = admitted.await?;
            // Just built by `admit`, so not shared yet.
            if let Some(data) = Arc::get_mut(&mut admission.data) {
                data.insert(gauge);
            }
            Ok(admission)
        }
        .boxed_local()
    })
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
        .body(refusal_body(
            ErrorCode::BadRequest,
            "websocket connections to /graphql must offer the \
             `graphql-transport-ws` or the `graphql-ws` subprotocol \
             (Sec-WebSocket-Protocol)",
        ))
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
mod transport_code_tests {
    use crate::error::ErrorCode;

    /// `graphql-ws` knows nothing of the app, so it spells the codes it sends itself:
    /// they must be the app's, string for string.
    #[test]
    fn the_transports_codes_are_error_codes() {
        let pairs = [
            (graphql_ws::codes::BAD_REQUEST, ErrorCode::BadRequest),
            (
                graphql_ws::codes::UNAUTHENTICATED,
                ErrorCode::Unauthenticated,
            ),
            (
                graphql_ws::codes::TOO_MANY_SUBSCRIPTIONS,
                ErrorCode::TooManySubscriptions,
            ),
        ];
        for (transport, app) in pairs {
            assert_eq!(transport, app.as_str());
        }
    }
}
