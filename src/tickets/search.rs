//! Text search over tickets: the customer's name and email, the email subject and the
//! messages, case-insensitively (`ILIKE '%text%'`); digits find a ticket number.
//!
//! Two ways to find a page of matches, both exact:
//! - through the trigram indexes ([`SearchMatches`]): every match of the team is found,
//!   then sorted. Its cost is the number of matches: a common word at 1,000,000 tickets
//!   (5,000 matching tickets in a team) costs PostgreSQL ~30 ms a page, whichever page.
//! - the newest first ([`Windowed`]): walk the page's own order (its index) over the first
//!   few thousand tickets, test each one, stop at a page. Its cost is the messages it
//!   tests: ~5 ms for that word on ordinary tickets, but seconds when the newest tickets
//!   hold 10,000 messages each. So the window also ends where its tickets' message counts
//!   add up past a budget ([`message_budget_for`]): a prefix of the order either way, so
//!   its matches are still the first ones.
//!
//! When the window holds less than a page, the first way answers.

use diesel::expression::{is_aggregate, AppearsOnTable, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Text};
use uuid::Uuid;

use super::projection::Columns;
use crate::auth::TicketScope;
use crate::db::schema::tickets;
use crate::db::sql::{trusted, Trusted};

/// The columns [`Windowed`] tests on its derived table (besides the keys): its inner
/// query must select them whatever the page's own selection.
pub fn row_columns() -> Columns {
    Columns::named(["anonymous_traits", "email_subject"])
}

/// `%text%` for ILIKE, with the user's own `%`, `_` and `\` taken literally.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub fn apply<'a, ST: 'a>(
    query: tickets::BoxedQuery<'a, Pg, ST>,
    scope: &TicketScope,
    search: &str,
) -> tickets::BoxedQuery<'a, Pg, ST> {
    if search.chars().all(|c| c.is_ascii_digit()) {
        // A number beyond any ticket number matches nothing rather than failing.
        return match search.parse::<i32>() {
            Ok(number) => query.filter(tickets::ticket_number.eq(number)),
            Err(_) => query.filter(trusted::<Bool>("false")),
        };
    }
    query.filter(SearchMatches::new(scope, search))
}

/// `tickets.id IN (tickets whose customer name, email or subject match ∪ tickets with a
/// matching message)`.
///
/// Written as a union of two index look-ups rather than `traits ILIKE … OR id IN (…)`: with
/// the OR, PostgreSQL filters the team's tickets one by one in page order and computes the
/// message side by reading every message of the team; the union lets each side use its
/// trigram index (messages: `(team_id, content)`, migration 000004) and costs what the
/// matches cost, not what the team holds. The text is fixed (values are bind parameters),
/// so the statement is prepared once per connection like the rest of the page query.
#[derive(Debug, Clone)]
struct SearchMatches {
    team_id: Uuid,
    pattern: String,
    include_private: bool,
}

impl SearchMatches {
    fn new(scope: &TicketScope, text: &str) -> SearchMatches {
        SearchMatches {
            team_id: scope.team_id,
            pattern: like_pattern(text),
            // A customer's search must not find what private notes say (it would reveal
            // them).
            include_private: scope.distinct_id.is_none(),
        }
    }
}

impl Expression for SearchMatches {
    type SqlType = Bool;
}

impl QueryFragment<Pg> for SearchMatches {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // The trait expressions are spelled exactly as in the trigram indexes so they are used.
        out.push_sql("tickets.id IN (SELECT t.id FROM tickets t WHERE t.team_id = ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.team_id)?;
        out.push_sql(" AND ((t.anonymous_traits ->> 'name') ILIKE ");
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(" OR (t.anonymous_traits ->> 'email') ILIKE ");
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(" OR t.email_subject ILIKE ");
        out.push_bind_param::<Text, _>(&self.pattern)?;
        out.push_sql(") UNION SELECT m.ticket_id FROM messages m WHERE m.team_id = ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.team_id)?;
        out.push_sql(" AND NOT m.deleted AND m.content ILIKE ");
        out.push_bind_param::<Text, _>(&self.pattern)?;
        if !self.include_private {
            out.push_sql(" AND NOT m.is_private");
        }
        out.push_sql(")");
        Ok(())
    }
}

impl QueryId for SearchMatches {
    type QueryId = ();
    // Keyed by its text in the statement cache (two texts: with and without private notes).
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<QS> AppearsOnTable<QS> for SearchMatches {}
impl<QS> SelectableExpression<QS> for SearchMatches {}

impl<GB> ValidGrouping<GB> for SearchMatches {
    type IsAggregate = is_aggregate::Never;
}

/// Whether `search` is a text search (not a ticket number): the windowed way applies.
pub fn is_text(search: &str) -> bool {
    !search.chars().all(|c| c.is_ascii_digit())
}

/// How many tickets, in the page's order, the windowed way tests before giving up.
pub fn window_for(page_rows: i64) -> i64 {
    (page_rows * 40).clamp(1_000, 20_000)
}

/// Messages per ticket, on average over a window, the windowed way reads before giving up.
///
/// A window costs about 1.3 µs a message (measured on long conversations, each message on
/// a page of its own: two tickets of 10,000 took 29 ms, the walk included). The seeded
/// tickets hold 2.5 on average, ~5,000 in the window of a 50-ticket page, so ordinary
/// windows are never cut; 10 a ticket (20,400 messages, ~25 ms) costs less than the
/// trigram union does for a common word (45-90 ms on the same data), so a window given up
/// at the budget at most doubles what the union alone would have cost.
const MESSAGES_PER_WINDOW_TICKET: i64 = 10;

/// The name of [`messages_so_far`] in the query [`Windowed`] wraps.
const MESSAGES_SO_FAR: &str = "window_messages";

/// How many messages (`message_count`, summed in the page's order) the window may hold.
pub fn message_budget_for(window: i64) -> i64 {
    window * MESSAGES_PER_WINDOW_TICKET
}

/// The running total of `message_count` in the page's reading order `order`, for the
/// select list of the query [`Windowed`] wraps: there PostgreSQL computes it on the ordered
/// index scan itself (over the derived table, an order on `COALESCE(…)` would first sort
/// the whole window).
pub fn messages_so_far(order: &str) -> Trusted<BigInt> {
    trusted(format!(
        "sum(tickets.message_count) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) \
         AS {MESSAGES_SO_FAR}"
    ))
}

/// `SELECT <columns> FROM (<inner> LIMIT window) AS tickets WHERE window_messages <=
/// budget AND <matches> ORDER BY … LIMIT n`: the first `limit` matches among the first
/// rows of `inner` (the page query without the search, ordered, selecting `columns` and
/// [`messages_so_far`]), as far as their messages stay within the budget.
///
/// The running sum of `message_count` (in the page's order, so the rows it keeps are a
/// prefix of it) bounds the messages the test reads, whatever the window holds: a ticket
/// with 10,000 messages ends the window where it would have cost more than the rest of it.
/// PostgreSQL evaluates the cheap `<=` first, so rows past the budget are never tested
/// (they are still read, up to the window). Private notes and deleted messages are not in
/// `message_count` (see `messages::writes`) but are read: outside the budget.
///
/// The message test is a scalar sub-select with `LIMIT 1`, not `EXISTS`: PostgreSQL may
/// turn an `EXISTS` into a hash of every matching message (of every team, as a generic
/// plan), which is the cost this way avoids. The window and the budget are part of the
/// text (not bind parameters) so the generic plan knows how few rows it tests.
pub struct Windowed<Q, S> {
    pub inner: Q,
    /// What the outer query returns: `inner`'s columns without the running sum, on the
    /// derived table (named `tickets` too).
    pub columns: S,
    pub window: i64,
    pub budget: i64,
    pub order: String,
    pub limit: i64,
    matches: RowMatches,
}

impl<Q, S> Windowed<Q, S> {
    pub fn new(inner: Q, columns: S, scope: &TicketScope, text: &str, window: i64) -> Self {
        Windowed {
            inner,
            columns,
            window,
            budget: message_budget_for(window),
            order: String::new(),
            limit: 0,
            matches: RowMatches(SearchMatches::new(scope, text)),
        }
    }
}

/// The search test of one `tickets` row (the derived table's), message side per ticket.
struct RowMatches(SearchMatches);

impl QueryFragment<Pg> for RowMatches {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let search = &self.0;
        out.push_sql("((tickets.anonymous_traits ->> 'name') ILIKE ");
        out.push_bind_param::<Text, _>(&search.pattern)?;
        out.push_sql(" OR (tickets.anonymous_traits ->> 'email') ILIKE ");
        out.push_bind_param::<Text, _>(&search.pattern)?;
        out.push_sql(" OR tickets.email_subject ILIKE ");
        out.push_bind_param::<Text, _>(&search.pattern)?;
        // `OFFSET 0` keeps the ILIKE out of the message scan: once statistics make tickets
        // look long (a few with 10,000 messages), PostgreSQL would AND each ticket's
        // messages with every matching message of every team, from the trigram index:
        // 2-6 ms a ticket however short, 2 s a window. Fenced, a test reads that ticket's
        // messages only, which is what the budget counts.
        out.push_sql(
            " OR (SELECT true FROM (SELECT m.content FROM messages m \
             WHERE m.ticket_id = tickets.id AND NOT m.deleted",
        );
        if !search.include_private {
            out.push_sql(" AND NOT m.is_private");
        }
        out.push_sql(" OFFSET 0) AS m WHERE m.content ILIKE ");
        out.push_bind_param::<Text, _>(&search.pattern)?;
        out.push_sql(" LIMIT 1))");
        Ok(())
    }
}

impl<Q: QueryFragment<Pg>, S: QueryFragment<Pg>> QueryFragment<Pg> for Windowed<Q, S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        self.columns.walk_ast(out.reborrow())?;
        out.push_sql(" FROM (");
        self.inner.walk_ast(out.reborrow())?;
        out.push_sql(&format!(
            " LIMIT {}) AS tickets WHERE tickets.{MESSAGES_SO_FAR} <= {} AND ",
            self.window, self.budget
        ));
        self.matches.walk_ast(out.reborrow())?;
        out.push_sql(" ORDER BY ");
        out.push_sql(&self.order);
        out.push_sql(" LIMIT ");
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.limit)?;
        Ok(())
    }
}

impl<Q, S: Expression> Query for Windowed<Q, S> {
    type SqlType = S::SqlType;
}

impl<Q, S> QueryId for Windowed<Q, S> {
    type QueryId = ();
    // Keyed by its text in the statement cache, like the page query it wraps.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, S, Conn> RunQueryDsl<Conn> for Windowed<Q, S> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("Ünïcode"), "%Ünïcode%");
    }

    #[test]
    fn the_window_grows_with_the_page() {
        assert_eq!(window_for(51), 2_040);
        assert_eq!(window_for(2), 1_000);
        assert_eq!(window_for(501), 20_000);
    }

    #[test]
    fn the_budget_grows_with_the_window() {
        assert_eq!(message_budget_for(window_for(51)), 20_400);
        assert_eq!(message_budget_for(window_for(2)), 10_000);
    }
}
