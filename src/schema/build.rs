//! The schema, assembled once at start-up and shared by every request and connection.

use async_graphql::{MergedObject, Schema, SchemaBuilder, ValidationMode};

use super::gateway::Gateway;
use super::node::NodeQuery;
use crate::graphql::context::SchemaData;
use crate::graphql::limits::DocumentLimits;
use crate::graphql::stage_spans::StageSpans;
use crate::persons::graphql::PersonQuery;
use crate::persons::tokens::AuthMutation;
use crate::teams::graphql::TeamQuery;
use crate::tickets::counts::TicketCountsQuery;
use crate::tickets::graphql::TicketQuery;
use crate::tickets::messages::graphql::MessageMutation;
use crate::tickets::mutations::TicketMutation;
use crate::tickets::presence::PresenceMutation;
use crate::tickets::subscriptions::SubscriptionRoot;
use crate::tickets::views::graphql::{ViewMutation, ViewQuery};

#[derive(MergedObject, Default)]
pub struct Query(
    TicketQuery,
    TicketCountsQuery,
    ViewQuery,
    PersonQuery,
    TeamQuery,
    NodeQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    TicketMutation,
    ViewMutation,
    PresenceMutation,
    MessageMutation,
    AuthMutation,
);

pub type GraphqlSchema = Schema<Query, Mutation, SubscriptionRoot>;

/// What the transports run: the schema behind the document limits and error codes.
pub type AppSchema = Gateway;

/// Schema-wide limits and switches, from the configuration.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_fields: usize,
    pub max_tokens: usize,
    /// Bytes of text and JSON one response may carry (0: no budget).
    pub max_response_bytes: usize,
    /// Bytes the requests of one credential in flight may hold together (0: no limit).
    pub max_held_bytes_per_key: usize,
    pub introspection: bool,
    /// Parsed documents kept by their text (0: none).
    pub document_cache: usize,
    /// Spans for the validation and execution stages (only when traces are exported:
    /// see `graphql::stage_spans`).
    pub stage_spans: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            max_depth: 12,
            max_complexity: 200_000,
            max_aliases: 100,
            max_root_fields: 20,
            max_fields: 5_000,
            max_tokens: 50_000,
            max_response_bytes: 32 * 1024 * 1024,
            max_held_bytes_per_key: 128 * 1024 * 1024,
            introspection: true,
            document_cache: 1000,
            stage_spans: false,
        }
    }
}

/// The schema with its shared data. `data` is None only for printing the SDL.
pub fn build_schema(data: Option<SchemaData>, options: &SchemaOptions) -> AppSchema {
    let schema = builder(data.clone(), options).finish();
    // Built twice rather than shared: async-graphql's validation mode is a schema setting.
    let prevalidated = builder(data, options)
        .validation_mode(ValidationMode::Fast)
        .finish();
    let limits = DocumentLimits {
        max_depth: options.max_depth,
        max_aliases: options.max_aliases,
        max_root_fields: options.max_root_fields,
        max_fields: options.max_fields,
        max_tokens: options.max_tokens,
    };
    Gateway::new(
        schema,
        prevalidated,
        limits,
        options.document_cache,
        options.max_response_bytes,
        options.max_held_bytes_per_key,
        options.introspection,
    )
}

fn builder(
    data: Option<SchemaData>,
    options: &SchemaOptions,
) -> SchemaBuilder<Query, Mutation, SubscriptionRoot> {
    // No async-graphql extensions: see gateway.rs.
    let mut builder = Schema::build(Query::default(), Mutation::default(), SubscriptionRoot);
    // 0 turns a limit off (as for the rate limit), e.g. to measure what the limits cost.
    // Depth is `DocumentLimits`' (introspection has its own bound there).
    if options.max_complexity > 0 {
        builder = builder.limit_complexity(options.max_complexity);
    }
    if !options.introspection {
        builder = builder.disable_introspection().disable_suggestions();
    }
    if options.stage_spans {
        builder = builder.extension(StageSpans);
    }
    if let Some(data) = data {
        builder = builder
            .data(data.broker.clone())
            .data(data.tokens.clone())
            .data(data);
    }
    builder
}

/// The SDL clients see (what `ticketgate print-schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    build_schema(None, &SchemaOptions::default()).sdl()
}
