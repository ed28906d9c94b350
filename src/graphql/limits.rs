//! Limits async-graphql does not have: aliases and root fields per operation. Depth and
//! complexity (with page sizes priced in) are async-graphql's own (see `schema.rs`).
//! Checked right after parsing, before validation or any database work.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

#[derive(Clone, Copy, Debug)]
pub struct DocumentLimits {
    pub max_aliases: usize,
    pub max_root_fields: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

/// Aliased fields anywhere in the document (fragments included once each).
fn aliases(document: &ExecutableDocument) -> usize {
    fn count(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + count(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => count(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let in_operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| count(&op.node.selection_set.node))
        .sum();
    let in_fragments: usize = document
        .fragments
        .values()
        .map(|f| count(&f.node.selection_set.node))
        .sum();
    in_operations + in_fragments
}

/// The most root fields of any operation, through fragments (bounded: fragment cycles
/// are refused by validation later, not followed here).
fn root_fields(document: &ExecutableDocument) -> usize {
    fn count(set: &SelectionSet, document: &ExecutableDocument, depth: usize) -> usize {
        if depth > 8 {
            return 0;
        }
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(f) => {
                    count(&f.node.selection_set.node, document, depth + 1)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .map_or(0, |f| {
                        count(&f.node.selection_set.node, document, depth + 1)
                    }),
            })
            .sum()
    }
    document
        .operations
        .iter()
        .map(|(_, op)| count(&op.node.selection_set.node, document, 0))
        .max()
        .unwrap_or(0)
}

fn refused(code: &str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

#[async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let found = aliases(&document);
        if found > self.max_aliases {
            return Err(refused(
                "TOO_MANY_ALIASES",
                format!(
                    "{found} aliases: at most {} per operation",
                    self.max_aliases
                ),
            ));
        }
        let found = root_fields(&document);
        if found > self.max_root_fields {
            return Err(refused(
                "TOO_MANY_ROOT_FIELDS",
                format!(
                    "{found} root fields: at most {} per operation",
                    self.max_root_fields
                ),
            ));
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).unwrap()
    }

    #[test]
    fn counts_aliases_and_root_fields() {
        let doc = parse("{ a: me { x: team { id } } b: me { id } tickets { n: nodes { id } } }");
        assert_eq!(aliases(&doc), 4);
        assert_eq!(root_fields(&doc), 3);
        let doc = parse("query { ...F ...F } fragment F on Query { me { id } t: tags }");
        assert_eq!(root_fields(&doc), 4);
        assert_eq!(aliases(&doc), 1);
    }
}
