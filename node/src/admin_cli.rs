//! The administrator commands of `digione-node` (`import-roster`, `set-password`).
//!
//! sled lets one process open the store at a time. When the node is not serving, the command opens
//! the store itself; when it is, the store is locked and the command goes through the serving node's
//! admin API on loopback, authenticated with the local admin token (`<data_dir>/admin.token`, written
//! by `serve`, readable only by the node's user). Either way the operations of
//! [`crate::school::roster`] validate and write: this module only chooses the way there.

use std::path::Path;
use std::sync::Arc;

use sync_store::SledStore;
use tokio::sync::mpsc;

use crate::config::NodeConfig;
use crate::identity::NodeIdentity;
use crate::repository::Repository;
use crate::school::roster::{ImportFailure, import_package, package_files, set_password_in_store};

/// How long a command waits for the serving node's answer (a large roster takes a while).
const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Opens the store directly, or reports that a serving node holds it.
fn open_store(config: &NodeConfig) -> Result<Option<SledStore>, String> {
    SledStore::open_unless_in_use(config.store_dir())
        .map_err(|error| format!("cannot open the node store: {error}"))
}

fn local_repository(store: SledStore) -> Arc<Repository> {
    // Nobody listens for change notices here: the next `serve` finds the changes in the store and
    // the relay's sync request picks them up.
    let (notices, _) = mpsc::channel(1);
    Arc::new(Repository::new(store, notices))
}

fn admin_api(config: &NodeConfig) -> Result<(String, String), String> {
    let token = std::fs::read_to_string(config.admin_token_file()).map_err(|error| {
        format!(
            "the node is serving, but its admin token {} cannot be read ({error}); run this command as the node's user",
            config.admin_token_file().display()
        )
    })?;
    let mut address = config.http.listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok((format!("http://{address}"), token.trim().to_owned()))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

/// `digione-node import-roster PATH`.
pub fn import_roster(config: &NodeConfig, package: &Path) -> Result<(), String> {
    let identity = NodeIdentity::load(config).map_err(|error| error.to_string())?;
    if let Some(store) = open_store(config)? {
        let repository = local_repository(store);
        return match import_package(&repository, &identity.school, package) {
            Ok(outcome) => {
                eprintln!("Imported: {} documents written.", outcome.documents_written);
                Ok(())
            }
            Err(ImportFailure::Invalid(problems)) => Err(format!(
                "the roster package was not imported; nothing was changed:\n{}",
                problems.join("\n")
            )),
            Err(ImportFailure::Failed(message)) => Err(message),
        };
    }
    let files = package_files(package)?;
    let (base, token) = admin_api(config)?;
    runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{base}/api/v1/admin/roster/import"))
            .bearer_auth(token)
            .timeout(API_TIMEOUT)
            .json(&serde_json::json!({ "files": files }))
            .send()
            .await
            .map_err(|error| format!("cannot reach the serving node at {base}: {error}"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status.is_success() {
            eprintln!("Imported: {} documents written.", body["documents_written"]);
            Ok(())
        } else if let Some(problems) = body["problems"].as_array() {
            let lines: Vec<&str> = problems.iter().filter_map(|line| line.as_str()).collect();
            Err(format!(
                "the roster package was not imported; nothing was changed:\n{}",
                lines.join("\n")
            ))
        } else {
            Err(format!(
                "the node refused the import ({status}): {}",
                body["message"]
            ))
        }
    })
}

/// `digione-node set-password USERNAME` (the password on standard input).
pub fn set_password(config: &NodeConfig, username: &str, password: String) -> Result<(), String> {
    let identity = NodeIdentity::load(config).map_err(|error| error.to_string())?;
    if let Some(store) = open_store(config)? {
        let repository = local_repository(store);
        // The node is not serving, but its sessions are in the store: whoever is still logged in
        // with the old password is logged out, as when the serving node sets it.
        let (canonical, ended) =
            set_password_in_store(&repository, &identity.school, username, &password)?;
        eprintln!("Password set for {canonical}; {ended} sessions ended.");
        return Ok(());
    }
    let (base, token) = admin_api(config)?;
    runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .put(format!("{base}/api/v1/admin/users/{username}/password"))
            .bearer_auth(token)
            .timeout(API_TIMEOUT)
            .json(&serde_json::json!({ "password": password }))
            .send()
            .await
            .map_err(|error| format!("cannot reach the serving node at {base}: {error}"))?;
        if response.status().is_success() {
            eprintln!("Password set for {username}.");
            Ok(())
        } else {
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            Err(format!("the node refused ({status}): {}", body["message"]))
        }
    })
}
