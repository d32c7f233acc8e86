//! A bounded cache of loaded automerge documents, evicting the least recently used.
//!
//! Loading a document means reading its snapshot and chunks and replaying them, which costs far more
//! than the read or write that needs it, so recently used documents stay loaded. The bound is a count
//! of documents, [`crate::MAX_CACHED_DOCUMENTS`]; documents themselves are bounded in size by
//! `MAX_DOCUMENT_BYTES`. Eviction scans the whole map, which at a few hundred entries costs less than
//! keeping an ordered index up to date on every hit.

use std::collections::HashMap;

use automerge::Automerge;
use sync_protocol::ids::DocId;

#[derive(Debug)]
pub struct DocumentCache {
    capacity: usize,
    /// Each document with the tick of its last use.
    documents: HashMap<DocId, (Automerge, u64)>,
    tick: u64,
}

impl DocumentCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            documents: HashMap::new(),
            tick: 0,
        }
    }

    /// Takes a document out, so that a reader or a writer can use it without holding the cache;
    /// putting it back ([`Self::insert`]) marks it as just used.
    pub fn take(&mut self, doc: &DocId) -> Option<Automerge> {
        self.documents.remove(doc).map(|(automerge, _)| automerge)
    }

    pub fn insert(&mut self, doc: DocId, automerge: Automerge) {
        self.tick += 1;
        if !self.documents.contains_key(&doc) && self.documents.len() >= self.capacity {
            let least_recently_used = self
                .documents
                .iter()
                .min_by_key(|(_, (_, last_used))| *last_used)
                .map(|(id, _)| id.clone());
            if let Some(victim) = least_recently_used {
                self.documents.remove(&victim);
            }
        }
        self.documents.insert(doc, (automerge, self.tick));
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_least_recently_used_document_is_evicted_first() {
        let ids: Vec<DocId> = ["a", "b", "c"]
            .iter()
            .map(|name| format!("school:30076/{name}").parse().unwrap())
            .collect();
        let mut cache = DocumentCache::new(2);
        cache.insert(ids[0].clone(), Automerge::new());
        cache.insert(ids[1].clone(), Automerge::new());
        // Using a document is taking it out and putting it back.
        let used = cache.take(&ids[0]).unwrap();
        cache.insert(ids[0].clone(), used);
        cache.insert(ids[2].clone(), Automerge::new());
        assert_eq!(cache.len(), 2);
        assert!(cache.take(&ids[0]).is_some());
        assert!(cache.take(&ids[1]).is_none());
        assert!(cache.take(&ids[2]).is_some());
    }
}
