//! Parsed documents, kept by their text: the same few queries arrive again and again (a
//! dashboard polls one page query, a playground resends what it edits), and parsing one
//! (pest, an allocation per node) costs more than copying the tree it gives.
//!
//! A kept document also remembers whether it passed async-graphql's full validation.
//! For a document without variables that verdict cannot change (every rule reads only
//! the document and the schema; the one rule that reads variable values finds none to
//! read), so such a document is validated once and afterwards executed by the schema's
//! fast validation mode, which still measures depth and complexity (see `Gateway`). A
//! document with variables is validated in full every time: its arguments' values change.

use std::sync::{Mutex, PoisonError};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Request;
use lru::LruCache;

/// Documents longer than this are parsed every time (they are rarely repeated, and the
/// cache should not hold megabytes of them).
const MAX_CACHED_TEXT: usize = 16 * 1024;

/// What the kept documents may weigh together (see `weight`). A dashboard's few dozen
/// queries weigh a few MB; a client sending a new document every time cannot pin more.
pub const MAX_CACHED_BYTES: usize = 32 * 1024 * 1024;

/// The heap a parsed node takes, roughly: a field is a ~200-byte `Positioned<Selection>`
/// plus its name's and alias's `Arc<str>`, an argument a name and a `Value`.
const BYTES_PER_NODE: usize = 320;

struct Kept {
    document: ExecutableDocument,
    /// No operation of the document declares a variable.
    variable_free: bool,
    /// The operation names (as requested) the document passed full validation under.
    validated: Vec<Option<String>>,
    /// Its estimated size: the key's text plus its parsed tree.
    weight: usize,
}

/// What `prepare` found out about a request's document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// The document is a kept one: it passed the gateway's own checks before.
    pub kept: bool,
    /// Passed full validation before, as this operation, and cannot fail it now.
    pub validated: bool,
    /// Worth remembering as validated once it passes.
    pub may_skip_validation: bool,
}

struct Documents {
    entries: LruCache<String, Kept>,
    weight: usize,
}

pub struct DocumentCache {
    documents: Mutex<Documents>,
    max_bytes: usize,
}

impl DocumentCache {
    /// Keeps up to `capacity` documents weighing up to `max_bytes` together (the least
    /// recently used go first); 0: none.
    pub fn new(capacity: usize, max_bytes: usize) -> Option<DocumentCache> {
        let capacity = std::num::NonZeroUsize::new(capacity)?;
        Some(DocumentCache {
            documents: Mutex::new(Documents {
                entries: LruCache::new(capacity),
                weight: 0,
            }),
            max_bytes,
        })
    }

    /// Gives `request` a copy of its kept document, if there is one.
    pub fn prepare(&self, request: &mut Request) -> Prepared {
        if request.query.len() > MAX_CACHED_TEXT {
            return Prepared::default();
        }
        let mut documents = self.lock();
        let Some(kept) = documents.entries.get(&request.query) else {
            return Prepared::default();
        };
        request.set_parsed_query(kept.document.clone());
        Prepared {
            kept: true,
            validated: kept.validated.contains(&request.operation_name),
            may_skip_validation: kept.variable_free,
        }
    }

    /// Keeps the document `request` parsed, once it passed the gateway's checks: a
    /// refused document is never kept.
    pub fn keep(&self, request: &mut Request) -> Prepared {
        if request.query.len() > MAX_CACHED_TEXT {
            return Prepared::default();
        }
        let text = request.query.len();
        let Ok(document) = request.parsed_query() else {
            return Prepared::default();
        };
        let weight = text + weight(document);
        if weight > self.max_bytes {
            return Prepared::default();
        }
        let kept = Kept {
            document: document.clone(),
            variable_free: variable_free(document),
            validated: Vec::new(),
            weight,
        };
        let prepared = Prepared {
            kept: true,
            validated: false,
            may_skip_validation: kept.variable_free,
        };
        let mut documents = self.lock();
        documents.weight += weight;
        if let Some((_, replaced)) = documents.entries.push(request.query.clone(), kept) {
            documents.weight -= replaced.weight;
        }
        while documents.weight > self.max_bytes {
            let Some((_, evicted)) = documents.entries.pop_lru() else {
                break;
            };
            documents.weight -= evicted.weight;
        }
        prepared
    }

    /// Remembers that `query`, run as `operation`, passed full validation.
    pub fn mark_validated(&self, query: &str, operation: Option<String>) {
        let mut documents = self.lock();
        if let Some(kept) = documents.entries.peek_mut(query) {
            if kept.variable_free && !kept.validated.contains(&operation) {
                kept.validated.push(operation);
            }
        }
    }

    /// Drops a document that failed validation: nothing refused stays in memory.
    pub fn forget(&self, query: &str) {
        let mut documents = self.lock();
        if let Some(kept) = documents.entries.pop(query) {
            documents.weight -= kept.weight;
        }
    }

    /// The documents kept and what they weigh.
    pub fn usage(&self) -> (usize, usize) {
        let documents = self.lock();
        (documents.entries.len(), documents.weight)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Documents> {
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn variable_free(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .all(|(_, operation)| operation.node.variable_definitions.is_empty())
}

/// The estimated heap of a parsed document: its nodes (selections, arguments, directives,
/// variable definitions) times `BYTES_PER_NODE`. Called only on documents whose nesting
/// the gateway has bounded.
fn weight(document: &ExecutableDocument) -> usize {
    fn nodes(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|selection| {
                1 + selection.node.directives().len()
                    + match &selection.node {
                        Selection::Field(field) => {
                            field.node.arguments.len() + nodes(&field.node.selection_set.node)
                        }
                        Selection::InlineFragment(fragment) => {
                            nodes(&fragment.node.selection_set.node)
                        }
                        Selection::FragmentSpread(_) => 0,
                    }
            })
            .sum()
    }
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| 1 + op.node.variable_definitions.len() + nodes(&op.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|fragment| 1 + nodes(&fragment.node.selection_set.node))
        .sum();
    (operations + fragments).saturating_mul(BYTES_PER_NODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looks the document up, keeping it first if it is not kept yet.
    fn prepare(cache: &DocumentCache, query: &str, operation: Option<&str>) -> Prepared {
        let mut request = Request::new(query);
        request.operation_name = operation.map(str::to_owned);
        let prepared = cache.prepare(&mut request);
        if prepared.kept {
            return prepared;
        }
        cache.keep(&mut request)
    }

    #[test]
    fn a_repeated_query_gets_the_same_document_and_bad_ones_are_not_kept() {
        let cache = DocumentCache::new(2, MAX_CACHED_BYTES).unwrap();
        let mut first = Request::new("{ a b }");
        cache.keep(&mut first);
        let mut again = Request::new("{ a b }");
        assert!(cache.prepare(&mut again).kept);
        let fields =
            |request: &mut Request| format!("{:?}", request.parsed_query().unwrap().operations);
        assert_eq!(fields(&mut first), fields(&mut again));
        let mut broken = Request::new("{ a ");
        cache.keep(&mut broken);
        assert!(broken.parsed_query().is_err());
        assert_eq!(cache.usage().0, 1);
        assert!(DocumentCache::new(0, MAX_CACHED_BYTES).is_none());
    }

    #[test]
    fn only_variable_free_documents_are_remembered_as_validated_per_operation() {
        let cache = DocumentCache::new(8, MAX_CACHED_BYTES).unwrap();
        let plain = "query A { a } query B { b }";
        assert_eq!(
            prepare(&cache, plain, Some("A")),
            Prepared {
                kept: true,
                validated: false,
                may_skip_validation: true
            }
        );
        cache.mark_validated(plain, Some("A".into()));
        assert!(prepare(&cache, plain, Some("A")).validated);
        // Another operation of the same text has not been validated.
        assert!(!prepare(&cache, plain, Some("B")).validated);
        assert!(!prepare(&cache, plain, None).validated);

        let with_variables = "query C($n: Int) { c(n: $n) }";
        assert!(!prepare(&cache, with_variables, None).may_skip_validation);
        cache.mark_validated(with_variables, None);
        assert!(!prepare(&cache, with_variables, None).validated);
    }

    #[test]
    fn the_cache_is_bounded_in_bytes_and_forgets_refused_documents() {
        let document = |i: usize| format!("{{ a{i}: me {{ id }} b{i}: me {{ id }} }}");
        let one = {
            let cache = DocumentCache::new(1000, MAX_CACHED_BYTES).unwrap();
            cache.keep(&mut Request::new(document(0)));
            cache.usage().1
        };
        assert!(one > 1000, "{one}");
        let cache = DocumentCache::new(1000, one * 10).unwrap();
        for i in 0..100 {
            cache.keep(&mut Request::new(document(i)));
        }
        let (count, weight) = cache.usage();
        assert!(
            count <= 10 && weight <= one * 10,
            "{count} documents, {weight} bytes"
        );
        // The most recent are the ones kept.
        assert!(cache.prepare(&mut Request::new(document(99))).kept);
        assert!(!cache.prepare(&mut Request::new(document(0))).kept);
        cache.forget(&document(99));
        assert!(!cache.prepare(&mut Request::new(document(99))).kept);
        assert_eq!(cache.usage().0, count - 1);
    }
}
