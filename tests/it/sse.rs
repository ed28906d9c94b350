//! GraphQL over Server-Sent Events (graphql-sse) on `/graphql`: distinct connections over
//! POST and GET, the single connection mode (PUT, GET, POST, DELETE), `Last-Event-ID`
//! resume of `messageAdded` from the outbox, the per-key stream cap, the server's stop, and
//! graphql-sse's own client in both modes (`tests/node/sse.mjs`).

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::node::run_checks;
use crate::helpers::replica::Replica;
use crate::helpers::{self, test_db, Client, TestDb, TestServer};

const SEND: &str =
    "mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }";

fn message_added(ticket: Uuid) -> String {
    format!("subscription {{ messageAdded(ticketId: \"{ticket}\") {{ content eventPosition }} }}")
}

/// One event of a stream (comments are skipped).
#[derive(Debug)]
struct Event {
    event: String,
    id: Option<String>,
    data: Value,
}

/// Reads the events of a `text/event-stream` response.
struct Events {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
    /// Comments seen (keep-alives).
    comments: usize,
}

impl Events {
    fn of(response: reqwest::Response) -> Events {
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Events {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .boxed(),
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event within `wait`; None when the stream ended or nothing came.
    async fn next(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    event: String::new(),
                    id: None,
                    data: Value::Null,
                };
                let mut comment = true;
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        (event.event, comment) = (name.to_string(), false);
                    } else if let Some(id) = line.strip_prefix("id: ") {
                        event.id = Some(id.to_string());
                    } else if let Some(data) = line.strip_prefix("data:") {
                        let data = data.trim();
                        if !data.is_empty() {
                            event.data = serde_json::from_str(data).unwrap();
                        }
                    }
                }
                if comment {
                    self.comments += 1;
                    continue;
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.ok()?).unwrap());
        }
    }

    /// The next `next` event, skipping nothing else.
    async fn next_result(&mut self) -> Event {
        let event = self.next(Duration::from_secs(10)).await.expect("an event");
        assert_eq!(event.event, "next", "{event:?}");
        event
    }

    /// The next `next` event that is not a late warm-up message (content `tag…`).
    async fn next_but(&mut self, tag: &str) -> Event {
        loop {
            let event = self.next_result().await;
            let content = event.data["data"]["messageAdded"]["content"]
                .as_str()
                .or(event.data["payload"]["data"]["messageAdded"]["content"].as_str())
                .unwrap_or_default();
            if !content.starts_with(tag) {
                return event;
            }
        }
    }
}

struct World {
    db: TestDb,
    ticket: Uuid,
    key: String,
}

fn world() -> World {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    World { db, ticket, key }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn open_post(url: &str, key: &str, body: Value) -> reqwest::Response {
    http()
        .post(url)
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(ACCEPT, "text/event-stream")
        .header(CONTENT_TYPE, "application/json")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Sends messages until the subscription delivers one (a subscription gives no sign
/// that it is listening); returns the first delivered `next` event.
async fn first_delivery(events: &mut Events, client: &Client, ticket: Uuid, tag: &str) -> Event {
    for attempt in 0..50 {
        client
            .data(SEND, json!({ "t": ticket, "c": format!("{tag}{attempt}") }))
            .await;
        if let Some(event) = events.next(Duration::from_millis(300)).await {
            return event;
        }
    }
    panic!("no event was delivered");
}

#[tokio::test]
async fn distinct_connections_stream_queries_and_subscriptions() {
    let w = world();
    let server = TestServer::start(&w.db.url);
    let client = server.client(&w.key);
    // A query: one result, `complete`, and the stream ends.
    let query = open_post(
        &server.url("/graphql"),
        &w.key,
        json!({ "query": "{ tickets { totalCount } }" }),
    )
    .await;
    let mut events = Events::of(query);
    let result = events.next_result().await;
    assert_eq!(
        result.data["data"]["tickets"]["totalCount"], 1,
        "{result:?}"
    );
    let complete = events.next(Duration::from_secs(5)).await.expect("complete");
    assert_eq!(complete.event, "complete");
    assert!(
        events.next(Duration::from_secs(5)).await.is_none(),
        "the stream ends"
    );

    // A subscription: each message as a `next` event whose id is its position.
    let subscription = open_post(
        &server.url("/graphql"),
        &w.key,
        json!({ "query": message_added(w.ticket) }),
    )
    .await;
    let mut events = Events::of(subscription);
    let first = first_delivery(&mut events, &client, w.ticket, "hello").await;
    let message = &first.data["data"]["messageAdded"];
    assert_eq!(
        first.id.as_deref(),
        message["eventPosition"].as_str(),
        "{first:?}"
    );
    client
        .data(SEND, json!({ "t": w.ticket, "c": "second" }))
        .await;
    let second = events.next_but("hello").await;
    assert_eq!(second.data["data"]["messageAdded"]["content"], "second");
    assert!(events.comments >= 1, "the stream opens with a comment");

    // Request errors come as the stream's one result.
    let invalid = open_post(
        &server.url("/graphql"),
        &w.key,
        json!({ "query": "subscription { nope }" }),
    )
    .await;
    let mut events = Events::of(invalid);
    let refused = events.next_result().await;
    assert_eq!(
        refused.data["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert!(refused.data.get("data").is_none(), "{refused:?}");
    assert_eq!(
        events.next(Duration::from_secs(5)).await.unwrap().event,
        "complete"
    );
}

#[tokio::test]
async fn last_event_id_resumes_message_added_from_the_outbox() {
    let w = world();
    let server = TestServer::start(&w.db.url);
    let client = server.client(&w.key);
    let subscription = open_post(
        &server.url("/graphql"),
        &w.key,
        json!({ "query": message_added(w.ticket) }),
    )
    .await;
    let mut events = Events::of(subscription);
    let seen = first_delivery(&mut events, &client, w.ticket, "before").await;
    let last_id = seen.id.clone().expect("an id");
    drop(events);
    for content in ["missed-1", "missed-2"] {
        client
            .data(SEND, json!({ "t": w.ticket, "c": content }))
            .await;
    }
    // What EventSource does when it reconnects: the same GET, with Last-Event-ID.
    let query = message_added(w.ticket);
    let resumed = http()
        .get(server.url("/graphql"))
        .query(&[("query", query.as_str())])
        .header(AUTHORIZATION, format!("Bearer {}", w.key))
        .header(ACCEPT, "text/event-stream")
        .header("Last-Event-ID", &last_id)
        .send()
        .await
        .unwrap();
    let mut events = Events::of(resumed);
    for expected in ["missed-1", "missed-2"] {
        let event = events.next_but("before").await;
        assert_eq!(
            event.data["data"]["messageAdded"]["content"], expected,
            "{event:?}"
        );
    }
    client
        .data(SEND, json!({ "t": w.ticket, "c": "live" }))
        .await;
    let live = events.next_result().await;
    assert_eq!(live.data["data"]["messageAdded"]["content"], "live");

    // A garbled Last-Event-ID is refused, not ignored.
    let garbled = http()
        .get(server.url("/graphql"))
        .query(&[("query", query.as_str())])
        .header(AUTHORIZATION, format!("Bearer {}", w.key))
        .header(ACCEPT, "text/event-stream")
        .header("Last-Event-ID", "garbage")
        .send()
        .await
        .unwrap();
    let refused = Events::of(garbled).next_result().await;
    assert_eq!(
        refused.data["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused:?}"
    );
    // And GET never runs a mutation.
    let mutation = http()
        .get(server.url("/graphql"))
        .query(&[("query", "mutation { __typename }")])
        .header(AUTHORIZATION, format!("Bearer {}", w.key))
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 405);
}

#[tokio::test]
async fn a_single_connection_carries_operations_by_id() {
    let w = world();
    let server = TestServer::start(&w.db.url);
    let client = server.client(&w.key);
    let url = server.url("/graphql");
    let auth = format!("Bearer {}", w.key);
    let token = http()
        .put(&url)
        .header(AUTHORIZATION, &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 201);
    let token = token.text().await.unwrap();
    let stream = http()
        .get(&url)
        .header(AUTHORIZATION, &auth)
        .header(ACCEPT, "text/event-stream")
        .header("x-graphql-event-stream-token", &token)
        .send()
        .await
        .unwrap();
    let mut events = Events::of(stream);
    // One reader per stream.
    let second = http()
        .get(&url)
        .header(AUTHORIZATION, &auth)
        .header(ACCEPT, "text/event-stream")
        .header("x-graphql-event-stream-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 409);
    let run = |id: &str, query: String| {
        http()
            .post(&url)
            .header(AUTHORIZATION, &auth)
            .header("x-graphql-event-stream-token", &token)
            .json(&json!({ "query": query, "extensions": { "operationId": id } }))
            .send()
    };
    assert_eq!(
        run("q", "{ tickets { totalCount } }".into())
            .await
            .unwrap()
            .status(),
        202
    );
    let result = events.next_result().await;
    assert_eq!(result.data["id"], "q");
    assert_eq!(result.data["payload"]["data"]["tickets"]["totalCount"], 1);
    let complete = events.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (complete.event.as_str(), &complete.data),
        ("complete", &json!({ "id": "q" }))
    );

    assert_eq!(
        run("s", message_added(w.ticket)).await.unwrap().status(),
        202
    );
    assert_eq!(
        run("s", message_added(w.ticket)).await.unwrap().status(),
        409
    );
    let delivered = first_delivery(&mut events, &client, w.ticket, "single").await;
    assert_eq!(delivered.data["id"], "s", "{delivered:?}");
    assert!(delivered.id.is_some(), "{delivered:?}");
    // Stopped: no more events for it.
    let stopped = http()
        .delete(format!("{url}?operationId=s"))
        .header(AUTHORIZATION, &auth)
        .header("x-graphql-event-stream-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 200);
    client
        .data(SEND, json!({ "t": w.ticket, "c": "after-stop" }))
        .await;
    // (Late warm-up messages may still be queued; nothing after the stop may come.)
    while let Some(after) = events.next(Duration::from_millis(700)).await {
        let content = after.data["payload"]["data"]["messageAdded"]["content"].as_str();
        assert_ne!(content, Some("after-stop"), "{after:?}");
    }

    // Another credential cannot see the stream.
    let team = fixtures::team(&mut w.db.conn(), "globex");
    let other = helpers::create_key(&w.db.url, team, &[Scope::Read]);
    let foreign = http()
        .post(&url)
        .header(AUTHORIZATION, format!("Bearer {other}"))
        .header("x-graphql-event-stream-token", &token)
        .json(&json!({ "query": "{ __typename }", "extensions": { "operationId": "x" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    let unauthenticated = http().put(&url).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn streams_count_against_the_keys_connection_cap_and_end_when_the_server_stops() {
    let w = world();
    // A stream learns that its client left when a write fails: keep-alives every 300 ms.
    let replica = Replica::spawn(
        &w.db.url,
        &[
            ("TICKETGATE_WS_MAX_CONNECTIONS_PER_KEY", "2"),
            ("TICKETGATE_WS_KEEPALIVE_MS", "300"),
        ],
    );
    let url = replica.graphql();
    let body = json!({ "query": message_added(w.ticket) });
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(Events::of(open_post(&url, &w.key, body.clone()).await));
    }
    let third = open_post(&url, &w.key, body.clone()).await;
    assert_eq!(third.status(), 429);
    let refused: Value = third.json().await.unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    // A closed stream frees its slot.
    drop(open.pop());
    let mut reopened = None;
    for _ in 0..50 {
        let response = open_post(&url, &w.key, body.clone()).await;
        if response.status() == 200 {
            reopened = Some(Events::of(response));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut reopened = reopened.expect("a slot freed by the closed stream");
    // SIGTERM: every stream ends promptly.
    replica.terminate();
    let started = std::time::Instant::now();
    while reopened.next(Duration::from_secs(5)).await.is_some() {}
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// graphql-sse's own client (`tests/node/sse.mjs`) in both modes: `messageAdded` arrives,
/// and a subscription dropped with its stream resumes from its last `eventPosition`.
#[test]
fn graphql_sse_client_receives_messages_in_both_modes() {
    let w = world();
    let replica = Replica::spawn(&w.db.url, &[]);
    let (http, ticket) = (replica.graphql(), w.ticket.to_string());
    let env = [
        ("HTTP", http.as_str()),
        ("KEY", w.key.as_str()),
        ("TICKET", ticket.as_str()),
    ];
    run_checks("sse.mjs", &env, 3);
}

/// A client that never reads: the stream's queue stays small, and after the send timeout
/// its subscription stops and its slot is free again.
#[tokio::test]
async fn a_client_that_never_reads_loses_its_stream() {
    use std::io::Write;
    let w = world();
    let replica = Replica::spawn(
        &w.db.url,
        &[
            ("TICKETGATE_WS_MAX_CONNECTIONS_PER_KEY", "1"),
            ("TICKETGATE_WS_SEND_TIMEOUT_MS", "500"),
        ],
    );
    let body = json!({ "query": message_added(w.ticket) }).to_string();
    let mut socket = std::net::TcpStream::connect(replica.addr()).unwrap();
    write!(
        socket,
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Accept: text/event-stream\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        replica.addr(),
        w.key,
        body.len()
    )
    .unwrap();
    let metrics = || async {
        let text = reqwest::get(format!("http://{}/metrics", replica.addr()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| {
                line.strip_prefix("ticketgate_subscriptions_active{protocol=\"sse\"} ")
            })
            .and_then(|value| value.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let client = Client::new(replica.graphql(), &w.key);
    let big = "x".repeat(60 * 1024);
    let mut active = 0.0;
    for _ in 0..50 {
        active = metrics().await;
        if active == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(active, 1.0, "the stream's subscription is active");
    // Far more than the socket buffers and the queue hold.
    for _ in 0..300 {
        client.data(SEND, json!({ "t": w.ticket, "c": big })).await;
    }
    let mut freed = false;
    for _ in 0..100 {
        if metrics().await == 0.0 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        freed,
        "the subscription of a client that never reads was stopped"
    );
    let again = open_post(
        &replica.graphql(),
        &w.key,
        json!({ "query": message_added(w.ticket) }),
    )
    .await;
    assert_eq!(again.status(), 200, "its slot is free");
    drop(socket);
}
