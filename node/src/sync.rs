//! The node's link to the relay, seen from the node: start the sync client when the node is enrolled
//! and a relay is configured, report health in heartbeats, and answer `GET /api/v1/sync/status`.
//!
//! The node serves fully without any of this: when the node is standalone, or the relay is down,
//! every route works on the local store and the status says so.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sync_protocol::ids::{BlobId, DocId, NodeId, Scope};
use sync_protocol::session::Event;
use sync_protocol::store::Seq;
use sync_protocol::wire::NodeHealth;
use sync_store::SledStore;
use sync_transport::client::{self, ClientHandles, ClientSettings, ClientStatus};
use sync_transport::link::{LinkOutput, LocalNotice};
use tokio::sync::{mpsc, watch};

use crate::config::NodeConfig;
use crate::identity::NodeIdentity;

/// How often the node measures the health it reports to the relay.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(30);

/// Local documents changed since the relay last confirmed everything (the last complete sync).
/// Bounded: beyond this many, only the count grows.
pub const MAX_TRACKED_PENDING_DOCUMENTS: usize = 100_000;

/// Local files stored and not yet acknowledged by the relay, by id. Bounded like the documents.
pub const MAX_TRACKED_PENDING_BLOBS: usize = 100_000;

/// What `GET /api/v1/sync/status` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncStatusView {
    /// `standalone` (no relay configured or not enrolled), `online` or `offline`.
    pub mode: &'static str,
    pub connected: bool,
    pub relay_address: Option<String>,
    pub node_id: Option<String>,
    /// Unix seconds since when the node has been without the relay; `null` while connected.
    pub offline_since_unix: Option<i64>,
    /// Unix seconds of the last moment everything was in sync with the relay.
    pub last_complete_sync_unix: Option<i64>,
    /// Documents changed here that the relay has not yet confirmed.
    pub documents_waiting_to_send: u64,
    /// Files added here that the relay has not yet confirmed.
    pub blobs_waiting_to_send: u64,
    /// What the relay reported it still has to send this node.
    pub documents_waiting_to_receive: Option<u64>,
    pub rtt_millis: Option<u64>,
    pub last_error: Option<String>,
    pub next_attempt_unix: Option<i64>,
    pub certificate_expires_unix: Option<i64>,
}

/// What waits to go out: tracked from local writes, forgotten only once the relay confirmed it
/// holds it (an acknowledgement, or a heartbeat digest equal to ours), never merely because our
/// side of the link has nothing queued: the relay may not have asked for a file yet.
#[derive(Debug, Default)]
pub struct PendingChanges {
    inner: Mutex<PendingInner>,
}

#[derive(Debug, Default)]
struct PendingInner {
    documents: HashSet<DocId>,
    blobs: HashMap<BlobId, Scope>,
    /// Documents and files beyond the tracking bounds; cleared when everything tracked is confirmed
    /// and the link is in sync.
    overflow: u64,
    blob_overflow: u64,
}

impl PendingChanges {
    pub fn record(&self, notice: &LocalNotice) {
        if let Ok(mut inner) = self.inner.lock() {
            match notice {
                LocalNotice::Document(doc) => {
                    if inner.documents.len() < MAX_TRACKED_PENDING_DOCUMENTS {
                        inner.documents.insert(doc.clone());
                    } else if !inner.documents.contains(doc) {
                        inner.overflow += 1;
                    }
                }
                LocalNotice::Blob { scope, blob } => {
                    if inner.blobs.len() < MAX_TRACKED_PENDING_BLOBS {
                        inner.blobs.insert(*blob, scope.clone());
                    } else if !inner.blobs.contains_key(blob) {
                        inner.blob_overflow += 1;
                    }
                }
            }
        }
    }

    /// Forgets the documents the relay has confirmed: their shared heads with the relay (recorded
    /// when the relay acknowledged them durably) equal their heads.
    fn confirm(&self, store: &SledStore, link_idle: bool) {
        let relay = NodeId::relay();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.documents.retain(|doc| {
            let heads = store.doc_heads(doc).ok().flatten();
            let shared = store.shared_heads(&relay, doc).ok().flatten();
            heads.is_none() || heads != shared
        });
        if link_idle && inner.documents.is_empty() && inner.blobs.is_empty() {
            inner.overflow = 0;
            inner.blob_overflow = 0;
        }
    }

    /// The relay acknowledged holding `blob` whole and durably.
    fn confirm_blob(&self, blob: &BlobId) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.blobs.remove(blob);
        }
    }

    /// Forgets the documents of `scope` whose last write is at or before `log_head`: the relay's
    /// heartbeat digest of the scope matched ours when our log ended there, so the relay holds them.
    /// This covers acknowledgements that never came (the relay restarted between storing a push and
    /// answering it), after which the shared heads stay behind although both sides are equal.
    fn confirm_scope(&self, store: &SledStore, scope: &Scope, log_head: Seq) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.documents.retain(|doc| {
            doc.scope() != scope
                || !matches!(store.document_log_seq(doc), Ok(Some(seq)) if seq <= log_head)
        });
        // The digest covers the scope's files too.
        inner.blobs.retain(|blob, blob_scope| {
            blob_scope != scope
                || !matches!(store.blob_log_seq(scope, blob), Ok(Some(seq)) if seq <= log_head)
        });
    }

    fn counts(&self) -> (u64, u64) {
        self.inner
            .lock()
            .map(|inner| {
                (
                    inner.documents.len() as u64 + inner.overflow,
                    inner.blobs.len() as u64 + inner.blob_overflow,
                )
            })
            .unwrap_or((0, 0))
    }

    /// Finds, at start-up, the local documents whose heads the relay has not confirmed (their shared
    /// heads with the relay differ from their heads), so the count survives a restart.
    pub fn scan(&self, store: &SledStore, identity: &NodeIdentity) {
        let relay = NodeId::relay();
        let writable = [identity.school_scope(), identity.municipality_scope()];
        let Ok(documents) = store.document_ids() else {
            return;
        };
        for doc in documents {
            if !writable.contains(doc.scope()) {
                continue;
            }
            let heads = store.doc_heads(&doc).ok().flatten();
            let shared = store.shared_heads(&relay, &doc).ok().flatten();
            if heads.is_some() && heads != shared {
                self.record(&LocalNotice::Document(doc));
            }
        }
    }
}

/// The running sync side of a node.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    pub status: watch::Receiver<ClientStatus>,
    pub pending: Arc<PendingChanges>,
    pub relay_address: Option<String>,
    pub node_id: Option<String>,
    pub enabled: bool,
}

impl SyncHandle {
    pub fn view(&self) -> SyncStatusView {
        let status = self.status.borrow().clone();
        let (documents, blobs) = self.pending.counts();
        SyncStatusView {
            mode: if !self.enabled {
                "standalone"
            } else if status.connected {
                "online"
            } else {
                "offline"
            },
            connected: status.connected,
            relay_address: self.relay_address.clone(),
            node_id: self.node_id.clone(),
            offline_since_unix: status.offline_since_unix,
            last_complete_sync_unix: status.last_complete_sync_unix,
            documents_waiting_to_send: documents,
            blobs_waiting_to_send: blobs,
            documents_waiting_to_receive: status
                .waiting_from_relay
                .map(|waiting| waiting.docs_waiting),
            rtt_millis: status.rtt_millis,
            last_error: status.last_error,
            next_attempt_unix: status.next_attempt_unix,
            certificate_expires_unix: status.certificate_expires_unix,
        }
    }
}

/// Starts the sync client when the node is enrolled and a relay is configured. `notices` carries
/// every local write; they are counted as pending and forwarded to the client.
pub fn start(
    config: &NodeConfig,
    identity: &NodeIdentity,
    store: SledStore,
    mut notices: mpsc::Receiver<LocalNotice>,
    shutdown: watch::Receiver<bool>,
    started: Instant,
) -> SyncHandle {
    let pending = Arc::new(PendingChanges::default());
    pending.scan(&store, identity);
    let (status_sender, status) = watch::channel(ClientStatus::default());
    let enabled = identity.certificate.is_some() && !config.relay.address.is_empty();
    let handle = SyncHandle {
        status,
        pending: pending.clone(),
        relay_address: (!config.relay.address.is_empty()).then(|| config.relay.address.clone()),
        node_id: identity.node_id().map(ToString::to_string),
        enabled,
    };
    let (client_notices, client_notice_receiver) =
        mpsc::channel(crate::repository::MAX_QUEUED_NOTICES);
    let forward_pending = pending.clone();
    tokio::spawn(async move {
        while let Some(notice) = notices.recv().await {
            forward_pending.record(&notice);
            // Offline or behind: the relay's next sync request finds the change anyway.
            let _ = client_notices.try_send(notice);
        }
    });
    if !enabled {
        if identity.certificate.is_none() {
            tracing::info!("standalone: not enrolled with a relay; serving the school locally");
        } else {
            tracing::info!("standalone: no relay address configured");
        }
        return handle;
    }
    let (health_sender, health) = watch::channel(NodeHealth::default());
    tokio::spawn(report_health(
        config.data_dir.clone(),
        store.clone(),
        health_sender,
        started,
        shutdown.clone(),
    ));
    let mut settings = ClientSettings::new(config.relay.address.clone(), config.identity_dir());
    settings.server_name = config.relay.server_name.clone();
    settings.heartbeat_interval = config.heartbeat_interval();
    settings.send_rate_limit_bytes_per_sec = config.relay.send_rate_limit_bytes_per_sec;
    settings.backoff_initial = Duration::from_millis(config.relay.backoff_initial_millis);
    settings.backoff_max = Duration::from_secs(config.relay.backoff_max_secs);
    let confirm_pending = pending.clone();
    let confirm_store = store.clone();
    tokio::spawn(client::run(
        settings,
        store,
        ClientHandles {
            notices: client_notice_receiver,
            health,
            status: status_sender,
            shutdown,
        },
        move |output| match output {
            LinkOutput::Event(Event::InSync) => confirm_pending.confirm(&confirm_store, true),
            LinkOutput::Event(Event::ScopeMatched { scope, log_head }) => {
                confirm_pending.confirm_scope(&confirm_store, &scope, log_head)
            }
            LinkOutput::Event(Event::BlobAcknowledged { blob }) => {
                confirm_pending.confirm_blob(&blob)
            }
            LinkOutput::Activity(activity) => confirm_pending.confirm(
                &confirm_store,
                activity.in_sync && activity.to_peer.blobs_waiting == 0,
            ),
            LinkOutput::Event(_) => {}
        },
    ));
    handle
}

/// Measures disk, store and uptime for the heartbeats, every [`HEALTH_INTERVAL`].
async fn report_health(
    data_dir: std::path::PathBuf,
    store: SledStore,
    health: watch::Sender<NodeHealth>,
    started: Instant,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let measured = {
            let store = store.clone();
            let data_dir = data_dir.clone();
            tokio::task::spawn_blocking(move || measure_health(&data_dir, &store, started)).await
        };
        if let Ok(measured) = measured {
            let _ = health.send(measured);
        }
        tokio::select! {
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

pub fn measure_health(
    data_dir: &std::path::Path,
    store: &SledStore,
    started: Instant,
) -> NodeHealth {
    NodeHealth {
        disk_free_bytes: fs4::available_space(data_dir).unwrap_or(0),
        uptime_secs: started.elapsed().as_secs(),
        store_bytes: store.size_on_disk().unwrap_or(0),
        doc_count: store.document_count(),
    }
}

#[cfg(test)]
mod tests {
    use automerge::{Automerge, ROOT, transaction::Transactable as _};

    use super::*;

    fn write_note(store: &SledStore, doc: &DocId) {
        let mut automerge = Automerge::new();
        let mut transaction = automerge.transaction();
        transaction.put(ROOT, "text", doc.to_string()).expect("put");
        transaction.commit();
        let changes = automerge
            .get_changes(&[])
            .into_iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect();
        store.commit_local_changes(doc, changes).expect("durable");
    }

    #[test]
    fn a_matched_scope_confirms_only_its_writes_up_to_the_matched_log_head() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(directory.path()).expect("store");
        let school: Scope = "school:30076".parse().expect("scope");
        let municipality: Scope = "municipality:092".parse().expect("scope");
        let before = DocId::new(school.clone(), "before").expect("doc");
        let shared = DocId::new(municipality.clone(), "shared").expect("doc");
        let after = DocId::new(school.clone(), "after").expect("doc");
        write_note(&store, &before);
        write_note(&store, &shared);
        let matched_head = store.scope_summary(&school).expect("summary").log_head;
        write_note(&store, &after);

        let pending = PendingChanges::default();
        for doc in [&before, &shared, &after] {
            pending.record(&LocalNotice::Document(doc.clone()));
        }
        pending.confirm_scope(&store, &school, matched_head);

        let left: HashSet<DocId> = pending.inner.lock().expect("lock").documents.clone();
        assert_eq!(left, HashSet::from([shared, after]));
        assert_eq!(pending.counts(), (2, 0));
    }

    #[test]
    fn a_file_waits_until_the_relay_acknowledges_it_or_its_scope_matches() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(directory.path()).expect("store");
        let school: Scope = "school:30076".parse().expect("scope");
        let acknowledged = store.put_blob(&school, b"essee").expect("blob");
        let matched = store.put_blob(&school, b"kuva").expect("blob");
        let matched_head = store.scope_summary(&school).expect("summary").log_head;
        let later = store.put_blob(&school, b"video").expect("blob");
        let pending = PendingChanges::default();
        for blob in [acknowledged, matched, later] {
            pending.record(&LocalNotice::Blob {
                scope: school.clone(),
                blob,
            });
        }
        assert_eq!(pending.counts(), (0, 3));

        // Our side of the link being idle says nothing about what the relay holds.
        pending.confirm(&store, true);
        assert_eq!(pending.counts(), (0, 3));
        pending.confirm_blob(&acknowledged);
        assert_eq!(pending.counts(), (0, 2));
        pending.confirm_scope(&store, &school, matched_head);
        let left: Vec<BlobId> = pending
            .inner
            .lock()
            .expect("lock")
            .blobs
            .keys()
            .copied()
            .collect();
        assert_eq!(left, vec![later]);
    }
}
