//! A page of N tickets with every nested field costs the same number of SQL statements
//! for N = 1, 50 and 500 (counted by `ticketgate_db_statements_total`), and an inbox page
//! (person, assignee, tags) takes its look-ups along with the page: one trip to the
//! blocking pool in all once the key is known (`ticketgate_db_trips_total`).

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
fn complete_newest_ticket(conn: &mut PgConnection, team: uuid::Uuid) {
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
