//! A case made into an HTTP request: generated documents (aliases, nesting, fragment
//! bombs), generated bodies (deep JSON, padding, batches, long lists), placeholders
//! replaced, headers and authorization set; then sent and timed.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::cases::{Case, Generate, NestingStyle, World};

/// Sets `value` at a dotted `path` of `root` (creating objects on the way).
fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut at = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (n, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = json!({});
        }
        let object = at.as_object_mut().expect("object");
        if n + 1 == parts.len() {
            object.insert((*part).to_string(), value);
            return;
        }
        at = object.entry(*part).or_insert_with(|| json!({}));
    }
}

fn nested_object(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

fn nesting(depth: usize, style: NestingStyle) -> String {
    match style {
        NestingStyle::Fields => {
            // ticket(number: 1) is level 1; then messages, nodes, ticket, messages, …
            let cycle = ["messages(first: 1)", "nodes", "ticket"];
            let mut open = String::from("{ ticket(number: 1) ");
            let mut levels = 1;
            let mut i = 0;
            while levels < depth {
                open.push_str("{ ");
                open.push_str(cycle[i % 3]);
                open.push(' ');
                i += 1;
                levels += 1;
            }
            // The innermost field must be an object's scalar: nodes and ticket have `id`,
            // a connection has `pageInfo { hasNextPage }`.
            let last = if depth == 1 {
                "ticket"
            } else {
                cycle[(i - 1) % 3]
            };
            let leaf = if last.starts_with("messages") {
                "{ pageInfo { hasNextPage } }"
            } else {
                "{ id }"
            };
            format!("{open}{leaf}{} }}", " }".repeat(depth - 1))
        }
        NestingStyle::Unknown => format!("{{{}b{}}}", "a{".repeat(depth), "}".repeat(depth)),
        NestingStyle::InlineFragments => format!(
            "{{{}__typename{}}}",
            "... on Query { ".repeat(depth),
            " }".repeat(depth)
        ),
        NestingStyle::ListLiteral => format!(
            "{{ ticket(number: {}1{}) {{ id }} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        NestingStyle::ObjectLiteral => format!(
            "{{ tickets(filter: {}1{}) {{ totalCount }} }}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ),
    }
}

/// A request ready to send.
pub(super) struct Prepared {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, Option<String>)>,
    body: Option<Vec<u8>>,
    chunked: bool,
}

pub(super) fn prepare(case: &Case, world: &World, base: &str) -> Result<Prepared, String> {
    let method_name = case.method.clone().unwrap_or_else(|| "POST".into());
    let method = reqwest::Method::from_bytes(method_name.as_bytes()).map_err(|e| e.to_string())?;
    let is_get = method == reqwest::Method::GET || method == reqwest::Method::HEAD;
    let mut query = case.query.as_deref().map(|q| world.query(q)).transpose()?;
    let mut variables = case.variables.clone();
    let mut raw_body: Option<Vec<u8>> = None;
    match &case.generate {
        None => {}
        Some(Generate::Aliases { count, field }) => {
            let mut text = String::from("{");
            for i in 0..*count {
                let _ = write!(text, " a{i}: {field}");
            }
            text.push_str(" }");
            query = Some(text);
        }
        Some(Generate::Nesting { depth, style }) => query = Some(nesting(*depth, *style)),
        Some(Generate::FragmentBomb { levels, width, on }) => {
            let (on, top, leaf) = match on.as_deref() {
                Some("Me") => ("Me", format!("{{ me {{ ...F{levels} }} }}"), "scopes"),
                _ => ("Query", format!("{{ ...F{levels} }}"), "__typename"),
            };
            let mut text = format!("{top} fragment F0 on {on} {{ {leaf} }}");
            for i in 1..=*levels {
                let spreads = vec![format!("...F{}", i - 1); width.unwrap_or(2)].join(" ");
                let _ = write!(text, " fragment F{i} on {on} {{ {spreads} }}");
            }
            query = Some(text);
        }
        Some(Generate::JsonDepth { depth, path: None }) => {
            raw_body = Some(
                format!(
                    r#"{{"query":"{{ __typename }}","variables":{{"v":{}1{}}}}}"#,
                    r#"{"a":"#.repeat(*depth),
                    "}".repeat(*depth)
                )
                .into_bytes(),
            );
        }
        Some(Generate::JsonDepth {
            depth,
            path: Some(path),
        }) => {
            let root = variables.get_or_insert_with(|| json!({}));
            set_path(root, path, nested_object(*depth));
        }
        Some(Generate::Padding { bytes, style }) => {
            let (head, tail) = match style.as_deref() {
                Some("whitespace") => (r#"{"query":"{ __typename }""#.to_string(), "}"),
                _ => (
                    r#"{"query":"{ __typename }","variables":{"pad":""#.to_string(),
                    r#""}}"#,
                ),
            };
            let fill = bytes.saturating_sub(head.len() + tail.len());
            let filler = if style.as_deref() == Some("whitespace") {
                " "
            } else {
                "x"
            };
            raw_body = Some(format!("{head}{}{tail}", filler.repeat(fill)).into_bytes());
        }
        Some(Generate::Batch { count, query }) => {
            let one = json!({ "query": world.query(query)? }).to_string();
            let mut text = String::with_capacity(count * (one.len() + 1) + 2);
            text.push('[');
            for i in 0..*count {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&one);
            }
            text.push(']');
            raw_body = Some(text.into_bytes());
        }
        Some(Generate::List { path, count, item }) => {
            let items: Vec<Value> = (0..*count)
                .map(|i| match item.as_str() {
                    "uuid" => json!(format!("00000000-0000-4000-8000-{i:012}")),
                    template => json!(template.replace("{i}", &i.to_string())),
                })
                .collect();
            let root = variables.get_or_insert_with(|| json!({}));
            set_path(root, path, Value::Array(items));
        }
        Some(Generate::Repeat { path, text, count }) => {
            let root = variables.get_or_insert_with(|| json!({}));
            set_path(root, path, Value::String(text.repeat(*count)));
        }
    }

    let mut url = format!("{base}{}", case.path.as_deref().unwrap_or("/graphql"));
    if is_get {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(query) = &query {
            pairs.push(("query".into(), query.clone()));
        }
        if let Some(variables) = &variables {
            pairs.push(("variables".into(), variables.to_string()));
        }
        if let Some(name) = &case.operation_name {
            pairs.push(("operationName".into(), name.clone()));
        }
        for (name, value) in case.params.iter().flatten() {
            pairs.push((name.clone(), value.clone()));
        }
        let mut query_string = if pairs.is_empty() {
            String::new()
        } else {
            let mut encoded = reqwest::Url::parse("http://x/").map_err(|e| e.to_string())?;
            encoded.query_pairs_mut().extend_pairs(&pairs);
            encoded.query().unwrap_or_default().to_string()
        };
        if let Some(raw) = &case.query_string {
            if !query_string.is_empty() {
                query_string.push('&');
            }
            query_string.push_str(raw);
        }
        if !query_string.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query_string);
        }
    }

    let body = if let Some(raw) = raw_body {
        Some(raw)
    } else if let Some(encoded) = &case.body_base64 {
        Some(STANDARD.decode(encoded).map_err(|e| e.to_string())?)
    } else if let Some(body) = &case.body {
        Some(match body {
            Value::String(text) => text.clone().into_bytes(),
            Value::Array(items) => {
                // A batch: its entries may name queries too.
                let items = items
                    .iter()
                    .map(|item| {
                        let mut item = item.clone();
                        if let Some(q) = item.get("query").and_then(Value::as_str) {
                            item["query"] = Value::String(world.query(q)?);
                        }
                        Ok(item)
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Value::Array(items).to_string().into_bytes()
            }
            other => other.to_string().into_bytes(),
        })
    } else if !is_get && (query.is_some() || variables.is_some()) {
        let mut body = Map::new();
        if let Some(query) = &query {
            body.insert("query".into(), Value::String(query.clone()));
        }
        if let Some(variables) = &variables {
            body.insert("variables".into(), variables.clone());
        }
        if let Some(name) = &case.operation_name {
            body.insert("operationName".into(), Value::String(name.clone()));
        }
        Some(Value::Object(body).to_string().into_bytes())
    } else {
        None
    };

    let mut headers: Vec<(String, Option<String>)> = vec![(
        "accept".into(),
        Some("application/graphql-response+json".into()),
    )];
    if !is_get {
        headers.push(("content-type".into(), Some("application/json".into())));
    }
    let authorization = match case.auth.as_deref().unwrap_or("team") {
        "team" => Some(format!("Bearer {}", world.substitute("$TEAM_KEY")?)),
        "read" => Some(format!("Bearer {}", world.substitute("$READ_KEY")?)),
        "other-team" => Some(format!("Bearer {}", world.substitute("$OTHER_TEAM_KEY")?)),
        "none" => None,
        literal => Some(literal.to_string()),
    };
    headers.push(("authorization".into(), authorization));
    for (name, value) in &case.headers {
        let name = name.to_ascii_lowercase();
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value.clone()));
    }
    Ok(Prepared {
        method,
        url,
        headers,
        body,
        chunked: case.chunked,
    })
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) text: String,
    pub(super) elapsed: Duration,
}

pub(super) async fn send(http: &reqwest::Client, prepared: Prepared) -> Result<Answer, String> {
    let mut request = http.request(prepared.method, &prepared.url);
    for (name, value) in &prepared.headers {
        if let Some(value) = value {
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| format!("{name}: {e}"))?;
            request = request.header(name.as_str(), value);
        }
    }
    if let Some(body) = prepared.body {
        request = if prepared.chunked {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
            request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        } else {
            request.body(body)
        };
    }
    let started = Instant::now();
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e:?}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("body not read: {e:?}"))?;
    Ok(Answer {
        status,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        elapsed: started.elapsed(),
    })
}
