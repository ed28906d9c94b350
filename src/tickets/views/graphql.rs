//! The `TicketView` type, the `views` query, `createView`/`updateView`/`deleteView`, and
//! `resolve`: a view applied to a request's own filter (which narrows it further).

use async_graphql::{Context, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{stored, TicketViewRow};
use super::queries::{self, NewView, ViewChanges, ViewScope};
use super::MAX_VIEW_NAME_CHARS;
use crate::auth::viewer::Scope;
use crate::auth::Viewer;
use crate::db::Db;
use crate::error::{AppError, AppResult, IntoGql};
use crate::graphql::context::RequestContext;
use crate::tickets::filter::TicketFilter;
use crate::tickets::order::{Ordering, TicketOrder};
use crate::users::loaders::UserById;
use crate::users::User;
use crate::validate;

/// A saved view (see `TicketView` in the schema).
#[derive(Clone)]
pub struct TicketView(pub TicketViewRow);

/// A saved view: a named filter and order of the team's tickets, shared with the team or
/// private to one user. Pass its id as `view` to `tickets`, `ticketCounts`, the
/// `ticketChanged`/`ticketCounts` subscriptions and the bulk mutations.
#[Object]
impl TicketView {
    /// The view's id: a uuid, also its global id (`node(id:)`); pass it as `view`.
    #[graphql(name = "id")]
    pub async fn global_id(&self) -> async_graphql::ID {
        async_graphql::ID(self.0.id.to_string())
    }

    /// Unique among the team's shared views (or among the user's private ones).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// True: every key of the team sees it; false: only keys of its owner.
    async fn shared(&self) -> bool {
        self.0.owner_user_id.is_none()
    }

    /// The user a private view belongs to; null for a shared view.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(owner) = self.0.owner_user_id else {
            return Ok(None);
        };
        let rc = RequestContext::of(ctx)?;
        rc.loaders.load_one(UserById(owner)).await.gql()
    }

    /// The stored `TicketFilter`, as the input value it was given as (fields left out
    /// are absent). Relative dates and `assignee: { me: true }` stay as they are: they
    /// are evaluated for whoever uses the view, when it is used.
    async fn filter(&self) -> Json<serde_json::Value> {
        Json(self.0.filter.clone())
    }

    /// The stored order, as `[TicketOrder!]` input values (empty: newest update first).
    async fn order_by(&self) -> Json<serde_json::Value> {
        Json(self.0.order_by.clone())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A new saved view.
#[derive(InputObject)]
pub struct CreateViewInput {
    /// 1 to 100 characters.
    pub name: String,
    /// True (the default): shared with the team. False: private to the API key's user (a
    /// key created without `--user` cannot hold private views).
    #[graphql(default = true)]
    pub shared: bool,
    /// Which tickets (every filter of `tickets`; checked as a request's filter is).
    pub filter: Option<TicketFilter>,
    /// The order (at most 3 keys); absent: newest update first.
    pub order_by: Option<Vec<TicketOrder>>,
}

/// Changes to a saved view: leave a field out to keep it; `null` filter or order resets
/// it (every ticket; the default order).
#[derive(InputObject, Default)]
pub struct UpdateViewInput {
    pub name: Option<String>,
    pub filter: MaybeUndefined<TicketFilter>,
    pub order_by: MaybeUndefined<Vec<TicketOrder>>,
}

fn scope_of(viewer: &Viewer) -> AppResult<ViewScope> {
    viewer.require_team()?;
    Ok(ViewScope {
        team_id: viewer.team_id,
        user_id: viewer.user_id,
    })
}

fn checked_name(field: &str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_VIEW_NAME_CHARS {
        return Err(AppError::bad_input(
            field,
            format!("must have 1 to {MAX_VIEW_NAME_CHARS} characters"),
        ));
    }
    validate::text(field, name, MAX_VIEW_NAME_CHARS)?;
    Ok(name.to_string())
}

/// A filter as it is stored, after the checks a request's filter gets.
fn checked_filter(field: &str, filter: Option<TicketFilter>) -> AppResult<serde_json::Value> {
    let filter = filter.unwrap_or_default();
    filter.validate(field)?;
    stored(&filter)
}

fn checked_order(field: &str, order: Option<Vec<TicketOrder>>) -> AppResult<serde_json::Value> {
    let order = order.unwrap_or_default();
    Ordering::new(Some(order.clone())).map_err(|err| match err {
        AppError::BadUserInput { message, .. } => AppError::bad_input(field, message),
        other => other,
    })?;
    stored(&order)
}

/// The filter a request runs with: the view's (when given), narrowed by the request's own
/// `filter` (both must match), each resolved for `viewer` (`assignee.me`, checks); and
/// the view's order, for a request that gives none. Customer tokens cannot use views
/// (FORBIDDEN); an unknown view, another team's or another user's private one is
/// NOT_FOUND, all alike.
pub async fn resolve(
    db: &Db,
    viewer: &Viewer,
    view: Option<Uuid>,
    filter: Option<TicketFilter>,
) -> AppResult<(TicketFilter, Option<Vec<TicketOrder>>)> {
    let Some(view_id) = view else {
        return Ok((filter.unwrap_or_default().resolved(viewer, "filter")?, None));
    };
    let scope = scope_of(viewer)?;
    let row = db
        .run(move |conn| Ok(queries::find(conn, scope, view_id)?))
        .await?
        .ok_or(AppError::NotFound("view"))?;
    let mut resolved = row.ticket_filter()?.resolved(viewer, "view")?;
    if let Some(filter) = filter {
        resolved = resolved.narrowed_by(filter.resolved(viewer, "filter")?);
    }
    let order = row.ticket_order()?;
    Ok((resolved, Some(order).filter(|o| !o.is_empty())))
}

#[derive(Default)]
pub struct ViewQuery;

#[Object]
impl ViewQuery {
    /// The team's shared views, then the API key's user's private ones, each by name.
    /// Customer tokens: FORBIDDEN.
    async fn views(&self, ctx: &Context<'_>) -> Result<Vec<TicketView>> {
        let rc = RequestContext::of(ctx)?;
        let scope = scope_of(rc.viewer).gql()?;
        let rows = rc
            .db
            .run(move |conn| Ok(queries::list(conn, scope)?))
            .await
            .gql()?;
        Ok(rows.into_iter().map(TicketView).collect())
    }
}

#[derive(Default)]
pub struct ViewMutation;

#[Object]
impl ViewMutation {
    /// Saves a view (at most 200 per team). A name already used in the same scope (the
    /// team's shared views, or the user's private ones) is a CONFLICT.
    async fn create_view(&self, ctx: &Context<'_>, input: CreateViewInput) -> Result<TicketView> {
        let rc = RequestContext::of(ctx)?;
        let scope = scope_of(rc.viewer).gql()?;
        rc.viewer.require(Scope::Write).gql()?;
        let owner_user_id = match (input.shared, scope.user_id) {
            (true, _) => None,
            (false, Some(user)) => Some(user),
            (false, None) => {
                return Err(AppError::bad_input(
                    "input.shared",
                    "a private view belongs to a user: this API key has none (create one \
                     with `api-key create --user EMAIL`), or save the view shared",
                ))
                .gql()
            }
        };
        let new = NewView {
            owner_user_id,
            name: checked_name("input.name", &input.name).gql()?,
            filter: checked_filter("input.filter", input.filter).gql()?,
            order_by: checked_order("input.orderBy", input.order_by).gql()?,
        };
        let team_id = scope.team_id;
        rc.db
            .transaction(move |conn| queries::create(conn, team_id, new))
            .await
            .map(TicketView)
            .gql()
    }

    /// Changes a view you see (a shared one, or your own private one).
    async fn update_view(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateViewInput,
    ) -> Result<TicketView> {
        let rc = RequestContext::of(ctx)?;
        let scope = scope_of(rc.viewer).gql()?;
        rc.viewer.require(Scope::Write).gql()?;
        let changes = ViewChanges {
            name: input
                .name
                .map(|name| checked_name("input.name", &name))
                .transpose()
                .gql()?,
            filter: match input.filter {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(checked_filter("input.filter", None).gql()?),
                MaybeUndefined::Value(f) => Some(checked_filter("input.filter", Some(f)).gql()?),
            },
            order_by: match input.order_by {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(checked_order("input.orderBy", None).gql()?),
                MaybeUndefined::Value(o) => Some(checked_order("input.orderBy", Some(o)).gql()?),
            },
        };
        rc.db
            .transaction(move |conn| queries::update(conn, scope, id, changes))
            .await
            .map(TicketView)
            .gql()
    }

    /// Deletes a view you see; returns its id. Tickets are not touched.
    async fn delete_view(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        let rc = RequestContext::of(ctx)?;
        let scope = scope_of(rc.viewer).gql()?;
        rc.viewer.require(Scope::Write).gql()?;
        let deleted = rc
            .db
            .transaction(move |conn| Ok(queries::delete(conn, scope, id)?))
            .await
            .gql()?;
        match deleted {
            true => Ok(id),
            false => Err(AppError::NotFound("view")).gql(),
        }
    }
}
