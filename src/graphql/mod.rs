//! The GraphQL machinery every domain builds on, knowing no domain: request context,
//! lists and pagination, the loader machinery, document limits, error codes and the
//! response budget. The schema is assembled above the domains, in `schema`.

pub mod budget;
pub mod context;
pub mod documents;
pub mod error_codes;
pub mod fields;
pub mod lexical;
pub mod limits;
pub mod lists;
pub mod loaders;
pub mod manifest;
pub mod pagination;
pub mod persisted;
pub mod primed;
pub mod shape;
pub mod spec_rules;
pub mod stage_spans;
pub mod text_enum;
pub mod trusted;
pub mod variables;

/// True when an operation failed before execution (parse, validation, variables): such a
/// response carries no `data` (HTTP: 400 under the spec's media type; websockets: an
/// `error` message). The transport crate owns the rule, HTTP uses it too.
pub use graphql_ws::is_request_error;
