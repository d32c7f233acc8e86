//! The relay's Prometheus metrics, all named `digione_relay_*`.
//!
//! Two kinds live here. Counters of events ([`RelayMetrics::connection_accepted`] and friends) are
//! incremented by the QUIC server as things happen. Gauges of the fleet and the store are computed
//! at scrape time from a [`FleetRegistry`] snapshot and [`StoreStats`], so they can never drift from
//! what the registry says and a node that disappears from the registry disappears from the scrape.
//!
//! The exposition is OpenMetrics text ([`CONTENT_TYPE`]), which Prometheus negotiates and prefers.
//!
//! # Cardinality
//!
//! Per-node gauges carry a `node` label, about a dozen series per node (fifteen for a node that is
//! reconciling): 10,000 nodes make about 120,000 series, which one Prometheus handles comfortably. Only `..._node_last_seen_timestamp_seconds`
//! and `..._node_connected` also carry `school` and `municipality`; join on `node` for the others.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use sync_protocol::session::QuotaKind;
use sync_protocol::wire::ErrorCode;

use crate::fleet::{FleetRegistry, FleetSummary, NodeState, NodeView, SyncVerdict};

/// The prefix of every metric name.
pub const METRIC_PREFIX: &str = "digione_relay";

/// The content type of [`RelayMetrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the relay's store holds, for the store gauges and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct StoreStats {
    pub documents: u64,
    pub bytes: u64,
}

/// Why the server refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The relay is at its connection limit.
    TooManyConnections,
    /// The TLS handshake failed (unknown CA, expired certificate, wrong ALPN, …).
    HandshakeFailed,
    /// A sync connection came without a client certificate.
    NoCertificate,
    /// The client certificate is revoked.
    Revoked,
    /// A newer connection of the same node replaced this one.
    Superseded,
    /// Closed with the rate-limited code: the relay's enrolments for the minute were spent, or a
    /// per-source enrolment limit closed it (also counted in `enrolments_source_limited_total`).
    RateLimited,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 6] = [
        RefusalReason::TooManyConnections,
        RefusalReason::HandshakeFailed,
        RefusalReason::NoCertificate,
        RefusalReason::Revoked,
        RefusalReason::Superseded,
        RefusalReason::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::TooManyConnections => "too_many_connections",
            RefusalReason::HandshakeFailed => "handshake_failed",
            RefusalReason::NoCertificate => "no_certificate",
            RefusalReason::Revoked => "revoked",
            RefusalReason::Superseded => "superseded",
            RefusalReason::RateLimited => "rate_limited",
        }
    }
}

/// How an enrolment or renewal request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrolmentOutcome {
    /// A first certificate was issued against an enrolment token.
    Issued,
    /// A certificate was renewed for a node that presented its current one.
    Renewed,
    /// The token was unknown, expired or used up.
    TokenRejected,
    /// The request was malformed or asked for an identity it may not have.
    Invalid,
    /// The relay failed to issue (for example it could not write the issued log).
    Failed,
}

impl EnrolmentOutcome {
    pub const ALL: [EnrolmentOutcome; 5] = [
        EnrolmentOutcome::Issued,
        EnrolmentOutcome::Renewed,
        EnrolmentOutcome::TokenRejected,
        EnrolmentOutcome::Invalid,
        EnrolmentOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EnrolmentOutcome::Issued => "issued",
            EnrolmentOutcome::Renewed => "renewed",
            EnrolmentOutcome::TokenRejected => "token_rejected",
            EnrolmentOutcome::Invalid => "invalid",
            EnrolmentOutcome::Failed => "failed",
        }
    }
}

/// Which per-source enrolment limit closed a connection (`sync.max_failed_enrolments_per_source_per_minute`
/// or `sync.max_enrolment_connections_per_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceLimit {
    /// The address had spent its failed attempts for the minute and sent no valid token.
    FailedAttempts,
    /// The address held too many enrolment connections at once: the new connection was refused,
    /// or an older one still waiting for its peer was closed to make room for it.
    Connections,
}

impl SourceLimit {
    pub const ALL: [SourceLimit; 2] = [SourceLimit::FailedAttempts, SourceLimit::Connections];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceLimit::FailedAttempts => "failed_attempts",
            SourceLimit::Connections => "connections",
        }
    }
}

/// Whether the relay sent a protocol error or received it from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorDirection {
    Sent,
    Received,
}

impl ErrorDirection {
    pub const ALL: [ErrorDirection; 2] = [ErrorDirection::Sent, ErrorDirection::Received];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorDirection::Sent => "sent",
            ErrorDirection::Received => "received",
        }
    }
}

/// Every protocol error code, so that each has a series from the start.
const ALL_ERROR_CODES: [ErrorCode; 10] = [
    ErrorCode::UnsupportedVersion,
    ErrorCode::MalformedFrame,
    ErrorCode::ScopeDenied,
    ErrorCode::BadChange,
    ErrorCode::TooLarge,
    ErrorCode::UnexpectedMessage,
    ErrorCode::StoreFailure,
    ErrorCode::Timeout,
    ErrorCode::BlobMismatch,
    ErrorCode::Closing,
];

/// The label value of a protocol error code.
pub fn error_code_label(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UnsupportedVersion => "unsupported_version",
        ErrorCode::MalformedFrame => "malformed_frame",
        ErrorCode::ScopeDenied => "scope_denied",
        ErrorCode::BadChange => "bad_change",
        ErrorCode::TooLarge => "too_large",
        ErrorCode::UnexpectedMessage => "unexpected_message",
        ErrorCode::StoreFailure => "store_failure",
        ErrorCode::Timeout => "timeout",
        ErrorCode::BlobMismatch => "blob_mismatch",
        ErrorCode::Closing => "closing",
    }
}

/// A label value that is one of a fixed set of names; the derive would use the Rust variant name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Name(&'static str);

impl EncodeLabelValue for Name {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimitLabel {
    limit: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProtocolErrorLabels {
    code: Name,
    direction: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabel {
    direction: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QuotaLabel {
    quota: Name,
}

/// Every bound of a scope's quota, for the label values of `quota_refusals_total`.
const QUOTA_KINDS: [QuotaKind; 4] = [
    QuotaKind::Documents,
    QuotaKind::DocumentBytes,
    QuotaKind::BlobBytes,
    QuotaKind::UnfinishedBlobs,
];

/// The label values of `sync_bytes_total`: `in` is from nodes to the relay, `out` the other way.
const SYNC_DIRECTIONS: [&str; 2] = ["in", "out"];

/// The event counters, shared by the server's tasks.
#[derive(Debug)]
struct Counters {
    connections_accepted: Counter,
    connections_refused: Family<ReasonLabel, Counter>,
    enrolments: Family<OutcomeLabel, Counter>,
    enrolments_source_limited: Family<LimitLabel, Counter>,
    protocol_errors: Family<ProtocolErrorLabels, Counter>,
    sync_bytes: Family<DirectionLabel, Counter>,
    fanout_notifications_dropped: Counter,
    documents_routed: Counter,
    peer_stores_not_recognised: Counter,
    quota_refusals: Family<QuotaLabel, Counter>,
    sync_throttled_seconds: Counter<f64, AtomicU64>,
    registry: Registry,
}

/// The relay's metrics: cheap to clone, shared by the server (which counts) and the operations
/// listener (which renders).
#[derive(Debug, Clone)]
pub struct RelayMetrics {
    counters: Arc<Counters>,
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RelayMetrics {
    pub fn new() -> Self {
        let connections_accepted = Counter::default();
        let connections_refused = Family::<ReasonLabel, Counter>::default();
        let enrolments = Family::<OutcomeLabel, Counter>::default();
        let enrolments_source_limited = Family::<LimitLabel, Counter>::default();
        let protocol_errors = Family::<ProtocolErrorLabels, Counter>::default();
        let sync_bytes = Family::<DirectionLabel, Counter>::default();
        let fanout_notifications_dropped = Counter::default();
        let documents_routed = Counter::default();
        let peer_stores_not_recognised = Counter::default();
        let quota_refusals = Family::<QuotaLabel, Counter>::default();
        let sync_throttled_seconds = Counter::<f64, AtomicU64>::default();
        for quota in QUOTA_KINDS {
            drop(quota_refusals.get_or_create(&QuotaLabel {
                quota: Name(quota.as_str()),
            }));
        }

        // Every label value gets its series at zero now: `rate()` and alerts need a series to
        // exist before its first increment.
        for reason in RefusalReason::ALL {
            drop(connections_refused.get_or_create(&ReasonLabel {
                reason: Name(reason.as_str()),
            }));
        }
        for outcome in EnrolmentOutcome::ALL {
            drop(enrolments.get_or_create(&OutcomeLabel {
                outcome: Name(outcome.as_str()),
            }));
        }
        for limit in SourceLimit::ALL {
            drop(enrolments_source_limited.get_or_create(&LimitLabel {
                limit: Name(limit.as_str()),
            }));
        }
        for code in ALL_ERROR_CODES {
            for direction in ErrorDirection::ALL {
                drop(protocol_errors.get_or_create(&ProtocolErrorLabels {
                    code: Name(error_code_label(code)),
                    direction: Name(direction.as_str()),
                }));
            }
        }
        for direction in SYNC_DIRECTIONS {
            drop(sync_bytes.get_or_create(&DirectionLabel {
                direction: Name(direction),
            }));
        }

        let mut registry = Registry::with_prefix(METRIC_PREFIX);
        registry.register(
            "connections_accepted",
            "QUIC connections accepted with a verified certificate",
            connections_accepted.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused or closed by the relay, by reason",
            connections_refused.clone(),
        );
        registry.register(
            "enrolments",
            "Enrolment and renewal requests, by outcome",
            enrolments.clone(),
        );
        registry.register(
            "enrolments_source_limited",
            "Enrolment connections closed by a limit on their source address, by limit: failed_attempts (the address spent its failed attempts for the minute and showed no valid token) or connections (too many enrolment connections from the address at once)",
            enrolments_source_limited.clone(),
        );
        registry.register(
            "protocol_errors",
            "Sync protocol errors sent to or received from peers, by code",
            protocol_errors.clone(),
        );
        registry.register(
            "sync_bytes",
            "Bytes of sync traffic; in is from nodes, out is to nodes",
            sync_bytes.clone(),
        );
        registry.register(
            "fanout_notifications_dropped",
            "Change notifications to other sessions dropped because a session's queue was full",
            fanout_notifications_dropped.clone(),
        );
        registry.register(
            "documents_routed",
            "Document changes the relay stored and offered to the sessions that read their scope",
            documents_routed.clone(),
        );
        registry.register(
            "peer_stores_not_recognised",
            "Sessions in which a node's store was not the one the relay remembered (replaced, restored or new), so every scope was reconciled in full",
            peer_stores_not_recognised.clone(),
        );
        registry.register(
            "quota_refusals",
            "Writes from nodes refused because their scope held what its quota allows, by the bound met (documents, document_bytes, blob_bytes, unfinished_blobs)",
            quota_refusals.clone(),
        );
        registry.register(
            "sync_throttled_seconds",
            "Time sync connections waited because their node had spent its handling budget (quotas.handling_millis_per_sec)",
            sync_throttled_seconds.clone(),
        );
        Self {
            counters: Arc::new(Counters {
                connections_accepted,
                connections_refused,
                enrolments,
                enrolments_source_limited,
                protocol_errors,
                sync_bytes,
                fanout_notifications_dropped,
                documents_routed,
                peer_stores_not_recognised,
                quota_refusals,
                sync_throttled_seconds,
                registry,
            }),
        }
    }

    pub fn connection_accepted(&self) {
        self.counters.connections_accepted.inc();
    }

    pub fn connection_refused(&self, reason: RefusalReason) {
        self.counters
            .connections_refused
            .get_or_create(&ReasonLabel {
                reason: Name(reason.as_str()),
            })
            .inc();
    }

    pub fn enrolment(&self, outcome: EnrolmentOutcome) {
        self.counters
            .enrolments
            .get_or_create(&OutcomeLabel {
                outcome: Name(outcome.as_str()),
            })
            .inc();
    }

    /// An enrolment connection was closed by a per-source limit. The server also counts it in
    /// `connections_refused_total{reason="rate_limited"}`, as every connection it closes with the
    /// rate-limited code.
    pub fn enrolment_source_limited(&self, limit: SourceLimit) {
        self.counters
            .enrolments_source_limited
            .get_or_create(&LimitLabel {
                limit: Name(limit.as_str()),
            })
            .inc();
    }

    pub fn protocol_error(&self, code: ErrorCode, direction: ErrorDirection) {
        self.counters
            .protocol_errors
            .get_or_create(&ProtocolErrorLabels {
                code: Name(error_code_label(code)),
                direction: Name(direction.as_str()),
            })
            .inc();
    }

    /// Adds sync traffic: `bytes_in` received from nodes, `bytes_out` sent to them.
    pub fn sync_bytes(&self, bytes_in: u64, bytes_out: u64) {
        for (direction, bytes) in SYNC_DIRECTIONS.into_iter().zip([bytes_in, bytes_out]) {
            if bytes > 0 {
                self.counters
                    .sync_bytes
                    .get_or_create(&DirectionLabel {
                        direction: Name(direction),
                    })
                    .inc_by(bytes);
            }
        }
    }

    pub fn fanout_notification_dropped(&self) {
        self.counters.fanout_notifications_dropped.inc();
    }

    pub fn documents_routed(&self, count: u64) {
        self.counters.documents_routed.inc_by(count);
    }

    /// A session found that the node's store is not the one the relay remembered.
    pub fn peer_store_not_recognised(&self) {
        self.counters.peer_stores_not_recognised.inc();
    }

    /// A node's write was refused because its scope held what its quota allows.
    pub fn quota_refusal(&self, quota: QuotaKind) {
        self.counters
            .quota_refusals
            .get_or_create(&QuotaLabel {
                quota: Name(quota.as_str()),
            })
            .inc();
    }

    /// A connection waited for its node's handling budget to refill.
    pub fn sync_throttled(&self, waited: Duration) {
        self.counters
            .sync_throttled_seconds
            .inc_by(waited.as_secs_f64());
    }

    /// Seconds connections have waited for their handling budget so far, for tests and tools.
    pub fn sync_throttled_seconds_total(&self) -> f64 {
        self.counters.sync_throttled_seconds.get()
    }

    /// Writes refused so far for meeting one bound of a scope's quota, for tests and tools.
    pub fn quota_refusals_total(&self, quota: QuotaKind) -> u64 {
        self.counters
            .quota_refusals
            .get_or_create(&QuotaLabel {
                quota: Name(quota.as_str()),
            })
            .get()
    }

    /// The whole exposition: the counters, then the fleet and store gauges as of `now_unix`.
    pub fn render(
        &self,
        fleet: &FleetRegistry,
        store: StoreStats,
        now_unix: i64,
    ) -> Result<String, std::fmt::Error> {
        let nodes = fleet.snapshot(now_unix);
        let summary = FleetSummary::of(&nodes);
        let mut scrape = Registry::with_prefix(METRIC_PREFIX);
        scrape.register_collector(Box::new(FleetGauges {
            nodes,
            summary,
            store,
        }));
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, &self.counters.registry)?;
        prometheus_client::encoding::text::encode_registry(&mut text, &scrape)?;
        prometheus_client::encoding::text::encode_eof(&mut text)?;
        Ok(text)
    }
}

/// The gauges of one scrape, from one registry snapshot.
#[derive(Debug)]
struct FleetGauges {
    nodes: Vec<NodeView>,
    summary: FleetSummary,
    store: StoreStats,
}

/// One sample of a per-node family: its labels and value.
type Sample<V> = (Vec<(&'static str, String)>, V);

impl FleetGauges {
    fn node_label(view: &NodeView) -> Vec<(&'static str, String)> {
        vec![("node", view.node_id.to_string())]
    }

    fn node_place_labels(view: &NodeView) -> Vec<(&'static str, String)> {
        vec![
            ("node", view.node_id.to_string()),
            (
                "school",
                view.school
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
            (
                "municipality",
                view.municipality
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            ),
        ]
    }

    /// A per-node family built by `sample`, which skips nodes without a value.
    fn per_node<V>(&self, sample: impl Fn(&NodeView) -> Option<Sample<V>>) -> Vec<Sample<V>> {
        self.nodes.iter().filter_map(sample).collect()
    }
}

fn encode_gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

fn encode_gauge_family<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: Vec<Sample<V>>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn encode_counter_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: Vec<Sample<u64>>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for FleetGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let encoder = &mut encoder;
        encode_gauge(
            encoder,
            "nodes_connected",
            "Nodes with an open sync connection.",
            self.summary.connected,
        )?;
        encode_gauge(
            encoder,
            "nodes_reconciling",
            "Connected nodes whose content is not known to match the relay's: a digest of a scope they send differs or is not compared yet, or something is still to come from them.",
            self.summary.reconciling,
        )?;
        encode_gauge_family(
            encoder,
            "nodes",
            "Nodes by state (online, stale, offline, lost, never_connected, revoked).",
            NodeState::ALL
                .into_iter()
                .map(|state| {
                    (
                        vec![("state", state.as_str().to_owned())],
                        self.summary.states.get(state),
                    )
                })
                .collect(),
        )?;
        encode_gauge(
            encoder,
            "store_documents",
            "Documents in the relay's store.",
            self.store.documents,
        )?;
        encode_gauge(
            encoder,
            "store_bytes",
            "Bytes of the relay's store on disk.",
            self.store.bytes,
        )?;
        encode_gauge_family(
            encoder,
            "node_last_seen_timestamp_seconds",
            "When the relay last heard from the node.",
            self.per_node(|view| {
                view.last_seen_unix
                    .map(|seen| (Self::node_place_labels(view), seen))
            }),
        )?;
        encode_gauge_family(
            encoder,
            "node_connected",
            "1 while the node has an open sync connection.",
            self.per_node(|view| Some((Self::node_place_labels(view), i64::from(view.connected)))),
        )?;
        encode_gauge_family(
            encoder,
            "node_certificate_expiry_timestamp_seconds",
            "When the node's current certificate expires.",
            self.per_node(|view| Some((Self::node_label(view), view.certificate_expires_unix))),
        )?;
        encode_gauge_family(
            encoder,
            "node_rtt_seconds",
            "The latest round-trip time to the node.",
            self.per_node(|view| {
                view.rtt_millis
                    .map(|rtt| (Self::node_label(view), rtt as f64 / 1000.0))
            }),
        )?;
        encode_gauge_family(
            encoder,
            "node_waiting_documents",
            "Documents waiting to be sent, to_node by the relay and from_node by the node.",
            self.waiting(|waiting| waiting.docs),
        )?;
        encode_gauge_family(
            encoder,
            "node_waiting_bytes",
            "Bytes waiting to be sent, to_node by the relay and from_node by the node.",
            self.waiting(|waiting| waiting.bytes),
        )?;
        encode_gauge_family(
            encoder,
            "node_reconciling",
            "1 while the connected node is reconciling with the relay, 0 while it is sending or in sync; no series while it is not connected.",
            self.per_node(|view| {
                view.sync.map(|sync| {
                    (
                        Self::node_label(view),
                        i64::from(sync == SyncVerdict::Reconciling),
                    )
                })
            }),
        )?;
        encode_gauge_family(
            encoder,
            "node_reconcile_documents_to_receive",
            "Documents the relay still expects from the node while it is reconciling.",
            self.per_node(|view| {
                view.reconciling
                    .as_ref()
                    .map(|reconciling| (Self::node_label(view), reconciling.documents_to_receive))
            }),
        )?;
        encode_gauge_family(
            encoder,
            "node_reconcile_bytes_to_receive",
            "Bytes the relay still expects from the node while it is reconciling.",
            self.per_node(|view| {
                view.reconciling
                    .as_ref()
                    .map(|reconciling| (Self::node_label(view), reconciling.bytes_to_receive))
            }),
        )?;
        encode_gauge_family(
            encoder,
            "node_last_complete_sync_timestamp_seconds",
            "When the relay last saw the node fully in sync.",
            self.per_node(|view| {
                view.last_complete_sync_unix
                    .map(|synced| (Self::node_label(view), synced))
            }),
        )?;
        encode_gauge_family(
            encoder,
            "node_store_bytes",
            "The node's store size, as its latest heartbeat reported.",
            self.per_node(|view| {
                view.health
                    .map(|health| (Self::node_label(view), health.store_bytes))
            }),
        )?;
        encode_gauge_family(
            encoder,
            "node_disk_free_bytes",
            "Free disk space on the node, as its latest heartbeat reported.",
            self.per_node(|view| {
                view.health
                    .map(|health| (Self::node_label(view), health.disk_free_bytes))
            }),
        )?;
        encode_counter_family(
            encoder,
            "node_errors",
            "Sync errors with the node since it was first known.",
            self.per_node(|view| Some((Self::node_label(view), view.errors_total))),
        )?;
        encode_counter_family(
            encoder,
            "node_sync_bytes",
            "Sync bytes exchanged with the node since it was first known; in is from the node.",
            self.nodes
                .iter()
                .flat_map(|view| {
                    [("in", view.bytes_in_total), ("out", view.bytes_out_total)].map(
                        |(direction, bytes)| {
                            (
                                vec![
                                    ("node", view.node_id.to_string()),
                                    ("direction", direction.to_owned()),
                                ],
                                bytes,
                            )
                        },
                    )
                })
                .collect(),
        )?;
        Ok(())
    }
}

impl FleetGauges {
    /// One series per node and direction that the registry knows something about.
    fn waiting(&self, field: impl Fn(&crate::fleet::Waiting) -> u64) -> Vec<Sample<u64>> {
        let mut samples = Vec::new();
        for view in &self.nodes {
            for (direction, waiting) in [
                ("to_node", view.waiting_to_node),
                ("from_node", view.waiting_from_node),
            ] {
                if let Some(waiting) = waiting {
                    samples.push((
                        vec![
                            ("node", view.node_id.to_string()),
                            ("direction", direction.to_owned()),
                        ],
                        field(&waiting),
                    ));
                }
            }
        }
        samples
    }
}
