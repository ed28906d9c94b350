//! The spec's coercion of variable values ("CoerceVariableValues") where async-graphql 7.2
//! falls short: a variable of a non-null type must be given a value (or have a default),
//! and that value must not be null. async-graphql read a null one as absent
//! (`query($n: Int!) { tickets(first: $n) … }` with `{"n": null}` ran with the default
//! page size), a missing one that only a `@skip`/`@include` read as false, and answered
//! any other missing one with "Variable n is not defined." (a validation error, about a
//! variable the document does define). Refused here, before anything runs, with
//! `BAD_USER_INPUT` and the position of the variable's definition.
//!
//! The defaults of variables left out are filled in, as the spec's coercion does:
//! async-graphql reads `@skip`/`@include` conditions from the given values only, so
//! `query($x: Boolean = true) { a @include(if: $x) }` used to leave `a` out.

use async_graphql::parser::types::OperationDefinition;
use async_graphql::{ServerError, Variables};
use async_graphql_value::ConstValue;

use crate::error::ErrorCode;

/// The first variable of `operation` whose value `variables` fails to give; the
/// defaults of those left out are added to `variables`.
pub fn coerce(
    operation: &OperationDefinition,
    variables: &mut Variables,
) -> Result<(), ServerError> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = &definition.name.node;
        if let (None, Some(default)) = (variables.get(name), &definition.default_value) {
            variables.insert(name.clone(), default.node.clone());
        }
    }
    check(operation, variables)
}

fn check(operation: &OperationDefinition, variables: &Variables) -> Result<(), ServerError> {
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let ty = &definition.var_type.node;
        if ty.nullable {
            continue;
        }
        let name = &definition.name.node;
        let message = match variables.get(name) {
            Some(ConstValue::Null) => {
                format!("Variable \"${name}\" of non-null type \"{ty}\" must not be null.")
            }
            Some(_) => continue,
            None => format!("Variable \"${name}\" of required type \"{ty}\" was not provided."),
        };
        let mut error = ErrorCode::BadUserInput.server_error(message, Some(definition.name.pos));
        // Named like the other errors about one variable's value.
        if let Some(extensions) = error.extensions.as_mut() {
            extensions.set("field", name.as_str());
        }
        return Err(error);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::types::DocumentOperations;

    fn verdict(query: &str, variables: serde_json::Value) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation");
        };
        let mut variables = Variables::from_json(variables);
        coerce(&operation.node, &mut variables).map_err(|error| error.message)
    }

    #[test]
    fn non_null_variables_need_a_value() {
        let query = "query($n: Int!, $m: Int) { __typename }";
        assert!(verdict(query, serde_json::json!({"n": 1})).is_ok());
        assert!(verdict(query, serde_json::json!({"n": 1, "m": null})).is_ok());
        assert_eq!(
            verdict(query, serde_json::json!({"n": null})).unwrap_err(),
            "Variable \"$n\" of non-null type \"Int!\" must not be null."
        );
        assert_eq!(
            verdict(query, serde_json::json!({})).unwrap_err(),
            "Variable \"$n\" of required type \"Int!\" was not provided."
        );
        let defaulted = "query($n: Int! = 3) { __typename }";
        assert!(verdict(defaulted, serde_json::json!({})).is_ok());
        assert!(verdict(defaulted, serde_json::json!({"n": null})).is_err());
        let document =
            async_graphql::parser::parse_query("query($b: Boolean = true, $c: Int) { __typename }")
                .unwrap();
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation");
        };
        let mut variables = Variables::default();
        coerce(&operation.node, &mut variables).unwrap();
        assert_eq!(variables.get("b"), Some(&ConstValue::Boolean(true)));
        assert_eq!(variables.get("c"), None, "no default, nothing added");
        assert!(verdict(
            "query($l: [ID!]!) { __typename }",
            serde_json::json!({"l": []})
        )
        .is_ok());
    }
}
