//! The connection loop against a small schema of its own and a fake key check, behind
//! tokio-tungstenite's handshake: no database, no HTTP framework. The protocol rules
//! against the real application are in ticketgate's `tests/it/websockets.rs`.

// Test code: a failed unwrap is a failed test, with its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use async_graphql::{Context, Data, ErrorExtensions, Object, Schema, ServerError, Subscription};
use futures_util::{stream, FutureExt, SinkExt, Stream, StreamExt};
use graphql_ws::{Admission, Admit, Rejection, WsSettings};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

struct Query;

#[Object]
impl Query {
    /// The session data `connection_init` set up.
    async fn who(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(ctx.data::<String>()?.clone())
    }

    async fn fails(&self) -> async_graphql::Result<i32> {
        Err(async_graphql::Error::new("nope").extend_with(|_, ext| ext.set("code", "NOPE")))
    }
}

struct Subscription;

#[Subscription]
impl Subscription {
    async fn count(&self, to: i32) -> impl Stream<Item = i32> {
        stream::iter(0..to)
    }

    async fn ticks(&self, every_ms: u64) -> impl Stream<Item = i32> {
        stream::unfold(0, move |n| async move {
            sleep(Duration::from_millis(every_ms)).await;
            Some((n, n + 1))
        })
    }

    /// As fast as it is polled.
    async fn flood(&self, size: usize) -> impl Stream<Item = String> {
        stream::repeat("x".repeat(size))
    }
}

type ToySchema = Schema<Query, async_graphql::EmptyMutation, Subscription>;

/// A server of the toy schema (any path); keys: `Bearer good`, `Bearer down` (the check
/// fails as if the database were down); `revoke` makes every later check refuse. The
/// handshake is tokio-tungstenite's: the crate must not depend on any HTTP framework.
struct Toy {
    addr: SocketAddr,
    revoked: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Toy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Toy {
    fn start(settings: WsSettings) -> Toy {
        let revoked = Arc::new(AtomicBool::new(false));
        let schema: ToySchema =
            Schema::build(Query, async_graphql::EmptyMutation, Subscription).finish();
        let (tx, rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let flag = revoked.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("address"))
                    .expect("send");
                let accepting = async {
                    loop {
                        let (tcp, _) = listener.accept().await.expect("accept");
                        tokio::task::spawn_local(serve_one(
                            tcp,
                            schema.clone(),
                            settings,
                            toy_admit(flag.clone()),
                        ));
                    }
                };
                tokio::select! {
                    () = accepting => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = rx.recv().expect("server thread");
        Toy {
            addr,
            revoked,
            stop: Some(stop),
        }
    }

    fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
    }

    async fn connect(&self, protocol: &str) -> Ws {
        connect(self.addr, protocol).await
    }

    /// A connection past `connection_init` (and, in the legacy protocol, the first `ka`).
    async fn ready(&self, protocol: &str) -> Ws {
        let mut ws = self.connect(protocol).await;
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer good" } }),
        )
        .await;
        assert_eq!(recv(&mut ws).await, json!({ "type": "connection_ack" }));
        if protocol == "graphql-ws" {
            assert_eq!(recv(&mut ws).await, json!({ "type": "ka" }));
        }
        ws
    }
}

/// The handshake (choosing a subprotocol with `graphql_ws::negotiate`), then the crate.
async fn serve_one(tcp: TcpStream, schema: ToySchema, settings: WsSettings, admit: Admit) {
    let mut chosen = None;
    // The signature is tungstenite's handshake `Callback`.
    #[allow(clippy::result_large_err)]
    let choose = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        let offered = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        if let Some(protocol) = graphql_ws::negotiate(offered) {
            response.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                protocol.name().parse().expect("header"),
            );
            chosen = Some(protocol);
        }
        Ok(response)
    };
    let config = graphql_ws::socket_config(settings.max_message_bytes);
    let Ok(socket) =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, choose, Some(config)).await
    else {
        return;
    };
    let Some(protocol) = chosen else {
        return;
    };
    let shutdown = std::future::pending().boxed_local();
    graphql_ws::serve_socket(socket, protocol, schema, settings, admit, shutdown).await;
}

/// What the `connection_init` payload carries as its key (under any case of the name).
fn authorization(payload: &Value) -> Option<&str> {
    let (_, key) = payload
        .as_object()?
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))?;
    key.as_str()
}

fn toy_admit(revoked: Arc<AtomicBool>) -> Admit {
    Box::new(move |payload| {
        async move {
            match payload.as_ref().and_then(authorization) {
                Some("Bearer good") => {}
                Some("Bearer down") => {
                    return Err(Rejection::Failed(ServerError::new("down", None)))
                }
                _ => return Err(Rejection::Forbidden),
            }
            let mut data = Data::default();
            data.insert("ada".to_string());
            Ok(Admission {
                data: Arc::new(data),
                on_poll: None,
                authorize: Box::new(move || {
                    let revoked = revoked.load(Ordering::SeqCst);
                    async move {
                        if revoked {
                            Err(Rejection::Forbidden)
                        } else {
                            Ok(())
                        }
                    }
                    .boxed_local()
                }),
            })
        }
        .boxed_local()
    })
}

fn settings() -> WsSettings {
    WsSettings::default()
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(addr: SocketAddr, protocol: &str) -> Ws {
    let mut request = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
    let (ws, response) = connect_async(request).await.expect("connect");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// The next message, skipping websocket pings and pongs; None once the socket closed.
async fn next(ws: &mut Ws) -> Option<Message> {
    loop {
        let message = timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s");
        match message {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            _ => return None,
        }
    }
}

/// The next text message, as JSON.
async fn recv(ws: &mut Ws) -> Value {
    match next(ws).await {
        Some(Message::Text(text)) => serde_json::from_str(&text).expect("json"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The close frame, skipping the messages before it.
async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        match next(ws).await {
            Some(Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Message::Close(None)) | None => panic!("closed without a close frame"),
            Some(_) => continue,
        }
    }
}

/// Asserts nothing arrives for a while (websocket pings aside).
async fn silent(ws: &mut Ws, how_long: Duration) {
    if let Ok(message) = timeout(how_long, next(ws)).await {
        panic!("expected silence, got {message:?}");
    }
}

fn subscribe(id: &str, query: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query } })
}

fn start(id: &str, query: &str) -> Value {
    json!({ "id": id, "type": "start", "payload": { "query": query } })
}

#[tokio::test]
async fn a_subscription_streams_next_messages_then_complete() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(&mut ws, subscribe("s", "subscription { count(to: 3) }")).await;
    for n in 0..3 {
        assert_eq!(
            recv(&mut ws).await,
            json!({ "id": "s", "type": "next", "payload": { "data": { "count": n } } })
        );
    }
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "s", "type": "complete" })
    );
}

#[tokio::test]
async fn a_query_runs_with_the_connection_data() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(&mut ws, subscribe("q", "{ who }")).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "q", "type": "next", "payload": { "data": { "who": "ada" } } })
    );
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "q", "type": "complete" })
    );
}

#[tokio::test]
async fn field_errors_are_results_and_keep_their_code() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    // A null root (no data) but a field error: still a result, not an `error`.
    send(&mut ws, subscribe("f", "{ fails }")).await;
    let next = recv(&mut ws).await;
    assert_eq!(next["type"], "next");
    assert_eq!(next["payload"]["data"], Value::Null);
    assert_eq!(next["payload"]["errors"][0]["extensions"]["code"], "NOPE");
    assert_eq!(next["payload"]["errors"][0]["path"], json!(["fails"]));
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "f", "type": "complete" })
    );
}

#[tokio::test]
async fn a_request_error_is_an_error_message_without_complete() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(&mut ws, subscribe("v", "{ nope }")).await;
    let error = recv(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "v");
    assert!(error["payload"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("nope")));
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));
    // The id is free again.
    send(&mut ws, subscribe("v", "{ who }")).await;
    assert_eq!(recv(&mut ws).await["type"], "next");
}

#[tokio::test]
async fn complete_from_the_client_stops_the_operation_silently() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(
        &mut ws,
        subscribe("t", "subscription { ticks(everyMs: 20) }"),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "next");
    send(&mut ws, json!({ "id": "t", "type": "complete" })).await;
    send(&mut ws, json!({ "type": "ping" })).await;
    // Results sent before the `complete` was read may still come, then nothing.
    loop {
        let message = recv(&mut ws).await;
        if message["type"] == "pong" {
            break;
        }
        assert_eq!(message["type"], "next");
    }
    silent(&mut ws, Duration::from_millis(200)).await;
    // An unknown id is ignored.
    send(&mut ws, json!({ "id": "t", "type": "complete" })).await;
    silent(&mut ws, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn operations_run_concurrently() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(
        &mut ws,
        subscribe("a", "subscription { ticks(everyMs: 30) }"),
    )
    .await;
    send(
        &mut ws,
        subscribe("b", "subscription { ticks(everyMs: 30) }"),
    )
    .await;
    let mut ids = std::collections::HashSet::new();
    for _ in 0..6 {
        ids.insert(recv(&mut ws).await["id"].as_str().map(str::to_string));
    }
    assert_eq!(ids.len(), 2, "both operations produced: {ids:?}");
}

#[tokio::test]
async fn a_running_id_cannot_be_reused_but_a_finished_one_can() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(&mut ws, subscribe("1", "subscription { count(to: 1) }")).await;
    assert_eq!(recv(&mut ws).await["type"], "next");
    assert_eq!(recv(&mut ws).await["type"], "complete");
    send(
        &mut ws,
        subscribe("1", "subscription { ticks(everyMs: 1000) }"),
    )
    .await;
    send(&mut ws, subscribe("1", "subscription { count(to: 1) }")).await;
    assert_eq!(
        closed(&mut ws).await,
        (4409, "Subscriber for 1 already exists".to_string())
    );
}

#[tokio::test]
async fn too_many_operations_get_an_error_and_the_connection_stays() {
    let toy = Toy::start(WsSettings {
        max_subscriptions: 2,
        ..settings()
    });
    let mut ws = toy.ready("graphql-transport-ws").await;
    for id in ["a", "b", "c"] {
        send(
            &mut ws,
            subscribe(id, "subscription { ticks(everyMs: 1000) }"),
        )
        .await;
    }
    let error = recv(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "c");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    send(&mut ws, json!({ "id": "a", "type": "complete" })).await;
    send(&mut ws, subscribe("c", "{ who }")).await;
    assert_eq!(recv(&mut ws).await["id"], "c");
}

#[tokio::test]
async fn a_revoked_key_closes_the_connection_at_the_next_operation() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(&mut ws, subscribe("1", "{ who }")).await;
    assert_eq!(recv(&mut ws).await["type"], "next");
    assert_eq!(recv(&mut ws).await["type"], "complete");
    toy.revoke();
    send(&mut ws, subscribe("2", "{ who }")).await;
    assert_eq!(closed(&mut ws).await, (4403, "Forbidden".to_string()));
}

#[tokio::test]
async fn an_unverifiable_key_closes_with_a_retryable_code() {
    let toy = Toy::start(settings());
    let mut ws = toy.connect("graphql-transport-ws").await;
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer down" } }),
    )
    .await;
    assert_eq!(closed(&mut ws).await.0, 1013);
}

#[tokio::test]
async fn connection_init_must_come_in_time() {
    let toy = Toy::start(WsSettings {
        init_timeout: Duration::from_millis(300),
        ..settings()
    });
    let started = Instant::now();
    let mut ws = toy.connect("graphql-transport-ws").await;
    assert_eq!(
        closed(&mut ws).await,
        (4408, "Connection initialisation timeout".to_string())
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The legacy protocol has the same deadline.
    let mut ws = toy.connect("graphql-ws").await;
    assert_eq!(closed(&mut ws).await.0, 4408);
}

#[tokio::test]
async fn the_server_pings_and_answers_pings() {
    let toy = Toy::start(WsSettings {
        keepalive: Duration::from_millis(150),
        ..settings()
    });
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(&mut ws, json!({ "type": "ping", "payload": { "n": 1 } })).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "type": "pong", "payload": { "n": 1 } })
    );
    // Reading answers the websocket pings (tungstenite does): the connection lives on.
    for _ in 0..4 {
        assert_eq!(recv(&mut ws).await, json!({ "type": "ping" }));
        send(&mut ws, json!({ "type": "pong" })).await;
    }
    let mut legacy = toy.ready("graphql-ws").await;
    assert_eq!(recv(&mut legacy).await, json!({ "type": "ka" }));
}

#[tokio::test]
async fn a_silent_client_is_dropped() {
    let toy = Toy::start(WsSettings {
        keepalive: Duration::from_millis(100),
        ..settings()
    });
    let mut ws = toy.ready("graphql-transport-ws").await;
    // Not reading means not answering the websocket pings either.
    sleep(Duration::from_millis(600)).await;
    assert_eq!(
        closed(&mut ws).await,
        (1001, "Keep-alive timeout".to_string())
    );
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped() {
    let toy = Toy::start(WsSettings {
        send_timeout: Duration::from_millis(300),
        ..settings()
    });
    let mut ws = toy.ready("graphql-transport-ws").await;
    send(
        &mut ws,
        subscribe("f", "subscription { flood(size: 16384) }"),
    )
    .await;
    // Long enough for the socket's buffers to fill and the server to give up.
    sleep(Duration::from_millis(2500)).await;
    // What was queued before the server gave up, then its close frame.
    let started = Instant::now();
    let mut received = 0usize;
    let end = loop {
        match next(&mut ws).await {
            Some(Message::Text(_)) => received += 1,
            Some(Message::Close(frame)) => {
                break frame.map(|f| (u16::from(f.code), f.reason.to_string()))
            }
            None => break None,
            Some(other) => panic!("unexpected {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server kept sending"
        );
    };
    assert_eq!(end, Some((1013, "Subscriber too slow".to_string())));
    assert!(received < 5000, "{received} messages were buffered");
}

#[tokio::test]
async fn message_size_is_bounded_fragmented_or_not() {
    let toy = Toy::start(WsSettings {
        max_message_bytes: 1024,
        ..settings()
    });
    let padded = |size: usize| {
        let mut message = subscribe("p", "{ who }");
        message["payload"]["extensions"] = json!({ "pad": "x".repeat(size) });
        message.to_string()
    };
    // Within the limit, in three fragments: one message.
    let mut ws = toy.ready("graphql-transport-ws").await;
    let text = padded(800);
    assert!(text.len() <= 1024);
    let (first, rest) = text.split_at(300);
    let (middle, last) = rest.split_at(300);
    for (i, part) in [first, middle, last].into_iter().enumerate() {
        let opcode = if i == 0 {
            OpData::Text
        } else {
            OpData::Continue
        };
        let frame = Frame::message(part.as_bytes().to_vec(), OpCode::Data(opcode), i == 2);
        ws.send(Message::Frame(frame)).await.expect("send");
    }
    assert_eq!(recv(&mut ws).await["payload"]["data"]["who"], "ada");
    assert_eq!(recv(&mut ws).await["type"], "complete");
    // One frame too large.
    ws.send(Message::text(padded(2000))).await.expect("send");
    assert_eq!(
        closed(&mut ws).await,
        (4400, "Message too large".to_string())
    );
    // Fragments each within the limit, too large together.
    let mut ws = toy.ready("graphql-transport-ws").await;
    let text = padded(2000);
    let (first, last) = text.split_at(1000);
    let frame = Frame::message(first.as_bytes().to_vec(), OpCode::Data(OpData::Text), false);
    ws.send(Message::Frame(frame)).await.expect("send");
    let frame = Frame::message(
        last.as_bytes().to_vec(),
        OpCode::Data(OpData::Continue),
        true,
    );
    ws.send(Message::Frame(frame)).await.expect("send");
    assert_eq!(
        closed(&mut ws).await,
        (4400, "Message too large".to_string())
    );
}

#[tokio::test]
async fn a_huge_frame_is_refused_from_its_header() {
    use tokio::io::AsyncWriteExt;
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-transport-ws").await;
    // A masked text frame declaring 1 GiB, of which only a little is sent: actix-http
    // alone would wait for (and buffer) all of it.
    let mut bytes = vec![0x81, 0x80 | 127];
    bytes.extend((1u64 << 30).to_be_bytes());
    bytes.extend([1, 2, 3, 4]);
    bytes.extend([b'x'; 1000]);
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("plain TCP expected");
    };
    tcp.write_all(&bytes).await.expect("write");
    assert_eq!(
        closed(&mut ws).await,
        (4400, "Message too large".to_string())
    );
}

#[tokio::test]
async fn legacy_subscriptions_stream_data_then_complete() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-ws").await;
    send(&mut ws, start("1", "subscription { count(to: 2) }")).await;
    for n in 0..2 {
        assert_eq!(
            recv(&mut ws).await,
            json!({ "id": "1", "type": "data", "payload": { "data": { "count": n } } })
        );
    }
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "1", "type": "complete" })
    );
    // `stop` is confirmed with `complete`.
    send(&mut ws, start("2", "subscription { ticks(everyMs: 1000) }")).await;
    send(&mut ws, json!({ "id": "2", "type": "stop" })).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "2", "type": "complete" })
    );
    // A request error is an `error` with the errors, without `complete`.
    send(&mut ws, start("3", "{ nope }")).await;
    let error = recv(&mut ws).await;
    assert_eq!(
        (error["id"].as_str(), error["type"].as_str()),
        (Some("3"), Some("error"))
    );
    assert!(error["payload"].is_array());
    silent(&mut ws, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_legacy_start_with_a_running_id_replaces_it() {
    let toy = Toy::start(settings());
    let mut ws = toy.ready("graphql-ws").await;
    send(&mut ws, start("1", "subscription { ticks(everyMs: 20) }")).await;
    assert_eq!(recv(&mut ws).await["payload"]["data"]["ticks"], 0);
    send(&mut ws, start("1", "subscription { count(to: 1) }")).await;
    // Ticks sent before the second `start` was read may come first.
    loop {
        let message = recv(&mut ws).await;
        if message["payload"]["data"].get("count").is_some() {
            break;
        }
        assert!(message["payload"]["data"].get("ticks").is_some());
    }
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "1", "type": "complete" })
    );
    silent(&mut ws, Duration::from_millis(150)).await;
}

#[tokio::test]
async fn the_legacy_protocol_reports_bad_messages_and_carries_on() {
    let toy = Toy::start(settings());
    let mut ws = toy.connect("graphql-ws").await;
    send(&mut ws, start("0", "{ who }")).await;
    let error = recv(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["payload"][0]["extensions"]["code"], "UNAUTHENTICATED");
    ws.send(Message::text("nope")).await.expect("send");
    assert_eq!(recv(&mut ws).await["type"], "connection_error");
    ws.send(Message::binary(vec![1, 2])).await.expect("send");
    assert_eq!(recv(&mut ws).await["type"], "connection_error");
    send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "authorization": "Bearer good" } }),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "connection_ack");
    assert_eq!(recv(&mut ws).await["type"], "ka");
    send(&mut ws, start("1", "{ who }")).await;
    assert_eq!(recv(&mut ws).await["payload"]["data"]["who"], "ada");
    assert_eq!(recv(&mut ws).await["type"], "complete");
    send(&mut ws, json!({ "type": "connection_terminate" })).await;
    assert_eq!(closed(&mut ws).await.0, 1000);
}

/// Sends a close frame (`None`: one without a status code) and reads until the server's
/// answer; the messages of running operations may come first. Then the server must end
/// TCP cleanly: the stream ends without a reset ("closed without a closing handshake" is
/// what a client reports as 1006).
async fn close_and_read_answer(ws: &mut Ws, code: Option<u16>) -> Option<(u16, String)> {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame as WsCloseFrame;
    let frame = code.map(|code| WsCloseFrame {
        code: code.into(),
        reason: "bye".into(),
    });
    ws.close(frame).await.expect("send the close frame");
    let answer = loop {
        let message = timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an answer within 5 s");
        match message {
            Some(Ok(Message::Close(frame))) => {
                break frame.map(|f| (u16::from(f.code), f.reason.to_string()))
            }
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected the answer to the close frame, got {other:?}"),
        }
    };
    let end = timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("the server ends TCP");
    assert!(end.is_none(), "the stream ended with {end:?}");
    answer
}

/// The codes of RFC 6455 and of applications are echoed; an empty close frame is answered
/// with an empty one (its echo; the client reads 1005, "no status"). Before and after
/// `connection_init`, idle or while an operation streams, in both subprotocols: several
/// rounds each, since what broke was a race between the answer and the end of TCP.
#[tokio::test]
async fn a_client_close_frame_is_answered_with_its_code() {
    let toy = Toy::start(settings());
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        for code in [Some(1000), Some(4000), None] {
            let echoed = code.map(|code| (code, "bye".to_string()));
            for round in 0..10 {
                let mut ws = toy.connect(protocol).await;
                let answer = close_and_read_answer(&mut ws, code).await;
                assert_eq!(
                    answer, echoed,
                    "{protocol} {code:?} round {round}, before init"
                );

                let mut ws = toy.ready(protocol).await;
                let query = "subscription { ticks(everyMs: 1) }";
                let message = match protocol {
                    "graphql-ws" => start("t", query),
                    _ => subscribe("t", query),
                };
                send(&mut ws, message).await;
                recv(&mut ws).await;
                let answer = close_and_read_answer(&mut ws, code).await;
                assert_eq!(
                    answer, echoed,
                    "{protocol} {code:?} round {round}, streaming"
                );
            }
        }
    }
}

/// Closes the server decides on still carry their own code (not an echo).
#[tokio::test]
async fn a_server_close_still_carries_its_own_code() {
    let toy = Toy::start(settings());
    for _ in 0..5 {
        let mut ws = toy.ready("graphql-transport-ws").await;
        send(&mut ws, json!({ "type": "connection_init" })).await;
        assert_eq!(
            closed(&mut ws).await,
            (4429, "Too many initialisation requests".to_string())
        );
        let end = timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the server ends TCP");
        assert!(end.is_none(), "the stream ended with {end:?}");

        let mut legacy = toy.ready("graphql-ws").await;
        send(&mut legacy, json!({ "type": "connection_terminate" })).await;
        assert_eq!(closed(&mut legacy).await.0, 1000);
    }
}
