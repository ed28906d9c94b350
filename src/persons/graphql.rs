use async_graphql::{Json, Object};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Person;

/// The customer behind a ticket: a person of the team's analytics, found through the
/// ticket's distinct id.
#[Object(name = "TicketPerson")]
impl Person {
    /// The person's id.
    async fn id(&self) -> Uuid {
        self.id
    }

    /// Display name: the `name` property, else the `email` property, else a distinct id.
    async fn name(&self) -> String {
        self.display_name()
    }

    /// Every distinct id of this person.
    async fn distinct_ids(&self) -> &[String] {
        &self.distinct_ids
    }

    /// The person's properties.
    async fn properties(&self) -> Json<&serde_json::Value> {
        Json(&self.properties)
    }

    /// When the person was first seen.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// Whether the person has been identified (logged in), not just an anonymous visitor.
    async fn is_identified(&self) -> bool {
        self.is_identified
    }
}

/// Person look-ups of the root `Query` type.
#[derive(Default)]
pub struct PersonQuery;

#[async_graphql::Object]
impl PersonQuery {
    /// The team's persons owning any of these distinct ids (at most 100). Team keys only.
    async fn persons(
        &self,
        ctx: &async_graphql::Context<'_>,
        distinct_ids: Vec<String>,
    ) -> async_graphql::Result<Vec<Person>> {
        use crate::error::{AppError, IntoGql};
        let rc = crate::graphql::context::RequestContext::of(ctx)?;
        rc.viewer.require_team().gql()?;
        for distinct_id in &distinct_ids {
            crate::validate::text("distinctIds", distinct_id, 400).gql()?;
        }
        if distinct_ids.len() > crate::tickets::filter::MAX_DISTINCT_IDS {
            return Err(AppError::bad_input(
                "distinctIds",
                "at most 100 distinct ids",
            ))
            .gql();
        }
        let team_id = rc.viewer.team_id;
        rc.db
            .run(move |conn| {
                Ok(super::queries::by_distinct_ids(
                    conn,
                    team_id,
                    &distinct_ids,
                )?)
            })
            .await
            .gql()
    }
}
