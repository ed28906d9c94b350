//! GraphQL over websockets on `/graphql`: subprotocol negotiation, graphql-transport-ws
//! (every close code of its PROTOCOL.md) and the legacy graphql-ws, against the real
//! application, and what a graceful stop of a `ticketgate serve` process tells them. Streaming, limits and keep-alive timing are unit-tested in
//! `src/http/ws/tests.rs` with a schema that has subscriptions and short settings.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{Error, Message};

use crate::helpers::replica::Replica;
use crate::helpers::ws::{self, closed, init, recv, send, subscribe, Ws, LEGACY, MODERN};
use crate::helpers::{self, fixtures, test_db, TestDb, TestServer};

/// A server, and a read key of team `acme`.
fn server() -> (TestDb, TestServer, String) {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    (db, server, key)
}

async fn connect(server: &TestServer, protocol: &str) -> Ws {
    ws::connect(&server.ws_url(), protocol).await
}

async fn ready(server: &TestServer, key: &str) -> Ws {
    ws::ready(&server.ws_url(), key).await
}

#[tokio::test]
async fn an_upgrade_without_a_known_subprotocol_is_refused() {
    let (_db, server, _key) = server();
    for offer in [None, Some("chat"), Some("graphql-transport-ws-v2")] {
        let mut request = format!("ws://{}/graphql", server.addr)
            .into_client_request()
            .expect("request");
        if let Some(offer) = offer {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", offer.parse().expect("header"));
        }
        match connect_async(request).await {
            Err(Error::Http(response)) => {
                assert_eq!(response.status(), 400, "offer {offer:?}");
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                        .expect("json body");
                assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
                assert!(body["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("graphql-transport-ws")));
            }
            other => panic!("expected a 400 for {offer:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_query_gives_next_then_complete() {
    let (db, server, key) = server();
    let mut ws = ready(&server, &key).await;
    send(&mut ws, subscribe("1", "{ me { team { slug } } }")).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "1", "type": "next", "payload": { "data": { "me": { "team": { "slug": "acme" } } } } })
    );
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "1", "type": "complete" })
    );
    // Nested look-ups go through the connection's loaders.
    let team = fixtures::team(&mut db.conn(), "acme");
    let tickets = fixtures::tickets(&mut db.conn(), team, 3);
    fixtures::tag(&mut db.conn(), team, tickets[0], &["vip"]);
    send(
        &mut ws,
        subscribe(
            "2",
            "{ tickets(first: 5) { nodes { ticketNumber tags assignee { id } } } }",
        ),
    )
    .await;
    let next = recv(&mut ws).await;
    assert_eq!(next["type"], "next");
    assert!(next["payload"].get("errors").is_none(), "{next}");
    let nodes = &next["payload"]["data"]["tickets"]["nodes"];
    assert_eq!(nodes.as_array().map(Vec::len), Some(3), "{next}");
    assert!(nodes
        .as_array()
        .is_some_and(|nodes| nodes.iter().any(|node| node["tags"] == json!(["vip"]))));
    assert_eq!(recv(&mut ws).await["type"], "complete");
}

#[tokio::test]
async fn the_key_may_come_in_any_letter_case_or_under_headers() {
    let (_db, server, key) = server();
    for payload in [
        json!({ "authorization": format!("bearer {key}") }),
        json!({ "headers": { "Authorization": format!("Bearer {key}") } }),
    ] {
        let mut ws = connect(&server, MODERN).await;
        send(
            &mut ws,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(recv(&mut ws).await["type"], "connection_ack");
    }
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let (_db, server, key) = server();
    let mut ws = ready(&server, &key).await;
    send(&mut ws, json!({ "type": "ping", "payload": { "at": 1 } })).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "type": "pong", "payload": { "at": 1 } })
    );
    send(&mut ws, json!({ "type": "pong" })).await;
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn a_validation_error_is_an_error_message_without_complete() {
    let (_db, server, key) = server();
    let mut ws = ready(&server, &key).await;
    send(&mut ws, subscribe("1", "{ nope }")).await;
    let error = recv(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "1");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn a_refused_key_closes_4403() {
    let (_db, server, _key) = server();
    for init in [
        init("tg_not_a_key"),
        init("nonsense"),
        json!({ "type": "connection_init" }),
        json!({ "type": "connection_init", "payload": { "Authorization": 42 } }),
    ] {
        let mut ws = connect(&server, MODERN).await;
        send(&mut ws, init).await;
        assert_eq!(closed(&mut ws).await, (4403, "Forbidden".to_string()));
    }
}

#[tokio::test]
async fn subscribe_before_the_acknowledgement_closes_4401() {
    let (_db, server, _key) = server();
    let mut ws = connect(&server, MODERN).await;
    send(&mut ws, subscribe("1", "{ me { team { slug } } }")).await;
    assert_eq!(closed(&mut ws).await, (4401, "Unauthorized".to_string()));
}

#[tokio::test]
async fn a_second_connection_init_closes_4429() {
    let (_db, server, key) = server();
    let mut ws = ready(&server, &key).await;
    send(&mut ws, init(&key)).await;
    assert_eq!(
        closed(&mut ws).await,
        (4429, "Too many initialisation requests".to_string())
    );
}

#[tokio::test]
async fn subscribe_with_a_running_id_closes_4409() {
    let (_db, server, key) = server();
    let mut ws = ready(&server, &key).await;
    // A subscription runs until the client completes it: once its first value came, the
    // id is surely taken. (Two queries sent together raced: the first could finish before
    // the second was read.)
    send(&mut ws, subscribe("dup", "subscription { unreadCount }")).await;
    ws::next_payload(&mut ws, "dup").await;
    send(&mut ws, subscribe("dup", "{ me { team { slug } } }")).await;
    assert_eq!(
        closed(&mut ws).await,
        (4409, "Subscriber for dup already exists".to_string())
    );
}

#[tokio::test]
async fn invalid_messages_close_4400() {
    let (_db, server, key) = server();
    let big = "x".repeat(70 * 1024);
    let cases: Vec<(&str, Vec<Message>)> = vec![
        ("Message must be JSON", vec![Message::text("{not json")]),
        ("Message must be a JSON object", vec![Message::text("[]")]),
        (
            "Message must have a string `type`",
            vec![Message::text(r#"{"id":"1"}"#)],
        ),
        (
            "Unexpected message type `start`",
            vec![Message::text(
                json!({ "id": "1", "type": "start", "payload": { "query": "{ me { team { slug } } }" } })
                    .to_string(),
            )],
        ),
        (
            "Message must have a non-empty string `id`",
            vec![Message::text(
                json!({ "type": "subscribe", "payload": { "query": "{ me { team { slug } } }" } })
                    .to_string(),
            )],
        ),
        (
            "`payload` must be an object",
            vec![Message::text(json!({ "id": "1", "type": "subscribe" }).to_string())],
        ),
        (
            "`payload.query` must be a string",
            vec![Message::text(
                json!({ "id": "1", "type": "subscribe", "payload": { "query": 3 } }).to_string(),
            )],
        ),
        (
            "Binary messages are not supported",
            vec![Message::binary(b"{}".to_vec())],
        ),
        ("Message too large", vec![Message::text(big.clone())]),
        (
            "Message too large",
            vec![
                Message::Frame(Frame::message(
                    big.as_bytes()[..40 * 1024].to_vec(),
                    OpCode::Data(Data::Text),
                    false,
                )),
                Message::Frame(Frame::message(
                    big.as_bytes()[40 * 1024..].to_vec(),
                    OpCode::Data(Data::Continue),
                    true,
                )),
            ],
        ),
    ];
    for (reason, messages) in cases {
        let mut ws = ready(&server, &key).await;
        for message in messages {
            ws.send(message).await.expect("send");
        }
        assert_eq!(closed(&mut ws).await, (4400, reason.to_string()));
    }
}

/// `connection_init` must come within the configured timeout (here 300 ms).
#[tokio::test]
async fn connection_init_must_come_within_the_timeout() {
    let db = test_db();
    let server = TestServer::builder(&db.url)
        .options(|o| o.ws_init_timeout_ms = 300)
        .start();
    let mut ws = connect(&server, MODERN).await;
    let started = Instant::now();
    assert_eq!(
        closed(&mut ws).await,
        (4408, "Connection initialisation timeout".to_string())
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn the_legacy_protocol_acknowledges_keeps_alive_and_runs_queries() {
    let (_db, server, key) = server();
    let mut ws = connect(&server, LEGACY).await;
    send(&mut ws, init(&key)).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "connection_ack" }));
    assert_eq!(recv(&mut ws).await, json!({ "type": "ka" }));
    send(
        &mut ws,
        json!({ "id": "1", "type": "start", "payload": { "query": "{ me { team { slug } } }" } }),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "1", "type": "data", "payload": { "data": { "me": { "team": { "slug": "acme" } } } } })
    );
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "1", "type": "complete" })
    );
    send(
        &mut ws,
        json!({ "id": "2", "type": "start", "payload": { "query": "{ nope }" } }),
    )
    .await;
    let error = recv(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    send(&mut ws, json!({ "type": "connection_terminate" })).await;
    assert_eq!(closed(&mut ws).await.0, 1000);
}

#[tokio::test]
async fn the_legacy_protocol_refuses_a_bad_key_with_connection_error() {
    let (_db, server, _key) = server();
    let mut ws = connect(&server, LEGACY).await;
    send(&mut ws, init("tg_not_a_key")).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "type": "connection_error", "payload": { "message": "Forbidden" } })
    );
    assert_eq!(closed(&mut ws).await, (4403, "Forbidden".to_string()));
}

#[tokio::test]
async fn a_subscription_streams_until_the_client_completes_it() {
    let (_db, server, key) = server();
    let mut ws = ready(&server, &key).await;
    send(&mut ws, subscribe("u", "subscription { unreadCount }")).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "u", "type": "next", "payload": { "data": { "unreadCount": 0 } } })
    );
    send(&mut ws, json!({ "id": "u", "type": "complete" })).await;
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "pong" }));
    // The id is free again.
    send(&mut ws, subscribe("u", "subscription { unreadCount }")).await;
    assert_eq!(recv(&mut ws).await["id"], "u");
}

/// A graceful stop (SIGTERM) tells every open websocket, in either subprotocol, that the
/// server is going away (1001) within well under a second, so clients reconnect to
/// another replica at once; an upgrade that still reaches the server is refused (503),
/// and the process exits without waiting out its shutdown timeout (10 s).
#[tokio::test]
async fn a_graceful_stop_closes_every_websocket_with_1001_and_exits() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let mut replica = Replica::spawn(&db.url, &[]);
    let mut modern = ws::ready(&replica.ws(), &key).await;
    send(&mut modern, subscribe("u", "subscription { unreadCount }")).await;
    assert_eq!(
        ws::next_payload(&mut modern, "u").await,
        json!({ "data": { "unreadCount": 0 } })
    );
    let mut legacy = legacy_subscriber(&replica.ws(), &key).await;
    // A client between two requests on a kept-alive HTTP connection: actix-http keeps
    // serving the connections it has while the server stops, so an upgrade may still come.
    let mut between = kept_alive(replica.addr()).await;

    let stopping = Instant::now();
    replica.terminate();
    let going_away = (1001, "Server shutting down".to_string());
    assert_eq!(
        ws::closed_within(&mut modern, Duration::from_secs(3)).await,
        going_away
    );
    assert_eq!(
        ws::closed_within(&mut legacy, Duration::from_secs(3)).await,
        going_away
    );
    let told = stopping.elapsed();
    assert!(told < Duration::from_secs(1), "told after {told:?}");
    drop((modern, legacy));

    // Load balancers are told to send nothing new here.
    let ready = get_on(&mut between, replica.addr(), "/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 503 "), "{ready}");
    assert!(ready.ends_with("shutting down"), "{ready}");
    let late = upgrade_on(&mut between, replica.addr()).await;
    assert!(late.starts_with("HTTP/1.1 503 "), "{late}");
    assert!(late.ends_with("the server is shutting down"), "{late}");
    drop(between);

    let status = replica
        .exited_within(Duration::from_secs(5))
        .await
        .expect("the process exits well before its 10 s shutdown timeout");
    assert!(status.success(), "{status}");
}

/// A legacy graphql-ws connection with an `unreadCount` subscription running.
async fn legacy_subscriber(url: &str, key: &str) -> Ws {
    let mut ws = ws::connect(url, LEGACY).await;
    send(&mut ws, init(key)).await;
    assert_eq!(recv(&mut ws).await, json!({ "type": "connection_ack" }));
    assert_eq!(recv(&mut ws).await, json!({ "type": "ka" }));
    let start = json!({ "id": "u", "type": "start", "payload": { "query": "subscription { unreadCount }" } });
    send(&mut ws, start).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({ "id": "u", "type": "data", "payload": { "data": { "unreadCount": 0 } } })
    );
    ws
}

/// A raw HTTP/1.1 connection that has been answered once and stays open.
async fn kept_alive(addr: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
    tcp
}

/// A `GET` on `tcp`; the answer's head and body.
async fn get_on(tcp: &mut TcpStream, addr: &str, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    read_answer(tcp).await
}

/// Sends a websocket upgrade on `tcp`; the answer's head (and body, if the server closes).
async fn upgrade_on(tcp: &mut TcpStream, addr: &str) -> String {
    let request = format!(
        "GET /graphql HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {MODERN}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    read_answer(tcp).await
}

/// An answer's head and its `content-length` body (a handshake has neither length nor
/// body: its head alone), read within 3 s.
async fn read_answer(tcp: &mut TcpStream) -> String {
    let mut read = Vec::new();
    let mut chunk = [0u8; 1024];
    let complete = |read: &[u8]| {
        let text = String::from_utf8_lossy(read);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|n| n.trim().to_string())
            })
            .map_or(0, |n| n.parse().expect("content-length"));
        body.len() >= length
    };
    while !complete(&read) {
        let n = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "the connection closed: {}",
            String::from_utf8_lossy(&read)
        );
        read.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&read).into_owned()
}

/// Sends a close frame (None: one without a status code) and returns the server's answer,
/// skipping what running operations still sent; the server must then end TCP cleanly
/// (a stream that ends without the answer is what clients report as 1006).
async fn answer_to_close(ws: &mut Ws, code: Option<u16>) -> Option<(u16, String)> {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let frame = code.map(|code| CloseFrame {
        code: code.into(),
        reason: "bye".into(),
    });
    ws.close(frame).await.expect("send the close frame");
    let answer = loop {
        match ws::next_within(ws, Duration::from_secs(5)).await {
            Some(Message::Close(frame)) => {
                break frame.map(|f| (u16::from(f.code), f.reason.to_string()))
            }
            Some(Message::Text(_)) => continue,
            other => panic!("expected the answer to the close frame, got {other:?}"),
        }
    };
    let end = tokio::time::timeout(Duration::from_secs(5), futures_util::StreamExt::next(ws))
        .await
        .expect("the server ends TCP");
    assert!(end.is_none(), "the stream ended with {end:?}");
    answer
}

/// RFC 6455, 5.5.1: a client's close frame is answered with a close frame echoing its code
/// (an empty one with an empty one), in both subprotocols, idle or with a subscription
/// running; 10 rounds each, since what broke was a race between the answer and TCP's end.
#[tokio::test]
async fn a_client_close_frame_is_answered_with_a_close_frame() {
    let (_db, server, key) = server();
    for code in [Some(1000), Some(4000), None] {
        let echoed = code.map(|code| (code, "bye".to_string()));
        for round in 0..10 {
            let mut modern = connect(&server, MODERN).await;
            let answer = answer_to_close(&mut modern, code).await;
            assert_eq!(
                answer, echoed,
                "{MODERN} {code:?} round {round}, before init"
            );

            let mut modern = ready(&server, &key).await;
            send(&mut modern, subscribe("u", "subscription { unreadCount }")).await;
            ws::next_payload(&mut modern, "u").await;
            let answer = answer_to_close(&mut modern, code).await;
            assert_eq!(
                answer, echoed,
                "{MODERN} {code:?} round {round}, subscribed"
            );

            let mut legacy = legacy_subscriber(&server.ws_url(), &key).await;
            let answer = answer_to_close(&mut legacy, code).await;
            assert_eq!(
                answer, echoed,
                "{LEGACY} {code:?} round {round}, subscribed"
            );
        }
    }
}

/// Websockets outlive the header and body deadlines: those bound how a request arrives,
/// not how long the connection it upgrades stays open.
#[tokio::test]
async fn websockets_outlive_the_request_deadlines() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::builder(&db.url)
        .options(|o| {
            o.header_timeout_ms = 300;
            o.body_timeout_ms = 300;
        })
        .start();
    let mut modern = ready(&server, &key).await;
    let mut legacy = legacy_subscriber(&server.ws_url(), &key).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    send(&mut modern, subscribe("q", "{ __typename }")).await;
    assert_eq!(
        ws::next_payload(&mut modern, "q").await,
        json!({ "data": { "__typename": "Query" } })
    );
    let start = json!({ "id": "q", "type": "start", "payload": { "query": "{ __typename }" } });
    send(&mut legacy, start).await;
    loop {
        let message = recv(&mut legacy).await;
        if message["type"] == "ka" {
            continue;
        }
        assert_eq!(
            message["payload"]["data"]["__typename"], "Query",
            "{message}"
        );
        break;
    }
}
