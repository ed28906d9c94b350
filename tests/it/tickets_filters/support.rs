//! What the filter tests share: the `tickets` document, times relative to the fixtures'
//! base time, and helpers that list, order and walk pages, checking `totalCount` and
//! `pageInfo` on the way.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::db::schema::teams;
use uuid::Uuid;

use crate::helpers::fixtures::base_time;
use crate::helpers::Client;

pub(super) const TICKETS: &str = r#"query($filter: TicketFilter, $orderBy: [TicketOrder!], $first: Int,
      $after: String, $last: Int, $before: String) {
  tickets(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last,
          before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { ticketNumber distinctId } }
  }
}"#;

/// A time as the API takes it, to the microsecond.
pub(super) fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn minutes(n: i64) -> DateTime<Utc> {
    base_time() + Duration::minutes(n)
}

pub(super) fn hours(n: i64) -> DateTime<Utc> {
    base_time() + Duration::hours(n)
}

pub(super) fn days(n: i64) -> DateTime<Utc> {
    base_time() + Duration::days(n)
}

pub(super) fn numbers(data: &Value) -> Vec<i64> {
    data["tickets"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {data}"))
        .iter()
        .map(|e| e["node"]["ticketNumber"].as_i64().unwrap())
        .collect()
}

pub(super) fn by_number() -> Value {
    json!([{ "field": "TICKET_NUMBER", "direction": "ASC" }])
}

/// Every ticket matching `filter`, by ascending number; `totalCount` must agree.
pub(super) async fn matching(client: &Client, filter: &Value) -> Vec<i64> {
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

pub(super) async fn check_all(client: &Client, cases: &[(Value, Vec<i64>)]) {
    for (filter, expected) in cases {
        assert_eq!(&matching(client, filter).await, expected, "filter {filter}");
    }
}

/// The whole sequence for `order` in one page; `totalCount` must agree.
pub(super) async fn ordered(client: &Client, filter: &Value, order: &Value) -> Vec<i64> {
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
pub(super) async fn walk_forward(
    client: &Client,
    filter: &Value,
    order: &Value,
    size: i64,
) -> Vec<i64> {
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
pub(super) async fn walk_backward(
    client: &Client,
    filter: &Value,
    order: &Value,
    size: i64,
) -> Vec<i64> {
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
pub(super) fn assert_ids_ascend(ids: &[Uuid]) {
    let mut sorted = ids.to_vec();
    sorted.sort();
    assert_eq!(sorted, ids, "ids must ascend in insertion order");
}

/// Makes the team's next ticket number `next`.
pub(super) fn next_number_is(conn: &mut PgConnection, team: Uuid, next: i32) {
    diesel::update(teams::table.find(team))
        .set(teams::last_ticket_number.eq(next - 1))
        .execute(conn)
        .expect("ticket counter");
}
