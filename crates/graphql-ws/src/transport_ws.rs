//! `graphql-transport-ws`, the protocol of the `graphql-ws` library (its PROTOCOL.md):
//! every violation closes the socket with a 44xx code.

use async_graphql::{Response, ServerError};
use serde_json::{json, Value};

use crate::protocol::{self as common, close, ClientMessage, CloseFrame, Protocol, Violation};

pub(crate) struct GraphqlTransportWs;

pub(crate) static GRAPHQL_TRANSPORT_WS: GraphqlTransportWs = GraphqlTransportWs;

impl Protocol for GraphqlTransportWs {
    fn name(&self) -> &'static str {
        "graphql-transport-ws"
    }

    fn decode(&self, text: &str) -> Result<ClientMessage, Violation> {
        decode(text).map_err(|reason| Violation::Close(CloseFrame::new(close::BAD_REQUEST, reason)))
    }

    fn binary(&self) -> Violation {
        Violation::Close(CloseFrame::new(
            close::BAD_REQUEST,
            "Binary messages are not supported",
        ))
    }

    fn acknowledge(&self) -> Vec<String> {
        vec![common::envelope("connection_ack", None, None)]
    }

    fn keepalive(&self) -> String {
        common::envelope("ping", None, None)
    }

    fn pong(&self, payload: Option<Value>) -> Option<String> {
        Some(common::envelope("pong", None, payload))
    }

    fn next(&self, id: &str, response: &Response) -> String {
        common::envelope("next", Some(id), Some(common::result_payload(response)))
    }

    fn error(&self, id: &str, errors: &[ServerError]) -> String {
        common::envelope("error", Some(id), Some(json!(errors)))
    }

    fn complete(&self, id: &str) -> String {
        common::envelope("complete", Some(id), None)
    }

    /// The close code (4403) says it all.
    fn refusal(&self, _message: &str) -> Option<String> {
        None
    }

    fn unacknowledged(&self, _id: &str) -> Violation {
        Violation::Close(CloseFrame::new(close::UNAUTHORIZED, "Unauthorized"))
    }

    fn duplicate(&self, id: &str) -> Option<CloseFrame> {
        Some(CloseFrame::new(
            close::SUBSCRIBER_EXISTS,
            format!("Subscriber for {id} already exists"),
        ))
    }

    /// "No further events … should be sent through", a `complete` included.
    fn confirms_stop(&self) -> bool {
        false
    }
}

/// A client message, checked as graphql-ws' own `validateMessage` checks it.
fn decode(text: &str) -> Result<ClientMessage, String> {
    let mut message = common::object(text)?;
    let kind = common::kind(&message)?.to_string();
    Ok(match kind.as_str() {
        "connection_init" => ClientMessage::Init(common::optional_object(&mut message, "payload")?),
        "subscribe" => ClientMessage::Subscribe {
            id: common::id(&message)?,
            request: common::graphql_request(message.remove("payload"))?,
        },
        "complete" => ClientMessage::Complete {
            id: common::id(&message)?,
        },
        "ping" => ClientMessage::Ping(common::optional_object(&mut message, "payload")?),
        "pong" => {
            common::optional_object(&mut message, "payload")?;
            ClientMessage::Pong
        }
        other => return Err(format!("Unexpected message type `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        match GRAPHQL_TRANSPORT_WS.decode(text) {
            Err(Violation::Close(frame)) if frame.code == close::BAD_REQUEST => frame.reason,
            other => panic!("expected a 4400 close, got {other:?}"),
        }
    }

    #[test]
    fn decodes_client_messages() {
        let decode = |text: &str| GRAPHQL_TRANSPORT_WS.decode(text).expect("valid");
        assert!(matches!(
            decode(r#"{"type":"connection_init"}"#),
            ClientMessage::Init(None)
        ));
        assert!(matches!(
            decode(r#"{"type":"connection_init","payload":{"a":1}}"#),
            ClientMessage::Init(Some(_))
        ));
        assert!(matches!(
            decode(r#"{"id":"1","type":"subscribe","payload":{"query":"{ a }"}}"#),
            ClientMessage::Subscribe { id, .. } if id == "1"
        ));
        assert!(matches!(
            decode(r#"{"id":"1","type":"complete"}"#),
            ClientMessage::Complete { id } if id == "1"
        ));
        assert!(matches!(
            decode(r#"{"type":"ping","payload":{"t":1}}"#),
            ClientMessage::Ping(Some(_))
        ));
        assert!(matches!(decode(r#"{"type":"pong"}"#), ClientMessage::Pong));
    }

    #[test]
    fn refuses_invalid_messages_with_4400() {
        assert_eq!(reason("nope"), "Message must be JSON");
        assert_eq!(reason("[1]"), "Message must be a JSON object");
        assert_eq!(reason(r#"{"id":"1"}"#), "Message must have a string `type`");
        assert_eq!(
            reason(r#"{"type":"next","id":"1"}"#),
            "Unexpected message type `next`"
        );
        assert_eq!(
            reason(r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#),
            "Message must have a non-empty string `id`"
        );
        assert_eq!(
            reason(r#"{"type":"subscribe","id":"","payload":{"query":"{ a }"}}"#),
            "Message must have a non-empty string `id`"
        );
        assert_eq!(
            reason(r#"{"type":"subscribe","id":"1"}"#),
            "`payload` must be an object"
        );
        assert_eq!(
            reason(r#"{"type":"connection_init","payload":"x"}"#),
            "`payload` must be an object"
        );
        assert_eq!(
            reason(r#"{"type":"connection_terminate"}"#),
            "Unexpected message type `connection_terminate`"
        );
    }
}
