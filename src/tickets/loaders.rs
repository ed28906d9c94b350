//! Tickets by id (the ticket of a message), in one statement, in the viewer's scope.

use async_graphql::dataloader::Loader;
use std::sync::Arc;
use uuid::Uuid;

use super::projection::Columns;
use super::{queries, Ticket};
use crate::error::AppError;
use crate::graphql::loaders::{ids, Batch, LoadResult};

/// A ticket of the team by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketById(pub Uuid);

impl Loader<TicketById> for Batch {
    type Value = Ticket;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[TicketById]) -> LoadResult<TicketById, Ticket> {
        let ticket_ids = ids(keys, |k| k.0);
        let found = self
            .run(move |conn, scope| Ok(queries::by_ids(conn, scope, &ticket_ids, Columns::ALL)?))
            .await?;
        Ok(found.into_iter().map(|t| (TicketById(t.id), t)).collect())
    }
}
