//! The spec's validation rules async-graphql 7.2 leaves out, checked on the parsed
//! document before its own validation:
//!
//! - `__typename` is a field like any other: no arguments, no selection, only known
//!   directives, each once, with its required argument. async-graphql's validator skips
//!   `__typename` entirely, so `{ __typename @nope }` or `@include` repeated 20,000 times
//!   used to run.
//! - A subscription selects exactly one root field (spec, "Single Root Field");
//!   async-graphql streams every root field it is given.
//!
//! Runs after `shape::depth` bounded the document, so following fragments recursively
//! here is safe.

use std::collections::HashSet;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{Positioned, ServerError};
use async_graphql_value::Value;

use crate::error::ErrorCode;

/// The first rule the document breaks, if any.
pub fn check(document: &ExecutableDocument) -> Result<(), ServerError> {
    for (_, fragment) in document.fragments.iter() {
        typename_fields(&fragment.node.selection_set.node, None)?;
    }
    for (name, operation) in operations(&document.operations) {
        typename_fields(&operation.node.selection_set.node, Some(&operation.node))?;
        if operation.node.ty == OperationType::Subscription {
            single_root_field(document, name, operation)?;
        }
    }
    Ok(())
}

fn operations(
    operations: &DocumentOperations,
) -> Vec<(Option<&str>, &Positioned<OperationDefinition>)> {
    match operations {
        DocumentOperations::Single(operation) => vec![(None, operation)],
        DocumentOperations::Multiple(named) => named
            .iter()
            .map(|(name, operation)| (Some(name.as_str()), operation))
            .collect(),
    }
}

fn invalid(message: String, at: async_graphql::Pos) -> ServerError {
    ErrorCode::GraphqlValidationFailed.server_error(message, Some(at))
}

/// Every `__typename` of a selection set, nested ones included.
fn typename_fields(
    set: &SelectionSet,
    operation: Option<&OperationDefinition>,
) -> Result<(), ServerError> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if field.node.name.node == "__typename" {
                    typename(field, operation)?;
                }
                typename_fields(&field.node.selection_set.node, operation)?;
            }
            Selection::InlineFragment(fragment) => {
                typename_fields(&fragment.node.selection_set.node, operation)?
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}

fn typename(
    field: &Positioned<Field>,
    operation: Option<&OperationDefinition>,
) -> Result<(), ServerError> {
    if let Some((name, _)) = field.node.arguments.first() {
        return Err(invalid(
            format!("Unknown argument \"{}\" on field \"__typename\"", name.node),
            name.pos,
        ));
    }
    if !field.node.selection_set.node.items.is_empty() {
        return Err(invalid(
            "Field \"__typename\" must not have a selection since type \"String!\" has no subfields"
                .into(),
            field.node.selection_set.pos,
        ));
    }
    let mut seen = HashSet::new();
    for directive in &field.node.directives {
        let name = directive.node.name.node.as_str();
        if !seen.insert(name) {
            return Err(invalid(
                format!("The directive \"@{name}\" can only be used once at this location"),
                directive.pos,
            ));
        }
        condition(directive, operation)?;
    }
    Ok(())
}

/// `@skip` and `@include`, the only directives a field may carry in this schema, with
/// their one argument `if: Boolean!`.
fn condition(
    directive: &Positioned<Directive>,
    operation: Option<&OperationDefinition>,
) -> Result<(), ServerError> {
    let name = directive.node.name.node.as_str();
    if name != "skip" && name != "include" {
        return Err(invalid(
            format!("Unknown directive \"@{name}\""),
            directive.pos,
        ));
    }
    for (argument, _) in &directive.node.arguments {
        if argument.node != "if" {
            return Err(invalid(
                format!(
                    "Unknown argument \"{}\" on directive \"@{name}\"",
                    argument.node
                ),
                argument.pos,
            ));
        }
    }
    let Some(value) = directive.node.get_argument("if") else {
        return Err(invalid(
            format!("Directive \"@{name}\" argument \"if\" of type \"Boolean!\" is required but not provided"),
            directive.pos,
        ));
    };
    match &value.node {
        Value::Boolean(_) => Ok(()),
        Value::Variable(variable) => boolean_variable(variable, operation, value.pos),
        _ => Err(invalid(
            format!("Invalid value for argument \"if\" of directive \"@{name}\": expected type \"Boolean!\""),
            value.pos,
        )),
    }
}

/// A variable in a `__typename` condition must be declared by the operation as a
/// Boolean. (In a fragment the operation is not known here; async-graphql's own rules
/// check the fragment's other variables, and an undeclared one reads as false.)
fn boolean_variable(
    variable: &async_graphql::Name,
    operation: Option<&OperationDefinition>,
    at: async_graphql::Pos,
) -> Result<(), ServerError> {
    let Some(operation) = operation else {
        return Ok(());
    };
    let declared = operation
        .variable_definitions
        .iter()
        .find(|definition| definition.node.name.node == *variable);
    match declared {
        Some(definition)
            if matches!(&definition.node.var_type.node.base,
                async_graphql::parser::types::BaseType::Named(n) if n.as_str() == "Boolean") =>
        {
            Ok(())
        }
        Some(_) => Err(invalid(
            format!("Variable \"${variable}\" is not of type \"Boolean!\" where it is used"),
            at,
        )),
        None => Err(invalid(
            format!("Variable \"${variable}\" is not defined"),
            at,
        )),
    }
}

/// The response keys at the root of a subscription, fragments followed: exactly one.
fn single_root_field(
    document: &ExecutableDocument,
    name: Option<&str>,
    operation: &Positioned<OperationDefinition>,
) -> Result<(), ServerError> {
    let mut keys = HashSet::new();
    let mut visited = HashSet::new();
    root_keys(
        document,
        &operation.node.selection_set.node,
        &mut keys,
        &mut visited,
    );
    if keys.len() <= 1 {
        return Ok(());
    }
    let subject = match name {
        Some(name) => format!("Subscription \"{name}\""),
        None => "Anonymous Subscription".to_owned(),
    };
    Err(invalid(
        format!("{subject} must select only one top level field"),
        operation.pos,
    ))
}

fn root_keys<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    keys: &mut HashSet<&'a str>,
    visited: &mut HashSet<&'a str>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                keys.insert(field.node.response_key().node.as_str());
            }
            Selection::InlineFragment(fragment) => {
                root_keys(document, &fragment.node.selection_set.node, keys, visited)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if let Some(fragment) = document.fragments.get(name) {
                    if visited.insert(name) {
                        root_keys(document, &fragment.node.selection_set.node, keys, visited);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(query: &str) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        check(&document).map_err(|error| error.message)
    }

    #[test]
    fn typename_is_validated_like_any_field() {
        assert!(verdict("{ __typename }").is_ok());
        assert!(verdict("{ __typename @skip(if: true) @include(if: false) }").is_ok());
        assert!(verdict("query($x: Boolean!) { __typename @include(if: $x) }").is_ok());
        for bad in [
            "{ __typename @nope }",
            "{ __typename(a: 1) }",
            "{ __typename { x } }",
            "{ __typename @skip }",
            "{ __typename @skip(if: true, x: 1) }",
            "{ __typename @skip(if: \"yes\") }",
            "{ __typename @include(if: true) @include(if: true) }",
            "{ __typename @include(if: $undeclared) }",
            "query($x: String) { __typename @include(if: $x) }",
            "{ me { ... on Me { __typename @nope } } }",
            "{ ...F } fragment F on Query { __typename(x: 1) }",
        ] {
            assert!(verdict(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_subscription_has_one_root_field() {
        assert!(verdict("subscription { unreadCount }").is_ok());
        assert!(verdict("subscription { unreadCount unreadCount }").is_ok());
        assert!(verdict("subscription S { unreadCount a: unreadCount }")
            .unwrap_err()
            .starts_with("Subscription \"S\""));
        assert!(verdict("subscription { ...F } fragment F on Subscription { a b }").is_err());
        assert!(verdict("subscription { a ... on Subscription { b } }").is_err());
        // Queries may have many.
        assert!(verdict("{ a b c }").is_ok());
    }
}
