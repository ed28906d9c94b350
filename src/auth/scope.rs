//! Which tickets a viewer may see: the team's, and for a customer only their own (by
//! distinct id). Every ticket query starts from a scope, so a customer token can never
//! reach another customer's ticket through any path.

use diesel::pg::Pg;
use diesel::prelude::*;
use uuid::Uuid;

use super::Viewer;
use crate::db::schema::tickets;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TicketScope {
    pub team_id: Uuid,
    /// Set for customers: only tickets of this distinct id.
    pub distinct_id: Option<String>,
}

impl TicketScope {
    pub fn team(team_id: Uuid) -> TicketScope {
        TicketScope {
            team_id,
            distinct_id: None,
        }
    }

    pub fn of(viewer: &Viewer) -> TicketScope {
        TicketScope {
            team_id: viewer.team_id,
            distinct_id: viewer.customer.clone(),
        }
    }

    pub fn apply<'a, ST: 'a>(
        &self,
        query: tickets::BoxedQuery<'a, Pg, ST>,
    ) -> tickets::BoxedQuery<'a, Pg, ST> {
        let query = query.filter(tickets::team_id.eq(self.team_id));
        match &self.distinct_id {
            Some(distinct_id) => query.filter(tickets::distinct_id.eq(distinct_id.clone())),
            None => query,
        }
    }
}
