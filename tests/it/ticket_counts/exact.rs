//! `ticketCounts` over a small world known row by row: every dimension, the scope of
//! team keys and customer tokens, one SQL statement whatever is selected, and bad input.

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use super::{dimension, COUNTS};
use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::server::customer_token;
use crate::helpers::{self, test_db, Client, TestServer};

/// Four tickets of `acme` (and two of another team that must never count):
/// 1. open, high, widget, Ada, customer `c-1`, tags billing + bug
/// 2. open, low, email, the Billing role, customer `c-1`, tag billing
/// 3. resolved, no priority, slack, nobody, customer `c-2`
/// 4. new, high, widget, Ada, customer `c-2`, tag bug
pub(super) struct Small {
    pub team: Uuid,
    pub ada: Uuid,
    pub alan: Uuid,
    pub role: Uuid,
    pub tickets: Vec<Uuid>,
}

pub(super) fn small_world(conn: &mut diesel::PgConnection) -> Small {
    let team = fixtures::team(conn, "acme");
    let other = fixtures::team(conn, "globex");
    let ada = fixtures::user(conn, team, "ada@acme.example", "Ada");
    let alan = fixtures::user(conn, team, "alan@acme.example", "Alan");
    let role = fixtures::role(conn, team, "Billing");
    let spec = |status, priority, channel_source, channel_detail, who: &str| TicketSpec {
        status,
        priority,
        channel_source,
        channel_detail,
        distinct_id: who.into(),
        ..Default::default()
    };
    let tickets = vec![
        fixtures::insert_ticket(
            conn,
            team,
            &spec(
                "open",
                Some("high"),
                "widget",
                Some("widget_embedded"),
                "c-1",
            ),
        ),
        fixtures::insert_ticket(conn, team, &spec("open", Some("low"), "email", None, "c-1")),
        fixtures::insert_ticket(
            conn,
            team,
            &spec("resolved", None, "slack", Some("slack_bot_mention"), "c-2"),
        ),
        fixtures::insert_ticket(
            conn,
            team,
            &spec("new", Some("high"), "widget", Some("widget_api"), "c-2"),
        ),
    ];
    fixtures::assign_user(conn, tickets[0], ada);
    fixtures::assign_role(conn, tickets[1], role);
    fixtures::assign_user(conn, tickets[3], ada);
    fixtures::tag(conn, team, tickets[0], &["billing", "bug"]);
    fixtures::tag(conn, team, tickets[1], &["billing"]);
    fixtures::tag(conn, team, tickets[3], &["bug"]);
    for _ in 0..2 {
        let theirs = fixtures::insert_ticket(
            conn,
            other,
            &spec("open", Some("high"), "widget", None, "c-1"),
        );
        fixtures::tag(conn, other, theirs, &["billing", "bug"]);
    }
    Small {
        team,
        ada,
        alan,
        role,
        tickets,
    }
}

async fn counts(client: &Client, filter: Value) -> Value {
    client.data(COUNTS, json!({ "filter": filter })).await["ticketCounts"].clone()
}

#[tokio::test]
async fn every_dimension_counts_the_matching_tickets() {
    let db = test_db();
    let world = small_world(&mut db.conn());
    let key = helpers::create_key(&db.url, world.team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    let all = counts(&client, Value::Null).await;
    assert_eq!(all["total"], 4);
    assert_eq!(
        dimension(&all, "byStatus"),
        ["NEW=1", "OPEN=2", "RESOLVED=1"]
    );
    assert_eq!(dimension(&all, "byPriority"), ["HIGH=2", "LOW=1", "null=1"]);
    assert_eq!(
        dimension(&all, "byChannelSource"),
        ["EMAIL=1", "SLACK=1", "WIDGET=2"]
    );
    let (ada, role) = (
        format!("user:{}=2", world.ada),
        format!("role:{}=1", world.role),
    );
    let mut want = vec![ada, role, "unassigned=1".to_string()];
    want.sort();
    assert_eq!(dimension(&all, "byAssignee"), want);
    // Every value listed, in the enum's order, zeros included; the busiest assignee
    // first, the unassigned last, with the user's and the role's fields.
    let statuses: Vec<&str> = all["byStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["NEW", "OPEN", "PENDING", "ON_HOLD", "RESOLVED"]);
    assert_eq!(
        all["byPriority"][3],
        json!({ "priority": null, "count": 1 })
    );
    assert_eq!(
        all["byChannelSource"][3],
        json!({ "channelSource": "TEAMS", "count": 0 })
    );
    assert_eq!(all["byAssignee"][0]["user"]["name"], "Ada");
    assert_eq!(all["byAssignee"][1]["role"]["name"], "Billing");
    assert_eq!(
        all["byAssignee"][2],
        json!({ "user": null, "role": null, "unassigned": true, "count": 1 })
    );

    let open = counts(&client, json!({ "status": ["OPEN"] })).await;
    assert_eq!(open["total"], 2);
    assert_eq!(dimension(&open, "byPriority"), ["HIGH=1", "LOW=1"]);
    assert_eq!(dimension(&open, "byStatus"), ["OPEN=2"]);

    // Nothing matches: zeros everywhere, the unassigned still listed.
    let none = counts(&client, json!({ "search": "no such words" })).await;
    assert_eq!(none["total"], 0);
    assert_eq!(
        none["byAssignee"],
        json!([{ "user": null, "role": null, "unassigned": true, "count": 0 }])
    );
}

#[tokio::test]
async fn a_customer_counts_only_their_own_tickets() {
    let db = test_db();
    let world = small_world(&mut db.conn());
    let server = TestServer::start(&db.url);
    let client = server.client(&customer_token(world.team, "c-1", 600));
    let own = client
        .data(
            "{ ticketCounts { total byStatus { status count } byAssignee { unassigned count } } }",
            json!({}),
        )
        .await;
    assert_eq!(own["ticketCounts"]["total"], 2);
    assert_eq!(dimension(&own["ticketCounts"], "byStatus"), ["OPEN=2"]);
    // A filter narrows further, never widens.
    let narrowed = counts(&client, json!({ "distinctIds": ["c-2"] })).await;
    assert_eq!(narrowed["total"], 0);
    // Agents' emails stay the team's, as everywhere.
    let email = client
        .error_code(
            "{ ticketCounts { byAssignee { user { email } } } }",
            json!({}),
        )
        .await;
    assert_eq!(email, "FORBIDDEN");
}

async fn statements(server: &TestServer) -> u64 {
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix("ticketgate_db_statements_total ")?
                .trim()
                .parse()
                .ok()
        })
        .expect("the statement counter")
}

#[tokio::test]
async fn counts_are_one_statement_whatever_is_selected() {
    let db = test_db();
    let world = small_world(&mut db.conn());
    let key = helpers::create_user_key(&db.url, world.team, world.ada, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    // The key is looked up once, then kept: count the counts alone.
    client.data("{ unreadCount }", json!({})).await;
    let selections = [
        "{ ticketCounts { total } }".to_string(),
        "{ ticketCounts { byAssignee { count } } }".to_string(),
        COUNTS.to_string(),
    ];
    let filters = [
        Value::Null,
        json!({ "search": "hello", "tagsAll": ["billing", "bug"], "tagsNone": ["vip"],
                "assignee": { "me": true }, "updatedAt": { "withinLastDays": 7 } }),
        json!({ "tags": ["bug"], "priority": ["UNSET", "HIGH"], "sla": "BREACHED" }),
    ];
    for query in &selections {
        for filter in &filters {
            let before = statements(&server).await;
            client.data(query, json!({ "filter": filter })).await;
            assert_eq!(
                statements(&server).await - before,
                1,
                "{query} with {filter}"
            );
        }
    }
}

#[tokio::test]
async fn empty_lists_and_bad_filters() {
    let db = test_db();
    let world = small_world(&mut db.conn());
    let key = helpers::create_key(&db.url, world.team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    // Every one of no tags, none of no tags: no constraint. Any of no tags: nothing.
    assert_eq!(counts(&client, json!({ "tagsAll": [] })).await["total"], 4);
    assert_eq!(counts(&client, json!({ "tagsNone": [] })).await["total"], 4);
    assert_eq!(counts(&client, json!({ "tags": [] })).await["total"], 0);

    let refused = |filter: Value, field: &'static str| {
        let client = client.clone();
        async move {
            for query in [
                COUNTS,
                "query($filter: TicketFilter) { tickets(filter: $filter) { totalCount } }",
            ] {
                let (status, body) = client.post(query, json!({ "filter": filter })).await;
                assert_eq!(status, 200, "{body}");
                let error = &body["errors"][0];
                assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
                assert_eq!(error["extensions"]["field"], field, "{body}");
            }
        }
    };
    // A key without a user has no "me".
    refused(json!({ "assignee": { "me": true } }), "filter.assignee.me").await;
    refused(json!({ "assignee": { "me": false } }), "filter.assignee.me").await;
    refused(
        json!({ "updatedAt": { "withinLastDays": 0 } }),
        "filter.updatedAt.withinLastDays",
    )
    .await;
    refused(
        json!({ "createdAt": { "olderThanDays": 36501 } }),
        "filter.createdAt.olderThanDays",
    )
    .await;
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    refused(json!({ "tagsAll": many }), "filter.tagsAll").await;
    refused(json!({ "tagsNone": many }), "filter.tagsNone").await;
    refused(json!({ "tagsNone": ["a\u{0}b"] }), "filter.tagsNone").await;

    // A customer token has no user either.
    let customer = server.client(&customer_token(world.team, "c-1", 600));
    let (_, body) = customer
        .post(COUNTS, json!({ "filter": { "assignee": { "me": true } } }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let _ = world.alan;
}
