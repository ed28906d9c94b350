//! Reading ahead: the nested look-ups a page of tickets, or one ticket, will ask its
//! loaders for (person, assignee, tags, a page of messages), fetched in the same trip to
//! the database as the tickets themselves.
//!
//! Without it a page costs two trips to the blocking pool, one after the other: the page,
//! then — once every ticket's resolver has asked — the loaders' statements. Each trip is
//! a hand-off to a blocking thread and back, about as costly in CPU as the statements it
//! carries. The page's resolver knows from the selection what will be asked (async-graphql's
//! look-ahead), runs the very statements the loaders would run, and leaves the answers with
//! the request's loader, which hands them out instead of querying (each answer once: what
//! is read ahead is never served to a later batch of the same request).

use async_graphql::{Context, Lookahead};
use diesel::PgConnection;

use super::fields::{Ahead, TICKET_FIELDS};
use super::messages::graphql::page_ahead;
use super::messages::loaders::MessagePageAhead;
use super::messages::queries::{self as messages, MessagePageSpec};
use super::Ticket;
use crate::assignments::{self, loaders::AssigneeOf};
use crate::auth::TicketScope;
use crate::error::AppError;
use crate::graphql::primed::{answers, Primed};
use crate::persons::queries::{self as persons, PersonKey};
use crate::tags::loaders::TagsOf;

/// Which look-ups a selection of tickets makes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadAhead {
    pub persons: bool,
    pub assignees: bool,
    pub tags: bool,
    /// The page of messages every ticket asks for, when the selection tells it (see
    /// `page_ahead`).
    pub messages: Option<MessagePageSpec>,
}

impl ReadAhead {
    /// What the tickets of a `TicketConnection` selection look up (through `nodes` or
    /// `edges.node`, aliases and fragments included).
    pub fn of_connection(ctx: &Context<'_>, connection: &Lookahead<'_>) -> ReadAhead {
        let mut wants = ReadAhead::of_ticket(ctx, &connection.field("nodes"));
        let edges = ReadAhead::of_ticket(ctx, &connection.field("edges").field("node"));
        wants.persons |= edges.persons;
        wants.assignees |= edges.assignees;
        wants.tags |= edges.tags;
        // Both asking for messages: one of them is read ahead, the other asks its loader.
        wants.messages = wants.messages.or(edges.messages);
        wants
    }

    /// What a selection of one ticket looks up.
    pub fn of_ticket(ctx: &Context<'_>, ticket: &Lookahead<'_>) -> ReadAhead {
        let mut wants = ReadAhead::default();
        for rule in TICKET_FIELDS.fields {
            let Some(ahead) = rule.more.ahead else {
                continue;
            };
            let asked = ticket.field(rule.name).exists();
            match ahead {
                Ahead::Persons => wants.persons |= asked,
                Ahead::Assignees => wants.assignees |= asked,
                Ahead::Tags => wants.tags |= asked,
            }
        }
        wants.messages = page_ahead(ctx, &ticket.field("messages"));
        wants
    }

    /// Runs the loaders' statements for `tickets` (on the tickets' connection).
    ///
    /// A look-up that fails is left to its loader, which asks again and reports the error
    /// at the field, as it would without reading ahead: the tickets are still answered
    /// (a message whose stored row cannot be read fails `messages`, not its ticket; a page
    /// of messages past the byte cap fails as `RESPONSE_TOO_LARGE` there).
    pub fn fetch(self, conn: &mut PgConnection, scope: &TicketScope, tickets: &[Ticket]) -> Primed {
        let mut primed = Primed::default();
        if tickets.is_empty() {
            return primed;
        }
        let ids: Vec<_> = tickets.iter().map(|ticket| ticket.id).collect();
        if self.persons {
            let keys: Vec<PersonKey> = tickets.iter().map(Ticket::person_key).collect();
            if let Some(mut found) = left_to_loader(persons::for_keys(conn, scope.team_id, &keys)) {
                primed.insert(answers(keys, |key| found.remove(key)));
            }
        }
        if self.assignees {
            if let Some(mut found) = left_to_loader(assignments::queries::for_tickets(conn, &ids)) {
                let keys = ids.iter().map(|id| AssigneeOf(*id));
                primed.insert(answers(keys, |key| found.remove(&key.0)));
            }
        }
        if self.tags {
            if let Some(mut found) = left_to_loader(crate::tags::queries::for_tickets(conn, &ids)) {
                let keys = ids.iter().map(|id| TagsOf(*id));
                primed.insert(answers(keys, |key| found.remove(&key.0)));
            }
        }
        if let Some(spec) = &self.messages {
            let read = messages::pages_for_tickets(conn, scope.team_id, &ids, spec);
            if let Some(mut found) = left_to_loader(read) {
                let keys = ids.iter().map(|id| MessagePageAhead::new(*id, spec));
                primed.insert(answers(keys, |key| found.remove(&key.ticket_id)));
            }
        }
        primed
    }
}

/// The answers of a look-up read ahead; None (logged) when it failed: see `fetch`.
fn left_to_loader<T, E: Into<AppError>>(read: Result<T, E>) -> Option<T> {
    read.map_err(|error| {
        let error: AppError = error.into();
        tracing::debug!(%error, "a look-up read ahead failed: its loader will ask again");
    })
    .ok()
}
