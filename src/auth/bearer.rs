//! Turns an `Authorization: Bearer …` value into a `Viewer`.

use super::api_keys::{self, LastUsedTracker, KEY_PREFIX};
use super::Viewer;
use crate::db::Db;
use crate::error::AppError;

const UNAUTHENTICATED: AppError =
    AppError::Unauthenticated("a valid API key is required: send `Authorization: Bearer <key>`");

/// The token of an `Authorization` value (`Bearer` in any letter case).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Looks the key up by its hash. Keys that cannot be ours are refused without a query.
pub async fn authenticate(
    db: &Db,
    usage: &LastUsedTracker,
    authorization: Option<&str>,
) -> Result<Viewer, AppError> {
    let token = authorization
        .and_then(bearer_token)
        .ok_or(UNAUTHENTICATED)?;
    if !token.starts_with(KEY_PREFIX) || token.len() > 128 {
        return Err(UNAUTHENTICATED);
    }
    let token = token.to_string();
    let key = db
        .run(move |conn| Ok(api_keys::find_active(conn, &token)?))
        .await?
        .ok_or(UNAUTHENTICATED)?;
    usage.touch(key.id);
    Ok(key.viewer())
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
