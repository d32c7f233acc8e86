//! The operator's link to the relay: a local replica of the scopes the operator's certificate reads,
//! kept in a sled store under the operator's data directory and synced by the same client the
//! nodes run.
//!
//! An operator command is short-lived, unlike a node: it connects, waits until its replica is in
//! sync (so that an edit is made on the relay's current document, never on a fresh one that would
//! conflict with it at the root), edits, waits until the relay confirms it holds the edit, and
//! disconnects. "Confirmed" means what it means for a node (see `node::sync::PendingChanges`): the
//! shared heads the relay acknowledged durably equal the document's heads, or a heartbeat digest of
//! the scope matched ours after the edit was logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use node::repository::{MAX_QUEUED_NOTICES, Repository};
use sync_protocol::ids::{DocId, MunicipalityCode, NodeId, Scope};
use sync_protocol::session::Event;
use sync_protocol::store::Seq;
use sync_protocol::wire::NodeHealth;
use sync_store::SledStore;
use sync_transport::client::{self, ClientHandles, ClientSettings, ClientStatus};
use sync_transport::identity::{FleetIdentity, Role};
use sync_transport::link::LinkOutput;
use sync_transport::tls::NodeCredentials;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How often the operator checks whether the relay confirmed an edit, besides every link event.
const CONFIRMATION_POLL: Duration = Duration::from_millis(200);

/// How long a disconnecting operator waits for the client to close its connection politely.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(
        "no operator certificate in {dir}: {reason}. Issue one on the relay's machine with `digione-relay operator-certificate --municipality CODE --out {dir}`"
    )]
    NoCertificate { dir: String, reason: String },
    #[error(
        "the certificate in {dir} is not an operator's ({identity}); operator commands need one from `digione-relay operator-certificate`"
    )]
    NotAnOperator { dir: String, identity: String },
    #[error(
        "the certificate in {dir} is a national operator's; municipality documents need an operator certificate of that municipality (`digione-relay operator-certificate --municipality CODE`)"
    )]
    NoMunicipality { dir: String },
    #[error(
        "the certificate in {dir} is an operator's of municipality {municipality}; the national service catalogue needs a national operator certificate (`digione-relay operator-certificate` without --municipality)"
    )]
    NotNational { dir: String, municipality: String },
    #[error("the operator's store at {path} cannot be opened: {reason}")]
    Store { path: String, reason: String },
    #[error(
        "the relay at {relay} did not bring this operator in sync within {waited}{last_error}; check the address (--relay) and that the relay serves"
    )]
    NotInSync {
        relay: String,
        waited: String,
        last_error: String,
    },
    #[error(
        "the edit is stored in {data_dir}, but the relay at {relay} did not confirm it within {waited}{last_error}; run the same command again to send it"
    )]
    NotConfirmed {
        data_dir: String,
        relay: String,
        waited: String,
        last_error: String,
    },
    #[error("{0}")]
    Write(String),
}

/// Where the operator's files are and how to reach the relay.
#[derive(Debug, Clone)]
pub struct OperatorSettings {
    /// Holds `identity/` (key, certificate, fleet CA) and `store/` (the local replica).
    pub data_dir: PathBuf,
    /// `host:port` of the relay's QUIC endpoint.
    pub relay_address: String,
    /// The relay's name in its certificate, when it differs from the host in `relay_address`.
    pub server_name: Option<String>,
    /// How long to wait for the sync before the edit, and again for the relay's confirmation.
    pub timeout: Duration,
}

impl OperatorSettings {
    pub fn identity_dir(&self) -> PathBuf {
        self.data_dir.join("identity")
    }

    /// The municipality the operator certificate in the data directory writes for.
    pub fn municipality(&self) -> Result<MunicipalityCode, OperatorError> {
        let dir = self.identity_dir();
        load_operator_identity(&dir)?
            .municipality
            .ok_or_else(|| OperatorError::NoMunicipality {
                dir: dir.display().to_string(),
            })
    }

    /// Succeeds when the operator certificate in the data directory is a national operator's,
    /// which alone may write national documents (the service catalogue).
    pub fn require_national(&self) -> Result<(), OperatorError> {
        let dir = self.identity_dir();
        match load_operator_identity(&dir)?.municipality {
            None => Ok(()),
            Some(municipality) => Err(OperatorError::NotNational {
                dir: dir.display().to_string(),
                municipality: municipality.to_string(),
            }),
        }
    }

    fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }
}

/// What the link reported so far, for the waits below.
#[derive(Debug, Clone, Default)]
struct LinkProgress {
    /// How many times the link reached a complete sync.
    in_sync_count: u64,
    /// The newest matched log head per scope (a heartbeat digest equal to ours).
    matched: Vec<(Scope, Seq)>,
}

/// A connected operator: its replica, the repository that writes to it, and the running client.
#[derive(Debug)]
pub struct OperatorConnection {
    settings: OperatorSettings,
    pub identity: FleetIdentity,
    pub repository: Arc<Repository>,
    store: SledStore,
    progress: watch::Receiver<LinkProgress>,
    status: watch::Receiver<ClientStatus>,
    shutdown: watch::Sender<bool>,
    client: JoinHandle<()>,
}

impl OperatorConnection {
    /// Loads the operator's certificate, opens its replica and connects to the relay, returning once
    /// the replica is in sync with the relay (or failing after `settings.timeout`).
    pub async fn connect(settings: OperatorSettings) -> Result<Self, OperatorError> {
        let identity = load_operator_identity(&settings.identity_dir())?;
        let store_dir = settings.store_dir();
        let store = SledStore::open(&store_dir).map_err(|error| OperatorError::Store {
            path: store_dir.display().to_string(),
            reason: error.to_string(),
        })?;
        let (notice_sender, notices) = mpsc::channel(MAX_QUEUED_NOTICES);
        let repository = Arc::new(Repository::new(store.clone(), notice_sender));
        let (progress_sender, progress) = watch::channel(LinkProgress::default());
        let (status_sender, status) = watch::channel(ClientStatus::default());
        let (shutdown, shutdown_receiver) = watch::channel(false);
        // An operator reports no health: the fleet view is about schools.
        let (_health_sender, health) = watch::channel(NodeHealth::default());
        let mut client_settings =
            ClientSettings::new(settings.relay_address.clone(), settings.identity_dir());
        client_settings.server_name = settings.server_name.clone();
        // A short-lived command retries quickly; its own timeout bounds the waiting.
        client_settings.backoff_initial = Duration::from_millis(200);
        client_settings.backoff_max = Duration::from_secs(2);
        let client = tokio::spawn(client::run(
            client_settings,
            store.clone(),
            ClientHandles {
                notices,
                health,
                status: status_sender,
                shutdown: shutdown_receiver,
            },
            move |output| record_progress(&progress_sender, output),
        ));
        let connection = Self {
            settings,
            identity,
            repository,
            store,
            progress,
            status,
            shutdown,
            client,
        };
        if let Err(error) = connection.wait_in_sync().await {
            connection.disconnect().await;
            return Err(error);
        }
        Ok(connection)
    }

    async fn wait_in_sync(&self) -> Result<(), OperatorError> {
        let mut progress = self.progress.clone();
        let waited = tokio::time::timeout(
            self.settings.timeout,
            progress.wait_for(|progress| progress.in_sync_count > 0),
        )
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(OperatorError::NotInSync {
                relay: self.settings.relay_address.clone(),
                waited: humantime::format_duration(self.settings.timeout).to_string(),
                last_error: self.last_error(),
            }),
        }
    }

    /// Waits until the relay holds the current heads of `doc` (see the module documentation).
    pub async fn wait_confirmed(&self, doc: &DocId) -> Result<(), OperatorError> {
        let mut progress = self.progress.clone();
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        loop {
            if self.relay_holds(doc, &progress.borrow_and_update()) {
                return Ok(());
            }
            let next_check = (tokio::time::Instant::now() + CONFIRMATION_POLL).min(deadline);
            tokio::select! {
                _ = progress.changed() => {}
                () = tokio::time::sleep_until(next_check) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return if self.relay_holds(doc, &progress.borrow()) {
                    Ok(())
                } else {
                    Err(OperatorError::NotConfirmed {
                        data_dir: self.settings.data_dir.display().to_string(),
                        relay: self.settings.relay_address.clone(),
                        waited: humantime::format_duration(self.settings.timeout).to_string(),
                        last_error: self.last_error(),
                    })
                };
            }
        }
    }

    fn relay_holds(&self, doc: &DocId, progress: &LinkProgress) -> bool {
        let heads = self.store.doc_heads(doc).ok().flatten();
        let shared = self
            .store
            .shared_heads(&NodeId::relay(), doc)
            .ok()
            .flatten();
        if heads.is_some() && heads == shared {
            return true;
        }
        let Ok(Some(logged_at)) = self.store.document_log_seq(doc) else {
            return false;
        };
        progress
            .matched
            .iter()
            .any(|(scope, log_head)| scope == doc.scope() && *log_head >= logged_at)
    }

    fn last_error(&self) -> String {
        self.status
            .borrow()
            .last_error
            .as_ref()
            .map(|error| format!(" (last error: {error})"))
            .unwrap_or_default()
    }

    /// Closes the connection and flushes the replica.
    pub async fn disconnect(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, self.client).await;
        if let Err(error) = self.store.flush() {
            tracing::warn!(%error, "flushing the operator's store failed");
        }
    }
}

fn record_progress(progress: &watch::Sender<LinkProgress>, output: LinkOutput) {
    match output {
        LinkOutput::Event(Event::InSync) => {
            progress.send_modify(|progress| progress.in_sync_count += 1);
        }
        LinkOutput::Event(Event::ScopeMatched { scope, log_head }) => {
            progress.send_modify(|progress| {
                match progress
                    .matched
                    .iter_mut()
                    .find(|(known, _)| *known == scope)
                {
                    Some((_, known_head)) => *known_head = (*known_head).max(log_head),
                    None => progress.matched.push((scope, log_head)),
                }
            });
        }
        // Acknowledgements update the shared heads in the store, which `relay_holds` reads; a
        // change of any kind is a reason to look again.
        LinkOutput::Event(_) | LinkOutput::Activity(_) => {
            progress.send_modify(|_| {});
        }
    }
}

/// The identity in the operator certificate at `dir`; an error that says how to get one otherwise.
pub fn load_operator_identity(dir: &Path) -> Result<FleetIdentity, OperatorError> {
    let no_certificate = |reason: String| OperatorError::NoCertificate {
        dir: dir.display().to_string(),
        reason,
    };
    if !NodeCredentials::exist(dir) {
        return Err(no_certificate(
            "node.key, node.pem or ca.pem is missing".into(),
        ));
    }
    let credentials =
        NodeCredentials::load(dir).map_err(|error| no_certificate(error.to_string()))?;
    let facts = credentials
        .facts()
        .map_err(|error| no_certificate(error.to_string()))?;
    if facts.identity.role != Role::Operator {
        return Err(OperatorError::NotAnOperator {
            dir: dir.display().to_string(),
            identity: facts.identity.to_string(),
        });
    }
    Ok(facts.identity)
}
