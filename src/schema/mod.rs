//! Schema assembly: the one module that knows every domain. It merges the domains'
//! queries, mutations and subscriptions into one schema and puts it behind the gateway
//! (document limits, caching, error codes) the transports run.

pub mod build;
pub mod gateway;
pub mod node;

pub use build::{build_schema, AppSchema, SchemaOptions};
