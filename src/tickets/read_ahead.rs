//! Reading ahead: the nested look-ups a page of tickets will ask its loaders for (person,
//! assignee, tags), fetched in the same trip to the database as the page itself.
//!
//! Without it a page costs two trips to the blocking pool, one after the other: the page,
//! then — once every ticket's resolver has asked — the loaders' statements. Each trip is
//! a hand-off to a blocking thread and back, about as costly in CPU as the statements it
//! carries. The page's resolver knows from the selection what will be asked (async-graphql's
//! look-ahead), runs the very statements the loaders would run, and leaves the answers with
//! the request's loader, which hands them out instead of querying (each answer once: what
//! is read ahead is never served to a later batch of the same request).

use async_graphql::Lookahead;
use diesel::PgConnection;

use super::fields::{Ahead, TICKET_FIELDS};
use super::Ticket;
use crate::assignments::{self, loaders::AssigneeOf};
use crate::auth::TicketScope;
use crate::error::AppError;
use crate::graphql::primed::{answers, Primed};
use crate::persons::queries::{self as persons, PersonKey};
use crate::tags::loaders::TagsOf;

/// Which look-ups a selection of tickets makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAhead {
    pub persons: bool,
    pub assignees: bool,
    pub tags: bool,
}

impl ReadAhead {
    /// What the tickets of a `TicketConnection` selection look up (through `nodes` or
    /// `edges.node`, aliases and fragments included).
    pub fn of_connection(connection: &Lookahead<'_>) -> ReadAhead {
        let mut wants = ReadAhead::default();
        for ticket in [
            connection.field("nodes"),
            connection.field("edges").field("node"),
        ] {
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
        }
        wants
    }

    /// Runs the loaders' statements for `tickets` (on the page's connection).
    pub fn fetch(
        self,
        conn: &mut PgConnection,
        scope: &TicketScope,
        tickets: &[Ticket],
    ) -> Result<Primed, AppError> {
        let mut primed = Primed::default();
        if tickets.is_empty() {
            return Ok(primed);
        }
        let ids: Vec<_> = tickets.iter().map(|ticket| ticket.id).collect();
        if self.persons {
            let keys: Vec<PersonKey> = tickets.iter().map(Ticket::person_key).collect();
            let mut found = persons::for_keys(conn, scope.team_id, &keys)?;
            primed.insert(answers(keys, |key| found.remove(key)));
        }
        if self.assignees {
            let mut found = assignments::queries::for_tickets(conn, &ids)?;
            primed.insert(answers(ids.iter().map(|id| AssigneeOf(*id)), |key| {
                found.remove(&key.0)
            }));
        }
        if self.tags {
            let mut found = crate::tags::queries::for_tickets(conn, &ids)?;
            primed.insert(answers(ids.iter().map(|id| TagsOf(*id)), |key| {
                found.remove(&key.0)
            }));
        }
        Ok(primed)
    }
}
