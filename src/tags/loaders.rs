//! The tag names of each ticket of a page, in one statement.

use async_graphql::dataloader::Loader;
use std::sync::Arc;
use uuid::Uuid;

use super::queries;
use crate::error::AppError;
use crate::graphql::loaders::{ids, Batch, LoadResult};

/// The tag names of a ticket.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagsOf(pub Uuid);

impl Loader<TagsOf> for Batch {
    type Value = Vec<String>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[TagsOf]) -> LoadResult<TagsOf, Vec<String>> {
        let mut taken = self.take_primed(keys);
        if !taken.missing.is_empty() {
            let ticket_ids = ids(&taken.missing, |k| k.0);
            let more = self
                .run(move |conn, _| Ok(queries::for_tickets(conn, &ticket_ids)?))
                .await?;
            taken
                .found
                .extend(more.into_iter().map(|(id, t)| (TagsOf(id), t)));
        }
        Ok(taken.found)
    }
}
