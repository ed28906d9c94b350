//! Ticket assignments: at most one per ticket, a user or a role.

pub mod graphql;
pub mod queries;
pub mod writes;

pub use queries::Assignment;
