//! What the relay knows about every node of the fleet, for operations.
//!
//! The QUIC server reports what happens to each node (enrolled, connected, said hello, sent frames,
//! erred, disconnected, was revoked) to a [`FleetRegistry`]; the operations listener reads it back as
//! [`NodeView`]s and a [`FleetSummary`]. The registry keeps one record per node in memory and writes
//! the records that changed to a sled tree when [`FleetRegistry::persist`] is called, so totals and
//! "last seen" survive a relay restart.
//!
//! # States
//!
//! Each node is in exactly one [`NodeState`], decided at read time from its record and the clock,
//! in this order of precedence:
//!
//! 1. `revoked`: the certificate the registry last saw for the node has been revoked. A newer
//!    certificate (a re-enrolment) ends this state, because revocation is of a certificate.
//! 2. `never_connected`: enrolled, but no connection ever reached the registry.
//! 3. Connected nodes are `online` when the relay heard from them within the *stale window*
//!    (`heartbeat_interval_secs × stale_after_missed_heartbeats`), and `stale` when they have been
//!    silent for longer (the connection is still open but nothing arrives).
//! 4. Disconnected nodes are `stale` for the first stale window after the disconnect (a reconnect is
//!    expected then: restarts and network blips should not page anyone), then `offline`, and `lost`
//!    once they have been disconnected for longer than `certificates.offline_maximum`.
//!
//! "Offline for" is counted from the disconnect, "last seen" is the last frame or connection.
//!
//! # Sync
//!
//! Apart from its state, a connected node has a [`SyncVerdict`] (`sync` in the JSON; `null` while
//! the node is not connected, because only a live session compares anything), from the session's
//! [`ReconcileProgress`] of the current connection:
//!
//! - `reconciling`: a digest of a scope the node sends (its school and municipality) differed from
//!   the relay's at the node's last heartbeat or has not been compared yet on this connection, or
//!   the relay still expects documents or bytes from the node, or its requests are not all
//!   answered. A node whose store was wiped and rebuilt under its old identity is `reconciling`
//!   until it holds its scopes again, however idle both queues are.
//! - `sending`: every digest equal, but the relay still has documents or files queued for the node.
//! - `in_sync`: every digest equal and nothing waits either way.
//!
//! The relay compares only the scopes the node sends; the national scope, which a node only
//! receives, is compared by the node itself (its own `GET /api/v1/sync/status`). The last complete
//! sync moves only while the session is in sync with every digest equal.
//!
//! # Memory bound
//!
//! Records are created only from certificate facts (enrolment or a verified connection), so there is
//! at most one per certificate identity the fleet authority issued. Every text in a record is bounded
//! ([`MAX_ERROR_MESSAGE_CHARS`], [`MAX_SOFTWARE_VERSION_CHARS`], [`MAX_DISCONNECT_REASON_CHARS`];
//! node ids by their parser to 64 bytes; serials are the fleet CA's own, 20 bytes), so a record is
//! about 1 KB in memory and on disk, 2 KB at worst with every text at its bound in multi-byte
//! characters: 10,000 nodes take about 10 MB.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use sync_protocol::ids::{MunicipalityCode, NodeId, SchoolCode};
use sync_protocol::session::ReconcileProgress;
use sync_protocol::wire::{NodeHealth, SyncStatus};
use sync_transport::identity::{CertificateFacts, Role};

/// The longest error message kept per node; longer ones are cut, because a peer controls their text.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 200;
/// The longest software version kept per node; the wire allows more, the operations view needs less.
pub const MAX_SOFTWARE_VERSION_CHARS: usize = 64;
/// The longest disconnect reason kept per node.
pub const MAX_DISCONNECT_REASON_CHARS: usize = 200;

const SECONDS_PER_DAY: u64 = 24 * 60 * 60;

/// How the registry turns silence into states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPolicy {
    /// How often a node sends a heartbeat, in seconds; the session's interval.
    pub heartbeat_interval_secs: u64,
    /// After how many missed heartbeats a node stops being `online`.
    pub stale_after_missed_heartbeats: u32,
    /// After how many seconds of disconnection a node is `lost` rather than `offline`.
    pub offline_maximum_secs: u64,
}

impl Default for FleetPolicy {
    /// The session's default heartbeat (15 s), the session's own timeout (3 missed heartbeats), and
    /// two months, which covers the summer holiday in Finnish schools without calling a node lost.
    fn default() -> Self {
        Self {
            heartbeat_interval_secs: 15,
            stale_after_missed_heartbeats: 3,
            offline_maximum_secs: 60 * SECONDS_PER_DAY,
        }
    }
}

impl FleetPolicy {
    /// How long a node may be silent (or disconnected) before it is no longer `online` (or `stale`).
    pub fn stale_window_secs(&self) -> u64 {
        self.heartbeat_interval_secs
            .saturating_mul(u64::from(self.stale_after_missed_heartbeats))
    }
}

/// The state of a node as operations sees it; see the module documentation for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Online,
    Stale,
    Offline,
    Lost,
    NeverConnected,
    Revoked,
}

impl NodeState {
    /// Every state, in the order the dashboard and metrics list them.
    pub const ALL: [NodeState; 6] = [
        NodeState::Online,
        NodeState::Stale,
        NodeState::Offline,
        NodeState::Lost,
        NodeState::NeverConnected,
        NodeState::Revoked,
    ];

    /// The name used in JSON, query strings, metrics labels and the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Online => "online",
            NodeState::Stale => "stale",
            NodeState::Offline => "offline",
            NodeState::Lost => "lost",
            NodeState::NeverConnected => "never_connected",
            NodeState::Revoked => "revoked",
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A string that names no [`NodeState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a node state is one of online, stale, offline, lost, never_connected or revoked, got {0:?}"
)]
pub struct UnknownNodeState(String);

impl FromStr for NodeState {
    type Err = UnknownNodeState;
    fn from_str(text: &str) -> Result<Self, UnknownNodeState> {
        NodeState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| UnknownNodeState(text.chars().take(40).collect()))
    }
}

/// Whether a connected node's content matches the relay's; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncVerdict {
    Reconciling,
    Sending,
    InSync,
}

impl SyncVerdict {
    /// Every verdict, in the order the dashboard lists them.
    pub const ALL: [SyncVerdict; 3] = [
        SyncVerdict::Reconciling,
        SyncVerdict::Sending,
        SyncVerdict::InSync,
    ];

    /// The name used in JSON, metrics labels and the dashboard.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncVerdict::Reconciling => "reconciling",
            SyncVerdict::Sending => "sending",
            SyncVerdict::InSync => "in_sync",
        }
    }
}

impl fmt::Display for SyncVerdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What differs between a node and the relay while the node is `reconciling`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcilingView {
    /// Scopes the node sends whose digest differed from the relay's at the node's last heartbeat,
    /// or has not been compared yet on this connection, as `school:30076`. Empty when the digests
    /// are equal but the exchange that follows a comparison is unfinished.
    pub scopes_differing: Vec<String>,
    /// Documents the relay still expects from the node: offered and not yet here, plus the node's
    /// reported backlog.
    pub documents_to_receive: u64,
    /// Bytes the relay still expects from the node: the rest of the files being fetched, plus the
    /// node's reported queued bytes.
    pub bytes_to_receive: u64,
}

/// What the server knows about a live connection each time a frame arrives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkActivity {
    /// The connection's latest round-trip estimate.
    pub rtt_millis: Option<u64>,
    /// Bytes the relay sent to the node on this connection so far.
    pub bytes_sent: u64,
    /// Bytes the relay received from the node on this connection so far.
    pub bytes_received: u64,
    /// What the relay still has to send this node.
    pub to_node: SyncStatus,
    /// What the node reports it still has to send, from its latest heartbeat.
    pub from_node: Option<SyncStatus>,
    /// The node's health, from its latest heartbeat.
    pub health: Option<NodeHealth>,
    /// How far the relay is from holding what the node sends: the session's progress report.
    pub reconcile: ReconcileProgress,
    /// The session is in sync and every digest compared equal
    /// ([`sync_transport::link::LinkActivity::in_sync`]).
    pub in_sync: bool,
}

impl From<&sync_transport::link::LinkActivity> for LinkActivity {
    /// The link's report as the registry records it: the link's `to_peer` is what the relay has
    /// for the node, its `from_peer` what the node reported it has for the relay.
    fn from(activity: &sync_transport::link::LinkActivity) -> Self {
        Self {
            rtt_millis: activity.rtt_millis,
            bytes_sent: activity.bytes_sent,
            bytes_received: activity.bytes_received,
            to_node: activity.to_peer,
            from_node: activity.from_peer,
            health: activity.peer_health,
            reconcile: activity.reconcile.clone(),
            in_sync: activity.in_sync,
        }
    }
}

/// Documents, blobs and bytes waiting in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Waiting {
    pub docs: u64,
    pub blobs: u64,
    pub bytes: u64,
}

impl From<SyncStatus> for Waiting {
    fn from(status: SyncStatus) -> Self {
        Self {
            docs: status.docs_waiting,
            blobs: status.blobs_waiting,
            bytes: status.bytes_waiting,
        }
    }
}

/// A node's own report of its health, with the relay's time of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    pub disk_free_bytes: u64,
    pub uptime_secs: u64,
    pub store_bytes: u64,
    pub doc_count: u64,
    /// When the relay received the report, by the relay's clock.
    pub reported_unix: i64,
}

/// Everything operations sees about one node: the JSON of `GET /api/v1/fleet/{node}`.
///
/// Times are seconds since the Unix epoch by the relay's clock; durations are seconds. A field is
/// `null` when the relay has not learnt it yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub node_id: NodeId,
    pub role: Role,
    pub school: Option<SchoolCode>,
    pub municipality: Option<MunicipalityCode>,
    pub state: NodeState,
    pub connected: bool,
    pub remote_address: Option<String>,
    pub connected_since_unix: Option<i64>,
    pub last_seen_unix: Option<i64>,
    pub last_seen_ago_secs: Option<u64>,
    pub offline_since_unix: Option<i64>,
    pub offline_for_secs: Option<u64>,
    pub last_disconnect_reason: Option<String>,
    pub software_version: Option<String>,
    pub protocol_version: Option<u32>,
    pub rtt_millis: Option<u64>,
    /// What the relay has queued for the node. Zero does not mean the node holds everything: while
    /// `sync` is `reconciling`, what the node lacks is not known yet.
    pub waiting_to_node: Option<Waiting>,
    /// What the node reported it has queued for the relay.
    pub waiting_from_node: Option<Waiting>,
    /// `reconciling`, `sending` or `in_sync` while the node is connected, `null` otherwise; see the
    /// module documentation.
    pub sync: Option<SyncVerdict>,
    /// What differs and what is still to come while `sync` is `reconciling`; `null` otherwise.
    pub reconciling: Option<ReconcilingView>,
    /// When the session with the node was last in sync with every digest equal.
    pub last_complete_sync_unix: Option<i64>,
    pub bytes_in_total: u64,
    pub bytes_out_total: u64,
    pub errors_total: u64,
    pub last_error: Option<String>,
    pub last_error_unix: Option<i64>,
    pub certificate_serial: String,
    pub certificate_expires_unix: i64,
    /// Negative once the certificate has expired.
    pub certificate_expires_in_secs: i64,
    pub enrolled_unix: i64,
    pub revoked_unix: Option<i64>,
    pub health: Option<HealthView>,
}

/// How many nodes are in each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateCounts {
    pub online: usize,
    pub stale: usize,
    pub offline: usize,
    pub lost: usize,
    pub never_connected: usize,
    pub revoked: usize,
}

impl StateCounts {
    pub fn get(&self, state: NodeState) -> usize {
        match state {
            NodeState::Online => self.online,
            NodeState::Stale => self.stale,
            NodeState::Offline => self.offline,
            NodeState::Lost => self.lost,
            NodeState::NeverConnected => self.never_connected,
            NodeState::Revoked => self.revoked,
        }
    }

    fn add(&mut self, state: NodeState) {
        let count = match state {
            NodeState::Online => &mut self.online,
            NodeState::Stale => &mut self.stale,
            NodeState::Offline => &mut self.offline,
            NodeState::Lost => &mut self.lost,
            NodeState::NeverConnected => &mut self.never_connected,
            NodeState::Revoked => &mut self.revoked,
        };
        *count += 1;
    }
}

/// One municipality's share of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MunicipalitySummary {
    pub municipality: MunicipalityCode,
    pub total: usize,
    pub connected: usize,
    /// Connected nodes whose `sync` is `reconciling`.
    pub reconciling: usize,
    pub states: StateCounts,
}

/// The fleet at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FleetSummary {
    pub total: usize,
    pub connected: usize,
    /// Connected nodes whose `sync` is `reconciling`.
    pub reconciling: usize,
    pub states: StateCounts,
    /// Sorted by municipality code. Operators without a municipality are counted only above.
    pub municipalities: Vec<MunicipalitySummary>,
}

impl FleetSummary {
    /// Counts the given views; [`FleetRegistry::summary`] uses it, and so can a filtered view.
    pub fn of(views: &[NodeView]) -> Self {
        let mut summary = FleetSummary::default();
        let mut municipalities: BTreeMap<MunicipalityCode, MunicipalitySummary> = BTreeMap::new();
        for view in views {
            let reconciling = usize::from(view.sync == Some(SyncVerdict::Reconciling));
            summary.total += 1;
            summary.connected += usize::from(view.connected);
            summary.reconciling += reconciling;
            summary.states.add(view.state);
            if let Some(municipality) = &view.municipality {
                let entry = municipalities
                    .entry(municipality.clone())
                    .or_insert_with(|| MunicipalitySummary {
                        municipality: municipality.clone(),
                        total: 0,
                        connected: 0,
                        reconciling: 0,
                        states: StateCounts::default(),
                    });
                entry.total += 1;
                entry.connected += usize::from(view.connected);
                entry.reconciling += reconciling;
                entry.states.add(view.state);
            }
        }
        summary.municipalities = municipalities.into_values().collect();
        summary
    }
}

/// Why the registry could not load or persist.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("the fleet registry's tree could not be read or written: {0}")]
    Storage(#[from] sled::Error),
    #[error("a fleet record could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What the registry remembers about one node; the persisted form, as JSON, keyed by node id.
///
/// Every field has a default so that records written by an older relay still load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct NodeRecord {
    node_id: Option<NodeId>,
    role: Option<Role>,
    school: Option<SchoolCode>,
    municipality: Option<MunicipalityCode>,
    certificate_serial: String,
    certificate_not_before_unix: i64,
    certificate_expires_unix: i64,
    enrolled_unix: i64,
    revocation: Option<Revocation>,
    /// Open connections; a reconnect can overlap the old connection's end. Never persisted as
    /// open: a starting relay has no connections.
    #[serde(skip)]
    open_connections: u32,
    remote_address: Option<String>,
    connected_since_unix: Option<i64>,
    last_seen_unix: Option<i64>,
    offline_since_unix: Option<i64>,
    last_disconnect_reason: Option<String>,
    software_version: Option<String>,
    protocol_version: Option<u32>,
    rtt_millis: Option<u64>,
    waiting_to_node: Option<Waiting>,
    waiting_from_node: Option<Waiting>,
    /// The current connection's last progress report; `None` while disconnected and before the
    /// first report. Never persisted: a starting relay has compared nothing.
    #[serde(skip)]
    reconcile: Option<ReconcileProgress>,
    /// The current connection's last `in_sync`; false while disconnected. Never persisted.
    #[serde(skip)]
    link_in_sync: bool,
    last_complete_sync_unix: Option<i64>,
    /// Bytes of connections that have ended; the current connection's are added for totals.
    bytes_in_before_connection: u64,
    bytes_out_before_connection: u64,
    bytes_in_this_connection: u64,
    bytes_out_this_connection: u64,
    errors_total: u64,
    last_error: Option<String>,
    last_error_unix: Option<i64>,
    health: Option<HealthView>,
}

impl Default for NodeRecord {
    fn default() -> Self {
        Self {
            node_id: None,
            role: None,
            school: None,
            municipality: None,
            certificate_serial: String::new(),
            certificate_not_before_unix: i64::MIN,
            certificate_expires_unix: 0,
            enrolled_unix: 0,
            revocation: None,
            open_connections: 0,
            remote_address: None,
            connected_since_unix: None,
            last_seen_unix: None,
            offline_since_unix: None,
            last_disconnect_reason: None,
            software_version: None,
            protocol_version: None,
            rtt_millis: None,
            waiting_to_node: None,
            waiting_from_node: None,
            reconcile: None,
            link_in_sync: false,
            last_complete_sync_unix: None,
            bytes_in_before_connection: 0,
            bytes_out_before_connection: 0,
            bytes_in_this_connection: 0,
            bytes_out_this_connection: 0,
            errors_total: 0,
            last_error: None,
            last_error_unix: None,
            health: None,
        }
    }
}

/// A revoked certificate: the node is `revoked` while this is still its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Revocation {
    certificate_serial: String,
    revoked_unix: i64,
}

impl NodeRecord {
    fn from_facts(facts: &CertificateFacts, now_unix: i64) -> Self {
        let mut record = NodeRecord {
            enrolled_unix: now_unix,
            ..NodeRecord::default()
        };
        record.take_certificate(facts);
        record
    }

    /// Adopts the identity and validity a certificate states.
    fn take_certificate(&mut self, facts: &CertificateFacts) {
        self.node_id = Some(facts.identity.node.clone());
        self.role = Some(facts.identity.role);
        self.school = facts.identity.school.clone();
        self.municipality = facts.identity.municipality.clone();
        self.certificate_serial = facts.serial_hex.clone();
        self.certificate_not_before_unix = facts.not_before_unix;
        self.certificate_expires_unix = facts.not_after_unix;
    }

    fn connected(&self) -> bool {
        self.open_connections > 0
    }

    fn revoked(&self) -> bool {
        self.revocation
            .as_ref()
            .is_some_and(|revocation| revocation.certificate_serial == self.certificate_serial)
    }

    /// Moves the current connection's byte counters into the totals of ended connections, so that
    /// the next connection starts counting from zero without losing or double counting anything.
    fn close_connection_counters(&mut self) {
        self.bytes_in_before_connection = self
            .bytes_in_before_connection
            .saturating_add(self.bytes_in_this_connection);
        self.bytes_out_before_connection = self
            .bytes_out_before_connection
            .saturating_add(self.bytes_out_this_connection);
        self.bytes_in_this_connection = 0;
        self.bytes_out_this_connection = 0;
    }

    fn state(&self, policy: &FleetPolicy, now_unix: i64) -> NodeState {
        if self.revoked() {
            return NodeState::Revoked;
        }
        let Some(last_seen_unix) = self.last_seen_unix else {
            return NodeState::NeverConnected;
        };
        if self.connected() {
            return if seconds_between(last_seen_unix, now_unix) <= policy.stale_window_secs() {
                NodeState::Online
            } else {
                NodeState::Stale
            };
        }
        let offline_for =
            seconds_between(self.offline_since_unix.unwrap_or(last_seen_unix), now_unix);
        if offline_for <= policy.stale_window_secs() {
            NodeState::Stale
        } else if offline_for <= policy.offline_maximum_secs {
            NodeState::Offline
        } else {
            NodeState::Lost
        }
    }

    /// The sync verdict of the module documentation; `None` while disconnected.
    fn sync_verdict(&self) -> Option<SyncVerdict> {
        if !self.connected() {
            return None;
        }
        // Connected without a report yet: the new session has compared nothing.
        let Some(progress) = &self.reconcile else {
            return Some(SyncVerdict::Reconciling);
        };
        let still_receiving = progress.documents_to_receive > 0 || progress.bytes_to_receive > 0;
        let queued_for_node = self
            .waiting_to_node
            .is_some_and(|waiting| waiting.docs > 0 || waiting.blobs > 0);
        Some(
            if !progress.in_sync() || still_receiving || !self.link_in_sync {
                SyncVerdict::Reconciling
            } else if queued_for_node {
                SyncVerdict::Sending
            } else {
                SyncVerdict::InSync
            },
        )
    }

    /// The record as operations sees it; `None` for a record without an identity, which `open`
    /// never admits.
    fn view(&self, policy: &FleetPolicy, now_unix: i64) -> Option<NodeView> {
        let connected = self.connected();
        let sync = self.sync_verdict();
        let reconciling = (sync == Some(SyncVerdict::Reconciling)).then(|| {
            let progress = self.reconcile.clone().unwrap_or_default();
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
        let offline_since_unix = if connected {
            None
        } else {
            self.offline_since_unix
        };
        Some(NodeView {
            node_id: self.node_id.clone()?,
            role: self.role?,
            school: self.school.clone(),
            municipality: self.municipality.clone(),
            state: self.state(policy, now_unix),
            connected,
            remote_address: self.remote_address.clone(),
            connected_since_unix: self.connected_since_unix.filter(|_| connected),
            last_seen_unix: self.last_seen_unix,
            last_seen_ago_secs: self
                .last_seen_unix
                .map(|seen| seconds_between(seen, now_unix)),
            offline_since_unix,
            offline_for_secs: offline_since_unix.map(|since| seconds_between(since, now_unix)),
            last_disconnect_reason: self.last_disconnect_reason.clone(),
            software_version: self.software_version.clone(),
            protocol_version: self.protocol_version,
            rtt_millis: self.rtt_millis,
            waiting_to_node: self.waiting_to_node,
            waiting_from_node: self.waiting_from_node,
            sync,
            reconciling,
            last_complete_sync_unix: self.last_complete_sync_unix,
            bytes_in_total: self
                .bytes_in_before_connection
                .saturating_add(self.bytes_in_this_connection),
            bytes_out_total: self
                .bytes_out_before_connection
                .saturating_add(self.bytes_out_this_connection),
            errors_total: self.errors_total,
            last_error: self.last_error.clone(),
            last_error_unix: self.last_error_unix,
            certificate_serial: self.certificate_serial.clone(),
            certificate_expires_unix: self.certificate_expires_unix,
            certificate_expires_in_secs: self.certificate_expires_unix.saturating_sub(now_unix),
            enrolled_unix: self.enrolled_unix,
            revoked_unix: self
                .revocation
                .as_ref()
                .filter(|_| self.revoked())
                .map(|revocation| revocation.revoked_unix),
            health: self.health,
        })
    }
}

/// Seconds from `earlier` to `later`, zero when the clock went backwards.
fn seconds_between(earlier: i64, later: i64) -> u64 {
    u64::try_from(later.saturating_sub(earlier)).unwrap_or(0)
}

/// Cuts untrusted text to a bound, on a character boundary.
fn bounded_text(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The order of the operations view: longest without contact first (never-seen nodes before all),
/// then by node id so that equal times keep a stable order.
fn staleness_order(left: &NodeView, right: &NodeView) -> std::cmp::Ordering {
    left.last_seen_unix
        .cmp(&right.last_seen_unix)
        .then_with(|| left.node_id.cmp(&right.node_id))
}

/// A record in memory, and whether it changed since the last persist.
#[derive(Debug)]
struct Entry {
    record: NodeRecord,
    changed: bool,
}

#[derive(Debug)]
struct Inner {
    tree: sled::Tree,
    policy: FleetPolicy,
    /// Ordered so that every listing is deterministic without sorting twice.
    records: Mutex<BTreeMap<NodeId, Entry>>,
}

/// What the relay knows about every node; cheap to clone and shared by the server and the
/// operations listener.
#[derive(Debug, Clone)]
pub struct FleetRegistry {
    inner: Arc<Inner>,
}

impl FleetRegistry {
    /// Loads the records persisted in `tree`. A damaged record is logged and skipped: the node
    /// reappears with its next enrolment or connection, and one bad record never stops the relay.
    pub fn open(tree: sled::Tree, policy: FleetPolicy) -> Result<FleetRegistry, FleetError> {
        let mut records = BTreeMap::new();
        for item in tree.iter() {
            let (key, value) = item?;
            let Some(mut record) = decode_record(&key, &value) else {
                continue;
            };
            // The previous process may have stopped without recording its disconnects. Nothing is
            // connected to a starting relay, so every node is offline since it was last seen, and
            // the last connection's bytes count as ended.
            let was_open = record.offline_since_unix.is_none() && record.last_seen_unix.is_some();
            if was_open {
                record.offline_since_unix = record.last_seen_unix;
                record.last_disconnect_reason = Some("relay restarted".to_owned());
            }
            record.close_connection_counters();
            if let Some(node) = record.node_id.clone() {
                records.insert(
                    node,
                    Entry {
                        record,
                        changed: was_open,
                    },
                );
            }
        }
        tracing::info!(nodes = records.len(), "fleet registry loaded");
        Ok(FleetRegistry {
            inner: Arc::new(Inner {
                tree,
                policy,
                records: Mutex::new(records),
            }),
        })
    }

    pub fn policy(&self) -> FleetPolicy {
        self.inner.policy
    }

    /// A certificate was issued (or, at startup, is in the authority's issued log). Creates the
    /// node's record; for a known node, a newer certificate replaces the recorded one, so replaying
    /// the issued log in any order ends at each node's newest certificate.
    pub fn record_enrolled(&self, facts: &CertificateFacts, now_unix: i64) {
        let mut records = self.lock();
        match records.get_mut(&facts.identity.node) {
            Some(entry) => {
                let record = &mut entry.record;
                let newer = facts.not_before_unix > record.certificate_not_before_unix
                    || (facts.not_before_unix == record.certificate_not_before_unix
                        && facts.serial_hex != record.certificate_serial);
                if newer {
                    record.take_certificate(facts);
                    entry.changed = true;
                }
            }
            None => {
                records.insert(
                    facts.identity.node.clone(),
                    Entry {
                        record: NodeRecord::from_facts(facts, now_unix),
                        changed: true,
                    },
                );
            }
        }
    }

    /// A connection with a verified certificate was accepted. The certificate it presented is the
    /// one in use, so its facts replace the recorded ones even when a newer one was issued.
    pub fn record_connected(&self, facts: &CertificateFacts, remote: SocketAddr, now_unix: i64) {
        let mut records = self.lock();
        let entry = records
            .entry(facts.identity.node.clone())
            .or_insert_with(|| Entry {
                record: NodeRecord::from_facts(facts, now_unix),
                changed: true,
            });
        let record = &mut entry.record;
        record.take_certificate(facts);
        // A reconnect may arrive before the old connection's end is reported. The old connection's
        // bytes are closed off now, so the server must stop reporting activity for a connection
        // it superseded: a later report would overwrite the new connection's counters.
        record.close_connection_counters();
        record.open_connections = record.open_connections.saturating_add(1);
        // The new connection's session has compared nothing yet, whatever the old one had.
        record.reconcile = None;
        record.link_in_sync = false;
        record.remote_address = Some(remote.to_string());
        record.connected_since_unix = Some(now_unix);
        record.last_seen_unix = Some(now_unix);
        record.offline_since_unix = None;
        entry.changed = true;
    }

    /// The node's Hello arrived.
    pub fn record_hello(&self, node: &NodeId, software_version: &str, protocol_version: u32) {
        self.update(node, |record| {
            record.software_version =
                Some(bounded_text(software_version, MAX_SOFTWARE_VERSION_CHARS));
            record.protocol_version = Some(protocol_version);
        });
    }

    /// A frame arrived from the node; the caller limits this to about once a second per node.
    pub fn record_activity(&self, node: &NodeId, activity: &LinkActivity, now_unix: i64) {
        self.update(node, |record| {
            record.last_seen_unix = Some(now_unix);
            if activity.rtt_millis.is_some() {
                record.rtt_millis = activity.rtt_millis;
            }
            record.bytes_out_this_connection = activity.bytes_sent;
            record.bytes_in_this_connection = activity.bytes_received;
            record.waiting_to_node = Some(activity.to_node.into());
            if let Some(from_node) = activity.from_node {
                record.waiting_from_node = Some(from_node.into());
            }
            record.reconcile = Some(activity.reconcile.clone());
            record.link_in_sync = activity.in_sync;
            if let Some(health) = activity.health {
                record.health = Some(HealthView {
                    disk_free_bytes: health.disk_free_bytes,
                    uptime_secs: health.uptime_secs,
                    store_bytes: health.store_bytes,
                    doc_count: health.doc_count,
                    reported_unix: now_unix,
                });
            }
            // The node's own `last_complete_sync_millis` is in its clock; the relay's is comparable.
            // `in_sync` includes the digests, so this never moves while a scope differs.
            if activity.in_sync {
                record.last_complete_sync_unix = Some(now_unix);
            }
        });
    }

    /// The session with the node reported or met an error. This is not contact by itself: the
    /// frame that carried a peer's error is reported through [`Self::record_activity`].
    pub fn record_error(&self, node: &NodeId, message: &str, now_unix: i64) {
        self.update(node, |record| {
            record.errors_total = record.errors_total.saturating_add(1);
            record.last_error = Some(bounded_text(message, MAX_ERROR_MESSAGE_CHARS));
            record.last_error_unix = Some(now_unix);
        });
    }

    /// A connection of the node ended. When an overlapping newer connection is still open, the node
    /// stays connected.
    pub fn record_disconnected(&self, node: &NodeId, reason: &str, now_unix: i64) {
        self.update(node, |record| {
            record.open_connections = record.open_connections.saturating_sub(1);
            if record.open_connections == 0 {
                record.close_connection_counters();
                record.reconcile = None;
                record.link_in_sync = false;
                record.offline_since_unix = Some(now_unix);
                record.last_disconnect_reason =
                    Some(bounded_text(reason, MAX_DISCONNECT_REASON_CHARS));
            }
        });
    }

    /// The node's current certificate was revoked.
    pub fn record_revoked(&self, node: &NodeId, now_unix: i64) {
        self.update(node, |record| {
            record.revocation = Some(Revocation {
                certificate_serial: record.certificate_serial.clone(),
                revoked_unix: now_unix,
            });
        });
    }

    /// Writes the records changed since the last persist to the tree and flushes it. On failure
    /// the records stay marked as changed, so the next call tries again.
    pub fn persist(&self) -> Result<(), FleetError> {
        // Copies are taken under the lock and encoded outside it, so that the server's reports
        // never wait for the encoding of thousands of records.
        let changed: Vec<(NodeId, NodeRecord)> = {
            let mut records = self.lock();
            records
                .iter_mut()
                .filter(|(_, entry)| entry.changed)
                .map(|(node, entry)| {
                    entry.changed = false;
                    (node.clone(), entry.record.clone())
                })
                .collect()
        };
        if changed.is_empty() {
            return Ok(());
        }
        let outcome = write_records(&self.inner.tree, &changed);
        if outcome.is_err() {
            let mut records = self.lock();
            for (node, _) in &changed {
                if let Some(entry) = records.get_mut(node) {
                    entry.changed = true;
                }
            }
        }
        outcome
    }

    /// Every node, longest without contact first: never-seen nodes, then by last contact, oldest
    /// first, then by node id.
    pub fn snapshot(&self, now_unix: i64) -> Vec<NodeView> {
        let mut views: Vec<NodeView> = {
            let records = self.lock();
            records
                .values()
                .filter_map(|entry| entry.record.view(&self.inner.policy, now_unix))
                .collect()
        };
        views.sort_by(staleness_order);
        views
    }

    pub fn node(&self, node: &NodeId, now_unix: i64) -> Option<NodeView> {
        self.lock()
            .get(node)
            .and_then(|entry| entry.record.view(&self.inner.policy, now_unix))
    }

    pub fn summary(&self, now_unix: i64) -> FleetSummary {
        FleetSummary::of(&self.snapshot(now_unix))
    }

    /// How many nodes the registry holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The municipalities of all known nodes, sorted; for the dashboard's filter.
    pub fn municipalities(&self) -> Vec<MunicipalityCode> {
        let records = self.lock();
        let codes: BTreeSet<MunicipalityCode> = records
            .values()
            .filter_map(|entry| entry.record.municipality.clone())
            .collect();
        codes.into_iter().collect()
    }

    /// Changes a known node's record. Reports about unknown nodes are dropped: records are only
    /// created from certificates, which is what bounds the registry's size.
    fn update(&self, node: &NodeId, change: impl FnOnce(&mut NodeRecord)) {
        let mut records = self.lock();
        match records.get_mut(node) {
            Some(entry) => {
                change(&mut entry.record);
                entry.changed = true;
            }
            None => tracing::debug!(%node, "fleet report about a node without a record ignored"),
        }
    }

    /// The records, even after a panic in another thread: every update leaves a record whole, so
    /// a poisoned lock holds nothing half-written.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<NodeId, Entry>> {
        self.inner
            .records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Writes records in one batch and makes them durable.
fn write_records(tree: &sled::Tree, records: &[(NodeId, NodeRecord)]) -> Result<(), FleetError> {
    let mut batch = sled::Batch::default();
    for (node, record) in records {
        batch.insert(node.to_string().as_bytes(), serde_json::to_vec(record)?);
    }
    tree.apply_batch(batch)?;
    tree.flush()?;
    Ok(())
}

/// Reads one persisted record, or logs why it cannot.
fn decode_record(key: &[u8], value: &[u8]) -> Option<NodeRecord> {
    let key_text = String::from_utf8_lossy(key);
    let node: NodeId = match key_text.parse() {
        Ok(node) => node,
        Err(error) => {
            tracing::warn!(key = %key_text, %error, "skipping a fleet record with a bad key");
            return None;
        }
    };
    let record: NodeRecord = match serde_json::from_slice(value) {
        Ok(record) => record,
        Err(error) => {
            tracing::warn!(%node, %error, "skipping a damaged fleet record");
            return None;
        }
    };
    if record.node_id.as_ref() != Some(&node) || record.role.is_none() {
        tracing::warn!(%node, "skipping a fleet record that names another node or no role");
        return None;
    }
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_transport::identity::FleetIdentity;

    const START: i64 = 1_760_000_000;

    fn policy() -> FleetPolicy {
        FleetPolicy {
            heartbeat_interval_secs: 10,
            stale_after_missed_heartbeats: 3,
            offline_maximum_secs: 60 * SECONDS_PER_DAY,
        }
    }

    fn facts(node: &str, serial: &str, not_before_unix: i64) -> CertificateFacts {
        CertificateFacts {
            identity: FleetIdentity::node(
                node.parse().expect("node id"),
                "30076".parse().expect("school"),
                "092".parse().expect("municipality"),
            ),
            not_before_unix,
            not_after_unix: not_before_unix + 90 * 86_400,
            serial_hex: serial.to_owned(),
        }
    }

    fn registry() -> (tempfile::TempDir, FleetRegistry) {
        let directory = tempfile::tempdir().expect("tempdir");
        let database = sled::open(directory.path()).expect("sled");
        let tree = database.open_tree("fleet").expect("tree");
        (
            directory,
            FleetRegistry::open(tree, policy()).expect("open"),
        )
    }

    fn remote() -> SocketAddr {
        "192.0.2.7:4433".parse().expect("address")
    }

    fn state(registry: &FleetRegistry, node: &NodeId, now: i64) -> NodeState {
        registry.node(node, now).expect("known node").state
    }

    #[test]
    fn a_node_goes_through_every_state_as_time_passes() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        registry.record_enrolled(&facts("n-30076-a1", "01", START), START);
        assert_eq!(
            state(&registry, &node, START + 1_000),
            NodeState::NeverConnected
        );

        registry.record_connected(&facts("n-30076-a1", "01", START), remote(), START);
        assert_eq!(state(&registry, &node, START + 30), NodeState::Online);
        assert_eq!(state(&registry, &node, START + 31), NodeState::Stale);

        registry.record_activity(&node, &LinkActivity::default(), START + 100);
        assert_eq!(state(&registry, &node, START + 110), NodeState::Online);

        registry.record_disconnected(&node, "timeout", START + 200);
        assert_eq!(state(&registry, &node, START + 230), NodeState::Stale);
        assert_eq!(state(&registry, &node, START + 231), NodeState::Offline);
        let sixty_days = 60 * 86_400;
        assert_eq!(
            state(&registry, &node, START + 200 + sixty_days),
            NodeState::Offline
        );
        assert_eq!(
            state(&registry, &node, START + 201 + sixty_days),
            NodeState::Lost
        );

        registry.record_revoked(&node, START + 300);
        assert_eq!(state(&registry, &node, START + 301), NodeState::Revoked);
    }

    #[test]
    fn a_new_certificate_ends_a_revocation_and_old_ones_do_not_replace_it() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        registry.record_enrolled(&facts("n-30076-a1", "01", START), START);
        registry.record_revoked(&node, START + 10);
        assert_eq!(state(&registry, &node, START + 11), NodeState::Revoked);

        registry.record_enrolled(&facts("n-30076-a1", "02", START + 20), START + 20);
        assert_eq!(
            state(&registry, &node, START + 21),
            NodeState::NeverConnected
        );
        // Replaying the issued log at startup offers the old certificate again.
        registry.record_enrolled(&facts("n-30076-a1", "01", START), START + 30);
        let view = registry.node(&node, START + 31).expect("known node");
        assert_eq!(view.certificate_serial, "02");
        assert_eq!(view.state, NodeState::NeverConnected);
    }

    #[test]
    fn bytes_accumulate_across_connections_and_overlapping_reconnects() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        let certificate = facts("n-30076-a1", "01", START);
        let activity = |sent, received| LinkActivity {
            bytes_sent: sent,
            bytes_received: received,
            ..LinkActivity::default()
        };

        registry.record_connected(&certificate, remote(), START);
        registry.record_activity(&node, &activity(100, 10), START + 1);
        registry.record_activity(&node, &activity(150, 20), START + 2);
        registry.record_disconnected(&node, "closed", START + 3);

        registry.record_connected(&certificate, remote(), START + 4);
        registry.record_activity(&node, &activity(50, 5), START + 5);
        // The node reconnects before the relay notices the old connection's end.
        registry.record_connected(&certificate, remote(), START + 6);
        registry.record_activity(&node, &activity(7, 1), START + 7);
        registry.record_disconnected(&node, "superseded", START + 8);

        let view = registry.node(&node, START + 9).expect("known node");
        assert!(view.connected, "the newer connection is still open");
        assert_eq!(view.bytes_out_total, 150 + 50 + 7);
        assert_eq!(view.bytes_in_total, 20 + 5 + 1);

        registry.record_disconnected(&node, "closed", START + 10);
        let view = registry.node(&node, START + 11).expect("known node");
        assert!(!view.connected);
        assert_eq!(view.offline_since_unix, Some(START + 10));
        assert_eq!(view.bytes_out_total, 207);
    }

    #[test]
    fn errors_are_counted_and_their_text_bounded() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        registry.record_enrolled(&facts("n-30076-a1", "01", START), START);
        registry.record_error(&node, "first", START + 1);
        registry.record_error(&node, &"é".repeat(500), START + 2);
        let view = registry.node(&node, START + 3).expect("known node");
        assert_eq!(view.errors_total, 2);
        assert_eq!(
            view.last_error.expect("an error").chars().count(),
            MAX_ERROR_MESSAGE_CHARS
        );
    }

    #[test]
    fn reports_about_unknown_nodes_create_nothing() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-unknown".parse().expect("node id");
        registry.record_activity(&node, &LinkActivity::default(), START);
        registry.record_error(&node, "boom", START);
        assert!(registry.is_empty());
    }

    #[test]
    fn the_snapshot_lists_the_longest_silent_first() {
        let (_directory, registry) = registry();
        for (node, seen) in [
            ("n-b", Some(START + 50)),
            ("n-a", None),
            ("n-c", Some(START)),
            ("n-d", Some(START + 50)),
        ] {
            registry.record_enrolled(&facts(node, "01", START), START);
            if let Some(seen) = seen {
                registry.record_connected(&facts(node, "01", START), remote(), seen);
            }
        }
        let order: Vec<String> = registry
            .snapshot(START + 60)
            .into_iter()
            .map(|view| view.node_id.to_string())
            .collect();
        assert_eq!(order, ["n-a", "n-c", "n-b", "n-d"]);
    }

    #[test]
    fn a_damaged_record_is_skipped_and_open_connections_end_on_reopen() {
        let directory = tempfile::tempdir().expect("tempdir");
        let database = sled::open(directory.path()).expect("sled");
        let tree = database.open_tree("fleet").expect("tree");
        let registry = FleetRegistry::open(tree.clone(), policy()).expect("open");
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        registry.record_connected(&facts("n-30076-a1", "01", START), remote(), START);
        registry.record_activity(
            &node,
            &LinkActivity {
                bytes_sent: 40,
                ..LinkActivity::default()
            },
            START + 5,
        );
        registry.persist().expect("persist");
        tree.insert("n-broken", b"{not json".as_slice())
            .expect("insert");
        tree.insert("NOT A NODE", b"{}".as_slice()).expect("insert");
        drop(registry);

        let reopened = FleetRegistry::open(tree, policy()).expect("reopen");
        assert_eq!(reopened.len(), 1);
        let view = reopened.node(&node, START + 100).expect("known node");
        assert!(!view.connected);
        assert_eq!(view.offline_since_unix, Some(START + 5));
        assert_eq!(view.bytes_out_total, 40);
        assert_eq!(view.state, NodeState::Offline);
    }

    #[test]
    fn states_parse_from_their_names() {
        for state in NodeState::ALL {
            assert_eq!(state.as_str().parse::<NodeState>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).expect("json"),
                serde_json::Value::String(state.as_str().to_owned())
            );
        }
        assert!("asleep".parse::<NodeState>().is_err());
    }

    fn scope(text: &str) -> sync_protocol::ids::Scope {
        text.parse().expect("scope")
    }

    /// A report from the link of a node whose store was rebuilt empty under its old identity: the
    /// session answered everything and nothing is queued either way, but the digests of both scopes
    /// the node sends differ from the relay's.
    fn rebuilt_store_report() -> LinkActivity {
        LinkActivity::from(&sync_transport::link::LinkActivity {
            rtt_millis: Some(12),
            from_peer: Some(SyncStatus::default()),
            reconcile: ReconcileProgress {
                scopes_differing: vec![scope("school:30076"), scope("municipality:092")],
                documents_to_receive: 0,
                bytes_to_receive: 0,
            },
            in_sync: false,
            ..sync_transport::link::LinkActivity::default()
        })
    }

    #[test]
    fn a_node_whose_digests_differ_is_reconciling_however_idle_the_queues() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        registry.record_connected(&facts("n-30076-a1", "01", START), remote(), START);
        let view = registry.node(&node, START + 1).expect("known node");
        assert_eq!(
            view.sync,
            Some(SyncVerdict::Reconciling),
            "a new connection has compared nothing"
        );

        registry.record_activity(&node, &rebuilt_store_report(), START + 2);
        let view = registry.node(&node, START + 3).expect("known node");
        assert_eq!(
            view.state,
            NodeState::Online,
            "the state machine is unchanged"
        );
        assert_eq!(view.sync, Some(SyncVerdict::Reconciling));
        assert_eq!(
            view.reconciling,
            Some(ReconcilingView {
                scopes_differing: vec!["school:30076".into(), "municipality:092".into()],
                documents_to_receive: 0,
                bytes_to_receive: 0,
            })
        );
        assert_eq!(view.waiting_to_node, Some(Waiting::default()));
        assert_eq!(
            view.last_complete_sync_unix, None,
            "never in sync while the digests differ"
        );

        // The node offers what it holds; the relay counts what is still to come.
        let mut catching_up = rebuilt_store_report();
        catching_up.reconcile.scopes_differing = vec![scope("school:30076")];
        catching_up.reconcile.documents_to_receive = 40;
        catching_up.reconcile.bytes_to_receive = 2_000_000;
        registry.record_activity(&node, &catching_up, START + 4);
        let reconciling = registry
            .node(&node, START + 5)
            .and_then(|view| view.reconciling)
            .expect("still reconciling");
        assert_eq!(reconciling.scopes_differing, ["school:30076"]);
        assert_eq!(reconciling.documents_to_receive, 40);
        assert_eq!(reconciling.bytes_to_receive, 2_000_000);

        let matched = LinkActivity::from(&sync_transport::link::LinkActivity {
            from_peer: Some(SyncStatus::default()),
            in_sync: true,
            ..sync_transport::link::LinkActivity::default()
        });
        registry.record_activity(&node, &matched, START + 20);
        let view = registry.node(&node, START + 21).expect("known node");
        assert_eq!(view.sync, Some(SyncVerdict::InSync));
        assert_eq!(view.reconciling, None);
        assert_eq!(view.last_complete_sync_unix, Some(START + 20));

        // Equal digests with changes queued for the node: sending, not in sync.
        let mut queued = matched.clone();
        queued.to_node.docs_waiting = 2;
        registry.record_activity(&node, &queued, START + 22);
        assert_eq!(
            registry.node(&node, START + 23).expect("known node").sync,
            Some(SyncVerdict::Sending)
        );

        registry.record_disconnected(&node, "closed", START + 30);
        let view = registry.node(&node, START + 31).expect("known node");
        assert_eq!(view.sync, None, "nothing is compared without a connection");
        assert_eq!(view.reconciling, None);
        // The last report with equal digests and a session in sync was the one with the queue.
        assert_eq!(view.last_complete_sync_unix, Some(START + 22));
    }

    #[test]
    fn a_session_that_calls_itself_in_sync_does_not_override_differing_digests() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        registry.record_connected(&facts("n-30076-a1", "01", START), remote(), START);
        // A report whose flag disagrees with its own progress (never made by the link, which
        // derives one from the other) still reads as reconciling.
        let mut contradictory = rebuilt_store_report();
        contradictory.in_sync = true;
        registry.record_activity(&node, &contradictory, START + 1);
        assert_eq!(
            registry.node(&node, START + 2).expect("known node").sync,
            Some(SyncVerdict::Reconciling)
        );
    }

    #[test]
    fn a_reconnect_starts_reconciling_again_and_the_summary_counts_it() {
        let (_directory, registry) = registry();
        let node: NodeId = "n-30076-a1".parse().expect("node id");
        let certificate = facts("n-30076-a1", "01", START);
        registry.record_connected(&certificate, remote(), START);
        registry.record_activity(
            &node,
            &LinkActivity {
                in_sync: true,
                ..LinkActivity::default()
            },
            START + 1,
        );
        registry.record_enrolled(&facts("n-30076-b2", "01", START), START);
        let summary = registry.summary(START + 2);
        assert_eq!(summary.reconciling, 0);

        registry.record_connected(&certificate, remote(), START + 3);
        registry.record_disconnected(&node, "superseded", START + 4);
        let summary = registry.summary(START + 5);
        assert_eq!(summary.reconciling, 1);
        assert_eq!(summary.municipalities[0].reconciling, 1);
        assert_eq!(summary.connected, 1);
    }

    #[test]
    fn sync_verdicts_are_written_by_their_names() {
        for verdict in SyncVerdict::ALL {
            assert_eq!(
                serde_json::to_value(verdict).expect("json"),
                serde_json::Value::String(verdict.as_str().to_owned())
            );
        }
    }
}
