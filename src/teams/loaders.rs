//! The addresses of email channels, in one statement.

use async_graphql::dataloader::Loader;
use std::sync::Arc;
use uuid::Uuid;

use super::queries;
use crate::error::AppError;
use crate::graphql::loaders::{ids, Batch, LoadResult};

/// The address of an email channel.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmailChannelById(pub Uuid);

impl Loader<EmailChannelById> for Batch {
    type Value = String;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[EmailChannelById]) -> LoadResult<EmailChannelById, String> {
        let channel_ids = ids(keys, |k| k.0);
        let found = self
            .run(move |conn, _| Ok(queries::email_channel_addresses(conn, &channel_ids)?))
            .await?;
        Ok(found
            .into_iter()
            .map(|(id, a)| (EmailChannelById(id), a))
            .collect())
    }
}
