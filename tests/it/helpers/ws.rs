//! A websocket GraphQL client for tests (tokio-tungstenite), by URL: a `TestServer`'s or a
//! `Replica`'s.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

pub const MODERN: &str = "graphql-transport-ws";
pub const LEGACY: &str = "graphql-ws";

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(url: &str, protocol: &str) -> Ws {
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
    let (ws, response) = connect_async(request).await.expect("connect");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    ws
}

pub async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// The next message within `wait` (keep-alives do not extend it), skipping websocket
/// pings and pongs; None once the socket ended.
pub async fn next_within(ws: &mut Ws, wait: Duration) -> Option<Message> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = timeout_at(deadline, ws.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            _ => return None,
        }
    }
}

pub async fn next(ws: &mut Ws) -> Option<Message> {
    next_within(ws, Duration::from_secs(15)).await
}

pub async fn recv(ws: &mut Ws) -> Value {
    recv_within(ws, Duration::from_secs(15)).await
}

pub async fn recv_within(ws: &mut Ws, wait: Duration) -> Value {
    match next_within(ws, wait).await {
        Some(Message::Text(text)) => serde_json::from_str(&text).expect("json"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Whether anything but keep-alives arrives within `wait`.
pub async fn silent_for(ws: &mut Ws, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match timeout_at(deadline, ws.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"ping\"") => continue,
            Ok(_) => return false,
        }
    }
}

/// The close frame's code and reason; no other message may come before it.
pub async fn closed(ws: &mut Ws) -> (u16, String) {
    closed_within(ws, Duration::from_secs(15)).await
}

/// The same, within `wait`.
pub async fn closed_within(ws: &mut Ws, wait: Duration) -> (u16, String) {
    match next_within(ws, wait).await {
        Some(Message::Close(Some(frame))) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

pub fn init(key: &str) -> Value {
    json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } })
}

pub fn subscribe(id: &str, query: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query } })
}

/// A graphql-transport-ws connection past `connection_ack`.
pub async fn ready(url: &str, key: &str) -> Ws {
    let mut ws = connect(url, MODERN).await;
    send(&mut ws, init(key)).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "connection_ack" }));
    ws
}

/// The payload of the next `next` message for `id` within 10 s (skipping server pings).
pub async fn next_payload(ws: &mut Ws, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = recv_within(ws, left).await;
        match message["type"].as_str() {
            Some("ping") | Some("pong") => continue,
            Some("next") if message["id"] == id => return message["payload"].clone(),
            _ => panic!("expected `next` for {id}, got {message}"),
        }
    }
}

/// `messageAdded` on `ticket` (its content and event position), resumed `after` a
/// position when given.
pub fn message_added(ticket: uuid::Uuid, after: Option<&str>) -> String {
    let after = after.map_or(String::new(), |p| format!(", after: \"{p}\""));
    format!(
        "subscription {{ messageAdded(ticketId: \"{ticket}\"{after}) {{ content eventPosition }} }}"
    )
}
