//! Limits async-graphql does not have: aliases and root fields per operation. Depth and
//! complexity (with page sizes priced in) are async-graphql's own (see `schema.rs`).
//! Checked by the `Gateway` on the parsed document before async-graphql's own checks,
//! validation or any database work.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::ServerError;

use crate::error::ErrorCode;

#[derive(Clone, Copy, Debug)]
pub struct DocumentLimits {
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// Fields (and arguments) of an operation, fragments expanded.
    pub max_fields: usize,
    /// Lexical tokens of the document, counted before it is parsed.
    pub max_tokens: usize,
}

/// What a selection set adds up to once every fragment is expanded: fields (arguments
/// included), aliases, and fields at its own top level. Each fragment is measured once and
/// its size reused, so a "fragment bomb" (each level spreading the one below twice) is
/// measured in linear time — async-graphql's own validation would expand it
/// exponentially, which is why these limits run before it.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Size {
    fields: usize,
    aliases: usize,
    top_level: usize,
}

impl Size {
    fn add(self, other: Size) -> Size {
        Size {
            fields: self.fields.saturating_add(other.fields),
            aliases: self.aliases.saturating_add(other.aliases),
            top_level: self.top_level.saturating_add(other.top_level),
        }
    }
}

struct Measure<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a str, Size>,
    /// Fragments being measured: a cycle (refused later by validation) counts as empty.
    open: HashSet<&'a str>,
}

impl<'a> Measure<'a> {
    fn new(document: &'a ExecutableDocument) -> Self {
        Measure {
            document,
            fragments: HashMap::new(),
            open: HashSet::new(),
        }
    }

    fn fragment(&mut self, name: &'a str) -> Size {
        if let Some(size) = self.fragments.get(name) {
            return *size;
        }
        if !self.open.insert(name) {
            return Size::default();
        }
        let size = self
            .document
            .fragments
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, f)| self.set(&f.node.selection_set.node))
            .unwrap_or_default();
        self.open.remove(name);
        self.fragments.insert(name, size);
        size
    }

    fn set(&mut self, set: &'a SelectionSet) -> Size {
        set.items.iter().fold(Size::default(), |total, selection| {
            let size = match &selection.node {
                Selection::Field(field) => {
                    let inner = self.set(&field.node.selection_set.node);
                    Size {
                        fields: 1usize
                            .saturating_add(field.node.arguments.len())
                            .saturating_add(inner.fields),
                        aliases: usize::from(field.node.alias.is_some())
                            .saturating_add(inner.aliases),
                        top_level: 1,
                    }
                }
                Selection::InlineFragment(fragment) => self.set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
            };
            total.add(size)
        })
    }

    /// The largest operation of the document.
    fn operations(mut self) -> Size {
        let document = self.document;
        document
            .operations
            .iter()
            .map(|(_, op)| {
                // Variable definitions count too: async-graphql checks each against the
                // whole document.
                let variables = Size {
                    fields: op.node.variable_definitions.len(),
                    ..Size::default()
                };
                self.set(&op.node.selection_set.node).add(variables)
            })
            .fold(Size::default(), |max, size| Size {
                fields: max.fields.max(size.fields),
                aliases: max.aliases.max(size.aliases),
                top_level: max.top_level.max(size.top_level),
            })
    }
}

impl DocumentLimits {
    /// Runs on the text, before the parser: a document of more tokens than allowed is
    /// refused without spending the time (and memory) parsing it would take.
    pub fn check_tokens(&self, tokens: usize) -> Result<(), ServerError> {
        if self.max_tokens > 0 && tokens > self.max_tokens {
            return Err(ErrorCode::QueryTooLarge.server_error(
                format!(
                    "the document has {tokens} tokens: at most {}",
                    self.max_tokens
                ),
                None,
            ));
        }
        Ok(())
    }

    /// Runs before async-graphql's own parsing checks, whose recursion check expands
    /// fragments exponentially.
    pub fn check(&self, document: &ExecutableDocument) -> Result<(), ServerError> {
        // 0 turns a limit off; with all three off the document is not even walked.
        let exceeds = |value: usize, max: usize| max > 0 && value > max;
        if self.max_aliases == 0 && self.max_root_fields == 0 && self.max_fields == 0 {
            return Ok(());
        }
        let size = Measure::new(document).operations();
        if exceeds(size.aliases, self.max_aliases) {
            return Err(ErrorCode::TooManyAliases.server_error(
                format!(
                    "{} aliases: at most {} per operation",
                    size.aliases, self.max_aliases
                ),
                None,
            ));
        }
        if exceeds(size.top_level, self.max_root_fields) {
            return Err(ErrorCode::TooManyRootFields.server_error(
                format!(
                    "{} root fields: at most {} per operation",
                    size.top_level, self.max_root_fields
                ),
                None,
            ));
        }
        if exceeds(size.fields, self.max_fields) {
            return Err(ErrorCode::QueryTooLarge.server_error(
                format!(
                    "the operation selects {} fields and arguments (fragments expanded): at most {}",
                    size.fields, self.max_fields
                ),
                None,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(query: &str) -> Size {
        let document = async_graphql::parser::parse_query(query).unwrap();
        Measure::new(&document).operations()
    }

    #[test]
    fn counts_fields_aliases_and_root_fields_through_fragments() {
        let size = measure("{ a: me { x: team { id } } b: me { id } tickets { n: nodes { id } } }");
        assert_eq!((size.aliases, size.top_level), (4, 3));
        assert_eq!(size.fields, 8);
        let size = measure("query { ...F ...F } fragment F on Query { me { id } t: tags }");
        assert_eq!((size.aliases, size.top_level, size.fields), (2, 4, 6));
    }

    #[test]
    fn fragment_bombs_are_measured_quickly_and_in_full() {
        let mut query = String::from("{ me { ...F40 } } fragment F0 on Me { scopes }");
        for level in 1..=40 {
            query.push_str(&format!(
                " fragment F{level} on Me {{ ...F{p} ...F{p} }}",
                p = level - 1
            ));
        }
        let started = std::time::Instant::now();
        let size = measure(&query);
        assert!(size.fields > 1_000_000_000, "{size:?}");
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        // Deep chains of single spreads still count at the root.
        let mut chain = String::from("{ ...F9 } fragment F0 on Query { ");
        chain.push_str(
            &(0..30)
                .map(|i| format!("u{i}: unreadCount"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        chain.push_str(" }");
        for level in 1..=9 {
            chain.push_str(&format!(
                " fragment F{level} on Query {{ ...F{} }}",
                level - 1
            ));
        }
        assert_eq!(measure(&chain).top_level, 30);
        // A cycle is left to validation, not followed forever.
        assert_eq!(
            measure("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").fields,
            0
        );
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let document = async_graphql::parser::parse_query("{ a: me { id } b: me { id } }").unwrap();
        let limits = |max_aliases, max_root_fields, max_fields| DocumentLimits {
            max_aliases,
            max_root_fields,
            max_fields,
            max_tokens: 0,
        };
        assert!(limits(1, 0, 0).check(&document).is_err());
        assert!(limits(0, 1, 0).check(&document).is_err());
        assert!(limits(0, 0, 3).check(&document).is_err());
        assert!(limits(0, 0, 0).check(&document).is_ok());
        assert!(limits(2, 2, 4).check(&document).is_ok());
    }
}
