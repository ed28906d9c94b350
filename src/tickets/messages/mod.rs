//! Messages: the conversation of a ticket (customer, support and AI messages, private
//! notes), read a page per ticket for many tickets at once.

pub mod graphql;
pub mod loaders;
pub mod model;
pub mod queries;
pub mod writes;

pub use model::Message;
