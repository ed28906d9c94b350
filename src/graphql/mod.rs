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

/// True when an operation failed before execution (parse, validation, variables): no
/// data, and only errors without a path (field errors always have one). Such a response
/// carries no `data` (HTTP: 400 under the spec's media type; websockets: an `error`
/// message).
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}
