//! Introspection as the tools send it: graphql-js's own `getIntrospectionQuery()` (run
//! through Node, not a copied string) passes under the default limits, with its defaults
//! and with every option on, while deeper `ofType` chains and deep data queries are still
//! refused; and introspection can be turned off, and is never open to customer tokens.

use std::process::Command;

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::node::node_modules;
use crate::helpers::server::{customer_token, TestServer};
use crate::helpers::{self, fixtures, test_db};

/// The queries `tests/node/introspection.mjs` prints.
fn tool_queries() -> Vec<(String, String)> {
    let output = Command::new("node")
        .arg("introspection.mjs")
        .current_dir(node_modules())
        .output()
        .expect("run node introspection.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let printed: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("NODE_JSON "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| {
            panic!(
                "no queries from introspection.mjs:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let queries: Vec<(String, String)> = printed
        .as_object()
        .expect("an object")
        .iter()
        .map(|(name, query)| (name.clone(), query.as_str().expect("text").to_owned()))
        .collect();
    assert_eq!(queries.len(), 2);
    queries
}

fn of_type_chain(levels: usize) -> String {
    let mut chain = String::from("name");
    for _ in 0..levels {
        chain = format!("kind ofType {{ {chain} }}");
    }
    chain
}

#[tokio::test]
async fn the_tools_introspection_query_passes_the_default_limits() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    for (options, query) in tool_queries() {
        let data = client.data(&query, json!({})).await;
        let types = data["__schema"]["types"].as_array().expect("types");
        let ticket = types
            .iter()
            .find(|ty| ty["name"] == "Ticket")
            .unwrap_or_else(|| panic!("{options}: no Ticket type"));
        assert!(
            ticket["fields"]
                .as_array()
                .is_some_and(|fields| fields.iter().any(|f| f["name"] == "ticketNumber")),
            "{options}: Ticket without its fields"
        );
        assert_eq!(data["__schema"]["queryType"]["name"], "Query", "{options}");
    }

    // Introspection's own bound: a chain past what any tool sends is refused…
    let deep = format!(
        "{{ __type(name: \"Ticket\") {{ fields {{ type {{ {} }} }} }} }}",
        of_type_chain(25)
    );
    assert_eq!(client.error_code(&deep, json!({})).await, "QUERY_TOO_DEEP");
    // …and the depth limit on data (12) is where it was.
    let mut data = String::from("id");
    for _ in 0..6 {
        data = format!("ticket {{ messages {{ nodes {{ {data} }} }} }}");
    }
    let data = format!("{{ tickets {{ nodes {{ {data} }} }} }}");
    assert_eq!(client.error_code(&data, json!({})).await, "QUERY_TOO_DEEP");
    // Twelve levels still run; thirteen do not.
    let twelve = "{ tickets(first: 1) { nodes { messages(first: 1) { nodes { ticket { \
                  messages(first: 1) { nodes { ticket { messages(first: 1) { nodes { \
                  ticket { id } } } } } } } } } } } }";
    let thirteen = twelve.replace("ticket { id }", "ticket { person { id } }");
    assert_eq!(
        client.error_code(&thirteen, json!({})).await,
        "QUERY_TOO_DEEP"
    );
    client.data(twelve, json!({})).await;
}

#[tokio::test]
async fn introspection_can_be_turned_off_and_is_closed_to_customers() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let on = TestServer::start(&db.url);
    let customer = on.client(&customer_token(team, "alice", 600));
    let schema = "{ __schema { queryType { name } } }";
    for query in [
        schema,
        "{ __type(name: \"Ticket\") { name } }",
        "{ ...F } fragment F on Query { ... { __schema { types { name } } } }",
    ] {
        let (status, body) = customer.post(query, json!({})).await;
        assert!(status < 500, "{status}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "INTROSPECTION_DISABLED",
            "{query}: {body}"
        );
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    }
    // What a customer's client needs still works.
    let data = customer.data("{ __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Query");
    assert_eq!(
        on.client(&key).data(schema, json!({})).await["__schema"]["queryType"]["name"],
        "Query"
    );

    let off = TestServer::builder(&db.url)
        .options(|options| options.introspection = false)
        .start();
    let client = off.client(&key);
    assert_eq!(
        client.error_code(schema, json!({})).await,
        "INTROSPECTION_DISABLED"
    );
    // Only the operation that runs counts.
    let body: Value = client
        .http
        .post(&client.endpoint)
        .bearer_auth(&client.key)
        .json(&json!({
            "query": format!("query Plain {{ __typename }} query Schema {schema}"),
            "operationName": "Plain",
        }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}
