//! Automatic persisted queries (Apollo's protocol): a client sends the SHA-256 of its
//! query instead of the query; an unknown hash answers `PersistedQueryNotFound`, and the
//! client sends hash and query once, which registers it for its team.
//!
//! Hand-written rather than async-graphql's `ApolloPersistedQueries` extension: any
//! extension sends every field down async-graphql's slow path (see `schema/gateway.rs`),
//! and that extension keeps its queries in one process, while registered operations must
//! be shared by every replica (they live in Postgres; each replica caches a few in memory).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ErrorCode;

/// Automatic persisted queries a team may have registered; past it, its oldest are
/// forgotten (a client whose hash was forgotten simply sends its query again).
pub const MAX_PER_TEAM: i64 = 2000;

/// Registered queries each replica keeps in memory.
const CACHED: usize = 4096;

/// Longest query that is registered (longer ones run, but are not kept).
const MAX_QUERY_BYTES: usize = 64 * 1024;

/// What `extensions.persistedQuery` asks for: the hash of the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hash(String);

impl Hash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `query` is what this hash names.
    pub fn matches(&self, query: &str) -> bool {
        sha256_hex(query) == self.0
    }
}

pub fn sha256_hex(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

/// Reads `extensions.persistedQuery` (None when the request has none): version 1 and a
/// SHA-256 in hex (any letter case; kept in lower case). The error says what is wrong
/// (code `PERSISTED_QUERY_INVALID`).
pub fn requested(extensions: &Value) -> Result<Option<Hash>, &'static str> {
    let Some(persisted) = extensions.get("persistedQuery") else {
        return Ok(None);
    };
    if persisted.get("version").and_then(Value::as_i64) != Some(1) {
        return Err("persistedQuery: only version 1 is supported");
    }
    let hash = persisted
        .get("sha256Hash")
        .and_then(Value::as_str)
        .ok_or("persistedQuery: `sha256Hash` (a string) is required")?;
    if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err("persistedQuery: `sha256Hash` must be 64 hexadecimal digits");
    }
    Ok(Some(Hash(hash.to_ascii_lowercase())))
}

/// The error Apollo's persisted-query links wait for to send the query.
pub fn not_found() -> async_graphql::ServerError {
    ErrorCode::PersistedQueryNotFound.server_error("PersistedQueryNotFound", None)
}

pub fn mismatch() -> async_graphql::ServerError {
    ErrorCode::PersistedQueryInvalid.server_error("provided sha does not match query", None)
}

#[derive(QueryableByName)]
struct QueryRow {
    #[diesel(sql_type = Text)]
    query: String,
}

/// The query a team registered under `hash`.
pub fn find(conn: &mut PgConnection, team: Uuid, hash: &Hash) -> QueryResult<Option<String>> {
    let row: Option<QueryRow> = diesel::sql_query(
        "SELECT query FROM persisted_operations WHERE team_id = $1 AND sha256 = $2",
    )
    .bind::<SqlUuid, _>(team)
    .bind::<Text, _>(hash.as_str())
    .get_result(conn)
    .optional()?;
    Ok(row.map(|row| row.query))
}

/// Registers an automatic persisted query for `team` and forgets the team's oldest past
/// `MAX_PER_TEAM`, in one statement.
pub fn register(conn: &mut PgConnection, team: Uuid, hash: &Hash, query: &str) -> QueryResult<()> {
    diesel::sql_query(
        "WITH added AS ( \
             INSERT INTO persisted_operations (team_id, sha256, query) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1) \
         DELETE FROM persisted_operations WHERE team_id = $1 \
           AND EXISTS (SELECT 1 FROM added) \
           AND sha256 IN (SELECT sha256 FROM persisted_operations WHERE team_id = $1 \
                          ORDER BY created_at DESC, sha256 OFFSET $4)",
    )
    .bind::<SqlUuid, _>(team)
    .bind::<Text, _>(hash.as_str())
    .bind::<Text, _>(query)
    .bind::<BigInt, _>(MAX_PER_TEAM - 1)
    .execute(conn)
    .map(|_| ())
}

/// Registered queries by team and hash, least recently used first out.
type Entries = LruCache<(Uuid, String), Arc<str>>;

/// Registered queries this replica has seen lately, by team and hash.
#[derive(Clone)]
pub struct PersistedCache {
    entries: Arc<Mutex<Entries>>,
}

impl Default for PersistedCache {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CACHED).unwrap_or(NonZeroUsize::MIN);
        PersistedCache {
            entries: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }
}

impl PersistedCache {
    pub fn get(&self, team: Uuid, hash: &Hash) -> Option<Arc<str>> {
        self.lock().get(&(team, hash.0.clone())).cloned()
    }

    pub fn put(&self, team: Uuid, hash: &Hash, query: &str) {
        if query.len() <= MAX_QUERY_BYTES {
            self.lock().put((team, hash.0.clone()), query.into());
        }
    }

    /// Whether a query of this size is registered at all.
    pub fn keeps(query: &str) -> bool {
        query.len() <= MAX_QUERY_BYTES
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_extension_is_read_strictly() {
        let hash = sha256_hex("{ __typename }");
        let ok = requested(
            &json!({ "persistedQuery": { "version": 1, "sha256Hash": hash.to_uppercase() } }),
        );
        assert_eq!(ok.unwrap(), Some(Hash(hash.clone())));
        assert_eq!(requested(&json!({})).unwrap(), None);
        for bad in [
            json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }),
            json!({ "persistedQuery": { "version": 1 } }),
            json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
            json!({ "persistedQuery": { "version": 1, "sha256Hash": "g".repeat(64) } }),
            json!({ "persistedQuery": "yes" }),
        ] {
            assert!(requested(&bad).is_err(), "{bad}");
        }
        assert!(Hash(hash).matches("{ __typename }"));
    }
}
