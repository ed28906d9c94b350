//! `graphql-ws`, the legacy protocol of `subscriptions-transport-ws` (its PROTOCOL.md and
//! `server.js`). Unlike graphql-transport-ws it reports bad messages instead of closing:
//! unreadable ones with `connection_error`, bad operations with `error` for their id; a
//! `start` reusing a running id replaces that operation; `stop` is confirmed by `complete`.

use async_graphql::{Response, ServerError};
use serde_json::{json, Map, Value};

use crate::codes;
use crate::protocol::{self as common, ClientMessage, CloseFrame, Protocol, Violation};

pub(crate) struct GraphqlWs;

pub(crate) static GRAPHQL_WS: GraphqlWs = GraphqlWs;

impl Protocol for GraphqlWs {
    fn name(&self) -> &'static str {
        "graphql-ws"
    }

    fn decode(&self, text: &str) -> Result<ClientMessage, Violation> {
        let mut message = common::object(text).map_err(connection_error)?;
        let kind = common::kind(&message).map_err(connection_error)?;
        match kind {
            "connection_init" => Ok(ClientMessage::Init(
                message
                    .remove("payload")
                    .filter(|payload| !payload.is_null()),
            )),
            "start" => {
                let id = common::id(&message).map_err(connection_error)?;
                let request = common::graphql_request(message.remove("payload"))
                    .map_err(|reason| operation_error(&id, reason))?;
                Ok(ClientMessage::Subscribe { id, request })
            }
            "stop" => Ok(ClientMessage::Complete {
                id: common::id(&message).map_err(connection_error)?,
            }),
            "connection_terminate" => Ok(ClientMessage::Terminate),
            _ => Err(unknown_type(&message)),
        }
    }

    fn binary(&self) -> Violation {
        connection_error("Binary messages are not supported")
    }

    /// The reference server sends a first `ka` right after the acknowledgement: its client
    /// starts watching keep-alives only once it has seen one.
    fn acknowledge(&self) -> Vec<String> {
        vec![
            common::envelope("connection_ack", None, None),
            self.keepalive(),
        ]
    }

    fn keepalive(&self) -> String {
        common::envelope("ka", None, None)
    }

    fn pong(&self, _payload: Option<Value>) -> Option<String> {
        None
    }

    fn next(&self, id: &str, response: &Response) -> String {
        common::envelope("data", Some(id), Some(common::result_payload(response)))
    }

    /// An array of GraphQL errors: the client's `formatErrors` takes arrays as they are.
    fn error(&self, id: &str, errors: &[ServerError]) -> String {
        common::envelope("error", Some(id), Some(json!(errors)))
    }

    fn complete(&self, id: &str) -> String {
        common::envelope("complete", Some(id), None)
    }

    fn refusal(&self, message: &str) -> Option<String> {
        Some(common::envelope(
            "connection_error",
            None,
            Some(json!({ "message": message })),
        ))
    }

    /// This server needs the key of `connection_init` before any operation.
    fn unacknowledged(&self, id: &str) -> Violation {
        Violation::Reply(self.error(
            id,
            &[common::coded_error(
                "send connection_init (with the API key) before any operation",
                codes::UNAUTHENTICATED,
            )],
        ))
    }

    fn duplicate(&self, _id: &str) -> Option<CloseFrame> {
        None
    }

    fn confirms_stop(&self) -> bool {
        true
    }
}

/// A message that cannot be read at all (the reference server does not disconnect).
fn connection_error(reason: &str) -> Violation {
    Violation::Reply(common::envelope(
        "connection_error",
        None,
        Some(json!({ "message": reason })),
    ))
}

/// A bad operation: `error` for its id.
fn operation_error(id: &str, reason: &str) -> Violation {
    Violation::Reply(GRAPHQL_WS.error(id, &[common::coded_error(reason, codes::BAD_REQUEST)]))
}

fn unknown_type(message: &Map<String, Value>) -> Violation {
    const REASON: &str = "Invalid message type!";
    match common::id(message) {
        Ok(id) => operation_error(&id, REASON),
        Err(_) => connection_error(REASON),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn reply(text: &str) -> Value {
        match GRAPHQL_WS.decode(text) {
            Err(Violation::Reply(reply)) => serde_json::from_str(&reply).expect("json"),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn decodes_client_messages() {
        let decode = |text: &str| GRAPHQL_WS.decode(text).expect("valid");
        assert!(matches!(
            decode(r#"{"type":"connection_init","payload":{"Authorization":"x"}}"#),
            ClientMessage::Init(Some(_))
        ));
        assert!(matches!(
            decode(r#"{"type":"connection_init","payload":null}"#),
            ClientMessage::Init(None)
        ));
        assert!(matches!(
            decode(r#"{"id":"1","type":"start","payload":{"query":"{ a }"}}"#),
            ClientMessage::Subscribe { id, .. } if id == "1"
        ));
        assert!(matches!(
            decode(r#"{"id":"1","type":"stop"}"#),
            ClientMessage::Complete { id } if id == "1"
        ));
        assert!(matches!(
            decode(r#"{"type":"connection_terminate"}"#),
            ClientMessage::Terminate
        ));
    }

    #[test]
    fn reports_invalid_messages() {
        assert_eq!(
            reply("nope"),
            json!({ "type": "connection_error", "payload": { "message": "Message must be JSON" } })
        );
        assert_eq!(reply(r#"{"type":"ping"}"#)["type"], "connection_error");
        let error = reply(r#"{"type":"subscribe","id":"7"}"#);
        assert_eq!(error["type"], "error");
        assert_eq!(error["id"], "7");
        assert_eq!(error["payload"][0]["message"], "Invalid message type!");
        let error = reply(r#"{"type":"start","id":"8","payload":{}}"#);
        assert_eq!(error["id"], "8");
        assert_eq!(
            error["payload"][0]["message"],
            "`payload.query` must be a string"
        );
        assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_REQUEST");
    }
}
