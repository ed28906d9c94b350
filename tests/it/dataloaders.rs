//! A page of N tickets with every nested field costs the same number of SQL statements
//! for N = 1, 50 and 500 (counted by `ticketgate_db_statements_total`), and an inbox page
//! (person, assignee, tags) takes its look-ups along with the page: one trip to the
//! blocking pool in all once the key is known (`ticketgate_db_trips_total`); so do one
//! ticket and its page of messages, and a page whose tickets each show their latest
//! messages.

use diesel::prelude::*;
use serde_json::json;
use ticketgate::auth::viewer::Scope;
use ticketgate::db::schema::{
    email_channels, organization_memberships, person_distinct_ids, teams,
};

use crate::helpers::fixtures::{self, MessageSpec, TicketSpec};
use crate::helpers::{self, test_db, TestServer};

/// A ticket with every kind of nested data, newest of all so it alone makes the N = 1
/// page: then every page, whatever its size, needs every kind of look-up.
fn complete_newest_ticket(conn: &mut PgConnection, team: uuid::Uuid) -> uuid::Uuid {
    let channel: uuid::Uuid = email_channels::table
        .filter(email_channels::team_id.eq(team))
        .select(email_channels::id)
        .first(conn)
        .unwrap();
    let distinct_id: String = person_distinct_ids::table
        .filter(person_distinct_ids::team_id.eq(team))
        .select(person_distinct_ids::distinct_id)
        .first(conn)
        .unwrap();
    let agent: uuid::Uuid = organization_memberships::table
        .inner_join(
            teams::table.on(teams::organization_id.eq(organization_memberships::organization_id)),
        )
        .filter(teams::id.eq(team))
        .select(organization_memberships::user_id)
        .first(conn)
        .unwrap();
    let ticket = fixtures::insert_ticket(
        conn,
        team,
        &TicketSpec {
            channel_source: "email",
            channel_detail: None,
            distinct_id,
            email_channel_id: Some(channel),
            updated_at: chrono::Utc::now() + chrono::Duration::days(1),
            ..Default::default()
        },
    );
    fixtures::assign_user(conn, ticket, agent);
    fixtures::tag(conn, team, ticket, &["urgent"]);
    fixtures::message(
        conn,
        team,
        ticket,
        &MessageSpec {
            created_by: Some(agent),
            author_type: "support",
            ..Default::default()
        },
    );
    ticket
}

const EVERYTHING: &str = r#"query($n: Int) {
  tickets(first: $n) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id ticketNumber channelSource channelDetail distinctId status priority anonymousTraits
      aiResolved escalationReason createdAt updatedAt messageCount lastMessageAt lastMessageText
      unreadTeamCount unreadCustomerCount sessionId sessionContext slaDueAt snoozedUntil
      slackChannelId slackThreadTs slackTeamId emailSubject emailFrom emailTo ccParticipants
      tags
      person { id name distinctIds properties createdAt isIdentified }
      assignee { id type user { id email name } role { id name } }
      messages(last: 5, includePrivate: true) {
        pageInfo { hasPreviousPage }
        nodes { id content authorType isPrivate createdAt createdBy { id email name } ticket { id ticketNumber } }
      }
    } }
  }
}"#;

async fn counter(server: &TestServer, name: &str) -> u64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
}

async fn statements(server: &TestServer) -> u64 {
    counter(server, "ticketgate_db_statements_total").await
}

#[tokio::test]
async fn statement_count_does_not_grow_with_the_page() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 520);
    complete_newest_ticket(&mut db.conn(), team);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    // The key is looked up once, then kept: count pages alone.
    client.data("{ unreadCount }", json!({})).await;

    let mut counts = Vec::new();
    for n in [1, 50, 500] {
        let before = statements(&server).await;
        let data = client.data(EVERYTHING, json!({ "n": n })).await;
        let after = statements(&server).await;
        let edges = data["tickets"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), n as usize);
        // The page really had nested data to load.
        if n == 500 {
            assert!(edges.iter().any(|e| !e["node"]["person"].is_null()));
            assert!(edges.iter().any(|e| !e["node"]["assignee"].is_null()));
            assert!(edges
                .iter()
                .any(|e| e["node"]["tags"].as_array().is_some_and(|t| !t.is_empty())));
            assert!(edges.iter().any(|e| !e["node"]["emailTo"].is_null()));
            assert!(edges
                .iter()
                .any(|e| !e["node"]["messages"]["nodes"][0]["createdBy"].is_null()));
        }
        counts.push(after - before);
    }
    println!("statements per request for N = 1, 50, 500: {counts:?}");
    assert_eq!(counts[0], counts[1], "{counts:?}");
    assert_eq!(counts[1], counts[2], "{counts:?}");
    // Page, count, and one per kind of nested look-up.
    assert!(counts[0] <= 9, "{counts:?}");
}

#[tokio::test]
async fn an_inbox_page_reads_its_nested_look_ups_in_the_same_trip() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 120);
    complete_newest_ticket(&mut db.conn(), team);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    client.data("{ unreadCount }", json!({})).await;
    let inbox = "query($n: Int) { tickets(first: $n) { \
        edges { cursor node { id status person { name } assignee { user { email } } tags } } \
        pageInfo { hasNextPage endCursor } } }";
    for n in [1, 100] {
        let (trips_before, statements_before) = (
            counter(&server, "ticketgate_db_trips_total").await,
            statements(&server).await,
        );
        let data = client.data(inbox, json!({ "n": n })).await;
        let trips = counter(&server, "ticketgate_db_trips_total").await - trips_before;
        let sent = statements(&server).await - statements_before;
        let edges = data["tickets"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), n as usize);
        assert!(!edges[0]["node"]["person"].is_null());
        assert!(!edges[0]["node"]["assignee"]["user"]["email"].is_null());
        assert_eq!(edges[0]["node"]["tags"], json!(["urgent"]));
        // The page with its persons, assignees and tags (the key is known by now).
        assert_eq!((trips, sent), (1, 4), "trips and statements for n = {n}");
    }
}

/// The same selection of one ticket through `ticket(number:)`, which reads ahead, and
/// through `node(id:)`, which asks the loaders one by one; and the trips and statements
/// of the first.
async fn read_ahead_and_not(
    server: &TestServer,
    client: &helpers::client::Client,
    number: i64,
    id: &str,
    selection: &str,
    variables: serde_json::Value,
) -> (serde_json::Value, serde_json::Value, (u64, u64)) {
    let mut by_number = variables.clone();
    by_number["n"] = json!(number);
    let mut by_id = variables;
    by_id["id"] = json!(id);
    let cursor = if selection.contains("$c") {
        ", $c: String"
    } else {
        ""
    };
    let (trips, sent) = (
        counter(server, "ticketgate_db_trips_total").await,
        statements(server).await,
    );
    let read_ahead = client
        .data(
            &format!("query($n: Int!{cursor}) {{ ticket(number: $n) {{ {selection} }} }}"),
            by_number,
        )
        .await;
    let cost = (
        counter(server, "ticketgate_db_trips_total").await - trips,
        statements(server).await - sent,
    );
    let one_by_one = client
        .data(
            &format!(
                "query($id: ID!{cursor}) {{ node(id: $id) {{ ... on Ticket {{ {selection} }} }} }}"
            ),
            by_id,
        )
        .await;
    (
        read_ahead["ticket"].clone(),
        one_by_one["node"].clone(),
        cost,
    )
}

#[tokio::test]
async fn one_ticket_reads_its_look_ups_and_messages_in_the_same_trip() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 30);
    let ticket = complete_newest_ticket(&mut db.conn(), team);
    for (k, is_private) in [false, true, false, false, true].into_iter().enumerate() {
        let spec = MessageSpec {
            content: format!("message {k}"),
            is_private,
            created_at: chrono::Utc::now() + chrono::Duration::seconds(k as i64 + 1),
            ..Default::default()
        };
        fixtures::message(&mut db.conn(), team, ticket, &spec);
    }
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let newest = client
        .data(
            "{ tickets(first: 1) { nodes { id ticketNumber } } }",
            json!({}),
        )
        .await;
    let number = newest["tickets"]["nodes"][0]["ticketNumber"]
        .as_i64()
        .unwrap();
    let id = newest["tickets"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = "edges { cursor node { id content isPrivate } } \
                pageInfo { hasPreviousPage hasNextPage startCursor }";
    let ticket_and_all = format!(
        "id status person {{ name }} assignee {{ user {{ email }} }} tags \
         messages(last: 3) {{ {page} }}"
    );
    for private in ["", "includePrivate: true"] {
        let selection = ticket_and_all.replace("last: 3", &format!("last: 3 {private}"));
        let (ahead, one_by_one, (trips, sent)) =
            read_ahead_and_not(&server, &client, number, &id, &selection, json!({})).await;
        assert_eq!(ahead, one_by_one, "{private}");
        let edges = ahead["messages"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 3);
        assert_eq!(
            ahead["messages"]["pageInfo"]["hasPreviousPage"],
            json!(true)
        );
        let notes = edges
            .iter()
            .filter(|e| e["node"]["isPrivate"] == json!(true))
            .count();
        assert_eq!(notes, if private.is_empty() { 0 } else { 1 }, "{private}");
        assert!(!ahead["person"].is_null() && !ahead["assignee"]["user"]["email"].is_null());
        assert_eq!(ahead["tags"], json!(["urgent"]));
        // One trip: the ticket, then its person, assignee, tags and messages.
        assert_eq!((trips, sent), (1, 5), "trips and statements ({private})");
    }

    // What is not read ahead still reads the same: a cursor, two pages under aliases,
    // `first`, a page size the resolver refuses.
    let cursor = client
        .data(
            &format!(
                "query($n: Int!) {{ ticket(number: $n) {{ messages(last: 2) {{ {page} }} }} }}"
            ),
            json!({ "n": number }),
        )
        .await["ticket"]["messages"]["pageInfo"]["startCursor"]
        .clone();
    let cases = [
        format!("messages(last: 2, before: $c) {{ {page} }}"),
        format!("a: messages(last: 2) {{ {page} }} b: messages(first: 2) {{ {page} }}"),
        format!("messages(first: 4, includePrivate: true) {{ {page} }} tags"),
    ];
    for selection in &cases {
        let (ahead, one_by_one, _) = read_ahead_and_not(
            &server,
            &client,
            number,
            &id,
            selection,
            json!({ "c": cursor }),
        )
        .await;
        assert!(ahead.is_object(), "{selection}: {ahead}");
        assert_eq!(ahead, one_by_one, "{selection}");
    }
    let (status, body) = client
        .post(
            "query($n: Int!) { ticket(number: $n) { id messages(last: -1) { nodes { id } } } }",
            json!({ "n": number }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        json!("BAD_USER_INPUT"),
        "{body}"
    );
}

#[tokio::test]
async fn a_page_with_each_tickets_latest_messages_takes_one_trip() {
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 40);
    complete_newest_ticket(&mut db.conn(), team);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    client.data("{ unreadCount }", json!({})).await;
    let dashboard = "{ tickets(first: 20) { nodes { id ticketNumber person { name } \
        messages(last: 3) { nodes { id content createdAt } pageInfo { hasPreviousPage } } } } }";
    let (trips_before, statements_before) = (
        counter(&server, "ticketgate_db_trips_total").await,
        statements(&server).await,
    );
    let data = client.data(dashboard, json!({})).await;
    let trips = counter(&server, "ticketgate_db_trips_total").await - trips_before;
    let sent = statements(&server).await - statements_before;
    assert_eq!(
        (trips, sent),
        (1, 3),
        "the page, its persons and its messages"
    );
    let nodes = data["tickets"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 20);
    assert!(nodes
        .iter()
        .any(|n| !n["messages"]["nodes"].as_array().unwrap().is_empty()));
    for node in nodes.iter().take(6) {
        let alone = client
            .data(
                "query($id: ID!) { node(id: $id) { ... on Ticket { messages(last: 3) { \
                 nodes { id content createdAt } pageInfo { hasPreviousPage } } } } }",
                json!({ "id": node["id"] }),
            )
            .await;
        assert_eq!(
            node["messages"], alone["node"]["messages"],
            "{}",
            node["ticketNumber"]
        );
    }
}
