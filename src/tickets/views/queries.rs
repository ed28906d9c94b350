//! The statements on `ticket_views`, each scoped to the team and to what the caller may
//! see: the team's shared views and the caller's own private ones. Anything else (another
//! team's view, another user's private one) is not found, exactly like an unknown id.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use uuid::Uuid;

use super::model::TicketViewRow;
use super::MAX_VIEWS_PER_TEAM;
use crate::db::schema::ticket_views;
use crate::error::{AppError, AppResult};

/// Whose views a caller sees: the team's, and the user's private ones (a key without a
/// user sees the shared views only).
#[derive(Clone, Copy, Debug)]
pub struct ViewScope {
    pub team_id: Uuid,
    pub user_id: Option<Uuid>,
}

type Visible<'a> = ticket_views::BoxedQuery<'a, diesel::pg::Pg>;

fn visible<'a>(scope: ViewScope) -> Visible<'a> {
    let query = ticket_views::table
        .filter(ticket_views::team_id.eq(scope.team_id))
        .into_boxed();
    match scope.user_id {
        Some(user) => query.filter(
            ticket_views::owner_user_id
                .is_null()
                .or(ticket_views::owner_user_id.eq(user)),
        ),
        None => query.filter(ticket_views::owner_user_id.is_null()),
    }
}

/// The views the caller sees: shared ones first, then private ones, each by name.
pub fn list(conn: &mut PgConnection, scope: ViewScope) -> QueryResult<Vec<TicketViewRow>> {
    visible(scope)
        .order((
            ticket_views::owner_user_id.is_not_null(),
            ticket_views::name,
            ticket_views::id,
        ))
        .select(TicketViewRow::as_select())
        .load(conn)
}

pub fn find(
    conn: &mut PgConnection,
    scope: ViewScope,
    id: Uuid,
) -> QueryResult<Option<TicketViewRow>> {
    visible(scope)
        .filter(ticket_views::id.eq(id))
        .select(TicketViewRow::as_select())
        .first(conn)
        .optional()
}

/// The views with these ids the caller sees (global object look-ups), in one statement.
pub fn visible_by_ids(
    conn: &mut PgConnection,
    scope: ViewScope,
    ids: &[Uuid],
) -> QueryResult<Vec<TicketViewRow>> {
    visible(scope)
        .filter(ticket_views::id.eq_any(ids))
        .select(TicketViewRow::as_select())
        .load(conn)
}

/// What a new view holds (validated by the caller).
pub struct NewView {
    pub owner_user_id: Option<Uuid>,
    pub name: String,
    pub filter: serde_json::Value,
    pub order_by: serde_json::Value,
}

/// Creates a view, within the team's bound (serialised per team by an advisory lock, so
/// concurrent creations cannot pass it together).
pub fn create(conn: &mut PgConnection, team_id: Uuid, new: NewView) -> AppResult<TicketViewRow> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(format!("ticket_views:{team_id}"))
        .execute(conn)?;
    let held: i64 = ticket_views::table
        .filter(ticket_views::team_id.eq(team_id))
        .count()
        .get_result(conn)?;
    if held >= MAX_VIEWS_PER_TEAM {
        return Err(AppError::bad_input(
            "input",
            format!("a team holds at most {MAX_VIEWS_PER_TEAM} views: delete one first"),
        ));
    }
    diesel::insert_into(ticket_views::table)
        .values((
            ticket_views::id.eq(Uuid::now_v7()),
            ticket_views::team_id.eq(team_id),
            ticket_views::owner_user_id.eq(new.owner_user_id),
            ticket_views::name.eq(&new.name),
            ticket_views::filter.eq(&new.filter),
            ticket_views::order_by.eq(&new.order_by),
        ))
        .returning(TicketViewRow::as_returning())
        .get_result(conn)
        .map_err(|err| name_taken(err, &new.name))
}

/// What an update changes (None: keep).
#[derive(AsChangeset, Default)]
#[diesel(table_name = ticket_views)]
pub struct ViewChanges {
    pub name: Option<String>,
    pub filter: Option<serde_json::Value>,
    pub order_by: Option<serde_json::Value>,
}

pub fn update(
    conn: &mut PgConnection,
    scope: ViewScope,
    id: Uuid,
    changes: ViewChanges,
) -> AppResult<TicketViewRow> {
    let Some(found) = find(conn, scope, id)? else {
        return Err(AppError::NotFound("view"));
    };
    let name = changes.name.clone().unwrap_or(found.name);
    diesel::update(ticket_views::table.find(id))
        .set((&changes, ticket_views::updated_at.eq(diesel::dsl::now)))
        .returning(TicketViewRow::as_returning())
        .get_result(conn)
        .map_err(|err| name_taken(err, &name))
}

/// Deletes a view the caller sees: false when there is none.
pub fn delete(conn: &mut PgConnection, scope: ViewScope, id: Uuid) -> QueryResult<bool> {
    let Some(found) = find(conn, scope, id)? else {
        return Ok(false);
    };
    let deleted = diesel::delete(ticket_views::table.find(found.id)).execute(conn)?;
    Ok(deleted == 1)
}

fn name_taken(err: DieselError, name: &str) -> AppError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => AppError::Conflict(
            format!("a view named {name:?} already exists here: choose another name"),
        ),
        other => other.into(),
    }
}
