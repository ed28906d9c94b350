//! The handshake's choice between the two subprotocols: the one module that knows both
//! `transport_ws` and `legacy_ws` (which only know `protocol`).

use crate::legacy_ws::GRAPHQL_WS;
use crate::protocol::Protocol;
use crate::transport_ws::GRAPHQL_TRANSPORT_WS;

/// One of the two subprotocols, as the handshake agreed on it.
#[derive(Clone, Copy)]
pub struct Subprotocol(pub(crate) &'static dyn Protocol);

impl Subprotocol {
    /// The `Sec-WebSocket-Protocol` name, for the handshake's answer.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl std::fmt::Debug for Subprotocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The subprotocol to speak, from the client's offer (the `Sec-WebSocket-Protocol` values,
/// split at commas), preferring the modern one. None: the client offers neither, and the
/// upgrade should be refused.
pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Subprotocol> {
    let offered: Vec<&str> = offered.into_iter().map(str::trim).collect();
    let supported: [&'static dyn Protocol; 2] = [&GRAPHQL_TRANSPORT_WS, &GRAPHQL_WS];
    supported
        .into_iter()
        .find(|protocol| offered.contains(&protocol.name()))
        .map(Subprotocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_the_modern_protocol() {
        let name = |offer: &[&str]| negotiate(offer.iter().copied()).map(Subprotocol::name);
        assert_eq!(
            name(&["graphql-ws", " graphql-transport-ws"]),
            Some("graphql-transport-ws")
        );
        assert_eq!(name(&["graphql-ws"]), Some("graphql-ws"));
        assert_eq!(name(&["chat", "GRAPHQL-WS"]), None);
        assert_eq!(name(&[]), None);
    }
}
