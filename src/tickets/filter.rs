//! `TicketFilter`: every filter of the reference list endpoint, plus created-at and
//! `aiResolved`. Filters combine with AND; a list means "any of" (an empty list matches
//! nothing), except `tagsAll` and `tagsNone`, where an empty list is no constraint (every
//! one of no tags, none of no tags: true of every ticket). The same rules serve the
//! `tickets` query, its `totalCount`, `ticketCounts` and the `ticketChanged` and
//! `ticketCounts` subscriptions: all of them run `apply` in SQL (a subscription re-reads
//! an event's ticket through it), so no second, in-memory version of a rule can drift.
//!
//! A filter is `resolved` for its viewer before use: `assignee: { me: true }` becomes the
//! key's own user id, so fingerprints (cursors, subscription positions, shared reads)
//! tell two users' "me" apart. Relative ranges (`withinLastDays`, `olderThanDays`) stay
//! relative: they are turned into instants each time the filter runs, so a cursor or a
//! subscription keeps following "the last 7 days" as time passes.

use async_graphql::{Enum, InputObject, OneofObject};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::Serialize;
use uuid::Uuid;

use super::model::{ChannelDetail, ChannelSource, TicketPriority, TicketStatus};
use crate::auth::{TicketScope, Viewer};
use crate::db::schema::{tags, ticket_assignments, ticket_tags, tickets};
use crate::db::sql::trusted;
use crate::error::AppError;

pub use crate::persons::MAX_DISTINCT_IDS;
pub const MAX_SEARCH_CHARS: usize = 200;
pub const MAX_FILTER_TAGS: usize = 100;
/// The longest relative range: a hundred years (instants stay within what PostgreSQL and
/// RFC 3339 hold).
pub const MAX_RELATIVE_DAYS: i32 = 36_500;

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
    /// `true`: tickets assigned to the API key's own user (a key without a user, or a
    /// customer token, is refused with BAD_USER_INPUT); `false` is refused too.
    Me(bool),
}

/// A time range: `from` inclusive, `to` exclusive; either may be left open. The relative
/// bounds are counted back from the moment the filter runs (so a saved or resumed filter
/// stays current), and combine with `from`/`to` (all must hold).
#[derive(InputObject, Clone, Debug, Default, Serialize)]
pub struct DateTimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Within the last n days (n × 24 hours before now, inclusive); 1 to 36500.
    pub within_last_days: Option<i32>,
    /// More than n days ago (before now − n × 24 hours); 1 to 36500.
    pub older_than_days: Option<i32>,
}

impl DateTimeRange {
    /// The absolute bounds now: the later lower bound and the earlier upper bound.
    fn bounds(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let ago = |days: i32| now - chrono::Duration::days(i64::from(days));
        let from = self
            .from
            .into_iter()
            .chain(self.within_last_days.map(ago))
            .max();
        let to = self
            .to
            .into_iter()
            .chain(self.older_than_days.map(ago))
            .min();
        (from, to)
    }
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
    /// Tickets with any of these tags (an empty list matches nothing).
    pub tags: Option<Vec<String>>,
    /// Tickets with every one of these tags (at most 100; an empty list: no constraint).
    pub tags_all: Option<Vec<String>>,
    /// Tickets with none of these tags (at most 100; an empty list: no constraint).
    pub tags_none: Option<Vec<String>>,
    /// Resolved by AI, or not.
    pub ai_resolved: Option<bool>,
    /// A second filter every ticket must match too (not in the schema): a saved view's
    /// filter narrowed by the request's (`narrowed_by`).
    #[graphql(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub and: Option<Box<TicketFilter>>,
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
        for (name, tags) in self.tag_lists() {
            if tags.is_some_and(|t| t.len() > MAX_FILTER_TAGS) {
                return Err(AppError::bad_input(
                    field(name),
                    format!("at most {MAX_FILTER_TAGS} tags"),
                ));
            }
        }
        if let Some(AssigneeFilter::Me(false)) = self.assignee {
            return Err(AppError::bad_input(
                format!("{argument}.assignee.me"),
                "only `me: true` is supported (tickets assigned to the key's own user)",
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
            .chain(
                self.tag_lists()
                    .into_iter()
                    .flat_map(|(name, tags)| tags.into_iter().flatten().map(move |t| (name, t))),
            );
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
                ..
            }) = range
            {
                if from > to {
                    return Err(AppError::bad_input(field(name), "`from` is after `to`"));
                }
            }
            let relative = range.iter().flat_map(|r| {
                [
                    ("withinLastDays", r.within_last_days),
                    ("olderThanDays", r.older_than_days),
                ]
            });
            for (bound, days) in relative {
                if days.is_some_and(|d| !(1..=MAX_RELATIVE_DAYS).contains(&d)) {
                    return Err(AppError::bad_input(
                        format!("{argument}.{name}.{bound}"),
                        format!("between 1 and {MAX_RELATIVE_DAYS} days"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn tag_lists(&self) -> [(&'static str, Option<&Vec<String>>); 3] {
        [
            ("tags", self.tags.as_ref()),
            ("tagsAll", self.tags_all.as_ref()),
            ("tagsNone", self.tags_none.as_ref()),
        ]
    }

    /// The filter as `viewer` means it, validated (errors name fields under `argument`):
    /// `assignee: { me: true }` becomes the key's own user.
    pub fn resolved(mut self, viewer: &Viewer, argument: &str) -> Result<TicketFilter, AppError> {
        self.validate(argument)?;
        if let Some(AssigneeFilter::Me(_)) = self.assignee {
            let user_id = viewer.user_id.ok_or_else(|| {
                AppError::bad_input(
                    format!("{argument}.assignee.me"),
                    "this credential has no user: `me` needs an API key created for a user \
                     (`api-key create --user EMAIL`)",
                )
            })?;
            self.assignee = Some(AssigneeFilter::UserId(user_id));
        }
        Ok(self)
    }

    /// Tickets matching both this filter and `other` (each already resolved).
    pub fn narrowed_by(mut self, other: TicketFilter) -> TicketFilter {
        self.and = match self.and.take() {
            Some(inner) => Some(Box::new(inner.narrowed_by(other))),
            None => Some(Box::new(other)),
        };
        self
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
        // Relative bounds count back from now, when the filter runs (the server's clock;
        // bound as values, so the statement stays prepared).
        let now = Utc::now();
        if let Some(range) = &self.updated_at {
            let (from, to) = range.bounds(now);
            if let Some(from) = from {
                query = query.filter(tickets::updated_at.ge(from));
            }
            if let Some(to) = to {
                query = query.filter(tickets::updated_at.lt(to));
            }
        }
        if let Some(range) = &self.created_at {
            let (from, to) = range.bounds(now);
            if let Some(from) = from {
                query = query.filter(tickets::created_at.ge(from));
            }
            if let Some(to) = to {
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
            query = query.filter(tickets::id.eq_any(tagged(scope, names.clone())));
        }
        if let Some(names) = &self.tags_all {
            // One `IN` per tag (each off the (tag_id) index): a tag that does not exist
            // makes it match nothing, as it should.
            let mut names = names.clone();
            names.sort();
            names.dedup();
            for name in names {
                query = query.filter(tickets::id.eq_any(tagged(scope, vec![name])));
            }
        }
        if let Some(names) = self.tags_none.as_ref().filter(|n| !n.is_empty()) {
            query = query.filter(diesel::dsl::not(
                tickets::id.eq_any(tagged(scope, names.clone())),
            ));
        }
        if let Some(ai_resolved) = self.ai_resolved {
            query = query.filter(tickets::ai_resolved.eq(ai_resolved));
        }
        if let Some(and) = &self.and {
            query = and.apply(scope, query);
        }
        query
    }
}

/// `SELECT ticket_id FROM ticket_tags JOIN tags … WHERE team_id = $ AND name = ANY($)`.
type Tagged = diesel::dsl::Select<
    diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::InnerJoin<ticket_tags::table, tags::table>,
            diesel::dsl::Eq<tags::team_id, Uuid>,
        >,
        diesel::dsl::EqAny<tags::name, Vec<String>>,
    >,
    ticket_tags::ticket_id,
>;

/// The ids of the team's tickets carrying any of `names`.
fn tagged(scope: &TicketScope, names: Vec<String>) -> Tagged {
    ticket_tags::table
        .inner_join(tags::table)
        .filter(tags::team_id.eq(scope.team_id))
        .filter(tags::name.eq_any(names))
        .select(ticket_tags::ticket_id)
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
        // `resolved` replaces it with the user's id; unresolved, it matches nothing
        // rather than everything.
        AssigneeFilter::Me(_) => query.filter(trusted::<Bool>("false")),
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
