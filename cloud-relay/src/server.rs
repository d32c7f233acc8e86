//! The relay process: the QUIC endpoint (enrolment, renewal, mTLS sync sessions routed by scope) and
//! the operations listener, sharing one store, one fleet registry and one set of metrics.
//!
//! Every connection is one task. A sync connection runs a [`sync_transport::link`] over its first
//! bidirectional stream; documents and blobs a session receives are announced to every other
//! connection whose certificate lets it read their scope (the [`Hub`]). Each bound below is
//! configurable and documented in `relay.example.toml`:
//! - established connections: `sync.max_connections`; handshakes in progress:
//!   `sync.max_pending_handshakes` (beyond either, new connections are refused at once);
//! - streams per connection: `sync.max_streams_per_connection` (enforced by QUIC);
//! - frames queued towards one peer: `sync.max_queued_frames_per_peer`, plus the session's own
//!   queue; fan-out notices queued per connection: [`MAX_QUEUED_NOTICES_PER_CONNECTION`];
//! - enrolments: `sync.max_enrolments_per_minute` for the whole relay, spent only by requests with
//!   a valid token; per source address, `sync.max_failed_enrolments_per_source_per_minute` and
//!   `sync.max_enrolment_connections_per_source` (see [`crate::enrolment_limits`]); a request must
//!   arrive within the handshake timeout; renewals: one per [`RENEWAL_INTERVAL_PER_CONNECTION`] per
//!   connection.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sync_protocol::ids::{NodeId, Scope};
use sync_protocol::session::{Event, ScopeQuota, SessionConfig};
use sync_store::SledStore;
use sync_transport::control::{self, ControlRequest, ControlResponse, EnrolmentToken, RefusalCode};
use sync_transport::identity::{CertificateFacts, FleetIdentity, Role, certificate_facts};
use sync_transport::link::{self, HandlingBudget, LinkConfig, LinkInputs, LinkOutput, LocalNotice};
use sync_transport::quic::{self, QuicTuning, close_code};
use sync_transport::tls::{self, RevocationList};
use sync_transport::{ALPN_ENROL, ALPN_SYNC};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::authority::Authority;
use crate::config::RelayConfig;
use crate::enrolment_limits::{EnrolmentLimitSettings, EnrolmentLimits, FailureVerdict, Source};
use crate::fleet::{self, FleetPolicy, FleetRegistry};
use crate::metrics::{
    EnrolmentOutcome, ErrorDirection, RefusalReason, RelayMetrics, SourceLimit, StoreStats,
};
use crate::ops;

/// Fan-out notices waiting for one connection's session. A connection that falls this far behind
/// loses notices (counted in `digione_relay_fanout_notifications_dropped_total`); the documents still
/// reach it through the next heartbeat's digest comparison.
pub const MAX_QUEUED_NOTICES_PER_CONNECTION: usize = 4096;

/// A connection may renew its certificate at most once per this interval.
pub const RENEWAL_INTERVAL_PER_CONNECTION: Duration = Duration::from_secs(60);

/// How long a peer has to finish its TLS handshake, and then to open its first stream (an enrolling
/// peer: to open it and send its whole request).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the revocation list on disk is read again. A node revoked with `digione-relay revoke`
/// is disconnected within this time.
pub const REVOCATION_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often the fleet registry is written to the store.
const FLEET_PERSIST_INTERVAL: Duration = Duration::from_secs(10);

/// How long shutdown waits for sessions to close before closing the endpoint under them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

/// Revoked node ids, refreshed from the authority's files; consulted inside every handshake.
#[derive(Debug, Default)]
struct RevokedNodes {
    nodes: RwLock<HashSet<NodeId>>,
}

impl RevocationList for RevokedNodes {
    fn is_revoked(&self, node: &NodeId) -> bool {
        self.nodes
            .read()
            .map(|nodes| nodes.contains(node))
            .unwrap_or(true)
    }
}

/// Routes "this document changed" from the session that received it to every other session whose
/// peer may read it.
#[derive(Debug, Default)]
struct Hub {
    subscribers: RwLock<HashMap<Scope, HashMap<u64, mpsc::Sender<LocalNotice>>>>,
}

impl Hub {
    fn subscribe(&self, connection: u64, scopes: &[Scope], sender: mpsc::Sender<LocalNotice>) {
        if let Ok(mut subscribers) = self.subscribers.write() {
            for scope in scopes {
                subscribers
                    .entry(scope.clone())
                    .or_default()
                    .insert(connection, sender.clone());
            }
        }
    }

    fn unsubscribe(&self, connection: u64, scopes: &[Scope]) {
        if let Ok(mut subscribers) = self.subscribers.write() {
            for scope in scopes {
                if let Some(connections) = subscribers.get_mut(scope) {
                    connections.remove(&connection);
                    if connections.is_empty() {
                        subscribers.remove(scope);
                    }
                }
            }
        }
    }

    /// Announces a change to every reader of `scope` but its origin; returns how many notices were
    /// dropped because a reader's queue was full.
    fn publish(&self, origin: u64, scope: &Scope, notice: &LocalNotice) -> u64 {
        let Ok(subscribers) = self.subscribers.read() else {
            return 0;
        };
        let mut dropped = 0;
        if let Some(connections) = subscribers.get(scope) {
            for (connection, sender) in connections {
                if *connection != origin && sender.try_send(notice.clone()).is_err() {
                    dropped += 1;
                }
            }
        }
        dropped
    }
}

/// A live sync connection, as far as other tasks need to reach it.
#[derive(Debug)]
struct LiveConnection {
    id: u64,
    close: watch::Sender<Option<(u32, String)>>,
}

/// Everything the connection tasks share.
#[derive(Debug)]
struct Shared {
    config: RelayConfig,
    store: SledStore,
    authority: Authority,
    registry: FleetRegistry,
    metrics: RelayMetrics,
    hub: Hub,
    revoked: Arc<RevokedNodes>,
    live: Mutex<HashMap<NodeId, LiveConnection>>,
    next_connection_id: AtomicU64,
    enrolment_limits: Arc<EnrolmentLimits>,
}

/// A started relay; dropping it does not stop it, [`RunningRelay::shutdown`] does.
#[derive(Debug)]
pub struct RunningRelay {
    pub sync_address: SocketAddr,
    pub operations_address: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
}

impl RunningRelay {
    /// Closes every session, stops both listeners and makes the store and registry durable.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Ok(live) = self.shared.live.lock() {
            for connection in live.values() {
                let _ = connection
                    .close
                    .send(Some((close_code::NORMAL, "relay shutting down".into())));
            }
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline
            && self
                .shared
                .live
                .lock()
                .map(|live| !live.is_empty())
                .unwrap_or(false)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.endpoint.close(
            quinn::VarInt::from_u32(close_code::NORMAL),
            b"relay shutting down",
        );
        for task in self.tasks {
            task.abort();
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.endpoint.wait_idle()).await;
        if let Err(error) = self.shared.registry.persist() {
            tracing::error!(%error, "could not save the fleet registry at shutdown");
        }
        if let Err(error) = self.shared.store.wait_durable() {
            tracing::error!(%error, "could not flush the store at shutdown");
        }
    }

    /// The relay's store, for tests that look inside it.
    pub fn store(&self) -> &SledStore {
        &self.shared.store
    }

    /// The fleet registry, for tests.
    pub fn registry(&self) -> &FleetRegistry {
        &self.shared.registry
    }

    /// The relay's metrics, for tests that check what the server counted.
    pub fn metrics(&self) -> &RelayMetrics {
        &self.shared.metrics
    }
}

/// Runs the relay until Ctrl-C or SIGTERM.
pub async fn run(config: RelayConfig, authority: Authority) -> Result<(), String> {
    let relay = start(config, authority).await?;
    tracing::info!(
        sync = %relay.sync_address,
        operations = %relay.operations_address,
        "relay serving"
    );
    wait_for_termination().await;
    tracing::info!("shutting down");
    relay.shutdown().await;
    Ok(())
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Opens the store, binds both listeners and starts serving.
pub async fn start(config: RelayConfig, authority: Authority) -> Result<RunningRelay, String> {
    config.validate().map_err(|error| error.to_string())?;
    let operator_token = config
        .operations
        .operator_token()
        .map_err(|error| error.to_string())?;
    let operator_token =
        ops::OperatorToken::new(&operator_token).map_err(|error| error.to_string())?;
    let store_dir = config.store_dir();
    let store = tokio::task::spawn_blocking(move || SledStore::open(&store_dir))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| format!("cannot open the relay store: {error}"))?;
    let fleet_tree = store
        .auxiliary_tree("fleet")
        .map_err(|error| error.to_string())?;
    let registry = FleetRegistry::open(
        fleet_tree,
        FleetPolicy {
            heartbeat_interval_secs: config.sync.heartbeat_interval_secs,
            stale_after_missed_heartbeats: config.operations.stale_after_missed_heartbeats,
            offline_maximum_secs: config.certificates.offline_maximum.as_secs(),
        },
    )
    .map_err(|error| error.to_string())?;
    // Enrolled nodes appear in the fleet view before they ever connect.
    for issued in authority
        .issued_certificates()
        .map_err(|error| error.to_string())?
    {
        registry.record_enrolled(&issued.facts(), issued.issued_unix);
    }
    let revoked = Arc::new(RevokedNodes::default());
    refresh_revocations(&authority, &revoked, &registry, None);

    let tuning = QuicTuning {
        keep_alive: config.keep_alive(),
        idle_timeout: config.idle_timeout(),
        socket_buffer_bytes: config.sync.socket_buffer_bytes,
        max_streams_per_connection: config.sync.max_streams_per_connection,
    };
    let (server_chain, server_key) = authority
        .server_certificate(&config.sync.server_names, SystemTime::now())
        .map_err(|error| error.to_string())?;
    let server_config = tls::relay_server_config(
        authority.ca_certificate_der(),
        server_chain,
        server_key,
        revoked.clone(),
        &tuning,
    )
    .map_err(|error| error.to_string())?;
    let endpoint = quic::endpoint(config.sync.listen, Some(server_config), &tuning)
        .map_err(|error| format!("cannot listen on {}: {error}", config.sync.listen))?;
    let sync_address = endpoint.local_addr().map_err(|error| error.to_string())?;
    let operations_listener = tokio::net::TcpListener::bind(config.operations.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.operations.listen))?;
    let operations_address = operations_listener
        .local_addr()
        .map_err(|error| error.to_string())?;

    let (shutdown_sender, shutdown) = watch::channel(false);
    let shared = Arc::new(Shared {
        store,
        authority,
        registry,
        metrics: RelayMetrics::new(),
        hub: Hub::default(),
        revoked,
        live: Mutex::new(HashMap::new()),
        next_connection_id: AtomicU64::new(1),
        enrolment_limits: Arc::new(EnrolmentLimits::new(
            EnrolmentLimitSettings::from_config(&config.sync),
            Instant::now(),
        )),
        config,
    });

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(accept_loop(endpoint.clone(), shared.clone())));
    tasks.push(tokio::spawn(housekeeping(shared.clone())));
    let ops_state = ops_state(&shared, operator_token);
    let mut ops_shutdown = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let served = ops::serve(operations_listener, ops_state, async move {
            let _ = ops_shutdown.wait_for(|stop| *stop).await;
        })
        .await;
        if let Err(error) = served {
            tracing::error!(%error, "the operations listener failed");
        }
    }));
    Ok(RunningRelay {
        sync_address,
        operations_address,
        shutdown: shutdown_sender,
        tasks,
        shared,
        endpoint,
    })
}

fn ops_state(shared: &Arc<Shared>, operator_token: ops::OperatorToken) -> ops::OpsState {
    let store = shared.store.clone();
    ops::OpsState::new(
        shared.registry.clone(),
        shared.metrics.clone(),
        operator_token,
        Arc::new(move || StoreStats {
            documents: store.document_count(),
            bytes: store.size_on_disk().unwrap_or(0),
        }),
    )
}

/// Revocations, registry persistence: the relay's periodic chores.
async fn housekeeping(shared: Arc<Shared>) {
    let mut revocation_tick = tokio::time::interval(REVOCATION_POLL_INTERVAL);
    let mut persist_tick = tokio::time::interval(FLEET_PERSIST_INTERVAL);
    loop {
        tokio::select! {
            _ = revocation_tick.tick() => {
                let authority = shared.authority.clone();
                let shared_for_refresh = shared.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    refresh_revocations(
                        &authority,
                        &shared_for_refresh.revoked,
                        &shared_for_refresh.registry,
                        Some(&shared_for_refresh.live),
                    );
                })
                .await;
            }
            _ = persist_tick.tick() => {
                let registry = shared.registry.clone();
                let result = tokio::task::spawn_blocking(move || registry.persist()).await;
                if let Ok(Err(error)) = result {
                    tracing::error!(%error, "could not save the fleet registry");
                }
            }
        }
    }
}

/// Reads the revocation list; newly revoked nodes are marked and, when connected, disconnected.
fn refresh_revocations(
    authority: &Authority,
    revoked: &RevokedNodes,
    registry: &FleetRegistry,
    live: Option<&Mutex<HashMap<NodeId, LiveConnection>>>,
) {
    let current = match authority.revoked_nodes() {
        Ok(current) => current,
        Err(error) => {
            tracing::error!(%error, "could not read the revocation list; keeping the last one");
            return;
        }
    };
    let newly_revoked: Vec<NodeId> = match revoked.nodes.read() {
        Ok(known) => current.difference(&known).cloned().collect(),
        Err(_) => return,
    };
    if newly_revoked.is_empty() {
        return;
    }
    if let Ok(mut known) = revoked.nodes.write() {
        *known = current;
    }
    for node in newly_revoked {
        registry.record_revoked(&node, unix_now());
        if let Some(live) = live
            && let Ok(live) = live.lock()
            && let Some(connection) = live.get(&node)
        {
            tracing::warn!(%node, "disconnecting a revoked node");
            let _ = connection
                .close
                .send(Some((close_code::REVOKED, "certificate revoked".into())));
        }
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, shared: Arc<Shared>) {
    let connections = Arc::new(Semaphore::new(shared.config.sync.max_connections));
    let handshakes = Arc::new(Semaphore::new(shared.config.sync.max_pending_handshakes));
    while let Some(incoming) = endpoint.accept().await {
        let Ok(connection_permit) = connections.clone().try_acquire_owned() else {
            shared
                .metrics
                .connection_refused(RefusalReason::TooManyConnections);
            incoming.refuse();
            continue;
        };
        let Ok(handshake_permit) = handshakes.clone().try_acquire_owned() else {
            shared
                .metrics
                .connection_refused(RefusalReason::TooManyConnections);
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let connection = match incoming.accept() {
                Ok(connecting) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
                    Ok(Ok(connection)) => connection,
                    Ok(Err(error)) => {
                        shared
                            .metrics
                            .connection_refused(RefusalReason::HandshakeFailed);
                        tracing::info!(%remote, %error, "handshake refused");
                        return;
                    }
                    Err(_) => {
                        shared
                            .metrics
                            .connection_refused(RefusalReason::HandshakeFailed);
                        tracing::info!(%remote, "handshake timed out");
                        return;
                    }
                },
                Err(error) => {
                    shared
                        .metrics
                        .connection_refused(RefusalReason::HandshakeFailed);
                    tracing::info!(%remote, %error, "connection refused");
                    return;
                }
            };
            drop(handshake_permit);
            shared.metrics.connection_accepted();
            let protocol = connection
                .handshake_data()
                .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                .and_then(|data| data.protocol);
            match protocol.as_deref() {
                Some(ALPN_SYNC) => serve_sync(connection, shared).await,
                Some(ALPN_ENROL) => serve_enrolment(connection, shared).await,
                _ => connection.close(
                    quinn::VarInt::from_u32(close_code::PROTOCOL_ERROR),
                    b"unknown application protocol",
                ),
            }
            drop(connection_permit);
        });
    }
}

/// Serves one enrolment connection: one request, one answer.
///
/// Nothing the peer sends costs the relay more than a file lookup until it has shown a valid token
/// (see [`crate::enrolment_limits`]): the connection is admitted by its source's connection bound,
/// the request must arrive within [`HANDSHAKE_TIMEOUT`], the token is checked, and only then is a
/// unit of the relay-wide issuance budget taken and the token redeemed. Requests without a valid
/// token are charged to their source and answered with their refusal until the source has spent
/// its failed attempts for the minute; after that they are closed as rate limited.
async fn serve_enrolment(connection: quinn::Connection, shared: Arc<Shared>) {
    let remote = connection.remote_address();
    let source = Source::of(remote.ip());
    let Some(slot) = shared.enrolment_limits.admit(source, Instant::now()) else {
        close_source_limited(&shared, &connection, SourceLimit::Connections);
        return;
    };
    // One deadline for the stream and the whole request: a peer that sends its request byte by
    // byte would otherwise hold the connection for as long as its keep-alives keep it open.
    let received = tokio::select! {
        received = tokio::time::timeout(HANDSHAKE_TIMEOUT, receive_request(&connection)) => {
            received.ok().flatten()
        }
        () = slot.evicted() => {
            close_source_limited(&shared, &connection, SourceLimit::Connections);
            return;
        }
    };
    if !slot.set_waiting_for_peer(false) {
        close_source_limited(&shared, &connection, SourceLimit::Connections);
        return;
    }
    let Some((mut send, request)) = received else {
        // A silent peer is a failed attempt of its source; it gets no answer either way.
        let _ = shared
            .enrolment_limits
            .record_failure(source, Instant::now());
        connection.close(
            quinn::VarInt::from_u32(close_code::PROTOCOL_ERROR),
            b"no request",
        );
        return;
    };
    let response = match request {
        Ok(ControlRequest::Enrol { token, csr_der }) => {
            enrol(&connection, &shared, source, token, csr_der).await
        }
        Ok(ControlRequest::Renew { .. }) => refuse_unproven(
            &connection,
            &shared,
            source,
            EnrolmentOutcome::Invalid,
            RefusalCode::NotAllowed,
            "renewal needs a sync connection with the current certificate".into(),
        ),
        Err(error) => refuse_unproven(
            &connection,
            &shared,
            source,
            EnrolmentOutcome::Invalid,
            RefusalCode::BadRequest,
            error.to_string(),
        ),
    };
    let Some(response) = response else {
        return;
    };
    // A refusal may be cut short by a newer connection of the same source: the peer can ask again.
    // A certificate may not: its token is spent, and the node must receive it.
    let replaceable = !matches!(response, ControlResponse::Certificate { .. });
    if replaceable {
        let _ = slot.set_waiting_for_peer(true);
    }
    let answered = async {
        let _ = control::write(&mut send, &response).await;
        // The node closes once it has the answer; a node that does not is closed after the timeout.
        let _ = connection.closed().await;
    };
    tokio::select! {
        _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, answered) => {}
        () = slot.evicted(), if replaceable => {
            close_source_limited(&shared, &connection, SourceLimit::Connections);
            return;
        }
    }
    connection.close(quinn::VarInt::from_u32(close_code::NORMAL), b"");
}

/// The peer's request stream and its request; `None` when the peer opened no stream.
async fn receive_request(
    connection: &quinn::Connection,
) -> Option<(
    quinn::SendStream,
    Result<ControlRequest, control::ControlError>,
)> {
    let (send, mut recv) = connection.accept_bi().await.ok()?;
    let request = control::read::<ControlRequest>(&mut recv).await;
    Some((send, request))
}

/// Redeems an enrolment token once it has shown to be valid. Returns the answer, or `None` when
/// the connection was closed as rate limited instead.
async fn enrol(
    connection: &quinn::Connection,
    shared: &Arc<Shared>,
    source: Source,
    token: EnrolmentToken,
    csr_der: Vec<u8>,
) -> Option<ControlResponse> {
    let remote = connection.remote_address();
    let authority = shared.authority.clone();
    let checked =
        tokio::task::spawn_blocking(move || authority.check_token(&token).map(|()| token)).await;
    let token = match checked {
        Ok(Ok(token)) => token,
        Ok(Err(refusal)) if refusal.code == RefusalCode::Internal => {
            shared.metrics.enrolment(EnrolmentOutcome::Failed);
            return Some(refusal.into_response());
        }
        Ok(Err(refusal)) => {
            return refuse_unproven(
                connection,
                shared,
                source,
                EnrolmentOutcome::TokenRejected,
                refusal.code,
                refusal.message,
            );
        }
        Err(error) => {
            shared.metrics.enrolment(EnrolmentOutcome::Failed);
            return Some(internal_refusal(error));
        }
    };
    let Some(ticket) = shared.enrolment_limits.take_issuance(Instant::now()) else {
        shared
            .metrics
            .connection_refused(RefusalReason::RateLimited);
        tracing::warn!(%remote, "enrolment refused: the relay's enrolments for this minute are spent");
        connection.close(
            quinn::VarInt::from_u32(close_code::RATE_LIMITED),
            b"too many enrolments; try again in a minute",
        );
        return None;
    };
    let authority = shared.authority.clone();
    let redeemed = tokio::task::spawn_blocking(move || {
        authority.redeem_token(&token, &csr_der, SystemTime::now())
    })
    .await;
    match redeemed {
        Ok(Ok(issued)) => {
            shared.metrics.enrolment(EnrolmentOutcome::Issued);
            shared.registry.record_enrolled(&issued.facts, unix_now());
            tracing::info!(%remote, identity = %issued.facts.identity, "enrolled");
            Some(certificate_response(shared, issued.certificate_der))
        }
        Ok(Err(refusal)) => {
            if refusal.code != RefusalCode::Internal {
                // Nothing was signed (a bad signing request, an expired token, a token another
                // request used first), so the budget only ever counts certificates issued.
                shared.enrolment_limits.give_back_issuance(ticket);
                // A failure of its source, but it showed a valid token: answered all the same.
                let _ = shared
                    .enrolment_limits
                    .record_failure(source, Instant::now());
            }
            shared.metrics.enrolment(refusal_outcome(refusal.code));
            tracing::info!(%remote, code = ?refusal.code, message = %refusal.message, "enrolment refused");
            Some(refusal.into_response())
        }
        Err(error) => {
            shared.metrics.enrolment(EnrolmentOutcome::Failed);
            Some(internal_refusal(error))
        }
    }
}

fn refusal_outcome(code: RefusalCode) -> EnrolmentOutcome {
    match code {
        RefusalCode::TokenInvalid | RefusalCode::TokenExpired => EnrolmentOutcome::TokenRejected,
        RefusalCode::Internal => EnrolmentOutcome::Failed,
        _ => EnrolmentOutcome::Invalid,
    }
}

/// Refuses a request that showed no valid token and charges it to its source: answered while the
/// source has failed attempts left for the minute, closed as rate limited after (`None`).
fn refuse_unproven(
    connection: &quinn::Connection,
    shared: &Shared,
    source: Source,
    outcome: EnrolmentOutcome,
    code: RefusalCode,
    message: String,
) -> Option<ControlResponse> {
    let remote = connection.remote_address();
    match shared
        .enrolment_limits
        .record_failure(source, Instant::now())
    {
        FailureVerdict::Answer => {
            shared.metrics.enrolment(outcome);
            tracing::info!(%remote, ?code, %message, "enrolment refused");
            Some(ControlResponse::Refused { code, message })
        }
        verdict => {
            if verdict == FailureVerdict::CutOffNow {
                tracing::warn!(
                    %source,
                    "too many failed enrolment attempts from {source}; its requests without a valid token are closed until its minute is over"
                );
            }
            close_source_limited(shared, connection, SourceLimit::FailedAttempts);
            None
        }
    }
}

/// Closes an enrolment connection that a per-source bound stopped, and counts it.
fn close_source_limited(shared: &Shared, connection: &quinn::Connection, limit: SourceLimit) {
    shared.metrics.enrolment_source_limited(limit);
    shared
        .metrics
        .connection_refused(RefusalReason::RateLimited);
    let reason: &[u8] = match limit {
        SourceLimit::FailedAttempts => {
            b"too many failed enrolments from this address; try again in a minute"
        }
        SourceLimit::Connections => b"too many enrolment connections from this address",
    };
    connection.close(quinn::VarInt::from_u32(close_code::RATE_LIMITED), reason);
}

fn certificate_response(shared: &Shared, certificate_der: Vec<u8>) -> ControlResponse {
    ControlResponse::Certificate {
        certificate_der,
        ca_der: shared.authority.ca_certificate_der().to_vec(),
    }
}

fn internal_refusal(error: impl std::fmt::Display) -> ControlResponse {
    tracing::error!(%error, "control request failed inside the relay");
    ControlResponse::Refused {
        code: RefusalCode::Internal,
        message: "the relay failed; try again later".into(),
    }
}

/// The verified identity of a sync connection, or why it has none.
fn connection_identity(connection: &quinn::Connection) -> Result<CertificateFacts, RefusalReason> {
    let certificates = connection
        .peer_identity()
        .and_then(|identity| {
            identity
                .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .ok_or(RefusalReason::NoCertificate)?;
    let end_entity = certificates.first().ok_or(RefusalReason::NoCertificate)?;
    // rustls verified the chain and the identity names in the handshake; parsing again cannot fail
    // for a certificate that passed, but a failure is still handled as a refusal.
    certificate_facts(end_entity).map_err(|_| RefusalReason::HandshakeFailed)
}

async fn serve_sync(connection: quinn::Connection, shared: Arc<Shared>) {
    let remote = connection.remote_address();
    let facts = match connection_identity(&connection) {
        Ok(facts) => facts,
        Err(reason) => {
            shared.metrics.connection_refused(reason);
            connection.close(
                quinn::VarInt::from_u32(close_code::CERTIFICATE_REQUIRED),
                b"a fleet certificate is required for sync",
            );
            return;
        }
    };
    let node = facts.identity.node.clone();
    if shared.revoked.is_revoked(&node) {
        shared.metrics.connection_refused(RefusalReason::Revoked);
        connection.close(
            quinn::VarInt::from_u32(close_code::REVOKED),
            b"certificate revoked",
        );
        return;
    }
    let connection_id = shared.next_connection_id.fetch_add(1, Ordering::Relaxed);
    let (close_sender, _) = watch::channel(None);
    if let Ok(mut live) = shared.live.lock()
        && let Some(previous) = live.insert(
            node.clone(),
            LiveConnection {
                id: connection_id,
                close: close_sender,
            },
        )
    {
        shared.metrics.connection_refused(RefusalReason::Superseded);
        let _ = previous.close.send(Some((
            close_code::SUPERSEDED,
            "the node connected again".into(),
        )));
    }
    shared.registry.record_connected(&facts, remote, unix_now());
    tracing::info!(%remote, identity = %facts.identity, "sync connection");

    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connection.accept_bi()).await;
    let end = match stream {
        Ok(Ok((send, recv))) => {
            run_sync_session(&connection, send, recv, &facts, connection_id, &shared).await
        }
        _ => {
            connection.close(
                quinn::VarInt::from_u32(close_code::PROTOCOL_ERROR),
                b"no sync stream",
            );
            "no sync stream opened".to_owned()
        }
    };

    if let Ok(mut live) = shared.live.lock()
        && live
            .get(&node)
            .is_some_and(|entry| entry.id == connection_id)
    {
        live.remove(&node);
        shared.registry.record_disconnected(&node, &end, unix_now());
    }
    tracing::info!(%remote, %node, reason = %end, "sync connection ended");
}

async fn run_sync_session(
    connection: &quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    facts: &CertificateFacts,
    connection_id: u64,
    shared: &Arc<Shared>,
) -> String {
    let identity = &facts.identity;
    let grant = identity.scopes();
    let mut session = SessionConfig::new(
        NodeId::relay(),
        identity.node.clone(),
        grant.readable.clone(),
        grant.writable.clone(),
    );
    // Write authority is per document where the grant says so (a school's node in its
    // municipality's scope), so the relay refuses what the certificate does not cover even when the
    // scope is one the peer writes.
    session.receive_name_prefixes = grant.writable_only_named.clone();
    // Operators publish for a whole municipality or the nation; quotas bound what one school's node
    // can make the relay hold.
    let quotas = &shared.config.quotas;
    if identity.role == Role::Node {
        session.receive_quota = Some(ScopeQuota {
            max_documents: quotas.max_documents_per_scope,
            max_document_bytes: quotas.max_document_bytes_per_scope,
            max_blob_bytes: quotas.max_file_bytes_per_scope,
            max_unfinished_blobs: quotas.max_unfinished_files_per_scope,
        });
    }
    session.heartbeat_interval_millis = shared.config.sync.heartbeat_interval_secs * 1000;
    let link_config = LinkConfig {
        session,
        send_rate_limit_bytes_per_sec: shared.config.sync.send_rate_limit_bytes_per_sec,
        write_stall_timeout: shared.config.write_stall_timeout(),
        max_queued_frames: shared.config.sync.max_queued_frames_per_peer,
        report_health: false,
        handling_budget: Some(HandlingBudget {
            millis_per_sec: quotas.handling_millis_per_sec,
            burst_millis: quotas.handling_burst_millis,
        }),
    };
    let (notice_sender, mut notices) = mpsc::channel(MAX_QUEUED_NOTICES_PER_CONNECTION);
    shared
        .hub
        .subscribe(connection_id, &grant.readable, notice_sender);
    let renewals = tokio::spawn(serve_renewals(
        connection.clone(),
        identity.clone(),
        shared.clone(),
    ));
    let mut close = shared
        .live
        .lock()
        .ok()
        .and_then(|live| {
            live.get(&identity.node)
                .map(|entry| entry.close.subscribe())
        })
        .unwrap_or_else(|| watch::channel(None).1);
    // A close requested before the link started (superseded at once) is seen by the link too.
    close.mark_changed();

    let mut reported_in = 0u64;
    let mut reported_out = 0u64;
    let mut reported_throttled_millis = 0u64;
    let node = identity.node.clone();
    let end = link::run_link(
        connection.clone(),
        send,
        recv,
        shared.store.clone(),
        link_config,
        LinkInputs {
            notices: &mut notices,
            close,
            health: None,
        },
        |output| match output {
            LinkOutput::Event(Event::DocumentUpdated { doc, .. }) => {
                shared.metrics.documents_routed(1);
                let dropped = shared.hub.publish(
                    connection_id,
                    doc.scope(),
                    &LocalNotice::Document(doc.clone()),
                );
                for _ in 0..dropped {
                    shared.metrics.fanout_notification_dropped();
                }
            }
            LinkOutput::Event(Event::BlobStored { scope, blob }) => {
                let dropped = shared.hub.publish(
                    connection_id,
                    &scope,
                    &LocalNotice::Blob {
                        scope: scope.clone(),
                        blob,
                    },
                );
                for _ in 0..dropped {
                    shared.metrics.fanout_notification_dropped();
                }
            }
            LinkOutput::Event(Event::PeerHello {
                software_version,
                protocol_version,
                ..
            }) => shared
                .registry
                .record_hello(&node, &software_version, protocol_version),
            LinkOutput::Event(Event::PeerError { code, message, .. }) => {
                shared
                    .metrics
                    .protocol_error(code, ErrorDirection::Received);
                shared.registry.record_error(&node, &message, unix_now());
            }
            LinkOutput::Event(Event::LocalError { message, .. }) => {
                shared.registry.record_error(&node, &message, unix_now());
            }
            LinkOutput::Event(Event::QuotaReached { scope, quota }) => {
                shared.metrics.quota_refusal(quota);
                let message = format!("scope {scope} holds what its quota allows ({})", quota.as_str());
                tracing::warn!(%node, %scope, quota = quota.as_str(), "a write was refused: {message}");
                shared.registry.record_error(&node, &message, unix_now());
            }
            LinkOutput::Event(Event::PeerStoreNotRecognised { reason }) => {
                shared.metrics.peer_store_not_recognised();
                tracing::warn!(
                    %node,
                    %reason,
                    "node {node}'s store is not the one the relay remembers (replaced, restored or new); every scope is reconciled in full"
                );
            }
            LinkOutput::Event(
                Event::InSync
                | Event::ScopeMatched { .. }
                | Event::BlobAcknowledged { .. }
                | Event::Closed { .. },
            ) => {}
            LinkOutput::Activity(activity) => {
                shared.metrics.sync_throttled(Duration::from_millis(
                    activity
                        .throttled_millis
                        .saturating_sub(reported_throttled_millis),
                ));
                reported_throttled_millis = reported_throttled_millis.max(activity.throttled_millis);
                // A superseded connection's last reports would overwrite the figures of the
                // connection that replaced it.
                let current = shared.live.lock().is_ok_and(|live| {
                    live.get(&node)
                        .is_some_and(|entry| entry.id == connection_id)
                });
                if !current {
                    return;
                }
                shared.metrics.sync_bytes(
                    activity.bytes_received.saturating_sub(reported_in),
                    activity.bytes_sent.saturating_sub(reported_out),
                );
                reported_in = reported_in.max(activity.bytes_received);
                reported_out = reported_out.max(activity.bytes_sent);
                shared.registry.record_activity(
                    &node,
                    &fleet::LinkActivity::from(&activity),
                    unix_now(),
                );
            }
        },
    )
    .await;
    renewals.abort();
    shared.hub.unsubscribe(connection_id, &grant.readable);
    if end.code == Some(close_code::PROTOCOL_ERROR) {
        shared
            .registry
            .record_error(&identity.node, &end.reason, unix_now());
    }
    end.reason
}

/// Answers renewal requests on extra streams of a sync connection, at most one per
/// [`RENEWAL_INTERVAL_PER_CONNECTION`].
async fn serve_renewals(
    connection: quinn::Connection,
    identity: FleetIdentity,
    shared: Arc<Shared>,
) {
    let mut last_renewal: Option<Instant> = None;
    while let Ok((mut send, mut recv)) = connection.accept_bi().await {
        let response = match control::read::<ControlRequest>(&mut recv).await {
            Ok(ControlRequest::Renew { csr_der }) => {
                if last_renewal.is_some_and(|at| at.elapsed() < RENEWAL_INTERVAL_PER_CONNECTION) {
                    ControlResponse::Refused {
                        code: RefusalCode::NotAllowed,
                        message: "renewed less than a minute ago".into(),
                    }
                } else {
                    last_renewal = Some(Instant::now());
                    let authority = shared.authority.clone();
                    let identity = identity.clone();
                    let renewed = tokio::task::spawn_blocking(move || {
                        authority.renew(&identity, &csr_der, SystemTime::now())
                    })
                    .await;
                    match renewed {
                        Ok(Ok(issued)) => {
                            shared.metrics.enrolment(EnrolmentOutcome::Renewed);
                            shared.registry.record_enrolled(&issued.facts, unix_now());
                            certificate_response(&shared, issued.certificate_der)
                        }
                        Ok(Err(refusal)) => {
                            shared.metrics.enrolment(EnrolmentOutcome::Invalid);
                            ControlResponse::Refused {
                                code: refusal.code,
                                message: refusal.message,
                            }
                        }
                        Err(error) => internal_refusal(error),
                    }
                }
            }
            Ok(ControlRequest::Enrol { .. }) => ControlResponse::Refused {
                code: RefusalCode::NotAllowed,
                message: "this connection is already enrolled".into(),
            },
            Err(error) => ControlResponse::Refused {
                code: RefusalCode::BadRequest,
                message: error.to_string(),
            },
        };
        let _ = control::write(&mut send, &response).await;
    }
}
