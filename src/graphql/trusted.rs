//! Trusted documents: operations an operator pushed ahead of time from a client's manifest
//! (`ticketgate documents push`, see `cli::documents`), run by their id, and — with
//! `TICKETGATE_TRUSTED_DOCUMENTS=only` — the only operations that run at all, over HTTP
//! and websockets alike (the gateway asks `permits` before anything else).
//!
//! Documents belong to the deployment, not to a team: a dashboard ships the same
//! operations to every team. Each replica keeps the ones it has used in memory; a miss is
//! one look-up by primary key or by the `sha256` index.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::ServerError;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use lru::LruCache;

use super::persisted::sha256_hex;
use crate::auth::Viewer;
use crate::db::Db;
use crate::error::{AppResult, ErrorCode};

/// Documents each replica keeps in memory, by id and by SHA-256.
const CACHED: usize = 4096;

/// Whether operations that were not pushed ahead of time may run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TrustedMode {
    /// Any operation runs; trusted documents also run by their id.
    #[default]
    Allow,
    /// Only trusted documents run (sent by id, or as their exact text).
    Only,
}

/// The trusted documents as a replica serves them.
#[derive(Clone)]
pub struct TrustedDocuments {
    db: Db,
    mode: TrustedMode,
    /// In `only` mode, whether team API keys (not customer tokens) may run any operation:
    /// what GraphiQL needs. Off unless an operator turns it on.
    team_keys_run_anything: bool,
    /// Texts by id, and `sha256:<hex>` → text for documents seen by their text.
    cache: Arc<Mutex<LruCache<String, Arc<str>>>>,
}

impl TrustedDocuments {
    pub fn new(db: Db, mode: TrustedMode, team_keys_run_anything: bool) -> Self {
        let capacity = NonZeroUsize::new(CACHED).unwrap_or(NonZeroUsize::MIN);
        TrustedDocuments {
            db,
            mode,
            team_keys_run_anything,
            cache: Arc::new(Mutex::new(LruCache::new(capacity))),
        }
    }

    pub fn mode(&self) -> TrustedMode {
        self.mode
    }

    /// The text of the trusted document with this id (a manifest's id, or the SHA-256 of
    /// its text, optionally written `sha256:<hex>`).
    pub async fn by_id(&self, id: &str) -> AppResult<Option<Arc<str>>> {
        if let Some(text) = self.cached(id) {
            return Ok(Some(text));
        }
        let key = id.to_string();
        let found = self.db.run(move |conn| Ok(find(conn, &key)?)).await?;
        Ok(found.map(|text| self.keep(id, text)))
    }

    /// Refuses an operation that may not run in `only` mode (TRUSTED_DOCUMENT_REQUIRED):
    /// its exact text must be a trusted document's.
    pub async fn permits(&self, viewer: Option<&Viewer>, query: &str) -> Result<(), ServerError> {
        if self.mode == TrustedMode::Allow {
            return Ok(());
        }
        let team_key = viewer.is_some_and(|viewer| !viewer.is_customer());
        if team_key && self.team_keys_run_anything {
            return Ok(());
        }
        let key = format!("sha256:{}", sha256_hex(query));
        if self.cached(&key).is_some() {
            return Ok(());
        }
        let lookup = key.clone();
        match self.db.run(move |conn| Ok(find(conn, &lookup)?)).await {
            Ok(Some(text)) => {
                self.keep(&key, text);
                Ok(())
            }
            Ok(None) => Err(ErrorCode::TrustedDocumentRequired.server_error(
                "only trusted documents may run on this server: send a pushed document's \
                 id (`documentId`) or its exact text",
                None,
            )),
            Err(err) => Err(err.to_server_error()),
        }
    }

    fn cached(&self, key: &str) -> Option<Arc<str>> {
        self.lock().get(key).cloned()
    }

    fn keep(&self, key: &str, text: String) -> Arc<str> {
        let text: Arc<str> = text.into();
        self.lock().put(key.to_string(), text.clone());
        text
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<str>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    query: String,
}

/// A trusted document's text by its id, or by its SHA-256 written `sha256:<hex>`.
pub fn find(conn: &mut PgConnection, id: &str) -> QueryResult<Option<String>> {
    let sha256 = id
        .strip_prefix("sha256:")
        .map(|hex| hex.to_ascii_lowercase());
    let row: Option<TextRow> = diesel::sql_query(
        "SELECT query FROM trusted_documents WHERE id = $1 OR sha256 = $2 \
         ORDER BY id = $1 DESC LIMIT 1",
    )
    .bind::<Text, _>(id)
    .bind::<Nullable<Text>, _>(sha256)
    .get_result(conn)
    .optional()?;
    Ok(row.map(|row| row.query))
}

/// What `push` did.
#[derive(Debug, PartialEq, Eq)]
pub struct Pushed {
    pub added: usize,
    pub unchanged: usize,
}

/// Why `push` stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("`{0}` is already a trusted document with another text: ids never change meaning")]
    Changed(String),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

#[derive(QueryableByName)]
struct Existing {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    query: String,
}

/// Stores a manifest's documents in one transaction: all of them or, when an id is
/// already taken by another text, none.
pub fn push(
    conn: &mut PgConnection,
    documents: &[super::manifest::Document],
    client_name: Option<&str>,
) -> Result<Pushed, PushError> {
    use diesel::sql_types::Array;
    conn.transaction(|conn| {
        let ids: Vec<&str> = documents.iter().map(|doc| doc.id.as_str()).collect();
        let existing: Vec<Existing> = diesel::sql_query(
            "SELECT id, query FROM trusted_documents WHERE id = ANY($1) FOR UPDATE",
        )
        .bind::<Array<Text>, _>(&ids)
        .load(conn)?;
        let known: std::collections::HashMap<&str, &str> = existing
            .iter()
            .map(|row| (row.id.as_str(), row.query.as_str()))
            .collect();
        let mut pushed = Pushed {
            added: 0,
            unchanged: 0,
        };
        for doc in documents {
            match known.get(doc.id.as_str()) {
                Some(text) if *text == doc.text => pushed.unchanged += 1,
                Some(_) => return Err(PushError::Changed(doc.id.clone())),
                None => {
                    diesel::sql_query(
                        "INSERT INTO trusted_documents (id, sha256, query, client_name) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind::<Text, _>(&doc.id)
                    .bind::<Text, _>(&doc.sha256)
                    .bind::<Text, _>(&doc.text)
                    .bind::<Nullable<Text>, _>(client_name)
                    .execute(conn)?;
                    pushed.added += 1;
                }
            }
        }
        Ok(pushed)
    })
}
