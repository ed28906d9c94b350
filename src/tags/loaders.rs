//! The tag names of each ticket of a page, in one statement.

use async_graphql::dataloader::Loader;
use std::sync::Arc;
use uuid::Uuid;

use super::queries;
use crate::error::AppError;
use crate::graphql::loaders::{Batch, LoadResult};

/// The tag names of a ticket.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagsOf(pub Uuid);

impl Loader<TagsOf> for Batch {
    type Value = Vec<String>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[TagsOf]) -> LoadResult<TagsOf, Vec<String>> {
        self.read_ahead_or(keys, |key| key.0, TagsOf, queries::for_tickets)
            .await
    }
}
