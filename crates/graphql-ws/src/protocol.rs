//! What the two subprotocols share: the decoded client messages, the close frames, the
//! `Protocol` trait through which the connection loop speaks either of them, and the helpers
//! both use to read and write messages. It knows neither subprotocol: `transport_ws` and
//! `legacy_ws` build on it, and `subprotocol` (the handshake's choice) on those.

use async_graphql::{Request, Response, ServerError, Variables};
use serde_json::{json, Map, Value};

/// A client message, decoded and checked; the same for both subprotocols.
#[derive(Debug)]
pub(crate) enum ClientMessage {
    /// `connection_init`, with its payload (where the key is).
    Init(Option<Value>),
    /// `subscribe` (`start` in the legacy protocol).
    Subscribe {
        id: String,
        request: Box<Request>,
    },
    /// `complete` (`stop` in the legacy protocol): the client stops listening.
    Complete {
        id: String,
    },
    /// `ping`, whose payload the `pong` echoes.
    Ping(Option<Value>),
    Pong,
    /// `connection_terminate` (legacy only).
    Terminate,
}

/// A websocket close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// A close frame carries at most 125 bytes, two of them the code.
const MAX_REASON_BYTES: usize = 123;

impl CloseFrame {
    /// The reason is cut to what fits a close frame (ids and types come from the client).
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_REASON_BYTES {
            let mut end = MAX_REASON_BYTES;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        CloseFrame { code, reason }
    }
}

/// Close codes the connection loop uses whatever the subprotocol.
pub mod close {
    /// The legacy client sent `connection_terminate`.
    pub const NORMAL: u16 = 1000;
    /// Nothing heard from the client for two keep-alive intervals, or the server stops.
    pub const GOING_AWAY: u16 = 1001;
    /// A websocket-level protocol error (bad frame, invalid UTF-8).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client does not read fast enough, or the database is unavailable: retryable.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
}

/// What to do about a message that breaks the protocol.
#[derive(Debug)]
pub(crate) enum Violation {
    /// Close the socket (graphql-transport-ws does this for every violation).
    Close(CloseFrame),
    /// Tell the client and carry on (subscriptions-transport-ws reports most violations).
    Reply(String),
}

/// One subprotocol: how its messages are read and written, and the few rules in which the
/// two differ. Everything else (timeouts, limits, operations) is the connection loop's.
pub(crate) trait Protocol: Sync {
    /// The `Sec-WebSocket-Protocol` name.
    fn name(&self) -> &'static str;
    fn decode(&self, text: &str) -> Result<ClientMessage, Violation>;
    /// A binary message: neither subprotocol has any.
    fn binary(&self) -> Violation;
    /// Sent when `connection_init` is accepted.
    fn acknowledge(&self) -> Vec<String>;
    /// Sent every keep-alive interval after the acknowledgement.
    fn keepalive(&self) -> String;
    /// The answer to a `ping` (None: the protocol has no `ping`).
    fn pong(&self, payload: Option<Value>) -> Option<String>;
    fn next(&self, id: &str, response: &Response) -> String;
    /// An operation that failed as a whole (before execution, or refused): ends it.
    fn error(&self, id: &str, errors: &[ServerError]) -> String;
    fn complete(&self, id: &str) -> String;
    /// Sent before the socket is closed because the key was refused.
    fn refusal(&self, message: &str) -> Option<String>;
    /// A `subscribe` before `connection_ack`.
    fn unacknowledged(&self, id: &str) -> Violation;
    /// A `subscribe` whose id is still running: Some closes the socket, None replaces the
    /// running operation by the new one.
    fn duplicate(&self, id: &str) -> Option<CloseFrame>;
    /// Whether the client's `complete`/`stop` is answered with a `complete`.
    fn confirms_stop(&self) -> bool;
}

/// A GraphQL error with a stable `extensions.code`.
pub(crate) fn coded_error(message: impl Into<String>, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

/// A server message: `{"id"?, "type", "payload"?}`.
pub(crate) fn envelope(kind: &str, id: Option<&str>, payload: Option<Value>) -> String {
    let mut message = Map::new();
    if let Some(id) = id {
        message.insert("id".into(), json!(id));
    }
    message.insert("type".into(), json!(kind));
    if let Some(payload) = payload {
        message.insert("payload".into(), payload);
    }
    Value::Object(message).to_string()
}

/// The payload of `next`/`data`: an execution result, as graphql-over-HTTP sends it.
pub(crate) fn result_payload(response: &Response) -> Value {
    let mut payload = Map::new();
    payload.insert("data".into(), json!(response.data));
    if !response.errors.is_empty() {
        payload.insert("errors".into(), json!(response.errors));
    }
    if !response.extensions.is_empty() {
        payload.insert("extensions".into(), json!(response.extensions));
    }
    Value::Object(payload)
}

/// A client message as a JSON object.
pub(crate) fn object(text: &str) -> Result<Map<String, Value>, &'static str> {
    match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("Message must be a JSON object"),
        Err(_) => Err("Message must be JSON"),
    }
}

/// The message's `type`.
pub(crate) fn kind(message: &Map<String, Value>) -> Result<&str, &'static str> {
    message
        .get("type")
        .and_then(Value::as_str)
        .ok_or("Message must have a string `type`")
}

/// The message's operation `id`: a non-empty string.
pub(crate) fn id(message: &Map<String, Value>) -> Result<String, &'static str> {
    match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err("Message must have a non-empty string `id`"),
    }
}

/// An optional object field (`payload` of init, ping, pong): absent, null or an object.
pub(crate) fn optional_object(
    message: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<Value>, &'static str> {
    match message.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Object(_)) => Ok(Some(value)),
        Some(_) => Err("`payload` must be an object"),
    }
}

/// The GraphQL request of a `subscribe`/`start` payload, checked as graphql-ws checks it.
pub(crate) fn graphql_request(payload: Option<Value>) -> Result<Box<Request>, &'static str> {
    let Some(Value::Object(mut fields)) = payload else {
        return Err("`payload` must be an object");
    };
    let Some(Value::String(query)) = fields.remove("query") else {
        return Err("`payload.query` must be a string");
    };
    let mut request = Request::new(query);
    match fields.remove("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`payload.operationName` must be a string"),
    }
    match fields.remove("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(Variables::from_json(variables))
        }
        Some(_) => return Err("`payload.variables` must be an object"),
    }
    match fields.remove("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`payload.extensions` must be an object"),
    }
    Ok(Box::new(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let long = "é".repeat(100);
        let frame = CloseFrame::new(4409, format!("Subscriber for {long} already exists"));
        assert!(frame.reason.len() <= MAX_REASON_BYTES);
        assert!(frame.reason.starts_with("Subscriber for é"));
    }

    #[test]
    fn requests_are_checked() {
        assert!(graphql_request(Some(json!({ "query": "{ a }" }))).is_ok());
        assert!(graphql_request(Some(json!({
            "query": "query Q($x: Int) { a }",
            "operationName": "Q",
            "variables": { "x": 1 },
            "extensions": null
        })))
        .is_ok());
        assert!(graphql_request(None).is_err());
        assert!(graphql_request(Some(json!({ "query": 1 }))).is_err());
        assert!(graphql_request(Some(json!({ "query": "{ a }", "variables": [] }))).is_err());
        assert!(graphql_request(Some(json!({ "query": "{ a }", "operationName": 2 }))).is_err());
    }
}
