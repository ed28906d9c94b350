//! Lists of tickets are resolved as a whole (`graphql::lists`), single tickets by
//! async-graphql field by field: both must give the same values and the same errors, for
//! every field, for team keys and for customers; lists keep the selection's field order.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::server::customer_token;
use crate::helpers::{self, test_db, Client, TestServer};

/// Every field of a ticket, nested objects with every field, through aliases and
/// fragments of each kind.
const TICKET_FIELDS: &str = r#"
  id ticketNumber channelSource channelDetail distinctId status priority anonymousTraits
  aiResolved escalationReason createdAt updatedAt messageCount lastMessageAt lastMessageText
  unreadTeamCount unreadCustomerCount sessionId sessionContext slaDueAt snoozedUntil
  slackChannelId slackThreadTs slackTeamId emailSubject emailFrom emailTo ccParticipants
  tags __typename
  number: ticketNumber
  person { __typename id name distinctIds properties createdAt isIdentified }
  assignee { __typename id type user { id email name } role { id name } }
  ... on Ticket { again: status }
  ...Extra
  messages(last: 2) { nodes { id content authorType } }
"#;

const FRAGMENT: &str = "fragment Extra on Ticket { person { name } }";

fn page_query() -> String {
    format!(
        "query($n: Int) {{ tickets(first: $n) {{ \
           nodes {{ {TICKET_FIELDS} }} edges {{ cursor node {{ {TICKET_FIELDS} }} }} \
         }} }} {FRAGMENT}"
    )
}

/// An error as (ticket index, path below the ticket, code).
type Located = (usize, Vec<String>, String);

fn segments(path: &[Value]) -> Vec<String> {
    path.iter().map(Value::to_string).collect()
}

fn code(error: &Value) -> String {
    error["extensions"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The same tickets one by one (`ticket(id:)`, resolved by async-graphql), 20 a request.
async fn one_by_one(client: &Client, ids: &[String]) -> (Vec<Value>, BTreeSet<Located>) {
    let mut tickets = Vec::new();
    let mut errors = BTreeSet::new();
    for (chunk, chunk_ids) in ids.chunks(20).enumerate() {
        let fields: String = chunk_ids
            .iter()
            .enumerate()
            .map(|(i, id)| format!("t{i}: ticket(id: \"{id}\") {{ {TICKET_FIELDS} }} "))
            .collect();
        let (status, body) = client
            .post(&format!("{{ {fields} }} {FRAGMENT}"), json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        for i in 0..chunk_ids.len() {
            tickets.push(body["data"][format!("t{i}")].clone());
        }
        for error in body["errors"].as_array().into_iter().flatten() {
            let path = error["path"].as_array().unwrap();
            let alias = path[0].as_str().unwrap();
            let index = chunk * 20 + alias[1..].parse::<usize>().unwrap();
            errors.insert((index, segments(&path[1..]), code(error)));
        }
    }
    (tickets, errors)
}

/// Compares a page of every ticket with the same tickets one by one; returns how many
/// field errors each ticket list had.
async fn compare_page_with_single_tickets(client: &Client, expect_tickets: usize) -> usize {
    let (status, page) = client.post(&page_query(), json!({ "n": 200 })).await;
    assert_eq!(status, 200, "{page}");
    let nodes = page["data"]["tickets"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), expect_tickets);
    let edges = page["data"]["tickets"]["edges"].as_array().unwrap();
    for (edge, node) in edges.iter().zip(&nodes) {
        assert!(edge["cursor"].is_string());
        assert_eq!(&edge["node"], node, "edges and nodes differ");
    }
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| n["id"].as_str().unwrap().into())
        .collect();
    let (singles, single_errors) = one_by_one(client, &ids).await;
    for (node, single) in nodes.iter().zip(&singles) {
        // serde_json maps compare without regard to order.
        assert_eq!(node, single, "list and single resolution differ");
    }
    // The same errors at the same places: tickets/nodes/i/… and tickets/edges/i/node/…
    // in the page, tI/… one by one.
    let mut in_nodes = BTreeSet::new();
    let mut in_edges = BTreeSet::new();
    for error in page["errors"].as_array().into_iter().flatten() {
        let path = error["path"].as_array().unwrap();
        let index = path[2].as_u64().unwrap() as usize;
        match path[1].as_str() {
            Some("nodes") => in_nodes.insert((index, segments(&path[3..]), code(error))),
            Some("edges") => {
                assert_eq!(path[3], "node");
                in_edges.insert((index, segments(&path[4..]), code(error)))
            }
            _ => panic!("an error outside the lists: {error}"),
        };
    }
    assert_eq!(in_nodes, single_errors);
    assert_eq!(in_edges, single_errors);
    in_nodes.len()
}

#[tokio::test]
async fn a_page_answers_every_field_as_single_tickets_do() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 150);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let errors = compare_page_with_single_tickets(&server.client(&key), 150).await;
    assert_eq!(errors, 0, "a team key reads every field");
}

#[tokio::test]
async fn a_customer_page_hides_and_refuses_what_single_tickets_do() {
    use diesel::prelude::*;
    use ticketgate::db::schema::{ticket_assignments, tickets};
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 150);
    // The customer with the most tickets, one of them assigned to an agent.
    let (distinct_id, count): (String, i64) = tickets::table
        .inner_join(ticket_assignments::table)
        .filter(ticket_assignments::user_id.is_not_null())
        .group_by(tickets::distinct_id)
        .select((tickets::distinct_id, diesel::dsl::count_star()))
        .order(diesel::dsl::count_star().desc())
        .first(&mut db.conn())
        .unwrap();
    let all: i64 = tickets::table
        .filter(tickets::distinct_id.eq(&distinct_id))
        .count()
        .get_result(&mut db.conn())
        .unwrap();
    assert!(count >= 1);
    let server = TestServer::start(&db.url);
    let client = server.client(&customer_token(team, &distinct_id, 600));
    let errors = compare_page_with_single_tickets(&client, all as usize).await;
    // Agents' emails are FORBIDDEN to customers, in lists as alone.
    assert!(errors >= 1, "the assigned agent's email must be refused");
}

#[tokio::test]
async fn list_objects_keep_the_order_of_the_selection() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 20);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let data = server
        .client(&key)
        .data(
            "{ tickets(first: 5) { nodes { \
               tags person { name id } n: ticketNumber ... on Ticket { status } id __typename \
               assignee { type id } person { distinctIds } \
             } } }",
            json!({}),
        )
        .await;
    for node in data["tickets"]["nodes"].as_array().unwrap() {
        let keys: Vec<&str> = node
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "tags",
                "person",
                "n",
                "status",
                "id",
                "__typename",
                "assignee"
            ]
        );
        if let Some(person) = node["person"].as_object() {
            // A repeated field merges into its first place.
            let keys: Vec<&str> = person.keys().map(String::as_str).collect();
            assert_eq!(keys, ["name", "id", "distinctIds"]);
        }
    }
}

const MESSAGE_FIELDS: &str = "__typename id content authorType isPrivate createdAt \
    createdBy { id email name } ticket { id ticketNumber person { name } tags }";

#[tokio::test]
async fn a_page_of_messages_answers_as_a_single_message_does() {
    use diesel::prelude::*;
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 5);
    let mut conn = db.conn();
    let agent = crate::helpers::fixtures::user(&mut conn, team, "ada@acme.example", "Ada");
    let (_, key) = ticketgate::auth::api_keys::create(
        &mut conn,
        team,
        Some(agent),
        "agent",
        &[Scope::Read, Scope::Write],
    )
    .unwrap();
    let ticket: uuid::Uuid = ticketgate::db::schema::tickets::table
        .select(ticketgate::db::schema::tickets::id)
        .first(&mut conn)
        .unwrap();
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    // `sendMessage` returns its message resolved by async-graphql, field by field.
    let mut sent = Vec::new();
    for (content, private) in [("first", false), ("a note", true), ("third", false)] {
        let data = client
            .data(
                &format!(
                    "mutation($t: UUID!, $c: String!, $p: Boolean) {{ \
                       sendMessage(ticketId: $t, content: $c, isPrivate: $p) {{ {MESSAGE_FIELDS} }} }}"
                ),
                json!({ "t": ticket, "c": content, "p": private }),
            )
            .await;
        sent.push(data["sendMessage"].clone());
    }
    let data = client
        .data(
            &format!(
                "query($t: UUID!) {{ ticket(id: $t) {{ messages(last: 3, includePrivate: true) {{ \
                   nodes {{ {MESSAGE_FIELDS} }} edges {{ node {{ {MESSAGE_FIELDS} }} }} }} }} }}"
            ),
            json!({ "t": ticket }),
        )
        .await;
    let page = &data["ticket"]["messages"];
    assert_eq!(page["nodes"], Value::Array(sent.clone()));
    let from_edges: Vec<Value> = page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect();
    assert_eq!(from_edges, sent);
    assert_eq!(sent[0]["createdBy"]["name"], "Ada");
}
