//! Persons: the customers behind tickets, found through their distinct ids (with the
//! reference's email fallback for email tickets).

pub mod graphql;
pub mod loaders;
pub mod queries;
pub mod tokens;

pub use queries::Person;

/// The most distinct ids one filter or look-up may name.
pub const MAX_DISTINCT_IDS: usize = 100;
