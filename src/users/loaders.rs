//! Users by id (message authors, assignees), in one statement.

use async_graphql::dataloader::Loader;
use std::sync::Arc;
use uuid::Uuid;

use super::{queries, User};
use crate::error::AppError;
use crate::graphql::loaders::{ids, Batch, LoadResult};

/// A user by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserById(pub Uuid);

impl Loader<UserById> for Batch {
    type Value = User;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[UserById]) -> LoadResult<UserById, User> {
        let user_ids = ids(keys, |k| k.0);
        let found = self
            .run(move |conn, _| Ok(queries::by_ids(conn, &user_ids)?))
            .await?;
        Ok(found.into_iter().map(|u| (UserById(u.id), u)).collect())
    }
}
