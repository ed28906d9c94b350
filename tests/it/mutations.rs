//! Mutations: what each changes, the counters of DATA-MODEL.md, the snooze rules,
//! optimistic concurrency, all-or-nothing bulk actions and input refusals.

use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::db::schema::{ticket_activities, tickets};

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::{self, test_db, Client, TestServer};

struct Setup {
    db: helpers::TestDb,
    _server: TestServer,
    client: Client,
    team: uuid::Uuid,
}

fn setup() -> Setup {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    Setup {
        db,
        _server: server,
        client,
        team,
    }
}

const CREATE: &str = r#"mutation($input: CreateTicketInput!) {
  createTicket(input: $input) {
    id ticketNumber status channelSource channelDetail distinctId anonymousTraits
    messageCount lastMessageText unreadTeamCount unreadCustomerCount emailSubject emailFrom
    createdAt updatedAt lastMessageAt
    messages { nodes { content authorType } }
  }
}"#;

const TICKET: &str = r#"query($id: UUID) { ticket(id: $id) {
  status priority messageCount lastMessageText lastMessageAt unreadTeamCount unreadCustomerCount
  updatedAt snoozedUntil slaDueAt tags escalationReason aiResolved anonymousTraits
  assignee { type id }
} }"#;

async fn create(client: &Client, distinct_id: &str, message: &str) -> Value {
    client
        .data(CREATE, json!({ "input": { "distinctId": distinct_id, "message": message, "channelDetail": "WIDGET_API" } }))
        .await["createTicket"]
        .clone()
}

async fn ticket(client: &Client, id: &Value) -> Value {
    client.data(TICKET, json!({ "id": id })).await["ticket"].clone()
}

#[tokio::test]
async fn a_first_message_opens_a_ticket() {
    let s = setup();
    let first = create(&s.client, "visitor-1", "My export is broken").await;
    assert_eq!(first["ticketNumber"], 1);
    assert_eq!(first["status"], "NEW");
    assert_eq!(first["channelSource"], "WIDGET");
    assert_eq!(first["channelDetail"], "WIDGET_API");
    assert_eq!(first["messageCount"], 1);
    assert_eq!(first["unreadTeamCount"], 1);
    assert_eq!(first["unreadCustomerCount"], 0);
    assert_eq!(first["lastMessageText"], "My export is broken");
    assert_eq!(first["lastMessageAt"], first["createdAt"]);
    assert_eq!(
        first["messages"]["nodes"],
        json!([{ "content": "My export is broken", "authorType": "CUSTOMER" }])
    );
    let second = create(&s.client, "visitor-2", "Hello").await;
    assert_eq!(second["ticketNumber"], 2);

    let email = s
        .client
        .data(
            CREATE,
            json!({ "input": { "distinctId": "x@example.com", "message": "Hi", "channelSource": "EMAIL",
                    "emailSubject": "Invoice", "emailFrom": "x@example.com",
                    "anonymousTraits": { "name": "X" } } }),
        )
        .await;
    assert_eq!(email["createTicket"]["emailSubject"], "Invoice");
    assert_eq!(
        email["createTicket"]["anonymousTraits"],
        json!({ "name": "X" })
    );

    // Refusals name the field and create nothing.
    for (input, field) in [
        (
            json!({ "distinctId": "v", "message": "   " }),
            "input.message",
        ),
        (
            json!({ "distinctId": "", "message": "hi" }),
            "input.distinctId",
        ),
        (
            json!({ "distinctId": "v", "message": "hi", "emailFrom": "not an email" }),
            "input.emailFrom",
        ),
        (
            json!({ "distinctId": "v", "message": "hi", "channelSource": "SLACK", "channelDetail": "WIDGET_API" }),
            "input.channelDetail",
        ),
        (
            json!({ "distinctId": "v", "message": "hi", "anonymousTraits": [1, 2] }),
            "input.anonymousTraits",
        ),
        (
            json!({ "distinctId": "v", "message": "x".repeat(64 * 1024 + 1) }),
            "input.message",
        ),
    ] {
        let (_, body) = s.client.post(CREATE, json!({ "input": input })).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let count: i64 = tickets::table.count().get_result(&mut s.db.conn()).unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn messages_keep_the_counters_exact() {
    let s = setup();
    let t = create(&s.client, "v", "first").await;
    let id = t["id"].clone();
    let send = r#"mutation($t: UUID!, $c: String!, $p: Boolean, $a: MessageAuthorType) {
      sendMessage(ticketId: $t, content: $c, isPrivate: $p, authorType: $a) { id content authorType isPrivate } }"#;
    let reply = s
        .client
        .data(send, json!({ "t": id, "c": "We are on it" }))
        .await["sendMessage"]
        .clone();
    assert_eq!(reply["authorType"], "SUPPORT");
    let after_reply = ticket(&s.client, &id).await;
    assert_eq!(after_reply["messageCount"], 2);
    assert_eq!(after_reply["unreadTeamCount"], 1);
    assert_eq!(after_reply["unreadCustomerCount"], 1);
    assert_eq!(after_reply["lastMessageText"], "We are on it");

    // A private note counts nowhere and changes nothing the customer sees.
    s.client
        .data(send, json!({ "t": id, "c": "internal: VIP", "p": true }))
        .await;
    let after_note = ticket(&s.client, &id).await;
    assert_eq!(after_note["messageCount"], 2);
    assert_eq!(after_note["lastMessageText"], "We are on it");
    assert_eq!(after_note["updatedAt"], after_reply["updatedAt"]);

    // A long customer message: the preview is its first 500 characters (not bytes).
    let long = "é".repeat(700);
    s.client
        .data(send, json!({ "t": id, "c": long, "a": "CUSTOMER" }))
        .await;
    let after_long = ticket(&s.client, &id).await;
    assert_eq!(after_long["messageCount"], 3);
    assert_eq!(after_long["unreadTeamCount"], 2);
    assert_eq!(
        after_long["lastMessageText"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        500
    );
    assert!(after_long["updatedAt"].as_str() > after_note["updatedAt"].as_str());

    // Reading sets the side's counter to zero without reordering the inbox.
    let read = r#"mutation($t: UUID!, $side: ReadSide!) { markTicketRead(id: $t, side: $side) { unreadTeamCount unreadCustomerCount updatedAt } }"#;
    let team_read = s
        .client
        .data(read, json!({ "t": id, "side": "TEAM" }))
        .await["markTicketRead"]
        .clone();
    assert_eq!(team_read["unreadTeamCount"], 0);
    assert_eq!(team_read["unreadCustomerCount"], 1);
    assert_eq!(team_read["updatedAt"], after_long["updatedAt"]);
    let customer_read = s
        .client
        .data(read, json!({ "t": id, "side": "CUSTOMER" }))
        .await["markTicketRead"]
        .clone();
    assert_eq!(customer_read["unreadCustomerCount"], 0);

    // Deleting the newest message recomputes the last message; counters never go below 0.
    let messages = s
        .client
        .data(
            r#"query($t: UUID) { ticket(id: $t) { messages(last: 1) { nodes { id } } } }"#,
            json!({ "t": id }),
        )
        .await;
    let newest = messages["ticket"]["messages"]["nodes"][0]["id"].clone();
    let delete = r#"mutation($m: UUID!) { deleteMessage(id: $m) { id } }"#;
    s.client.data(delete, json!({ "m": newest })).await;
    let after_delete = ticket(&s.client, &id).await;
    assert_eq!(after_delete["messageCount"], 2);
    assert_eq!(after_delete["lastMessageText"], "We are on it");
    assert_eq!(after_delete["unreadTeamCount"], 0);
    assert_eq!(
        s.client.error_code(delete, json!({ "m": newest })).await,
        "NOT_FOUND"
    );

    // Refusals.
    assert_eq!(
        s.client.error_code(send, json!({ "t": id, "c": "" })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        s.client
            .error_code(
                send,
                json!({ "t": id, "c": "x", "p": true, "a": "CUSTOMER" })
            )
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        s.client
            .error_code(send, json!({ "t": uuid::Uuid::now_v7(), "c": "x" }))
            .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn updates_follow_the_snooze_rules_and_optimistic_concurrency() {
    let s = setup();
    let t = create(&s.client, "v", "hello").await;
    let id = t["id"].clone();
    let update = r#"mutation($id: UUID!, $input: UpdateTicketInput!, $expected: DateTime) {
      updateTicket(id: $id, input: $input, expectedUpdatedAt: $expected) { status priority snoozedUntil slaDueAt tags escalationReason aiResolved updatedAt } }"#;
    let up = |input: Value| {
        let client = s.client.clone();
        let id = id.clone();
        async move {
            client
                .data(update, json!({ "id": id, "input": input }))
                .await["updateTicket"]
                .clone()
        }
    };
    let changed = up(json!({ "status": "OPEN", "priority": "HIGH", "tags": ["vip", " billing ", "vip"], "aiResolved": true, "escalationReason": "angry" })).await;
    assert_eq!(changed["status"], "OPEN");
    assert_eq!(changed["priority"], "HIGH");
    assert_eq!(changed["tags"], json!(["billing", "vip"]));
    assert_eq!(changed["aiResolved"], true);
    // Absent fields stay; null clears.
    let cleared = up(json!({ "priority": null, "escalationReason": null })).await;
    assert_eq!(cleared["priority"], Value::Null);
    assert_eq!(cleared["escalationReason"], Value::Null);
    assert_eq!(cleared["tags"], json!(["billing", "vip"]));
    assert_eq!(cleared["status"], "OPEN");

    // Snoozing puts the ticket on hold, clearing the snooze reopens it.
    let snoozed = up(json!({ "snoozedUntil": "2030-01-01T00:00:00Z" })).await;
    assert_eq!(snoozed["status"], "ON_HOLD");
    let woken = up(json!({ "snoozedUntil": null })).await;
    assert_eq!(woken["status"], "OPEN");
    // …unless a status is given with it.
    let explicit = up(json!({ "snoozedUntil": "2030-01-01T00:00:00Z", "status": "PENDING" })).await;
    assert_eq!(explicit["status"], "PENDING");
    let sla = up(json!({ "slaDueInMinutes": 90 })).await;
    assert!(sla["slaDueAt"].is_string());

    // Optimistic concurrency: the right updatedAt wins once, a stale one is CONFLICT.
    let current = ticket(&s.client, &id).await;
    let expected = current["updatedAt"].clone();
    let ok = s
        .client
        .data(
            update,
            json!({ "id": id, "input": { "status": "RESOLVED" }, "expected": expected }),
        )
        .await;
    assert_eq!(ok["updateTicket"]["status"], "RESOLVED");
    let (_, stale) = s
        .client
        .post(
            update,
            json!({ "id": id, "input": { "status": "OPEN" }, "expected": expected }),
        )
        .await;
    assert_eq!(stale["errors"][0]["extensions"]["code"], "CONFLICT");
    assert_eq!(
        ticket(&s.client, &id).await["status"],
        "RESOLVED",
        "nothing changed"
    );

    // Status and priority changes are logged for automation.
    let kinds: Vec<String> = ticket_activities::table
        .select(ticket_activities::kind)
        .load(&mut s.db.conn())
        .unwrap();
    assert!(kinds.contains(&"status_changed".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"priority_changed".to_string()), "{kinds:?}");

    // Refusals name the field and change nothing.
    let before = ticket(&s.client, &id).await;
    for (input, field) in [
        (json!({ "tags": vec!["t"; 51] }), "input.tags"),
        (json!({ "tags": ["x".repeat(65)] }), "input.tags"),
        (
            json!({ "snoozedUntil": "1999-12-31T00:00:00Z", "status": "OPEN" }),
            "input.snoozedUntil",
        ),
        (
            json!({ "slaDueAt": "2026-01-01T00:00:00Z", "slaDueInMinutes": 5 }),
            "input.slaDueInMinutes",
        ),
        (json!({ "anonymousTraits": "x" }), "input.anonymousTraits"),
    ] {
        let (_, body) = s
            .client
            .post(update, json!({ "id": id, "input": input }))
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    assert_eq!(ticket(&s.client, &id).await, before);
}

#[tokio::test]
async fn assignment_is_checked_against_the_organisation_and_logged() {
    let s = setup();
    let mut conn = s.db.conn();
    let ada = fixtures::user(&mut conn, s.team, "ada@acme.example", "Ada");
    let billing = fixtures::role(&mut conn, s.team, "Billing");
    let other = fixtures::team(&mut conn, "globex");
    let stranger = fixtures::user(&mut conn, other, "x@globex.example", "X");
    let foreign_role = fixtures::role(&mut conn, other, "Billing");
    let id = fixtures::insert_ticket(&mut conn, s.team, &TicketSpec::default());
    let assign = r#"mutation($id: UUID!, $a: AssigneeInput) { assignTicket(id: $id, assignee: $a) { assignee { type id } } }"#;
    let to_user = s
        .client
        .data(assign, json!({ "id": id, "a": { "userId": ada } }))
        .await;
    assert_eq!(
        to_user["assignTicket"]["assignee"],
        json!({ "type": "USER", "id": ada.to_string() })
    );
    let to_role = s
        .client
        .data(assign, json!({ "id": id, "a": { "roleId": billing } }))
        .await;
    assert_eq!(
        to_role["assignTicket"]["assignee"],
        json!({ "type": "ROLE", "id": billing.to_string() })
    );
    assert_eq!(
        s.client
            .error_code(assign, json!({ "id": id, "a": { "userId": stranger } }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        s.client
            .error_code(assign, json!({ "id": id, "a": { "roleId": foreign_role } }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        ticket(&s.client, &json!(id)).await["assignee"]["id"],
        billing.to_string(),
        "refusals change nothing"
    );
    let none = s.client.data(assign, json!({ "id": id, "a": null })).await;
    assert_eq!(none["assignTicket"]["assignee"], Value::Null);
    let logged: Vec<String> = ticket_activities::table
        .filter(ticket_activities::ticket_id.eq(id))
        .order(ticket_activities::created_at)
        .select(ticket_activities::kind)
        .load(&mut conn)
        .unwrap();
    assert_eq!(logged, ["assigned", "assigned", "unassigned"]);
}

#[tokio::test]
async fn bulk_actions_are_all_or_nothing() {
    let s = setup();
    let mut conn = s.db.conn();
    let ids: Vec<uuid::Uuid> = (0..3)
        .map(|_| fixtures::insert_ticket(&mut conn, s.team, &TicketSpec::default()))
        .collect();
    let other = fixtures::team(&mut conn, "globex");
    let foreign = fixtures::insert_ticket(&mut conn, other, &TicketSpec::default());
    let tags = r#"mutation($ids: [UUID!]!, $action: TagChange!, $tags: [String!]!) { bulkUpdateTags(ids: $ids, action: $action, tags: $tags) { id tags } }"#;
    let status = r#"mutation($ids: [UUID!]!, $s: TicketStatus!) { bulkUpdateStatus(ids: $ids, status: $s) { id status } }"#;

    let added = s
        .client
        .data(
            tags,
            json!({ "ids": [ids[2], ids[0]], "action": "ADD", "tags": ["a", "b"] }),
        )
        .await;
    assert_eq!(
        added["bulkUpdateTags"][0]["id"],
        ids[2].to_string(),
        "in the order given"
    );
    assert_eq!(added["bulkUpdateTags"][0]["tags"], json!(["a", "b"]));
    let removed = s
        .client
        .data(
            tags,
            json!({ "ids": [ids[0]], "action": "REMOVE", "tags": ["a"] }),
        )
        .await;
    assert_eq!(removed["bulkUpdateTags"][0]["tags"], json!(["b"]));
    let set = s
        .client
        .data(tags, json!({ "ids": ids, "action": "SET", "tags": ["c"] }))
        .await;
    assert!(set["bulkUpdateTags"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["tags"] == json!(["c"])));

    let resolved = s
        .client
        .data(status, json!({ "ids": ids, "s": "RESOLVED" }))
        .await;
    assert_eq!(resolved["bulkUpdateStatus"].as_array().unwrap().len(), 3);

    // One id of another team: NOT_FOUND, and nothing changes for the others.
    let mixed = json!({ "ids": [ids[0], foreign], "s": "OPEN" });
    assert_eq!(s.client.error_code(status, mixed).await, "NOT_FOUND");
    assert_eq!(
        ticket(&s.client, &json!(ids[0])).await["status"],
        "RESOLVED"
    );
    let mixed = json!({ "ids": [ids[0], foreign], "action": "SET", "tags": ["z"] });
    assert_eq!(s.client.error_code(tags, mixed).await, "NOT_FOUND");
    assert_eq!(
        ticket(&s.client, &json!(ids[0])).await["tags"],
        json!(["c"])
    );

    let too_many: Vec<uuid::Uuid> = (0..1001).map(|_| uuid::Uuid::now_v7()).collect();
    let (_, body) = s
        .client
        .post(status, json!({ "ids": too_many, "s": "OPEN" }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "ids");
}

#[tokio::test]
async fn read_keys_cannot_write() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let id = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    for (query, variables) in [
        (
            CREATE,
            json!({ "input": { "distinctId": "v", "message": "hi" } }),
        ),
        (
            "mutation($id: UUID!) { updateTicket(id: $id, input: { status: OPEN }) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: UUID!) { sendMessage(ticketId: $id, content: \"x\") { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: UUID!) { markTicketRead(id: $id) { id } }",
            json!({ "id": id }),
        ),
        (
            "mutation($id: UUID!) { assignTicket(id: $id, assignee: null) { id } }",
            json!({ "id": id }),
        ),
    ] {
        assert_eq!(
            client.error_code(query, variables).await,
            "FORBIDDEN",
            "{query}"
        );
    }
    let count: i64 = tickets::table.count().get_result(&mut db.conn()).unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn snoozed_tickets_wake_up_by_themselves() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let id = fixtures::insert_ticket(
        &mut db.conn(),
        team,
        &TicketSpec {
            status: "on_hold",
            snoozed_until: Some(past),
            ..Default::default()
        },
    );
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::builder(&db.url)
        .options(|o| o.jobs_interval_ms = 100)
        .start();
    let client = server.client(&key);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let t = ticket(&client, &json!(id)).await;
        if t["status"] == "OPEN" {
            assert_eq!(t["snoozedUntil"], Value::Null);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never woke: {t}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
