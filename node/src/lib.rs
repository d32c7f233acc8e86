//! DigiOne Edge node: the server a school runs on its own hardware.
//!
//! It serves the school's platform (the JSON API in [`api`], with one login from [`auth`]) on the
//! LAN from automerge documents ([`model`]) kept durably by the [`repository`], and syncs them with
//! the relay through [`sync`] when enrolled. See `node/README.md` and `node/DATA-MODEL.md`.

pub mod accounts;
pub mod admin_cli;
pub mod allocator;
pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod directory;
pub mod identity;
pub mod lti;
pub mod metrics;
pub mod model;
pub mod oidc;
pub mod oneroster;
pub mod repository;
pub mod roster_import;
pub mod school;
pub mod server;
pub mod state;
pub mod sync;
pub mod upload_quota;
pub mod upload_records;
pub mod upstream_login;
pub mod url_path;
pub mod web;

use std::path::Path;

use sync_protocol::store::StoreError;
use sync_store::SledStore;

/// One line per document: its id and how many heads it has, then the store's epoch. Opening the store
/// also proves that it is readable after whatever happened to the machine.
pub fn describe_store(data_dir: &Path) -> Result<String, StoreError> {
    let store = SledStore::open(data_dir)?;
    let mut lines = vec![format!("store epoch {:016x}", store.epoch())];
    for doc in store.document_ids()? {
        let heads = store.doc_heads(&doc)?.unwrap_or_default();
        lines.push(format!("{doc} heads={}", heads.len()));
    }
    Ok(lines.join("\n"))
}
