//! Tickets: the row, its queries (numbering, filters, keyset pages) and its GraphQL type.

pub mod connection;
pub mod filter;
pub mod graphql;
pub mod model;
pub mod mutations;
pub mod order;
pub mod queries;
pub mod scope;
pub mod search;
pub mod writes;

pub use model::Ticket;
pub use scope::TicketScope;
