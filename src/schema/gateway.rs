//! The schema as every transport runs it: the document limits first, then async-graphql,
//! then a stable code on every error it raised.
//!
//! This was two async-graphql extensions. Any extension at all, even one that only hooks
//! the request, sends every field of every response down async-graphql's slow path (a
//! registry look-up and a chain of boxed futures per field): on a 50-ticket page that was
//! about a sixth of the server's CPU. Both transports (HTTP and websockets) go through
//! here instead, via async-graphql's own `Executor` trait.
//!
//! Queries whose documents passed full validation before and cannot fail it now (see
//! `documents`) run on a second build of the same schema in async-graphql's fast
//! validation mode: the full rules are about a tenth of a page's CPU.

use std::any::TypeId;
use std::future::ready;
use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
};
use async_graphql::{Data, Executor, Positioned, Request, Response, ServerError, Value};
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use tracing::Instrument as _;

use super::build::GraphqlSchema;
use crate::auth::Viewer;
use crate::error::ErrorCode;
use crate::graphql::budget::{self, HeldBytes, Holder};
use crate::graphql::documents::{DocumentCache, Prepared, MAX_CACHED_BYTES};
use crate::graphql::error_codes::{code_response, parse_failed};
use crate::graphql::limits::{self, DocumentLimits};
use crate::graphql::trusted::{TrustedDocuments, TrustedMode};
use crate::graphql::{is_request_error, lexical, shape, spec_rules, variables};
use crate::metrics::{ActiveGauge, OperationMetrics};
use crate::telemetry;

/// Built once at start-up and shared (cheap to clone).
#[derive(Clone)]
pub struct Gateway {
    schema: GraphqlSchema,
    /// The same schema, validating only depth, complexity and fragment cycles.
    prevalidated: GraphqlSchema,
    limits: DocumentLimits,
    documents: Option<Arc<DocumentCache>>,
    /// Bytes of text a response may carry (0: no budget); see `budget`.
    max_response_bytes: usize,
    /// What each credential's requests in flight hold together.
    held: Arc<HeldBytes>,
    /// Whether API keys may introspect (customer tokens never do).
    introspection: bool,
    /// Where each operation's latency is counted (None: nowhere, e.g. printing the SDL).
    operations: Option<OperationMetrics>,
    /// Which operations may run at all (None: any, e.g. printing the SDL).
    trusted: Option<TrustedDocuments>,
}

impl Gateway {
    pub fn new(
        schema: GraphqlSchema,
        prevalidated: GraphqlSchema,
        limits: DocumentLimits,
        documents: usize,
        max_response_bytes: usize,
        max_held_bytes_per_key: usize,
        introspection: bool,
    ) -> Self {
        Gateway {
            introspection,
            schema,
            prevalidated,
            limits,
            max_response_bytes,
            held: Arc::new(HeldBytes::new(max_held_bytes_per_key)),
            documents: DocumentCache::new(documents, MAX_CACHED_BYTES).map(Arc::new),
            operations: None,
            trusted: None,
        }
    }

    /// Runs only trusted documents when `trusted` says so (`TICKETGATE_TRUSTED_DOCUMENTS`).
    pub fn with_trusted_documents(mut self, trusted: TrustedDocuments) -> Self {
        self.trusted = Some(trusted).filter(|trusted| trusted.mode() == TrustedMode::Only);
        self
    }

    /// Counts every operation's latency by type and name in `metrics`.
    pub fn with_operation_metrics(mut self, metrics: OperationMetrics) -> Self {
        self.operations = Some(metrics);
        self
    }

    /// The SDL clients see.
    pub fn sdl(&self) -> String {
        self.schema.sdl()
    }

    /// Checks the request before anything recursive touches it, then parses the document
    /// (kept in the request, so async-graphql does not parse it again) and measures it; a
    /// refusal is the whole response's one error. The order matters: the text's nesting is
    /// bounded before the parser runs, the fragments' depth before anything follows them,
    /// and a document is kept in the cache only once every check passed.
    fn admit(&self, request: &mut Request) -> Result<Prepared, ServerError> {
        let lexed = lexical::scan(&request.query);
        if lexed.nesting > lexical::MAX_NESTING {
            // Nested too deep in its text (the code async-graphql's depth limit gets too).
            return Err(ErrorCode::QueryTooDeep.server_error(
                format!(
                    "the document nests brackets {} deep: at most {}",
                    lexed.nesting,
                    lexical::MAX_NESTING
                ),
                None,
            ));
        }
        self.limits.check_tokens(lexed.tokens)?;
        if !lexed.escaped_block_strings.is_empty() {
            request.query =
                lexical::fix_block_strings(&request.query, &lexed.escaped_block_strings);
        }
        if let Some(documents) = &self.documents {
            let prepared = documents.prepare(request);
            if prepared.kept {
                return Ok(prepared);
            }
        }
        let document = request.parsed_query().map_err(parse_failed)?;
        if shape::depth(document) > shape::MAX_DEPTH {
            return Err(ErrorCode::QueryTooDeep.server_error(
                format!(
                    "the document nests fields and fragments more than {} levels deep",
                    shape::MAX_DEPTH
                ),
                None,
            ));
        }
        self.limits.check(document)?;
        spec_rules::check(document)?;
        if let Some(moved) = spec_rules::typename_directives_moved(document) {
            request.set_parsed_query(moved);
        }
        Ok(match &self.documents {
            Some(documents) => documents.keep(request),
            None => Prepared::default(),
        })
    }

    /// Runs an admitted request, and remembers a document that passed full validation
    /// (or forgets one that failed it).
    async fn run(&self, request: Request, prepared: Prepared) -> Response {
        if prepared.validated {
            return self.prevalidated.execute(request).await;
        }
        let remember = match (&self.documents, prepared.kept) {
            (Some(documents), true) => Some((
                documents,
                request.query.clone(),
                request.operation_name.clone(),
            )),
            _ => None,
        };
        let response = self.schema.execute(request).await;
        if let Some((documents, query, operation)) = remember {
            if is_request_error(&response) {
                documents.forget(&query);
            } else if prepared.may_skip_validation && response.errors.is_empty() {
                // No error at all: validation passed (a failed one is the response's only
                // error).
                documents.mark_validated(&query, operation);
            }
        }
        response
    }
}

impl Gateway {
    /// Refuses `__schema`/`__type` with a stable code when introspection is off, or to a
    /// customer token: what a public support widget hands every visitor has no use for the
    /// whole schema, and its queries are the ones most worth keeping small. (With
    /// introspection off async-graphql would answer "unknown field", which reads like a
    /// client bug.)
    fn check_introspection(&self, request: &mut Request) -> Result<(), ServerError> {
        let customer = viewer_in(&request.data).is_some_and(Viewer::is_customer);
        if self.introspection && !customer {
            return Ok(());
        }
        let name = request.operation_name.clone();
        let Ok(document) = request.parsed_query() else {
            return Ok(());
        };
        let Some(at) = pick_operation(document, name.as_deref())
            .and_then(|operation| limits::introspection_at(document, &operation.node))
        else {
            return Ok(());
        };
        let message = match customer {
            true => "introspection is not available to customer tokens: use an API key",
            false => "introspection is turned off on this server (TICKETGATE_INTROSPECTION)",
        };
        Err(ErrorCode::IntrospectionDisabled.server_error(message, Some(at)))
    }

    /// Gives a request its response budget. A subscription gets none: it lives for hours,
    /// and each of its events is small and bounded by the list limits.
    fn budget(&self, request: &mut Request) {
        if self.max_response_bytes == 0 || is_subscription(request) {
            return;
        }
        let holder = request
            .data
            .get(&TypeId::of::<Viewer>())
            .and_then(|viewer| viewer.downcast_ref::<Viewer>())
            .and_then(|viewer| match (viewer.key_id, viewer.is_customer()) {
                (_, true) => Some(Holder::CustomersOf(viewer.team_id)),
                (Some(key), false) => Some(Holder::Key(key)),
                (None, false) => None,
            });
        let budget = self.held.budget(self.max_response_bytes, holder);
        request.data.insert(budget);
    }
}

/// The operation the request runs (`None` when it cannot tell: execution reports that).
fn chosen_operation(request: &mut Request) -> Option<&Positioned<OperationDefinition>> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    pick_operation(document, name.as_deref())
}

fn pick_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(single), _) => Some(single),
        (DocumentOperations::Multiple(named), Some(name)) => named.get(name),
        (DocumentOperations::Multiple(named), None) if named.len() == 1 => named.values().next(),
        _ => None,
    }
}

fn is_subscription(request: &mut Request) -> bool {
    chosen_operation(request)
        .is_some_and(|operation| operation.node.ty == OperationType::Subscription)
}

/// The variables' values against the chosen operation's definitions, defaults filled in
/// (see `variables`).
fn check_variables(request: &mut Request) -> Result<(), ServerError> {
    let mut given = std::mem::take(&mut request.variables);
    let verdict = match chosen_operation(request) {
        Some(operation) => variables::coerce(&operation.node, &mut given),
        None => Ok(()),
    };
    request.variables = given;
    verdict
}

/// An operation that ran without an error answers an object, even when `@skip` or
/// `@include` left it no field: async-graphql answers `"data": null` then, which clients
/// read as a failure.
fn with_object_data(mut response: Response) -> Response {
    if response.errors.is_empty() && response.data == Value::Null {
        response.data = Value::Object(Default::default());
    }
    response
}

impl Executor for Gateway {
    async fn execute(&self, request: Request) -> Response {
        let started = std::time::Instant::now();
        let span = telemetry::operation_span();
        let (response, label) = self.execute_labelled(request).instrument(span).await;
        if let Some(metrics) = &self.operations {
            let result = match (&label, is_request_error(&response)) {
                (_, true) => "refused",
                (_, false) if !response.errors.is_empty() => "error",
                _ => "ok",
            };
            let (kind, name) = match &label {
                Some(label) => (label.kind, label.name.as_deref()),
                None => ("unknown", None),
            };
            metrics.observe(kind, name, result, started.elapsed().as_secs_f64());
        }
        response
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let Some(trusted) = self.trusted.clone() else {
            return self.stream_admitted(request, session_data);
        };
        let gateway = self.clone();
        stream::once(async move {
            let viewer = viewer_in(&request.data)
                .or_else(|| session_data.as_deref().and_then(viewer_in))
                .cloned();
            match trusted.permits(viewer.as_ref(), &request.query).await {
                Ok(()) => gateway.stream_admitted(request, session_data),
                Err(refusal) => stream::once(ready(Response::from_errors(vec![refusal]))).boxed(),
            }
        })
        .flatten()
        .boxed()
    }
}

impl Gateway {
    fn stream_admitted(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let admitted = telemetry::parse_span().in_scope(|| {
            self.admit(&mut request)
                .and_then(|_| check_variables(&mut request))
        });
        if let Err(refusal) = admitted {
            return stream::once(ready(Response::from_errors(vec![refusal]))).boxed();
        }
        self.budget(&mut request);
        // A subscription counts in its protocol's gauge while its stream lives.
        let active = is_subscription(&mut request)
            .then(|| session_data.as_deref().and_then(gauge_of))
            .flatten()
            .map(|gauge| gauge.hold());
        let query = request.query.clone();
        Executor::execute_stream(&self.schema, request, session_data)
            .map(move |response| {
                let _held = &active;
                match budget::exceeded(&response) {
                    Some(error) => Response::from_errors(vec![error]),
                    None => with_object_data(code_response(response, &query)),
                }
            })
            .boxed()
    }
}

/// What an operation is, for its span and metrics.
struct OperationLabel {
    kind: &'static str,
    name: Option<String>,
}

impl Gateway {
    async fn execute_labelled(&self, mut request: Request) -> (Response, Option<OperationLabel>) {
        if let Some(trusted) = &self.trusted {
            let viewer = viewer_in(&request.data).cloned();
            if let Err(refusal) = trusted.permits(viewer.as_ref(), &request.query).await {
                return (Response::from_errors(vec![refusal]), None);
            }
        }
        let admitted = telemetry::parse_span().in_scope(|| {
            self.admit(&mut request).and_then(|prepared| {
                self.check_introspection(&mut request)?;
                check_variables(&mut request).map(|()| prepared)
            })
        });
        let prepared = match admitted {
            Ok(prepared) => prepared,
            // Not labelled: the document may not even have been parsed (and must not be).
            Err(refusal) => return (Response::from_errors(vec![refusal]), None),
        };
        let label = operation_label(&mut request);
        if let Some(label) = &label {
            telemetry::name_operation(label.kind, label.name.as_deref());
        }
        self.budget(&mut request);
        let query = request.query.clone();
        let response = self.run(request, prepared).await;
        // Over budget: the error alone, and what was built is freed before it is sent.
        if let Some(error) = budget::exceeded(&response) {
            return (Response::from_errors(vec![error]), label);
        }
        (with_object_data(code_response(response, &query)), label)
    }
}

/// The type and name of the operation an admitted request runs (its document parsed).
fn operation_label(request: &mut Request) -> Option<OperationLabel> {
    let given = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let name = match (&document.operations, given) {
        (DocumentOperations::Single(_), _) => None,
        (DocumentOperations::Multiple(named), Some(name)) => {
            named.contains_key(name.as_str()).then_some(name)
        }
        (DocumentOperations::Multiple(named), None) if named.len() == 1 => {
            named.keys().next().map(|name| name.to_string())
        }
        _ => return None,
    };
    let operation = pick_operation(document, name.as_deref())?;
    let kind = match operation.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    Some(OperationLabel { kind, name })
}

fn viewer_in(data: &Data) -> Option<&Viewer> {
    data.get(&TypeId::of::<Viewer>())
        .and_then(|viewer| viewer.downcast_ref::<Viewer>())
}

fn gauge_of(data: &Data) -> Option<&ActiveGauge> {
    data.get(&TypeId::of::<ActiveGauge>())
        .and_then(|gauge| gauge.downcast_ref::<ActiveGauge>())
}
