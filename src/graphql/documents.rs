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

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::Request;
use lru::LruCache;

/// Documents longer than this are parsed every time (they are rarely repeated, and the
/// cache should not hold megabytes of them).
const MAX_CACHED_TEXT: usize = 16 * 1024;

struct Kept {
    document: ExecutableDocument,
    /// No operation of the document declares a variable.
    variable_free: bool,
    /// The operation names (as requested) the document passed full validation under.
    validated: Vec<Option<String>>,
}

/// What `prepare` found out about a request's document.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Passed full validation before, as this operation, and cannot fail it now.
    pub validated: bool,
    /// Worth remembering as validated once it passes.
    pub may_skip_validation: bool,
}

pub struct DocumentCache {
    documents: Mutex<LruCache<String, Kept>>,
}

impl DocumentCache {
    /// Keeps up to `capacity` documents (the least recently used go first); 0: none.
    pub fn new(capacity: usize) -> Option<DocumentCache> {
        let capacity = NonZeroUsize::new(capacity)?;
        Some(DocumentCache {
            documents: Mutex::new(LruCache::new(capacity)),
        })
    }

    /// Gives `request` its parsed document: a copy of the kept one, or parsed now (and kept
    /// when it parsed). A document that does not parse is left for the request to report.
    pub fn prepare(&self, request: &mut Request) -> Prepared {
        if request.query.len() > MAX_CACHED_TEXT {
            return Prepared::default();
        }
        if let Some(kept) = self.lock().get(&request.query) {
            request.set_parsed_query(kept.document.clone());
            return Prepared {
                validated: kept.validated.contains(&request.operation_name),
                may_skip_validation: kept.variable_free,
            };
        }
        let Ok(document) = request.parsed_query() else {
            return Prepared::default();
        };
        let kept = Kept {
            document: document.clone(),
            variable_free: variable_free(document),
            validated: Vec::new(),
        };
        let prepared = Prepared {
            validated: false,
            may_skip_validation: kept.variable_free,
        };
        self.lock().put(request.query.clone(), kept);
        prepared
    }

    /// Remembers that `query`, run as `operation`, passed full validation.
    pub fn mark_validated(&self, query: &str, operation: Option<String>) {
        let mut documents = self.lock();
        if let Some(kept) = documents.peek_mut(query) {
            if kept.variable_free && !kept.validated.contains(&operation) {
                kept.validated.push(operation);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Kept>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(cache: &DocumentCache, query: &str, operation: Option<&str>) -> Prepared {
        let mut request = Request::new(query);
        request.operation_name = operation.map(str::to_owned);
        cache.prepare(&mut request)
    }

    #[test]
    fn a_repeated_query_gets_the_same_document_and_bad_ones_are_not_kept() {
        let cache = DocumentCache::new(2).unwrap();
        let mut first = Request::new("{ a b }");
        cache.prepare(&mut first);
        let mut again = Request::new("{ a b }");
        cache.prepare(&mut again);
        let fields =
            |request: &mut Request| format!("{:?}", request.parsed_query().unwrap().operations);
        assert_eq!(fields(&mut first), fields(&mut again));
        let mut broken = Request::new("{ a ");
        cache.prepare(&mut broken);
        assert!(broken.parsed_query().is_err());
        assert_eq!(cache.lock().len(), 1);
        assert!(DocumentCache::new(0).is_none());
    }

    #[test]
    fn only_variable_free_documents_are_remembered_as_validated_per_operation() {
        let cache = DocumentCache::new(8).unwrap();
        let plain = "query A { a } query B { b }";
        assert_eq!(
            prepare(&cache, plain, Some("A")),
            Prepared {
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
}
