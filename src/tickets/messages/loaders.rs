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

/// A page of a ticket's messages read ahead with its ticket (see `tickets::read_ahead`),
/// whatever the byte cap: the cap is the room the request's budget had left when the
/// page was read, which moves with every other request of the same key, so no two specs
/// would ever match with it. The page is still charged to the budget when it is used
/// (`ticket_messages` holds its bytes), and the read-ahead's own statement was capped.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MessagePageAhead {
    pub ticket_id: Uuid,
    pub spec: MessagePageSpec,
}

impl MessagePageAhead {
    pub fn new(ticket_id: Uuid, spec: &MessagePageSpec) -> MessagePageAhead {
        MessagePageAhead {
            ticket_id,
            spec: MessagePageSpec {
                max_bytes: None,
                ..spec.clone()
            },
        }
    }
}

impl Loader<MessagePageOf> for Batch {
    type Value = MessagePage;
    type Error = Arc<AppError>;

    /// Tickets asking for the same kind of page share one statement (the usual case: a
    /// list asking every ticket for its latest messages).
    async fn load(&self, keys: &[MessagePageOf]) -> LoadResult<MessagePageOf, MessagePage> {
        let (mut pages, missing) = self.read_ahead(keys);
        let mut by_spec: HashMap<MessagePageSpec, Vec<Uuid>> = HashMap::new();
        for key in missing {
            by_spec
                .entry(key.spec.clone())
                .or_default()
                .push(key.ticket_id);
        }
        if by_spec.is_empty() {
            return Ok(pages);
        }
        let read = self
            .run(move |conn, scope| {
                let mut pages = HashMap::new();
                for (spec, ticket_ids) in by_spec {
                    let found =
                        queries::pages_for_tickets(conn, scope.team_id, &ticket_ids, &spec)?;
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
            .await?;
        pages.extend(read);
        Ok(pages)
    }
}

impl Batch {
    /// The pages read ahead for some of `keys` (handed out once), and the keys still to ask.
    fn read_ahead<'k>(
        &self,
        keys: &'k [MessagePageOf],
    ) -> (HashMap<MessagePageOf, MessagePage>, Vec<&'k MessagePageOf>) {
        let ahead: Vec<MessagePageAhead> = keys
            .iter()
            .map(|key| MessagePageAhead::new(key.ticket_id, &key.spec))
            .collect();
        let mut taken = self.take_primed::<MessagePageAhead, MessagePage>(&ahead);
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        // A page read ahead is there for each of its tickets (empty when it has no
        // messages): whatever was not taken is asked, a repeated key's second ask too.
        for (key, ahead) in keys.iter().zip(&ahead) {
            match taken.found.remove(ahead) {
                Some(page) => {
                    found.insert(key.clone(), page);
                }
                None => missing.push(key),
            }
        }
        (found, missing)
    }
}
