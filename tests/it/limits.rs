//! Limits against abuse: depth, complexity priced by page size, aliases, root fields,
//! per-key rate, websocket connections per key, statement and pool timeouts, and
//! introspection switched off. Each refusal has its own code; none is a 5xx.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::ws::{self, closed};
use crate::helpers::{self, test_db, TestServer};

fn team_and_key(db: &helpers::TestDb) -> (uuid::Uuid, String) {
    let team = fixtures::team(&mut db.conn(), "acme");
    (
        team,
        helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]),
    )
}

#[tokio::test]
async fn documents_that_are_too_deep_complex_or_wide_are_refused() {
    let db = test_db();
    let (_, key) = team_and_key(&db);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    // 13 levels: ticket → messages → nodes → ticket → …
    let mut deep = "id".to_string();
    for _ in 0..4 {
        deep = format!("messages(first: 1) {{ nodes {{ ticket {{ {deep} }} }} }}");
    }
    let deep = format!("{{ ticket(number: 1) {{ {deep} }} }}");
    assert_eq!(client.error_code(&deep, json!({})).await, "QUERY_TOO_DEEP");

    let costly =
        "{ tickets(first: 500) { nodes { messages(first: 500) { nodes { id content } } } } }";
    assert_eq!(
        client.error_code(costly, json!({})).await,
        "QUERY_TOO_COMPLEX"
    );
    // A dashboard's page is far within the budget.
    client
        .data("{ tickets(first: 50) { nodes { id status person { name } messages(last: 5) { nodes { content } } } } }", json!({}))
        .await;

    let aliases = |n: usize| {
        format!(
            "{{ {} }}",
            (0..n)
                .map(|i| format!("a{i}: __typename"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    client.data(&aliases(20), json!({})).await;
    assert_eq!(
        client.error_code(&aliases(101), json!({})).await,
        "TOO_MANY_ALIASES"
    );
    let (status, body) = client.post(&aliases(10_000), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_ALIASES");

    let roots = (0..21)
        .map(|i| format!("t{i}: unreadCount"))
        .collect::<Vec<_>>()
        .join(" ");
    let server_many = TestServer::builder(&db.url)
        .options(|o| o.max_aliases = 1000)
        .start();
    let code = server_many
        .client(&key)
        .error_code(&format!("{{ {roots} }}"), json!({}))
        .await;
    assert_eq!(code, "TOO_MANY_ROOT_FIELDS");
}

#[tokio::test]
async fn each_key_has_its_own_rate() {
    let db = test_db();
    let (team, key) = team_and_key(&db);
    let other = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::builder(&db.url)
        .options(|o| {
            o.rate_limit_per_second = 1;
            o.rate_limit_burst = 3;
        })
        .start();
    let http = reqwest::Client::new();
    let ask = |key: &str| {
        http.post(server.url("/graphql"))
            .bearer_auth(key)
            .json(&json!({ "query": "{ unreadCount }" }))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(ask(&key).await.unwrap().status(), 200);
    }
    let limited = ask(&key).await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(
        ask(&other).await.unwrap().status(),
        200,
        "another key is not affected"
    );
}

#[tokio::test]
async fn websocket_connections_per_key_are_capped() {
    let db = test_db();
    let (_, key) = team_and_key(&db);
    let server = TestServer::builder(&db.url)
        .options(|o| o.ws_max_connections_per_key = 2)
        .start();
    let first = ws::ready(&server.ws_url(), &key).await;
    let _second = ws::ready(&server.ws_url(), &key).await;
    let mut third = ws::connect(&server.ws_url(), ws::MODERN).await;
    ws::send(&mut third, ws::init(&key)).await;
    assert_eq!(closed(&mut third).await.0, 4403);
    // A closed connection gives its slot back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = ws::connect(&server.ws_url(), ws::MODERN).await;
        ws::send(&mut again, ws::init(&key)).await;
        let reply = ws::next(&mut again).await;
        if matches!(&reply, Some(tokio_tungstenite::tungstenite::Message::Text(t)) if t.contains("connection_ack"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot was never freed: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_busy_pool_answers_db_unavailable_quickly() {
    let db = test_db();
    let (team, key) = team_and_key(&db);
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let server = TestServer::builder(&db.url)
        .options(|o| {
            o.pool_size = 1;
            o.pool_timeout_ms = 300;
        })
        .start();
    let client = server.client(&key);
    client.data("{ unreadCount }", json!({})).await;
    // Hold the ticket's row: a write through the server waits on it with the pool's only
    // connection, so the next request finds no connection.
    let mut holder = db.conn();
    diesel::sql_query("BEGIN").execute(&mut holder).unwrap();
    diesel::sql_query(format!(
        "SELECT 1 FROM tickets WHERE id = '{ticket}' FOR UPDATE"
    ))
    .execute(&mut holder)
    .unwrap();
    let writer = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .post(
                    "mutation($t: UUID!) { sendMessage(ticketId: $t, content: \"x\") { id } }",
                    json!({ "t": ticket }),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, body) = client.post("{ unreadCount }", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The key is known by now, so the request is taken and its field fails (a field error:
    // 200, as GraphQL over HTTP wants; a key still to be looked up would get a 503).
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "DB_UNAVAILABLE");
    // Once the row is free, the waiting write goes through: nothing was lost.
    diesel::sql_query("COMMIT").execute(&mut holder).unwrap();
    let (status, body) = writer.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}

#[test]
fn a_statement_over_the_timeout_is_db_unavailable() {
    let db = test_db();
    let mut conn = db.conn();
    diesel::sql_query("SET statement_timeout = 50")
        .execute(&mut conn)
        .unwrap();
    let err = diesel::sql_query("SELECT pg_sleep(1)")
        .execute(&mut conn)
        .unwrap_err();
    let app = ticketgate::error::AppError::from(err);
    assert_eq!(app.code().as_str(), "DB_UNAVAILABLE");
}

#[tokio::test]
async fn introspection_and_suggestions_can_be_switched_off() {
    let db = test_db();
    let (_, key) = team_and_key(&db);
    let server = TestServer::builder(&db.url)
        .options(|o| o.introspection = false)
        .start();
    let client = server.client(&key);
    // The schema is not revealed (async-graphql answers null rather than an error).
    let (_, body) = client
        .post("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        body["data"].is_null() || body["data"]["__schema"].is_null(),
        "{body}"
    );
    assert!(!body.to_string().contains("TicketStatus"), "{body}");
    let (_, body) = client.post("{ ticketz { id } }", json!({})).await;
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    // On by default.
    let open = TestServer::start(&db.url);
    open.client(&key)
        .data("{ __schema { queryType { name } } }", json!({}))
        .await;
}

/// Documents are validated once when nothing in a request can change the verdict (no
/// variables); every answer must be the one a server validating every request gives.
#[tokio::test]
async fn remembered_validation_answers_as_full_validation_does() {
    let db = test_db();
    let (team, key) = team_and_key(&db);
    fixtures::tickets(&mut db.conn(), team, 3);
    let cached = TestServer::start(&db.url);
    let uncached = TestServer::builder(&db.url)
        .options(|o| o.document_cache = 0)
        .start();
    let page = "{ tickets(first: 2) { nodes { ticketNumber status } pageInfo { hasNextPage } } }";
    let by_number = "query($n: Int!) { ticket(number: $n) { ticketNumber } }";
    let two_operations = "query A { unreadCount } query B { tickets(first: 1) { totalCount } }";
    let requests = [
        (page, json!({}), None),
        (page, json!({}), None),
        // Passed as `A`; `B` and no name at all are still checked in full.
        (two_operations, json!({}), Some("A")),
        (two_operations, json!({}), Some("A")),
        (two_operations, json!({}), Some("B")),
        (two_operations, json!({}), None),
        // Invalid: never remembered.
        ("{ tickets(first: 2) { nodes { nope } } }", json!({}), None),
        ("{ tickets(first: 2) { nodes { nope } } }", json!({}), None),
        // Variables: the values decide, every time.
        (by_number, json!({"n": 1}), None),
        (by_number, json!({"n": "one"}), None),
        (by_number, json!({}), None),
    ];
    for (query, variables, operation) in requests {
        let body = json!({ "query": query, "variables": variables, "operationName": operation });
        let answer = |server: &TestServer| {
            let request = server
                .client(&key)
                .http
                .post(server.url("/graphql"))
                .bearer_auth(&key)
                .json(&body);
            async move {
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<serde_json::Value>().await.expect("json"),
                )
            }
        };
        let (want, got) = (answer(&uncached).await, answer(&cached).await);
        assert_eq!(got, want, "{query} as {operation:?} with {variables}");
    }
}

/// The shape of the finding: a customer's own 500 long messages, asked for twenty times
/// through aliases. Within every other limit; refused by the response budget with one
/// error and no data, while one copy of the same page is still served. (30 KB each: the
/// budget counts the rows a request holds and the response built from them, so one
/// page of 15 MB costs 30 of the 32 MiB.)
#[tokio::test]
async fn a_response_past_its_budget_is_refused_whole() {
    use crate::helpers::server::customer_token;
    let db = test_db();
    let (team, _) = team_and_key(&db);
    let ticket = fixtures::insert_ticket(
        &mut db.conn(),
        team,
        &TicketSpec {
            distinct_id: "alice".into(),
            ..TicketSpec::default()
        },
    );
    fixtures::conversation(&mut db.conn(), team, ticket, 500, fixtures::base_time());
    diesel::sql_query(
        "UPDATE messages SET content = content || repeat('x', 30000) WHERE ticket_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(ticket)
    .execute(&mut db.conn())
    .expect("long messages");
    let server = TestServer::start(&db.url);
    let customer = server.client(&customer_token(team, "alice", 600));
    let number: i32 = diesel::sql_query("SELECT ticket_number FROM tickets WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(ticket)
        .get_result::<TicketNumber>(&mut db.conn())
        .expect("number")
        .ticket_number;

    let page = "messages(first: 500) { nodes { content } }";
    let one = format!("{{ ticket(number: {number}) {{ {page} }} }}");
    let data = customer.data(&one, json!({})).await;
    assert_eq!(
        data["ticket"]["messages"]["nodes"]
            .as_array()
            .expect("nodes")
            .len(),
        500
    );
    let aliases: String = (0..20).map(|i| format!(" a{i}: {page}")).collect();
    let twenty = format!("{{ ticket(number: {number}) {{{aliases} }} }}");
    for _ in 0..3 {
        let (status, body) = customer.post(&twenty, json!({})).await;
        assert!(status < 500, "{status}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "RESPONSE_TOO_LARGE"
        );
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1));
        assert!(
            body["data"].is_null(),
            "data was sent: {}",
            body["data"].to_string().len()
        );
    }
    // Still serving, and within budget again.
    customer.data(&one, json!({})).await;

    // With a budget smaller than twice the page, one copy is too much as well: the
    // statement stops at half the budget, before the whole page is read.
    let small = TestServer::builder(&db.url)
        .options(|options| options.max_response_bytes = 8 * 1024 * 1024)
        .start();
    let customer = small.client(&customer_token(team, "alice", 600));
    let (status, body) = customer.post(&one, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );
    assert!(body["data"].is_null());
    let few =
        format!("{{ ticket(number: {number}) {{ messages(first: 100) {{ nodes {{ id }} }} }} }}");
    customer.data(&few, json!({})).await;

    // The statement is capped by what the credential may still hold too, not only by the
    // request's budget: with 4 MiB for all of a key's requests, it stops at half of that.
    let tight = TestServer::builder(&db.url)
        .options(|options| options.max_held_bytes_per_key = 4 * 1024 * 1024)
        .start();
    let customer = tight.client(&customer_token(team, "alice", 600));
    let (status, body) = customer.post(&one, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&(2 * 1024 * 1024).to_string()),
        "not capped by the key's room: {message}"
    );
    let twenty =
        format!("{{ ticket(number: {number}) {{ messages(first: 20) {{ nodes {{ id }} }} }} }}");
    customer.data(&twenty, json!({})).await;
}

#[derive(QueryableByName)]
struct TicketNumber {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    ticket_number: i32,
}
