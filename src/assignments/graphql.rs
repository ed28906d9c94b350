use async_graphql::{Enum, Object, ID};
use uuid::Uuid;

use super::queries::{Assignment, Role};
use crate::users::User;

/// What a ticket is assigned to.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub enum AssigneeType {
    /// A user (an agent).
    User,
    /// A role (a group of agents).
    Role,
}

/// Who is responsible for a ticket: a user or a role.
#[Object(name = "TicketAssignment")]
impl Assignment {
    /// The id of the assigned user or role.
    async fn id(&self) -> ID {
        ID(self
            .row
            .user_id
            .or(self.row.role_id)
            .unwrap_or_default()
            .to_string())
    }

    /// Whether a user or a role is assigned.
    #[graphql(name = "type")]
    async fn kind(&self) -> AssigneeType {
        if self.row.role_id.is_some() {
            AssigneeType::Role
        } else {
            AssigneeType::User
        }
    }

    /// The assigned user; null for a role.
    async fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The assigned role; null for a user.
    async fn role(&self) -> Option<&Role> {
        self.role.as_ref()
    }
}

/// A group of agents in the organisation.
#[Object]
impl Role {
    /// The role's id.
    async fn id(&self) -> Uuid {
        self.id
    }

    /// The role's name.
    async fn name(&self) -> &str {
        &self.name
    }
}
