//! Input that nests 100,000 levels deep, in every shape a client controls, over HTTP and
//! both websocket protocols: each is answered with a stable code, and the server (this
//! test process: the server runs in one of its threads) stays up. A stack overflow
//! anywhere aborts the whole test binary, so these tests cannot pass by accident.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures;
use crate::helpers::ws::{self, connect, recv, send, LEGACY, MODERN};
use crate::helpers::{self, test_db, TestServer};

const LEVELS: usize = 100_000;

/// Each deep document, with the codes it may get. The bodies are a few MB, so the test
/// server accepts large bodies and messages: the point is to reach the GraphQL layer, not
/// the size limit.
fn deep_documents() -> Vec<(&'static str, String)> {
    let nested_fields = "{ a".repeat(LEVELS) + &" }".repeat(LEVELS);
    let list_argument = format!(
        "{{ tickets(filter: {}) {{ totalCount }} }}",
        "[".repeat(LEVELS) + &"]".repeat(LEVELS)
    );
    let object_argument = format!(
        "{{ tickets(filter: {}1{}) {{ totalCount }} }}",
        "{a: ".repeat(LEVELS),
        "}".repeat(LEVELS)
    );
    let inline_fragments =
        "{ ... on Query ".repeat(LEVELS) + "{ __typename" + &" }".repeat(LEVELS + 1);
    let mut fragment_chain = format!(
        "{{ ...F{} }} fragment F0 on Query {{ __typename }}",
        LEVELS - 1
    );
    for link in 1..LEVELS {
        fragment_chain.push_str(&format!(
            " fragment F{link} on Query {{ ...F{} }}",
            link - 1
        ));
    }
    let mut unused_chain = String::from("{ __typename } fragment F0 on Query { __typename }");
    for link in 1..LEVELS {
        unused_chain.push_str(&format!(
            " fragment F{link} on Query {{ ...F{} }}",
            link - 1
        ));
    }
    let variable_type = format!(
        "query($x: {}Int{}) {{ __typename }}",
        "[".repeat(LEVELS),
        "]".repeat(LEVELS)
    );
    let default_value = format!(
        "query($x: [Int] = {}) {{ __typename }}",
        "[".repeat(LEVELS) + &"]".repeat(LEVELS)
    );
    let directive_argument = format!(
        "{{ __typename @include(if: {}) }}",
        "[".repeat(LEVELS) + &"]".repeat(LEVELS)
    );
    vec![
        ("nested fields", nested_fields),
        ("nested list argument", list_argument),
        ("nested object argument", object_argument),
        ("nested inline fragments", inline_fragments),
        ("fragment chain", fragment_chain),
        ("unused fragment chain", unused_chain),
        ("nested variable type", variable_type),
        ("nested default value", default_value),
        ("nested directive argument", directive_argument),
    ]
}

/// A fragment chain of 100,000 links is refused by its token count before it is parsed.
const DEEP_CODES: &[&str] = &["QUERY_TOO_DEEP", "QUERY_TOO_LARGE"];

fn big_server(url: &str) -> TestServer {
    TestServer::builder(url)
        .options(|options| {
            options.max_body_bytes = 16 * 1024 * 1024;
            options.ws_max_message_bytes = 16 * 1024 * 1024;
        })
        .start()
}

fn key(db: &helpers::TestDb) -> String {
    let team = fixtures::team(&mut db.conn(), "acme");
    helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write])
}

async fn post_raw(server: &TestServer, key: &str, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {body}"))
}

async fn still_serving(server: &TestServer, key: &str) {
    let data = server.client(key).data("{ __typename }", json!({})).await;
    assert_eq!(data, json!({ "__typename": "Query" }));
}

#[tokio::test]
async fn deep_documents_over_http_are_refused_with_a_code() {
    let db = test_db();
    let key = key(&db);
    let server = big_server(&db.url);
    for round in 0..2 {
        for (shape, query) in deep_documents() {
            let body = json!({ "query": query }).to_string();
            let started = std::time::Instant::now();
            let (status, answer) = post_raw(&server, &key, body).await;
            eprintln!(
                "{shape}: {status} in {:?}: {}",
                started.elapsed(),
                answer.to_string().chars().take(200).collect::<String>()
            );
            assert!(status < 500, "{shape} (round {round}): {status} {answer}");
            let code = first_code(&answer);
            assert!(DEEP_CODES.contains(&code), "{shape}: {code}");
            still_serving(&server, &key).await;
        }
    }
}

/// JSON nested 100,000 levels: serde_json's own bound (128) refuses it, with a code.
#[tokio::test]
async fn deep_json_bodies_and_variables_are_refused_with_a_code() {
    let db = test_db();
    let key = key(&db);
    let server = big_server(&db.url);
    let deep = "[".repeat(LEVELS) + &"]".repeat(LEVELS);
    let deep_object = "{\"a\":".repeat(LEVELS) + "1" + &"}".repeat(LEVELS);
    let bodies = [
        format!("{{\"query\": \"{{ __typename }}\", \"variables\": {{\"x\": {deep}}}}}"),
        format!("{{\"query\": \"{{ __typename }}\", \"variables\": {{\"x\": {deep_object}}}}}"),
        format!("{{\"query\": \"{{ __typename }}\", \"extensions\": {deep_object}}}"),
        deep.clone(),
        format!("[{deep}]"),
    ];
    for body in bodies {
        let (status, answer) = post_raw(&server, &key, body).await;
        assert!((400..500).contains(&status), "{status} {answer}");
        assert!(!first_code(&answer).is_empty());
        still_serving(&server, &key).await;
    }
    // Within serde's bound, a deep variable of a JSON scalar is still refused before it
    // reaches the database (and the database is never asked to parse it).
    let within = "{\"a\":".repeat(120) + "1" + &"}".repeat(120);
    let body = format!(
        "{{\"query\": \"mutation($t: JSON) {{ __typename }}\", \"variables\": {{\"t\": {within}}}}}"
    );
    let (status, answer) = post_raw(&server, &key, body).await;
    assert!(status < 500, "{status} {answer}");
}

async fn ws_error_code(ws: &mut ws::Ws, protocol: &str, id: &str) -> String {
    loop {
        let message = recv(ws).await;
        let kind = message["type"].as_str().unwrap_or_default();
        if matches!(kind, "ka" | "ping" | "pong") {
            continue;
        }
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(kind, "error", "{protocol}: {message}");
        let payload = &message["payload"];
        let error = if payload.is_array() {
            &payload[0]
        } else {
            payload
        };
        return error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {message}"))
            .to_string();
    }
}

async fn ws_ready(server: &TestServer, protocol: &str, key: &str) -> ws::Ws {
    let mut socket = connect(&server.ws_url(), protocol).await;
    send(&mut socket, ws::init(key)).await;
    loop {
        let message = recv(&mut socket).await;
        match message["type"].as_str() {
            Some("connection_ack") => return socket,
            Some("ka") => continue,
            _ => panic!("{protocol}: {message}"),
        }
    }
}

fn start_message(protocol: &str, id: &str, query: &str) -> Value {
    let kind = if protocol == MODERN {
        "subscribe"
    } else {
        "start"
    };
    json!({ "id": id, "type": kind, "payload": { "query": query } })
}

#[tokio::test]
async fn deep_documents_over_websockets_are_refused_with_a_code() {
    let db = test_db();
    let key = key(&db);
    let server = big_server(&db.url);
    for protocol in [MODERN, LEGACY] {
        let mut socket = ws_ready(&server, protocol, &key).await;
        for (index, (shape, query)) in deep_documents().into_iter().enumerate() {
            let id = format!("d{index}");
            send(&mut socket, start_message(protocol, &id, &query)).await;
            let code = ws_error_code(&mut socket, protocol, &id).await;
            assert!(
                DEEP_CODES.contains(&code.as_str()),
                "{protocol} {shape}: {code}"
            );
        }
        // The same connection still runs operations.
        send(
            &mut socket,
            start_message(protocol, "fine", "subscription { unreadCount }"),
        )
        .await;
        let answer = tokio::time::timeout(Duration::from_secs(10), recv(&mut socket))
            .await
            .expect("an answer");
        assert_eq!(answer["id"], "fine", "{protocol}: {answer}");
        assert_ne!(answer["type"], "error", "{protocol}: {answer}");
        still_serving(&server, &key).await;
    }
}
