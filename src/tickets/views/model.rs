//! A view's row, and its stored filter and order: the GraphQL input values
//! (`TicketFilter`, `[TicketOrder!]`) as JSON, read back through the same input parsing a
//! request's arguments go through.

use async_graphql::InputType;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::ticket_views;
use crate::error::{AppError, AppResult};
use crate::tickets::filter::TicketFilter;
use crate::tickets::order::TicketOrder;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ticket_views, check_for_backend(diesel::pg::Pg))]
pub struct TicketViewRow {
    pub id: Uuid,
    pub team_id: Uuid,
    pub owner_user_id: Option<Uuid>,
    pub name: String,
    pub filter: serde_json::Value,
    pub order_by: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TicketViewRow {
    /// The stored filter, as the schema reads it today. A field the schema no longer has
    /// is ignored; a value it no longer accepts is the caller's `view` argument at fault.
    pub fn ticket_filter(&self) -> AppResult<TicketFilter> {
        parse(&self.filter)
    }

    /// The stored order (empty: the `tickets` query's default).
    pub fn ticket_order(&self) -> AppResult<Vec<TicketOrder>> {
        parse(&self.order_by)
    }
}

fn parse<T: InputType>(stored: &serde_json::Value) -> AppResult<T> {
    T::parse(Some(
        async_graphql::Value::from_json(stored.clone()).map_err(AppError::internal)?,
    ))
    .map_err(|err| {
        AppError::bad_input(
            "view",
            format!(
                "the view's stored filter no longer applies ({}): update it",
                err.into_server_error(Default::default()).message
            ),
        )
    })
}

/// An input value as it is stored: JSON, without the fields left out (null).
pub fn stored<T: InputType>(value: &T) -> AppResult<serde_json::Value> {
    let json = value.to_value().into_json().map_err(AppError::internal)?;
    Ok(without_nulls(json))
}

fn without_nulls(json: serde_json::Value) -> serde_json::Value {
    match json {
        serde_json::Value::Object(fields) => serde_json::Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(without_nulls).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::filter::{AssigneeFilter, DateTimeRange};
    use crate::tickets::model::TicketStatus;

    #[test]
    fn a_filter_round_trips_through_its_stored_form() {
        let filter = TicketFilter {
            status: Some(vec![TicketStatus::Open, TicketStatus::OnHold]),
            assignee: Some(AssigneeFilter::Me(true)),
            tags_none: Some(vec!["spam".into()]),
            updated_at: Some(DateTimeRange {
                within_last_days: Some(7),
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = stored(&filter).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": ["OPEN", "ON_HOLD"],
                "assignee": { "me": true },
                "updatedAt": { "withinLastDays": 7 },
                "tagsNone": ["spam"],
            })
        );
        let row = TicketViewRow {
            id: Uuid::nil(),
            team_id: Uuid::nil(),
            owner_user_id: None,
            name: "x".into(),
            filter: json,
            order_by: serde_json::json!([]),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let back = row.ticket_filter().unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&filter).unwrap()
        );
        assert!(row.ticket_order().unwrap().is_empty());
    }
}
