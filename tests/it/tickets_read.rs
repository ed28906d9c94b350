//! Reading tickets: by id or number, pages, and never another team's.

use std::collections::HashSet;

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::snapshots::response_settings;
use crate::helpers::{self, fixtures, test_db, TestServer};

const PAGE: &str = r#"query($first: Int, $after: String, $last: Int, $before: String) {
  tickets(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id ticketNumber updatedAt } }
  }
}"#;

fn ids(page: &Value) -> Vec<String> {
    page["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pages_walk_every_ticket_once_in_order_both_ways() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 23);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    let all = client.data(PAGE, json!({ "first": 100 })).await;
    let expected = ids(&all);
    assert_eq!(expected.len(), 23);
    assert_eq!(all["tickets"]["totalCount"], 23);
    // Newest update first, ties by id descending.
    let keys: Vec<(String, String)> = all["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["updatedAt"].as_str().unwrap().to_string(),
                e["node"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted);

    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client
            .data(PAGE, json!({ "first": 5, "after": after }))
            .await;
        walked.extend(ids(&page));
        let info = &page["tickets"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = info["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(walked, expected);

    let mut backwards = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = client
            .data(PAGE, json!({ "last": 4, "before": before }))
            .await;
        let mut chunk = ids(&page);
        chunk.extend(backwards);
        backwards = chunk;
        let info = &page["tickets"]["pageInfo"];
        if !info["hasPreviousPage"].as_bool().unwrap() {
            break;
        }
        before = info["startCursor"].as_str().map(str::to_string);
    }
    assert_eq!(backwards, expected);
}

#[tokio::test]
async fn pages_stay_correct_while_tickets_arrive() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 10);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let first = client.data(PAGE, json!({ "first": 4 })).await;
    // New tickets sort before the cursor (newer): the next page neither repeats nor skips.
    fixtures::tickets(&mut db.conn(), team, 3);
    {
        use diesel::prelude::*;
        use ticketgate::db::schema::tickets;
        diesel::update(tickets::table.filter(tickets::ticket_number.gt(10)))
            .set(tickets::updated_at.eq(diesel::dsl::now))
            .execute(&mut db.conn())
            .unwrap();
    }
    let cursor = first["tickets"]["pageInfo"]["endCursor"].clone();
    let rest = client
        .data(PAGE, json!({ "first": 100, "after": cursor }))
        .await;
    let seen: HashSet<String> = ids(&first).into_iter().chain(ids(&rest)).collect();
    assert_eq!(ids(&first).len() + ids(&rest).len(), 10);
    assert_eq!(seen.len(), 10);
}

#[tokio::test]
async fn page_arguments_and_cursors_are_checked() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    for variables in [
        json!({ "first": -1 }),
        json!({ "first": 501 }),
        json!({ "last": -5 }),
        json!({ "first": 1, "last": 1 }),
        json!({ "after": "garbage" }),
        json!({ "after": "eyJxIjoiYSJ9" }),
    ] {
        let (status, body) = client.post(PAGE, variables.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{variables}: {body}"
        );
    }
    let default = client.data(PAGE, json!({})).await;
    assert_eq!(ids(&default).len(), 3);
    let empty = client.data(PAGE, json!({ "first": 0 })).await;
    assert_eq!(ids(&empty).len(), 0);
}

#[tokio::test]
async fn tickets_are_found_by_id_or_number_and_only_in_the_own_team() {
    let db = test_db();
    let acme = fixtures::team(&mut db.conn(), "acme");
    let globex = fixtures::team(&mut db.conn(), "globex");
    let acme_ids = fixtures::tickets(&mut db.conn(), acme, 2);
    let globex_ids = fixtures::tickets(&mut db.conn(), globex, 2);
    let key = helpers::create_key(&db.url, acme, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let by_id = "query($id: UUID) { ticket(id: $id) { id ticketNumber status channelSource channelDetail } }";
    let by_number = "query($n: Int) { ticket(number: $n) { id ticketNumber } }";

    let found = client.data(by_id, json!({ "id": acme_ids[1] })).await;
    assert_eq!(found["ticket"]["ticketNumber"], 2);
    assert_eq!(found["ticket"]["status"], "OPEN");
    assert_eq!(found["ticket"]["channelSource"], "WIDGET");
    assert_eq!(found["ticket"]["channelDetail"], "WIDGET_EMBEDDED");
    let found = client.data(by_number, json!({ "n": 1 })).await;
    assert_eq!(found["ticket"]["id"], acme_ids[0].to_string());

    // Another team's ticket is exactly like a missing one.
    let other = client.post(by_id, json!({ "id": globex_ids[0] })).await.1;
    let missing = client
        .post(by_id, json!({ "id": uuid::Uuid::now_v7() }))
        .await
        .1;
    assert_eq!(
        other["errors"][0]["extensions"],
        missing["errors"][0]["extensions"]
    );
    assert_eq!(
        other["errors"][0]["message"],
        missing["errors"][0]["message"]
    );
    assert_eq!(other["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(other["data"]["ticket"], Value::Null);
    assert_eq!(
        client.error_code(by_number, json!({ "n": 3 })).await,
        "NOT_FOUND"
    );

    let listed = client.data("{ tickets { nodes { id } } }", json!({})).await;
    let listed: Vec<&str> = listed["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(globex_ids
        .iter()
        .all(|id| !listed.contains(&id.to_string().as_str())));

    assert_eq!(
        client.error_code("{ ticket { id } }", json!({})).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        client
            .error_code(
                "{ ticket(id: \"0195e7a0-0000-7000-8000-000000000000\", number: 1) { id } }",
                json!({})
            )
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        client
            .error_code(by_id, json!({ "id": "not-a-uuid" }))
            .await,
        "BAD_USER_INPUT"
    );
    // The error names the argument, for variables and literals alike.
    let (_, body) = client.post(by_id, json!({ "id": "not-a-uuid" })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "id", "{body}");
    let (_, body) = client
        .post("{ ticket(id: \"nope\") { id } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "id", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("id: "), "{body}");
}

/// Enum columns are typed end to end: a value the code does not know (a migration
/// missed, a hand edit) fails where the row is read, as a coded internal error naming
/// no internals, and the server carries on serving the good rows.
#[tokio::test]
async fn an_unknown_stored_enum_value_is_a_coded_error_not_a_panic() {
    use diesel::RunQueryDsl;
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ids = fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let mut conn = db.conn();
    for (column, bad) in [
        ("status", "archived"),
        ("priority", "urgent"),
        ("channel_source", "fax"),
        ("channel_detail", "fax_cover_sheet"),
    ] {
        diesel::sql_query(format!(
            "ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_{column}_check"
        ))
        .execute(&mut conn)
        .expect("drop check");
        diesel::sql_query(format!("UPDATE tickets SET {column} = $1 WHERE id = $2"))
            .bind::<diesel::sql_types::Text, _>(bad)
            .bind::<diesel::sql_types::Uuid, _>(ids[0])
            .execute(&mut conn)
            .expect("store an unknown value");
        let field = match column {
            "status" => "status",
            "priority" => "priority",
            "channel_source" => "channelSource",
            _ => "channelDetail",
        };
        let by_id = format!("query($id: UUID!) {{ ticket(id: $id) {{ id {field} }} }}");
        let (status, body) = client.post(&by_id, json!({ "id": ids[0] })).await;
        assert_eq!(status, 200, "{column}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "INTERNAL",
            "{column}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains(bad),
            "{column}: no stored value in the message: {body}"
        );
        // Put it back: the other tickets and this one read again.
        diesel::sql_query(format!(
            "UPDATE tickets SET {column} = (SELECT {column} FROM tickets WHERE id = $1) WHERE id = $2"
        ))
        .bind::<diesel::sql_types::Uuid, _>(ids[1])
        .bind::<diesel::sql_types::Uuid, _>(ids[0])
        .execute(&mut conn)
        .expect("restore");
        let page = client
            .data(
                &format!("{{ tickets(first: 10) {{ nodes {{ id {field} }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(page["tickets"]["nodes"].as_array().map(Vec::len), Some(3));
    }
    diesel::sql_query("ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_author_type_check")
        .execute(&mut conn)
        .expect("drop check");
    let spec = fixtures::MessageSpec {
        author_type: "robot",
        ..Default::default()
    };
    fixtures::message(&mut conn, team, ids[2], &spec);
    let query =
        "query($id: UUID!) { ticket(id: $id) { id messages(first: 5) { nodes { authorType } } } }";
    let (status, body) = client.post(query, json!({ "id": ids[2] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL",
        "{body}"
    );
    assert_eq!(body["data"]["ticket"]["id"], ids[2].to_string(), "{body}");
}

/// A first page and the one after it, whole: edges, cursors, `pageInfo` on both sides,
/// `totalCount` of the whole result (ids, cursors and times redacted, their form checked).
#[tokio::test]
async fn a_page_and_the_next_keep_their_shape() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    // Newest first: 5, 4, then 3 and 2 (same `updatedAt`, by id descending), then 1.
    fixtures::tickets(&mut db.conn(), team, 5);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let first_page = client.data(PAGE, json!({ "first": 2 })).await;
    let after = first_page["tickets"]["pageInfo"]["endCursor"].clone();
    let second_page = client
        .data(PAGE, json!({ "first": 2, "after": after }))
        .await;
    let pages = json!({ "first_page": first_page, "second_page": second_page });
    response_settings().bind(|| insta::assert_json_snapshot!(pages));
}

/// A page that selects no `edges { cursor }` still gives `pageInfo` its cursors (the only
/// ones it encodes), the same as a page that selects every cursor; walking by them, both
/// ways, visits every ticket once. A cursor selected through a fragment is encoded.
#[tokio::test]
async fn pages_without_edge_cursors_walk_by_their_page_info() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let tickets = fixtures::tickets(&mut db.conn(), team, 17);
    let mut conn = db.conn();
    for k in 0..4 {
        let spec = fixtures::MessageSpec {
            content: format!("message {k}"),
            created_at: fixtures::base_time() + chrono::Duration::seconds(k),
            ..Default::default()
        };
        fixtures::message(&mut conn, team, tickets[0], &spec);
    }
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let nodes_only = "query($first: Int, $after: String, $last: Int, $before: String) { \
        tickets(first: $first, after: $after, last: $last, before: $before) { \
        nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    for (size, direction) in [(5, "forward"), (4, "backward"), (1, "forward")] {
        let mut walked: Vec<String> = Vec::new();
        let mut from: Option<Value> = None;
        loop {
            let variables = match direction {
                "forward" => json!({ "first": size, "after": from }),
                _ => json!({ "last": size, "before": from }),
            };
            let lean = client.data(nodes_only, variables.clone()).await;
            let full = client.data(PAGE, variables).await;
            let (lean, full) = (&lean["tickets"], &full["tickets"]);
            assert_eq!(lean["pageInfo"], full["pageInfo"], "{direction} by {size}");
            let edges = full["edges"].as_array().unwrap();
            assert!(edges
                .iter()
                .all(|e| !e["cursor"].as_str().unwrap().is_empty()));
            let mut page: Vec<String> = lean["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_string())
                .collect();
            if direction == "backward" {
                page.reverse();
            }
            walked.extend(page);
            let (more, next) = match direction {
                "forward" => ("hasNextPage", "endCursor"),
                _ => ("hasPreviousPage", "startCursor"),
            };
            if lean["pageInfo"][more] != json!(true) {
                break;
            }
            from = Some(lean["pageInfo"][next].clone());
        }
        let unique: HashSet<&String> = walked.iter().collect();
        assert_eq!(
            (walked.len(), unique.len()),
            (17, 17),
            "{direction} by {size}"
        );
    }

    // A ticket's messages alike, and a cursor asked through a fragment.
    let id = tickets[0].to_string();
    let lean = client
        .data(
            "query($id: UUID!) { ticket(id: $id) { messages(first: 3) { nodes { id } \
             pageInfo { startCursor endCursor } } } }",
            json!({ "id": id }),
        )
        .await;
    let full = client
        .data(
            "query($id: UUID!) { ticket(id: $id) { messages(first: 3) { edges { ...C } \
             pageInfo { startCursor endCursor } } } } \
             fragment C on MessageEdge { cursor node { id } }",
            json!({ "id": id }),
        )
        .await;
    let (lean, full) = (&lean["ticket"]["messages"], &full["ticket"]["messages"]);
    assert_eq!(lean["pageInfo"], full["pageInfo"]);
    let edges = full["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    assert!(edges
        .iter()
        .all(|e| !e["cursor"].as_str().unwrap().is_empty()));
    assert_eq!(full["pageInfo"]["endCursor"], edges[2]["cursor"]);
}
