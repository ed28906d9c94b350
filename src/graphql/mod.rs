//! Schema assembly, request context, error codes, pagination and loaders.

pub mod budget;
pub mod context;
pub mod documents;
pub mod error_codes;
pub mod gateway;
pub mod lexical;
pub mod limits;
pub mod lists;
pub mod loaders;
pub mod pagination;
pub mod read_ahead;
pub mod schema;
pub mod shape;
pub mod spec_rules;
pub mod subscriptions;
pub mod text_enum;

pub use schema::{build_schema, AppSchema, SchemaOptions};

/// True when an operation failed before execution (parse, validation, variables): such a
/// response carries no `data` (HTTP: 400 under the spec's media type; websockets: an
/// `error` message). The transport crate owns the rule, HTTP uses it too.
pub use graphql_ws::is_request_error;
