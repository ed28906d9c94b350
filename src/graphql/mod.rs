//! Schema assembly, request context, error codes, pagination and loaders.

pub mod context;
pub mod error_codes;
pub mod loaders;
pub mod pagination;
pub mod schema;
pub mod subscriptions;
pub mod text_enum;

pub use schema::{build_schema, AppSchema, SchemaOptions};
