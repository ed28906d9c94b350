//! Team A's keys on team B's objects: queries, filters, searches, cursors and every
//! mutation, refused exactly like ids that exist nowhere; what succeeds with B's strings
//! (a customer token, a ticket) stays within team A.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use uuid::Uuid;

use super::leaks::{codes, leaks};
use super::matrix::{case, empty_list, run_matrix, ticket_ids, Expect};
use super::operations::{
    deep_list, missing_target, mutation_templates, LIST, PERSONS, TICKET_BY_ID, TICKET_BY_NUMBER,
    TOKEN,
};
use super::world::{world, Who};

#[tokio::test]
async fn team_keys_never_reach_another_teams_objects() {
    let w = world();
    let b_before = w.snapshot().1;
    let random = Uuid::now_v7;
    let t = Who::TeamA;
    let mut cases = vec![
        case(
            "ticket(id: B's)",
            t,
            TICKET_BY_ID,
            json!({ "id": w.bx1 }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "id": random() })),
        case(
            "ticket(id: B's ticket of B's own `alpha-x`)",
            t,
            TICKET_BY_ID,
            json!({ "id": w.bsx }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "id": random() })),
        case(
            "ticket(number: 4, B's only)",
            t,
            TICKET_BY_NUMBER,
            json!({ "n": 4 }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "n": 9999 })),
        case(
            "tickets(assignee.userId: B's user)",
            t,
            LIST,
            json!({ "f": { "assignee": { "userId": w.b_user } } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "assignee": { "userId": random() } } })),
        case(
            "tickets(assignee.roleId: B's role)",
            t,
            LIST,
            json!({ "f": { "assignee": { "roleId": w.b_role } } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "assignee": { "roleId": random() } } })),
        case(
            "tickets(distinctIds: B's)",
            t,
            LIST,
            json!({ "f": { "distinctIds": ["bravo-x-cust", "bravo-y-cust"] } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "distinctIds": ["nobody-1", "nobody-2"] } })),
        case(
            "tickets(distinctIds: `alpha-x`, which B has too)",
            t,
            LIST,
            json!({ "f": { "distinctIds": ["alpha-x"] } }),
            ticket_ids(&[w.ax1, w.ax2]),
        ),
        case(
            "tickets(tags: B's)",
            t,
            LIST,
            json!({ "f": { "tags": ["bravo-tag-narwhal"] } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "tags": ["no-such-tag"] } })),
        case(
            "tickets(tags: a name both teams use)",
            t,
            LIST,
            json!({ "f": { "tags": ["alpha-shared"] } }),
            ticket_ids(&[w.ax1]),
        ),
    ];
    for (what, text) in [
        ("a B message", "wombat"),
        ("a B private note", "numbat"),
        ("a B subject", "quokka"),
        ("a B trait name", "Bruno"),
        ("a B trait email", "bruno@bravo-secret"),
        ("B's ticket number 4", "4"),
    ] {
        cases.push(
            case(
                format!("tickets(search: {what})"),
                t,
                LIST,
                json!({ "f": { "search": text } }),
                empty_list(),
            )
            .same_as(json!({ "f": { "search": "zzz-nothing-matches" } })),
        );
    }
    cases.extend([
        case(
            "tickets (every field, nested)",
            t,
            &deep_list(),
            json!({}),
            {
                let a_ids: BTreeSet<String> =
                    [w.ax1, w.ax2, w.ay1].iter().map(Uuid::to_string).collect();
                Expect::Check(Box::new(move |body| {
                    if body.get("errors").is_some() {
                        return Err("errors".into());
                    }
                    let got: BTreeSet<String> = body["data"]["tickets"]["edges"]
                        .as_array()
                        .ok_or("no edges")?
                        .iter()
                        .filter_map(|e| e["node"]["id"].as_str().map(String::from))
                        .collect();
                    match got == a_ids && body["data"]["tickets"]["totalCount"] == 3 {
                        true => Ok(()),
                        false => Err(format!("expected A's 3 tickets, got {got:?}")),
                    }
                }))
            },
        ),
        case(
            "unreadCount",
            t,
            "{ unreadCount }",
            json!({}),
            Expect::Data(json!({ "unreadCount": 4 })),
        ),
        case(
            "tags",
            t,
            "{ tags }",
            json!({}),
            Expect::Data(json!({ "tags": ["alpha-shared", "alpha-y-only"] })),
        ),
        case(
            "persons(distinctIds: B's)",
            t,
            PERSONS,
            json!({ "d": ["bravo-x-cust", "bravo-y-cust"] }),
            Expect::Data(json!({ "persons": [] })),
        )
        .same_as(json!({ "d": ["nobody-1", "nobody-2"] })),
        case(
            "persons(distinctIds: `alpha-x`, which B has too)",
            t,
            PERSONS,
            json!({ "d": ["alpha-x"] }),
            Expect::Check(Box::new(|body| {
                let persons = body["data"]["persons"].as_array().ok_or("no persons")?;
                match persons.len() == 1 && persons[0]["name"] == "Alex Alpha" {
                    true => Ok(()),
                    false => Err("expected A's person only".into()),
                }
            })),
        ),
        case(
            "me",
            t,
            "{ me { team { id slug name } user { id email } scopes customerDistinctId } }",
            json!({}),
            {
                let a = w.a.to_string();
                Expect::Check(Box::new(move |body| {
                    match body["data"]["me"]["team"]["id"] == a.as_str() {
                        true => Ok(()),
                        false => Err("me is not team A".into()),
                    }
                }))
            },
        ),
    ]);

    // Cursors of team B's queries, used by team A.
    let b_client = w.server.client(&w.b_rw);
    let b_page = b_client
        .data(
            "{ tickets(first: 1) { pageInfo { startCursor endCursor } } }",
            json!({}),
        )
        .await;
    let b_cursor = b_page["tickets"]["pageInfo"]["endCursor"].clone();
    let b_messages = b_client
        .data(
            "query($id: UUID) { ticket(id: $id) { messages(first: 1, includePrivate: true) { pageInfo { endCursor } } } }",
            json!({ "id": w.bx1 }),
        )
        .await;
    let b_message_cursor = b_messages["ticket"]["messages"]["pageInfo"]["endCursor"].clone();
    let a_ids = [w.ax1, w.ax2, w.ay1];
    let only_a = move |body: &Value| -> Result<(), String> {
        if let Some(nodes) = body["data"]["tickets"]["nodes"].as_array() {
            for node in nodes {
                let id: Uuid = node["id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or("id")?;
                if !a_ids.contains(&id) {
                    return Err(format!("not A's ticket: {id}"));
                }
            }
        }
        Ok(())
    };
    let paged = "query($after: String, $before: String, $first: Int, $last: Int) { tickets(first: $first, after: $after, last: $last, before: $before) { totalCount nodes { id distinctId } pageInfo { startCursor endCursor hasNextPage hasPreviousPage } } }";
    cases.extend([
        case(
            "tickets(after: B's cursor)",
            t,
            paged,
            json!({ "first": 10, "after": b_cursor }),
            Expect::Check(Box::new(only_a)),
        ),
        case(
            "tickets(before: B's cursor)",
            t,
            paged,
            json!({ "last": 10, "before": b_cursor }),
            Expect::Check(Box::new(only_a)),
        ),
        case(
            "ticket(id: A's) { messages(after: B's message cursor) }",
            t,
            "query($id: UUID, $c: String) { ticket(id: $id) { id messages(first: 5, after: $c, includePrivate: true) { nodes { id content } } } }",
            json!({ "id": w.ax1, "c": b_message_cursor }),
            Expect::Check(Box::new(|body| match codes(body).as_slice() {
                [code] if code == "BAD_USER_INPUT" => Ok(()),
                other => Err(format!("expected BAD_USER_INPUT on `messages`, got {other:?}")),
            })),
        ),
        case(
            "ticket(id: B's) { messages(after: B's message cursor) }",
            t,
            "query($id: UUID, $c: String) { ticket(id: $id) { id messages(first: 5, after: $c, includePrivate: true) { nodes { id content } } } }",
            json!({ "id": w.bx1, "c": b_message_cursor }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "id": random(), "c": b_message_cursor })),
    ]);

    // Every mutation with B's ids.
    for template in mutation_templates() {
        let Some(code) = template.team_on_b else {
            continue;
        };
        cases.push(
            case(
                template.name,
                t,
                template.query,
                (template.vars)(&w, &w.team_b_target()),
                Expect::Code(code),
            )
            .same_as((template.vars)(&w, &missing_target())),
        );
    }
    // The read-only key of team A reads no more of team B.
    cases.extend([
        case(
            "ticket(id: B's)",
            Who::ReadOnlyA,
            TICKET_BY_ID,
            json!({ "id": w.bx1 }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "id": random() })),
        case(
            "tickets(distinctIds: B's)",
            Who::ReadOnlyA,
            LIST,
            json!({ "f": { "distinctIds": ["bravo-x-cust"] } }),
            empty_list(),
        ),
        case(
            "tickets (every field, nested)",
            Who::ReadOnlyA,
            &deep_list(),
            json!({}),
            Expect::Check(Box::new(|body| {
                match body["data"]["tickets"]["totalCount"] == 3 && body.get("errors").is_none() {
                    true => Ok(()),
                    false => Err("expected A's 3 tickets".into()),
                }
            })),
        ),
    ]);
    run_matrix(&w, "team A's keys on team B's objects", cases).await;

    // What succeeds with B's strings must stay within team A.
    let a_client = w.client(Who::TeamA);
    let minted = a_client.data(TOKEN, json!({ "d": "bravo-x-cust" })).await;
    let token = minted["createCustomerToken"]["token"].as_str().unwrap();
    let claims = ticketgate::auth::customer_tokens::TokenSecret::new(
        crate::helpers::server::TEST_TOKEN_SECRET,
    )
    .unwrap()
    .verify(token, chrono::Utc::now())
    .unwrap();
    assert_eq!(claims.team, w.a, "a token of team A's key is team A's");
    let minted_client = w.server.client(token);
    let seen = minted_client
        .data(
            "{ tickets { totalCount nodes { id } } unreadCount me { team { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(seen["tickets"]["totalCount"], 0, "{seen}");
    assert_eq!(seen["me"]["team"]["id"], w.a.to_string());
    let (_, body) = minted_client
        .post(TICKET_BY_ID, json!({ "id": w.bx1 }))
        .await;
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
    assert_eq!(leaks(&seen, &w.b_secrets), Vec::<String>::new());

    // A ticket of team A for B's distinct id (and B's customer's address) finds no person
    // of team B, and goes to team A's email channel.
    let created = a_client
        .data(
            "mutation { createTicket(input: { distinctId: \"bravo-x-cust\", message: \"hello\", channelSource: EMAIL, emailFrom: \"bruno@bravo-secret.example\" }) { id person { id name } emailTo } }",
            json!({}),
        )
        .await;
    assert_eq!(created["createTicket"]["person"], Value::Null, "{created}");
    assert_eq!(created["createTicket"]["emailTo"], "support@alpha.example");
    let created = a_client
        .data(
            "mutation { createTicket(input: { distinctId: \"alpha-x\", message: \"hello again\" }) { id person { id name distinctIds } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        created["createTicket"]["person"]["name"], "Alex Alpha",
        "{created}"
    );

    assert_eq!(w.snapshot().1, b_before, "team B's rows changed");
}
