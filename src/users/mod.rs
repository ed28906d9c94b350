//! Users: the support agents of an organisation (keys may act as one; tickets are assigned
//! to them; they write support messages).

pub mod graphql;
pub mod loaders;
pub mod model;
pub mod queries;

pub use model::User;
