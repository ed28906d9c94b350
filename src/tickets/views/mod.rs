//! Saved views: a team's named ticket filter and order, shared with the team or private
//! to the key's user. The rows (`model`), their statements (`queries`) and the GraphQL
//! types, queries and mutations (`graphql`); `resolve` applies a view to `tickets`,
//! `ticketCounts`, the subscriptions and the bulk mutations.

pub mod graphql;
pub mod model;
pub mod queries;

pub use graphql::resolve;
pub use model::TicketViewRow;

/// How many views (shared and private together) one team may hold.
pub const MAX_VIEWS_PER_TEAM: i64 = 200;
/// The longest view name, in characters.
pub const MAX_VIEW_NAME_CHARS: usize = 100;
