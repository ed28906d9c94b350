//! Leak detection: what counts as a leak in a response (cursors and tokens decoded), the
//! codes and outcome of a response, and a test of the detectors themselves.

use base64::Engine;
use serde_json::{json, Value};

use super::operations::READ;
use super::world::world;
use crate::helpers::server::customer_token;

/// The base64 parts of every string of a response, decoded (cursors, tokens).
fn decoded_parts(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            let s = s.strip_prefix("tgc_").unwrap_or(s);
            for piece in s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
                if piece.len() < 8 {
                    continue;
                }
                let engines = [
                    base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    base64::engine::general_purpose::STANDARD_NO_PAD,
                ];
                for engine in engines {
                    if let Ok(Ok(text)) = engine.decode(piece).map(String::from_utf8) {
                        out.push('\n');
                        out.push_str(&text);
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| decoded_parts(v, out)),
        Value::Object(map) => map.values().for_each(|v| decoded_parts(v, out)),
        _ => {}
    }
}

/// The secrets found in a response (case-insensitive, cursors and tokens decoded).
pub(super) fn leaks(body: &Value, secrets: &[String]) -> Vec<String> {
    let mut haystack = body.to_string();
    decoded_parts(body, &mut haystack);
    let haystack = haystack.to_lowercase();
    secrets
        .iter()
        .filter(|s| haystack.contains(&s.to_lowercase()))
        .cloned()
        .collect()
}

pub(super) fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `NOT_FOUND`, `FORBIDDEN`, `data`, or `data + FORBIDDEN` (partial data).
pub(super) fn outcome(body: &Value) -> String {
    let mut codes: Vec<String> = codes(body);
    codes.dedup();
    let has_data = body["data"]
        .as_object()
        .is_some_and(|d| d.values().any(|v| !v.is_null()));
    match (has_data, codes.is_empty()) {
        (true, true) => "data".into(),
        (true, false) => format!("data + {}", codes.join(",")),
        (false, _) => codes.join(","),
    }
}

/// The detectors themselves: an id inside a cursor and a distinct id inside a token are
/// found; a change of a team's rows shows in its snapshot, and only in its own.
#[tokio::test]
async fn the_detectors_see_what_they_must() {
    let w = world();
    let b = w.server.client(&w.b_rw);
    let page = b
        .data(
            "{ tickets(first: 1) { nodes { id } pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let id = page["tickets"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cursor_only = json!({ "cursor": page["tickets"]["pageInfo"]["endCursor"] });
    assert_eq!(leaks(&cursor_only, std::slice::from_ref(&id)), [id]);
    let token_only = json!({ "token": customer_token(w.b, "bravo-x-cust", 60) });
    assert_eq!(
        leaks(&token_only, &["BRAVO-X-CUST".to_string()]),
        ["BRAVO-X-CUST"]
    );
    let before = w.snapshot();
    b.data(READ, json!({ "id": w.bx1 })).await;
    let after = w.snapshot();
    assert_eq!(before.0, after.0, "team A's rows did not change");
    assert_ne!(before.1, after.1, "team B's did");
}
