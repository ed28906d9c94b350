//! The assignee of each ticket of a page, in one statement.

use async_graphql::dataloader::Loader;
use std::sync::Arc;
use uuid::Uuid;

use super::{queries, Assignment};
use crate::error::AppError;
use crate::graphql::loaders::{Batch, LoadResult};

/// The assignee of a ticket.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AssigneeOf(pub Uuid);

impl Loader<AssigneeOf> for Batch {
    type Value = Assignment;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[AssigneeOf]) -> LoadResult<AssigneeOf, Assignment> {
        self.read_ahead_or(keys, |key| key.0, AssigneeOf, queries::for_tickets)
            .await
    }
}
