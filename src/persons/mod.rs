//! Persons: the customers behind tickets, found through their distinct ids (with the
//! reference's email fallback for email tickets).

pub mod graphql;
pub mod queries;

pub use queries::Person;
