//! Ticket assignments: at most one per ticket, a user or a role. Reading them is here;
//! assigning is a change of the ticket (`tickets::assign`).

pub mod graphql;
pub mod loaders;
pub mod queries;

pub use queries::Assignment;
