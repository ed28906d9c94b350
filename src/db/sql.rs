//! Hand-written SQL that Diesel may still prepare once and reuse.
//!
//! `diesel::dsl::sql` and `diesel::sql_query` mark every statement that contains them as
//! unsafe to cache, so PostgreSQL parses and plans it on every execution — measurable
//! on the hot path (about as long as running a page query). The pieces here carry text
//! that is fixed by the code (never user input: values always go in as bind parameters),
//! so Diesel's statement cache can key on the SQL text, and each connection prepares the
//! statement once.

use std::borrow::Cow;
use std::marker::PhantomData;

use diesel::expression::{
    is_aggregate, AppearsOnTable, Expression, SelectableExpression, TypedExpressionType,
    ValidGrouping,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};

/// A SQL expression written by hand, of type `ST`.
#[derive(Debug, Clone)]
pub struct Trusted<ST> {
    sql: Cow<'static, str>,
    _type: PhantomData<ST>,
}

/// `sql` must come from the code, never from input.
pub fn trusted<ST>(sql: impl Into<Cow<'static, str>>) -> Trusted<ST> {
    Trusted {
        sql: sql.into(),
        _type: PhantomData,
    }
}

impl<ST: TypedExpressionType> Expression for Trusted<ST> {
    type SqlType = ST;
}

impl<ST> QueryFragment<Pg> for Trusted<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(&self.sql);
        Ok(())
    }
}

impl<ST> QueryId for Trusted<ST> {
    type QueryId = ();
    // Keyed by its text in the statement cache.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, QS> AppearsOnTable<QS> for Trusted<ST> where Self: Expression {}
impl<ST, QS> SelectableExpression<QS> for Trusted<ST> where Self: Expression {}

impl<ST, GB> ValidGrouping<GB> for Trusted<ST> {
    type IsAggregate = is_aggregate::Never;
}

/// A whole statement written by hand (`SELECT … FROM unnest(…) LATERAL …`), built from
/// text and bind parameters in order; loads rows with `QueryableByName`.
#[derive(Default)]
pub struct Statement {
    pieces: Vec<Box<dyn QueryFragment<Pg> + Send>>,
}

struct Bind<ST, V> {
    value: V,
    _type: PhantomData<ST>,
}

impl<ST, V> QueryFragment<Pg> for Bind<ST, V>
where
    Pg: HasSqlType<ST>,
    V: diesel::serialize::ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param(&self.value)
    }
}

impl Statement {
    pub fn new() -> Statement {
        Statement::default()
    }

    /// More SQL text (from the code, never from input).
    pub fn sql(mut self, sql: &'static str) -> Statement {
        self.pieces.push(Box::new(trusted::<Untyped>(sql)));
        self
    }

    /// A Diesel query here (a sub-select), its bind parameters numbered in order with
    /// the statement's.
    pub fn fragment(mut self, fragment: impl QueryFragment<Pg> + Send + 'static) -> Statement {
        self.pieces.push(Box::new(fragment));
        self
    }

    /// A bind parameter here (`$n`, numbered in order).
    pub fn bind<ST, V>(mut self, value: V) -> Statement
    where
        Pg: HasSqlType<ST>,
        V: diesel::serialize::ToSql<ST, Pg> + Send + 'static,
        ST: Send + 'static,
    {
        self.pieces.push(Box::new(Bind {
            value,
            _type: PhantomData::<ST>,
        }));
        self
    }
}

impl QueryFragment<Pg> for Statement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for piece in &self.pieces {
            piece.walk_ast(out.reborrow())?;
        }
        Ok(())
    }
}

impl QueryId for Statement {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Statement {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Statement {}
