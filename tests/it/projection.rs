//! Projection pushdown (issue 14 part 1): a page reads only the columns its selection
//! needs, checked in PostgreSQL's own statement log; and random selections (aliases, named
//! and inline fragments on `Ticket` and `Node`, `@include`/`@skip` with variables,
//! `__typename`) answer exactly what a full selection answers, field by field.
//!
//! The statement log: the test database gets `log_statement = 'all'` (`ALTER DATABASE`,
//! so only this test's sessions log, whatever else the shared cluster runs), and the log
//! is read back through PostgreSQL itself (`pg_read_file` from the offset where the test
//! began, on `pg_current_logfile()` or local-pg's `server.log` in the data directory).
//! `pg_stat_statements` would need `shared_preload_libraries`, i.e. a restart of the
//! shared test cluster with a setting every other test would carry; Diesel's own
//! instrumentation would check ticketgate's view of what it sent, not PostgreSQL's.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::{self, test_db, Client, TestDb, TestServer};

const HEAVY: [&str; 5] = [
    "anonymous_traits",
    "session_context",
    "cc_participants",
    "last_message_text",
    "email_subject",
];

/// PostgreSQL's own log of this database's statements, from when it was opened.
struct StatementLog {
    file: String,
    from: i64,
}

#[derive(QueryableByName)]
struct LogFile {
    #[diesel(sql_type = Text)]
    file: String,
    #[diesel(sql_type = BigInt)]
    size: i64,
}

#[derive(QueryableByName)]
struct LogText {
    #[diesel(sql_type = Text)]
    text: String,
}

impl StatementLog {
    /// Logs every statement of `db`'s sessions opened from now on.
    fn open(db: &TestDb) -> StatementLog {
        let mut conn = db.conn();
        diesel::sql_query(format!(
            "ALTER DATABASE {} SET log_statement = 'all'",
            db.name()
        ))
        .execute(&mut conn)
        .unwrap();
        let mut log = StatementLog {
            file: String::new(),
            from: 0,
        };
        log.mark(&mut conn);
        log
    }

    /// Forgets what was logged so far.
    fn mark(&mut self, conn: &mut PgConnection) {
        let found: LogFile = diesel::sql_query(
            "SELECT f AS file, (pg_stat_file(f)).size AS size \
             FROM coalesce(pg_current_logfile(), 'server.log') AS f",
        )
        .get_result(conn)
        .unwrap();
        self.file = found.file;
        self.from = found.size;
    }

    /// The statements logged since the last mark (one string each, with its parameters).
    fn statements(&self, conn: &mut PgConnection) -> Vec<String> {
        let text: LogText =
            diesel::sql_query("SELECT pg_read_file($1, $2, (pg_stat_file($1)).size - $2) AS text")
                .bind::<Text, _>(&self.file)
                .bind::<BigInt, _>(self.from)
                .get_result(conn)
                .unwrap();
        text.text
            .lines()
            .filter_map(|line| {
                let at = line.find("LOG:  ")?;
                let statement = &line[at + 6..];
                (statement.starts_with("statement: ") || statement.starts_with("execute "))
                    .then(|| statement.to_string())
            })
            .collect()
    }
}

/// The statements `query` sends, as PostgreSQL logged them.
async fn logged(
    db: &TestDb,
    log: &mut StatementLog,
    client: &Client,
    query: &str,
) -> (Value, Vec<String>) {
    let mut conn = db.conn();
    log.mark(&mut conn);
    let data = client.data(query, json!({})).await;
    let statements = log.statements(&mut conn);
    (data, statements)
}

fn tickets_statements(statements: &[String]) -> Vec<&String> {
    statements
        .iter()
        .filter(|s| s.contains("FROM \"tickets\""))
        .collect()
}

#[tokio::test]
async fn a_page_of_two_fields_reads_none_of_the_heavy_columns() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 60);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let mut log = StatementLog::open(&db);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    // The key is looked up once, then kept.
    client.data("{ unreadCount }", json!({})).await;

    let two = "{ tickets(first: 50) { nodes { ticketNumber status } } }";
    let (data, statements) = logged(&db, &mut log, &client, two).await;
    assert_eq!(data["tickets"]["nodes"].as_array().unwrap().len(), 50);
    let reads = tickets_statements(&statements);
    assert_eq!(reads.len(), 1, "one page statement: {statements:#?}");
    for statement in &statements {
        for column in HEAVY {
            assert!(!statement.contains(column), "{column} read by {statement}");
        }
    }
    assert!(
        reads[0].contains("\"tickets\".\"ticket_number\""),
        "{}",
        reads[0]
    );
    assert!(reads[0].contains("\"tickets\".\"status\""), "{}", reads[0]);
    // The order key (cursors) is read even when not selected.
    assert!(
        reads[0].contains("\"tickets\".\"updated_at\""),
        "{}",
        reads[0]
    );
    println!("inbox page: {}", reads[0]);

    // The log does show the columns a selection needs: the check above is not vacuous.
    let heavy = "{ tickets(first: 50) { nodes { anonymousTraits sessionContext \
                 ccParticipants lastMessageText emailSubject } } }";
    let (_, statements) = logged(&db, &mut log, &client, heavy).await;
    let reads = tickets_statements(&statements);
    assert_eq!(reads.len(), 1, "{statements:#?}");
    for column in HEAVY {
        assert!(
            reads[0].contains(column),
            "{column} not read by {}",
            reads[0]
        );
    }

    // One ticket, and a page ordered on another key (its column comes along for cursors).
    let (_, statements) = logged(&db, &mut log, &client, "{ ticket(number: 3) { status } }").await;
    let reads = tickets_statements(&statements);
    assert_eq!(reads.len(), 1, "{statements:#?}");
    assert!(
        HEAVY.iter().all(|column| !reads[0].contains(column)),
        "{}",
        reads[0]
    );
    let ordered = "{ tickets(first: 5, orderBy: [{ field: SLA_DUE_AT, direction: ASC }]) \
                   { nodes { status } pageInfo { endCursor } } }";
    let (_, statements) = logged(&db, &mut log, &client, ordered).await;
    let reads = tickets_statements(&statements);
    assert!(
        reads[0].contains("\"tickets\".\"sla_due_at\""),
        "{}",
        reads[0]
    );
    assert!(
        !reads[0].contains("\"tickets\".\"updated_at\""),
        "{}",
        reads[0]
    );

    // `node`, through an inline fragment on the interface.
    let id = client.data("{ ticket(number: 3) { id } }", json!({})).await["ticket"]["id"].clone();
    let node = format!("{{ node(id: {id}) {{ ... on Node {{ ... on Ticket {{ status }} }} }} }}");
    let (data, statements) = logged(&db, &mut log, &client, &node).await;
    assert!(data["node"]["status"].is_string(), "{data}");
    let reads = tickets_statements(&statements);
    assert_eq!(reads.len(), 1, "{statements:#?}");
    assert!(
        HEAVY.iter().all(|column| !reads[0].contains(column)),
        "{}",
        reads[0]
    );

    // A message's ticket, through the loader: one statement for the page's messages.
    let nested =
        "{ tickets(first: 20) { nodes { messages(first: 3) { nodes { ticket { status } } } } } }";
    let (_, statements) = logged(&db, &mut log, &client, nested).await;
    let reads = tickets_statements(&statements);
    assert_eq!(
        reads.len(),
        2,
        "the page and the messages' tickets: {statements:#?}"
    );
    for read in reads {
        assert!(HEAVY.iter().all(|column| !read.contains(column)), "{read}");
    }
}

/// The fields a random selection picks from: every field of `Ticket` (objects with a
/// fixed sub-selection).
const FIELDS: [&str; 31] = [
    "id",
    "ticketNumber",
    "channelSource",
    "channelDetail",
    "distinctId",
    "status",
    "priority",
    "anonymousTraits",
    "aiResolved",
    "escalationReason",
    "createdAt",
    "updatedAt",
    "messageCount",
    "lastMessageAt",
    "lastMessageText",
    "unreadTeamCount",
    "unreadCustomerCount",
    "sessionId",
    "sessionContext",
    "slaDueAt",
    "snoozedUntil",
    "slackChannelId",
    "slackThreadTs",
    "slackTeamId",
    "emailSubject",
    "emailFrom",
    "emailTo",
    "ccParticipants",
    "tags",
    "person { id name }",
    "assignee { id type }",
];

/// When a selection applies: always, `@include(if: $inc)` or `@skip(if: $skip)`.
#[derive(Clone, Copy, Debug)]
enum Cond {
    Always,
    Include,
    Skip,
}

#[derive(Clone, Copy, Debug)]
enum On {
    Nothing,
    Ticket,
    Node,
}

#[derive(Clone, Debug)]
enum Item {
    /// A field of `FIELDS`, maybe under an alias (`a_<name>` or `b_<name>`: one alias is
    /// always the same field, as validation requires).
    Field {
        field: usize,
        alias: Option<char>,
        cond: Cond,
    },
    Typename,
    Inline {
        on: On,
        cond: Cond,
        items: Vec<Item>,
    },
    Spread {
        fragment: usize,
        cond: Cond,
    },
}

#[derive(Clone, Debug)]
struct Case {
    fragments: Vec<(On, Vec<Item>)>,
    /// At least one field that always applies (else the object could be empty).
    first: usize,
    items: Vec<Item>,
    include: bool,
    skip: bool,
    page: i32,
    order: usize,
}

const ORDERS: [&str; 4] = [
    "",
    ", orderBy: [{ field: CREATED_AT, direction: ASC }]",
    ", orderBy: [{ field: SLA_DUE_AT }, { field: TICKET_NUMBER, direction: ASC }]",
    ", orderBy: [{ field: SNOOZED_UNTIL, direction: ASC }]",
];

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![Just(Cond::Always), Just(Cond::Include), Just(Cond::Skip)]
}

fn field() -> impl Strategy<Value = Item> {
    (
        0..FIELDS.len(),
        prop_oneof![Just(None), Just(Some('a')), Just(Some('b'))],
        cond(),
    )
        .prop_map(|(field, alias, cond)| Item::Field { field, alias, cond })
}

fn leaf() -> impl Strategy<Value = Item> {
    prop_oneof![6 => field(), 1 => Just(Item::Typename)]
}

fn on() -> impl Strategy<Value = On> {
    prop_oneof![Just(On::Nothing), Just(On::Ticket), Just(On::Node)]
}

fn item(fragments: usize) -> impl Strategy<Value = Item> {
    let inline = (on(), cond(), prop::collection::vec(leaf(), 1..4))
        .prop_map(|(on, cond, items)| Item::Inline { on, cond, items });
    let spread =
        (0..fragments.max(1), cond()).prop_map(|(fragment, cond)| Item::Spread { fragment, cond });
    match fragments {
        0 => prop_oneof![4 => leaf(), 2 => inline].boxed(),
        _ => prop_oneof![4 => leaf(), 2 => inline, 2 => spread].boxed(),
    }
}

fn case() -> impl Strategy<Value = Case> {
    let fragment = (
        prop_oneof![Just(On::Ticket), Just(On::Node)],
        prop::collection::vec(leaf(), 1..4),
    );
    prop::collection::vec(fragment, 0..3).prop_flat_map(|fragments| {
        let count = fragments.len();
        (
            Just(fragments),
            0..FIELDS.len(),
            prop::collection::vec(item(count), 0..8),
            any::<bool>(),
            any::<bool>(),
            1..25i32,
            0..ORDERS.len(),
        )
            .prop_map(
                |(fragments, first, items, include, skip, page, order)| Case {
                    fragments,
                    first,
                    items,
                    include,
                    skip,
                    page,
                    order,
                },
            )
    })
}

fn name_of(field: &str) -> &str {
    field.split(' ').next().unwrap_or(field)
}

fn directive(cond: Cond) -> &'static str {
    match cond {
        Cond::Always => "",
        Cond::Include => " @include(if: $inc)",
        Cond::Skip => " @skip(if: $skip)",
    }
}

fn render(items: &[Item], out: &mut String) {
    for item in items {
        match item {
            Item::Field { field, alias, cond } => {
                let text = FIELDS[*field];
                if let Some(alias) = alias {
                    out.push_str(&format!("{alias}_{}: ", name_of(text)));
                }
                // The directive goes after the name, before a sub-selection.
                let (name, rest) = text.split_at(name_of(text).len());
                out.push_str(&format!("{name}{}{rest} ", directive(*cond)));
            }
            Item::Typename => out.push_str("__typename "),
            Item::Inline { on, cond, items } => {
                let mut inner = String::new();
                render(items, &mut inner);
                match on {
                    On::Nothing => out.push_str(&format!("...{} {{ {inner}}} ", directive(*cond))),
                    On::Ticket => {
                        out.push_str(&format!("... on Ticket{} {{ {inner}}} ", directive(*cond)))
                    }
                    // On `Node` only `id` (and `__typename`) directly; the rest through
                    // an inline fragment on `Ticket` inside it.
                    On::Node => out.push_str(&format!(
                        "... on Node{} {{ id ... on Ticket {{ {inner}}} }} ",
                        directive(*cond)
                    )),
                }
            }
            Item::Spread { fragment, cond } => {
                out.push_str(&format!("...F{fragment}{} ", directive(*cond)))
            }
        }
    }
}

fn used_fragments(items: &[Item], used: &mut Vec<usize>) {
    for item in items {
        if let Item::Spread { fragment, .. } = item {
            if !used.contains(fragment) {
                used.push(*fragment);
            }
        }
    }
}

/// The operation for the case, with its selection at `nodes`, at `edges.node` and on a
/// single ticket.
fn document(case: &Case) -> String {
    let mut selection = format!("{} ", FIELDS[case.first]);
    render(&case.items, &mut selection);
    let mut used = Vec::new();
    used_fragments(&case.items, &mut used);
    let mut fragments = String::new();
    for index in used {
        let (on, items) = &case.fragments[index];
        let mut inner = String::new();
        render(items, &mut inner);
        match on {
            On::Node => fragments.push_str(&format!(
                "fragment F{index} on Node {{ id ... on Ticket {{ {inner}}} }}\n"
            )),
            _ => fragments.push_str(&format!("fragment F{index} on Ticket {{ {inner}}}\n")),
        }
    }
    let page = format!("first: $n{}", ORDERS[case.order]);
    let body = format!(
        "p1: tickets({page}) {{ nodes {{ {selection}}} pageInfo {{ endCursor }} }}
         p2: tickets({page}) {{ edges {{ cursor node {{ {selection}}} }} }}
         one: ticket(number: $number) {{ {selection}}}
         n: node(id: $tid) {{ ... on Ticket {{ {selection}}} }}
         p3: tickets({page}) {{ nodes {{ messages(first: 2) {{ nodes {{ ticket {{ {selection}}} }} }} }} }}"
    );
    let mut variables = vec!["$n: Int!", "$number: Int!", "$tid: ID!"];
    if body.contains("$inc") || fragments.contains("$inc") {
        variables.push("$inc: Boolean!");
    }
    if body.contains("$skip") || fragments.contains("$skip") {
        variables.push("$skip: Boolean!");
    }
    format!(
        "query Random({}) {{ {body} }}\n{fragments}",
        variables.join(", ")
    )
}

fn applies(cond: Cond, case: &Case) -> bool {
    match cond {
        Cond::Always => true,
        Cond::Include => case.include,
        Cond::Skip => !case.skip,
    }
}

fn put(object: &mut Map<String, Value>, key: String, value: &Value) {
    object.entry(key).or_insert_with(|| value.clone());
}

/// What the selection answers for a ticket whose full read is `full`.
fn expect(items: &[Item], case: &Case, full: &Value, object: &mut Map<String, Value>) {
    for item in items {
        match item {
            Item::Field { field, alias, cond } => {
                if applies(*cond, case) {
                    let name = name_of(FIELDS[*field]);
                    let key = match alias {
                        Some(alias) => format!("{alias}_{name}"),
                        None => name.to_string(),
                    };
                    put(object, key, &full[name]);
                }
            }
            Item::Typename => put(object, "__typename".into(), &json!("Ticket")),
            Item::Inline { on, cond, items } => {
                if applies(*cond, case) {
                    if let On::Node = on {
                        put(object, "id".into(), &full["id"]);
                    }
                    expect(items, case, full, object);
                }
            }
            Item::Spread { fragment, cond } => {
                if applies(*cond, case) {
                    let (on, items) = &case.fragments[*fragment];
                    if let On::Node = on {
                        put(object, "id".into(), &full["id"]);
                    }
                    expect(items, case, full, object);
                }
            }
        }
    }
}

fn expected_object(case: &Case, full: &Value) -> Value {
    let mut object = Map::new();
    let first = name_of(FIELDS[case.first]);
    put(&mut object, first.to_string(), &full[first]);
    expect(&case.items, case, full, &mut object);
    Value::Object(object)
}

/// The same, key by key in order (`Value`'s equality ignores the order of keys).
fn same(got: &Value, want: &Value) -> bool {
    match (got.as_object(), want.as_object()) {
        (Some(got), Some(want)) => {
            got.keys().eq(want.keys()) && got.iter().zip(want.iter()).all(|(a, b)| a == b)
        }
        _ => false,
    }
}

fn full_query(order: usize) -> String {
    let all: Vec<&str> = FIELDS.to_vec();
    let all = all.join(" ");
    format!(
        "query Full($n: Int!, $number: Int!) {{
           p1: tickets(first: $n{order}) {{ nodes {{ {all} }} pageInfo {{ endCursor }} }}
           one: ticket(number: $number) {{ {all} }}
         }}",
        order = ORDERS[order]
    )
}

#[test]
fn random_selections_answer_what_a_full_read_answers() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 40);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::cell::Cell::new(0);
    // How many documents used each construct (all of them must have come up).
    let constructs = [
        "fragment F",
        "on Node {",
        "... on Node",
        "...F",
        "@include",
        "@skip",
        "a_",
        "__typename",
    ];
    let seen = std::cell::RefCell::new(vec![0; constructs.len()]);
    runner
        .run(&case(), |case| {
            ran.set(ran.get() + 1);
            let number = 1 + case.page % 40;
            let variables = json!({
                "n": case.page, "number": number, "inc": case.include, "skip": case.skip,
            });
            let full = runtime.block_on(client.data(
                &full_query(case.order),
                json!({ "n": case.page, "number": number }),
            ));
            let query = document(&case);
            for (count, construct) in seen.borrow_mut().iter_mut().zip(constructs) {
                *count += usize::from(query.contains(construct));
            }
            let mut variables = variables;
            variables["tid"] = full["one"]["id"].clone();
            let (status, body) = runtime.block_on(client.post(&query, variables));
            prop_assert_eq!(status, 200, "{}\n{}", query, body);
            prop_assert!(body.get("errors").is_none(), "{}\n{}", query, body);
            let data = &body["data"];
            let full_nodes = full["p1"]["nodes"].as_array().unwrap();
            let nodes = data["p1"]["nodes"].as_array().unwrap();
            let edges = data["p2"]["edges"].as_array().unwrap();
            prop_assert_eq!(nodes.len(), full_nodes.len());
            prop_assert_eq!(edges.len(), full_nodes.len());
            for ((node, edge), full_node) in nodes.iter().zip(edges).zip(full_nodes) {
                let want = expected_object(&case, full_node);
                prop_assert!(same(node, &want), "{}\ngot  {}\nwant {}", query, node, want);
                prop_assert!(same(&edge["node"], &want), "{}\n{}", query, edge);
            }
            // Cursors are those of a full read (the order keys were read).
            prop_assert_eq!(&data["p1"]["pageInfo"], &full["p1"]["pageInfo"]);
            // A single ticket is async-graphql's own resolution: its keys come in the
            // order its fields complete (see `graphql::lists`), so only the values count.
            let one = expected_object(&case, &full["one"]);
            prop_assert_eq!(&data["one"], &one, "{}", query);
            prop_assert_eq!(&data["n"], &one, "{}", query);
            // A message's ticket (the loader, projected the same way).
            let p3 = data["p3"]["nodes"].as_array().unwrap();
            prop_assert_eq!(p3.len(), full_nodes.len());
            for (node, full_node) in p3.iter().zip(full_nodes) {
                let want = expected_object(&case, full_node);
                for message in node["messages"]["nodes"].as_array().unwrap() {
                    prop_assert!(same(&message["ticket"], &want), "{}\n{}", query, message);
                }
            }
            Ok(())
        })
        .unwrap();
    println!("{} random selections agreed with the full read", ran.get());
    let seen = seen.into_inner();
    println!(
        "documents per construct: {:?}",
        constructs.iter().zip(&seen).collect::<Vec<_>>()
    );
    if cases >= 64 {
        assert!(
            seen.iter().all(|count| *count > 0),
            "{constructs:?}: {seen:?}"
        );
    }
}

/// The message pages of a page of tickets skip the running byte total when even the
/// largest text they could hold fits the budget (every message is at most 64 KiB), and
/// then read exactly what the capped statement reads: the same pages, in the same order,
/// with the same cursors and page info, both directions.
#[tokio::test]
async fn message_pages_read_the_same_with_and_without_the_running_total() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 8);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let mut log = StatementLog::open(&db);
    // 8 tickets × 4 rows × 64 KiB = 2 MiB: within the default budget's half (16 MiB),
    // past a 1 MiB budget's half.
    let roomy = TestServer::start(&db.url);
    let tight = TestServer::builder(&db.url)
        .options(|options| options.max_response_bytes = 1024 * 1024)
        .start();
    let page = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
                edges { cursor node { id content createdAt } }";
    let query = format!(
        "{{ tickets(first: 8) {{ nodes {{ ticketNumber \
           oldest: messages(first: 3) {{ {page} }} newest: messages(last: 3) {{ {page} }} }} }} }}"
    );
    let mut read = Vec::new();
    for server in [&roomy, &tight] {
        let client = server.client(&key);
        client.data("{ unreadCount }", json!({})).await;
        let (data, statements) = logged(&db, &mut log, &client, &query).await;
        let capped: Vec<bool> = statements
            .iter()
            .filter(|s| s.contains("FROM messages m"))
            .map(|s| s.contains("bytes_before"))
            .collect();
        read.push((data, capped));
    }
    let [(roomy_data, roomy_capped), (tight_data, tight_capped)] = &read[..] else {
        unreachable!()
    };
    assert_eq!(roomy_capped, &[false, false], "roomy: no running total");
    assert_eq!(tight_capped, &[true, true], "tight: the running total");
    assert_eq!(roomy_data, tight_data);
    let tickets = roomy_data["tickets"]["nodes"].as_array().unwrap();
    assert_eq!(tickets.len(), 8);
    let with_more = tickets
        .iter()
        .filter(|t| t["oldest"]["pageInfo"]["hasNextPage"] == true)
        .count();
    assert!(with_more > 0, "the seed's conversations are longer than 3");
    for ticket in tickets {
        let times = |side: &str| -> Vec<chrono::DateTime<chrono::FixedOffset>> {
            ticket[side]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let at = e["node"]["createdAt"].as_str().unwrap();
                    chrono::DateTime::parse_from_rfc3339(at).unwrap()
                })
                .collect()
        };
        for side in ["oldest", "newest"] {
            let mut sorted = times(side);
            sorted.sort();
            assert_eq!(times(side), sorted, "{side} page in time order");
        }
    }
}
