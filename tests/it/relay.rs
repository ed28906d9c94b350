//! Relay's Global Object Identification: `node(id:)` / `nodes(ids:)` answer every type that
//! implements `Node`, in the caller's scope (what it may not see is null, like an id that
//! does not exist), in a constant number of statements; and relay-compiler accepts
//! `@refetchable` fragments on Ticket and Message, refetched by relay-runtime.

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use crate::helpers::fixtures::{self, MessageSpec, TicketSpec};
use crate::helpers::node::run_checks;
use crate::helpers::replica::Replica;
use crate::helpers::server::customer_token;
use crate::helpers::{self, test_db, TestDb, TestServer};

/// One row of each kind for team acme, plus another team's ticket.
struct World {
    db: TestDb,
    team: Uuid,
    alice_ticket: Uuid,
    bob_ticket: Uuid,
    reply: Uuid,
    note: Uuid,
    person: Uuid,
    user: Uuid,
    role: Uuid,
    foreign_ticket: Uuid,
}

fn world() -> World {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let ticket_of = |conn: &mut _, team, who: &str| {
        let spec = TicketSpec {
            distinct_id: who.to_string(),
            ..TicketSpec::default()
        };
        fixtures::insert_ticket(conn, team, &spec)
    };
    let alice_ticket = ticket_of(&mut conn, team, "alice");
    let bob_ticket = ticket_of(&mut conn, team, "bob");
    let user = fixtures::user(&mut conn, team, "agent@acme.io", "Agent");
    let role = fixtures::role(&mut conn, team, "Tier 1");
    let reply = fixtures::message(
        &mut conn,
        team,
        alice_ticket,
        &MessageSpec {
            content: "we are on it".into(),
            author_type: "support",
            ..MessageSpec::default()
        },
    );
    let note = fixtures::message(
        &mut conn,
        team,
        alice_ticket,
        &MessageSpec {
            content: "internal".into(),
            author_type: "support",
            is_private: true,
            ..MessageSpec::default()
        },
    );
    let person = fixtures::person(&mut conn, team, &["alice"], json!({"name": "Alice"}), true);
    let other = fixtures::team(&mut conn, "globex");
    let foreign_ticket = ticket_of(&mut conn, other, "alice");
    drop(conn);
    World {
        db,
        team,
        alice_ticket,
        bob_ticket,
        reply,
        note,
        person,
        user,
        role,
        foreign_ticket,
    }
}

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id \
    ... on Ticket { ticketNumber } ... on Message { content } \
    ... on TicketPerson { name } ... on User { email } ... on Role { name } \
    ... on Team { slug } ... on TicketView { name } } }";

#[tokio::test]
async fn node_answers_every_type_of_the_team() {
    let w = world();
    let key = helpers::create_key(&w.db.url, w.team, &[Scope::Read]);
    let server = TestServer::start(&w.db.url);
    let client = server.client(&key);
    let cases = [
        (w.alice_ticket, "Ticket", "ticketNumber"),
        (w.reply, "Message", "content"),
        (w.note, "Message", "content"),
        (w.person, "TicketPerson", "name"),
        (w.user, "User", "email"),
        (w.role, "Role", "name"),
        (w.team, "Team", "slug"),
    ];
    for (id, typename, field) in cases {
        let data = client.data(NODE, json!({ "id": id })).await;
        let node = &data["node"];
        assert_eq!(node["__typename"], typename, "{id}: {data}");
        assert_eq!(node["id"], id.to_string(), "{data}");
        assert!(!node[field].is_null(), "{typename}.{field}: {data}");
    }
    let data = client.data(NODE, json!({ "id": w.reply })).await;
    assert_eq!(data["node"]["content"], "we are on it");
    // A saved view is a node too; a view another user keeps private is not the caller's.
    let writer = server.client(&helpers::create_key(
        &w.db.url,
        w.team,
        &[Scope::Read, Scope::Write],
    ));
    let view = writer
        .data(r#"mutation { createView(input: { name: "Open", filter: { status: [OPEN] } }) { id } }"#, json!({}))
        .await["createView"]["id"]
        .clone();
    let data = client.data(NODE, json!({ "id": view })).await;
    assert_eq!(data["node"]["__typename"], "TicketView", "{data}");
    assert_eq!(data["node"]["name"], "Open");
    let owner = fixtures::user(&mut w.db.conn(), w.team, "owner@acme.io", "Owner");
    let owners_key =
        helpers::create_user_key(&w.db.url, w.team, owner, &[Scope::Read, Scope::Write]);
    let private = server
        .client(&owners_key)
        .data(
            r#"mutation { createView(input: { name: "Mine", shared: false }) { id } }"#,
            json!({}),
        )
        .await["createView"]["id"]
        .clone();
    let (_, body) = client.post(NODE, json!({ "id": private })).await;
    assert!(
        body["data"]["node"].is_null(),
        "another user's private view: {body}"
    );
    // The id a ticket shows is what its typed look-up takes.
    let typed = client
        .data(
            "query($id: UUID!) { ticket(id: $id) { id } }",
            json!({ "id": w.alice_ticket }),
        )
        .await;
    assert_eq!(typed["ticket"]["id"], w.alice_ticket.to_string());
}

#[tokio::test]
async fn what_the_caller_may_not_see_is_null_like_a_missing_id() {
    let w = world();
    let key = helpers::create_key(&w.db.url, w.team, &[Scope::Read]);
    let server = TestServer::start(&w.db.url);
    let team = server.client(&key);
    let alice = server.client(&customer_token(w.team, "alice", 600));
    let expect_null = |who: &'static str, data: Value, what: &str| {
        assert!(
            data.get("errors").is_none(),
            "{who} {what}: no error expected: {data}"
        );
        assert!(data["data"]["node"].is_null(), "{who} {what}: {data}");
    };
    for (what, id) in [
        ("another team's ticket", json!(w.foreign_ticket)),
        ("an unknown uuid", json!(Uuid::new_v4())),
        ("not a uuid", json!("VGlja2V0OjE=")),
        ("empty", json!("")),
    ] {
        let (status, body) = team.post(NODE, json!({ "id": id })).await;
        assert_eq!(status, 200);
        expect_null("team", body, what);
    }
    // A customer token: its own ticket and the replies on it, nothing else.
    let own = alice.data(NODE, json!({ "id": w.alice_ticket })).await;
    assert_eq!(own["node"]["__typename"], "Ticket", "{own}");
    let reply = alice.data(NODE, json!({ "id": w.reply })).await;
    assert_eq!(reply["node"]["content"], "we are on it", "{reply}");
    for (what, id) in [
        ("another customer's ticket", w.bob_ticket),
        ("a private note", w.note),
        ("an agent", w.user),
        ("a role", w.role),
        ("the team", w.team),
        ("a person", w.person),
        ("another team's ticket", w.foreign_ticket),
    ] {
        let (_, body) = alice.post(NODE, json!({ "id": id })).await;
        expect_null("customer", body, what);
    }
}

#[tokio::test]
async fn nodes_keep_order_and_cost_a_constant_number_of_statements() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 120);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    client.data("{ unreadCount }", json!({})).await;
    let page = client
        .data(
            "{ tickets(first: 100) { nodes { id messages(first: 1) { nodes { id } } } } }",
            json!({}),
        )
        .await;
    let tickets: Vec<String> = page["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let message = page["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t["messages"]["nodes"][0]["id"].as_str())
        .expect("a message")
        .to_string();
    let query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id \
                 ... on Ticket { ticketNumber person { name } tags } } }";
    let mut counts = Vec::new();
    for n in [2, 98] {
        let mut ids: Vec<String> = tickets[..n].to_vec();
        ids.insert(1, message.clone());
        ids.push("not-a-uuid".into());
        let before = statements(&server).await;
        let data = client.data(query, json!({ "ids": ids })).await;
        counts.push(statements(&server).await - before);
        let nodes = data["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n + 2);
        assert_eq!(nodes[0]["id"], json!(tickets[0]));
        assert_eq!(nodes[1]["__typename"], "Message");
        assert_eq!(nodes[2]["id"], json!(tickets[1]));
        assert!(nodes[n + 1].is_null());
    }
    assert_eq!(
        counts[0], counts[1],
        "statements for 4 and 100 ids: {counts:?}"
    );
    let too_many: Vec<String> = (0..101).map(|_| Uuid::new_v4().to_string()).collect();
    let code = client
        .error_code(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": too_many }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

async fn statements(server: &TestServer) -> u64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("ticketgate_db_statements_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("ticketgate_db_statements_total")
}

/// relay-compiler (18) compiles `@refetchable` fragments on Ticket and Message and a
/// `@connection` on `tickets` against `schema.graphql`; relay-runtime then refetches a
/// ticket and a message through `node(id:)` and pages the connection
/// (`tests/node/relay.mjs`).
#[test]
fn relay_compiles_refetchable_fragments_and_refetches_by_node() {
    let w = world();
    let key = helpers::create_key(&w.db.url, w.team, &[Scope::Read]);
    for _ in 0..4 {
        fixtures::insert_ticket(&mut w.db.conn(), w.team, &TicketSpec::default());
    }
    let server = Replica::spawn(&w.db.url, &[]);
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let (http, schema) = (server.graphql(), schema.display().to_string());
    let (ticket, message) = (w.alice_ticket.to_string(), w.reply.to_string());
    let env = [
        ("HTTP", http.as_str()),
        ("KEY", key.as_str()),
        ("TICKET", ticket.as_str()),
        ("MESSAGE", message.as_str()),
        ("SCHEMA", schema.as_str()),
    ];
    run_checks("relay.mjs", &env, 4);
}
