//! API keys: `tg_` + 43 url-safe characters (256 random bits). Only a SHA-256 of the key
//! is stored; lookups compare hashes through the unique index, so the clear key never
//! reaches the database or the logs.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::viewer::{Scope, Viewer};
use crate::db::schema::api_keys;

pub const KEY_PREFIX: &str = "tg_";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub team_id: Uuid,
    pub user_id: Option<Uuid>,
    pub name: String,
    pub key_prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn viewer(&self) -> Viewer {
        Viewer {
            team_id: self.team_id,
            user_id: self.user_id,
            key_id: Some(self.id),
            scopes: self.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            customer: None,
            expires_at: None,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
struct NewApiKey<'a> {
    id: Uuid,
    team_id: Uuid,
    user_id: Option<Uuid>,
    name: &'a str,
    key_hash: Vec<u8>,
    key_prefix: String,
    scopes: Vec<String>,
}

pub fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Creates a key and returns it in clear, the only time it is ever visible.
pub fn create(
    conn: &mut PgConnection,
    team_id: Uuid,
    user_id: Option<Uuid>,
    name: &str,
    scopes: &[Scope],
) -> QueryResult<(ApiKey, String)> {
    let key = generate_key();
    let row = diesel::insert_into(api_keys::table)
        .values(NewApiKey {
            id: Uuid::now_v7(),
            team_id,
            user_id,
            name,
            key_hash: hash_key(&key),
            key_prefix: key.chars().take(KEY_PREFIX.len() + 6).collect(),
            scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
        })
        .returning(ApiKey::as_returning())
        .get_result(conn)?;
    Ok((row, key))
}

/// The live key whose clear text hashes to `hash`, if any.
pub fn find_active_by_hash(conn: &mut PgConnection, hash: &[u8]) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::key_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
}

pub fn list_for_team(conn: &mut PgConnection, team_id: Uuid) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .filter(api_keys::team_id.eq(team_id))
        .order(api_keys::created_at)
        .select(ApiKey::as_select())
        .load(conn)
}

/// Records when keys were last used: requests note it in memory, and a background task
/// writes all of it at once every so often, instead of one write per request.
#[derive(Default)]
pub struct LastUsedTracker {
    pending: Mutex<HashMap<Uuid, DateTime<Utc>>>,
}

impl LastUsedTracker {
    pub fn touch(&self, key_id: Uuid) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(key_id, Utc::now());
        }
    }

    fn take(&self) -> HashMap<Uuid, DateTime<Utc>> {
        self.pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default()
    }

    /// Writes what was noted since the last flush: one statement whatever the number of keys.
    pub fn flush(&self, conn: &mut PgConnection) -> QueryResult<usize> {
        let pending = self.take();
        if pending.is_empty() {
            return Ok(0);
        }
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = pending.into_iter().unzip();
        diesel::sql_query(
            "UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.used_at) \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, used_at) WHERE k.id = u.id",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Timestamptz>, _>(times)
        .execute(conn)
    }
}

/// Key changes are announced on `events::outbox::REVOKED_CHANNEL` by a trigger.
pub use crate::events::outbox::REVOKED_CHANNEL;

/// Revokes the team's live key with this id or prefix; returns how many matched (only a
/// single match is revoked). The trigger announces it to every replica on commit.
pub fn revoke(conn: &mut PgConnection, team_id: Uuid, id_or_prefix: &str) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let live = api_keys::table
            .filter(api_keys::team_id.eq(team_id))
            .filter(api_keys::revoked_at.is_null());
        let matches: Vec<Uuid> = match Uuid::parse_str(id_or_prefix) {
            Ok(id) => live
                .filter(api_keys::id.eq(id))
                .select(api_keys::id)
                .load(conn)?,
            Err(_) => live
                .filter(api_keys::key_prefix.eq(id_or_prefix.trim_end_matches('…')))
                .select(api_keys::id)
                .load(conn)?,
        };
        if let [id] = matches.as_slice() {
            diesel::update(api_keys::table.find(id))
                .set(api_keys::revoked_at.eq(diesel::dsl::now))
                .execute(conn)?;
        }
        Ok(matches.len())
    })
}
