use async_graphql::{Object, Value, ID};
use chrono::{DateTime, Utc};

use super::Person;
use crate::db::json::RawJson;
use crate::graphql::lists::values::{json, of, strings};
use crate::graphql::lists::{ListObject, Plan};

/// The customer behind a ticket: a person of the team's analytics, found through the
/// ticket's distinct id.
#[Object(name = "TicketPerson")]
impl Person {
    /// The person's id: a uuid, also its global id (`node(id:)`).
    #[graphql(name = "id")]
    pub async fn global_id(&self) -> ID {
        ID(self.id.to_string())
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
    async fn properties(&self) -> &RawJson {
        &self.properties
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
        if distinct_ids.len() > super::MAX_DISTINCT_IDS {
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

impl ListObject for Person {
    fn plan(field: &str) -> Plan<Self> {
        Plan::Row(match field {
            "id" => |person, _| Ok(of(&person.id)),
            "name" => |person, _| Ok(Value::String(person.display_name())),
            "distinctIds" => |person, _| Ok(strings(&person.distinct_ids)),
            "properties" => |person, _| json(&person.properties),
            "createdAt" => |person, _| Ok(of(&person.created_at)),
            "isIdentified" => |person, _| Ok(of(&person.is_identified)),
            _ => return Plan::Each,
        })
    }
}
