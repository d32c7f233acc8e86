//! DigiOne Edge relay: where every school node syncs, the off-site copy of every school's data.
//!
//! Today it holds the relay's replica store (the `sync-store` crate) and can describe it per scope.
//! The QUIC endpoint with mTLS, scope-routed sessions of `sync_protocol::session::Session`, enrolment
//! and the fleet view are built on top of this crate by the cloud-relay issue.

use std::collections::BTreeMap;
use std::path::Path;

use sync_protocol::store::StoreError;
use sync_store::SledStore;

/// The number of documents per scope and the store's epoch.
pub fn describe_store(data_dir: &Path) -> Result<String, StoreError> {
    let store = SledStore::open(data_dir)?;
    let mut documents_per_scope: BTreeMap<String, usize> = BTreeMap::new();
    for doc in store.document_ids()? {
        *documents_per_scope
            .entry(doc.scope().to_string())
            .or_default() += 1;
    }
    let mut lines = vec![format!("store epoch {:016x}", store.epoch())];
    lines.extend(
        documents_per_scope
            .iter()
            .map(|(scope, count)| format!("{scope} documents={count}")),
    );
    Ok(lines.join("\n"))
}
