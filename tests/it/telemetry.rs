//! OpenTelemetry traces, as a collector receives them (`helpers::otlp`, OTLP/HTTP JSON)
//! from real `ticketgate serve` processes; the access log and the operation metrics.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::otlp::{Receiver, Span};
use crate::helpers::replica::Replica;
use crate::helpers::{self, test_db, ws, TestServer};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const WRITER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// A replica exporting to `receiver`, known by `instance` in its spans' resource.
fn traced_replica(db_url: &str, receiver: &Receiver, instance: &str) -> Replica {
    let resource = format!("service.instance.id={instance}");
    Replica::spawn(
        db_url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "ticketgate-test"),
            ("OTEL_RESOURCE_ATTRIBUTES", &resource),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
}

/// POSTs an operation with a `traceparent` header (or none).
async fn post(endpoint: &str, key: &str, traceparent: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(endpoint)
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|span| span.name == name).collect()
}

/// The spans below `root` in its trace (children, grandchildren…).
fn descendants<'a>(spans: &'a [Span], root: &Span) -> Vec<&'a Span> {
    let mut found: Vec<&Span> = vec![];
    let mut parents = vec![root.span_id.clone()];
    while let Some(parent) = parents.pop() {
        for span in spans
            .iter()
            .filter(|span| span.trace_id == root.trace_id && span.parent_span_id == parent)
        {
            parents.push(span.span_id.clone());
            found.push(span);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_trace_from_the_caller_to_each_statement() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let receiver = Receiver::start();
    let replica = traced_replica(&db.url, &receiver, "a");
    let needle = "needle-4711-not-in-any-span";
    let query =
        "query Inbox($s: String) { tickets(first: 5, filter: { search: $s }) { nodes { id } } }";
    let (status, body) = post(
        &replica.graphql(),
        &key,
        Some(&format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")),
        json!({ "query": query, "variables": { "s": needle } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");

    let spans = receiver.until(Duration::from_secs(15), "query Inbox", |spans| {
        spans
            .iter()
            .any(|span| span.trace_id == CALLER_TRACE && span.name == "query Inbox")
            && spans
                .iter()
                .any(|span| span.trace_id == CALLER_TRACE && span.name == "POST /graphql")
    });
    let request = named(&spans, "POST /graphql")
        .into_iter()
        .find(|span| span.trace_id == CALLER_TRACE)
        .expect("the request span");
    assert_eq!(
        request.parent_span_id, CALLER_SPAN,
        "the caller's span is its parent"
    );
    assert_eq!(request.attribute("http.route"), Some("/graphql"));
    assert_eq!(request.resource("service.name"), Some("ticketgate-test"));
    let below = descendants(&spans, request);
    let operation = below
        .iter()
        .find(|span| span.name == "query Inbox")
        .expect("the operation span under the request");
    assert_eq!(operation.attribute("graphql.operation.name"), Some("Inbox"));
    assert_eq!(operation.attribute("graphql.operation.type"), Some("query"));
    let stages = descendants(&spans, operation);
    for stage in ["graphql.parse", "graphql.validate", "graphql.execute"] {
        assert!(
            stages.iter().any(|span| span.name == stage),
            "no {stage} under the operation: {stages:?}"
        );
    }
    let statements: Vec<_> = stages
        .iter()
        .filter(|span| span.attribute("db.system") == Some("postgresql"))
        .collect();
    assert!(!statements.is_empty(), "no SQL statement span: {stages:?}");
    assert!(statements.iter().any(|span| span
        .attribute("db.query.text")
        .is_some_and(|text| text.contains("tickets") && text.contains("$1"))));
    for span in &spans {
        let shown = format!("{:?}", span.attributes);
        assert!(
            !shown.contains(needle),
            "a bound value leaked into {span:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_or_huge_traceparent_starts_a_new_trace() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let receiver = Receiver::start();
    let replica = traced_replica(&db.url, &receiver, "a");
    let huge = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01{}", "0".repeat(10_000));
    let cases = [
        ("Garbled", "00-not-a-trace-01".to_string()),
        ("Zeros", format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32))),
        ("Huge", huge),
    ];
    for (name, traceparent) in &cases {
        let query = format!("query {name} {{ __typename }}");
        let (status, body) = post(
            &replica.graphql(),
            &key,
            Some(traceparent),
            json!({ "query": query }),
        )
        .await;
        assert_eq!(
            (status, &body),
            (200, &json!({ "data": { "__typename": "Query" } }))
        );
    }
    let spans = receiver.until(Duration::from_secs(15), "the three operations", |spans| {
        cases.iter().all(|(name, _)| {
            spans
                .iter()
                .any(|span| span.name == format!("query {name}"))
        })
    });
    for (name, _) in &cases {
        let operation = named(&spans, &format!("query {name}"))[0];
        assert_eq!(operation.trace_id.len(), 32, "{operation:?}");
        assert_ne!(operation.trace_id, CALLER_TRACE, "{operation:?}");
        assert_ne!(operation.trace_id, "0".repeat(32), "{operation:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutations_trace_continues_in_its_delivery_on_another_replica() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let receiver = Receiver::start();
    let writer = traced_replica(&db.url, &receiver, "writer");
    let reader = traced_replica(&db.url, &receiver, "reader");
    let mut subscriber = ws::ready(&reader.ws(), &key).await;
    ws::send(
        &mut subscriber,
        ws::subscribe("1", &ws::message_added(ticket, None)),
    )
    .await;
    // The subscription is registered once a first event reaches it; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let send =
        "mutation Reply($t: UUID!) { sendMessage(ticketId: $t, content: \"traced\") { id } }";
    let (status, body) = post(
        &writer.graphql(),
        &key,
        Some(&format!("00-{WRITER_TRACE}-{CALLER_SPAN}-01")),
        json!({ "query": send, "variables": { "t": ticket } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let event = ws::next_payload(&mut subscriber, "1").await;
    assert_eq!(event["data"]["messageAdded"]["content"], "traced");

    let spans = receiver.until(
        Duration::from_secs(15),
        "a delivery on the reader",
        |spans| {
            // Each replica exports in its own batches: wait for the writer's spans too.
            let delivered = spans.iter().find(|span| {
                span.name == "event.deliver"
                    && span.trace_id == WRITER_TRACE
                    && span.resource("service.instance.id") == Some("reader")
            });
            delivered.is_some_and(|delivery| {
                spans
                    .iter()
                    .any(|span| span.span_id == delivery.parent_span_id)
                    && spans.iter().any(|span| span.name == "mutation Reply")
            })
        },
    );
    let mutation = named(&spans, "mutation Reply")
        .into_iter()
        .find(|span| span.trace_id == WRITER_TRACE)
        .expect("the mutation's span");
    assert_eq!(mutation.resource("service.instance.id"), Some("writer"));
    let delivery = spans
        .iter()
        .find(|span| {
            span.name == "event.deliver" && span.resource("service.instance.id") == Some("reader")
        })
        .expect("the reader's delivery");
    assert_eq!(delivery.attribute("event.kind"), Some("message_added"));
    // Its parent is a span of the writer's request (the one that published the event).
    assert!(
        spans
            .iter()
            .any(|span| span.span_id == delivery.parent_span_id
                && span.resource("service.instance.id") == Some("writer")),
        "{delivery:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_collector_costs_one_warning_and_no_request() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut starting = Replica::launch(
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("TICKETGATE_LOG", "warn"),
        ],
    );
    let line = starting
        .line_with("GraphQL endpoint:", Duration::from_secs(60))
        .expect("the replica starts");
    let url = line
        .split("GraphQL endpoint:")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    for round in 0..5 {
        let (status, body) = post(&url, &key, None, json!({ "query": "{ __typename }" })).await;
        assert_eq!(status, 200, "round {round}: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut warnings = 0;
    while starting
        .line_with("cannot export traces", Duration::from_secs(2))
        .is_some()
    {
        warnings += 1;
    }
    assert_eq!(warnings, 1, "one warning for five failed exports");
    assert!(starting.running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_lines_are_json_with_the_trace_id() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let receiver = Receiver::start();
    let mut starting = Replica::launch(
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("TICKETGATE_LOG", "info"),
            ("TICKETGATE_LOG_FORMAT", "json"),
            ("TICKETGATE_ACCESS_LOG", "on"),
        ],
    );
    let line = starting
        .line_with("GraphQL endpoint:", Duration::from_secs(60))
        .expect("the replica starts");
    let started: Value = serde_json::from_str(&line).expect("a JSON log line");
    let url = started["endpoint"]
        .as_str()
        .expect("the endpoint")
        .to_string();
    let (status, _) = post(
        &url,
        &key,
        Some(&format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")),
        json!({ "query": "query Logged { __typename }" }),
    )
    .await;
    assert_eq!(status, 200);
    let access = starting
        .line_with("ticketgate::access", Duration::from_secs(5))
        .expect("an access line");
    let access: Value = serde_json::from_str(&access).expect("JSON");
    assert_eq!(access["route"], "/graphql");
    assert_eq!(access["method"], "POST");
    assert_eq!(access["status"], 200);
    assert_eq!(access["trace_id"], CALLER_TRACE);
}

/// The value of the `/metrics` line starting with `name` (0 when the series is absent).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_text(server: &TestServer) -> String {
    reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_count_operations_by_name_and_subscriptions_by_protocol() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    for _ in 0..3 {
        client
            .data("query Inbox { tickets { nodes { id } } }", json!({}))
            .await;
    }
    client.data("{ __typename }", json!({})).await;
    let (_, refused) = client.post("query Broken { nope }", json!({})).await;
    assert!(refused["errors"].is_array(), "{refused}");

    let series = |kind: &str, name: &str, result: &str| {
        format!(
            "ticketgate_graphql_operation_duration_seconds_count{{name=\"{name}\",result=\"{result}\",type=\"{kind}\"}}"
        )
    };
    let text = metrics_text(&server).await;
    assert_eq!(
        metric(&text, &series("query", "Inbox", "ok")),
        3.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, &series("query", "anonymous", "ok")),
        1.0,
        "{text}"
    );
    // A refused operation is counted, but its name is not a label value.
    assert_eq!(
        metric(&text, &series("query", "other", "refused")),
        1.0,
        "{text}"
    );
    assert!(!text.contains("Broken"), "{text}");

    let gauge =
        |protocol: &str| format!("ticketgate_subscriptions_active{{protocol=\"{protocol}\"}}");
    assert_eq!(metric(&text, &gauge(ws::MODERN)), 0.0);
    let subscription = ws::message_added(ticket, None);
    let mut modern = ws::ready(&server.ws_url(), &key).await;
    ws::send(&mut modern, ws::subscribe("1", &subscription)).await;
    let mut legacy = ws::connect(&server.ws_url(), ws::LEGACY).await;
    ws::send(&mut legacy, ws::init(&key)).await;
    assert_eq!(ws::recv(&mut legacy).await["type"], "connection_ack");
    for id in ["1", "2"] {
        ws::send(
            &mut legacy,
            json!({ "id": id, "type": "start", "payload": { "query": subscription } }),
        )
        .await;
    }
    let counted = |text: &str| {
        (
            metric(text, &gauge(ws::MODERN)),
            metric(text, &gauge(ws::LEGACY)),
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counted(&metrics_text(&server).await) != (1.0, 2.0)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted(&metrics_text(&server).await), (1.0, 2.0));
    drop(modern);
    ws::send(&mut legacy, json!({ "id": "1", "type": "stop" })).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counted(&metrics_text(&server).await) != (0.0, 1.0)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted(&metrics_text(&server).await), (0.0, 1.0));
}
