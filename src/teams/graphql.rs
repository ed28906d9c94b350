use async_graphql::{Object, SimpleObject, ID};

use super::Team;
use crate::users::User;

/// A team: the tenant every ticket, person and key belongs to.
#[Object]
impl Team {
    /// The team's id: a uuid, also its global id (`node(id:)`).
    #[graphql(name = "id")]
    pub async fn global_id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The team's short name (used on the command line).
    async fn slug(&self) -> &str {
        &self.slug
    }

    /// The team's name.
    async fn name(&self) -> &str {
        &self.name
    }
}

/// Who the API key speaks for.
#[derive(SimpleObject)]
pub struct Me {
    /// The key's team: everything you see belongs to it.
    pub team: Team,
    /// The user the key acts as, if any.
    pub user: Option<User>,
    /// What the key may do: `read`, `write` (none for a customer token).
    pub scopes: Vec<String>,
    /// For a customer token: the customer's distinct id.
    pub customer_distinct_id: Option<String>,
}

/// Team-wide look-ups of the root `Query` type.
#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    /// Who is asking: the key's team and user and what the key may do, or the customer of
    /// a customer token.
    async fn me(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<Me> {
        use crate::error::IntoGql;
        let rc = crate::graphql::context::RequestContext::of(ctx)?;
        let viewer = rc.viewer.clone();
        rc.db
            .run(move |conn| {
                let team = super::queries::find(conn, viewer.team_id)?;
                let user = match viewer.user_id {
                    Some(id) => crate::users::queries::by_ids(conn, &[id])?
                        .into_iter()
                        .next(),
                    None => None,
                };
                Ok(Me {
                    team,
                    user,
                    scopes: viewer
                        .scopes
                        .iter()
                        .map(|s| s.as_str().to_string())
                        .collect(),
                    customer_distinct_id: viewer.customer.clone(),
                })
            })
            .await
            .gql()
    }

    /// Every tag of the team, sorted. Team keys only.
    async fn tags(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<Vec<String>> {
        use crate::error::IntoGql;
        let rc = crate::graphql::context::RequestContext::of(ctx)?;
        rc.viewer.require_team().gql()?;
        let team_id = rc.viewer.team_id;
        rc.db
            .run(move |conn| Ok(crate::tags::queries::for_team(conn, team_id)?))
            .await
            .gql()
    }
}
