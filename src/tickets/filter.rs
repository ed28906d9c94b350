//! `TicketFilter`: every filter of the reference list endpoint, plus created-at and
//! `aiResolved`. Filters combine with AND; a list means "any of" (an empty list matches
//! nothing). The same rules serve the `tickets` query, its `totalCount` and (later) the
//! `ticketChanged` subscription.

use async_graphql::{Enum, InputObject, OneofObject};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;
use uuid::Uuid;

use super::model::{ChannelDetail, ChannelSource, TicketPriority, TicketStatus};
use crate::auth::TicketScope;
use crate::db::schema::{tags, ticket_assignments, ticket_tags, tickets};
use crate::db::sql::trusted;
use crate::error::AppError;

pub use crate::persons::MAX_DISTINCT_IDS;
pub const MAX_SEARCH_CHARS: usize = 200;
pub const MAX_FILTER_TAGS: usize = 100;

/// A priority to filter on; `UNSET` matches tickets without one.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Serialize)]
pub enum PriorityFilter {
    Low,
    Medium,
    High,
    /// No priority set.
    Unset,
}

impl PriorityFilter {
    fn stored(self) -> Option<TicketPriority> {
        match self {
            PriorityFilter::Low => Some(TicketPriority::Low),
            PriorityFilter::Medium => Some(TicketPriority::Medium),
            PriorityFilter::High => Some(TicketPriority::High),
            PriorityFilter::Unset => None,
        }
    }
}

/// Where a ticket's SLA deadline stands, now.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Serialize)]
pub enum SlaState {
    /// The deadline has passed.
    Breached,
    /// The deadline is within the next hour.
    AtRisk,
    /// The deadline is more than an hour away.
    OnTrack,
}

/// Who a ticket is assigned to. Give exactly one field.
#[derive(OneofObject, Clone, Debug, Serialize)]
pub enum AssigneeFilter {
    /// `true`: tickets nobody is assigned to; `false`: tickets someone is assigned to.
    Unassigned(bool),
    /// Tickets assigned to this user.
    UserId(Uuid),
    /// Tickets assigned to this role.
    RoleId(Uuid),
}

/// A time range: `from` inclusive, `to` exclusive; either may be left open.
#[derive(InputObject, Clone, Debug, Default, Serialize)]
pub struct DateTimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Which tickets to return. Every field is optional; given fields must all match.
#[derive(InputObject, Clone, Debug, Default, Serialize)]
pub struct TicketFilter {
    /// Any of these statuses.
    pub status: Option<Vec<TicketStatus>>,
    /// Any of these priorities (`UNSET`: no priority).
    pub priority: Option<Vec<PriorityFilter>>,
    /// Any of these channels.
    pub channel_source: Option<Vec<ChannelSource>>,
    /// Any of these channel details.
    pub channel_detail: Option<Vec<ChannelDetail>>,
    /// Assigned to a user, a role, or nobody.
    pub assignee: Option<AssigneeFilter>,
    /// Last changed within this range.
    pub updated_at: Option<DateTimeRange>,
    /// Created within this range.
    pub created_at: Option<DateTimeRange>,
    /// Any of these customer distinct ids (at most 100).
    pub distinct_ids: Option<Vec<String>>,
    /// Up to 200 characters. Digits only: the ticket with that number. Otherwise a
    /// case-insensitive match in the customer's name or email (traits), the email subject,
    /// or any message's content.
    pub search: Option<String>,
    /// Where the SLA deadline stands (tickets without one never match).
    pub sla: Option<SlaState>,
    /// `true`: snoozed tickets; `false`: tickets not snoozed.
    pub snoozed: Option<bool>,
    /// Tickets with any of these tags.
    pub tags: Option<Vec<String>>,
    /// Resolved by AI, or not.
    pub ai_resolved: Option<bool>,
}

impl TicketFilter {
    /// Refuses what cannot be a sensible filter, naming the field.
    pub fn validate(&self, argument: &str) -> Result<(), AppError> {
        let field = |name: &str| format!("{argument}.{name}");
        if self
            .distinct_ids
            .as_ref()
            .is_some_and(|ids| ids.len() > MAX_DISTINCT_IDS)
        {
            return Err(AppError::bad_input(
                field("distinctIds"),
                format!("at most {MAX_DISTINCT_IDS} distinct ids"),
            ));
        }
        if self
            .search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(AppError::bad_input(
                field("search"),
                format!("at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        if self
            .tags
            .as_ref()
            .is_some_and(|t| t.len() > MAX_FILTER_TAGS)
        {
            return Err(AppError::bad_input(
                field("tags"),
                format!("at most {MAX_FILTER_TAGS} tags"),
            ));
        }
        let texts = self
            .search
            .iter()
            .map(|s| ("search", s))
            .chain(
                self.distinct_ids
                    .iter()
                    .flatten()
                    .map(|d| ("distinctIds", d)),
            )
            .chain(self.tags.iter().flatten().map(|t| ("tags", t)));
        for (name, text) in texts {
            if text.contains('\0') {
                return Err(AppError::bad_input(
                    field(name),
                    "must not contain NUL characters",
                ));
            }
        }
        for (name, range) in [
            ("updatedAt", &self.updated_at),
            ("createdAt", &self.created_at),
        ] {
            // What PostgreSQL (and RFC 3339) can hold.
            for at in range.iter().flat_map(|r| r.from.iter().chain(r.to.iter())) {
                if !(1..=9999).contains(&chrono::Datelike::year(at)) {
                    return Err(AppError::bad_input(field(name), "years 1 to 9999 only"));
                }
            }
            if let Some(DateTimeRange {
                from: Some(from),
                to: Some(to),
            }) = range
            {
                if from > to {
                    return Err(AppError::bad_input(field(name), "`from` is after `to`"));
                }
            }
        }
        Ok(())
    }

    /// The text of a text search (not a ticket number), if the filter has one.
    pub fn text_search(&self) -> Option<&str> {
        self.search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty() && super::search::is_text(s))
    }

    /// The same filter without its search.
    pub fn without_search(&self) -> TicketFilter {
        TicketFilter {
            search: None,
            ..self.clone()
        }
    }

    /// Narrows a query on `tickets` (already limited to `scope`) to this filter.
    pub fn apply<'a, ST: 'a>(
        &self,
        scope: &TicketScope,
        mut query: tickets::BoxedQuery<'a, Pg, ST>,
    ) -> tickets::BoxedQuery<'a, Pg, ST> {
        if let Some(statuses) = &self.status {
            query = query.filter(tickets::status.eq_any(statuses.clone()));
        }
        if let Some(priorities) = &self.priority {
            let set: Vec<TicketPriority> = priorities.iter().filter_map(|p| p.stored()).collect();
            let unset = priorities.contains(&PriorityFilter::Unset);
            query = match unset {
                true => query.filter(
                    tickets::priority
                        .eq_any(set)
                        .or(tickets::priority.is_null()),
                ),
                false => query.filter(tickets::priority.eq_any(set)),
            };
        }
        if let Some(sources) = &self.channel_source {
            query = query.filter(tickets::channel_source.eq_any(sources.clone()));
        }
        if let Some(details) = &self.channel_detail {
            query = query.filter(tickets::channel_detail.eq_any(details.clone()));
        }
        if let Some(assignee) = &self.assignee {
            query = apply_assignee(query, assignee);
        }
        if let Some(range) = &self.updated_at {
            if let Some(from) = range.from {
                query = query.filter(tickets::updated_at.ge(from));
            }
            if let Some(to) = range.to {
                query = query.filter(tickets::updated_at.lt(to));
            }
        }
        if let Some(range) = &self.created_at {
            if let Some(from) = range.from {
                query = query.filter(tickets::created_at.ge(from));
            }
            if let Some(to) = range.to {
                query = query.filter(tickets::created_at.lt(to));
            }
        }
        if let Some(ids) = &self.distinct_ids {
            query = query.filter(tickets::distinct_id.eq_any(ids.clone()));
        }
        if let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            query = super::search::apply(query, scope, search);
        }
        if let Some(state) = self.sla {
            let hour_from_now = trusted::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("now() + interval '1 hour'");
            query = match state {
                SlaState::Breached => query.filter(tickets::sla_due_at.lt(diesel::dsl::now)),
                SlaState::AtRisk => query
                    .filter(tickets::sla_due_at.ge(diesel::dsl::now))
                    .filter(tickets::sla_due_at.lt(hour_from_now)),
                SlaState::OnTrack => query.filter(tickets::sla_due_at.ge(hour_from_now)),
            };
        }
        if let Some(snoozed) = self.snoozed {
            query = match snoozed {
                true => query.filter(tickets::snoozed_until.is_not_null()),
                false => query.filter(tickets::snoozed_until.is_null()),
            };
        }
        if let Some(names) = &self.tags {
            let tagged = ticket_tags::table
                .inner_join(tags::table)
                .filter(tags::team_id.eq(scope.team_id))
                .filter(tags::name.eq_any(names.clone()))
                .select(ticket_tags::ticket_id);
            query = query.filter(tickets::id.eq_any(tagged));
        }
        if let Some(ai_resolved) = self.ai_resolved {
            query = query.filter(tickets::ai_resolved.eq(ai_resolved));
        }
        query
    }
}

fn apply_assignee<'a, ST: 'a>(
    query: tickets::BoxedQuery<'a, Pg, ST>,
    assignee: &AssigneeFilter,
) -> tickets::BoxedQuery<'a, Pg, ST> {
    match *assignee {
        // Correlated EXISTS: answered from the unique index on ticket_assignments.ticket_id.
        AssigneeFilter::Unassigned(true) => query.filter(trusted::<Bool>(
            "NOT EXISTS (SELECT 1 FROM ticket_assignments a WHERE a.ticket_id = tickets.id)",
        )),
        AssigneeFilter::Unassigned(false) => query.filter(trusted::<Bool>(
            "EXISTS (SELECT 1 FROM ticket_assignments a WHERE a.ticket_id = tickets.id)",
        )),
        AssigneeFilter::UserId(user_id) => query.filter(
            tickets::id.eq_any(
                ticket_assignments::table
                    .filter(ticket_assignments::user_id.eq(user_id))
                    .select(ticket_assignments::ticket_id),
            ),
        ),
        AssigneeFilter::RoleId(role_id) => query.filter(
            tickets::id.eq_any(
                ticket_assignments::table
                    .filter(ticket_assignments::role_id.eq(role_id))
                    .select(ticket_assignments::ticket_id),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let filter = TicketFilter {
            distinct_ids: Some(vec!["x".into(); 101]),
            ..Default::default()
        };
        match filter.validate("filter") {
            Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "filter.distinctIds"),
            other => panic!("{other:?}"),
        }
        let filter = TicketFilter {
            search: Some("é".repeat(201)),
            ..Default::default()
        };
        assert!(filter.validate("filter").is_err());
        let filter = TicketFilter {
            search: Some("é".repeat(200)),
            ..Default::default()
        };
        assert!(filter.validate("filter").is_ok());
    }
}
