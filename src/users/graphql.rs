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

    /// The user's email address.
    async fn email(&self) -> &str {
        &self.email
    }

    /// The user's name.
    async fn name(&self) -> &str {
        &self.name
    }
}
