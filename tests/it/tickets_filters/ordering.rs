//! Every order gives its exact sequence (ties broken by id, nulls last), and pages walk it
//! both ways without repeating or skipping, page boundaries inside null groups included.

use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use super::support::{
    assert_ids_ascend, days, hours, minutes, ordered, walk_backward, walk_forward,
};
use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::{self, test_db, TestServer};

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
