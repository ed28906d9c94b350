//! `Ticket` follows `ticket.schema.json` (the reference's REST schema) property by
//! property: camelCase name, type, nullability, and a description on every field; and the
//! whole SDL is a reviewed snapshot, so that any change to the schema shows as a diff.

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
        // Declared `ID!` for Relay (`Node`); its value is still the reference's uuid.
        "id" => "ID".to_string(),
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

/// The top-level definitions of an SDL, in order, each with its description: a definition
/// ends where its braces close (or at the end of its line, for scalars and directives).
fn sdl_definitions(sdl: &str) -> Vec<Vec<&str>> {
    let mut definitions = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut in_description = false;
    let mut depth = 0_i32;
    for line in sdl.lines() {
        if !in_description && depth == 0 && line.trim().is_empty() {
            assert!(
                current.is_empty(),
                "a description without a definition: {current:?}"
            );
            continue;
        }
        current.push(line);
        let quotes = line.matches("\"\"\"").count();
        if in_description || quotes > 0 {
            // Block strings: `"""` opens or closes one; `"""text"""` is one of its own.
            in_description ^= quotes % 2 == 1;
            continue;
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if depth == 0 {
            definitions.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.is_empty() && depth == 0,
        "the SDL ends inside {current:?}"
    );
    definitions
}

/// Which snapshot a definition belongs to, by its first line that is not description.
fn sdl_part(definition: &[&str]) -> &'static str {
    let mut in_description = false;
    for line in definition {
        let quotes = line.matches("\"\"\"").count();
        if in_description || quotes > 0 {
            in_description ^= quotes % 2 == 1;
            continue;
        }
        let mut words = line.split(|c: char| c.is_whitespace() || c == '{' || c == '@');
        return match (words.next(), words.next()) {
            (Some("schema"), _) => "operations",
            (Some("type"), Some("Query" | "Mutation" | "Subscription")) => "operations",
            (Some("type" | "interface" | "union"), _) => "object_types",
            (Some("input" | "enum" | "scalar" | "directive"), _) => {
                "inputs_enums_scalars_directives"
            }
            _ => panic!("a new kind of definition, give it a snapshot: {line}"),
        };
    }
    panic!("a definition without a keyword: {definition:?}")
}

/// The SDL `ticketgate print-schema` prints (which `schema.graphql` must equal: see
/// `cli::print_schema_matches_the_committed_schema_graphql`), in three reviewed snapshots:
/// the root operations, the object types, and the inputs, enums, scalars and directives.
#[test]
fn the_printed_schema_keeps_its_reviewed_shape() {
    let sdl = helpers::printed_schema();
    let definitions = sdl_definitions(&sdl);
    // Nothing lost, nothing reordered: the definitions are the SDL, less its blank lines.
    let kept: Vec<&str> = definitions.iter().flatten().copied().collect();
    let printed: Vec<&str> = sdl.lines().filter(|l| !l.trim().is_empty()).collect();
    let kept: Vec<&str> = kept.into_iter().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(kept, printed);
    for part in [
        "operations",
        "object_types",
        "inputs_enums_scalars_directives",
    ] {
        let text: Vec<String> = definitions
            .iter()
            .filter(|definition| sdl_part(definition) == part)
            .map(|definition| definition.join("\n"))
            .collect();
        assert!(!text.is_empty(), "no {part} in the SDL");
        let definitions = text.join("\n\n");
        insta::assert_snapshot!(format!("schema_sdl_{part}"), definitions);
    }
}
