//! The shape of typical refusals, whole, as a client gets them (`Accept: application/json`):
//! HTTP status, `message`, `locations`, `path`, `extensions` (`code`, `field`) and whether
//! `data` is absent, null or partial. The corpus (`replay`) checks codes and statuses case
//! by case; these snapshots show what a client reads, and any change to it.

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::snapshots::response_settings;
use crate::helpers::{self, fixtures, test_db, Client, TestServer};

/// An id no ticket has (fixed, so that messages naming it stay the same).
const MISSING: &str = "0195e7a0-0000-7000-8000-000000000000";

const TICKETS: &str = "query($filter: TicketFilter, $first: Int) { \
     tickets(filter: $filter, first: $first) { totalCount nodes { ticketNumber } } }";

/// The status and the body, as one value to snapshot.
async fn answer(client: &Client, query: &str, variables: Value) -> Value {
    let (status, body) = client.post(query, variables).await;
    json!({ "status": status, "body": body })
}

#[tokio::test]
async fn typical_refusals_keep_their_shape() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 2);
    let write_key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let read_key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&write_key);
    let reader = server.client(&read_key);
    let stranger = server.client("tg_not-a-real-key");
    let many_ids: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();

    let cases: Vec<(&str, Value)> = vec![
        // Before any resolver runs: no `data` at all.
        (
            "parse_error",
            answer(&client, "{ tickets(first: 1) { totalCount }", json!({})).await,
        ),
        (
            "unknown_field",
            answer(
                &client,
                "{ tickets(first: 1) { totalCount noSuchField } }",
                json!({}),
            )
            .await,
        ),
        (
            "unknown_enum_value_in_variables",
            answer(
                &client,
                TICKETS,
                json!({ "filter": { "status": ["CLOSED"] } }),
            )
            .await,
        ),
        // From a resolver: `data` is null (the field is non-null), `path` names the field.
        (
            "unparsable_date_time_in_variables",
            answer(
                &client,
                TICKETS,
                json!({ "filter": { "updatedAt": { "from": "yesterday" } } }),
            )
            .await,
        ),
        (
            "list_over_its_limit",
            answer(
                &client,
                TICKETS,
                json!({ "filter": { "distinctIds": many_ids } }),
            )
            .await,
        ),
        (
            "page_size_beyond_the_complexity_budget",
            answer(&client, TICKETS, json!({ "first": 100_000 })).await,
        ),
        (
            "missing_ticket",
            answer(
                &client,
                "query($id: UUID) { ticket(id: $id) { id ticketNumber } }",
                json!({ "id": MISSING }),
            )
            .await,
        ),
        (
            "mutation_with_a_read_only_key",
            answer(
                &reader,
                "mutation($id: UUID!) { markTicketRead(id: $id) { id } }",
                json!({ "id": MISSING }),
            )
            .await,
        ),
        (
            "unknown_key",
            answer(&stranger, "{ tickets { totalCount } }", json!({})).await,
        ),
    ];
    let settings = response_settings();
    for (name, answer) in cases {
        settings.bind(|| insta::assert_json_snapshot!(name, answer));
    }
}
