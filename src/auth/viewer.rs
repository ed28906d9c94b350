use uuid::Uuid;

use crate::error::AppError;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

/// The authenticated caller of one request or websocket connection: a team's API key, or
/// a customer's token. Every query takes its scope from here: scoping happens in SQL,
/// never after the fact.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub team_id: Uuid,
    pub user_id: Option<Uuid>,
    /// The API key (None for a customer token).
    pub key_id: Option<Uuid>,
    /// What an API key may do; a customer has no scope (customer actions are checked
    /// one by one).
    pub scopes: Vec<Scope>,
    /// A customer token's distinct id: this viewer sees only that customer's tickets.
    pub customer: Option<String>,
    /// When the credential stops working (customer tokens expire).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Viewer {
    pub fn is_customer(&self) -> bool {
        self.customer.is_some()
    }

    /// Refuses customers: for what only the team may see or do.
    pub fn require_team(&self) -> Result<(), AppError> {
        match self.customer {
            None => Ok(()),
            Some(_) => Err(AppError::Forbidden(
                "customer tokens cannot use this; it needs a team API key".into(),
            )),
        }
    }

    pub fn can(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.can(scope) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this API key lacks the `{}` scope",
                scope.as_str()
            )))
        }
    }
}
