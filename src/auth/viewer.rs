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

/// The authenticated caller of one request or websocket connection. Every query takes
/// the team id from here: scoping happens in SQL, never after the fact.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub team_id: Uuid,
    pub user_id: Option<Uuid>,
    pub key_id: Uuid,
    pub scopes: Vec<Scope>,
}

impl Viewer {
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
