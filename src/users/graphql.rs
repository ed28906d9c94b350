use async_graphql::{Object, ID};

use super::User;
use crate::error::IntoGql;
use crate::graphql::lists::values::{of, string};
use crate::graphql::lists::{ListObject, Plan};

/// A support agent of the organisation.
#[Object]
impl User {
    /// The user's id: a uuid, also its global id (`node(id:)`).
    #[graphql(name = "id")]
    pub async fn global_id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The user's email address (not shown to customer tokens: FORBIDDEN).
    async fn email(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<&str> {
        let rc = crate::graphql::context::RequestContext::of(ctx)?;
        rc.viewer.require_team().gql()?;
        Ok(&self.email)
    }

    /// The user's name.
    async fn name(&self) -> &str {
        &self.name
    }
}

impl ListObject for User {
    fn plan(field: &str) -> Plan<Self> {
        Plan::Row(match field {
            "id" => |user, _| Ok(of(&user.id)),
            // Agents' addresses are the team's: FORBIDDEN for customer tokens.
            "email" => |user, viewer| {
                viewer.require_team().gql()?;
                Ok(string(&user.email))
            },
            "name" => |user, _| Ok(string(&user.name)),
            _ => return Plan::Each,
        })
    }
}
