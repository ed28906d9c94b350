//! Tickets: the row, its queries (numbering, filters, keyset pages) and its GraphQL type.

pub mod assign;
pub mod bulk;
pub mod connection;
pub mod counts;
pub mod fields;
pub mod filter;
pub mod graphql;
pub mod loaders;
pub mod messages;
pub mod model;
pub mod mutations;
pub mod order;
pub mod presence;
pub mod projection;
pub mod queries;
pub mod read_ahead;
pub mod search;
pub mod snooze;
pub mod subscriptions;
pub mod views;
pub mod writes;

pub use model::Ticket;
