//! Pages of messages for many tickets at once.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use super::queries::{self, MessagePage, MessagePageSpec};
use crate::error::AppError;
use crate::graphql::loaders::{Batch, LoadResult};

/// A page of a ticket's messages.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MessagePageOf {
    pub ticket_id: Uuid,
    pub spec: MessagePageSpec,
}

impl Loader<MessagePageOf> for Batch {
    type Value = MessagePage;
    type Error = Arc<AppError>;

    /// Tickets asking for the same kind of page share one statement (the usual case: a
    /// list asking every ticket for its latest messages).
    async fn load(&self, keys: &[MessagePageOf]) -> LoadResult<MessagePageOf, MessagePage> {
        let mut by_spec: HashMap<MessagePageSpec, Vec<Uuid>> = HashMap::new();
        for key in keys {
            by_spec
                .entry(key.spec.clone())
                .or_default()
                .push(key.ticket_id);
        }
        self.run(move |conn, scope| {
            let mut pages = HashMap::new();
            for (spec, ticket_ids) in by_spec {
                let found = queries::pages_for_tickets(conn, scope.team_id, &ticket_ids, &spec)?;
                pages.extend(found.into_iter().map(|(ticket_id, page)| {
                    (
                        MessagePageOf {
                            ticket_id,
                            spec: spec.clone(),
                        },
                        page,
                    )
                }));
            }
            Ok(pages)
        })
        .await
    }
}
