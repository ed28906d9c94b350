//! Turns an `Authorization: Bearer …` value into a `Viewer`: a team API key (`tg_…`,
//! looked up by hash) or a customer token (`tgc_…`, checked by signature, no query).

use std::sync::Arc;

use chrono::Utc;

use super::api_keys::{self, ApiKey, LastUsedTracker, KEY_PREFIX};
use super::customer_tokens::{TokenSecret, TOKEN_PREFIX};
use super::key_cache::KeyCache;
use super::Viewer;
use crate::db::Db;
use crate::error::AppError;

const UNAUTHENTICATED: AppError = AppError::Unauthenticated(
    "a valid API key or customer token is required: send `Authorization: Bearer <key>`",
);

/// The token of an `Authorization` value (`Bearer` in any letter case).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Everything needed to recognise a caller; one per server.
#[derive(Clone)]
pub struct Authenticator {
    db: Db,
    usage: Arc<LastUsedTracker>,
    tokens: Option<TokenSecret>,
    keys: Arc<KeyCache>,
}

impl Authenticator {
    /// `tokens`: the customer-token secret; without it customer tokens are refused.
    pub fn new(db: Db, tokens: Option<TokenSecret>, keys: KeyCache) -> Authenticator {
        Authenticator {
            db,
            usage: Arc::new(LastUsedTracker::default()),
            tokens,
            keys: Arc::new(keys),
        }
    }

    pub fn usage(&self) -> &Arc<LastUsedTracker> {
        &self.usage
    }

    pub fn tokens(&self) -> Option<&TokenSecret> {
        self.tokens.as_ref()
    }

    /// The viewer of an `Authorization` header value. Every failure looks the same from
    /// outside (and none echoes the credential).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Viewer, AppError> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(UNAUTHENTICATED)?;
        if token.len() > 4096 {
            return Err(UNAUTHENTICATED);
        }
        if token.starts_with(TOKEN_PREFIX) {
            return self.customer(token);
        }
        if !token.starts_with(KEY_PREFIX) || token.len() > 128 {
            return Err(UNAUTHENTICATED);
        }
        let hash = api_keys::hash_key(token);
        let key = match self.keys.get(&hash) {
            Some(key) => key,
            None => self.look_up(hash).await?,
        };
        self.usage.touch(key.id);
        Ok(key.viewer())
    }

    /// The live key with this hash from the database, kept for the next requests.
    async fn look_up(&self, hash: Vec<u8>) -> Result<ApiKey, AppError> {
        let epoch = self.keys.epoch();
        let lookup = hash.clone();
        let key = self
            .db
            .run(move |conn| Ok(api_keys::find_active_by_hash(conn, &lookup)?))
            .await?
            .ok_or(UNAUTHENTICATED)?;
        if let Some(epoch) = epoch {
            self.keys.put(hash, key.clone(), epoch);
        }
        Ok(key)
    }

    fn customer(&self, token: &str) -> Result<Viewer, AppError> {
        let secret = self.tokens.as_ref().ok_or(UNAUTHENTICATED)?;
        let claims = secret
            .verify(token, Utc::now())
            .map_err(|_| UNAUTHENTICATED)?;
        Ok(Viewer {
            team_id: claims.team,
            user_id: None,
            key_id: None,
            scopes: Vec::new(),
            customer: Some(claims.sub),
            expires_at: chrono::DateTime::from_timestamp(claims.exp, 0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn reads_bearer_tokens() {
        assert_eq!(bearer_token("Bearer tg_abc"), Some("tg_abc"));
        assert_eq!(bearer_token("bearer  tg_abc "), Some("tg_abc"));
        assert_eq!(bearer_token("Basic dXNlcg=="), None);
        assert_eq!(bearer_token("tg_abc"), None);
    }
}
