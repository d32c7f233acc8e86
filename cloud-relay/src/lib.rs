//! DigiOne Edge relay: where every school node syncs, the off-site copy of every school's data.
//!
//! - [`config`]: the relay's configuration (TOML file overlaid by environment variables).
//! - [`authority`]: the fleet certificate authority, enrolment tokens and revocations (files under
//!   `<data_dir>/authority`).
//! - [`fleet`]: what the relay knows about every node, for operations.
//! - [`server`]: the QUIC endpoint: enrolment, mTLS sync sessions, scope routing.
//! - [`enrolment_limits`]: what enrolment may cost the relay: per source address and relay-wide.
//! - [`ops`]: the operations HTTP listener: fleet JSON, Prometheus metrics, dashboard.

pub mod authority;
pub mod cli;
pub mod config;
pub mod enrolment_limits;
pub mod fleet;
pub mod metrics;
pub mod ops;
pub mod server;

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
