//! Organisations and teams: the tenants every ticket, person and key belongs to.

pub mod graphql;
pub mod loaders;
pub mod model;
pub mod queries;

pub use model::{Organization, Team};
