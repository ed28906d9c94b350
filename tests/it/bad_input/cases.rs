//! The corpus's case format (`tests/corpus/README.md`), the placeholders a case may use,
//! and the cursors a case may forge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The placeholder a case's `forge_cursor` fills.
pub(super) const FORGED: &str = "$FORGED_CURSOR";

pub(super) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Case {
    pub(super) name: String,
    #[serde(default)]
    pub(super) method: Option<String>,
    #[serde(default)]
    pub(super) path: Option<String>,
    /// Header overrides; `null` removes a default header.
    #[serde(default)]
    pub(super) headers: BTreeMap<String, Option<String>>,
    /// `team` (default), `read`, `other-team`, `none`, or a literal `Authorization` value.
    #[serde(default)]
    pub(super) auth: Option<String>,
    /// The GraphQL document (`@NAME`: from `queries.json`), with `variables` and
    /// `operationName`: a JSON body for POST, URL parameters for GET.
    #[serde(default)]
    pub(super) query: Option<String>,
    #[serde(default)]
    pub(super) variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    pub(super) operation_name: Option<String>,
    /// The body: a string is sent as is, any other JSON value serialized.
    #[serde(default)]
    pub(super) body: Option<Value>,
    #[serde(default)]
    pub(super) body_base64: Option<String>,
    /// GET: URL parameters (encoded by the runner) or a raw query string.
    #[serde(default)]
    pub(super) params: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) query_string: Option<String>,
    #[serde(default)]
    pub(super) generate: Option<Generate>,
    /// Builds `$FORGED_CURSOR` from a real cursor (see the README).
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) forge_cursor: Option<Value>,
    /// Send the body as a chunked stream, without Content-Length.
    #[serde(default)]
    pub(super) chunked: bool,
    pub(super) expect: Expect,
    #[serde(default)]
    pub(super) known_bug: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Expect {
    #[serde(default)]
    pub(super) status: Option<u16>,
    #[serde(default)]
    pub(super) status_in: Option<Vec<u16>>,
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) field: Option<String>,
    #[serde(default)]
    pub(super) data_absent: bool,
    #[serde(default)]
    pub(super) data_null: bool,
    #[serde(default)]
    pub(super) no_errors: bool,
    /// The exact `data` (for documents that must run, and what they must answer).
    #[serde(default)]
    pub(super) data: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) not_json: bool,
    #[serde(default)]
    pub(super) not_contains: Vec<String>,
    #[serde(default)]
    pub(super) batch_codes: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub(super) max_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum Generate {
    /// `{ a0: <field> a1: <field> … }`
    Aliases { count: usize, field: String },
    /// A selection (or argument value) nested `depth` levels deep.
    Nesting { depth: usize, style: NestingStyle },
    /// Fragments F1…Fn on `on` (Query, or Me under `me`), each spreading the one below
    /// `width` times (default 2).
    FragmentBomb {
        levels: usize,
        #[serde(default)]
        width: Option<usize>,
        #[serde(default)]
        on: Option<String>,
    },
    /// `{"a":{"a":…}}` nested `depth` deep: at `path` in the variables, or (without a path)
    /// as an undeclared variable `v` of a raw body.
    JsonDepth {
        depth: usize,
        #[serde(default)]
        path: Option<String>,
    },
    /// A body of exactly `bytes` bytes around `{ __typename }`.
    Padding {
        bytes: usize,
        #[serde(default)]
        style: Option<String>,
    },
    /// A JSON array of `count` copies of `{"query": query}`.
    Batch { count: usize, query: String },
    /// A list of `count` items at `path` in the variables; `{i}` in `item` is the index,
    /// `uuid` makes distinct UUIDs.
    List {
        path: String,
        count: usize,
        item: String,
    },
    /// `text` repeated `count` times at `path` in the variables.
    Repeat {
        path: String,
        text: String,
        count: usize,
    },
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(super) enum NestingStyle {
    /// Real fields: ticket → messages → nodes → ticket → …
    Fields,
    /// `{ a { a { … } } }`
    Unknown,
    /// `{ … on Query { … on Query { … } } }`
    InlineFragments,
    /// `ticket(number: [[[…1…]]])`
    ListLiteral,
    /// `tickets(filter: {a: {a: …}})`
    ObjectLiteral,
}

/// What one run of the corpus knows about its fixtures.
pub(super) struct World {
    pub(super) placeholders: Vec<(String, String)>,
    pub(super) queries: BTreeMap<String, String>,
    pub(super) secrets: Vec<String>,
}

impl World {
    /// Replaces every placeholder (longest first) and refuses unknown ones.
    pub(super) fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = text.to_string();
        for (name, value) in &self.placeholders {
            out = out.replace(name.as_str(), value);
        }
        // `$FORGED_CURSOR` is made per case, after this.
        if let Some(unknown) = leftover_placeholder(&out.replace(FORGED, "")) {
            return Err(format!("unknown placeholder {unknown}"));
        }
        Ok(out)
    }

    pub(super) fn query(&self, query: &str) -> Result<String, String> {
        match query.strip_prefix('@') {
            Some(name) if self.queries.contains_key(name) => Ok(self.queries[name].clone()),
            Some(name) if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                Err(format!("unknown named query @{name}"))
            }
            _ => Ok(query.to_string()),
        }
    }
}

/// `$` followed by three or more capitals or underscores: a placeholder nobody replaced.
fn leftover_placeholder(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        if bytes[i] != b'$' {
            return None;
        }
        let name: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        (name.len() >= 3).then(|| format!("${name}"))
    })
}

/// The cursor checksum, as `graphql::pagination` computes it.
fn cursor_checksum(query: &str, key: &Value, id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ticketgate-cursor-v1");
    hasher.update(query.as_bytes());
    hasher.update(key.to_string().as_bytes());
    if let Ok(id) = Uuid::parse_str(id) {
        hasher.update(id.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// `forge_cursor`: `from` (a cursor), then `flip_char` (change one character of the
/// encoded text), or `set` (replace fields of its JSON: `k`, `i`, `q`) and `resign`
/// (recompute the checksum, as anyone can: it is not keyed).
pub(super) fn forge_cursor(spec: &Value) -> Result<String, String> {
    let from = spec["from"].as_str().ok_or("forge_cursor.from")?;
    if spec["flip_char"].as_bool() == Some(true) {
        let mut bytes = from.as_bytes().to_vec();
        let at = bytes.len() / 2;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        return String::from_utf8(bytes).map_err(|e| e.to_string());
    }
    let json = URL_SAFE_NO_PAD
        .decode(from)
        .map_err(|e| format!("forge_cursor.from is not a cursor: {e}"))?;
    let mut body: Map<String, Value> =
        serde_json::from_slice(&json).map_err(|e| format!("forge_cursor.from: {e}"))?;
    if let Some(set) = spec["set"].as_object() {
        for (name, value) in set {
            body.insert(name.clone(), value.clone());
        }
    }
    if spec["resign"].as_bool() == Some(true) {
        let q = body.get("q").and_then(Value::as_str).unwrap_or_default();
        let i = body.get("i").and_then(Value::as_str).unwrap_or_default();
        let k = body.get("k").cloned().unwrap_or(Value::Null);
        let c = cursor_checksum(q, &k, i);
        body.insert("c".into(), Value::String(c));
    }
    Ok(URL_SAFE_NO_PAD.encode(Value::Object(body).to_string()))
}
