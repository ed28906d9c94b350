//! Tickets by id (the ticket of a message), in one statement per projection, in the
//! viewer's scope.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::projection::Columns;
use super::{queries, Ticket};
use crate::error::AppError;
use crate::graphql::loaders::{Batch, LoadResult};

/// A ticket of the team by id, read with the columns its selection needs (the tickets
/// of one list share a selection, so one statement).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketById(pub Uuid, pub Columns);

impl Loader<TicketById> for Batch {
    type Value = Ticket;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[TicketById]) -> LoadResult<TicketById, Ticket> {
        let mut by_columns: HashMap<Columns, Vec<Uuid>> = HashMap::new();
        for key in keys {
            by_columns.entry(key.1).or_default().push(key.0);
        }
        self.run(move |conn, scope| {
            let mut found = HashMap::new();
            for (columns, ids) in by_columns {
                let tickets = queries::by_ids(conn, scope, &ids, columns)?;
                found.extend(tickets.into_iter().map(|t| (TicketById(t.id, columns), t)));
            }
            Ok(found)
        })
        .await
    }
}
