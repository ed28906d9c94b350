//! Property test: hostile GraphQL documents — deep nesting, alias floods, fragment bombs
//! and chains, directive floods, junk text and bytes, random mixes of real fields — over
//! HTTP and (a subset) over graphql-transport-ws. Every answer is below 500, JSON, and
//! every error carries a string `extensions.code` other than `INTERNAL`; the server keeps
//! answering `{ __typename }`, and no stored row changes.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures::{self, MessageSpec};
use crate::helpers::ws::{self, Ws};
use crate::helpers::{self, test_db, TestServer};

/// Cases run when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 2000;
/// Every this many cases, the server must still answer `{ __typename }`.
const ALIVE_EVERY: u32 = 50;
/// Every this many cases, the document is also sent over the websocket.
const WS_EVERY: u32 = 8;

/// A generated document and the class it came from (for failure messages).
#[derive(Clone, Debug)]
struct Doc {
    class: &'static str,
    text: String,
}

fn doc(class: &'static str, text: String) -> Doc {
    Doc { class, text }
}

/// A size in `lo..hi`, mostly small: parsing thousands of directives, aliases or fragment
/// links takes ~0.5 s in a debug build, so one case in ten goes up to `hi`.
fn size(lo: usize, hi: usize) -> impl Strategy<Value = usize> {
    let small = lo + (hi - lo) / 25;
    prop_oneof![9 => lo..small, 1 => lo..hi]
}

/// Nesting 0..5000 levels deep: selections, list and object arguments, inline fragments.
fn deep() -> impl Strategy<Value = Doc> {
    (0..4usize, 0..5000usize).prop_map(|(shape, n)| match shape {
        0 => doc(
            "deep selections",
            "{ a".repeat(n) + " { __typename" + &" }".repeat(n + 1),
        ),
        1 => doc(
            "deep list argument",
            format!(
                "{{ tickets(first: {}1{}) {{ totalCount }} }}",
                "[".repeat(n),
                "]".repeat(n)
            ),
        ),
        2 => doc(
            "deep object argument",
            format!(
                "{{ tickets(filter: {}1{}) {{ totalCount }} }}",
                "{a: ".repeat(n),
                "}".repeat(n)
            ),
        ),
        _ => doc(
            "deep inline fragments",
            "{ ... on Query ".repeat(n) + "{ __typename" + &" }".repeat(n + 1),
        ),
    })
}

/// Wide selections: 0..3000 aliases, or the same field repeated without them.
fn wide() -> impl Strategy<Value = Doc> {
    (0..3usize, size(0, 3000)).prop_map(|(shape, n)| match shape {
        0 => doc(
            "alias flood",
            format!(
                "{{ __typename {} }}",
                (0..n)
                    .map(|i| format!("a{i}: __typename"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        1 => doc(
            "alias flood on tickets",
            format!(
                "{{ tickets(first: 1) {{ totalCount {} }} }}",
                (0..n)
                    .map(|i| format!("n{i}: nodes {{ id }}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        _ => doc(
            "repeated field",
            format!("{{ {} __typename }}", "__typename ".repeat(n)),
        ),
    })
}

/// Fragment bombs (each fragment spreads the previous one 2..4 times, 1..60 levels) and
/// fragment chains (1..20000 links), used or not.
fn fragments() -> impl Strategy<Value = Doc> {
    let bomb = (2..4usize, 1..60usize).prop_map(|(fan, levels)| {
        let mut text = format!(
            "{{ ...F{} }} fragment F0 on Query {{ __typename }}",
            levels - 1
        );
        for level in 1..levels {
            let spreads = format!("...F{} ", level - 1).repeat(fan);
            text.push_str(&format!(" fragment F{level} on Query {{ {spreads}}}"));
        }
        doc("fragment bomb", text)
    });
    let chain = (size(1, 20000), any::<bool>()).prop_map(|(links, used)| {
        let mut text = if used {
            format!("{{ ...F{} }}", links - 1)
        } else {
            "{ __typename }".to_string()
        };
        text.push_str(" fragment F0 on Query { __typename }");
        for link in 1..links {
            text.push_str(&format!(
                " fragment F{link} on Query {{ ...F{} }}",
                link - 1
            ));
        }
        doc(
            if used {
                "fragment chain"
            } else {
                "unused fragment chain"
            },
            text,
        )
    });
    prop_oneof![bomb, chain]
}

/// 1..5000 directives on one field: `@include(if: true)`, `@skip(if: false)`, unknown ones.
fn directives() -> impl Strategy<Value = Doc> {
    (0..4usize, size(1, 5000)).prop_map(|(shape, n)| match shape {
        0 => doc(
            "@include flood",
            format!("{{ __typename{} }}", " @include(if: true)".repeat(n)),
        ),
        1 => doc(
            "@skip flood",
            format!("{{ __typename{} }}", " @skip(if: false)".repeat(n)),
        ),
        2 => doc(
            "unknown directive flood",
            format!(
                "{{ __typename {} }}",
                (0..n).map(|i| format!("@d{i}")).collect::<String>()
            ),
        ),
        _ => doc(
            "@include flood on tickets",
            format!(
                "{{ tickets(first: 2) {{ nodes {{ id{} }} }} }}",
                " @include(if: true)".repeat(n)
            ),
        ),
    })
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "...",
    "@",
    "$",
    "!",
    "=",
    "|",
    "&",
    "\"",
    "\"\"\"",
    "query",
    "mutation",
    "subscription",
    "fragment",
    "on",
    "__typename",
    "tickets",
    "me",
    "ticket",
    "first",
    "nodes",
    "id",
    "1",
    "-1",
    "1e999",
    "null",
    "true",
    "\\u0000",
    "#",
    "\n",
    "F",
    "$x",
    "Int",
    "@include",
    "if",
];

/// Printable junk, random bytes as lossy UTF-8, and random token soups.
fn junk() -> impl Strategy<Value = Doc> {
    prop_oneof![
        "[ -~]{0,400}".prop_map(|s| doc("printable junk", s)),
        proptest::collection::vec(any::<u8>(), 0..400)
            .prop_map(|b| doc("random bytes", String::from_utf8_lossy(&b).into_owned())),
        proptest::collection::vec(proptest::sample::select(TOKENS), 0..400)
            .prop_map(|t| doc("token soup", t.join(" "))),
    ]
}

/// Random mixes of real root fields, some aliased, some with odd page sizes.
fn real() -> impl Strategy<Value = Doc> {
    let field = prop_oneof![
        (-5..700i64)
            .prop_map(|n| format!("tickets(first: {n}) {{ nodes {{ id ticketNumber status }} }}")),
        (-5..700i64).prop_map(|n| format!(
            "tickets(last: {n}) {{ totalCount pageInfo {{ hasNextPage endCursor }} }}"
        )),
        Just("me { team { id slug name } user { id } scopes customerDistinctId }".to_string()),
        (-2..20i64).prop_map(|n| format!("ticket(number: {n}) {{ id ticketNumber status }}")),
        Just("ticket(id: \"not-a-uuid\") { id }".to_string()),
        Just("ticket { id }".to_string()),
        Just("unreadCount".to_string()),
        Just("__typename".to_string()),
    ];
    proptest::collection::vec((field, any::<bool>()), 0..30).prop_map(|fields| {
        let body: Vec<String> = fields
            .into_iter()
            .enumerate()
            .map(|(i, (f, alias))| if alias { format!("r{i}: {f}") } else { f })
            .collect();
        doc("real fields", format!("{{ {} }}", body.join(" ")))
    })
}

fn hostile() -> impl Strategy<Value = Doc> {
    prop_oneof![
        2 => deep(),
        2 => wide(),
        2 => fragments(),
        2 => directives(),
        3 => junk(),
        3 => real(),
    ]
}

/// Every error of a GraphQL answer has a string code, and none is `INTERNAL`.
fn check_errors(body: &Value, doc: &Doc, via: &str) -> Result<(), TestCaseError> {
    let errors = match body.get("errors") {
        None => return Ok(()),
        Some(errors) => errors,
    };
    let list = errors.as_array().ok_or_else(|| {
        TestCaseError::fail(format!("{via} {}: `errors` not a list: {body}", doc.class))
    })?;
    for error in list {
        let code = error["extensions"]["code"].as_str().ok_or_else(|| {
            TestCaseError::fail(format!("{via} {}: uncoded error {error}", doc.class))
        })?;
        prop_assert_ne!(code, "INTERNAL", "{} {}: {}", via, doc.class, error);
    }
    Ok(())
}

async fn post(
    http: &reqwest::Client,
    server: &TestServer,
    key: &str,
    query: &str,
) -> (u16, Vec<u8>) {
    let response = http
        .post(server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request (did the server die?)");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

async fn over_http(
    http: &reqwest::Client,
    server: &TestServer,
    key: &str,
    doc: &Doc,
) -> Result<(), TestCaseError> {
    let (status, bytes) = post(http, server, key, &doc.text).await;
    prop_assert!(status < 500, "{}: HTTP {}", doc.class, status);
    let body: Value = serde_json::from_slice(&bytes).map_err(|err| {
        TestCaseError::fail(format!(
            "{}: HTTP {status}, body is not JSON ({err}): {}",
            doc.class,
            String::from_utf8_lossy(&bytes)
        ))
    })?;
    check_errors(&body, doc, "http")
}

/// Sends the document as operation `id`; it must get a `next` (then `complete`) or an
/// `error`, each with coded errors only.
async fn over_ws(socket: &mut Ws, id: &str, doc: &Doc) -> Result<(), TestCaseError> {
    ws::send(socket, ws::subscribe(id, &doc.text)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut answered = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = ws::recv_within(socket, left).await;
        match message["type"].as_str() {
            Some("ping") | Some("pong") => continue,
            Some("next") if message["id"] == id => {
                check_errors(&message["payload"], doc, "ws")?;
                answered = true;
            }
            Some("complete") if message["id"] == id => {
                prop_assert!(answered, "ws {}: complete before next", doc.class);
                return Ok(());
            }
            Some("error") if message["id"] == id => {
                prop_assert!(!answered, "ws {}: error after next", doc.class);
                let payload = &message["payload"];
                prop_assert!(
                    payload.as_array().is_some_and(|e| !e.is_empty()),
                    "ws {}: empty error {}",
                    doc.class,
                    message
                );
                check_errors(&json!({ "errors": payload }), doc, "ws")?;
                return Ok(());
            }
            _ => {
                return Err(TestCaseError::fail(format!(
                    "ws {}: unexpected {message}",
                    doc.class
                )))
            }
        }
    }
}

async fn still_serving(http: &reqwest::Client, server: &TestServer, key: &str) {
    let (status, bytes) = post(http, server, key, "{ __typename }").await;
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
}

async fn ws_still_serving(socket: &mut Ws) {
    ws::send(socket, ws::subscribe("alive", "{ __typename }")).await;
    let payload = ws::next_payload(socket, "alive").await;
    assert_eq!(payload, json!({ "data": { "__typename": "Query" } }));
    loop {
        let message = ws::recv(socket).await;
        match message["type"].as_str() {
            Some("ping") | Some("pong") => continue,
            Some("complete") => break,
            _ => panic!("expected complete, got {message}"),
        }
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Digest {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    row_count: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    md5: String,
}

/// The row count and an md5 of every row of the tickets and messages tables.
fn digest(conn: &mut PgConnection) -> Vec<Digest> {
    ["tickets", "messages"]
        .iter()
        .map(|table| {
            diesel::sql_query(format!(
                "SELECT count(*) AS row_count, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS md5 FROM {table} t"
            ))
            .get_result(conn)
            .expect("digest")
        })
        .collect()
}

#[test]
// The socket's borrow spans an await, but inside `block_on` on a current-thread runtime:
// nothing else runs meanwhile that could borrow it.
#[allow(clippy::await_holding_refcell_ref)]
fn hostile_documents_are_answered_with_codes_and_change_nothing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    for ticket in fixtures::tickets(&mut conn, team, 5) {
        for i in 0..3 {
            fixtures::message(
                &mut conn,
                team,
                ticket,
                &MessageSpec {
                    content: format!("hello {i}"),
                    ..Default::default()
                },
            );
        }
    }
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    // Large bodies and messages: the point is to reach the GraphQL layer, not the size limit.
    let server = TestServer::builder(&db.url)
        .options(|o| {
            o.max_body_bytes = 16 * 1024 * 1024;
            o.ws_max_message_bytes = 16 * 1024 * 1024;
        })
        .start();
    let before = digest(&mut conn);
    assert_eq!(before[0].row_count, 5);
    assert_eq!(before[1].row_count, 15);

    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let http = reqwest::Client::new();
    // `TestRunner::run` takes an `Fn`: the state the cases share is in cells.
    let socket = RefCell::new(runtime.block_on(ws::ready(&server.ws_url(), &key)));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = Instant::now();
    let count = Cell::new(0u32);
    let classes = RefCell::new(BTreeMap::<&'static str, (u32, Duration)>::new());
    runner
        .run(&hostile(), |doc| {
            count.set(count.get() + 1);
            let count = count.get();
            let case_started = Instant::now();
            let result = runtime.block_on(async {
                over_http(&http, &server, &key, &doc).await?;
                if count.is_multiple_of(WS_EVERY) {
                    over_ws(&mut socket.borrow_mut(), &format!("h{count}"), &doc).await?;
                }
                if count.is_multiple_of(ALIVE_EVERY) {
                    still_serving(&http, &server, &key).await;
                }
                Ok(())
            });
            let mut classes = classes.borrow_mut();
            let entry = classes.entry(doc.class).or_default();
            entry.0 += 1;
            entry.1 += case_started.elapsed();
            result
        })
        .unwrap();
    runtime.block_on(async {
        still_serving(&http, &server, &key).await;
        ws_still_serving(&mut socket.borrow_mut()).await;
    });
    println!(
        "hostile: {} documents in {:?}: {:?}",
        count.get(),
        started.elapsed(),
        classes.borrow()
    );
    assert_eq!(digest(&mut conn), before, "stored data changed");
}
