//! Helpers shared by the store's integration tests: ids, and real automerge edits to store.

#![allow(dead_code, clippy::unwrap_used)]

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ChangeHash, ROOT};
use sync_protocol::ids::{DocId, Scope};
use sync_protocol::store::{LogItem, ReplicaStore, blob_fingerprint, document_fingerprint};
use sync_protocol::wire::ScopeDigest;

pub fn school() -> Scope {
    "school:30076".parse().unwrap()
}

pub fn municipality() -> Scope {
    "municipality:092".parse().unwrap()
}

pub fn doc_id(scope: &Scope, name: &str) -> DocId {
    DocId::new(scope.clone(), name).unwrap()
}

/// Makes one change setting `key` to `value` and returns its bytes and hash.
pub fn edit(doc: &mut AutoCommit, key: &str, value: i64) -> (Vec<u8>, ChangeHash) {
    doc.put(ROOT, key, value).unwrap();
    doc.commit().unwrap();
    let change = doc.get_last_local_change().unwrap();
    (change.raw_bytes().to_vec(), change.hash())
}

/// An editor with a fixed actor, so that runs are repeatable.
pub fn editor(actor: u8) -> AutoCommit {
    AutoCommit::new().with_actor(automerge::ActorId::from([actor; 16]))
}

/// Recomputes a scope's digest from its log and the stores' heads, and checks it against the stored
/// digest and log head.
pub fn assert_digest_matches_log(store: &impl ReplicaStore, scope: &Scope) {
    let log = store.log_after(scope, 0, usize::MAX).unwrap();
    let mut digest = ScopeDigest::default();
    for (_, item) in &log {
        match item {
            LogItem::Document(doc) => {
                let heads = store.doc_heads(doc).unwrap().unwrap();
                digest.toggle(document_fingerprint(doc, &heads));
            }
            LogItem::Blob(blob) => digest.toggle(blob_fingerprint(blob)),
        }
    }
    let summary = store.scope_summary(scope).unwrap();
    assert_eq!(summary.digest, digest, "digest of {scope}");
    assert_eq!(
        summary.log_head,
        log.last().map_or(0, |(seq, _)| *seq),
        "log head of {scope}"
    );
    assert!(
        log.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "the log of {scope} is in sequence order"
    );
}
