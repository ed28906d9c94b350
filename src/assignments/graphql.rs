use async_graphql::{Context, Enum, Object, Value, ID};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::queries::{Assignment, Role};
use crate::graphql::lists::values::{of, string};
use crate::graphql::lists::{nested, ListObject, Plan};
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
        ID(self.assignee_id().to_string())
    }

    /// Whether a user or a role is assigned.
    #[graphql(name = "type")]
    async fn kind(&self) -> AssigneeType {
        self.assignee_type()
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
    /// The role's id: a uuid, also its global id (`node(id:)`).
    #[graphql(name = "id")]
    pub async fn global_id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The role's name.
    async fn name(&self) -> &str {
        &self.name
    }
}

impl Assignment {
    fn assignee_id(&self) -> Uuid {
        self.row.user_id.or(self.row.role_id).unwrap_or_default()
    }

    fn assignee_type(&self) -> AssigneeType {
        match self.row.role_id {
            Some(_) => AssigneeType::Role,
            None => AssigneeType::User,
        }
    }
}

impl ListObject for Assignment {
    fn plan(field: &str) -> Plan<Self> {
        match field {
            "id" => Plan::Row(|a, _| Ok(Value::String(a.assignee_id().to_string()))),
            "type" => Plan::Row(|a, _| Ok(of(&a.assignee_type()))),
            "user" => Plan::Batch(users),
            "role" => Plan::Batch(roles),
            _ => Plan::Each,
        }
    }
}

fn users<'a>(
    assignments: &'a [&'a Assignment],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        let users: Vec<Option<&User>> = assignments.iter().map(|a| a.user.as_ref()).collect();
        nested(fields, &users).await
    })
}

fn roles<'a>(
    assignments: &'a [&'a Assignment],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        let roles: Vec<Option<&Role>> = assignments.iter().map(|a| a.role.as_ref()).collect();
        nested(fields, &roles).await
    })
}

impl ListObject for Role {
    fn plan(field: &str) -> Plan<Self> {
        Plan::Row(match field {
            "id" => |role, _| Ok(of(&role.id)),
            "name" => |role, _| Ok(string(&role.name)),
            _ => return Plan::Each,
        })
    }
}
