//! Customer x's token on customer y's tickets, on team B's, and on the team's internal data
//! (private notes, escalation reasons, agents' emails, tags, persons).

use std::collections::BTreeSet;

use serde_json::json;
use uuid::Uuid;

use super::leaks::codes;
use super::matrix::{case, empty_list, run_matrix, ticket_ids, Expect};
use super::operations::{
    deep_list, missing_target, mutation_templates, LIST, PERSONS, TICKET_BY_ID, TICKET_BY_NUMBER,
};
use super::world::{world, Who};

#[tokio::test]
async fn customers_never_reach_other_customers_or_internal_data() {
    let w = world();
    let x = Who::CustomerX;
    let random = Uuid::now_v7;
    let mut cases = vec![
        case(
            "ticket(id: y's)",
            x,
            TICKET_BY_ID,
            json!({ "id": w.ay1 }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "id": random() }))
        .same_as(json!({ "id": w.bx1 })),
        case(
            "ticket(id: B's ticket of B's own `alpha-x`)",
            x,
            TICKET_BY_ID,
            json!({ "id": w.bsx }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "id": random() })),
        case(
            "ticket(number: y's 3)",
            x,
            TICKET_BY_NUMBER,
            json!({ "n": 3 }),
            Expect::Code("NOT_FOUND"),
        )
        .same_as(json!({ "n": 9999 }))
        .same_as(json!({ "n": 4 })),
        case(
            "tickets(distinctIds: y's)",
            x,
            LIST,
            json!({ "f": { "distinctIds": ["alpha-y"] } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "distinctIds": ["nobody-1"] } })),
        case(
            "tickets(distinctIds: x's and y's)",
            x,
            LIST,
            json!({ "f": { "distinctIds": ["alpha-x", "alpha-y", "bravo-x-cust"] } }),
            ticket_ids(&[w.ax1, w.ax2]),
        ),
        case(
            "tickets(assignee.roleId: y's assignee)",
            x,
            LIST,
            json!({ "f": { "assignee": { "roleId": w.a_role } } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "assignee": { "roleId": random() } } })),
        case(
            "tickets(assignee.userId: B's user)",
            x,
            LIST,
            json!({ "f": { "assignee": { "userId": w.b_user } } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "assignee": { "userId": random() } } })),
        case(
            "tickets(tags: y's)",
            x,
            LIST,
            json!({ "f": { "tags": ["alpha-y-only"] } }),
            empty_list(),
        )
        .same_as(json!({ "f": { "tags": ["no-such-tag"] } })),
    ];
    for (name, text) in [
        ("search: y's message", "mango"),
        ("search: y's traits", "Yolanda"),
        ("search: y's private note", "limequat"),
        ("search: x's own private note", "kiwi"),
        ("search: B's `alpha-x` ticket", "echidna"),
        ("search: y's ticket number", "3"),
    ] {
        cases.push(
            case(
                format!("tickets({name})"),
                x,
                LIST,
                json!({ "f": { "search": text } }),
                empty_list(),
            )
            .same_as(json!({ "f": { "search": "zzz-nothing-matches" } })),
        );
    }
    let own = [w.ax1, w.ax2].map(|id| id.to_string());
    cases.extend([
        case("tickets (every field, nested)", x, &deep_list(), json!({}), Expect::Check(Box::new(move |body| {
            let edges = body["data"]["tickets"]["edges"].as_array().ok_or("no edges")?;
            let got: BTreeSet<&str> = edges.iter().filter_map(|e| e["node"]["id"].as_str()).collect();
            if got != own.iter().map(String::as_str).collect() {
                return Err(format!("expected x's tickets only, got {got:?}"));
            }
            if edges.iter().any(|e| !e["node"]["escalationReason"].is_null()) {
                return Err("escalationReason shown to a customer".into());
            }
            // Agents' emails are refused, nothing else is.
            for error in body["errors"].as_array().into_iter().flatten() {
                let path = error["path"].as_array().and_then(|p| p.last()).cloned();
                if error["extensions"]["code"] != "FORBIDDEN" || path != Some(json!("email")) {
                    return Err(format!("unexpected error {error}"));
                }
            }
            Ok(())
        }))),
        case(
            "ticket(id: own) { messages(includePrivate: true) escalationReason }",
            x,
            TICKET_BY_ID,
            json!({ "id": w.ax1 }),
            Expect::Check(Box::new(|body| {
                let ticket = &body["data"]["ticket"];
                let private = ticket["messages"]["nodes"]
                    .as_array()
                    .ok_or("no messages")?
                    .iter()
                    .any(|m| m["isPrivate"] == true);
                match (private, ticket["escalationReason"].is_null()) {
                    (false, true) => Ok(()),
                    _ => Err("private notes or escalation reason shown".into()),
                }
            })),
        ),
        case(
            "ticket(id: own) { assignee { user { email } } messages { createdBy { email } } }",
            x,
            "query($id: UUID) { ticket(id: $id) { assignee { user { name email } } messages { nodes { createdBy { name email } } } } }",
            json!({ "id": w.ax1 }),
            Expect::Check(Box::new(|body| match codes(body).iter().all(|c| c == "FORBIDDEN") && !codes(body).is_empty() {
                true => Ok(()),
                false => Err("agents' emails must be FORBIDDEN".into()),
            })),
        ),
        case("unreadCount", x, "{ unreadCount }", json!({}), Expect::Data(json!({ "unreadCount": 2 }))),
        case("tags", x, "{ tags }", json!({}), Expect::Code("FORBIDDEN")),
        case("persons(y's distinct id)", x, PERSONS, json!({ "d": ["alpha-y"] }), Expect::Code("FORBIDDEN"))
            .same_as(json!({ "d": ["alpha-x"] }))
            .same_as(json!({ "d": ["nobody-1"] })),
        case("me", x, "{ me { team { id slug } user { id } scopes customerDistinctId } }", json!({}), Expect::Data(json!({
            "me": { "team": { "id": w.a, "slug": "alpha" }, "user": null, "scopes": [], "customerDistinctId": "alpha-x" }
        }))),
    ]);

    // A cursor of the team's own listing (y's ticket first), replayed by x.
    let team = w.client(Who::TeamA);
    let filtered = "query($f: TicketFilter, $after: String) { tickets(filter: $f, first: 10, after: $after) { totalCount nodes { id } } }";
    let y_filter = json!({ "distinctIds": ["alpha-y", "alpha-x"] });
    let page = team
        .data(
            "query($f: TicketFilter) { tickets(filter: $f, first: 1) { nodes { id } pageInfo { endCursor } } }",
            json!({ "f": y_filter }),
        )
        .await;
    assert_eq!(
        page["tickets"]["nodes"][0]["id"],
        w.ay1.to_string(),
        "y's ticket is the newest"
    );
    let own_ids = [w.ax1, w.ax2];
    cases.push(case(
        "tickets(after: the team's cursor at y's ticket)",
        x,
        filtered,
        json!({ "f": y_filter, "after": page["tickets"]["pageInfo"]["endCursor"] }),
        Expect::Check(Box::new(move |body| {
            for node in body["data"]["tickets"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let id: Uuid = node["id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or("id")?;
                if !own_ids.contains(&id) {
                    return Err(format!("not x's ticket: {id}"));
                }
            }
            Ok(())
        })),
    ));

    // Every mutation on y's objects (and, identically, on B's and missing ones).
    for template in mutation_templates() {
        cases.push(
            case(
                template.name,
                x,
                template.query,
                (template.vars)(&w, &w.customer_y_target()),
                Expect::Code(template.customer_on_y),
            )
            .same_as((template.vars)(&w, &missing_target()))
            .same_as((template.vars)(&w, &w.team_b_target())),
        );
    }
    run_matrix(
        &w,
        "customer A/x on customer y's tickets and internal data",
        cases,
    )
    .await;
}
