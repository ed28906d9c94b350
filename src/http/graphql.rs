//! GraphQL over HTTP (POST and GET on `/graphql`), following the GraphQL-over-HTTP spec:
//! content negotiation, 4xx for malformed requests, no mutations over GET, body limits.

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use async_graphql::parser::types::OperationType;
use async_graphql::{Executor, Request, Response, ServerError, Variables};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::negotiate::{self, RequestBody, ResponseType};
use super::persisted::{self, Incoming};
use super::{graphiql, refusal_body, AppState};
use crate::auth::TicketScope;
use crate::auth::Viewer;
use crate::db::Db;
use crate::error::{AppError, ErrorCode};
use crate::graphql::context::RequestDb;
use crate::graphql::is_request_error;
use crate::graphql::lexical;
use crate::graphql::loaders::{loaders, RequestActivity};
use crate::graphql::{self, persisted::Hash};

/// A refusal before GraphQL runs: an HTTP status with one coded GraphQL error.
pub(super) struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    /// Seconds, for `Retry-After` (rate limit).
    retry_after: Option<u64>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub(super) fn into_response(self, response_type: ResponseType) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type(response_type.content_type());
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response.insert_header((header::ALLOW, "GET, POST"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(refusal_body(self.code, self.message))
    }
}

impl From<AppError> for Refusal {
    fn from(err: AppError) -> Self {
        let status = match err {
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::DbUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let gql = async_graphql::ErrorExtensions::extend(&err);
        Refusal::new(status, err.code(), gql.message)
    }
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The response type the client accepts; refusals of it are sent as plain JSON.
fn negotiated(req: &HttpRequest) -> Result<ResponseType, Refusal> {
    negotiate::response_type(header_str(req, header::ACCEPT)).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            ErrorCode::NotAcceptable,
            "accept application/graphql-response+json or application/json",
        )
    })
}

/// The caller, within their rate limit.
pub(super) async fn viewer(req: &HttpRequest, state: &AppState) -> Result<Viewer, Refusal> {
    let authorization = header_str(req, header::AUTHORIZATION);
    let viewer = state.auth.authenticate(authorization).await?;
    state.rate_limit.check(&viewer).map_err(|wait| {
        let seconds = retry_after(wait);
        Refusal {
            retry_after: Some(seconds),
            ..Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("too many requests for this key: retry in {seconds} s"),
            )
        }
    })?;
    Ok(viewer)
}

/// Whole seconds to wait, at least one (`Retry-After` takes seconds).
fn retry_after(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// `POST /graphql`: one operation, or a batch as a JSON array.
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let response_type = match negotiated(&req) {
        Ok(response_type) => response_type,
        Err(refusal) => return refusal.into_response(ResponseType::Json),
    };
    match handle_post(&req, payload, &state, response_type).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(response_type),
    }
}

async fn handle_post(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    response_type: ResponseType,
) -> Result<HttpResponse, Refusal> {
    let viewer = viewer(req, state).await?;
    let kind = negotiate::request_body(header_str(req, header::CONTENT_TYPE)).map_err(|why| {
        Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            why,
        )
    })?;
    let body = read_body_in_time(req, payload, state).await?;
    let operations = match kind {
        RequestBody::GraphqlQuery => {
            let query = String::from_utf8(body)
                .map_err(|_| Refusal::bad_request("the body is not valid UTF-8"))?;
            Operations::Single(Box::new(Incoming::plain(Request::new(query))))
        }
        RequestBody::Json => parse_json_body(&body, state.limits.max_batch)?,
    };
    Ok(match operations {
        Operations::Single(request) => {
            let response = execute(state, *request, &viewer).await;
            single_response(response, response_type)
        }
        Operations::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(execute(state, request, &viewer).await);
            }
            let bodies: Vec<_> = responses.iter().map(ResponseBody::of).collect();
            HttpResponse::Ok()
                .content_type(response_type.content_type())
                .body(to_json(&bodies))
        }
    })
}

/// Runs one operation as `viewer` (its persisted query looked up first), with loaders of
/// its own (scoped to the viewer's team) that batch by the request's activity (see
/// `RequestActivity`).
async fn execute(state: &AppState, incoming: Incoming, viewer: &Viewer) -> Response {
    match persisted::resolve(state, viewer, incoming).await {
        Ok((request, to_register)) => {
            let response = run(state, request, viewer).await;
            if let Some(to_register) = to_register.filter(|_| !is_request_error(&response)) {
                persisted::register(state, viewer, to_register).await;
            }
            response
        }
        Err(error) => Response::from_errors(vec![error]),
    }
}

async fn run(state: &AppState, request: Request, viewer: &Viewer) -> Response {
    let Some(replicas) = &state.replicas else {
        return run_on(state, request, viewer, state.db.clone()).await;
    };
    // Queries may read a standby; a document that may write stays on the primary, and
    // afterwards the caller's reads wait for a standby to replay its write.
    let caller = super::ws::slot_key(viewer);
    if !lexical::may_write(&request.query) {
        let db = replicas.for_read(&caller);
        return run_on(state, request, viewer, db).await;
    }
    let response = run_on(state, request, viewer, state.db.clone()).await;
    if !is_request_error(&response) {
        replicas.wrote(&caller).await;
    }
    response
}

/// Runs the request with its loaders and resolvers reading `db`.
async fn run_on(state: &AppState, request: Request, viewer: &Viewer, db: Db) -> Response {
    let activity = RequestActivity::default();
    let loaders = loaders(db.clone(), TicketScope::of(viewer), activity.clone());
    let request = request
        .data(viewer.clone())
        .data(loaders)
        .data(RequestDb(db));
    activity.track(state.schema.execute(request)).await
}

enum Operations {
    Single(Box<Incoming>),
    Batch(Vec<Incoming>),
}

/// Reads the body within the body deadline, else refuses it (408, counted): a client that
/// declares more than it sends would otherwise hold its connection (and a worker's
/// attention) for as long as it likes. Answering before the body is read makes actix-http
/// close the connection after the answer.
pub(super) async fn read_body_in_time(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Vec<u8>, Refusal> {
    let reading = read_body(req, payload, state.limits.max_body_bytes);
    let Some(limit) = state.limits.body_timeout else {
        return reading.await;
    };
    match tokio::time::timeout(limit, reading).await {
        Ok(body) => body,
        Err(_) => {
            state
                .metrics
                .request_timeouts
                .with_label_values(&["body"])
                .inc();
            Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                format!(
                    "the request body did not arrive within {} ms",
                    limit.as_millis()
                ),
            ))
        }
    }
}

/// Reads the body, refusing (413) as soon as it passes the limit, without buffering more.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, Refusal> {
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = header_str(req, header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| Refusal::bad_request("the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn parse_json_body(body: &[u8], max_batch: usize) -> Result<Operations, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| Refusal::bad_request(format!("the body is not valid JSON: {err}")))?;
    match value {
        Value::Object(fields) => Ok(Operations::Single(Box::new(graphql_request(fields)?))),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(Refusal::bad_request(
                    "a batch must hold at least one operation",
                ));
            }
            if items.len() > max_batch {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BatchTooLarge,
                    format!("a batch may hold at most {max_batch} operations"),
                ));
            }
            let requests = items
                .into_iter()
                .map(|item| match item {
                    Value::Object(fields) => graphql_request(fields),
                    _ => Err(Refusal::bad_request("each batch entry must be an object")),
                })
                .collect::<Result<_, _>>()?;
            Ok(Operations::Batch(requests))
        }
        _ => Err(Refusal::bad_request(
            "the body must be a JSON object with a `query` (or an array of them)",
        )),
    }
}

/// Checks the parameters of one operation as the spec defines them (a `query` may be left
/// out when `extensions.persistedQuery` names it).
pub(super) fn graphql_request(mut fields: Map<String, Value>) -> Result<Incoming, Refusal> {
    let persisted = match fields.remove("extensions") {
        None | Some(Value::Null) => None,
        Some(extensions @ Value::Object(_)) => persisted_hash(&extensions)?,
        Some(_) => return Err(Refusal::bad_request("`extensions` must be an object")),
    };
    let document_id = match (fields.remove("documentId"), fields.remove("doc_id")) {
        (None | Some(Value::Null), None | Some(Value::Null)) => None,
        (Some(Value::String(id)), None | Some(Value::Null))
        | (None | Some(Value::Null), Some(Value::String(id))) => Some(id),
        _ => {
            return Err(Refusal::bad_request(
                "`documentId` (or `doc_id`) must be one string",
            ))
        }
    };
    let query = match fields.remove("query") {
        Some(Value::String(_)) if document_id.is_some() => {
            return Err(Refusal::bad_request(
                "send either `query` or `documentId`, not both",
            ))
        }
        Some(Value::String(query)) => query,
        None | Some(Value::Null) if persisted.is_some() || document_id.is_some() => String::new(),
        Some(_) => return Err(Refusal::bad_request("`query` must be a string")),
        None => return Err(Refusal::bad_request("`query` is required")),
    };
    let mut request = Request::new(query);
    match fields.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err(Refusal::bad_request("`operationName` must be a string")),
    }
    match fields.remove("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(Variables::from_json(variables))
        }
        Some(_) => return Err(Refusal::bad_request("`variables` must be an object")),
    }
    Ok(Incoming {
        request,
        persisted,
        document_id,
    })
}

/// The hash `extensions.persistedQuery` names, if any (400 when it is malformed).
fn persisted_hash(extensions: &Value) -> Result<Option<Hash>, Refusal> {
    graphql::persisted::requested(extensions).map_err(|why| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::PersistedQueryInvalid,
            why,
        )
    })
}

/// A response as the spec lays it out: no `data` for a request error, no empty `errors`
/// or `extensions`. Serialized straight from async-graphql's values (no intermediate
/// `serde_json::Value` tree: that copy was a tenth of a page's CPU).
#[derive(Serialize)]
pub(super) struct ResponseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

impl<'a> ResponseBody<'a> {
    pub(super) fn of(response: &'a Response) -> Self {
        ResponseBody {
            data: (!is_request_error(response)).then_some(&response.data),
            errors: &response.errors,
            extensions: &response.extensions,
        }
    }
}

fn to_json(body: &impl Serialize) -> Vec<u8> {
    // Serializing values that are already JSON-shaped does not fail; an empty object is
    // the least surprising fallback should it ever.
    serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec())
}

fn single_response(response: Response, response_type: ResponseType) -> HttpResponse {
    let status =
        if response_type == ResponseType::GraphqlResponseJson && is_request_error(&response) {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
    let mut http = HttpResponse::build(status);
    http.content_type(response_type.content_type());
    for (name, value) in response.http_headers.iter() {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            http.append_header((name.as_str(), value));
        }
    }
    http.body(to_json(&ResponseBody::of(&response)))
}

#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
    #[serde(rename = "documentId", alias = "doc_id")]
    document_id: Option<String>,
}

/// `GET /graphql`: GraphiQL for browsers, otherwise a query from the URL's parameters.
/// Mutations are refused (405): a GET must never change anything.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if negotiate::wants_html(header_str(&req, header::ACCEPT)) && req.query_string().is_empty() {
        return graphiql::page();
    }
    let response_type = match negotiated(&req) {
        Ok(response_type) => response_type,
        Err(refusal) => return refusal.into_response(ResponseType::Json),
    };
    match handle_get(&req, &state, response_type).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(response_type),
    }
}

async fn handle_get(
    req: &HttpRequest,
    state: &AppState,
    response_type: ResponseType,
) -> Result<HttpResponse, Refusal> {
    let viewer = viewer(req, state).await?;
    let incoming = get_incoming(req)?;
    // The persisted query first: a hash may name a mutation, which GET must not run.
    let (mut request, to_register) = match persisted::resolve(state, &viewer, incoming).await {
        Ok(resolved) => resolved,
        Err(error) => {
            return Ok(single_response(
                Response::from_errors(vec![error]),
                response_type,
            ))
        }
    };
    if is_mutation(&mut request) {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "mutations are only accepted over POST",
        ));
    }
    let response = run(state, request, &viewer).await;
    if let Some(to_register) = to_register.filter(|_| !is_request_error(&response)) {
        persisted::register(state, &viewer, to_register).await;
    }
    Ok(single_response(response, response_type))
}

/// The operation a GET names in its parameters (its persisted query not looked up yet).
pub(super) fn get_incoming(req: &HttpRequest) -> Result<Incoming, Refusal> {
    let params = web::Query::<GetParams>::from_query(req.query_string())
        .map_err(|_| Refusal::bad_request("the query string could not be read"))?
        .into_inner();
    let persisted = match params.extensions {
        None => None,
        Some(extensions) => match serde_json::from_str::<Value>(&extensions) {
            Ok(extensions @ Value::Object(_)) => persisted_hash(&extensions)?,
            _ => return Err(Refusal::bad_request("`extensions` must be a JSON object")),
        },
    };
    let query = match (params.query, &persisted, &params.document_id) {
        (Some(_), _, Some(_)) => {
            return Err(Refusal::bad_request(
                "send either `query` or `documentId`, not both",
            ))
        }
        (Some(query), _, None) => query,
        (None, Some(_), _) | (None, None, Some(_)) => String::new(),
        (None, None, None) => {
            return Err(Refusal::bad_request("the `query` parameter is required"))
        }
    };
    let mut request = Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        match serde_json::from_str::<Value>(&variables) {
            Ok(variables @ Value::Object(_)) => {
                request = request.variables(Variables::from_json(variables))
            }
            _ => return Err(Refusal::bad_request("`variables` must be a JSON object")),
        }
    }
    Ok(Incoming {
        request,
        persisted,
        document_id: params.document_id,
    })
}

/// Whether the operation the request would run is a mutation (parsing once; a query that
/// does not parse is left to GraphQL to report).
pub(super) fn is_mutation(request: &mut Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let mut operations = document.operations.iter();
    let operation = match name {
        Some(name) => operations.find(|(op_name, _)| op_name.is_some_and(|n| n.as_str() == name)),
        // Several operations and no name: none is chosen (execution says so), whichever
        // the map would list first.
        None => operations.next().filter(|_| operations.next().is_none()),
    };
    operation.is_some_and(|(_, op)| op.node.ty == OperationType::Mutation)
}

/// Any other method on `/graphql`.
pub async fn method_not_allowed() -> HttpResponse {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "use GET or POST",
    )
    .into_response(ResponseType::Json)
}
