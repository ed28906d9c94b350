//! Projection pushdown: a read of tickets selects only the columns its GraphQL selection
//! needs (see `fields`: each field's columns, plus the keys every row carries), and a
//! column it did not select can never be answered as a value.
//!
//! A row read this way is still a [`Ticket`]: its keys are plain values, every other
//! column is a [`Column`], loaded or not. Reading a column that was not loaded is an
//! internal error (and a failed debug assertion), never a default. The statement selects
//! `NULL` in place of a column it does not need, so its shape (and Diesel's row type) is
//! the same for every projection; each projection is one SQL text, prepared once per
//! connection like the others.

use async_graphql::Lookahead;
use chrono::{DateTime, Utc};
use diesel::expression::{
    is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Bool, Int4, Jsonb, Nullable, Text, Timestamptz};
use diesel::QueryResult;
use uuid::Uuid;

use super::fields::TICKET_FIELDS;
use super::model::{ChannelDetail, ChannelSource, Ticket, TicketPriority, TicketStatus};
use crate::db::json::RawJson;
use crate::db::schema::tickets;
use async_graphql::ErrorExtensions;

use crate::error::{AppError, IntoGql};

/// A column of a row: loaded, or not selected by the statement that read the row.
#[derive(Debug, Clone)]
pub enum Column<T> {
    Loaded(T),
    /// Not selected (the column's name, for the error).
    NotLoaded(&'static str),
}

impl<T> Column<T> {
    /// The value; an error (a bug: a field's rule misses the column) when the statement
    /// did not select it. Debug builds (the tests) fail there and then.
    pub fn get(&self) -> Result<&T, NotLoaded> {
        match self {
            Column::Loaded(value) => Ok(value),
            Column::NotLoaded(name) => {
                debug_assert!(false, "tickets.{name} read but not loaded");
                Err(NotLoaded(name))
            }
        }
    }

    /// A copy of the value (see `get`).
    pub fn value(&self) -> Result<T, NotLoaded>
    where
        T: Clone,
    {
        self.get().cloned()
    }
}

/// A column read that its statement did not select: an internal error wherever it
/// surfaces (a GraphQL field, a write).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("tickets.{0} read but not loaded")]
pub struct NotLoaded(&'static str);

impl From<NotLoaded> for AppError {
    fn from(err: NotLoaded) -> Self {
        AppError::Internal(Box::new(err))
    }
}

impl From<NotLoaded> for diesel::result::Error {
    fn from(err: NotLoaded) -> Self {
        diesel::result::Error::DeserializationError(Box::new(err))
    }
}

impl<T> IntoGql<T> for Result<T, NotLoaded> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|err| AppError::from(err).extend())
    }
}

/// Full reads (`Ticket::as_select()`, the writes' `RETURNING`) load every column.
impl<T> From<T> for Column<T> {
    fn from(value: T) -> Self {
        Column::Loaded(value)
    }
}

/// A set of the ticket's columns (one bit per column of [`COLUMNS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Columns(u64);

impl Columns {
    /// Every column: what subscriptions, mutations and `node` read.
    pub const ALL: Columns = Columns(u64::MAX >> (64 - COLUMNS.len()));

    /// The keys alone.
    pub fn keys() -> Columns {
        Columns::named([])
    }

    /// The columns of these names (names of no column are ignored: the field rules' unit
    /// tests check every name) and the keys.
    pub fn named<'a>(names: impl IntoIterator<Item = &'a str>) -> Columns {
        let mut bits = 0;
        let keys = TICKET_FIELDS.keys.iter().copied();
        for name in names.into_iter().chain(keys) {
            if let Some(index) = COLUMNS.iter().position(|column| *column == name) {
                bits |= 1 << index;
            }
        }
        Columns(bits)
    }

    pub fn with(self, other: Columns) -> Columns {
        Columns(self.0 | other.0)
    }

    pub fn contains(self, name: &str) -> bool {
        COLUMNS
            .iter()
            .position(|column| *column == name)
            .is_some_and(|index| self.0 & (1 << index) != 0)
    }

    fn has(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    /// The names of the columns in the set.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        COLUMNS
            .iter()
            .enumerate()
            .filter(move |(index, _)| self.has(*index))
            .map(|(_, name)| *name)
    }
}

/// The columns a selection of one `Ticket` reads (look-ahead: aliases, fragments and
/// inline fragments included; `@skip`/`@include` were applied when the request was
/// prepared), through the field rules.
pub fn of_ticket(selection: &Lookahead<'_>) -> Columns {
    Columns::named(TICKET_FIELDS.columns(selection))
}

/// The columns the tickets of a `TicketConnection` selection read (`nodes` and
/// `edges.node`).
pub fn of_connection(connection: &Lookahead<'_>) -> Columns {
    of_ticket(&connection.field("nodes")).with(of_ticket(&connection.field("edges").field("node")))
}

/// `SELECT` list of a projected read: each column of [`COLUMNS`] in order, `NULL` where
/// it is not in the set.
#[derive(Clone, Copy, Debug)]
pub struct Projected(pub Columns);

fn key<T>(value: Option<T>, _loaded: bool, name: &'static str) -> QueryResult<T> {
    value.ok_or_else(|| unexpected_null(name))
}

fn nullable_key<T>(value: Option<T>, _loaded: bool, _name: &'static str) -> QueryResult<Option<T>> {
    Ok(value)
}

fn col<T>(value: Option<T>, loaded: bool, name: &'static str) -> QueryResult<Column<T>> {
    match loaded {
        true => value
            .map(Column::Loaded)
            .ok_or_else(|| unexpected_null(name)),
        false => Ok(Column::NotLoaded(name)),
    }
}

fn opt<T>(value: Option<T>, loaded: bool, name: &'static str) -> QueryResult<Column<Option<T>>> {
    Ok(match loaded {
        true => Column::Loaded(value),
        false => Column::NotLoaded(name),
    })
}

fn unexpected_null(name: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(format!("tickets.{name} is null").into())
}

/// The ticket's columns once: the projected row type, its SQL types (each nullable, as
/// a column not selected reads `NULL`), the `SELECT` list, and the conversion to a
/// [`Ticket`] (`key`: always selected, a plain value; `col`: a `Column` of a NOT NULL
/// column; `opt`: a `Column` of a nullable one).
macro_rules! ticket_columns {
    ($($field:ident: $kind:ident $sql:ty => $rust:ty,)*) => {
        /// The projectable columns, in `SELECT` order.
        pub const COLUMNS: &[&str] = &[$(stringify!($field),)*];

        /// What a projected statement returns.
        pub type ProjectedRow = ($(Option<$rust>,)*);

        type ProjectedSql = ($($sql,)*);

        impl QueryFragment<Pg> for Projected {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
                let mut index = 0;
                $(
                    if index > 0 {
                        out.push_sql(", ");
                    }
                    match self.0.has(index) {
                        true => tickets::$field.walk_ast(out.reborrow())?,
                        false => out.push_sql("NULL"),
                    }
                    index += 1;
                )*
                let _ = index;
                Ok(())
            }
        }

        impl Projected {
            /// A row read with this projection, as a ticket.
            pub fn ticket(self, row: ProjectedRow) -> QueryResult<Ticket> {
                let ($($field,)*) = row;
                let mut index = 0;
                $(
                    let $field = $kind($field, self.0.has(index), stringify!($field))?;
                    index += 1;
                )*
                let _ = index;
                Ok(Ticket { $($field,)* })
            }
        }
    };
}

ticket_columns! {
    id: key Nullable<diesel::sql_types::Uuid> => Uuid,
    team_id: key Nullable<diesel::sql_types::Uuid> => Uuid,
    ticket_number: col Nullable<Int4> => i32,
    channel_source: key Nullable<Text> => ChannelSource,
    channel_detail: opt Nullable<Text> => ChannelDetail,
    distinct_id: key Nullable<Text> => String,
    status: col Nullable<Text> => TicketStatus,
    priority: opt Nullable<Text> => TicketPriority,
    anonymous_traits: col Nullable<Jsonb> => RawJson,
    ai_resolved: col Nullable<Bool> => bool,
    escalation_reason: opt Nullable<Text> => String,
    unread_customer_count: col Nullable<Int4> => i32,
    unread_team_count: col Nullable<Int4> => i32,
    message_count: col Nullable<Int4> => i32,
    last_message_at: opt Nullable<Timestamptz> => DateTime<Utc>,
    last_message_text: opt Nullable<Text> => String,
    slack_channel_id: opt Nullable<Text> => String,
    slack_thread_ts: opt Nullable<Text> => String,
    slack_team_id: opt Nullable<Text> => String,
    email_channel_id: opt Nullable<diesel::sql_types::Uuid> => Uuid,
    email_subject: opt Nullable<Text> => String,
    email_from: nullable_key Nullable<Text> => String,
    cc_participants: col Nullable<Jsonb> => RawJson,
    session_id: opt Nullable<Text> => String,
    session_context: col Nullable<Jsonb> => RawJson,
    sla_due_at: opt Nullable<Timestamptz> => DateTime<Utc>,
    snoozed_until: opt Nullable<Timestamptz> => DateTime<Utc>,
    created_at: col Nullable<Timestamptz> => DateTime<Utc>,
    updated_at: col Nullable<Timestamptz> => DateTime<Utc>,
}

impl Expression for Projected {
    type SqlType = ProjectedSql;
}

impl QueryId for Projected {
    type QueryId = ();
    // Keyed by its text in the statement cache: one prepared statement per projection.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl AppearsOnTable<tickets::table> for Projected {}
impl SelectableExpression<tickets::table> for Projected {}

impl<GB> ValidGrouping<GB> for Projected {
    type IsAggregate = is_aggregate::Never;
}

#[cfg(test)]
mod tests {
    use diesel::QueryDsl;

    use super::*;

    #[test]
    fn a_projection_selects_its_columns_and_null_for_the_rest() {
        let columns = Columns::named(["status", "ticket_number"]);
        let sql =
            diesel::debug_query::<Pg, _>(&tickets::table.select(Projected(columns))).to_string();
        assert!(sql.contains("\"tickets\".\"status\""), "{sql}");
        assert!(sql.contains("\"tickets\".\"email_from\""), "{sql}");
        assert!(!sql.contains("anonymous_traits"), "{sql}");
        assert!(!sql.contains("session_context"), "{sql}");
        assert_eq!(sql.matches("NULL").count(), COLUMNS.len() - 7, "{sql}");
    }

    #[test]
    fn all_is_every_column() {
        assert_eq!(Columns::ALL.names().count(), COLUMNS.len());
        assert!(Columns::keys().contains("email_from"));
        assert!(!Columns::keys().contains("status"));
    }
}
