//! What the `tickets` query refuses, and how: malformed filters and orders (validation,
//! no `data`), limits, contradictions and foreign or forged cursors (BAD_USER_INPUT naming
//! the argument), and values PostgreSQL cannot store (never INTERNAL).

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use super::support::{at, hours, matching, numbers, ordered, TICKETS};
use crate::helpers::fixtures;
use crate::helpers::{self, test_db, Client, TestServer};

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
