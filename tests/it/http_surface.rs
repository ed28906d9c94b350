//! The HTTP surface: health, readiness, metrics, authentication, content negotiation and
//! the refusals of malformed requests.

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::{self, fixtures, test_db, Client, TestServer};

struct Setup {
    db: helpers::TestDb,
    server: TestServer,
    key: String,
}

fn setup() -> Setup {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    Setup { db, server, key }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn health_and_readiness() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::builder(&db.url)
        .options(|o| o.pool_timeout_ms = 500)
        .start();
    let s = Setup { db, server, key };
    let health = http().get(s.server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http().get(s.server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // The database goes away: the process stays up, readiness says 503, queries say
    // DB_UNAVAILABLE with a 503 and no internals.
    s.db.drop_now();
    let ready = http().get(s.server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let health = http().get(s.server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let (status, body) = s
        .server
        .client(&s.key)
        .post("{ tickets { nodes { id } } }", json!({}))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "DB_UNAVAILABLE");
    assert!(
        !body.to_string().contains("tg_test"),
        "leaks the database name: {body}"
    );
}

#[tokio::test]
async fn requests_need_a_valid_key() {
    let s = setup();
    let query = json!({ "query": "{ tickets { nodes { id } } }" });
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Bearer".into()),
        Some("Bearer tg_not-a-real-key".into()),
        Some(format!("Basic {}", s.key)),
        Some("Bearer something-else".into()),
    ];
    for authorization in cases {
        let mut request = http().post(s.server.url("/graphql")).json(&query);
        if let Some(value) = &authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert!(body.get("data").is_none());
    }
    let ok = s
        .server
        .client(&s.key)
        .data("{ tickets { nodes { id } } }", json!({}))
        .await;
    assert_eq!(ok["tickets"]["nodes"].as_array().unwrap().len(), 3);
}

/// Posts until the key is refused (or `wait` passes): what a replica knows of keys follows
/// the database within moments, not at once.
async fn refused_within(client: &Client, wait: std::time::Duration) -> (u16, Value) {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let (status, body) = client.post("{ tickets { nodes { id } } }", json!({})).await;
        if status == 401 || std::time::Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn keys_revoked_in_sql_stop_working_at_once() {
    use diesel::prelude::*;
    use ticketgate::db::schema::api_keys;
    let s = setup();
    let client = s.server.client(&s.key);
    client.data("{ tickets { nodes { id } } }", json!({})).await;
    // Cached now; revoked behind ticketgate's back: the trigger announces it.
    diesel::update(api_keys::table)
        .set(api_keys::revoked_at.eq(diesel::dsl::now))
        .execute(&mut s.db.conn())
        .unwrap();
    let (status, body) = refused_within(&client, std::time::Duration::from_secs(5)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn rescoped_and_deleted_keys_are_looked_up_again() {
    use diesel::prelude::*;
    use ticketgate::db::schema::api_keys;
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::tickets(&mut db.conn(), team, 1)[0];
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let write = format!(
        r#"mutation {{ bulkUpdateTags(ids: ["{ticket}"], action: ADD, tags: ["x"]) {{ id }} }}"#
    );
    let write = write.as_str();
    assert_eq!(client.error_code(write, json!({})).await, "FORBIDDEN");
    // Made a write key in SQL, it can write within moments.
    diesel::update(api_keys::table)
        .set(api_keys::scopes.eq(vec!["read".to_string(), "write".to_string()]))
        .execute(&mut db.conn())
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut body = client.post(write, json!({})).await.1;
    while body.get("errors").is_some() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        body = client.post(write, json!({})).await.1;
    }
    assert!(body.get("errors").is_none(), "{body}");
    diesel::delete(api_keys::table)
        .execute(&mut db.conn())
        .unwrap();
    let (status, _) = refused_within(&client, std::time::Duration::from_secs(5)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_key_is_looked_up_once_then_kept_unless_caching_is_off() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    for (cache_secs, looked_up_again) in [(60, false), (0, true)] {
        let server = TestServer::builder(&db.url)
            .options(|o| o.key_cache_secs = cache_secs)
            .start();
        let client = server.client(&key);
        let query = "{ tickets { nodes { id } } }";
        let first = statements_of(&server, client.data(query, json!({}))).await;
        let second = statements_of(&server, client.data(query, json!({}))).await;
        let expected = if looked_up_again { first } else { first - 1 };
        assert_eq!(
            second, expected,
            "cache {cache_secs} s: {first} then {second}"
        );
    }
}

/// How many SQL statements `request` cost the server.
async fn statements_of(server: &TestServer, request: impl std::future::Future) -> u64 {
    let count = || async {
        let text = reqwest::get(server.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("ticketgate_db_statements_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap()
    };
    let before = count().await;
    request.await;
    count().await - before
}

#[tokio::test]
async fn key_usage_is_recorded_in_batches() {
    use diesel::prelude::*;
    use ticketgate::db::schema::api_keys;
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::builder(&db.url)
        .options(|o| o.key_usage_flush_secs = 1)
        .start();
    let client = server.client(&key);
    for _ in 0..5 {
        client.data("{ tickets { nodes { id } } }", json!({})).await;
    }
    let last_used = || -> Option<chrono::DateTime<chrono::Utc>> {
        api_keys::table
            .select(api_keys::last_used_at)
            .first(&mut db.conn())
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while last_used().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(last_used().is_some(), "last_used_at was never written");
}

async fn raw_post(
    server: &TestServer,
    key: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, String) {
    let mut request = http()
        .post(server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, media, response.text().await.unwrap())
}

fn code_of(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {body}"))
        .to_string()
}

#[tokio::test]
async fn negotiates_the_response_media_type() {
    let s = setup();
    let ok = r#"{"query":"{ tickets { nodes { id } } }"}"#;
    let (status, media, _) = raw_post(&s.server, &s.key, Some("application/json"), None, ok).await;
    assert_eq!(
        (status, media.as_str()),
        (200, "application/json; charset=utf-8")
    );
    let (status, media, _) =
        raw_post(&s.server, &s.key, Some("application/json"), Some("*/*"), ok).await;
    assert_eq!(
        (status, media.as_str()),
        (200, "application/json; charset=utf-8")
    );
    let (status, media, _) = raw_post(
        &s.server,
        &s.key,
        Some("application/json"),
        Some("application/graphql-response+json"),
        ok,
    )
    .await;
    assert_eq!(
        (status, media.as_str()),
        (200, "application/graphql-response+json; charset=utf-8")
    );
    let (status, _, body) = raw_post(
        &s.server,
        &s.key,
        Some("application/json"),
        Some("text/csv"),
        ok,
    )
    .await;
    assert_eq!(status, 406);
    assert_eq!(code_of(&body), "NOT_ACCEPTABLE");
}

#[tokio::test]
async fn request_errors_have_no_data_and_the_right_status() {
    let s = setup();
    let broken = r#"{"query":"{ tickets { "}"#;
    let invalid = r#"{"query":"{ noSuchField }"}"#;
    for (body, code) in [
        (broken, "GRAPHQL_PARSE_FAILED"),
        (invalid, "GRAPHQL_VALIDATION_FAILED"),
    ] {
        // Legacy media type: 200, as the spec asks for application/json.
        let (status, _, text) = raw_post(
            &s.server,
            &s.key,
            Some("application/json"),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(code_of(&text), code);
        assert!(!text.contains("\"data\""), "{text}");
        // The spec's media type: 400.
        let (status, _, text) = raw_post(
            &s.server,
            &s.key,
            Some("application/json"),
            Some("application/graphql-response+json"),
            body,
        )
        .await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(code_of(&text), code);
        assert!(!text.contains("\"data\""), "{text}");
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_with_4xx() {
    let s = setup();
    let json = Some("application/json");
    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (json, b"{not json".to_vec(), 400, "BAD_REQUEST"),
        (json, b"".to_vec(), 400, "BAD_REQUEST"),
        (json, b"[]".to_vec(), 400, "BAD_REQUEST"),
        (json, b"42".to_vec(), 400, "BAD_REQUEST"),
        (json, br#"{"variables":{}}"#.to_vec(), 400, "BAD_REQUEST"),
        (json, br#"{"query":7}"#.to_vec(), 400, "BAD_REQUEST"),
        (
            json,
            br#"{"query":"{ __typename }","variables":"x"}"#.to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (
            json,
            br#"{"query":"{ __typename }","operationName":1}"#.to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (
            json,
            br#"{"query":"{ __typename }","extensions":[]}"#.to_vec(),
            400,
            "BAD_REQUEST",
        ),
        (json, vec![0xff, 0xfe, 0x00], 400, "BAD_REQUEST"),
        (
            None,
            br#"{"query":"{ __typename }"}"#.to_vec(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            Some("text/plain"),
            br#"{"query":"{ __typename }"}"#.to_vec(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"query=%7B__typename%7D".to_vec(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            Some("application/json; charset=latin1"),
            br#"{"query":"{ __typename }"}"#.to_vec(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let shown = String::from_utf8_lossy(&body).to_string();
        let (got, _, text) = raw_post(&s.server, &s.key, content_type, None, body).await;
        assert_eq!(got, status, "{content_type:?} {shown}: {text}");
        assert_eq!(code_of(&text), code, "{shown}");
    }
    // The query text as the body.
    let (status, _, text) = raw_post(
        &s.server,
        &s.key,
        Some("application/graphql"),
        None,
        "{ __typename }",
    )
    .await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::builder(&db.url)
        .options(|o| o.max_body_bytes = 4096)
        .start();
    let big = format!(
        r#"{{"query":"{{ __typename }}","variables":{{"pad":"{}"}}}}"#,
        "x".repeat(5000)
    );
    let (status, _, text) = raw_post(&server, &key, Some("application/json"), None, big).await;
    assert_eq!(status, 413);
    assert_eq!(code_of(&text), "PAYLOAD_TOO_LARGE");
    // Without Content-Length (chunked), the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let (status, _, _) = raw_post(&server, &key, Some("application/json"), None, stream).await;
    assert_eq!(status, 413);
    // Just under the limit is fine.
    let (status, _, _) = raw_post(
        &server,
        &key,
        Some("application/json"),
        None,
        r#"{"query":"{ __typename }"}"#,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn get_requests_run_queries_but_never_mutations() {
    let s = setup();
    let get = |query: &str| {
        http()
            .get(s.server.url("/graphql"))
            .query(&[("query", query)])
            .header(AUTHORIZATION, format!("Bearer {}", s.key))
    };
    let response = get("{ tickets { nodes { ticketNumber } } }")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"]["tickets"]["nodes"].as_array().unwrap().len(),
        3
    );

    let response = get("mutation { x }").send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");

    let response = http()
        .get(s.server.url("/graphql"))
        .query(&[("query", "{ __typename }"), ("variables", "[1]")])
        .header(AUTHORIZATION, format!("Bearer {}", s.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let response = http()
        .get(s.server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {}", s.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // PUT reserves an event stream (graphql-sse): it needs a key like everything else.
    let put = http().put(s.server.url("/graphql")).send().await.unwrap();
    assert_eq!(put.status(), 401);
    let patch = http().patch(s.server.url("/graphql")).send().await.unwrap();
    assert_eq!(patch.status(), 405);
}

#[tokio::test]
async fn batches_run_each_operation_within_the_limit() {
    let s = setup();
    let batch = json!([
        { "query": "{ tickets { totalCount } }" },
        { "query": "{ ticket(number: 2) { ticketNumber } }" },
        { "query": "{ nope }" }
    ]);
    let response = http()
        .post(s.server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {}", s.key))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["data"]["tickets"]["totalCount"], 3);
    assert_eq!(body[1]["data"]["ticket"]["ticketNumber"], 2);
    assert_eq!(
        body[2]["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );

    let too_many: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let response = http()
        .post(s.server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {}", s.key))
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BATCH_TOO_LARGE");
}

#[tokio::test]
async fn graphiql_is_served_to_browsers() {
    let s = setup();
    for path in ["/", "/graphql"] {
        let response = http()
            .get(s.server.url(path))
            .header(ACCEPT, "text/html,application/xhtml+xml")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(response.text().await.unwrap().contains("graphiql"));
    }
}

#[tokio::test]
async fn metrics_count_requests_and_statements() {
    let s = setup();
    let client = s.server.client(&s.key);
    client.data("{ tickets { nodes { id } } }", json!({})).await;
    let text = http()
        .get(s.server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
    };
    assert!(value("ticketgate_db_statements_total") >= 2.0);
    assert!(
        value(r#"ticketgate_http_requests_total{method="POST",route="/graphql",status="200"}"#)
            >= 1.0
    );
    assert!(value(r#"ticketgate_http_request_duration_seconds_count{route="/graphql"}"#) >= 1.0);
    assert!(value(r#"ticketgate_db_pool_connections{state="max"}"#) >= 1.0);
}

/// The deadlines of the tests below, short so that they run fast.
const HEADER_DEADLINE: std::time::Duration = std::time::Duration::from_millis(600);
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_millis(600);
/// Past a deadline, how soon the 408 must come.
const MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// A server with short header and body deadlines, and a key.
fn deadline_setup() -> Setup {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::builder(&db.url)
        .options(|o| {
            o.header_timeout_ms = HEADER_DEADLINE.as_millis() as u64;
            o.body_timeout_ms = BODY_DEADLINE.as_millis() as u64;
        })
        .start();
    Setup { db, server, key }
}

/// A POST head for `/graphql` declaring `length` body bytes.
fn post_head(addr: std::net::SocketAddr, key: &str, length: usize) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// Everything the server sends until it closes the connection (within 10 s), and when
/// its first byte came. A reset after the answer counts as the end too.
async fn read_until_closed(
    tcp: &mut tokio::net::TcpStream,
) -> (String, Option<std::time::Duration>) {
    use tokio::io::AsyncReadExt;
    let started = tokio::time::Instant::now();
    let mut read = Vec::new();
    let mut first = None;
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut chunk))
            .await
            .expect("the server closes the connection within 10 s")
            .unwrap_or(0);
        if n == 0 {
            return (String::from_utf8_lossy(&read).into_owned(), first);
        }
        first.get_or_insert_with(|| started.elapsed());
        read.extend_from_slice(&chunk[..n]);
    }
}

/// Checks a 408 came in time (after the deadline, within the margin) with a coded JSON
/// error, then the connection closed.
fn assert_timely_408(
    answer: &str,
    after: Option<std::time::Duration>,
    deadline: std::time::Duration,
) {
    let after = after.unwrap_or_else(|| panic!("no answer before the close: {answer:?}"));
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        after + std::time::Duration::from_millis(50) >= deadline,
        "408 after {after:?}"
    );
    assert!(after <= deadline + MARGIN, "408 only after {after:?}");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert_eq!(code_of(body), "REQUEST_TIMEOUT", "{answer}");
}

fn timeouts(metrics: &str, phase: &str) -> u64 {
    let name = format!("ticketgate_request_timeouts_total{{phase=\"{phase}\"}}");
    metrics
        .lines()
        .find(|line| line.starts_with(&name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from\n{metrics}"))
}

async fn metrics_text(server: &TestServer) -> String {
    http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A body that declares 1000 bytes and sends 9 is answered 408 at the body deadline and
/// its connection closed; so is a client that sends half a header line. Both are counted.
#[tokio::test]
async fn slow_headers_and_bodies_get_408_and_are_counted() {
    use tokio::io::AsyncWriteExt;
    let s = deadline_setup();
    let rounds = 4;
    for round in 0..rounds {
        let mut tcp = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
        let head = post_head(s.server.addr, &s.key, 1000);
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(br#"{"query":"#).await.unwrap();
        let (answer, after) = read_until_closed(&mut tcp).await;
        assert_timely_408(&answer, after, BODY_DEADLINE);
        assert!(
            answer.contains("the request body"),
            "round {round}: {answer}"
        );

        let mut tcp = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
        let (answer, after) = read_until_closed(&mut tcp).await;
        assert_timely_408(&answer, after, HEADER_DEADLINE);
        assert!(
            answer.contains("the request headers"),
            "round {round}: {answer}"
        );

        // Connected, and nothing sent at all.
        let mut tcp = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
        let (answer, after) = read_until_closed(&mut tcp).await;
        assert_timely_408(&answer, after, HEADER_DEADLINE);
    }
    let metrics = metrics_text(&s.server).await;
    assert_eq!(timeouts(&metrics, "body"), rounds);
    assert_eq!(timeouts(&metrics, "headers"), 2 * rounds);
}

/// A client slow within the deadlines is served as usual: the head in pieces, then the
/// body in pieces, each taking most of its deadline.
#[tokio::test]
async fn slow_requests_within_the_deadlines_are_served() {
    use tokio::io::AsyncWriteExt;
    let s = deadline_setup();
    let body = json!({ "query": "{ tickets { nodes { id } } }" }).to_string();
    let pause = std::time::Duration::from_millis(100);
    for _ in 0..3 {
        let mut tcp = tokio::net::TcpStream::connect(s.server.addr).await.unwrap();
        let head = post_head(s.server.addr, &s.key, body.len());
        for piece in head.as_bytes().chunks(head.len() / 4 + 1) {
            tcp.write_all(piece).await.unwrap();
            tokio::time::sleep(pause).await;
        }
        for piece in body.as_bytes().chunks(body.len() / 4 + 1) {
            tcp.write_all(piece).await.unwrap();
            tokio::time::sleep(pause).await;
        }
        let (answer, _) = read_until_closed(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let body: Value = serde_json::from_str(body).expect("json");
        assert_eq!(
            body["data"]["tickets"]["nodes"].as_array().map(Vec::len),
            Some(0)
        );
    }
    let metrics = metrics_text(&s.server).await;
    assert_eq!(timeouts(&metrics, "body"), 0);
    assert_eq!(timeouts(&metrics, "headers"), 0);
}
