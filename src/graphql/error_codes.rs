//! Gives every error async-graphql raises itself (parse, validation, argument coercion) a
//! stable `extensions.code`, like the errors of our own resolvers carry.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use crate::error::codes;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension::default())
    }
}

/// One per request: keeps the parsed document to name the argument of a value that failed
/// to parse during execution (async-graphql reports only its position).
#[derive(Default)]
struct ErrorCodesExtension {
    document: Arc<Mutex<Option<ExecutableDocument>>>,
}

/// The name of the argument whose value (or variable) sits at `pos`.
fn argument_at(document: &ExecutableDocument, pos: Pos) -> Option<String> {
    fn search(
        set: &SelectionSet,
        document: &ExecutableDocument,
        pos: Pos,
        depth: usize,
    ) -> Option<String> {
        if depth > 64 {
            return None;
        }
        set.items
            .iter()
            .find_map(|selection| match &selection.node {
                Selection::Field(field) => field
                    .node
                    .arguments
                    .iter()
                    .find(|(_, value)| value.pos == pos)
                    .map(|(name, _)| name.node.to_string())
                    .or_else(|| search(&field.node.selection_set.node, document, pos, depth + 1)),
                Selection::InlineFragment(fragment) => {
                    search(&fragment.node.selection_set.node, document, pos, depth + 1)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .and_then(|f| search(&f.node.selection_set.node, document, pos, depth + 1)),
            })
    }
    document
        .operations
        .iter()
        .find_map(|(_, op)| search(&op.node.selection_set.node, document, pos, 0))
}

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
}

fn with_code(mut error: ServerError, code: &str) -> ServerError {
    if !has_code(&error) {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    error
}

/// Gives every uncoded error of a response its code: errors with a path come from a
/// field's arguments; without one, from the request as a whole (unknown operation name,
/// missing variables).
fn code_response(mut response: Response, document: Option<&ExecutableDocument>) -> Response {
    response.errors = std::mem::take(&mut response.errors)
        .into_iter()
        .map(|error| name_failed_argument(error, document))
        .map(|error| {
            let code = if error.message.starts_with("Invalid value for argument")
                || error.message.contains("Failed to parse")
                || !error.path.is_empty()
            {
                codes::BAD_USER_INPUT
            } else {
                "OPERATION_RESOLUTION_FAILURE"
            };
            with_code(error, code)
        })
        .collect();
    response
}

/// A value that failed to parse while executing (`Failed to parse "UUID": …`) becomes bad
/// user input naming its argument, found by the error's position in the document.
fn name_failed_argument(error: ServerError, document: Option<&ExecutableDocument>) -> ServerError {
    if has_code(&error) || !error.message.starts_with("Failed to parse") {
        return error;
    }
    let argument = document.and_then(|doc| {
        error
            .locations
            .iter()
            .find_map(|pos| argument_at(doc, *pos))
    });
    let Some(argument) = argument else {
        return error;
    };
    let mut error = with_code(error, codes::BAD_USER_INPUT);
    error.message = format!("{argument}: {}", error.message);
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("field", argument);
    }
    error
}

/// The argument a validation error is about: `Invalid value for argument "filter.status.0", …`.
fn invalid_argument(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("Invalid value for argument \"")?;
    rest.split('"').next()
}

/// Codes validation errors: a bad argument value is bad user input (naming the argument),
/// a limit gets its own code, the rest is a document that does not fit the schema.
fn code_validation_error(error: ServerError) -> ServerError {
    let message = error.message.clone();
    if let Some(argument) = invalid_argument(&message) {
        let mut error = with_code(error, codes::BAD_USER_INPUT);
        if let Some(extensions) = error.extensions.as_mut() {
            extensions.set("field", argument);
        }
        return error;
    }
    let code = if message.contains("nested too deep") {
        "QUERY_TOO_DEEP"
    } else if message.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else {
        codes::GRAPHQL_VALIDATION_FAILED
    };
    with_code(error, code)
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        let document = self.document.lock().ok().and_then(|mut d| d.take());
        code_response(response, document.as_ref())
    }

    /// Websocket operations run through here instead of `request`: the same codes.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let document = self.document.clone();
        next.run(ctx, stream)
            .map(move |response| {
                let kept = document.lock().ok().and_then(|d| d.clone());
                code_response(response, kept.as_ref())
            })
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, codes::GRAPHQL_PARSE_FAILED))?;
        if let Ok(mut kept) = self.document.lock() {
            *kept = Some(document.clone());
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errors| errors.into_iter().map(code_validation_error).collect())
    }
}
