//! The HTTP surface: GraphQL over HTTP, websockets, GraphiQL, health and metrics.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod inbox;
pub mod metrics;
pub mod negotiate;
pub mod persisted;
pub mod rate_limit;
pub mod server;
pub mod slow_clients;
pub mod sse;
pub mod trace;
pub mod upgrade;
pub mod ws;

use std::sync::Arc;

use actix_web::{guard, web};

use crate::auth::bearer::Authenticator;
use crate::db::Db;
use crate::error::ErrorCode;
use crate::metrics::Metrics;
use crate::schema::AppSchema;

/// Request-level limits enforced before GraphQL sees a request.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub max_batch: usize,
    /// How long a request body may take to arrive (then 408); None: no deadline.
    pub body_timeout: Option<std::time::Duration>,
}

/// Shared by every handler (one per server, cloned cheaply into each worker).
pub struct AppState {
    pub schema: AppSchema,
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub auth: Authenticator,
    pub rate_limit: rate_limit::RateLimit,
    /// Events and key revocations from every replica (subscriptions, websocket closing).
    pub broker: Arc<crate::events::Broker>,
    pub limits: HttpLimits,
    pub ws: graphql_ws::WsSettings,
    pub ws_slots: graphql_ws::slots::ConnectionSlots,
    /// Announced when the server begins a graceful stop (see `App::handle`).
    pub going_away: graphql_ws::GoingAway,
    /// One log line per request (see `trace`).
    pub access_log: bool,
    /// Automatic persisted queries this replica has seen lately.
    pub persisted: crate::graphql::persisted::PersistedCache,
    /// Trusted documents, run by their id (and, in `only` mode, the only operations).
    pub trusted: crate::graphql::trusted::TrustedDocuments,
    /// Single-connection event streams reserved on this replica (see `sse::single`).
    pub sse: sse::single::Streams,
    /// Standbys that take queries (`DATABASE_READ_URL`), if any.
    pub replicas: Option<std::sync::Arc<crate::db::replicas::ReadReplicas>>,
}

/// The JSON body of a request refused before GraphQL runs (4xx): one coded GraphQL error,
/// `{"errors":[{"message":…,"extensions":{"code":…}}]}`.
fn refusal_body(code: ErrorCode, message: impl Into<String>) -> String {
    serde_json::json!({ "errors": [code.server_error(message, None)] }).to_string()
}

/// `Upgrade: websocket`, in any letter case (RFC 6455 compares it case-insensitively).
fn is_websocket(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/", web::get().to(|| async { graphiql::page() }))
        .service(
            web::resource("/graphql")
                .route(
                    web::post()
                        .guard(guard::fn_guard(sse::has_stream_token))
                        .to(sse::single::run),
                )
                .route(
                    web::post()
                        .guard(guard::fn_guard(sse::accepts_event_stream))
                        .to(sse::distinct::post),
                )
                .route(web::post().to(graphql::post))
                .route(
                    web::get()
                        .guard(guard::fn_guard(is_websocket))
                        .to(ws::upgrade),
                )
                .route(
                    web::get()
                        .guard(guard::fn_guard(sse::has_stream_token))
                        .to(sse::single::open),
                )
                .route(
                    web::get()
                        .guard(guard::fn_guard(sse::accepts_event_stream))
                        .to(sse::distinct::get),
                )
                .route(web::get().to(graphql::get))
                .route(web::put().to(sse::single::reserve))
                .route(
                    web::delete()
                        .guard(guard::fn_guard(sse::has_stream_token))
                        .to(sse::single::stop),
                )
                .route(web::route().to(graphql::method_not_allowed)),
        )
        .configure(graphiql::configure)
        .configure(inbox::configure);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_body_is_one_coded_error() {
        assert_eq!(
            refusal_body(ErrorCode::PayloadTooLarge, "too big"),
            r#"{"errors":[{"message":"too big","extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}"#
        );
    }
}
