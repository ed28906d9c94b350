//! The request's span (exported when traces are on; see `telemetry`) and its access log
//! line (when `TICKETGATE_ACCESS_LOG` is on). With neither, a request passes straight
//! through: no span is made, no clock read.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use tracing::field::Empty;
use tracing::Instrument as _;

use super::AppState;
use crate::telemetry;

pub async fn traced(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let access_log = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.access_log);
    if !telemetry::enabled() && !access_log {
        return next.call(req).await;
    }
    let started = Instant::now();
    let method = req.method().to_string();
    // The route pattern, not the raw path: span names and log fields stay few and hold no
    // ids.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let span = match telemetry::enabled() {
        true => {
            let span = tracing::info_span!(
                "http.request",
                otel.name = %format_args!("{method} {route}"),
                otel.kind = "server",
                otel.status_code = Empty,
                http.request.method = method.as_str(),
                http.route = route.as_str(),
                http.response.status_code = Empty,
            );
            let traceparent = req
                .headers()
                .get("traceparent")
                .and_then(|value| value.to_str().ok());
            telemetry::follow(&span, traceparent);
            span
        }
        false => tracing::Span::none(),
    };
    let outcome = next.call(req).instrument(span.clone()).await;
    let status = match &outcome {
        Ok(response) => response.status().as_u16(),
        Err(err) => err.as_response_error().status_code().as_u16(),
    };
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    if access_log {
        let trace_id = span.in_scope(telemetry::current_trace_id);
        tracing::info!(
            target: "ticketgate::access",
            method = method.as_str(),
            route = route.as_str(),
            status,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            trace_id = trace_id.as_deref(),
            "request"
        );
    }
    outcome
}
