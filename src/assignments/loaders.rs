//! The assignee of each ticket of a page, in one statement.

use async_graphql::dataloader::Loader;
use std::sync::Arc;
use uuid::Uuid;

use super::{queries, Assignment};
use crate::error::AppError;
use crate::graphql::loaders::{ids, Batch, LoadResult};

/// The assignee of a ticket.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AssigneeOf(pub Uuid);

impl Loader<AssigneeOf> for Batch {
    type Value = Assignment;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[AssigneeOf]) -> LoadResult<AssigneeOf, Assignment> {
        let mut taken = self.take_primed(keys);
        if !taken.missing.is_empty() {
            let ticket_ids = ids(&taken.missing, |k| k.0);
            let more = self
                .run(move |conn, _| Ok(queries::for_tickets(conn, &ticket_ids)?))
                .await?;
            taken
                .found
                .extend(more.into_iter().map(|(id, a)| (AssigneeOf(id), a)));
        }
        Ok(taken.found)
    }
}
