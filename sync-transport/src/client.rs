//! The node's side: enrol with a token, then keep a sync link to the relay for as long as it runs.
//!
//! The client never stands between the node and its users: it runs beside the node's services, and
//! when the relay is unreachable it only waits (jittered exponential backoff) and tries again. Local
//! changes made meanwhile are found by the relay's sync request on the next connection, so notices
//! that arrive while offline are discarded rather than queued without bound.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quinn::VarInt;
use rand::Rng;
use sync_protocol::ids::NodeId;
use sync_protocol::session::{Event, ReconcileProgress, SessionConfig};
use sync_protocol::wire::{NodeHealth, SyncStatus};
use sync_store::SledStore;
use tokio::sync::{mpsc, watch};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::control::{self, ControlRequest, ControlResponse, EnrolmentToken, RefusalCode};
use crate::identity::CertificateFacts;
use crate::link::{self, LinkConfig, LinkInputs, LinkOutput, LocalNotice};
use crate::quic::{self, QuicTuning};
use crate::tls::{self, NodeCredentials};

/// How long one connection attempt may take to complete its QUIC and TLS handshake. Without it an
/// attempt whose handshake stalls (the relay restarted mid-handshake and drops the packets of a
/// connection it no longer knows, or they are lost) waits the whole idle timeout, 60 s by default,
/// before the next attempt. Fifteen seconds leave a handshake on a slow, lossy school uplink room
/// for several retransmissions.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot resolve the relay address {address:?}: {reason}")]
    Resolve { address: String, reason: String },
    #[error("cannot reach the relay at {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("the relay refused the request ({code:?}): {message}")]
    Refused { code: RefusalCode, message: String },
    #[error("the relay's answer was not usable: {0}")]
    BadAnswer(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Control(#[from] control::ControlError),
}

/// Splits `host:port` and picks the TLS server name: the host part unless one is configured.
pub async fn resolve_relay(
    address: &str,
    server_name: Option<&str>,
) -> Result<(SocketAddr, String), ClientError> {
    let failed = |reason: String| ClientError::Resolve {
        address: address.to_owned(),
        reason,
    };
    let socket_address = tokio::net::lookup_host(address)
        .await
        .map_err(|error| failed(error.to_string()))?
        .next()
        .ok_or_else(|| failed("no addresses".into()))?;
    let host = address
        .rsplit_once(':')
        .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or(address);
    Ok((socket_address, server_name.unwrap_or(host).to_owned()))
}

fn client_endpoint(relay: SocketAddr, tuning: &QuicTuning) -> Result<quinn::Endpoint, ClientError> {
    let local: SocketAddr = if relay.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    quic::endpoint(local, None, tuning).map_err(|error| ClientError::Connect {
        address: relay.to_string(),
        reason: error.to_string(),
    })
}

async fn connect(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    relay: SocketAddr,
    server_name: &str,
) -> Result<quinn::Connection, ClientError> {
    let failed = |reason: String| ClientError::Connect {
        address: relay.to_string(),
        reason,
    };
    let connecting = endpoint
        .connect_with(config, relay, server_name)
        .map_err(|error| failed(error.to_string()))?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
        Ok(connected) => connected.map_err(|error| failed(error.to_string())),
        Err(_) => {
            // Closing the endpoint abandons the half-open connection now instead of at its idle
            // timeout, so its socket does not linger beside the next attempt's.
            endpoint.close(VarInt::from_u32(0), b"handshake timed out");
            Err(failed(format!(
                "no handshake within {} s (the relay is down, restarting or unreachable)",
                HANDSHAKE_TIMEOUT.as_secs()
            )))
        }
    }
}

/// One request and its answer on a fresh control stream.
async fn control_exchange(
    connection: &quinn::Connection,
    request: &ControlRequest,
) -> Result<ControlResponse, ClientError> {
    let (mut send, mut recv) =
        connection
            .open_bi()
            .await
            .map_err(|error| ClientError::Connect {
                address: connection.remote_address().to_string(),
                reason: error.to_string(),
            })?;
    control::write(&mut send, request).await?;
    Ok(control::read(&mut recv).await?)
}

/// Checks an issued certificate and stores it with its key: it must be for our key, and the CA must
/// be the one we trusted (pinned by the token, or already held).
fn accept_certificate(
    response: ControlResponse,
    key_pem: String,
    expected_ca_sha256: [u8; 32],
    identity_dir: &Path,
) -> Result<CertificateFacts, ClientError> {
    let (certificate_der, ca_der) = match response {
        ControlResponse::Certificate {
            certificate_der,
            ca_der,
        } => (certificate_der, ca_der),
        ControlResponse::Refused { code, message } => {
            return Err(ClientError::Refused { code, message });
        }
    };
    if tls::certificate_sha256(&ca_der) != expected_ca_sha256 {
        return Err(ClientError::BadAnswer(
            "the CA certificate is not the one this node trusts".into(),
        ));
    }
    let key = rcgen::KeyPair::from_pem(&key_pem)
        .map_err(|error| ClientError::BadAnswer(error.to_string()))?;
    let (_, certificate) = X509Certificate::from_der(&certificate_der)
        .map_err(|error| ClientError::BadAnswer(error.to_string()))?;
    if certificate.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key) {
        return Err(ClientError::BadAnswer(
            "the certificate is not for this node's key".into(),
        ));
    }
    let credentials = NodeCredentials {
        certificate_der,
        key_pem,
        ca_der,
    };
    let facts = credentials
        .facts()
        .map_err(|error| ClientError::BadAnswer(error.to_string()))?;
    credentials.save(identity_dir)?;
    Ok(facts)
}

/// Enrols this node: a new key, the token, and the issued certificate saved in `identity_dir`.
pub async fn enrol(
    relay_address: &str,
    server_name: Option<&str>,
    token: &EnrolmentToken,
    identity_dir: &Path,
    tuning: &QuicTuning,
) -> Result<CertificateFacts, ClientError> {
    let (relay, server_name) = resolve_relay(relay_address, server_name).await?;
    let endpoint = client_endpoint(relay, tuning)?;
    let config = tls::enrolment_client_config(token.ca_sha256, tuning)?;
    let connection = connect(&endpoint, config, relay, &server_name).await?;
    let (key_pem, csr_der) = tls::new_key_and_request()?;
    let response = control_exchange(
        &connection,
        &ControlRequest::Enrol {
            token: token.clone(),
            csr_der,
        },
    )
    .await;
    connection.close(
        quinn::VarInt::from_u32(quic::close_code::NORMAL),
        b"enrolled",
    );
    endpoint.wait_idle().await;
    accept_certificate(response?, key_pem, token.ca_sha256, identity_dir)
}

/// Renews this node's certificate over an established sync connection: a new key, the same identity.
pub async fn renew(
    connection: &quinn::Connection,
    identity_dir: &Path,
) -> Result<CertificateFacts, ClientError> {
    let current = NodeCredentials::load(identity_dir)?;
    let (key_pem, csr_der) = tls::new_key_and_request()?;
    let response = control_exchange(connection, &ControlRequest::Renew { csr_der }).await?;
    accept_certificate(
        response,
        key_pem,
        tls::certificate_sha256(&current.ca_der),
        identity_dir,
    )
}

/// How the node's sync client behaves.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `host:port` of the relay's QUIC endpoint.
    pub relay_address: String,
    /// The relay's name in its certificate, when it differs from the host in `relay_address`.
    pub server_name: Option<String>,
    /// Where the node's key, certificate and the fleet CA live.
    pub identity_dir: PathBuf,
    pub tuning: QuicTuning,
    pub heartbeat_interval: Duration,
    pub send_rate_limit_bytes_per_sec: u64,
    pub write_stall_timeout: Duration,
    /// The first wait after a failed or lost connection; doubled per failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Renew the certificate once less than this fraction of its lifetime remains.
    pub renew_at_remaining_fraction: f64,
}

impl ClientSettings {
    pub fn new(relay_address: impl Into<String>, identity_dir: impl Into<PathBuf>) -> Self {
        Self {
            relay_address: relay_address.into(),
            server_name: None,
            identity_dir: identity_dir.into(),
            tuning: QuicTuning::default(),
            heartbeat_interval: Duration::from_secs(15),
            send_rate_limit_bytes_per_sec: 0,
            write_stall_timeout: Duration::from_secs(60),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            renew_at_remaining_fraction: 1.0 / 3.0,
        }
    }
}

/// What the node shows about its link to the relay (`GET /api/v1/sync/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientStatus {
    pub connected: bool,
    /// Since when the node has had no link to the relay (Unix seconds); `None` while connected.
    pub offline_since_unix: Option<i64>,
    /// When the link was last in sync in the sense of [`link::LinkActivity::in_sync`] (Unix
    /// seconds): never while a digest differs, however idle the session is.
    pub last_complete_sync_unix: Option<i64>,
    /// Whether the link is in sync right now ([`link::LinkActivity::in_sync`]); false while offline.
    pub in_sync: bool,
    /// How far the node is from holding what the relay holds, as of the last link activity of the
    /// current connection; `None` while offline, because only a live session can compare digests.
    #[serde(serialize_with = "serialize_reconcile_progress")]
    pub reconcile: Option<ReconcileProgress>,
    /// What the node still has to send the relay, as of the last link activity.
    pub waiting_to_relay: SyncStatus,
    /// What the relay reported it still has to send the node.
    pub waiting_from_relay: Option<SyncStatus>,
    pub rtt_millis: Option<u64>,
    pub last_error: Option<String>,
    /// When the next connection attempt is due (Unix seconds), while offline.
    pub next_attempt_unix: Option<i64>,
    pub certificate_expires_unix: Option<i64>,
    pub bytes_sent_total: u64,
    pub bytes_received_total: u64,
}

impl ClientStatus {
    /// Takes in one activity report of the current connection; `bytes_sent_before` and
    /// `bytes_received_before` are the totals of the connections before it.
    pub fn record_activity(
        &mut self,
        activity: &link::LinkActivity,
        bytes_sent_before: u64,
        bytes_received_before: u64,
        now_unix: i64,
    ) {
        self.waiting_to_relay = activity.to_peer;
        self.waiting_from_relay = activity.from_peer;
        self.rtt_millis = activity.rtt_millis;
        self.bytes_sent_total = bytes_sent_before + activity.bytes_sent;
        self.bytes_received_total = bytes_received_before + activity.bytes_received;
        self.in_sync = activity.in_sync;
        self.reconcile = Some(activity.reconcile.clone());
        // The session's own in-sync event can come while a digest still differs (a store rebuilt
        // under its old identity answers every request with nothing), so the moment of the last
        // complete sync follows the activity's `in_sync`, which includes the digests.
        if activity.in_sync {
            self.last_complete_sync_unix = Some(now_unix);
        }
    }
}

/// Writes a [`ReconcileProgress`] with its scopes as their usual strings (`school:30076`), the way
/// every status document shows scopes; the type itself has no serde form.
fn serialize_reconcile_progress<S: serde::Serializer>(
    progress: &Option<ReconcileProgress>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct as _;
    let Some(progress) = progress else {
        return serializer.serialize_none();
    };
    let scopes: Vec<String> = progress
        .scopes_differing
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut fields = serializer.serialize_struct("ReconcileProgress", 3)?;
    fields.serialize_field("scopes_differing", &scopes)?;
    fields.serialize_field("documents_to_receive", &progress.documents_to_receive)?;
    fields.serialize_field("bytes_to_receive", &progress.bytes_to_receive)?;
    fields.end()
}

fn unix_now() -> i64 {
    (link::now_millis() / 1000) as i64
}

/// What the running client needs from the node.
#[derive(Debug)]
pub struct ClientHandles {
    /// Local changes; the node sends one per committed write.
    pub notices: mpsc::Receiver<LocalNotice>,
    /// The node's health, reported in heartbeats.
    pub health: watch::Receiver<NodeHealth>,
    /// Where the client publishes its status.
    pub status: watch::Sender<ClientStatus>,
    /// Becomes true when the node shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// Keeps a link to the relay until shutdown: connect, sync, and on any failure wait and retry.
/// `observe` sees every link output (documents that arrived, in-sync events).
pub async fn run(
    settings: ClientSettings,
    store: SledStore,
    mut handles: ClientHandles,
    mut observe: impl FnMut(LinkOutput) + Send,
) {
    let mut failures: u32 = 0;
    handles.status.send_modify(|status| {
        status.offline_since_unix.get_or_insert(unix_now());
    });
    while !*handles.shutdown.borrow() {
        let outcome = connect_and_sync(&settings, &store, &mut handles, &mut observe).await;
        let (reached_sync, error) = match outcome {
            Ok(reached_sync) => (reached_sync, None),
            Err(error) => (false, Some(error.to_string())),
        };
        if *handles.shutdown.borrow() {
            break;
        }
        failures = if reached_sync {
            0
        } else {
            failures.saturating_add(1)
        };
        let delay = backoff_delay(&settings, failures);
        if let Some(error) = &error {
            tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "no link to the relay");
        }
        handles.status.send_modify(|status| {
            status.connected = false;
            // Without a session nothing is compared, so nothing may be claimed about it.
            status.in_sync = false;
            status.reconcile = None;
            status.offline_since_unix.get_or_insert(unix_now());
            if error.is_some() {
                status.last_error = error.clone();
            }
            status.next_attempt_unix = Some(unix_now() + delay.as_secs() as i64);
        });
        // Notices that arrived while offline are covered by the relay's next sync request.
        while handles.notices.try_recv().is_ok() {}
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = handles.shutdown.changed() => {}
        }
    }
}

/// Full jitter: a uniformly random wait up to the exponential bound, so that the schools of a
/// municipality that lost the relay together do not all return in the same instant.
pub fn backoff_delay(settings: &ClientSettings, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let bound = settings
        .backoff_initial
        .saturating_mul(1u32 << exponent)
        .min(settings.backoff_max);
    let bound_millis = bound.as_millis().max(1) as u64;
    // At least a tenth of the bound, so a retry storm cannot come from a run of tiny draws.
    let floor = bound_millis / 10;
    Duration::from_millis(rand::rng().random_range(floor..=bound_millis))
}

/// One connection: returns whether it reached a complete sync, so backoff can start over.
async fn connect_and_sync(
    settings: &ClientSettings,
    store: &SledStore,
    handles: &mut ClientHandles,
    observe: &mut (impl FnMut(LinkOutput) + Send),
) -> Result<bool, ClientError> {
    let credentials = NodeCredentials::load(&settings.identity_dir)?;
    let facts = credentials
        .facts()
        .map_err(|error| ClientError::BadAnswer(error.to_string()))?;
    handles.status.send_modify(|status| {
        status.certificate_expires_unix = Some(facts.not_after_unix);
    });
    let (relay, server_name) =
        resolve_relay(&settings.relay_address, settings.server_name.as_deref()).await?;
    let endpoint = client_endpoint(relay, &settings.tuning)?;
    let config = credentials.sync_client_config(&settings.tuning)?;
    let connection = connect(&endpoint, config, relay, &server_name).await?;
    let (send, recv) = connection
        .open_bi()
        .await
        .map_err(|error| ClientError::Connect {
            address: relay.to_string(),
            reason: error.to_string(),
        })?;
    tracing::info!(relay = %relay, node = %facts.identity.node, "connected to the relay");

    let renewal = tokio::spawn(renew_when_due(
        connection.clone(),
        settings.identity_dir.clone(),
        facts.clone(),
        settings.renew_at_remaining_fraction,
    ));
    let grant = facts.identity.scopes();
    let mut session = SessionConfig::new(
        facts.identity.node.clone(),
        NodeId::relay(),
        grant.writable,
        grant.readable,
    );
    session.heartbeat_interval_millis = settings.heartbeat_interval.as_millis() as u64;
    let link_config = LinkConfig {
        session,
        send_rate_limit_bytes_per_sec: settings.send_rate_limit_bytes_per_sec,
        write_stall_timeout: settings.write_stall_timeout,
        max_queued_frames: 16,
        report_health: true,
        // A node trusts its relay: the relay's work for it is not bounded here.
        handling_budget: None,
    };
    let mut shutdown = handles.shutdown.clone();
    let (close_sender, close_on_shutdown) = watch::channel(None);
    let shutdown_forwarder = tokio::spawn(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
        let _ = close_sender.send(Some((
            quic::close_code::NORMAL,
            "node shutting down".into(),
        )));
    });
    let mut reached_sync = false;
    let status = handles.status.clone();
    let (bytes_sent_before, bytes_received_before) = {
        let status = status.borrow();
        (status.bytes_sent_total, status.bytes_received_total)
    };
    let end = link::run_link(
        connection,
        send,
        recv,
        store.clone(),
        link_config,
        LinkInputs {
            notices: &mut handles.notices,
            close: close_on_shutdown,
            health: Some(handles.health.clone()),
        },
        |output| {
            match &output {
                LinkOutput::Activity(activity) => status.send_modify(|status| {
                    status.record_activity(
                        activity,
                        bytes_sent_before,
                        bytes_received_before,
                        unix_now(),
                    )
                }),
                // TLS 1.3 lets a client finish its handshake before the server has judged the
                // client's certificate, so the node counts as connected only once the relay's
                // session has answered.
                LinkOutput::Event(Event::PeerHello { .. }) => status.send_modify(|status| {
                    status.connected = true;
                    status.offline_since_unix = None;
                    status.next_attempt_unix = None;
                    status.last_error = None;
                }),
                // Enough for the backoff to start over: the link worked. The status's last
                // complete sync waits for the digests (above).
                LinkOutput::Event(Event::InSync) => reached_sync = true,
                LinkOutput::Event(Event::PeerStoreNotRecognised { reason }) => tracing::warn!(
                    %reason,
                    "the relay's store is not the one this node remembers (replaced, restored or new); every scope is reconciled in full"
                ),
                LinkOutput::Event(_) => {}
            }
            observe(output);
        },
    )
    .await;
    renewal.abort();
    shutdown_forwarder.abort();
    endpoint.close(quinn::VarInt::from_u32(quic::close_code::NORMAL), b"");
    tracing::info!(code = ?end.code, reason = %end.reason, "link to the relay ended");
    if !reached_sync {
        handles.status.send_modify(|status| {
            status.last_error = Some(explain_link_end(&end.reason));
        });
    }
    Ok(reached_sync)
}

/// Turns a link's end into advice for school IT where there is something to do.
fn explain_link_end(reason: &str) -> String {
    let lowercase = reason.to_lowercase();
    if lowercase.contains("expired") {
        format!(
            "the relay refused this node's certificate because it has expired ({reason}); ask the relay's operators for a re-enrolment token for this node and enrol again with it (the node keeps its data)"
        )
    } else if lowercase.contains("revoked") {
        format!(
            "the relay refused this node's certificate because it has been revoked ({reason}); ask the relay's operators"
        )
    } else if lowercase.contains("certificate") {
        format!("the relay refused this node's certificate ({reason})")
    } else {
        format!("the link to the relay ended: {reason}")
    }
}

/// Sleeps until the certificate is due for renewal, then renews it over `connection`. The new
/// certificate is used from the next connection on; the current one stays up.
async fn renew_when_due(
    connection: quinn::Connection,
    identity_dir: PathBuf,
    facts: CertificateFacts,
    renew_at_remaining_fraction: f64,
) {
    let lifetime = (facts.not_after_unix - facts.not_before_unix).max(0) as f64;
    let renew_at = facts.not_after_unix - (lifetime * renew_at_remaining_fraction) as i64;
    let wait = (renew_at - unix_now()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    match renew(&connection, &identity_dir).await {
        Ok(renewed) => tracing::info!(
            expires_unix = renewed.not_after_unix,
            "renewed the node certificate"
        ),
        Err(error) => {
            tracing::warn!(%error, "certificate renewal failed; retried on the next connection")
        }
    }
}

#[cfg(test)]
mod tests {
    use sync_protocol::ids::Scope;

    use super::*;
    use crate::link::LinkActivity;

    fn school() -> Scope {
        "school:30076".parse().expect("scope")
    }

    /// The activity of a node whose store was rebuilt empty under its old identity: the session has
    /// answered everything and calls itself in sync, but the school's digest still differs.
    fn rebuilt_store_activity() -> LinkActivity {
        LinkActivity {
            reconcile: ReconcileProgress {
                scopes_differing: vec![school()],
                documents_to_receive: 0,
                bytes_to_receive: 0,
            },
            in_sync: false,
            from_peer: Some(SyncStatus::default()),
            ..LinkActivity::default()
        }
    }

    #[test]
    fn the_last_complete_sync_waits_for_equal_digests() {
        let mut status = ClientStatus {
            connected: true,
            last_complete_sync_unix: Some(1_000),
            ..ClientStatus::default()
        };
        status.record_activity(&rebuilt_store_activity(), 0, 0, 2_000);
        assert_eq!(status.last_complete_sync_unix, Some(1_000));
        assert!(!status.in_sync);
        assert_eq!(
            status
                .reconcile
                .as_ref()
                .map(|progress| progress.scopes_differing.clone()),
            Some(vec![school()])
        );

        let in_sync = LinkActivity {
            in_sync: true,
            ..LinkActivity::default()
        };
        status.record_activity(&in_sync, 0, 0, 3_000);
        assert_eq!(status.last_complete_sync_unix, Some(3_000));
        assert!(status.in_sync);
    }
}
