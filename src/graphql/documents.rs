//! Parsed documents, kept by their text: the same few queries arrive again and again (a
//! dashboard polls one page query, a playground resends what it edits), and parsing one
//! (pest, an allocation per node) costs more than copying the tree it gives. Validation
//! still runs on every request (it depends on the variables); only the parse is saved.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::Request;
use lru::LruCache;

/// Documents longer than this are parsed every time (they are rarely repeated, and the
/// cache should not hold megabytes of them).
const MAX_CACHED_TEXT: usize = 16 * 1024;

pub struct DocumentCache {
    documents: Mutex<LruCache<String, ExecutableDocument>>,
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
    pub fn prepare(&self, request: &mut Request) {
        if request.query.len() > MAX_CACHED_TEXT {
            return;
        }
        if let Some(document) = self.lock().get(&request.query) {
            request.set_parsed_query(document.clone());
            return;
        }
        if let Ok(document) = request.parsed_query() {
            let document = document.clone();
            self.lock().put(request.query.clone(), document);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, ExecutableDocument>> {
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
