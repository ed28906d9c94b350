//! `TicketOrder` and keyset seeking. Every ordering ends with the ticket id, so the order
//! is total and a cursor (the sort values of a row plus its id) marks an exact place.
//! Null SLA/snooze times sort last in both directions: their sort expression is
//! `COALESCE(column, ±infinity)` (indexed as such), and a cursor stores null for them.
//! What each field sorts on and how its cursor value reads is its rule in `fields`.

use async_graphql::{Enum, InputObject};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Timestamptz};
use serde::Serialize;
use serde_json::{json, Value};

use super::fields::{sort_of, Sort, SortKey};
use super::model::Ticket;
use super::projection::Columns;
use crate::db::schema::tickets;
use crate::db::sql::trusted;
use crate::error::AppError;
use crate::graphql::pagination::{Direction, Position};

pub const MAX_ORDER_TERMS: usize = 3;

#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Serialize)]
pub enum TicketOrderField {
    /// When the ticket last changed.
    UpdatedAt,
    /// When the ticket was created.
    CreatedAt,
    /// The ticket's number.
    TicketNumber,
    /// The SLA deadline (tickets without one come last).
    SlaDueAt,
    /// The end of the snooze (tickets not snoozed come last).
    SnoozedUntil,
}

#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Serialize)]
pub enum OrderDirection {
    Asc,
    Desc,
}

/// One sort key of the `tickets` query.
#[derive(InputObject, Copy, Clone, Debug, Serialize)]
pub struct TicketOrder {
    pub field: TicketOrderField,
    #[graphql(default_with = "OrderDirection::Desc")]
    pub direction: OrderDirection,
}

impl TicketOrder {
    pub const DEFAULT: TicketOrder = TicketOrder {
        field: TicketOrderField::UpdatedAt,
        direction: OrderDirection::Desc,
    };
}

/// A checked ordering: at most three distinct fields, each with its rule. Serialized (into
/// cursor fingerprints) as its terms alone.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Ordering {
    terms: Vec<TicketOrder>,
    #[serde(skip)]
    sorts: Vec<&'static Sort>,
}

impl Ordering {
    pub fn new(order_by: Option<Vec<TicketOrder>>) -> Result<Ordering, AppError> {
        let terms = order_by.unwrap_or_default();
        if terms.len() > MAX_ORDER_TERMS {
            return Err(AppError::bad_input(
                "orderBy",
                format!("at most {MAX_ORDER_TERMS} sort keys"),
            ));
        }
        for (i, term) in terms.iter().enumerate() {
            if terms[..i].iter().any(|t| t.field == term.field) {
                return Err(AppError::bad_input("orderBy", "a field appears twice"));
            }
        }
        let terms = match terms.is_empty() {
            true => vec![TicketOrder::DEFAULT],
            false => terms,
        };
        let sorts = terms
            .iter()
            .map(|term| {
                sort_of(term.field)
                    .ok_or_else(|| AppError::internal(format!("no sort rule for {:?}", term.field)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Ordering { terms, sorts })
    }

    pub fn terms(&self) -> &[TicketOrder] {
        &self.terms
    }

    /// Each term with its rule.
    fn keys(&self) -> impl Iterator<Item = (&TicketOrder, &'static Sort)> {
        self.terms.iter().zip(self.sorts.iter().copied())
    }

    /// Ordering by a key unique within the team is already total.
    fn needs_id(&self) -> bool {
        !self
            .sorts
            .iter()
            .any(|sort| matches!(sort.key, SortKey::UniqueNumber(_)))
    }

    /// The cursor position of a row: its sort values (null for a missing time) and id.
    pub fn position(&self, ticket: &Ticket) -> Result<Position, AppError> {
        let values = self
            .sorts
            .iter()
            .map(|sort| sort_value(sort, ticket))
            .collect::<Result<Vec<Value>, AppError>>()?;
        Ok(Position {
            key: Value::Array(values),
            id: ticket.id,
        })
    }

    /// The columns a page must read to give its rows cursors (the sort keys; the id is a
    /// key of every row).
    pub fn columns(&self) -> Columns {
        Columns::named(self.sorts.iter().map(|sort| sort.column))
    }

    /// Whether a cursor position has this ordering's shape (else it came from elsewhere).
    pub fn accepts(&self, position: &Position) -> bool {
        position.key.as_array().is_some_and(|values| {
            values.len() == self.terms.len()
                && self
                    .keys()
                    .zip(values)
                    .all(|((term, sort), value)| bound(term, sort, value).is_some())
        })
    }

    /// ORDER BY for reading in `direction` (backward pages read the order reversed).
    pub fn apply_order<'a, ST: 'a>(
        &self,
        query: tickets::BoxedQuery<'a, Pg, ST>,
        direction: Direction,
    ) -> tickets::BoxedQuery<'a, Pg, ST> {
        query.order(trusted::<Integer>(self.order_sql(direction)))
    }

    /// The ORDER BY list for reading in `direction`, on `tickets.*` columns.
    pub fn order_sql(&self, direction: Direction) -> String {
        let flip = direction == Direction::Backward;
        let mut parts: Vec<String> = self
            .keys()
            .map(|(t, sort)| format!("{} {}", expression(t, sort), keyword(t.direction, flip)))
            .collect();
        if self.needs_id() {
            let last = self
                .terms
                .last()
                .map_or(OrderDirection::Desc, |t| t.direction);
            parts.push(format!("tickets.id {}", keyword(last, flip)));
        }
        parts.join(", ")
    }

    /// Only rows strictly after `from` in reading order: the lexicographic comparison
    /// `(k1 > v1) OR (k1 = v1 AND k2 > v2) OR …`, plus `k1 >= v1` up front so the index
    /// seeks straight to the cursor instead of filtering from the start.
    pub fn apply_seek<'a, ST: 'a>(
        &self,
        query: tickets::BoxedQuery<'a, Pg, ST>,
        direction: Direction,
        from: &Position,
    ) -> Option<tickets::BoxedQuery<'a, Pg, ST>> {
        let values = from.key.as_array()?;
        if values.len() != self.terms.len() {
            return None;
        }
        let mut keys: Vec<(SeekKey, Bound)> = Vec::new();
        for ((term, sort), value) in self.keys().zip(values) {
            keys.push((SeekKey::Term(*term, sort), bound(term, sort, value)?));
        }
        if self.needs_id() {
            let last = self
                .terms
                .last()
                .map_or(OrderDirection::Desc, |t| t.direction);
            keys.push((SeekKey::Id(last), Bound::Id(from.id)));
        }
        let flip = direction == Direction::Backward;
        let ahead = |key: &SeekKey| match (key.direction(), flip) {
            (OrderDirection::Asc, false) | (OrderDirection::Desc, true) => Cmp::Greater,
            _ => Cmp::Less,
        };
        let mut any: Option<BoolExpr> = None;
        for (i, (key, value)) in keys.iter().enumerate() {
            let mut all = compare(key, ahead(key), value);
            for (prev_key, prev_value) in &keys[..i] {
                all = Box::new(compare(prev_key, Cmp::Equal, prev_value).and(all));
            }
            any = Some(match any {
                None => all,
                Some(any) => Box::new(any.or(all)),
            });
        }
        let (first_key, first_value) = &keys[0];
        let reach = match ahead(first_key) {
            Cmp::Greater => Cmp::GreaterOrEqual,
            _ => Cmp::LessOrEqual,
        };
        let query = query.filter(compare(first_key, reach, first_value));
        Some(match any {
            Some(any) => query.filter(any),
            None => query,
        })
    }
}

type BoolExpr = Box<dyn BoxableExpression<tickets::table, Pg, SqlType = Bool>>;
type TimeExpr = Box<dyn BoxableExpression<tickets::table, Pg, SqlType = Timestamptz>>;

#[derive(Clone, Copy)]
enum Cmp {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
}

/// A key of the total order: one of the terms, or the id that breaks ties.
enum SeekKey {
    Term(TicketOrder, &'static Sort),
    Id(OrderDirection),
}

impl SeekKey {
    fn direction(&self) -> OrderDirection {
        match self {
            SeekKey::Term(term, _) => term.direction,
            SeekKey::Id(direction) => *direction,
        }
    }
}

macro_rules! compared {
    ($left:expr, $cmp:expr, $right:expr) => {
        match $cmp {
            Cmp::Greater => Box::new($left.gt($right)) as BoolExpr,
            Cmp::GreaterOrEqual => Box::new($left.ge($right)),
            Cmp::Less => Box::new($left.lt($right)),
            Cmp::LessOrEqual => Box::new($left.le($right)),
            Cmp::Equal => Box::new($left.eq($right)),
        }
    };
}

fn time_key(term: &TicketOrder, sort: &Sort) -> TimeExpr {
    Box::new(trusted::<Timestamptz>(expression(term, sort)))
}

fn time_bound(value: &Bound) -> TimeExpr {
    match value {
        Bound::Time(time) => Box::new((*time).into_sql::<Timestamptz>()),
        Bound::Sentinel(literal) => Box::new(trusted::<Timestamptz>(*literal)),
        // A mismatch cannot come from `bound`; compare against the sentinel of "never".
        _ => Box::new(trusted::<Timestamptz>("'infinity'::timestamptz")),
    }
}

fn compare(key: &SeekKey, cmp: Cmp, value: &Bound) -> BoolExpr {
    match (key, value) {
        (SeekKey::Id(_), Bound::Id(id)) => compared!(tickets::id, cmp, *id),
        (SeekKey::Term(term, sort), Bound::Number(n)) => {
            compared!(trusted::<Integer>(expression(term, sort)), cmp, *n)
        }
        (SeekKey::Term(term, sort), value) => {
            compared!(time_key(term, sort), cmp, time_bound(value))
        }
        (SeekKey::Id(_), _) => Box::new(trusted::<Bool>("false")),
    }
}

fn keyword(direction: OrderDirection, flip: bool) -> &'static str {
    match (direction, flip) {
        (OrderDirection::Asc, false) | (OrderDirection::Desc, true) => "ASC",
        _ => "DESC",
    }
}

/// Where a missing time sorts: last, whichever the direction.
fn sentinel(direction: OrderDirection) -> &'static str {
    match direction {
        OrderDirection::Asc => "'infinity'::timestamptz",
        OrderDirection::Desc => "'-infinity'::timestamptz",
    }
}

/// The SQL a term sorts on, spelled as in the migrations' indexes.
fn expression(term: &TicketOrder, sort: &Sort) -> String {
    let column = format!("tickets.{}", sort.column);
    match sort.key {
        SortKey::Time { nullable: true, .. } => {
            format!("COALESCE({column}, {})", sentinel(term.direction))
        }
        _ => column,
    }
}

fn micros(time: Option<DateTime<Utc>>) -> Value {
    time.map_or(Value::Null, |t| json!(t.timestamp_micros()))
}

fn sort_value(sort: &Sort, ticket: &Ticket) -> Result<Value, AppError> {
    Ok(match sort.key {
        SortKey::Time { value, .. } => micros(value(ticket)?),
        SortKey::UniqueNumber(value) => json!(value(ticket)?),
    })
}

/// A cursor value, ready to compare against its term's expression.
enum Bound {
    Time(DateTime<Utc>),
    /// The ±infinity a missing time sorts as.
    Sentinel(&'static str),
    Number(i32),
    Id(uuid::Uuid),
}

/// A cursor's time, if PostgreSQL can hold it (a re-signed cursor may say anything).
fn cursor_time(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
}

fn bound(term: &TicketOrder, sort: &Sort, value: &Value) -> Option<Bound> {
    match (sort.key, value) {
        (SortKey::UniqueNumber(_), value) => {
            Some(Bound::Number(i32::try_from(value.as_i64()?).ok()?))
        }
        (SortKey::Time { nullable: true, .. }, Value::Null) => {
            Some(Bound::Sentinel(sentinel(term.direction)))
        }
        (SortKey::Time { .. }, value) => Some(Bound::Time(cursor_time(value.as_i64()?)?)),
    }
}
