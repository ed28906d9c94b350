//! Reading the manifests clients produce of their operations, for trusted documents:
//!
//! - graphql-codegen's client preset (`persisted-documents.json`) and Relay's
//!   `persisted_queries.json` / query maps: one JSON object, id → document text;
//! - Apollo's persisted query manifest: `{"format": "apollo-persisted-query-manifest",
//!   "version": 1, "operations": [{"id", "body", …}]}`.
//!
//! A manifest is taken whole or not at all: a syntax error, a duplicate id (serde would
//! keep the last one silently, so objects are read entry by entry here), an id we cannot
//! store, a document that does not parse, or an id that looks like a SHA-256 but is not
//! its document's refuses the file, saying where.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::persisted::sha256_hex;

/// One operation of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub sha256: String,
    pub text: String,
}

/// The entries of a JSON object in file order, duplicates kept (to be refused).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[derive(Deserialize)]
struct ApolloOperation {
    id: String,
    body: String,
}

/// The documents of a manifest, or why the whole file is refused.
pub fn parse(json: &str) -> Result<Vec<Document>, String> {
    let Entries(entries) =
        serde_json::from_str(json).map_err(|err| format!("not a JSON object manifest: {err}"))?;
    let is_apollo = entries
        .iter()
        .any(|(key, value)| key == "format" && value == "apollo-persisted-query-manifest");
    let pairs: Vec<(String, String)> = if is_apollo {
        apollo_operations(entries)?
    } else {
        entries
            .into_iter()
            .map(|(id, text)| match text {
                serde_json::Value::String(text) => Ok((id, text)),
                _ => Err(format!("`{id}`: the document must be a string")),
            })
            .collect::<Result<_, _>>()?
    };
    if pairs.is_empty() {
        return Err("the manifest has no operations".into());
    }
    let mut seen = HashSet::new();
    pairs
        .into_iter()
        .map(|(id, text)| {
            if !seen.insert(id.clone()) {
                return Err(format!("`{id}` appears twice"));
            }
            document(id, text)
        })
        .collect()
}

fn apollo_operations(
    entries: Vec<(String, serde_json::Value)>,
) -> Result<Vec<(String, String)>, String> {
    let mut operations = None;
    for (key, value) in entries {
        match key.as_str() {
            "format" => {}
            "version" if value == 1 => {}
            "version" => return Err(format!("Apollo manifest version {value}: only 1 is read")),
            "operations" => {
                let list: Vec<ApolloOperation> =
                    serde_json::from_value(value).map_err(|err| format!("`operations`: {err}"))?;
                operations = Some(list);
            }
            _ => {}
        }
    }
    let operations = operations.ok_or("an Apollo manifest needs `operations`")?;
    Ok(operations.into_iter().map(|op| (op.id, op.body)).collect())
}

fn document(id: String, text: String) -> Result<Document, String> {
    let valid_id = (1..=200).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-'));
    if !valid_id {
        return Err(format!(
            "`{}`: an id is 1 to 200 letters, digits and `:._-`",
            id.chars().take(60).collect::<String>()
        ));
    }
    async_graphql::parser::parse_query(&text)
        .map_err(|err| format!("`{id}`: the document does not parse: {err}"))?;
    let sha256 = sha256_hex(&text);
    let named_hash = id.strip_prefix("sha256:").unwrap_or(&id);
    let looks_like_sha256 =
        named_hash.len() == 64 && named_hash.bytes().all(|b| b.is_ascii_hexdigit());
    if looks_like_sha256 && !named_hash.eq_ignore_ascii_case(&sha256) {
        return Err(format!(
            "`{id}`: the id is not the SHA-256 of its document ({sha256})"
        ));
    }
    Ok(Document { id, sha256, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "query A { __typename }";

    #[test]
    fn reads_id_to_text_maps_and_apollo_manifests() {
        let hash = sha256_hex(Q);
        let codegen = format!(r#"{{"{hash}": "{Q}"}}"#);
        assert_eq!(parse(&codegen).unwrap()[0].id, hash);
        let relay = format!(r#"{{"5f1a2b": "{Q}", "c0ffee": "query B {{ __typename }}"}}"#);
        assert_eq!(parse(&relay).unwrap().len(), 2);
        let apollo = format!(
            r#"{{"format": "apollo-persisted-query-manifest", "version": 1,
                "operations": [{{"id": "{hash}", "name": "A", "type": "query", "body": "{Q}"}}]}}"#
        );
        assert_eq!(parse(&apollo).unwrap()[0].sha256, hash);
    }

    #[test]
    fn refuses_the_whole_file_on_any_bad_entry() {
        let hash = sha256_hex(Q);
        let wrong_hash = sha256_hex("query B { __typename }");
        for (bad, why) in [
            (
                r#"{"a": "query A { __typename }", "a": "query B { __typename }"}"#.to_string(),
                "twice",
            ),
            (r#"{"a": "query A { "}"#.to_string(), "does not parse"),
            (r#"{"a": 7}"#.to_string(), "must be a string"),
            (
                r#"{"a b": "query A { __typename }"}"#.to_string(),
                "an id is",
            ),
            (r#"{}"#.to_string(), "no operations"),
            (r#"["query A { __typename }"]"#.to_string(), "JSON object"),
            (
                r#"{"a": "query A { __typename }""#.to_string(),
                "JSON object",
            ),
            (format!(r#"{{"{wrong_hash}": "{Q}"}}"#), "not the SHA-256"),
            (
                format!(r#"{{"sha256:{wrong_hash}": "{Q}"}}"#),
                "not the SHA-256",
            ),
            (
                r#"{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}"#
                    .to_string(),
                "version",
            ),
        ] {
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(parse(&format!(r#"{{"sha256:{hash}": "{Q}"}}"#)).is_ok());
    }
}
