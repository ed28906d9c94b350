//! `Ticket` follows `ticket.schema.json` (the reference's REST schema) property by
//! property: camelCase name, type, nullability, and a description on every field.

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::{self, fixtures, test_db, TestServer};

const INTROSPECT: &str = r#"query($name: String!) {
  __type(name: $name) {
    fields {
      name
      description
      type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
    }
  }
}"#;

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The GraphQL type a reference property must have, printed as in SDL.
fn expected_type(name: &str, property: &Value) -> String {
    let named = match name {
        "id" => "UUID".to_string(),
        "channel_source" => "ChannelSource".into(),
        "channel_detail" => "ChannelDetail".into(),
        "status" => "TicketStatus".into(),
        "priority" => "TicketPriority".into(),
        "assignee" => "TicketAssignment".into(),
        "person" => "TicketPerson".into(),
        "tags" => "[String!]".into(),
        _ => match (property["type"].as_str(), property["format"].as_str()) {
            (Some("integer"), _) => "Int".into(),
            (Some("boolean"), _) => "Boolean".into(),
            (Some("string"), Some("date-time")) => "DateTime".into(),
            (Some("string"), Some("uuid")) => "UUID".into(),
            (Some("string"), _) => "String".into(),
            (None, _) => "JSON".into(),
            (Some(other), _) => panic!("unmapped type {other} of {name}"),
        },
    };
    // `assignee` is the one exception: null when unassigned, as the reference returns it.
    let nullable = property["nullable"] == json!(true) || name == "assignee";
    if nullable {
        named
    } else {
        format!("{named}!")
    }
}

fn printed(ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", printed(&ty["ofType"])),
        "LIST" => format!("[{}]", printed(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_string(),
    }
}

#[tokio::test]
async fn ticket_matches_the_reference_schema_field_by_field() {
    let reference: Value =
        serde_json::from_str(include_str!("../fixtures/ticket.schema.json")).unwrap();
    let properties = reference["properties"].as_object().unwrap();
    assert_eq!(properties.len(), 31);

    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let data = server
        .client(&key)
        .data(INTROSPECT, json!({ "name": "Ticket" }))
        .await;
    let fields = data["__type"]["fields"].as_array().unwrap();

    for (name, property) in properties {
        let field = fields
            .iter()
            .find(|f| f["name"] == camel(name))
            .unwrap_or_else(|| panic!("Ticket has no field for `{name}` ({})", camel(name)));
        assert_eq!(
            printed(&field["type"]),
            expected_type(name, property),
            "type of {name}"
        );
    }
    for field in fields {
        let description = field["description"].as_str().unwrap_or("");
        assert!(
            !description.trim().is_empty(),
            "{} has no description",
            field["name"]
        );
    }
    // Beyond the reference: only the conversation itself.
    let extra: Vec<&str> = fields
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .filter(|n| !properties.keys().any(|p| camel(p) == *n))
        .collect();
    assert_eq!(extra, vec!["messages"]);

    // The enums hold exactly the reference's values.
    let enums = server
        .client(&key)
        .data(
            r#"{ s: __type(name: "TicketStatus") { enumValues { name } }
                 p: __type(name: "TicketPriority") { enumValues { name } }
                 c: __type(name: "ChannelSource") { enumValues { name } }
                 d: __type(name: "ChannelDetail") { enumValues { name } } }"#,
            json!({}),
        )
        .await;
    let names = |key: &str| -> Vec<String> {
        enums[key]["enumValues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("s"),
        ["NEW", "OPEN", "PENDING", "ON_HOLD", "RESOLVED"]
    );
    assert_eq!(names("p"), ["LOW", "MEDIUM", "HIGH"]);
    assert_eq!(names("c"), ["WIDGET", "EMAIL", "SLACK", "TEAMS"]);
    assert_eq!(
        names("d"),
        [
            "SLACK_CHANNEL_MESSAGE",
            "SLACK_BOT_MENTION",
            "SLACK_EMOJI_REACTION",
            "TEAMS_CHANNEL_MESSAGE",
            "TEAMS_BOT_MENTION",
            "WIDGET_EMBEDDED",
            "WIDGET_API"
        ]
    );
}
