//! The spec's validation rules async-graphql 7.2 leaves out (or answers with the wrong
//! code), checked on the parsed document before its own validation:
//!
//! - `__typename` is a field like any other. async-graphql's validator skips it entirely,
//!   so `{ __typename @nope }` or `@include` repeated 20,000 times used to run. Here it
//!   may have no arguments, no selection and no directive twice; and its directives are
//!   moved onto an inline fragment around it (`... @include(if: $x) { __typename }`, the
//!   same meaning), where async-graphql checks them as it checks any other: unknown
//!   directives, missing or mistyped arguments, undeclared variables, with the codes and
//!   messages of any other field, and a variable used only there counts as used.
//! - A subscription selects exactly one root field (spec, "Single Root Field");
//!   async-graphql streams every root field it is given.
//! - A variable in `@skip(if:)` or `@include(if:)` must be a `Boolean!` (or a `Boolean`
//!   with a default), on any field, fragment or spread (spec, "All Variable Usages Are
//!   Allowed"): async-graphql checks variables in field arguments only, and read a
//!   `String` or unset `Boolean` variable there as false, silently dropping the field.
//! - Fragments must not spread themselves (spec, "Fragment Spreads Must Not Form
//!   Cycles"); async-graphql reported a reached cycle as a recursion limit, as if the
//!   document could not be parsed.
//!
//! Runs after `shape::depth` bounded the document, so following fragments recursively
//! here is safe (a chain of spreads is at most `shape::MAX_DEPTH` long).

use std::collections::HashSet;

use async_graphql::parser::types::{
    BaseType, Directive, DocumentOperations, ExecutableDocument, Field, FragmentDefinition,
    InlineFragment, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Positioned, ServerError};
use async_graphql_value::{ConstValue, Value};

use crate::error::ErrorCode;

/// The first rule the document breaks, if any.
pub fn check(document: &ExecutableDocument) -> Result<(), ServerError> {
    for (_, fragment) in document.fragments.iter() {
        typename_fields(&fragment.node.selection_set.node)?;
    }
    for (name, operation) in operations(&document.operations) {
        typename_fields(&operation.node.selection_set.node)?;
        if operation.node.ty == OperationType::Subscription {
            single_root_field(document, name, operation)?;
        }
    }
    no_fragment_cycles(document)?;
    for (_, operation) in operations(&document.operations) {
        let mut visited = HashSet::new();
        condition_variables(
            document,
            &operation.node,
            &operation.node.selection_set.node,
            &mut visited,
        )?;
    }
    Ok(())
}

/// The variables of every `@skip`/`@include` the operation reaches, fragments followed
/// (each once), against the operation's definitions.
fn condition_variables<'a>(
    document: &'a ExecutableDocument,
    operation: &OperationDefinition,
    set: &'a SelectionSet,
    visited: &mut HashSet<&'a str>,
) -> Result<(), ServerError> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                conditions(operation, &field.node.directives)?;
                condition_variables(document, operation, &field.node.selection_set.node, visited)?;
            }
            Selection::InlineFragment(fragment) => {
                conditions(operation, &fragment.node.directives)?;
                condition_variables(
                    document,
                    operation,
                    &fragment.node.selection_set.node,
                    visited,
                )?;
            }
            Selection::FragmentSpread(spread) => {
                conditions(operation, &spread.node.directives)?;
                let name = spread.node.fragment_name.node.as_str();
                if let Some(fragment) = document.fragments.get(name) {
                    if visited.insert(name) {
                        condition_variables(
                            document,
                            operation,
                            &fragment.node.selection_set.node,
                            visited,
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn conditions(
    operation: &OperationDefinition,
    directives: &[Positioned<Directive>],
) -> Result<(), ServerError> {
    for directive in directives {
        let name = directive.node.name.node.as_str();
        if name != "skip" && name != "include" {
            continue;
        }
        for (_, value) in &directive.node.arguments {
            let Value::Variable(variable) = &value.node else {
                continue;
            };
            // Undeclared ones are async-graphql's to report.
            let Some(definition) = operation
                .variable_definitions
                .iter()
                .find(|definition| definition.node.name.node == *variable)
            else {
                continue;
            };
            let ty = &definition.node.var_type.node;
            let boolean = matches!(&ty.base, BaseType::Named(base) if base.as_str() == "Boolean");
            let non_null = !ty.nullable
                || definition
                    .node
                    .default_value
                    .as_ref()
                    .is_some_and(|default| default.node != ConstValue::Null);
            if !(boolean && non_null) {
                return Err(invalid(
                    format!(
                        "Variable \"${variable}\" of type \"{ty}\" used in position expecting type \"Boolean!\"."
                    ),
                    value.pos,
                ));
            }
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
fn typename_fields(set: &SelectionSet) -> Result<(), ServerError> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                if field.node.name.node == "__typename" {
                    typename(field)?;
                }
                typename_fields(&field.node.selection_set.node)?;
            }
            Selection::InlineFragment(fragment) => {
                typename_fields(&fragment.node.selection_set.node)?
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}

fn typename(field: &Positioned<Field>) -> Result<(), ServerError> {
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
    }
    Ok(())
}

/// The document with each `__typename` that carries directives wrapped in an inline
/// fragment that carries them instead; `None` when there is none (the usual case: the
/// document is then used as parsed, not copied).
pub fn typename_directives_moved(document: &ExecutableDocument) -> Option<ExecutableDocument> {
    let any = document
        .fragments
        .values()
        .map(|fragment| &fragment.node.selection_set.node)
        .chain(
            document
                .operations
                .iter()
                .map(|(_, operation)| &operation.node.selection_set.node),
        )
        .any(has_conditional_typename);
    if !any {
        return None;
    }
    let mut moved = document.clone();
    for fragment in moved.fragments.values_mut() {
        move_typename_directives(&mut fragment.node.selection_set.node);
    }
    match &mut moved.operations {
        DocumentOperations::Single(operation) => {
            move_typename_directives(&mut operation.node.selection_set.node)
        }
        DocumentOperations::Multiple(named) => {
            for operation in named.values_mut() {
                move_typename_directives(&mut operation.node.selection_set.node);
            }
        }
    }
    Some(moved)
}

fn has_conditional_typename(set: &SelectionSet) -> bool {
    set.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => {
            (field.node.name.node == "__typename" && !field.node.directives.is_empty())
                || has_conditional_typename(&field.node.selection_set.node)
        }
        Selection::InlineFragment(fragment) => {
            has_conditional_typename(&fragment.node.selection_set.node)
        }
        Selection::FragmentSpread(_) => false,
    })
}

fn move_typename_directives(set: &mut SelectionSet) {
    for selection in &mut set.items {
        let at = selection.pos;
        match &mut selection.node {
            Selection::Field(field)
                if field.node.name.node == "__typename" && !field.node.directives.is_empty() =>
            {
                let directives = std::mem::take(&mut field.node.directives);
                let bare = Positioned::new(Selection::Field(field.clone()), at);
                selection.node = Selection::InlineFragment(Positioned::new(
                    InlineFragment {
                        type_condition: None,
                        directives,
                        selection_set: Positioned::new(SelectionSet { items: vec![bare] }, at),
                    },
                    at,
                ));
            }
            Selection::Field(field) => move_typename_directives(&mut field.node.selection_set.node),
            Selection::InlineFragment(fragment) => {
                move_typename_directives(&mut fragment.node.selection_set.node)
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// No fragment reaches itself through its spreads. Depth-first from each fragment, each
/// fragment finished once; the path is the spreads followed so far (bounded, see above).
fn no_fragment_cycles(document: &ExecutableDocument) -> Result<(), ServerError> {
    let mut finished = HashSet::new();
    // In the document's order, so the same document always gets the same message.
    let mut fragments: Vec<_> = document.fragments.iter().collect();
    fragments.sort_by_key(|(_, fragment)| (fragment.pos.line, fragment.pos.column));
    for (name, fragment) in fragments {
        let mut path = vec![name.as_str()];
        cycle_from(document, fragment, &mut path, &mut finished)?;
    }
    Ok(())
}

fn cycle_from<'a>(
    document: &'a ExecutableDocument,
    fragment: &'a Positioned<FragmentDefinition>,
    path: &mut Vec<&'a str>,
    finished: &mut HashSet<&'a str>,
) -> Result<(), ServerError> {
    let Some(&name) = path.last() else {
        return Ok(());
    };
    if finished.contains(name) {
        return Ok(());
    }
    let mut spreads = Vec::new();
    spreads_of(&fragment.node.selection_set.node, &mut spreads);
    for spread in spreads {
        let target = spread.node.as_str();
        if let Some(start) = path.iter().position(|step| *step == target) {
            let via: Vec<String> = path[start + 1..]
                .iter()
                .map(|step| format!("\"{step}\""))
                .collect();
            let message = match via.is_empty() {
                true => format!("Cannot spread fragment \"{target}\" within itself."),
                false => format!(
                    "Cannot spread fragment \"{target}\" within itself via {}.",
                    via.join(", ")
                ),
            };
            return Err(invalid(message, spread.pos));
        }
        if let Some(next) = document.fragments.get(target) {
            path.push(target);
            cycle_from(document, next, path, finished)?;
            path.pop();
        }
    }
    finished.insert(name);
    Ok(())
}

/// The fragment names a selection set spreads, inline fragments and fields followed.
fn spreads_of<'a>(set: &'a SelectionSet, into: &mut Vec<&'a Positioned<async_graphql::Name>>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => spreads_of(&field.node.selection_set.node, into),
            Selection::InlineFragment(fragment) => {
                spreads_of(&fragment.node.selection_set.node, into)
            }
            Selection::FragmentSpread(spread) => into.push(&spread.node.fragment_name),
        }
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
    fn typename_is_a_field_like_any_other() {
        assert!(verdict("{ __typename }").is_ok());
        assert!(verdict("{ __typename @skip(if: true) @include(if: false) }").is_ok());
        for bad in [
            "{ __typename(a: 1) }",
            "{ __typename { x } }",
            "{ __typename @include(if: true) @include(if: true) }",
            "{ me { ... on Me { __typename(a: 1) } } }",
            "{ ...F } fragment F on Query { __typename(x: 1) }",
        ] {
            assert!(verdict(bad).is_err(), "{bad} was accepted");
        }
    }

    /// The directives of `__typename` end up on an inline fragment around it, where
    /// async-graphql validates them; other selections are left as they were.
    #[test]
    fn typename_directives_move_to_an_inline_fragment() {
        let parsed = |query| async_graphql::parser::parse_query(query).unwrap();
        assert!(typename_directives_moved(&parsed("{ __typename me { id } }")).is_none());
        let moved = typename_directives_moved(&parsed(
            "query($x: Boolean!) { a: __typename @include(if: $x) ...F } \
             fragment F on Query { me { __typename @skip(if: true) } }",
        ))
        .unwrap();
        let DocumentOperations::Single(operation) = &moved.operations else {
            panic!("one operation");
        };
        let Selection::InlineFragment(wrapper) = &operation.node.selection_set.node.items[0].node
        else {
            panic!("not wrapped");
        };
        assert!(wrapper.node.type_condition.is_none());
        assert_eq!(wrapper.node.directives[0].node.name.node, "include");
        let Selection::Field(inner) = &wrapper.node.selection_set.node.items[0].node else {
            panic!("no field inside");
        };
        assert_eq!(inner.node.response_key().node, "a");
        assert!(inner.node.directives.is_empty());
        assert!(!has_conditional_typename(
            &moved.fragments["F"].node.selection_set.node
        ));
    }

    #[test]
    fn condition_variables_are_booleans() {
        for good in [
            "query($x: Boolean!) { me @include(if: $x) { id } }",
            "query($x: Boolean = false) { ... @skip(if: $x) { me { id } } }",
            "query($x: Boolean!) { ...F @include(if: $x) } fragment F on Query { me { id } }",
        ] {
            assert!(verdict(good).is_ok(), "{good} was refused");
        }
        for bad in [
            "query($x: String) { me @include(if: $x) { id } }",
            "query($x: Boolean) { me @include(if: $x) { id } }",
            "query($x: Boolean = null) { me @include(if: $x) { id } }",
            "query($x: [Boolean!]!) { ... @skip(if: $x) { me { id } } }",
            "query($x: Int!) { __typename @skip(if: $x) }",
            "query($x: String) { ...F } fragment F on Query { me @skip(if: $x) { id } }",
        ] {
            assert!(verdict(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn fragments_must_not_spread_themselves() {
        assert!(
            verdict("{ ...A } fragment A on Query { ...B } fragment B on Query { me { id } }")
                .is_ok()
        );
        assert_eq!(
            verdict("{ ...A } fragment A on Query { ...A }").unwrap_err(),
            "Cannot spread fragment \"A\" within itself."
        );
        assert_eq!(
            verdict("{ ...A } fragment A on Query { ...B } fragment B on Query { me { ...C } } fragment C on Me { ... { ...A } }")
                .unwrap_err(),
            "Cannot spread fragment \"A\" within itself via \"B\", \"C\"."
        );
        // Unused fragments are checked too, as the spec's rule does.
        assert!(verdict(
            "{ __typename } fragment A on Query { ...B } fragment B on Query { ...A }"
        )
        .is_err());
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
