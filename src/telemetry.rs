//! OpenTelemetry traces, exported over OTLP when the standard variables ask for it
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; also read:
//! `OTEL_EXPORTER_OTLP_PROTOCOL` = `http/protobuf` (default) or `http/json`,
//! `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`).
//!
//! The spans are `tracing` spans (a request, its parse/validate/execute stages, each SQL
//! statement, each event delivered to subscribers); `tracing-opentelemetry` turns them into
//! OpenTelemetry spans. Unset, no layer is installed and the stages and statements make no
//! span at all (`enabled()`), so nothing slows down.
//!
//! The trace context crosses processes in W3C `traceparent` form: from a client's header
//! into the request, and from a mutation through the outbox (`events.trace_parent`) into
//! the delivery of its event on every replica.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::export::trace::{ExportResult, SpanData, SpanExporter};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::TracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// A `traceparent` longer than this is ignored (the standard one is 55 bytes).
const MAX_TRACEPARENT: usize = 512;

/// Whether traces are exported (spans that only matter to them are skipped otherwise).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the environment asks for OTLP traces.
pub fn configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// The exporter's provider, once built (kept to flush at exit).
pub struct Traces {
    provider: TracerProvider,
}

impl Traces {
    /// Builds the OTLP pipeline, or says why it cannot (the server then runs without).
    pub fn start() -> Result<(Traces, opentelemetry_sdk::trace::Tracer), String> {
        let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
            Ok("http/json") => Protocol::HttpJson,
            Ok("http/protobuf") | Err(_) => Protocol::HttpBinary,
            Ok(other) => {
                return Err(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: use http/protobuf or http/json"
                ))
            }
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .build()
            .map_err(|err| err.to_string())?;
        let provider = TracerProvider::builder()
            .with_batch_exporter(
                WarnOnce::new(exporter),
                opentelemetry_sdk::runtime::TokioCurrentThread,
            )
            .build();
        let tracer = provider.tracer("ticketgate");
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        ENABLED.store(true, Ordering::Relaxed);
        Ok((Traces { provider }, tracer))
    }

    /// Sends what is still buffered (at exit).
    pub fn shutdown(self) {
        for result in self.provider.force_flush() {
            if let Err(err) = result {
                tracing::debug!(error = %err, "flushing traces");
            }
        }
        let _ = self.provider.shutdown();
    }
}

/// The exporter, warning once (not once per batch) while the collector cannot be reached:
/// requests never wait for it either way.
#[derive(Debug)]
struct WarnOnce<E> {
    inner: E,
    warned: std::sync::Arc<AtomicBool>,
}

impl<E> WarnOnce<E> {
    fn new(inner: E) -> Self {
        WarnOnce {
            inner,
            warned: std::sync::Arc::default(),
        }
    }
}

impl<E: SpanExporter> SpanExporter for WarnOnce<E> {
    fn export(&mut self, batch: Vec<SpanData>) -> BoxFuture<'static, ExportResult> {
        let export = self.inner.export(batch);
        let warned = self.warned.clone();
        Box::pin(async move {
            let result = export.await;
            match &result {
                Err(err) if !warned.swap(true, Ordering::Relaxed) => tracing::warn!(
                    error = %err,
                    "cannot export traces to the OTLP endpoint (warned once; requests are not affected)"
                ),
                Err(_) => {}
                Ok(()) => warned.store(false, Ordering::Relaxed),
            }
            result
        })
    }

    fn shutdown(&mut self) {
        self.inner.shutdown();
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

struct OneHeader<'a>(Option<&'a str>);

impl Extractor for OneHeader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// Makes `span` a child of the trace a `traceparent` names. A malformed or absurdly long
/// one is ignored: the span then starts a trace of its own.
pub fn follow(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent.filter(|value| value.len() <= MAX_TRACEPARENT) else {
        return;
    };
    let context = TraceContextPropagator::new().extract(&OneHeader(Some(traceparent)));
    if context.span().span_context().is_valid() {
        span.set_parent(context);
    }
}

/// The current span's context as a `traceparent` (None without traces).
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// The current trace's id in hex (None without traces), for logs.
pub fn current_trace_id() -> Option<String> {
    if !enabled() {
        return None;
    }
    let context: Context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The span of one GraphQL operation (named once its type and name are known: see
/// `name_operation`); none without traces.
pub fn operation_span() -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        "graphql.operation",
        otel.name = "graphql",
        graphql.operation.type = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
    )
}

/// The span of the gateway's parsing and document limits; none without traces.
pub fn parse_span() -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!("graphql.parse")
}

/// Names the current operation span as the semantic conventions say: `query Inbox`, or
/// the type alone for an anonymous operation.
pub fn name_operation(kind: &str, name: Option<&str>) {
    if !enabled() {
        return;
    }
    let span = tracing::Span::current();
    span.record("graphql.operation.type", kind);
    match name {
        Some(name) => {
            span.record("graphql.operation.name", name);
            span.record("otel.name", format!("{kind} {name}"));
        }
        None => {
            span.record("otel.name", kind);
        }
    }
}

/// Longest statement text put in a span.
const MAX_STATEMENT_TEXT: usize = 2048;

/// The span of one SQL statement, from Diesel's rendering of it: the text with its
/// placeholders, never the values bound to them (Diesel appends those after ` -- binds: `,
/// cut off here). None without traces.
pub fn statement_span(statement: &dyn std::fmt::Display) -> Option<tracing::Span> {
    if !enabled() {
        return None;
    }
    let rendered = statement.to_string();
    let text = rendered
        .split_once(" -- binds: ")
        .map_or(rendered.as_str(), |(text, _)| text)
        .trim();
    let text = match text.char_indices().nth(MAX_STATEMENT_TEXT) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    let verb = text
        .split_whitespace()
        .next()
        .unwrap_or("SQL")
        .to_ascii_uppercase();
    Some(tracing::info_span!(
        "db.query",
        otel.name = %verb,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        db.system = "postgresql",
        db.query.text = text,
    ))
}
