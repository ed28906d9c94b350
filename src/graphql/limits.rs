//! Limits on the shape of a document: aliases, root fields, fields and depth per
//! operation. Complexity (with page sizes priced in) is async-graphql's own (see
//! `schema/build.rs`). Checked by the `Gateway` on the parsed document before
//! async-graphql's own checks, validation or any database work.
//!
//! Depth is measured here rather than by async-graphql because introspection needs its
//! own bound: the query every tool sends (graphql-js's `getIntrospectionQuery()`, what
//! GraphiQL, graphql-codegen, Postman and Apollo's tooling run) nests 15 fields deep in
//! its `ofType` chain, past the default limit of 12 for data. So the fields under
//! `__schema` and `__type` are counted apart, against `MAX_INTROSPECTION_DEPTH`, and the
//! limit on data stays where it is.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Pos, ServerError};

use crate::error::ErrorCode;

/// How deep an introspection query may nest: graphql-js's own goes 15 deep; a few more
/// levels of `ofType` are left for tools that ask for them, and chains past that refused.
pub const MAX_INTROSPECTION_DEPTH: usize = 20;

/// How many of the introspection fields that list more types (`fields`, `inputFields`,
/// `interfaces`, `possibleTypes`) may sit inside one another. Depth alone does not bound
/// an introspection answer: `__schema { types { fields { type { ofType { fields { … } } } } } }`
/// multiplies by every type's fields at each level (a few levels build millions of
/// objects, outside the response budget, which counts data lists). The tools' query nests
/// them once; graphql-js's own `MaxIntrospectionDepthRule` refuses three, as here.
pub const MAX_INTROSPECTION_LISTS: usize = 2;

/// The fields of `__Type` that list further types.
const TYPE_LISTS: [&str; 4] = ["fields", "inputFields", "interfaces", "possibleTypes"];

/// Where `operation` asks for `__schema` or `__type` at its root (the only place they
/// exist), fragments and inline fragments at the root followed.
pub fn introspection_at(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
) -> Option<Pos> {
    let mut sets = vec![&operation.selection_set.node];
    let mut followed = HashSet::new();
    while let Some(set) = sets.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    if matches!(field.node.name.node.as_str(), "__schema" | "__type") {
                        return Some(field.pos);
                    }
                }
                Selection::InlineFragment(fragment) => sets.push(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(fragment) = document.fragments.get(name) {
                        if followed.insert(name) {
                            sets.push(&fragment.node.selection_set.node);
                        }
                    }
                }
            }
        }
    }
    None
}

#[derive(Clone, Copy, Debug)]
pub struct DocumentLimits {
    /// Fields nested in one another (as async-graphql counts them: `__typename` does not
    /// count), introspection apart.
    pub max_depth: usize,
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
    /// The deepest nesting of fields outside introspection.
    depth: usize,
    /// The deepest nesting of fields under `__schema` or `__type`.
    introspection_depth: usize,
    /// The most `TYPE_LISTS` fields inside one another: in this selection (`lists`, whatever
    /// it is under), and under `__schema` or `__type` (`introspection_lists`).
    lists: usize,
    introspection_lists: usize,
}

impl Size {
    /// Side by side: counts add up, depths take the deeper.
    fn add(self, other: Size) -> Size {
        Size {
            fields: self.fields.saturating_add(other.fields),
            aliases: self.aliases.saturating_add(other.aliases),
            top_level: self.top_level.saturating_add(other.top_level),
            depth: self.depth.max(other.depth),
            introspection_depth: self.introspection_depth.max(other.introspection_depth),
            lists: self.lists.max(other.lists),
            introspection_lists: self.introspection_lists.max(other.introspection_lists),
        }
    }

    /// The list nesting of a field named `name` whose selection measured `inner`.
    fn lists_under(name: &str, inner: &Size) -> (usize, usize) {
        match name {
            "__schema" | "__type" => (0, inner.lists),
            name if TYPE_LISTS.contains(&name) => (inner.lists + 1, inner.introspection_lists),
            _ => (inner.lists, inner.introspection_lists),
        }
    }

    /// The depths of a field named `name` whose selection measured `inner`.
    fn depths_under(name: &str, inner: &Size) -> (usize, usize) {
        let below = |depth: usize| match depth {
            0 => 0,
            depth => depth.saturating_add(1),
        };
        match name {
            "__typename" => (0, 0),
            "__schema" | "__type" => (0, 1 + inner.depth.max(inner.introspection_depth)),
            _ => (1 + inner.depth, below(inner.introspection_depth)),
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
                    let name = field.node.name.node.as_str();
                    let (depth, introspection_depth) = Size::depths_under(name, &inner);
                    let (lists, introspection_lists) = Size::lists_under(name, &inner);
                    Size {
                        depth,
                        introspection_depth,
                        lists,
                        introspection_lists,
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
                depth: max.depth.max(size.depth),
                introspection_depth: max.introspection_depth.max(size.introspection_depth),
                lists: 0,
                introspection_lists: max.introspection_lists.max(size.introspection_lists),
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
        // 0 turns a limit off (introspection's bound stays).
        let exceeds = |value: usize, max: usize| max > 0 && value > max;
        let size = Measure::new(document).operations();
        if exceeds(size.depth, self.max_depth) {
            return Err(ErrorCode::QueryTooDeep.server_error(
                format!(
                    "the operation nests fields {} deep: at most {}",
                    size.depth, self.max_depth
                ),
                None,
            ));
        }
        if size.introspection_lists > MAX_INTROSPECTION_LISTS {
            return Err(ErrorCode::QueryTooDeep.server_error(
                format!(
                    "the introspection nests {} lists of types (fields, inputFields, \
                     interfaces, possibleTypes) in one another: at most {MAX_INTROSPECTION_LISTS}",
                    size.introspection_lists
                ),
                None,
            ));
        }
        if size.introspection_depth > MAX_INTROSPECTION_DEPTH {
            return Err(ErrorCode::QueryTooDeep.server_error(
                format!(
                    "the introspection nests fields {} deep: at most {MAX_INTROSPECTION_DEPTH}",
                    size.introspection_depth
                ),
                None,
            ));
        }
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
    fn introspection_depth_is_counted_apart() {
        let size = measure("{ me { team { id __typename } } }");
        assert_eq!((size.depth, size.introspection_depth), (3, 0));
        let of_type = |levels: usize| {
            let mut chain = String::from("kind");
            for _ in 0..levels {
                chain = format!("kind ofType {{ {chain} }}");
            }
            chain
        };
        let deep = format!(
            "{{ me {{ id }} __schema {{ types {{ ...T }} }} }} fragment T on __Type {{ fields {{ type {{ {} }} }} }}",
            of_type(9)
        );
        let size = measure(&deep);
        // __schema types fields type + 9 ofType + kind.
        assert_eq!((size.depth, size.introspection_depth), (2, 14));
        let under = measure(&format!(
            "{{ __type(name: \"Ticket\") {{ {} }} }}",
            of_type(30)
        ));
        assert_eq!((size.depth, under.introspection_depth), (2, 32));
        let limits = DocumentLimits {
            max_depth: 12,
            max_aliases: 0,
            max_root_fields: 0,
            max_fields: 0,
            max_tokens: 0,
        };
        let parsed = |query: &str| async_graphql::parser::parse_query(query).unwrap();
        assert!(limits.check(&parsed(&deep)).is_ok());
        assert!(limits
            .check(&parsed(&format!(
                "{{ __type(name: \"T\") {{ {} }} }}",
                of_type(30)
            )))
            .is_err());
        // Lists of types inside one another: two pass, three do not.
        let two = "{ __schema { types { fields { type { ofType { fields { name } } } } } } }";
        assert_eq!(measure(two).introspection_lists, 2);
        assert!(limits.check(&parsed(two)).is_ok());
        let three =
            "{ __type(name: \"T\") { fields { type { interfaces { possibleTypes { name } } } } } }";
        assert_eq!(measure(three).introspection_lists, 3);
        assert!(limits.check(&parsed(three)).is_err());
        let mut data = String::from("id");
        for _ in 0..12 {
            data = format!("team {{ {data} }}");
        }
        assert!(limits
            .check(&parsed(&format!("{{ me {{ {data} }} }}")))
            .is_err());
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let document = async_graphql::parser::parse_query("{ a: me { id } b: me { id } }").unwrap();
        let limits = |max_aliases, max_root_fields, max_fields| DocumentLimits {
            max_depth: 0,
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
