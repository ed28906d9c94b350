//! Views round-trip and apply exactly as the same filter sent inline; an explicit filter
//! narrows a view; private views stay their owner's; unknown, other teams' and other
//! users' views are NOT_FOUND alike; a view naming a deleted tag still works.

use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::db::schema::tags;
use uuid::Uuid;

use super::{counts, create_view, refusal, ticket_ids, CREATE};
use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::server::customer_token;
use crate::helpers::ws::{self, next_payload, send};
use crate::helpers::{self, test_db, Client, TestServer};

/// Twelve tickets over statuses, priorities and tags.
fn world(conn: &mut PgConnection, team: Uuid) -> Vec<Uuid> {
    let statuses = ["open", "pending", "resolved"];
    let priorities = [None, Some("high"), Some("low")];
    (0..12)
        .map(|i| {
            let id = fixtures::insert_ticket(
                conn,
                team,
                &TicketSpec {
                    distinct_id: format!("visitor-{i}"),
                    status: statuses[i % 3],
                    priority: priorities[(i / 3) % 3],
                    updated_at: fixtures::base_time() + chrono::Duration::minutes(i as i64),
                    ..TicketSpec::default()
                },
            );
            let names: &[&str] = match i % 4 {
                0 => &["vip", "billing"],
                1 => &["vip"],
                2 => &["spam"],
                _ => &[],
            };
            fixtures::tag(conn, team, id, names);
            id
        })
        .collect()
}

const VIEWS: &str = "{ views { id name shared owner { id } filter orderBy } }";

#[tokio::test]
async fn a_view_round_trips_and_applies_as_its_filter_inline() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    world(&mut db.conn(), team);
    let server = TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(
        &db.url,
        team,
        &[Scope::Read, Scope::Write],
    ));

    let filter =
        json!({ "status": ["OPEN", "PENDING"], "tags": ["vip", "spam"], "tagsNone": ["billing"] });
    let order = json!([{ "field": "TICKET_NUMBER", "direction": "ASC" }]);
    let created = client
        .data(
            CREATE,
            json!({ "input": { "name": "Hot", "filter": filter, "orderBy": order } }),
        )
        .await["createView"]
        .clone();
    assert_eq!(created["name"], "Hot");
    assert_eq!(created["shared"], true);
    assert_eq!(created["owner"], Value::Null);
    assert_eq!(created["filter"], filter, "stored as given");
    assert_eq!(created["orderBy"], order);
    let id = created["id"].as_str().unwrap();
    let listed = client.data(VIEWS, json!({})).await;
    assert_eq!(listed["views"], json!([created]));

    // The view gives what the same filter and order give inline.
    let inline = ticket_ids(&client, None, filter.clone(), order.clone()).await;
    assert!(!inline.is_empty());
    assert_eq!(
        ticket_ids(&client, Some(id), Value::Null, Value::Null).await,
        inline
    );
    assert_eq!(
        counts(&client, Some(id), Value::Null).await,
        counts(&client, None, filter.clone()).await
    );

    // An explicit filter narrows the view (both hold); an explicit order replaces its order.
    let narrower = json!({ "priority": ["HIGH", "UNSET"] });
    let both = json!({ "status": ["OPEN", "PENDING"], "tags": ["vip", "spam"],
                       "tagsNone": ["billing"], "priority": ["HIGH", "UNSET"] });
    let narrowed = ticket_ids(&client, Some(id), narrower.clone(), Value::Null).await;
    assert_eq!(
        narrowed,
        ticket_ids(&client, None, both.clone(), order.clone()).await
    );
    assert!(
        narrowed.len() < inline.len() && !narrowed.is_empty(),
        "{narrowed:?}"
    );
    assert_eq!(
        counts(&client, Some(id), narrower.clone()).await,
        counts(&client, None, both).await
    );
    let newest_first = json!([{ "field": "UPDATED_AT", "direction": "DESC" }]);
    assert_eq!(
        ticket_ids(&client, Some(id), Value::Null, newest_first.clone()).await,
        ticket_ids(&client, None, filter.clone(), newest_first).await
    );

    // The ticketCounts subscription takes the view too: its first value is the query's.
    let key = client.key.clone();
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    send(
        &mut socket,
        json!({ "id": "c", "type": "subscribe", "payload": {
            "query": "subscription($view: UUID) { ticketCounts(view: $view) { total } }",
            "variables": { "view": id } } }),
    )
    .await;
    let first = next_payload(&mut socket, "c").await;
    assert_eq!(
        first["data"]["ticketCounts"]["total"],
        inline.len(),
        "{first}"
    );

    // Updated: the new filter applies; deleted: gone.
    let update = "mutation($id: UUID!, $input: UpdateViewInput!) { updateView(id: $id, input: $input) { name filter orderBy } }";
    let updated = client
        .data(update, json!({ "id": id, "input": { "name": "Resolved", "filter": { "status": ["RESOLVED"] }, "orderBy": null } }))
        .await;
    assert_eq!(
        updated["updateView"],
        json!({ "name": "Resolved", "filter": { "status": ["RESOLVED"] }, "orderBy": [] })
    );
    assert_eq!(
        ticket_ids(&client, Some(id), Value::Null, Value::Null).await,
        ticket_ids(
            &client,
            None,
            json!({ "status": ["RESOLVED"] }),
            Value::Null
        )
        .await
    );
    let delete = "mutation($id: UUID!) { deleteView(id: $id) }";
    assert_eq!(
        client.data(delete, json!({ "id": id })).await["deleteView"],
        id
    );
    assert_eq!(client.data(VIEWS, json!({})).await["views"], json!([]));
    let (code, ..) = refusal(
        &client,
        "query($v: UUID) { tickets(view: $v) { totalCount } }",
        json!({ "v": id }),
    )
    .await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn private_views_are_their_owners_and_shared_ones_the_teams() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    world(&mut db.conn(), team);
    let (ann, bob) = (
        fixtures::user(&mut db.conn(), team, "ann@example.com", "Ann"),
        fixtures::user(&mut db.conn(), team, "bob@example.com", "Bob"),
    );
    let both = [Scope::Read, Scope::Write];
    let server = TestServer::start(&db.url);
    let ann_client = server.client(&helpers::create_user_key(&db.url, team, ann, &both));
    let bob_client = server.client(&helpers::create_user_key(&db.url, team, bob, &both));
    let userless = server.client(&helpers::create_key(&db.url, team, &both));

    let mine = create_view(
        &ann_client,
        json!({ "name": "Mine", "shared": false, "filter": { "assignee": { "me": true } } }),
    )
    .await;
    let team_view = create_view(
        &ann_client,
        json!({ "name": "Mine", "filter": { "status": ["OPEN"] } }),
    )
    .await;
    let listed = ann_client.data(VIEWS, json!({})).await;
    let names: Vec<(Value, Value)> = listed["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["id"].clone(), v["shared"].clone()))
        .collect();
    assert_eq!(
        names,
        vec![(json!(team_view), json!(true)), (json!(mine), json!(false))],
        "shared first"
    );
    assert_eq!(listed["views"][1]["owner"]["id"], ann.to_string());

    // Bob and a key without a user see the shared view only; Ann's private one is
    // NOT_FOUND to them, for reading, using, changing and deleting alike.
    for other in [&bob_client, &userless] {
        let ids: Vec<Value> = other.data(VIEWS, json!({})).await["views"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].clone())
            .collect();
        assert_eq!(ids, vec![json!(team_view)]);
        for (query, variables) in [
            (
                "query($v: UUID) { tickets(view: $v) { totalCount } }",
                json!({ "v": mine }),
            ),
            (
                "query($v: UUID) { ticketCounts(view: $v) { total } }",
                json!({ "v": mine }),
            ),
            (
                "mutation($v: UUID!) { updateView(id: $v, input: { name: \"x\" }) { id } }",
                json!({ "v": mine }),
            ),
            (
                "mutation($v: UUID!) { deleteView(id: $v) }",
                json!({ "v": mine }),
            ),
        ] {
            assert_eq!(
                refusal(other, query, variables).await.0,
                "NOT_FOUND",
                "{query}"
            );
        }
    }
    // A private view needs a user; names are unique per scope.
    let (code, field, _) = refusal(
        &userless,
        CREATE,
        json!({ "input": { "name": "P", "shared": false } }),
    )
    .await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input.shared"))
    );
    let (code, ..) = refusal(&bob_client, CREATE, json!({ "input": { "name": "Mine" } })).await;
    assert_eq!(code, "CONFLICT", "the team already has a shared `Mine`");
    create_view(&bob_client, json!({ "name": "Mine", "shared": false })).await;

    // "Mine" (assignee: me) means each user's own tickets: Ann's view, used by Ann.
    let t = ticket_ids(&ann_client, None, json!({}), Value::Null).await;
    let mut conn = db.conn();
    fixtures::assign_user(&mut conn, t[0].parse().unwrap(), ann);
    fixtures::assign_user(&mut conn, t[1].parse().unwrap(), bob);
    assert_eq!(
        ticket_ids(&ann_client, Some(&mine), Value::Null, Value::Null).await,
        vec![t[0].clone()]
    );
    // A shared "me" view is each user's own; a key without a user cannot use it.
    let shared_me = create_view(
        &ann_client,
        json!({ "name": "Me (shared)", "filter": { "assignee": { "me": true } } }),
    )
    .await;
    assert_eq!(
        ticket_ids(&bob_client, Some(&shared_me), Value::Null, Value::Null).await,
        vec![t[1].clone()]
    );
    let (code, field, _) = refusal(
        &userless,
        "query($v: UUID) { tickets(view: $v) { totalCount } }",
        json!({ "v": shared_me }),
    )
    .await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("view.assignee.me"))
    );
    // A read-only key reads views but cannot save one.
    let reader = server.client(&helpers::create_user_key(
        &db.url,
        team,
        ann,
        &[Scope::Read],
    ));
    assert_eq!(
        reader.data(VIEWS, json!({})).await["views"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        refusal(&reader, CREATE, json!({ "input": { "name": "R" } }))
            .await
            .0,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn unknown_views_and_other_teams_views_are_not_found_alike() {
    let db = test_db();
    let (team, other_team) = (
        fixtures::team(&mut db.conn(), "acme"),
        fixtures::team(&mut db.conn(), "globex"),
    );
    world(&mut db.conn(), team);
    world(&mut db.conn(), other_team);
    let both = [Scope::Read, Scope::Write];
    let server = TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(&db.url, team, &both));
    let other = server.client(&helpers::create_key(&db.url, other_team, &both));
    let theirs = create_view(&other, json!({ "name": "Theirs" })).await;
    let unknown = Uuid::now_v7().to_string();

    let uses = [
        "query($v: UUID) { tickets(view: $v) { totalCount } }",
        "query($v: UUID) { ticketCounts(view: $v) { total } }",
        "mutation($v: UUID) { bulkUpdateTags(view: $v, action: ADD, tags: [\"x\"]) { id } }",
        "mutation($v: UUID) { bulkChangeStatus(view: $v, status: RESOLVED) { changed } }",
        "mutation($v: UUID!) { updateView(id: $v, input: { name: \"x\" }) { id } }",
        "mutation($v: UUID!) { deleteView(id: $v) }",
    ];
    for query in uses {
        let for_theirs = refusal(&client, query, json!({ "v": theirs })).await;
        let for_unknown = refusal(&client, query, json!({ "v": unknown })).await;
        assert_eq!(for_theirs.0, "NOT_FOUND", "{query}");
        assert_eq!(for_theirs, for_unknown, "{query}: indistinguishable");
    }
    // Their view is untouched, and nothing of theirs changed.
    assert_eq!(
        other.data(VIEWS, json!({})).await["views"][0]["name"],
        "Theirs"
    );

    // Customer tokens cannot use views at all.
    let token = customer_token(team, "visitor-0", 600);
    let customer = Client::new(server.url("/graphql"), &token);
    assert_eq!(refusal(&customer, VIEWS, json!({})).await.0, "FORBIDDEN");
    let (code, ..) = refusal(&customer, uses[0], json!({ "v": unknown })).await;
    assert_eq!(code, "FORBIDDEN");
    let mut socket = ws::ready(&server.ws_url(), &token).await;
    send(
        &mut socket,
        json!({ "id": "t", "type": "subscribe", "payload": {
            "query": "subscription($v: UUID) { ticketChanged(view: $v) { kind } }",
            "variables": { "v": theirs } } }),
    )
    .await;
    let message = ws::recv(&mut socket).await;
    let errors = match message["type"].as_str() {
        Some("error") => message["payload"].clone(),
        _ => message["payload"]["errors"].clone(),
    };
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{message}");
}

#[tokio::test]
async fn a_view_naming_a_deleted_tag_still_works() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    world(&mut db.conn(), team);
    let server = TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(
        &db.url,
        team,
        &[Scope::Read, Scope::Write],
    ));
    let filter = json!({ "tags": ["vip", "spam"], "tagsAll": ["vip"], "tagsNone": ["billing"] });
    let view = create_view(&client, json!({ "name": "Tagged", "filter": filter })).await;
    let before = ticket_ids(&client, Some(&view), Value::Null, Value::Null).await;
    assert!(!before.is_empty());

    // "billing" and "spam" are deleted (with their links): the view still reads, the
    // names simply match nothing, exactly as inline.
    diesel::delete(
        tags::table
            .filter(tags::team_id.eq(team))
            .filter(tags::name.eq_any(["billing", "spam"])),
    )
    .execute(&mut db.conn())
    .unwrap();
    let after = ticket_ids(&client, Some(&view), Value::Null, Value::Null).await;
    assert_eq!(
        after,
        ticket_ids(&client, None, filter.clone(), Value::Null).await
    );
    assert!(
        after.len() > before.len(),
        "tickets tagged billing now pass tagsNone"
    );
    assert_eq!(
        counts(&client, Some(&view), Value::Null).await,
        counts(&client, None, filter).await
    );
}

#[tokio::test]
async fn stored_filters_are_checked_as_request_filters_and_empty_lists_keep_their_meaning() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    world(&mut db.conn(), team);
    let server = TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(
        &db.url,
        team,
        &[Scope::Read, Scope::Write],
    ));
    for (input, field) in [
        (
            json!({ "name": "x", "filter": { "search": "é".repeat(201) } }),
            "input.filter.search",
        ),
        (
            json!({ "name": "x", "filter": { "tagsAll": vec!["t"; 101] } }),
            "input.filter.tagsAll",
        ),
        (
            json!({ "name": "x", "filter": { "assignee": { "me": false } } }),
            "input.filter.assignee.me",
        ),
        (
            json!({ "name": "x", "filter": { "updatedAt": { "withinLastDays": 0 } } }),
            "input.filter.updatedAt.withinLastDays",
        ),
        (
            json!({ "name": "x", "orderBy": [{ "field": "UPDATED_AT" }, { "field": "UPDATED_AT" }] }),
            "input.orderBy",
        ),
        (json!({ "name": " " }), "input.name"),
        (json!({ "name": "n".repeat(101) }), "input.name"),
    ] {
        let (code, got, _) = refusal(&client, CREATE, json!({ "input": input })).await;
        assert_eq!(
            (code.as_str(), got),
            ("BAD_USER_INPUT", json!(field)),
            "{input}"
        );
    }
    // Empty lists mean what they mean inline: `status: []` matches nothing, `tagsAll: []`
    // and `tagsNone: []` constrain nothing.
    let none = create_view(
        &client,
        json!({ "name": "None", "filter": { "status": [] } }),
    )
    .await;
    assert!(ticket_ids(&client, Some(&none), Value::Null, Value::Null)
        .await
        .is_empty());
    let all = create_view(
        &client,
        json!({ "name": "All", "filter": { "tagsAll": [], "tagsNone": [] } }),
    )
    .await;
    assert_eq!(
        ticket_ids(&client, Some(&all), Value::Null, Value::Null)
            .await
            .len(),
        12
    );
}
