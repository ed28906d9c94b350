//! The `tickets` query's filters, search, orders and cursors, each against a small dataset
//! whose every row the test knows: exact ticket numbers in exact order, and a `totalCount`
//! that agrees with the filter.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::db::schema::teams;
use uuid::Uuid;

use crate::helpers::fixtures::{self, base_time, MessageSpec, TicketSpec};
use crate::helpers::{self, test_db, Client, TestServer};

const TICKETS: &str = r#"query($filter: TicketFilter, $orderBy: [TicketOrder!], $first: Int,
      $after: String, $last: Int, $before: String) {
  tickets(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last,
          before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { ticketNumber distinctId } }
  }
}"#;

/// A time as the API takes it, to the microsecond.
fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn minutes(n: i64) -> DateTime<Utc> {
    base_time() + Duration::minutes(n)
}

fn hours(n: i64) -> DateTime<Utc> {
    base_time() + Duration::hours(n)
}

fn days(n: i64) -> DateTime<Utc> {
    base_time() + Duration::days(n)
}

fn numbers(data: &Value) -> Vec<i64> {
    data["tickets"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {data}"))
        .iter()
        .map(|e| e["node"]["ticketNumber"].as_i64().unwrap())
        .collect()
}

fn by_number() -> Value {
    json!([{ "field": "TICKET_NUMBER", "direction": "ASC" }])
}

/// Every ticket matching `filter`, by ascending number; `totalCount` must agree.
async fn matching(client: &Client, filter: &Value) -> Vec<i64> {
    let data = client
        .data(
            TICKETS,
            json!({ "filter": filter, "orderBy": by_number(), "first": 500 }),
        )
        .await;
    let found = numbers(&data);
    assert_eq!(
        data["tickets"]["totalCount"],
        json!(found.len()),
        "totalCount of {filter}"
    );
    found
}

async fn check_all(client: &Client, cases: &[(Value, Vec<i64>)]) {
    for (filter, expected) in cases {
        assert_eq!(&matching(client, filter).await, expected, "filter {filter}");
    }
}

/// The whole sequence for `order` in one page; `totalCount` must agree.
async fn ordered(client: &Client, filter: &Value, order: &Value) -> Vec<i64> {
    let data = client
        .data(
            TICKETS,
            json!({ "filter": filter, "orderBy": order, "first": 500 }),
        )
        .await;
    let found = numbers(&data);
    assert_eq!(data["tickets"]["totalCount"], json!(found.len()));
    assert_eq!(data["tickets"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(data["tickets"]["pageInfo"]["hasPreviousPage"], false);
    found
}

/// Walks every page forward (`first: size` + `after`).
async fn walk_forward(client: &Client, filter: &Value, order: &Value, size: i64) -> Vec<i64> {
    let mut walked = Vec::new();
    let mut totals = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        assert!(page < 50, "forward walk does not end: {walked:?}");
        let data = client
            .data(
                TICKETS,
                json!({ "filter": filter, "orderBy": order, "first": size, "after": after }),
            )
            .await;
        let chunk = numbers(&data);
        totals.push(data["tickets"]["totalCount"].as_i64().unwrap());
        let info = &data["tickets"]["pageInfo"];
        assert_eq!(info["hasPreviousPage"], page > 0, "{order} page {page}");
        assert!(chunk.len() as i64 <= size);
        walked.extend(chunk);
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = info["endCursor"].clone();
    }
    // every page counts the whole result, not itself
    assert!(
        totals.iter().all(|&t| t == walked.len() as i64),
        "{totals:?}"
    );
    walked
}

/// Walks every page backward (`last: size` + `before`), from the end.
async fn walk_backward(client: &Client, filter: &Value, order: &Value, size: i64) -> Vec<i64> {
    let mut walked: Vec<i64> = Vec::new();
    let mut totals = Vec::new();
    let mut before = Value::Null;
    for page in 0.. {
        assert!(page < 50, "backward walk does not end: {walked:?}");
        let data = client
            .data(
                TICKETS,
                json!({ "filter": filter, "orderBy": order, "last": size, "before": before }),
            )
            .await;
        let mut chunk = numbers(&data);
        totals.push(data["tickets"]["totalCount"].as_i64().unwrap());
        let info = &data["tickets"]["pageInfo"];
        assert_eq!(info["hasNextPage"], page > 0, "{order} page {page}");
        assert!(chunk.len() as i64 <= size);
        chunk.extend(walked);
        walked = chunk;
        if !info["hasPreviousPage"].as_bool().unwrap() {
            break;
        }
        before = info["startCursor"].clone();
    }
    assert!(
        totals.iter().all(|&t| t == walked.len() as i64),
        "{totals:?}"
    );
    walked
}

/// Ticket ids are UUIDv7, so later insertions sort after earlier ones: the id tie-breaks
/// below are spelled as ticket numbers on that premise, checked here.
fn assert_ids_ascend(ids: &[Uuid]) {
    let mut sorted = ids.to_vec();
    sorted.sort();
    assert_eq!(sorted, ids, "ids must ascend in insertion order");
}

/// Makes the team's next ticket number `next`.
fn next_number_is(conn: &mut PgConnection, team: Uuid, next: i32) {
    diesel::update(teams::table.find(team))
        .set(teams::last_ticket_number.eq(next - 1))
        .execute(conn)
        .expect("ticket counter");
}

/// The body of a refused request: HTTP 200 (`application/json`) and exactly one error.
async fn refused(client: &Client, query: &str, variables: &Value) -> Value {
    let (status, body) = client.post(query, variables.clone()).await;
    assert_eq!(status, 200, "{variables}: {body}");
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{variables}: expected errors, got {body}"));
    assert_eq!(errors.len(), 1, "{variables}: {body}");
    body
}

/// Refused by async-graphql's validation (before any resolver runs): no `data` at all, and
/// the argument is named only in the message, not in `extensions.field`.
async fn refused_by_validation(client: &Client, query: &str, variables: Value, argument: &str) {
    let body = refused(client, query, &variables).await;
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"],
        json!({ "code": "BAD_USER_INPUT", "field": argument }),
        "{variables}: {body}"
    );
    assert!(body.get("data").is_none(), "{variables}: {body}");
    let named = format!("Invalid value for argument \"{argument}\"");
    assert!(
        error["message"].as_str().unwrap().starts_with(&named),
        "{variables}: {body}"
    );
}

/// Refused by a resolver: `data` is null (the non-null `tickets` field failed), the code is
/// BAD_USER_INPUT and `extensions.field` is `field` (null: the server names none).
async fn refused_as_bad_input(client: &Client, query: &str, variables: Value, field: Value) {
    let body = refused(client, query, &variables).await;
    let error = &body["errors"][0];
    assert_eq!(body["data"], Value::Null, "{variables}: {body}");
    assert!(body.get("data").is_some(), "{variables}: {body}");
    assert_eq!(error["path"], json!(["tickets"]), "{variables}: {body}");
    assert_eq!(
        error["extensions"]["code"], "BAD_USER_INPUT",
        "{variables}: {body}"
    );
    assert_eq!(error["extensions"]["field"], field, "{variables}: {body}");
}

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

#[tokio::test]
async fn search_matches_numbers_exactly_and_text_case_insensitively() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let other = fixtures::team(&mut conn, "globex");
    let ticket =
        |conn: &mut PgConnection, spec: TicketSpec| fixtures::insert_ticket(conn, team, &spec);
    let say = |conn: &mut PgConnection, ticket: Uuid, content: &str, deleted: bool| {
        fixtures::message(
            conn,
            team,
            ticket,
            &MessageSpec {
                content: content.into(),
                deleted,
                ..MessageSpec::default()
            },
        );
    };
    let email = |subject: &str| TicketSpec {
        channel_source: "email",
        channel_detail: None,
        email_subject: Some(subject.into()),
        ..TicketSpec::default()
    };
    // 1: traits
    ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "name": "Zoë Ålander", "email": "zoe@example.com" }),
            ..TicketSpec::default()
        },
    );
    // 2, 3: email subjects
    ticket(&mut conn, email("Invoice 50% discount"));
    ticket(&mut conn, email("Order 500 units"));
    // 4..7, 9, 10: messages
    let t4 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t4, "Je vais à l'école demain", false);
    let t5 = ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "name": "Snake Plissken" }),
            ..TicketSpec::default()
        },
    );
    say(&mut conn, t5, "a snake_case issue", false);
    say(&mut conn, t5, "still a snake_case issue", false);
    fixtures::message(
        &mut conn,
        team,
        t5,
        &MessageSpec {
            content: "internal: plissken snake".into(),
            is_private: true,
            ..MessageSpec::default()
        },
    );
    let t6 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t6, "a snakeXcase issue", false);
    let t7 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t7, "the secret phrase", true);
    say(&mut conn, t7, "nothing to see", false);
    // 8: an email trait in mixed case
    ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "email": "Mixed.Case@Example.COM" }),
            ..TicketSpec::default()
        },
    );
    let t9 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t9, r"path C:\temp\logs", false);
    let t10 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t10, "path C:temp", false);
    // 11: digits in text: a number search is not a text search
    let t11 = ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "name": "Agent 12" }),
            email_subject: Some("re: 12".into()),
            ..TicketSpec::default()
        },
    );
    say(&mut conn, t11, "see tickets 12 and 120", false);
    // 12 and 120
    ticket(&mut conn, TicketSpec::default());
    next_number_is(&mut conn, team, 120);
    ticket(&mut conn, TicketSpec::default());

    // globex: everything matches, nothing may be found.
    let stranger = fixtures::insert_ticket(
        &mut conn,
        other,
        &TicketSpec {
            anonymous_traits: json!({ "name": "Zoë Ålander", "email": "zoe@example.com" }),
            email_subject: Some("Invoice 50% discount".into()),
            ..TicketSpec::default()
        },
    );
    for content in ["école", "snake_case", "nothing to see", r"C:\temp", "grace"] {
        fixtures::message(
            &mut conn,
            other,
            stranger,
            &MessageSpec {
                content: content.into(),
                ..MessageSpec::default()
            },
        );
    }
    next_number_is(&mut conn, other, 12);
    fixtures::insert_ticket(&mut conn, other, &TicketSpec::default());

    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let everything = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 120];
    let search = |text: &str| json!({ "search": text });

    let cases: Vec<(Value, Vec<i64>)> = vec![
        // digits: the ticket with exactly that number
        (search("12"), vec![12]),
        (search("1"), vec![1]),
        (search("120"), vec![120]),
        (search("  12 "), vec![12]),
        (search("13"), vec![]),
        (search("0"), vec![]),
        (search("2147483647"), vec![]),
        (search("99999999999"), vec![]),
        (search("123456789012345678901234567890"), vec![]),
        // traits: name and email
        (search("Zoë"), vec![1]),
        (search("zoe@"), vec![1]),
        (search("EXAMPLE.com"), vec![1, 8]),
        (search("mixed.case@example.com"), vec![8]),
        (search("agent"), vec![11]),
        // email subject
        (search("invoice"), vec![2]),
        (search("ORDER 5"), vec![3]),
        // message content
        // several matching messages and traits: still one ticket, counted once
        (search("Snake"), vec![5, 6]),
        (search("snake_case issue"), vec![5]),
        // private notes are messages too
        (search("internal:"), vec![5]),
        (search("NOTHING TO see"), vec![7]),
        // deleted messages are not searched
        (search("secret"), vec![]),
        // %, _ and \ are literal
        (search("50%"), vec![2]),
        (search("%"), vec![2]),
        (search("0%"), vec![2]),
        (search("500 UNITS"), vec![3]),
        // digits only: a ticket number, never text
        (search("500"), vec![]),
        (search("snake_case"), vec![5]),
        (search("_"), vec![5]),
        (search(r"C:\temp"), vec![9]),
        (search(r"\"), vec![9]),
        (search("C:temp"), vec![10]),
        // whitespace only, or empty: no filter at all
        (search("   "), everything.clone()),
        (search(""), everything.clone()),
        (search("\t\n"), everything.clone()),
        (search("no such text anywhere"), vec![]),
    ];
    check_all(&client, &cases).await;

    // Non-ASCII case folding (the test cluster runs with the C.UTF-8 locale).
    let folding: Vec<(Value, Vec<i64>)> = vec![
        (search("école"), vec![4]),
        (search("ÉCOLE"), vec![4]),
        (search("L'ÉCOLE"), vec![4]),
        (search("ZOË"), vec![1]),
        (search("ålander"), vec![1]),
        // accents are not folded away
        (search("ecole"), vec![]),
    ];
    check_all(&client, &folding).await;

    // The other team's ticket never shows, whatever matched it.
    let data = client
        .data(
            TICKETS,
            json!({ "filter": search("o"), "orderBy": by_number(), "first": 500 }),
        )
        .await;
    assert_eq!(numbers(&data), vec![1, 2, 3, 4, 7, 8, 9]);
    assert_eq!(data["tickets"]["totalCount"], 7);
    assert_eq!(matching(&client, &search("grace")).await, Vec::<i64>::new());
}

/// Seven tickets with ties on every key and nulls on SLA and snooze.
///
/// | # | created | updated | sla | snoozed |
/// | 1 | +2h     | +30m    | +1d | -       |
/// | 2 | +1h     | +10m    | -   | +3d     |
/// | 3 | +1h     | +30m    | +0d | +1d     |
/// | 4 | +3h     | +20m    | +1d | -       |
/// | 5 | +2h     | +10m    | -   | +3d     |
/// | 6 | +0h     | +40m    | +2d | +1d     |
/// | 7 | +1h     | +40m    | -   | -       |
fn ordering_dataset(conn: &mut PgConnection) -> Uuid {
    let team = fixtures::team(conn, "acme");
    let rows: [(i64, i64, Option<i64>, Option<i64>); 7] = [
        (2, 30, Some(1), None),
        (1, 10, None, Some(3)),
        (1, 30, Some(0), Some(1)),
        (3, 20, Some(1), None),
        (2, 10, None, Some(3)),
        (0, 40, Some(2), Some(1)),
        (1, 40, None, None),
    ];
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|&(created, updated, sla, snoozed)| {
            fixtures::insert_ticket(
                conn,
                team,
                &TicketSpec {
                    created_at: hours(created),
                    updated_at: minutes(updated),
                    sla_due_at: sla.map(days),
                    snoozed_until: snoozed.map(days),
                    ..TicketSpec::default()
                },
            )
        })
        .collect();
    assert_ids_ascend(&ids);
    // Another team's tickets never show up in any order.
    let other = fixtures::team(conn, "globex");
    fixtures::tickets(conn, other, 3);
    team
}

#[tokio::test]
async fn every_order_gives_its_exact_sequence_and_pages_walk_it_both_ways() {
    let db = test_db();
    let team = ordering_dataset(&mut db.conn());
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let key = |field: &str, direction: &str| json!({ "field": field, "direction": direction });

    let cases: Vec<(Value, Vec<i64>)> = vec![
        // the default: newest update first, ties by id descending
        (Value::Null, vec![7, 6, 3, 1, 4, 5, 2]),
        (json!([]), vec![7, 6, 3, 1, 4, 5, 2]),
        // the default direction is DESC
        (
            json!([{ "field": "CREATED_AT" }]),
            vec![4, 5, 1, 7, 3, 2, 6],
        ),
        (json!([key("UPDATED_AT", "ASC")]), vec![2, 5, 4, 1, 3, 6, 7]),
        (
            json!([key("UPDATED_AT", "DESC")]),
            vec![7, 6, 3, 1, 4, 5, 2],
        ),
        (json!([key("CREATED_AT", "ASC")]), vec![6, 2, 3, 7, 1, 5, 4]),
        (
            json!([key("CREATED_AT", "DESC")]),
            vec![4, 5, 1, 7, 3, 2, 6],
        ),
        (
            json!([key("TICKET_NUMBER", "ASC")]),
            vec![1, 2, 3, 4, 5, 6, 7],
        ),
        (
            json!([key("TICKET_NUMBER", "DESC")]),
            vec![7, 6, 5, 4, 3, 2, 1],
        ),
        // no deadline: last in both directions
        (json!([key("SLA_DUE_AT", "ASC")]), vec![3, 1, 4, 6, 2, 5, 7]),
        (
            json!([key("SLA_DUE_AT", "DESC")]),
            vec![6, 4, 1, 3, 7, 5, 2],
        ),
        // not snoozed: last in both directions
        (
            json!([key("SNOOZED_UNTIL", "ASC")]),
            vec![3, 6, 2, 5, 1, 4, 7],
        ),
        (
            json!([key("SNOOZED_UNTIL", "DESC")]),
            vec![5, 2, 6, 3, 7, 4, 1],
        ),
        // several keys; ties broken by id in the last key's direction
        (
            json!([key("SLA_DUE_AT", "ASC"), key("UPDATED_AT", "DESC")]),
            vec![3, 1, 4, 6, 7, 5, 2],
        ),
        (
            json!([key("CREATED_AT", "ASC"), key("TICKET_NUMBER", "DESC")]),
            vec![6, 7, 3, 2, 5, 1, 4],
        ),
        (
            json!([key("SNOOZED_UNTIL", "DESC"), key("CREATED_AT", "ASC")]),
            vec![2, 5, 6, 3, 7, 1, 4],
        ),
        (
            json!([
                key("UPDATED_AT", "ASC"),
                key("SNOOZED_UNTIL", "ASC"),
                key("SLA_DUE_AT", "DESC"),
            ]),
            vec![5, 2, 4, 3, 1, 6, 7],
        ),
    ];
    let all = Value::Null;
    for (order, expected) in &cases {
        assert_eq!(&ordered(&client, &all, order).await, expected, "{order}");
        for size in [2, 3] {
            assert_eq!(
                &walk_forward(&client, &all, order, size).await,
                expected,
                "forward by {size}: {order}"
            );
            assert_eq!(
                &walk_backward(&client, &all, order, size).await,
                expected,
                "backward by {size}: {order}"
            );
        }
    }
}

#[tokio::test]
async fn a_page_boundary_inside_a_null_group_neither_repeats_nor_skips() {
    // Many tickets without an SLA or snooze: their whole group is seeked through cursors
    // that hold null, in both directions.
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let ids: Vec<Uuid> = (0..9_i64)
        .map(|i| {
            fixtures::insert_ticket(
                &mut conn,
                team,
                &TicketSpec {
                    sla_due_at: (i % 3 == 0).then(|| days(i)),
                    snoozed_until: (i % 4 == 1).then(|| days(10 - i)),
                    updated_at: minutes(i % 2),
                    ..TicketSpec::default()
                },
            )
        })
        .collect();
    assert_ids_ascend(&ids);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let key = |field: &str, direction: &str| json!({ "field": field, "direction": direction });
    // sla: #1 +0d, #4 +3d, #7 +6d; snoozed: #2 +9d, #6 +5d; updated: even numbers +1m.
    let cases: Vec<(Value, Vec<i64>)> = vec![
        (
            json!([key("SLA_DUE_AT", "ASC")]),
            vec![1, 4, 7, 2, 3, 5, 6, 8, 9],
        ),
        (
            json!([key("SLA_DUE_AT", "DESC")]),
            vec![7, 4, 1, 9, 8, 6, 5, 3, 2],
        ),
        (
            json!([key("SNOOZED_UNTIL", "ASC")]),
            vec![6, 2, 1, 3, 4, 5, 7, 8, 9],
        ),
        (
            json!([key("SNOOZED_UNTIL", "DESC")]),
            vec![2, 6, 9, 8, 7, 5, 4, 3, 1],
        ),
        (
            json!([key("SLA_DUE_AT", "DESC"), key("UPDATED_AT", "ASC")]),
            vec![7, 4, 1, 3, 5, 9, 2, 6, 8],
        ),
        (
            json!([key("SNOOZED_UNTIL", "ASC"), key("UPDATED_AT", "DESC")]),
            vec![6, 2, 8, 4, 9, 7, 5, 3, 1],
        ),
    ];
    let all = Value::Null;
    for (order, expected) in &cases {
        assert_eq!(&ordered(&client, &all, order).await, expected, "{order}");
        for size in [1, 2, 4] {
            assert_eq!(
                &walk_forward(&client, &all, order, size).await,
                expected,
                "forward by {size}: {order}"
            );
            assert_eq!(
                &walk_backward(&client, &all, order, size).await,
                expected,
                "backward by {size}: {order}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_filters_and_orders_are_refused_before_any_query() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    // Unknown enum values and broken oneOf inputs fail async-graphql's validation, written
    // in the document or passed in variables alike.
    for (query, argument) in [
        (
            "{ tickets(filter: { status: [CLOSED] }) { totalCount } }",
            "filter.status.0",
        ),
        (
            "{ tickets(orderBy: [{ field: PRIORITY }]) { totalCount } }",
            "orderBy.0.field",
        ),
        (
            r#"{ tickets(filter: { assignee: { unassigned: true,
                 userId: "0195e7a0-0000-7000-8000-000000000000" } }) { totalCount } }"#,
            "filter.assignee",
        ),
    ] {
        refused_by_validation(&client, query, json!({}), argument).await;
    }
    for (variables, argument) in [
        (
            json!({ "filter": { "status": ["CLOSED"] } }),
            "filter.status.0",
        ),
        (
            json!({ "filter": { "priority": ["LOW", "URGENT"] } }),
            "filter.priority.1",
        ),
        (json!({ "filter": { "sla": "LATE" } }), "filter.sla"),
        (
            json!({ "orderBy": [{ "field": "PRIORITY" }] }),
            "orderBy.0.field",
        ),
        (
            json!({ "orderBy": [{ "field": "UPDATED_AT", "direction": null }] }),
            "orderBy.0.direction",
        ),
        (
            json!({ "filter": { "assignee": { "unassigned": true, "userId": Uuid::nil() } } }),
            "filter.assignee",
        ),
        (json!({ "filter": { "assignee": {} } }), "filter.assignee"),
        (
            json!({ "filter": { "assignee": { "userId": null } } }),
            "filter.assignee",
        ),
    ] {
        refused_by_validation(&client, TICKETS, variables, argument).await;
    }

    // Scalars that do not parse (date-times, UUIDs) in variables: BAD_USER_INPUT from the
    // field, without `extensions.field`; the message says which type failed.
    for (variables, scalar) in [
        (
            json!({ "filter": { "updatedAt": { "from": "yesterday" } } }),
            "DateTime",
        ),
        (
            json!({ "filter": { "createdAt": { "to": "2026-13-01T00:00:00Z" } } }),
            "DateTime",
        ),
        (
            json!({ "filter": { "updatedAt": { "from": "2026-01-01T12:00:00" } } }),
            "DateTime",
        ),
        (
            json!({ "filter": { "assignee": { "userId": "not-a-uuid" } } }),
            "UUID",
        ),
    ] {
        let body = refused(&client, TICKETS, &variables).await;
        let message = body["errors"][0]["message"].as_str().unwrap().to_string();
        assert!(
            message.starts_with(&format!("filter: Failed to parse \"{scalar}\"")),
            "{variables}: {body}"
        );
        refused_as_bad_input(&client, TICKETS, variables, json!("filter")).await;
    }
}

#[tokio::test]
async fn limits_duplicates_and_foreign_cursors_are_refused_naming_the_argument() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let key = |field: &str, direction: &str| json!({ "field": field, "direction": direction });

    // Limits and contradictions checked by the server, which names the field.
    let ids = |n: usize| (0..n).map(|i| format!("id-{i}")).collect::<Vec<_>>();
    let tags = |n: usize| (0..n).map(|i| format!("tag-{i}")).collect::<Vec<_>>();
    let named = [
        (
            json!({ "filter": { "distinctIds": ids(101) } }),
            "filter.distinctIds",
        ),
        (
            json!({ "filter": { "search": "é".repeat(201) } }),
            "filter.search",
        ),
        (
            json!({ "filter": { "search": "a".repeat(201) } }),
            "filter.search",
        ),
        (json!({ "filter": { "tags": tags(101) } }), "filter.tags"),
        (
            json!({ "filter": { "updatedAt": { "from": at(hours(2)), "to": at(hours(1)) } } }),
            "filter.updatedAt",
        ),
        (
            json!({ "filter": { "createdAt": { "from": at(hours(2)), "to": at(hours(1)) } } }),
            "filter.createdAt",
        ),
        (
            json!({ "orderBy": [key("UPDATED_AT", "ASC"), key("UPDATED_AT", "DESC")] }),
            "orderBy",
        ),
        (
            json!({ "orderBy": [
                key("UPDATED_AT", "ASC"),
                key("CREATED_AT", "ASC"),
                key("SLA_DUE_AT", "ASC"),
                key("TICKET_NUMBER", "ASC"),
            ] }),
            "orderBy",
        ),
    ];
    for (variables, field) in named {
        refused_as_bad_input(&client, TICKETS, variables, json!(field)).await;
    }

    // Right at the limits: accepted.
    for filter in [
        json!({ "distinctIds": ids(100) }),
        json!({ "search": "é".repeat(200) }),
        json!({ "tags": tags(100) }),
        json!({ "updatedAt": { "from": at(hours(1)), "to": at(hours(1)) } }),
    ] {
        assert_eq!(
            matching(&client, &filter).await,
            Vec::<i64>::new(),
            "{filter}"
        );
    }
    let three = json!([
        key("UPDATED_AT", "ASC"),
        key("CREATED_AT", "ASC"),
        key("SLA_DUE_AT", "ASC"),
    ]);
    assert_eq!(ordered(&client, &Value::Null, &three).await.len(), 3);

    // A cursor belongs to the filter and order it came from.
    let open = json!({ "status": ["OPEN"] });
    let asc = json!([key("UPDATED_AT", "ASC")]);
    let desc = json!([key("UPDATED_AT", "DESC")]);
    let first_page = client
        .data(
            TICKETS,
            json!({ "filter": open, "orderBy": asc, "first": 1 }),
        )
        .await;
    let end = first_page["tickets"]["pageInfo"]["endCursor"].clone();
    let start = first_page["tickets"]["pageInfo"]["startCursor"].clone();
    assert!(end.is_string());
    // with its own query it works
    let next = client
        .data(
            TICKETS,
            json!({ "filter": open, "orderBy": asc, "first": 1, "after": end }),
        )
        .await;
    assert_eq!(numbers(&next).len(), 1);
    let foreign = [
        (
            json!({ "filter": { "status": ["NEW"] }, "orderBy": asc, "first": 1, "after": end }),
            "after",
        ),
        (json!({ "orderBy": asc, "first": 1, "after": end }), "after"),
        (
            json!({ "filter": open, "orderBy": desc, "first": 1, "after": end }),
            "after",
        ),
        (json!({ "filter": open, "first": 1, "after": end }), "after"),
        (
            json!({ "filter": open, "orderBy": desc, "last": 1, "before": start }),
            "before",
        ),
        (
            json!({ "filter": { "status": ["OPEN"], "search": "x" }, "orderBy": asc,
                    "last": 1, "before": start }),
            "before",
        ),
    ];
    // and cannot be edited by hand
    let mut forged = end.as_str().unwrap().to_string().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let foreign = foreign.into_iter().chain([(
        json!({ "filter": open, "orderBy": asc, "first": 1, "after": forged }),
        "after",
    )]);
    for (variables, field) in foreign {
        refused_as_bad_input(&client, TICKETS, variables, json!(field)).await;
    }
}

/// Values PostgreSQL cannot take (a NUL character in text, a date before 4713 BC) must be
/// refused as the client's fault, or match nothing, never answered as an INTERNAL error.
#[tokio::test]
async fn values_postgres_cannot_store_are_not_internal_errors() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    for filter in [
        json!({ "search": "a\u{0}b" }),
        json!({ "distinctIds": ["visitor-1\u{0}"] }),
        json!({ "tags": ["vip\u{0}"] }),
        json!({ "updatedAt": { "from": "-4800-01-01T00:00:00Z" } }),
    ] {
        let (status, body) = client
            .post(TICKETS, json!({ "filter": filter, "first": 10 }))
            .await;
        assert_eq!(status, 200, "{filter}: {body}");
        match body.get("errors") {
            None => assert_eq!(body["data"]["tickets"]["totalCount"], 0, "{filter}"),
            Some(errors) => {
                assert_eq!(
                    errors[0]["extensions"]["code"], "BAD_USER_INPUT",
                    "{filter}: {body}"
                );
                assert!(errors[0]["extensions"]["field"].is_string(), "{body}");
            }
        }
    }
}

/// The tickets of `team` a text search must find, in `order`, computed in SQL the plain
/// way (every match, then sorted).
fn expected_search(conn: &mut PgConnection, team: Uuid, text: &str, order: &str) -> Vec<String> {
    plain_search(conn, team, None, text, order)
        .into_iter()
        .map(|row| row.id.to_string())
        .collect()
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    ticket_number: i32,
}

/// Every match of a text search for `team`, or with `customer` for that customer (their
/// tickets; private notes not searched), in `order`, the plain way.
fn plain_search(
    conn: &mut PgConnection,
    team: Uuid,
    customer: Option<&str>,
    text: &str,
    order: &str,
) -> Vec<Found> {
    use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
    let pattern = ticketgate::tickets::search::like_pattern(text);
    diesel::sql_query(format!(
        "SELECT t.id, t.ticket_number FROM tickets t WHERE t.team_id = $1 \
           AND ($3::text IS NULL OR t.distinct_id = $3) AND ( \
           (t.anonymous_traits ->> 'name') ILIKE $2 OR (t.anonymous_traits ->> 'email') ILIKE $2 \
           OR t.email_subject ILIKE $2 OR EXISTS (SELECT 1 FROM messages m \
             WHERE m.ticket_id = t.id AND NOT m.deleted AND m.content ILIKE $2 \
               AND ($3::text IS NULL OR NOT m.is_private))) \
         ORDER BY {order}"
    ))
    .bind::<SqlUuid, _>(team)
    .bind::<Text, _>(pattern)
    .bind::<Nullable<Text>, _>(customer)
    .load::<Found>(conn)
    .unwrap()
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[tokio::test]
async fn search_pages_are_exact_beyond_the_newest_window() {
    // More tickets than the window a small page tests first (1,000): common words fill
    // pages from the window, rare ones fall back to the trigram indexes, and pages after
    // a cursor start a new window there.
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 2_500);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let query = "query($q: String, $after: String, $order: [TicketOrder!]) { \
        tickets(first: 7, after: $after, filter: { search: $q }, orderBy: $order) { \
          nodes { id } pageInfo { hasNextPage endCursor } } }";
    let orders = [
        (json!(null), "t.updated_at DESC, t.id DESC"),
        (
            json!([{ "field": "TICKET_NUMBER", "direction": "ASC" }]),
            "t.ticket_number ASC",
        ),
    ];
    // A customer's full name: a few tickets only.
    let name: String = diesel::sql_query(
        "SELECT anonymous_traits ->> 'name' AS name FROM tickets \
         WHERE anonymous_traits ? 'name' ORDER BY ticket_number LIMIT 1",
    )
    .get_result::<Name>(&mut db.conn())
    .unwrap()
    .name;
    // A word in one message of every 400th ticket by number: matches far apart in every
    // order, so windows after a cursor come up short and the trigram indexes answer.
    {
        use ticketgate::db::schema::tickets;
        let mut conn = db.conn();
        let spread: Vec<Uuid> = tickets::table
            .filter(tickets::team_id.eq(team))
            .filter(tickets::ticket_number.eq_any((0..7).map(|i| 1 + i * 400)))
            .select(tickets::id)
            .load(&mut conn)
            .unwrap();
        for ticket in spread {
            let spec = MessageSpec {
                content: "a zebracorn sighting".into(),
                ..MessageSpec::default()
            };
            fixtures::message(&mut conn, team, ticket, &spec);
        }
    }
    let mut seen_counts = Vec::new();
    let words = [
        "webhook",
        "WEBHOOK deliveries",
        &name,
        "Zebracorn",
        "zq-none",
        "a",
    ];
    for text in words {
        for (order, sql_order) in &orders {
            let expected = expected_search(&mut db.conn(), team, text, sql_order);
            let mut found = Vec::new();
            let mut after = Value::Null;
            loop {
                let data = client
                    .data(query, json!({ "q": text, "after": after, "order": order }))
                    .await;
                let page = &data["tickets"];
                found.extend(
                    page["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n["id"].as_str().unwrap().to_string()),
                );
                if page["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
            assert_eq!(found, expected, "search {text:?} by {sql_order}");
            seen_counts.push(expected.len());
        }
    }
    // The words chosen cover a rare match, none, and many.
    assert!(seen_counts.contains(&0), "{seen_counts:?}");
    assert!(
        seen_counts.iter().any(|&n| (1..100).contains(&n)),
        "{seen_counts:?}"
    );
    assert!(seen_counts.iter().any(|&n| n > 1_000), "{seen_counts:?}");
}

/// Where each ticket of [`long_conversations`] sits, newest first.
const LAYOUT: usize = 40;
const LONG_A: usize = 6;
const LONG_B: usize = 17;
const LONG_C: usize = 23;

/// 40 tickets of `team`, newest first by position (numbered in another order), three of
/// them (`LONG_A`, `LONG_B`, `LONG_C`) with `long` messages each; returns the numbers by
/// position. What each says:
/// - ordinary tickets: "hello"; even positions "a refund request"; 9 a deleted "shredded
///   document"; 13 only a private note about the refund; 30 "zebracorn sighting";
/// - A: "refund please" in the middle of its conversation, a deleted "shredded" message;
/// - B: the refund in a private note only;
/// - C: the refund in a deleted message only, "zebracorn" in the middle, a private note
///   "ledger check".
///
/// The long tickets and every third position belong to the customer `chatty`; SLA
/// deadlines repeat, and every fourth ticket has none.
fn long_conversations(conn: &mut PgConnection, team: Uuid, long: i32) -> Vec<i64> {
    let mut numbers = vec![0; LAYOUT];
    // Position p is inserted at step s = p·11⁻¹ (mod 40): numbers do not follow the order.
    for step in 0..LAYOUT {
        let position = step * 11 % LAYOUT;
        let is_long = [LONG_A, LONG_B, LONG_C].contains(&position);
        let said: Vec<(&str, bool, bool)> = match position {
            LONG_A => vec![("refund please", false, false), ("shredded", false, true)],
            LONG_B => vec![("refund approved", true, false)],
            LONG_C => vec![
                ("refund", false, true),
                ("a zebracorn, at last", false, false),
                ("ledger check", true, false),
            ],
            _ => {
                let mut said = vec![("hello", false, false)];
                if position.is_multiple_of(2) {
                    said.push(("a refund request", false, false));
                }
                match position {
                    9 => said.push(("shredded document", false, true)),
                    13 => said.push(("refund approved internally", true, false)),
                    30 => said.push(("zebracorn sighting", false, false)),
                    _ => {}
                }
                said
            }
        };
        let visible = said
            .iter()
            .filter(|(_, private, deleted)| !private && !deleted);
        let ticket = fixtures::insert_ticket(
            conn,
            team,
            &TicketSpec {
                distinct_id: match is_long || position.is_multiple_of(3) {
                    true => "chatty".into(),
                    false => format!("visitor-{position}"),
                },
                updated_at: minutes((LAYOUT - position) as i64),
                // Ties and tickets without a deadline, for the SLA order.
                sla_due_at: (!position.is_multiple_of(4)).then(|| hours((position % 5) as i64)),
                message_count: visible.count() as i32,
                ..TicketSpec::default()
            },
        );
        numbers[position] = step as i64 + 1;
        if is_long {
            fixtures::conversation(conn, team, ticket, long, base_time());
        }
        // Long tickets' own messages sit in the middle of their conversation.
        let at = base_time() + Duration::seconds(i64::from(long / 2));
        for (content, is_private, deleted) in said {
            let spec = MessageSpec {
                content: content.into(),
                is_private,
                deleted,
                author_type: if is_private { "support" } else { "customer" },
                created_at: at,
                ..MessageSpec::default()
            };
            fixtures::message(conn, team, ticket, &spec);
        }
    }
    numbers
}

#[tokio::test]
async fn search_pages_stay_exact_when_the_newest_tickets_hold_long_conversations() {
    use ticketgate::tickets::search::{message_budget_for, window_for};
    // A page of 7 reads 8 rows: its window's messages may add up to `budget`. Each long
    // ticket holds 3/5 of it, so a window ends before the second long ticket it meets,
    // and pages after a cursor start a window (and a budget) of their own.
    let budget = message_budget_for(window_for(8));
    let long = i32::try_from(budget * 3 / 5).unwrap();
    assert!(i64::from(long) <= budget && budget < 2 * i64::from(long));
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let at = long_conversations(&mut conn, team, long);
    let (a, b, c) = (at[LONG_A], at[LONG_B], at[LONG_C]);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let viewers = [
        (server.client(&key), None),
        (
            server.client(&helpers::server::customer_token(team, "chatty", 600)),
            Some("chatty"),
        ),
    ];
    let orders = [
        (json!(null), "t.updated_at DESC, t.id DESC"),
        (by_number(), "t.ticket_number ASC"),
        (
            json!([{ "field": "SLA_DUE_AT", "direction": "ASC" }]),
            "COALESCE(t.sla_due_at, 'infinity') ASC, t.id ASC",
        ),
    ];
    let deep = format!("LINE {}", long - 1);
    let words = ["refund", "zebracorn", "ledger", "shredded", &deep];
    for (client, customer) in &viewers {
        for text in words {
            let filter = json!({ "search": text });
            for (order, sql_order) in &orders {
                let expected: Vec<i64> = plain_search(&mut conn, team, *customer, text, sql_order)
                    .into_iter()
                    .map(|row| i64::from(row.ticket_number))
                    .collect();
                let case = format!("{text:?} by {sql_order} for {customer:?}");
                assert_eq!(ordered(client, &filter, order).await, expected, "{case}");
                for size in [2, 7] {
                    let walked = walk_forward(client, &filter, order, size).await;
                    assert_eq!(walked, expected, "{case}, pages of {size}");
                }
                let walked = walk_backward(client, &filter, order, 7).await;
                assert_eq!(walked, expected, "{case}, backward");
            }
        }
    }
    // What the plain answers hold, so the comparisons above compare the right thing.
    let found = |customer: Option<&str>, text: &str| -> Vec<i64> {
        let mut conn = db.conn();
        let rows = plain_search(&mut conn, team, customer, text, "t.ticket_number");
        rows.into_iter()
            .map(|row| i64::from(row.ticket_number))
            .collect()
    };
    let team_refund = found(None, "refund");
    assert!(team_refund.contains(&a) && team_refund.contains(&b));
    assert!(team_refund.contains(&at[13]) && !team_refund.contains(&c));
    let chatty_refund = found(Some("chatty"), "refund");
    assert!(chatty_refund.contains(&a) && !chatty_refund.contains(&b));
    assert!(!chatty_refund.contains(&c) && chatty_refund.len() > 4);
    let mut zebracorns = vec![c, at[30]];
    zebracorns.sort();
    assert_eq!(found(None, "zebracorn"), zebracorns);
    assert_eq!(found(Some("chatty"), "zebracorn"), zebracorns);
    assert_eq!(found(None, "ledger"), vec![c]);
    assert_eq!(found(Some("chatty"), "ledger"), Vec::<i64>::new());
    assert_eq!(found(None, "shredded"), Vec::<i64>::new());
    let mut longs = vec![a, b, c];
    longs.sort();
    assert_eq!(found(None, &deep), longs);
    assert_eq!(found(Some("chatty"), &deep), longs);
}
