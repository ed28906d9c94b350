//! Automatic persisted queries on `/graphql` (POST and GET): the hash of
//! `extensions.persistedQuery` becomes its team's registered query before the gateway
//! runs it, and a query sent with its hash is registered once it ran (see
//! `graphql::persisted`).

use async_graphql::{Request, ServerError};

use super::AppState;
use crate::auth::Viewer;
use crate::error::{AppError, ErrorCode};
use crate::graphql::persisted::{self, Hash, PersistedCache};

/// One operation as it came, before its persisted query (if any) is looked up.
pub struct Incoming {
    pub request: Request,
    pub persisted: Option<Hash>,
    /// A trusted document's id (`documentId`, or Relay's `doc_id`), sent instead of a query.
    pub document_id: Option<String>,
}

impl Incoming {
    pub fn plain(request: Request) -> Self {
        Incoming {
            request,
            persisted: None,
            document_id: None,
        }
    }
}

/// What to register once the operation ran without a request error.
pub struct ToRegister {
    hash: Hash,
    query: String,
}

/// The request to run: with its registered query when only a hash came (or
/// `PersistedQueryNotFound`), checked against its hash when both came.
pub async fn resolve(
    state: &AppState,
    viewer: &Viewer,
    incoming: Incoming,
) -> Result<(Request, Option<ToRegister>), ServerError> {
    if let Some(id) = &incoming.document_id {
        let mut request = incoming.request;
        request.query = trusted_document(state, id).await?.to_string();
        return Ok((request, None));
    }
    let Incoming {
        mut request,
        persisted: Some(hash),
        ..
    } = incoming
    else {
        return Ok((incoming.request, None));
    };
    let team = viewer.team_id;
    if !request.query.is_empty() {
        if !hash.matches(&request.query) {
            return Err(persisted::mismatch());
        }
        if state.persisted.get(team, &hash).is_some() || !PersistedCache::keeps(&request.query) {
            return Ok((request, None));
        }
        let query = request.query.clone();
        return Ok((request, Some(ToRegister { hash, query })));
    }
    if let Some(query) = state.persisted.get(team, &hash) {
        request.query = query.to_string();
        return Ok((request, None));
    }
    // A trusted document named by its hash (graphql-codegen's client preset sends them so).
    let trusted = state
        .trusted
        .by_id(&format!("sha256:{}", hash.as_str()))
        .await
        .map_err(coded)?;
    if let Some(query) = trusted {
        request.query = query.to_string();
        return Ok((request, None));
    }
    let lookup = hash.clone();
    let found = state
        .db
        .run(move |conn| Ok(persisted::find(conn, team, &lookup)?))
        .await
        .map_err(coded)?;
    match found {
        Some(query) => {
            state.persisted.put(team, &hash, &query);
            request.query = query;
            Ok((request, None))
        }
        None => Err(persisted::not_found()),
    }
}

/// The text of the trusted document `id`, or PERSISTED_QUERY_NOT_FOUND.
async fn trusted_document(state: &AppState, id: &str) -> Result<std::sync::Arc<str>, ServerError> {
    state
        .trusted
        .by_id(id)
        .await
        .map_err(coded)?
        .ok_or_else(|| {
            ErrorCode::PersistedQueryNotFound
                .server_error(format!("no trusted document has the id `{id}`"), None)
        })
}

fn coded(err: AppError) -> ServerError {
    err.to_server_error()
}

/// Registers a query that ran (for every replica), and caches it here. A failure to
/// register costs the client one more round trip later, never this answer.
pub async fn register(state: &AppState, viewer: &Viewer, registered: ToRegister) {
    let team = viewer.team_id;
    state
        .persisted
        .put(team, &registered.hash, &registered.query);
    let ToRegister { hash, query } = registered;
    if let Err(err) = state
        .db
        .run(move |conn| Ok(persisted::register(conn, team, &hash, &query)?))
        .await
    {
        tracing::warn!(error = %err, "could not register a persisted query");
    }
}
