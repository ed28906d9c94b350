//! `TicketConnection`, and how lists of tickets answer each `Ticket` field as a whole
//! (see `graphql::lists`): the row's own fields straight off the rows, the person, the
//! assignee and the tags with one loader call each for the whole page.

use async_graphql::connection::{Edge, EmptyFields, PageInfo};
use async_graphql::{Context, Object, Result, Value};
use futures_util::future::BoxFuture;

use super::fields::TICKET_FIELDS;
use super::filter::TicketFilter;
use super::model::Ticket;
use super::queries;
use crate::assignments::loaders::AssigneeOf;
use crate::assignments::Assignment;
use crate::auth::TicketScope;
use crate::error::IntoGql;
use crate::graphql::context::RequestContext;
use crate::graphql::lists::values::strings;
use crate::graphql::lists::{fail_all, nested, ListObject, ObjectList, Page, Plan};
use crate::graphql::loaders::load_all;
use crate::persons::queries::PersonKey;
use crate::persons::Person;
use crate::tags::loaders::TagsOf;

pub type TicketEdge = Edge<String, Ticket, EmptyFields>;

/// A page of tickets (Relay connection), with the total over all pages on request.
pub struct TicketConnection {
    pub page: Page<Ticket>,
    /// What `totalCount` counts.
    pub scope: TicketScope,
    pub filter: TicketFilter,
}

#[Object]
impl TicketConnection {
    /// Information to aid in pagination.
    async fn page_info(&self) -> PageInfo {
        self.page.page_info()
    }

    /// A list of edges.
    async fn edges(&self) -> ObjectList<'_, TicketEdge> {
        self.page.edges()
    }

    /// A list of nodes.
    async fn nodes(&self) -> ObjectList<'_, Ticket> {
        self.page.nodes()
    }

    /// How many tickets match, over all pages (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let rc = RequestContext::of(ctx)?;
        let (scope, filter) = (self.scope.clone(), self.filter.clone());
        rc.db
            .run(move |conn| Ok(queries::count(conn, &scope, &filter)?))
            .await
            .gql()
    }
}

impl ListObject for Ticket {
    fn plan(field: &str) -> Plan<Self> {
        TICKET_FIELDS.plan(field)
    }
}

pub(super) fn persons<'a>(
    tickets: &'a [&'a Ticket],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        let keys: Vec<PersonKey> = tickets.iter().map(|ticket| ticket.person_key()).collect();
        match load_all(&fields[0], keys.iter().cloned()).await {
            Ok(found) => {
                let persons: Vec<Option<&Person>> = keys.iter().map(|key| found.get(key)).collect();
                nested(fields, &persons).await
            }
            Err(error) => fail_all(fields, error),
        }
    })
}

pub(super) fn assignees<'a>(
    tickets: &'a [&'a Ticket],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        match load_all(
            &fields[0],
            tickets.iter().map(|ticket| AssigneeOf(ticket.id)),
        )
        .await
        {
            Ok(found) => {
                let assignees: Vec<Option<&Assignment>> = tickets
                    .iter()
                    .map(|ticket| found.get(&AssigneeOf(ticket.id)))
                    .collect();
                nested(fields, &assignees).await
            }
            Err(error) => fail_all(fields, error),
        }
    })
}

pub(super) fn tags<'a>(
    tickets: &'a [&'a Ticket],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        match load_all(&fields[0], tickets.iter().map(|ticket| TagsOf(ticket.id))).await {
            Ok(found) => tickets
                .iter()
                .map(|ticket| {
                    let tags = found.get(&TagsOf(ticket.id)).map(Vec::as_slice);
                    Some(strings(tags.unwrap_or_default()))
                })
                .collect(),
            Err(error) => fail_all(fields, error),
        }
    })
}
