//! The node's link to the relay, seen from the node: start the sync client when the node is enrolled
//! and a relay is configured, report health in heartbeats, and answer `GET /api/v1/sync/status`.
//!
//! The node serves fully without any of this: when the node is standalone, or the relay is down,
//! every route works on the local store and the status says so.
//!
//! # The status never claims more than it knows
//!
//! `GET /api/v1/sync/status` answers every field to an administrator only; anyone else gets the
//! `state` alone ([`SyncHealthView`], see [`crate::server::sync_status`]). The `state` is decided
//! in this order:
//!
//! 1. `standalone`: no relay is configured, or the node is not enrolled.
//! 2. `offline`: enrolled, but without a link to the relay right now.
//! 3. `reconciling`: linked, and the node and the relay are not known to hold the same content: a
//!    scope's digest differed from the relay's at the last heartbeat, or has not been compared yet
//!    on this link (the relay's heartbeats compare every scope the node receives, every 15 s by
//!    default), or documents or bytes are still expected from the relay, or the session's own
//!    requests are not all answered. `reconciling` then says which scopes differ and what is still
//!    to come. Local changes the relay has not yet taken also make the school's digest differ, so a
//!    node with a large upload is `reconciling` too; `documents_waiting_to_send` tells which side
//!    has the work.
//! 4. `sending`: every digest was equal at the last comparison, but local documents or files are
//!    not yet confirmed by the relay.
//! 5. `in_sync`: every digest equal, nothing expected, nothing unconfirmed.
//!
//! `documents_waiting_to_receive` is the figure the reconciliation reports (offered documents not
//! yet here plus the relay's reported backlog), and `null` whenever it is not known: offline,
//! before the relay's first heartbeat, and while the digests differ but nothing countable is on its
//! way yet (a request not answered yet). It is never `0` while a digest differs. The last complete
//! sync moves only while the link is in sync with every digest equal.

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

/// Where the node stands with the relay: the `state` of `GET /api/v1/sync/status`. See the module
/// documentation for the order in which they are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// No relay configured, or not enrolled: the node serves the school on its own.
    Standalone,
    /// Enrolled, but without a link to the relay right now.
    Offline,
    /// Linked, and some content is not known to be the same on both sides yet.
    Reconciling,
    /// Linked, every digest equal, but local changes are not yet confirmed by the relay.
    Sending,
    /// Linked, every digest equal, nothing expected and nothing unconfirmed.
    InSync,
}

impl SyncState {
    /// The name used in the JSON status and by the web UI.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Standalone => "standalone",
            SyncState::Offline => "offline",
            SyncState::Reconciling => "reconciling",
            SyncState::Sending => "sending",
            SyncState::InSync => "in_sync",
        }
    }
}

/// What still differs while the state is `reconciling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReconcilingView {
    /// Scopes received from the relay (`school:…`, `municipality:…`, `national`) whose digest
    /// differed from the relay's at the last heartbeat or has not been compared yet on this link.
    /// Empty when the digests are equal but the exchange that follows a comparison is unfinished.
    pub scopes_differing: Vec<String>,
    /// Documents the node still expects from the relay: offered and not yet here, plus what the
    /// relay reported it still has to send.
    pub documents_to_receive: u64,
    /// Bytes still expected: the rest of the files being fetched, plus what the relay reported
    /// queued.
    pub bytes_to_receive: u64,
}

/// What `GET /api/v1/sync/status` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SyncStatusView {
    /// `standalone` (no relay configured or not enrolled), `online` or `offline`: only whether a
    /// link exists. `state` says whether the content is in sync.
    pub mode: &'static str,
    /// `standalone`, `offline`, `reconciling`, `sending` or `in_sync`; see [`SyncState`].
    pub state: SyncState,
    /// What differs and what is still to come while `state` is `reconciling`; `null` otherwise.
    pub reconciling: Option<ReconcilingView>,
    pub connected: bool,
    pub relay_address: Option<String>,
    pub node_id: Option<String>,
    /// Unix seconds since when the node has been without the relay; `null` while connected.
    pub offline_since_unix: Option<i64>,
    /// Unix seconds of the last moment the link was in sync with every scope's digest equal to the
    /// relay's; it does not move while a digest differs.
    pub last_complete_sync_unix: Option<i64>,
    /// Documents changed here that the relay has not yet confirmed.
    pub documents_waiting_to_send: u64,
    /// Files added here that the relay has not yet confirmed.
    pub blobs_waiting_to_send: u64,
    /// Documents the node still expects from the relay (`reconciling.documents_to_receive`), or
    /// `null` when that is not known: offline, before the relay's first heartbeat, or while a digest
    /// differs and nothing countable is on its way yet. Never `0` while a digest differs.
    pub documents_waiting_to_receive: Option<u64>,
    pub rtt_millis: Option<u64>,
    pub last_error: Option<String>,
    pub next_attempt_unix: Option<i64>,
    pub certificate_expires_unix: Option<i64>,
}

/// What `GET /api/v1/sync/status` answers to anyone but an administrator: whether the node is in
/// sync, as a health check needs, and nothing about the node's identity, its relay, or how much
/// the school is writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SyncHealthView {
    /// `standalone`, `offline`, `reconciling`, `sending` or `in_sync`; see [`SyncState`].
    pub state: SyncState,
}

impl From<&SyncStatusView> for SyncHealthView {
    fn from(view: &SyncStatusView) -> Self {
        Self { state: view.state }
    }
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
        let state = sync_state(self.enabled, &status, documents + blobs);
        let reconciling = (state == SyncState::Reconciling).then(|| {
            let progress = status.reconcile.clone().unwrap_or_default();
            ReconcilingView {
                scopes_differing: progress
                    .scopes_differing
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                documents_to_receive: progress.documents_to_receive,
                bytes_to_receive: progress.bytes_to_receive,
            }
        });
        SyncStatusView {
            mode: if !self.enabled {
                "standalone"
            } else if status.connected {
                "online"
            } else {
                "offline"
            },
            state,
            reconciling,
            connected: status.connected,
            relay_address: self.relay_address.clone(),
            node_id: self.node_id.clone(),
            offline_since_unix: status.offline_since_unix,
            last_complete_sync_unix: status.last_complete_sync_unix,
            documents_waiting_to_send: documents,
            blobs_waiting_to_send: blobs,
            documents_waiting_to_receive: documents_waiting_to_receive(self.enabled, &status),
            rtt_millis: status.rtt_millis,
            last_error: status.last_error,
            next_attempt_unix: status.next_attempt_unix,
            certificate_expires_unix: status.certificate_expires_unix,
        }
    }
}

/// The state of the module documentation, from the client's status and the count of local documents
/// and files the relay has not confirmed.
fn sync_state(enabled: bool, status: &ClientStatus, unconfirmed_local_changes: u64) -> SyncState {
    if !enabled {
        return SyncState::Standalone;
    }
    if !status.connected {
        return SyncState::Offline;
    }
    // Connected without a report from the session yet means nothing has been compared.
    let Some(progress) = &status.reconcile else {
        return SyncState::Reconciling;
    };
    let still_receiving = progress.documents_to_receive > 0 || progress.bytes_to_receive > 0;
    if !progress.in_sync() || still_receiving || !status.in_sync {
        SyncState::Reconciling
    } else if unconfirmed_local_changes > 0 {
        SyncState::Sending
    } else {
        SyncState::InSync
    }
}

/// The documents still to come from the relay, or `None` when that is unknown. A zero is reported
/// only when every digest was equal at the last comparison: while one differs, zero would say "all
/// here" about content that is not, which is how a rebuilt, empty store once looked in sync.
fn documents_waiting_to_receive(enabled: bool, status: &ClientStatus) -> Option<u64> {
    if !enabled || !status.connected {
        return None;
    }
    // Before the relay's first heartbeat its backlog is unknown, and so is the sum that includes it.
    status.waiting_from_relay?;
    let progress = status.reconcile.as_ref()?;
    match progress.documents_to_receive {
        0 if !progress.in_sync() => None,
        documents => Some(documents),
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
            // The session's in-sync event says nothing about the digests, so it may forget what
            // the relay confirmed but not reset the overflow counts; the activity report that
            // follows an in-sync link with equal digests does that.
            LinkOutput::Event(Event::InSync) => confirm_pending.confirm(&confirm_store, false),
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
    use sync_protocol::session::ReconcileProgress;
    use sync_protocol::wire::SyncStatus;
    use sync_transport::link::LinkActivity;

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

    /// A handle over a status the test sets, with `unconfirmed_documents` local documents the
    /// relay has not confirmed.
    fn handle_with(status: ClientStatus, unconfirmed_documents: usize) -> SyncHandle {
        let pending = PendingChanges::default();
        for index in 0..unconfirmed_documents {
            let doc = DocId::new(
                "school:30076".parse().expect("scope"),
                &format!("note-{index}"),
            )
            .expect("doc");
            pending.record(&LocalNotice::Document(doc));
        }
        SyncHandle {
            status: watch::channel(status).1,
            pending: Arc::new(pending),
            relay_address: Some("relay.example.fi:4433".into()),
            node_id: Some("n-30076-a1".into()),
            enabled: true,
        }
    }

    fn receive_scopes() -> Vec<Scope> {
        ["school:30076", "municipality:092", "national"]
            .into_iter()
            .map(|scope| scope.parse().expect("scope"))
            .collect()
    }

    /// A connected status as the client publishes it from one link activity report.
    fn connected(activity: &LinkActivity) -> ClientStatus {
        let mut status = ClientStatus {
            connected: true,
            last_complete_sync_unix: Some(1_760_000_000),
            ..ClientStatus::default()
        };
        status.record_activity(activity, 0, 0, 1_760_000_100);
        status
    }

    fn json(handle: &SyncHandle) -> serde_json::Value {
        serde_json::to_value(handle.view()).expect("json")
    }

    /// Issue 15: a node whose store was rebuilt empty under its old identity. The session has
    /// answered everything and nothing is queued either way, but no digest equals the relay's.
    #[test]
    fn a_rebuilt_empty_store_is_reconciling_and_never_reports_nothing_to_receive() {
        let activity = LinkActivity {
            to_peer: SyncStatus::default(),
            from_peer: Some(SyncStatus::default()),
            reconcile: ReconcileProgress {
                scopes_differing: receive_scopes(),
                documents_to_receive: 0,
                bytes_to_receive: 0,
            },
            // What the link computes: the session alone would say true.
            in_sync: false,
            ..LinkActivity::default()
        };
        let status = json(&handle_with(connected(&activity), 0));
        assert_eq!(status["mode"], "online");
        assert_eq!(status["state"], "reconciling");
        assert_eq!(
            status["reconciling"]["scopes_differing"],
            serde_json::json!(["school:30076", "municipality:092", "national"])
        );
        assert_eq!(status["reconciling"]["documents_to_receive"], 0);
        assert!(
            status["documents_waiting_to_receive"].is_null(),
            "unknown, not zero, while the digests differ: {status}"
        );
        assert_eq!(
            status["last_complete_sync_unix"], 1_760_000_000,
            "the last complete sync does not move while the digests differ"
        );
    }

    #[test]
    fn a_reconciling_node_reports_what_is_still_to_come() {
        let activity = LinkActivity {
            from_peer: Some(SyncStatus {
                docs_waiting: 20,
                bytes_waiting: 4_000,
                ..SyncStatus::default()
            }),
            reconcile: ReconcileProgress {
                scopes_differing: vec!["school:30076".parse().expect("scope")],
                documents_to_receive: 120,
                bytes_to_receive: 5_000_000,
            },
            in_sync: false,
            ..LinkActivity::default()
        };
        let status = json(&handle_with(connected(&activity), 0));
        assert_eq!(status["state"], "reconciling");
        assert_eq!(status["documents_waiting_to_receive"], 120);
        assert_eq!(
            status["reconciling"],
            serde_json::json!({
                "scopes_differing": ["school:30076"],
                "documents_to_receive": 120,
                "bytes_to_receive": 5_000_000,
            })
        );
    }

    #[test]
    fn equal_digests_with_unconfirmed_local_changes_are_sending_then_in_sync() {
        let activity = LinkActivity {
            from_peer: Some(SyncStatus::default()),
            in_sync: true,
            ..LinkActivity::default()
        };
        let sending = json(&handle_with(connected(&activity), 2));
        assert_eq!(sending["state"], "sending");
        assert_eq!(sending["documents_waiting_to_send"], 2);
        assert!(sending["reconciling"].is_null());
        assert_eq!(sending["documents_waiting_to_receive"], 0);

        let in_sync = json(&handle_with(connected(&activity), 0));
        assert_eq!(in_sync["state"], "in_sync");
        assert!(in_sync["reconciling"].is_null());
        assert_eq!(in_sync["documents_waiting_to_receive"], 0);
        assert_eq!(in_sync["last_complete_sync_unix"], 1_760_000_100);
    }

    #[test]
    fn before_the_first_comparison_and_offline_nothing_is_claimed() {
        // A fresh link: every scope not compared yet, and no heartbeat from the relay.
        let fresh = LinkActivity {
            reconcile: ReconcileProgress {
                scopes_differing: receive_scopes(),
                ..ReconcileProgress::default()
            },
            ..LinkActivity::default()
        };
        let status = json(&handle_with(connected(&fresh), 0));
        assert_eq!(status["state"], "reconciling");
        assert!(status["documents_waiting_to_receive"].is_null());

        let offline = ClientStatus {
            connected: false,
            offline_since_unix: Some(1_760_000_000),
            ..ClientStatus::default()
        };
        let status = json(&handle_with(offline, 3));
        assert_eq!(status["mode"], "offline");
        assert_eq!(status["state"], "offline");
        assert!(status["reconciling"].is_null());
        assert!(status["documents_waiting_to_receive"].is_null());
        assert_eq!(status["documents_waiting_to_send"], 3);

        let mut standalone = handle_with(ClientStatus::default(), 0);
        standalone.enabled = false;
        let status = json(&standalone);
        assert_eq!(status["mode"], "standalone");
        assert_eq!(status["state"], "standalone");
    }

    /// The OpenAPI document is generated from these types; the new fields and their schemas must be
    /// in it, or clients generated from it would not know the state exists.
    #[test]
    fn the_api_document_describes_the_state_and_what_is_reconciling() {
        let document =
            serde_json::to_value(<crate::api::openapi::ApiDocument as utoipa::OpenApi>::openapi())
                .expect("document serialises");
        let schemas = &document["components"]["schemas"];
        let view = &schemas["SyncStatusView"]["properties"];
        assert!(view["state"].is_object(), "{view}");
        assert!(view["reconciling"].is_object(), "{view}");
        let states = schemas["SyncState"].to_string();
        for state in ["standalone", "offline", "reconciling", "sending", "in_sync"] {
            assert!(
                states.contains(&format!("\"{state}\"")),
                "{state}: {states}"
            );
        }
        let reconciling = &schemas["ReconcilingView"]["properties"];
        for field in [
            "scopes_differing",
            "documents_to_receive",
            "bytes_to_receive",
        ] {
            assert!(reconciling[field].is_object(), "{field}: {reconciling}");
        }
    }
}
