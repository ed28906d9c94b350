//! Gives every error async-graphql raises itself (parse, validation, operation choice,
//! argument coercion) a stable `extensions.code`, like the errors of our own resolvers
//! carry. Applied to each response by the `Gateway` (see `gateway.rs` for why this is not
//! an async-graphql extension).

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, Response, ServerError};

use crate::error::ErrorCode;

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

fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    if !has_code(&error) {
        code.set_in(&mut error.extensions);
    }
    error
}

/// Gives every uncoded error of a response its code. Errors with a path come from a
/// field's arguments; without one, from the request as a whole: the operation could not be
/// chosen, the document is too deep to parse, or (all the rest) it failed validation.
/// `query` is the operation's text: re-parsed, only when needed, to name the argument of a
/// value that failed to parse (async-graphql reports only its position).
pub fn code_response(mut response: Response, query: &str) -> Response {
    if response.errors.iter().all(has_code) {
        return response;
    }
    let document = response
        .errors
        .iter()
        .any(|error| !has_code(error) && error.message.starts_with("Failed to parse"))
        .then(|| async_graphql::parser::parse_query(query).ok())
        .flatten();
    response.errors = std::mem::take(&mut response.errors)
        .into_iter()
        .map(|error| code_error(error, document.as_ref()))
        .collect();
    response
}

fn code_error(error: ServerError, document: Option<&ExecutableDocument>) -> ServerError {
    if has_code(&error) {
        return error;
    }
    let error = name_failed_argument(error, document);
    let message = error.message.as_str();
    if message.starts_with("Failed to parse") || !error.path.is_empty() {
        with_code(error, ErrorCode::BadUserInput)
    } else if OPERATION_RESOLUTION.iter().any(|m| message.starts_with(m)) {
        with_code(error, ErrorCode::OperationResolutionFailure)
    } else if PARSE_LIMITS.iter().any(|m| message.starts_with(m)) {
        parse_failed(error)
    } else {
        code_validation_error(error)
    }
}

/// async-graphql's errors when no operation of the document can run.
const OPERATION_RESOLUTION: &[&str] = &[
    "Unknown operation named",
    "Operation name required",
    "Subscriptions are not supported",
    "Mutations are not supported",
];

/// async-graphql's checks right after parsing.
const PARSE_LIMITS: &[&str] = &[
    "The recursion depth of the query cannot be greater than",
    "The number of directives on the field",
];

/// A document that is not GraphQL.
pub fn parse_failed(error: ServerError) -> ServerError {
    with_code(error, ErrorCode::GraphqlParseFailed)
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
    let mut error = with_code(error, ErrorCode::BadUserInput);
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
        let mut error = with_code(error, ErrorCode::BadUserInput);
        if let Some(extensions) = error.extensions.as_mut() {
            extensions.set("field", argument);
        }
        return error;
    }
    let code = if message.contains("nested too deep") {
        ErrorCode::QueryTooDeep
    } else if message.contains("too complex") {
        ErrorCode::QueryTooComplex
    } else {
        ErrorCode::GraphqlValidationFailed
    };
    with_code(error, code)
}
