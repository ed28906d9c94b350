//! Bulk mutations by filter and by view: only the matching tickets change; `ids` and a
//! filter are one or the other; more than 1,000 matches is refused before anything
//! changes; a status change skips (and does not count, touch or announce) tickets already
//! in that status, and a tag change announces only the tickets whose tags changed.

use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::db::schema::tickets;
use uuid::Uuid;

use super::{create_view, refusal, ticket_ids};
use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::{self, test_db, TestServer};

const CHANGE: &str = "mutation($ids: [UUID!], $filter: TicketFilter, $view: UUID, $s: TicketStatus!) { \
    bulkChangeStatus(ids: $ids, filter: $filter, view: $view, status: $s) { matched changed tickets { id status } } }";
const TAGS: &str = "mutation($ids: [UUID!], $filter: TicketFilter, $view: UUID) { \
    bulkUpdateTags(ids: $ids, filter: $filter, view: $view, action: ADD, tags: [\"triaged\"]) { id tags } }";

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The outbox events recorded for these tickets.
fn events_of(conn: &mut PgConnection, ticket_ids: &[Uuid]) -> i64 {
    diesel::sql_query("SELECT count(*) AS n FROM events WHERE ticket_id = ANY($1)")
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ticket_ids)
        .get_result::<Count>(conn)
        .unwrap()
        .n
}

fn spec(i: usize, status: &'static str) -> TicketSpec {
    TicketSpec {
        distinct_id: format!("visitor-{i}"),
        status,
        ..TicketSpec::default()
    }
}

#[tokio::test]
async fn a_status_change_skips_tickets_already_in_it_and_says_how_many_changed() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let statuses = ["open", "resolved", "pending", "resolved", "open"];
    let ids: Vec<Uuid> = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| fixtures::insert_ticket(&mut db.conn(), team, &spec(i, s)))
        .collect();
    let server = TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(
        &db.url,
        team,
        &[Scope::Read, Scope::Write],
    ));
    let updated_at = |conn: &mut PgConnection, id: Uuid| -> chrono::DateTime<chrono::Utc> {
        tickets::table
            .find(id)
            .select(tickets::updated_at)
            .first(conn)
            .unwrap()
    };
    let skipped_before = updated_at(&mut db.conn(), ids[1]);

    let result = client
        .data(CHANGE, json!({ "ids": ids, "s": "RESOLVED" }))
        .await["bulkChangeStatus"]
        .clone();
    assert_eq!(
        (result["matched"].clone(), result["changed"].clone()),
        (json!(5), json!(3))
    );
    let mut changed: Vec<&str> = result["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    changed.sort();
    let mut want: Vec<String> = [0, 2, 4].iter().map(|&i| ids[i].to_string()).collect();
    want.sort();
    assert_eq!(changed, want, "the changed tickets only");
    assert!(result["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "RESOLVED"));
    // Events (and a new updatedAt) for the three that changed, none for the others.
    assert_eq!(events_of(&mut db.conn(), &ids), 3);
    assert_eq!(updated_at(&mut db.conn(), ids[1]), skipped_before);

    // Again: nothing to change, nothing announced.
    let again = client
        .data(CHANGE, json!({ "ids": ids, "s": "RESOLVED" }))
        .await["bulkChangeStatus"]
        .clone();
    assert_eq!(again, json!({ "matched": 5, "changed": 0, "tickets": [] }));
    assert_eq!(events_of(&mut db.conn(), &ids), 3);

    // The older mutation skips the same way and still returns every ticket, as given.
    let old = client
        .data(
            "mutation($ids: [UUID!]!) { bulkUpdateStatus(ids: $ids, status: OPEN) { id status } }",
            json!({ "ids": [ids[4], ids[0]] }),
        )
        .await;
    assert_eq!(old["bulkUpdateStatus"][0]["id"], ids[4].to_string());
    assert_eq!(events_of(&mut db.conn(), &ids), 5);
    let old = client
        .data(
            "mutation($ids: [UUID!]!) { bulkUpdateStatus(ids: $ids, status: OPEN) { id status } }",
            json!({ "ids": [ids[4], ids[0]] }),
        )
        .await;
    assert_eq!(old["bulkUpdateStatus"].as_array().unwrap().len(), 2);
    assert_eq!(
        events_of(&mut db.conn(), &ids),
        5,
        "already OPEN: no events"
    );
}

#[tokio::test]
async fn bulk_changes_by_filter_and_by_view_touch_the_matching_tickets_only() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let other_team = fixtures::team(&mut db.conn(), "globex");
    let statuses = ["open", "pending", "pending", "resolved", "pending", "open"];
    let ids: Vec<Uuid> = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| fixtures::insert_ticket(&mut db.conn(), team, &spec(i, s)))
        .collect();
    fixtures::tag(&mut db.conn(), team, ids[1], &["vip"]);
    fixtures::tag(&mut db.conn(), team, ids[2], &["vip"]);
    let theirs = fixtures::insert_ticket(&mut db.conn(), other_team, &spec(0, "pending"));
    let server = TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(
        &db.url,
        team,
        &[Scope::Read, Scope::Write],
    ));

    // By filter: the pending tickets of the team (never another team's).
    let tagged = client
        .data(TAGS, json!({ "filter": { "status": ["PENDING"] } }))
        .await;
    let touched: Vec<&str> = tagged["bulkUpdateTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let mut pending: Vec<String> = [1, 2, 4].iter().map(|&i| ids[i].to_string()).collect();
    pending.sort();
    assert_eq!(touched, pending, "by id");
    assert_eq!(
        ticket_ids(&client, None, json!({ "tags": ["triaged"] }), Value::Null)
            .await
            .len(),
        3
    );
    assert_eq!(events_of(&mut db.conn(), &[theirs]), 0);
    // Again (by ids now): the tags are already there, so nothing is touched or announced.
    let pending_ids = [ids[1], ids[2], ids[4]];
    assert_eq!(events_of(&mut db.conn(), &pending_ids), 3);
    let again = client.data(TAGS, json!({ "ids": pending_ids })).await;
    assert_eq!(again["bulkUpdateTags"].as_array().unwrap().len(), 3);
    assert_eq!(
        events_of(&mut db.conn(), &pending_ids),
        3,
        "no change, no event"
    );

    // By view, narrowed by a filter: pending + vip, minus ids[2] by distinct id.
    let view = create_view(
        &client,
        json!({ "name": "Pending VIP", "filter": { "status": ["PENDING"], "tags": ["vip"] } }),
    )
    .await;
    let result = client
        .data(CHANGE, json!({ "view": view, "filter": { "distinctIds": ["visitor-1", "visitor-4"] }, "s": "RESOLVED" }))
        .await["bulkChangeStatus"]
        .clone();
    assert_eq!(result["matched"], 1);
    assert_eq!(result["tickets"][0]["id"], ids[1].to_string());
    let result = client
        .data(CHANGE, json!({ "view": view, "s": "RESOLVED" }))
        .await["bulkChangeStatus"]
        .clone();
    assert_eq!(
        (result["matched"].clone(), result["changed"].clone()),
        (json!(1), json!(1))
    );
    // A filter matching nothing changes nothing.
    let result = client
        .data(CHANGE, json!({ "view": view, "s": "OPEN" }))
        .await["bulkChangeStatus"]
        .clone();
    assert_eq!(result, json!({ "matched": 0, "changed": 0, "tickets": [] }));

    // `ids` or a filter/view, exactly one kind.
    for variables in [
        json!({ "ids": [ids[0]], "filter": {}, "s": "OPEN" }),
        json!({ "ids": [ids[0]], "view": view, "s": "OPEN" }),
        json!({ "s": "OPEN" }),
    ] {
        let (code, field, _) = refusal(&client, CHANGE, variables.clone()).await;
        assert_eq!(
            (code.as_str(), field),
            ("BAD_USER_INPUT", json!("ids")),
            "{variables}"
        );
    }
    let (code, field, _) = refusal(&client, TAGS, json!({})).await;
    assert_eq!((code.as_str(), field), ("BAD_USER_INPUT", json!("ids")));
}

#[tokio::test]
async fn a_filter_matching_more_than_a_thousand_tickets_is_refused_before_anything_changes() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ids = fixtures::tickets(&mut db.conn(), team, 1001);
    let server = TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(
        &db.url,
        team,
        &[Scope::Read, Scope::Write],
    ));
    for (query, variables) in [
        (CHANGE, json!({ "filter": {}, "s": "RESOLVED" })),
        (TAGS, json!({ "filter": {} })),
    ] {
        let (code, field, message) = refusal(&client, query, variables).await;
        assert_eq!(
            (code.as_str(), field),
            ("BAD_USER_INPUT", json!("filter")),
            "{message}"
        );
        assert!(message.contains("1000"), "{message}");
    }
    assert_eq!(events_of(&mut db.conn(), &ids), 0);
    // A narrower filter goes through.
    let result = client
        .data(
            CHANGE,
            json!({ "filter": { "distinctIds": ["visitor-0"] }, "s": "RESOLVED" }),
        )
        .await;
    assert_eq!(result["bulkChangeStatus"]["changed"], 1);
}
