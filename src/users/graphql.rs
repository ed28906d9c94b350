use async_graphql::Object;
use uuid::Uuid;

use super::User;

/// A support agent of the organisation.
#[Object]
impl User {
    /// The user's id.
    async fn id(&self) -> Uuid {
        self.id
    }

    /// The user's email address (not shown to customer tokens: FORBIDDEN).
    async fn email(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<&str> {
        use crate::error::IntoGql;
        let rc = crate::graphql::context::RequestContext::of(ctx)?;
        rc.viewer.require_team().gql()?;
        Ok(&self.email)
    }

    /// The user's name.
    async fn name(&self) -> &str {
        &self.name
    }
}
