//! Every filter alone selects exactly its tickets, and filters combine with AND (pages of
//! a filtered query included), on a catalog of seven tickets plus another team's.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use super::support::{at, check_all, days, hours, minutes, ordered, walk_backward, walk_forward};
use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::snapshots::response_settings;
use crate::helpers::{self, test_db, TestServer};

/// Seven tickets of team `acme` so that every filter has matching and non-matching ones,
/// plus tickets of team `globex` that would match many filters if teams leaked.
///
/// | # | status   | priority | source | detail                | distinct | ai | assignee     | tags          | created | updated | sla       | snoozed |
/// | 1 | new      | -        | widget | widget_embedded       | d-1      |    | -            |               | +0h     | +10m    | -         | -       |
/// | 2 | open     | low      | widget | widget_api            | d-2      | ai | user ada     | vip           | +1h     | +20m    | now-2d    | -       |
/// | 3 | pending  | medium   | email  | -                     | d-3      |    | role billing | billing       | +2h     | +30m    | now+20min | +5d     |
/// | 4 | on_hold  | high     | slack  | slack_channel_message | d-1      |    | user bob     | vip, billing  | +3h     | +40m    | now+3d    | +6d     |
/// | 5 | resolved | -        | slack  | slack_bot_mention     | d-5      | ai | -            | urgent        | +4h     | +50m    | -         | -       |
/// | 6 | open     | high     | teams  | teams_channel_message | d-6      |    | user ada     |               | +5h     | +60m    | now-2d    | -       |
/// | 7 | new      | low      | email  | -                     | d-7      |    | role support |               | +6h     | +70m    | now+10d   | -       |
struct Catalog {
    team: Uuid,
    ada: Uuid,
    bob: Uuid,
    billing: Uuid,
    support: Uuid,
}

fn catalog(conn: &mut PgConnection) -> Catalog {
    let team = fixtures::team(conn, "acme");
    let other = fixtures::team(conn, "globex");
    let ada = fixtures::user(conn, team, "ada@acme.example", "Ada");
    let bob = fixtures::user(conn, team, "bob@acme.example", "Bob");
    let billing = fixtures::role(conn, team, "Billing");
    let support = fixtures::role(conn, team, "Support");
    let now = Utc::now();
    struct Row {
        status: &'static str,
        priority: Option<&'static str>,
        source: &'static str,
        detail: Option<&'static str>,
        distinct: &'static str,
        ai: bool,
        tags: &'static [&'static str],
        sla: Option<DateTime<Utc>>,
        snoozed: Option<DateTime<Utc>>,
        traits: Value,
    }
    let rows = [
        Row {
            status: "new",
            priority: None,
            source: "widget",
            detail: Some("widget_embedded"),
            distinct: "d-1",
            ai: false,
            tags: &[],
            sla: None,
            snoozed: None,
            traits: json!({}),
        },
        Row {
            status: "open",
            priority: Some("low"),
            source: "widget",
            detail: Some("widget_api"),
            distinct: "d-2",
            ai: true,
            tags: &["vip"],
            sla: Some(now - Duration::days(2)),
            snoozed: None,
            traits: json!({ "name": "Grace Hopper" }),
        },
        Row {
            status: "pending",
            priority: Some("medium"),
            source: "email",
            detail: None,
            distinct: "d-3",
            ai: false,
            tags: &["billing"],
            sla: Some(now + Duration::minutes(20)),
            snoozed: Some(days(5)),
            traits: json!({}),
        },
        Row {
            status: "on_hold",
            priority: Some("high"),
            source: "slack",
            detail: Some("slack_channel_message"),
            distinct: "d-1",
            ai: false,
            tags: &["vip", "billing"],
            sla: Some(now + Duration::days(3)),
            snoozed: Some(days(6)),
            traits: json!({}),
        },
        Row {
            status: "resolved",
            priority: None,
            source: "slack",
            detail: Some("slack_bot_mention"),
            distinct: "d-5",
            ai: true,
            tags: &["urgent"],
            sla: None,
            snoozed: None,
            traits: json!({}),
        },
        Row {
            status: "open",
            priority: Some("high"),
            source: "teams",
            detail: Some("teams_channel_message"),
            distinct: "d-6",
            ai: false,
            tags: &[],
            sla: Some(now - Duration::days(2)),
            snoozed: None,
            traits: json!({ "name": "Grace Kelly" }),
        },
        Row {
            status: "new",
            priority: Some("low"),
            source: "email",
            detail: None,
            distinct: "d-7",
            ai: false,
            tags: &[],
            sla: Some(now + Duration::days(10)),
            snoozed: None,
            traits: json!({}),
        },
    ];
    let mut ids = Vec::new();
    for (i, row) in (0_i64..).zip(&rows) {
        let id = fixtures::insert_ticket(
            conn,
            team,
            &TicketSpec {
                status: row.status,
                priority: row.priority,
                channel_source: row.source,
                channel_detail: row.detail,
                distinct_id: row.distinct.into(),
                ai_resolved: row.ai,
                sla_due_at: row.sla,
                snoozed_until: row.snoozed,
                anonymous_traits: row.traits.clone(),
                created_at: hours(i),
                updated_at: minutes(10 * (i + 1)),
                ..TicketSpec::default()
            },
        );
        fixtures::tag(conn, team, id, row.tags);
        ids.push(id);
    }
    fixtures::assign_user(conn, ids[1], ada);
    fixtures::assign_role(conn, ids[2], billing);
    fixtures::assign_user(conn, ids[3], bob);
    fixtures::assign_user(conn, ids[5], ada);
    fixtures::assign_role(conn, ids[6], support);

    // globex #1 and #2 look like acme's tickets to almost every filter.
    for (status, priority) in [("new", Some("low")), ("resolved", None)] {
        let id = fixtures::insert_ticket(
            conn,
            other,
            &TicketSpec {
                status,
                priority,
                distinct_id: "d-1".into(),
                ai_resolved: true,
                sla_due_at: Some(now - Duration::days(2)),
                snoozed_until: Some(days(5)),
                anonymous_traits: json!({ "name": "Grace" }),
                created_at: hours(1),
                updated_at: minutes(20),
                ..TicketSpec::default()
            },
        );
        fixtures::tag(conn, other, id, &["vip", "billing", "urgent"]);
        fixtures::assign_user(conn, id, ada);
    }
    Catalog {
        team,
        ada,
        bob,
        billing,
        support,
    }
}

#[tokio::test]
async fn attribute_filters_alone_select_exactly_their_tickets() {
    let db = test_db();
    let c = catalog(&mut db.conn());
    let key = helpers::create_key(&db.url, c.team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    let cases: Vec<(Value, Vec<i64>)> = vec![
        (Value::Null, vec![1, 2, 3, 4, 5, 6, 7]),
        (json!({}), vec![1, 2, 3, 4, 5, 6, 7]),
        // status
        (json!({ "status": ["NEW"] }), vec![1, 7]),
        (json!({ "status": ["OPEN", "PENDING"] }), vec![2, 3, 6]),
        (json!({ "status": ["ON_HOLD"] }), vec![4]),
        (json!({ "status": ["RESOLVED"] }), vec![5]),
        (
            json!({ "status": ["NEW", "OPEN", "PENDING", "ON_HOLD", "RESOLVED"] }),
            vec![1, 2, 3, 4, 5, 6, 7],
        ),
        (json!({ "status": [] }), vec![]),
        // priority, UNSET alone and mixed
        (json!({ "priority": ["UNSET"] }), vec![1, 5]),
        (json!({ "priority": ["LOW"] }), vec![2, 7]),
        (json!({ "priority": ["MEDIUM", "HIGH"] }), vec![3, 4, 6]),
        (json!({ "priority": ["LOW", "UNSET"] }), vec![1, 2, 5, 7]),
        (json!({ "priority": ["UNSET", "HIGH"] }), vec![1, 4, 5, 6]),
        (json!({ "priority": [] }), vec![]),
        // channels (a null detail matches no detail)
        (json!({ "channelSource": ["WIDGET"] }), vec![1, 2]),
        (json!({ "channelSource": ["EMAIL"] }), vec![3, 7]),
        (
            json!({ "channelSource": ["SLACK", "TEAMS"] }),
            vec![4, 5, 6],
        ),
        (json!({ "channelSource": [] }), vec![]),
        (json!({ "channelDetail": ["WIDGET_API"] }), vec![2]),
        (
            json!({ "channelDetail": ["SLACK_CHANNEL_MESSAGE", "TEAMS_CHANNEL_MESSAGE"] }),
            vec![4, 6],
        ),
        (
            json!({ "channelDetail": ["WIDGET_EMBEDDED", "SLACK_BOT_MENTION"] }),
            vec![1, 5],
        ),
        (json!({ "channelDetail": ["SLACK_EMOJI_REACTION"] }), vec![]),
        (json!({ "channelDetail": [] }), vec![]),
        // distinct ids: exact, any of
        (json!({ "distinctIds": ["d-1"] }), vec![1, 4]),
        (
            json!({ "distinctIds": ["d-1", "d-5", "nobody"] }),
            vec![1, 4, 5],
        ),
        (json!({ "distinctIds": ["D-1", "d-"] }), vec![]),
        (json!({ "distinctIds": [] }), vec![]),
        // snoozed
        (json!({ "snoozed": true }), vec![3, 4]),
        (json!({ "snoozed": false }), vec![1, 2, 5, 6, 7]),
        // tags, any of, the team's own only
        (json!({ "tags": ["vip"] }), vec![2, 4]),
        (json!({ "tags": ["billing"] }), vec![3, 4]),
        (json!({ "tags": ["vip", "urgent"] }), vec![2, 4, 5]),
        (json!({ "tags": ["vip", "billing"] }), vec![2, 3, 4]),
        (json!({ "tags": ["nope"] }), vec![]),
        (json!({ "tags": [] }), vec![]),
        // aiResolved
        (json!({ "aiResolved": true }), vec![2, 5]),
        (json!({ "aiResolved": false }), vec![1, 3, 4, 6, 7]),
        // explicit nulls are "no filter"
        (
            json!({ "status": null, "sla": null, "snoozed": null, "assignee": null }),
            vec![1, 2, 3, 4, 5, 6, 7],
        ),
    ];
    check_all(&client, &cases).await;
}

#[tokio::test]
async fn assignee_time_and_sla_filters_alone_select_exactly_their_tickets() {
    let db = test_db();
    let c = catalog(&mut db.conn());
    let key = helpers::create_key(&db.url, c.team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let nobody = Uuid::now_v7();

    let cases: Vec<(Value, Vec<i64>)> = vec![
        // assignee
        (json!({ "assignee": { "unassigned": true } }), vec![1, 5]),
        (
            json!({ "assignee": { "unassigned": false } }),
            vec![2, 3, 4, 6, 7],
        ),
        (json!({ "assignee": { "userId": c.ada } }), vec![2, 6]),
        (json!({ "assignee": { "userId": c.bob } }), vec![4]),
        (json!({ "assignee": { "roleId": c.billing } }), vec![3]),
        (json!({ "assignee": { "roleId": c.support } }), vec![7]),
        (json!({ "assignee": { "userId": nobody } }), vec![]),
        // a user's id is not a role's
        (json!({ "assignee": { "roleId": c.ada } }), vec![]),
        // updatedAt: from inclusive, to exclusive
        (
            json!({ "updatedAt": { "from": at(minutes(20)), "to": at(minutes(50)) } }),
            vec![2, 3, 4],
        ),
        (
            json!({ "updatedAt": { "from": at(minutes(50)) } }),
            vec![5, 6, 7],
        ),
        (json!({ "updatedAt": { "to": at(minutes(20)) } }), vec![1]),
        (
            json!({ "updatedAt": { "from": at(minutes(50)), "to": at(minutes(50)) } }),
            vec![],
        ),
        (
            json!({ "updatedAt": {
                "from": at(minutes(20) + Duration::microseconds(1)),
                "to": at(minutes(50) + Duration::microseconds(1)),
            } }),
            vec![3, 4, 5],
        ),
        // the same instants in another offset
        (
            json!({ "updatedAt": {
                "from": "2026-01-01T13:40:00+01:00",
                "to": "2026-01-01T08:10:00-05:00",
            } }),
            vec![4, 5, 6],
        ),
        (json!({ "updatedAt": {} }), vec![1, 2, 3, 4, 5, 6, 7]),
        // createdAt
        (
            json!({ "createdAt": { "from": at(hours(1)), "to": at(hours(3)) } }),
            vec![2, 3],
        ),
        (json!({ "createdAt": { "from": at(hours(6)) } }), vec![7]),
        (
            json!({ "createdAt": { "from": at(hours(5) + Duration::microseconds(1)) } }),
            vec![7],
        ),
        (json!({ "createdAt": { "to": at(hours(0)) } }), vec![]),
        (
            json!({ "createdAt": { "to": at(hours(0) + Duration::microseconds(1)) } }),
            vec![1],
        ),
        // sla, relative to now; tickets without a deadline never match
        (json!({ "sla": "BREACHED" }), vec![2, 6]),
        (json!({ "sla": "AT_RISK" }), vec![3]),
        (json!({ "sla": "ON_TRACK" }), vec![4, 7]),
    ];
    check_all(&client, &cases).await;
}

#[tokio::test]
async fn filters_combine_with_and() {
    let db = test_db();
    let c = catalog(&mut db.conn());
    let key = helpers::create_key(&db.url, c.team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    let cases: Vec<(Value, Vec<i64>)> = vec![
        (
            json!({ "status": ["OPEN"], "assignee": { "userId": c.ada } }),
            vec![2, 6],
        ),
        (
            json!({ "status": ["OPEN"], "assignee": { "userId": c.ada }, "aiResolved": true }),
            vec![2],
        ),
        (
            json!({ "tags": ["vip", "billing"], "snoozed": true }),
            vec![3, 4],
        ),
        (
            json!({ "tags": ["vip", "billing"], "snoozed": true, "priority": ["HIGH"] }),
            vec![4],
        ),
        (
            json!({ "channelSource": ["EMAIL", "WIDGET"], "priority": ["LOW", "UNSET"] }),
            vec![1, 2, 7],
        ),
        (json!({ "sla": "BREACHED", "search": "grace" }), vec![2, 6]),
        (
            json!({ "sla": "BREACHED", "search": "GRACE", "aiResolved": false }),
            vec![6],
        ),
        (
            json!({
                "updatedAt": { "from": at(minutes(20)) },
                "createdAt": { "to": at(hours(5)) },
                "assignee": { "unassigned": false },
            }),
            vec![2, 3, 4],
        ),
        (
            json!({ "status": ["NEW", "RESOLVED"], "distinctIds": ["d-1", "d-5"] }),
            vec![1, 5],
        ),
        (
            json!({ "channelDetail": ["SLACK_CHANNEL_MESSAGE", "SLACK_BOT_MENTION"],
                    "sla": "ON_TRACK" }),
            vec![4],
        ),
        (json!({ "status": ["RESOLVED"], "sla": "BREACHED" }), vec![]),
        // an empty list matches nothing, whatever else matches
        (json!({ "status": ["OPEN"], "tags": [] }), vec![]),
        (json!({ "aiResolved": true, "priority": [] }), vec![]),
    ];
    check_all(&client, &cases).await;

    // Pages of a searched query too.
    let grace = json!({ "search": "grace", "status": ["OPEN"] });
    let by_sla = json!([{ "field": "SLA_DUE_AT", "direction": "ASC" }]);
    assert_eq!(ordered(&client, &grace, &by_sla).await, vec![2, 6]);
    assert_eq!(walk_forward(&client, &grace, &by_sla, 1).await, vec![2, 6]);
    assert_eq!(walk_backward(&client, &grace, &by_sla, 1).await, vec![2, 6]);

    // Pages of a filtered query walk exactly the filtered sequence, both ways.
    let filter =
        json!({ "assignee": { "unassigned": false }, "status": ["OPEN", "PENDING", "NEW"] });
    let order = json!([{ "field": "UPDATED_AT", "direction": "DESC" }]);
    assert_eq!(ordered(&client, &filter, &order).await, vec![7, 6, 3, 2]);
    assert_eq!(
        walk_forward(&client, &filter, &order, 3).await,
        vec![7, 6, 3, 2]
    );
    assert_eq!(
        walk_backward(&client, &filter, &order, 3).await,
        vec![7, 6, 3, 2]
    );
}

/// A filtered, ordered page of the catalog, whole: what a ticket list shows (status,
/// priority, channel, tags, assignee as a user or a role, traits) with `pageInfo` and the
/// filtered `totalCount` (ids, cursors and times redacted, their form checked).
#[tokio::test]
async fn a_filtered_page_keeps_its_shape() {
    let db = test_db();
    let c = catalog(&mut db.conn());
    let key = helpers::create_key(&db.url, c.team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let page = server
        .client(&key)
        .data(
            r#"query($filter: TicketFilter, $orderBy: [TicketOrder!]) {
              tickets(filter: $filter, orderBy: $orderBy, first: 2) {
                totalCount
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                edges { cursor node {
                  id ticketNumber status priority channelSource channelDetail distinctId
                  aiResolved anonymousTraits tags createdAt updatedAt slaDueAt snoozedUntil
                  assignee { id type user { id name email } role { id name } }
                } }
              }
            }"#,
            json!({
                "filter": { "assignee": { "unassigned": false }, "status": ["OPEN", "PENDING", "NEW"] },
                "orderBy": [{ "field": "UPDATED_AT", "direction": "DESC" }],
            }),
        )
        .await;
    // #7 (a role's, by email) and #6 (a user's, from Teams) of 7, 6, 3, 2.
    response_settings().bind(|| insta::assert_json_snapshot!(page));
}
