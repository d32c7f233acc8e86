//! The relay's configuration: built-in defaults, overlaid by a TOML file, overlaid by environment
//! variables.
//!
//! Every field has a default that suits a national deployment, and every bound is checked by
//! [`RelayConfig::validate`] before anything starts, so a typo fails at start-up with a message that
//! names the key rather than as odd behaviour hours later. `relay.example.toml` beside this crate
//! documents every key; a unit test keeps it equal to the defaults.
//!
//! Environment variables are named `DIGIONE_RELAY_` followed by the key path in capitals, with `__`
//! between a section and its key: `DIGIONE_RELAY_DATA_DIR`, `DIGIONE_RELAY_SYNC__LISTEN`,
//! `DIGIONE_RELAY_SYNC__SERVER_NAMES='["relay.example.fi"]'`. Values are parsed as TOML-like values
//! by figment (numbers, booleans, arrays in brackets, anything else a string).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use sync_protocol::session::MAX_HEARTBEAT_INTERVAL_MILLIS;
use sync_protocol::wire::MAX_FRAME_PAYLOAD_BYTES;

/// Every environment variable that configures the relay starts with this.
pub const ENVIRONMENT_PREFIX: &str = "DIGIONE_RELAY_";

/// Separates a section from its key in an environment variable name (`SYNC__LISTEN`). A single
/// underscore cannot serve, because keys themselves contain underscores.
pub const ENVIRONMENT_NESTING_SEPARATOR: &str = "__";

/// The shortest operator token accepted. The token guards the operations listener (fleet view,
/// metrics); sixteen characters of a random token are beyond guessing over HTTP.
pub const MIN_OPERATOR_TOKEN_CHARS: usize = 16;

/// The longest heartbeat interval, in seconds: the protocol's own bound
/// ([`MAX_HEARTBEAT_INTERVAL_MILLIS`]), because the fleet view judges a node stale by missed
/// heartbeats and a longer interval would hide a dead link for too long.
pub const MAX_HEARTBEAT_INTERVAL_SECS: u64 = MAX_HEARTBEAT_INTERVAL_MILLIS / 1000;

/// How many heartbeat intervals the QUIC idle timeout must span at least, so that a connection is
/// never dropped as idle while heartbeats are merely late.
pub const MIN_HEARTBEATS_PER_IDLE_TIMEOUT: u64 = 3;

/// How many keep-alives the QUIC idle timeout must span at least, so that one lost keep-alive
/// packet never ends a healthy connection.
pub const MIN_KEEP_ALIVES_PER_IDLE_TIMEOUT: u64 = 2;

/// The longest idle or write-stall timeout accepted, in seconds. Larger values are almost certainly
/// milliseconds given by mistake, and would keep the resources of dead peers for hours.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

/// The smallest socket buffer accepted: below this the kernel's own default is better.
pub const MIN_SOCKET_BUFFER_BYTES: usize = 64 * 1024;

/// The largest socket buffer accepted: more only hides queueing, and the kernel caps it anyway.
pub const MAX_SOCKET_BUFFER_BYTES: usize = 64 * 1024 * 1024;

/// The lowest per-connection send cap accepted (when a cap is set at all). At this rate one frame of
/// the largest size ([`MAX_FRAME_PAYLOAD_BYTES`], 1 MiB) takes 16 seconds, which still fits well
/// inside heartbeat and stall timeouts; anything slower would starve the session itself.
pub const MIN_SEND_RATE_LIMIT_BYTES_PER_SEC: u64 = 64 * 1024;

/// The fewest bidirectional streams a connection may open: the sync stream and one renewal stream.
pub const MIN_STREAMS_PER_CONNECTION: u32 = 2;

/// The fewest missed heartbeats that mark a node stale: one late heartbeat is normal jitter, not a
/// fault worth a dashboard colour.
pub const MIN_STALE_AFTER_MISSED_HEARTBEATS: u32 = 2;

/// The longest node certificate lifetime, in days. Revocation is by node id and polled, so the
/// lifetime is the backstop for a key that leaked without anyone noticing; a year is the most that
/// backstop should allow.
pub const MAX_NODE_LIFETIME_DAYS: u32 = 365;

/// The shortest enrolment token lifetime: enough to copy a token from one terminal to another.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The longest enrolment token lifetime (30 days). A token is a bearer secret that enrols a node
/// into a school; one that lingers unused for longer is more likely lost than still needed.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The shortest "lost" threshold (10 seconds). Thresholds under a day are for drills and tests of
/// the stale-node policy; a real fleet uses weeks (the default is 60 days).
pub const MIN_OFFLINE_MAXIMUM: Duration = Duration::from_secs(10);

/// The longest "lost" threshold (ten years); it only has to be finite.
pub const MAX_OFFLINE_MAXIMUM: Duration = Duration::from_secs(3650 * 24 * 3600);

/// What went wrong loading or checking the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "the configuration file {} does not exist; give the path of an existing file with --config, or leave --config out to use the defaults",
        path.display()
    )]
    MissingFile { path: PathBuf },
    #[error("cannot load the configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("invalid configuration: `{key}` {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error(
        "cannot read the operator token file {}: {source}; check the path in `operations.operator_token_file`",
        path.display()
    )]
    OperatorTokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    OperatorToken(String),
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        ConfigError::Load(Box::new(error))
    }
}

/// The whole configuration of one relay process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Where the relay keeps everything it owns (default `digione-relay-data`): the replica store in
    /// `store/` and the fleet certificate authority in `authority/`. Relative paths are relative to
    /// the working directory of the process.
    pub data_dir: PathBuf,
    /// The QUIC listener that nodes connect to.
    pub sync: SyncConfig,
    /// The operations HTTP listener: fleet view, metrics, dashboard.
    pub operations: OperationsConfig,
    /// Lifetimes of what the fleet certificate authority issues.
    pub certificates: CertificateConfig,
    /// What one node may make the relay hold and do: per scope, and per connection.
    pub quotas: QuotaConfig,
}

/// Bounds on what one enrolled node can make the relay hold or spend, so that whoever controls one
/// school's node (root on it holds its real certificate) cannot fill the disk or take the CPU that
/// every other school shares. A write past a scope's quota is refused with an error that names the
/// scope and the bound, counted in `digione_relay_quota_refusals_total{quota}`, and logged; what
/// the scope held before stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Documents one scope may hold (default 100000; a school of 1,000 pupils holds about 430).
    pub max_documents_per_scope: u64,
    /// Bytes one scope's documents may take in the relay's store (default 8 GiB).
    pub max_document_bytes_per_scope: u64,
    /// Bytes of files one scope may hold (default 256 GiB). A file shared by two scopes counts in
    /// each.
    pub max_file_bytes_per_scope: u64,
    /// Uploads of files into one scope under way at once (default 256, at least 4; the relay fetches
    /// at most 4 at a time from one node, the rest are interrupted uploads waiting to resume).
    pub max_unfinished_files_per_scope: u64,
    /// Milliseconds per second of the relay's time that one node's connection may take, on
    /// average, for handling what it sends and answering what it asks (default 250: a quarter of a
    /// core; at least 10). While a node's budget is spent, the relay reads nothing more from it
    /// until the budget refills; the time waited is counted in
    /// `digione_relay_sync_throttled_seconds_total`.
    pub handling_millis_per_sec: u64,
    /// Milliseconds of handling a connection may take at once after a quiet spell (default 5000,
    /// at least `handling_millis_per_sec`): room for a rebuilt node's catch-up.
    pub handling_burst_millis: u64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            max_documents_per_scope: 100_000,
            max_document_bytes_per_scope: 8 * 1024 * 1024 * 1024,
            max_file_bytes_per_scope: 256 * 1024 * 1024 * 1024,
            max_unfinished_files_per_scope: 256,
            handling_millis_per_sec: 250,
            handling_burst_millis: 5_000,
        }
    }
}

impl QuotaConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        at_least(
            "quotas.max_documents_per_scope",
            self.max_documents_per_scope,
            1,
        )?;
        at_least(
            "quotas.max_document_bytes_per_scope",
            self.max_document_bytes_per_scope,
            1024 * 1024,
        )?;
        at_least(
            "quotas.max_file_bytes_per_scope",
            self.max_file_bytes_per_scope,
            0,
        )?;
        at_least(
            "quotas.max_unfinished_files_per_scope",
            self.max_unfinished_files_per_scope,
            4,
        )?;
        within(
            "quotas.handling_millis_per_sec",
            self.handling_millis_per_sec,
            10,
            1000,
        )?;
        within(
            "quotas.handling_burst_millis",
            self.handling_burst_millis,
            self.handling_millis_per_sec,
            600_000,
        )
    }
}

/// The QUIC listener and the bounds that protect it from too many or too slow peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// The UDP address to listen on (default `0.0.0.0:4433`).
    pub listen: SocketAddr,
    /// The DNS names (or IP addresses) written into the relay's server certificate; nodes connect to
    /// one of these (default `["localhost"]`). At least one is required.
    pub server_names: Vec<String>,
    /// The most established connections at once (default 20000: every school of the country, with
    /// room for reconnect overlap). Beyond it, new connections are refused, not queued.
    pub max_connections: usize,
    /// The most TLS handshakes in progress at once (default 512). Handshakes cost CPU before a peer
    /// has proven anything, so this bounds what a flood of connection attempts can take.
    pub max_pending_handshakes: usize,
    /// The most bidirectional streams a peer may open on one connection (default 4, at least 2: the
    /// sync stream and a renewal stream).
    pub max_streams_per_connection: u32,
    /// Frames buffered towards one peer beyond the session's own outbound queue (default 16). A
    /// peer whose buffer is full is not read from until it drains, so one slow school cannot make
    /// the relay hold unbounded memory on its behalf.
    pub max_queued_frames_per_peer: usize,
    /// The most enrolments (token redemptions) accepted per minute across the relay (default 600).
    /// Each one signs a certificate and touches disk. Only requests whose token checks out (an
    /// unused token with the right secret) count, and refusals that issued nothing are given back,
    /// so peers without a token cannot use it up.
    pub max_enrolments_per_minute: u32,
    /// The most failed enrolment attempts one address may make per minute (default 30): unknown
    /// tokens, wrong secrets, malformed or missing requests. Beyond it, that address's requests
    /// without a valid token are closed with "rate limited" instead of answered until its minute is
    /// over; a valid token from the same address is still served, so schools that share an address
    /// (a municipality's NAT) cannot lock each other out. IPv6 addresses count per /64.
    pub max_failed_enrolments_per_source_per_minute: u32,
    /// The most enrolment connections one address may hold open at once (default 32). A new one
    /// beyond it replaces the address's oldest connection that is still waiting for its peer (to
    /// send its request, or to take its refusal), or is refused when there is none; so a peer that
    /// connects and sends nothing cannot hold connections from everyone behind its address.
    pub max_enrolment_connections_per_source: u32,
    /// Seconds between heartbeats on a sync session (default 15, 1 to 30). The protocol's bound is
    /// 30 seconds, because staleness is judged by missed heartbeats.
    pub heartbeat_interval_secs: u64,
    /// Seconds between QUIC keep-alive packets (default 10). At least two must fit into the idle
    /// timeout, so that one lost packet does not end a connection; they also keep NAT bindings of
    /// school firewalls open.
    pub keep_alive_secs: u64,
    /// Seconds without any packet after which QUIC drops a connection (default 60). It must span at
    /// least three heartbeat intervals and two keep-alive intervals, and at most 3600 seconds.
    pub idle_timeout_secs: u64,
    /// The UDP socket's send and receive buffer size in bytes (default 4 MiB, 64 KiB to 64 MiB). A
    /// relay serving thousands of peers on one socket needs more than the kernel's default to absorb
    /// bursts without dropping datagrams.
    pub socket_buffer_bytes: usize,
    /// A cap on bytes per second sent on one connection (default 0, meaning no cap; otherwise at
    /// least 64 KiB/s). For deployments where schools sit behind thin uplinks that a full resync
    /// would otherwise saturate.
    pub send_rate_limit_bytes_per_sec: u64,
    /// Seconds a peer may read nothing while the relay has data for it before it is disconnected
    /// (default 60; at least two heartbeat intervals, at most 3600). Without it, a stuck peer would
    /// pin its queued frames forever.
    pub write_stall_timeout_secs: u64,
}

/// The operations HTTP listener.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationsConfig {
    /// The TCP address of the operations listener (default `127.0.0.1:8480`: only the host itself,
    /// because it shows the whole fleet; put a reverse proxy in front to reach it from elsewhere).
    pub listen: SocketAddr,
    /// The bearer token operators present. Prefer `operator_token_file`, which keeps the secret out
    /// of the configuration and the environment. Exactly one of the two must be set to serve.
    pub operator_token: Option<String>,
    /// A file whose content (surrounding whitespace removed) is the operator token, for example a
    /// container secret.
    pub operator_token_file: Option<PathBuf>,
    /// How many heartbeats in a row a connected node may miss before the fleet view calls it stale
    /// (default 3, at least 2).
    pub stale_after_missed_heartbeats: u32,
}

/// Lifetimes of what the fleet certificate authority issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CertificateConfig {
    /// Days a node (or operator, or relay server) certificate is valid (default 30, at most 365).
    /// Short lifetimes limit what a stolen key is worth; nodes renew on their own.
    pub node_lifetime_days: u32,
    /// Nodes renew their certificate when it has fewer than this many days left (default 10, less
    /// than the lifetime). It leaves a node that is offline for a while time to catch up before its
    /// certificate expires and it has to re-enrol with a new token.
    pub renew_before_days: u32,
    /// How long an enrolment token stays valid, as a humantime duration such as `24h` or `3days`
    /// (default 24h, from 1 minute to 30 days). `digione-relay enrol --valid-for` overrides it.
    #[serde(with = "humantime_duration")]
    pub token_lifetime: Duration,
    /// The stale-node policy: a node not seen for this long is reported as "lost" in the fleet view,
    /// as a humantime duration (default `60days`, from 10 seconds to ten years, and longer than the
    /// stale window of `operations.stale_after_missed_heartbeats` heartbeats). Its data stays on the
    /// relay; a lost node that still has a valid certificate may reconnect, and one whose
    /// certificate has expired must re-enrol.
    #[serde(with = "humantime_duration")]
    pub offline_maximum: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("digione-relay-data"),
            sync: SyncConfig::default(),
            operations: OperationsConfig::default(),
            certificates: CertificateConfig::default(),
            quotas: QuotaConfig::default(),
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 4433)),
            server_names: vec!["localhost".to_owned()],
            max_connections: 20_000,
            max_pending_handshakes: 512,
            max_streams_per_connection: 4,
            max_queued_frames_per_peer: 16,
            max_enrolments_per_minute: 600,
            max_failed_enrolments_per_source_per_minute: 30,
            max_enrolment_connections_per_source: 32,
            heartbeat_interval_secs: 15,
            keep_alive_secs: 10,
            idle_timeout_secs: 60,
            socket_buffer_bytes: 4 * 1024 * 1024,
            send_rate_limit_bytes_per_sec: 0,
            write_stall_timeout_secs: 60,
        }
    }
}

impl Default for OperationsConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8480)),
            operator_token: None,
            operator_token_file: None,
            stale_after_missed_heartbeats: 3,
        }
    }
}

impl Default for CertificateConfig {
    fn default() -> Self {
        Self {
            node_lifetime_days: 30,
            renew_before_days: 10,
            token_lifetime: Duration::from_secs(24 * 3600),
            offline_maximum: days(60),
        }
    }
}

impl fmt::Debug for OperationsConfig {
    /// The operator token never reaches a log.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("OperationsConfig")
            .field("listen", &self.listen)
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "[redacted]"),
            )
            .field("operator_token_file", &self.operator_token_file)
            .field(
                "stale_after_missed_heartbeats",
                &self.stale_after_missed_heartbeats,
            )
            .finish()
    }
}

impl RelayConfig {
    /// Loads the configuration: defaults, then the TOML file at `path` (if given; a given file that
    /// does not exist is an error, because silently running on defaults would surprise), then
    /// `DIGIONE_RELAY_*` environment variables; then checks it with [`RelayConfig::validate`].
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        // Variables whose name or value is not Unicode cannot be ours (our names are ASCII), and a
        // non-Unicode value for one of our names would fail to parse anyway; they are skipped.
        let variables = std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        });
        Self::load_with_environment(path, variables)
    }

    /// [`RelayConfig::load`] with the environment given explicitly, so the overlay can be tested
    /// without changing the process environment.
    pub fn load_with_environment(
        path: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RelayConfig::default()));
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ConfigError::MissingFile {
                    path: path.to_owned(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: RelayConfig = figment
            .merge(EnvironmentVariables::new(environment))
            .extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Where the replica store lives: `<data_dir>/store`.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// Where the fleet certificate authority lives: `<data_dir>/authority`.
    pub fn authority_dir(&self) -> PathBuf {
        self.data_dir.join("authority")
    }

    /// The heartbeat interval of sync sessions (`sync.heartbeat_interval_secs`).
    pub fn heartbeat_interval(&self) -> Duration {
        self.sync.heartbeat_interval()
    }

    /// The QUIC keep-alive interval (`sync.keep_alive_secs`).
    pub fn keep_alive(&self) -> Duration {
        self.sync.keep_alive()
    }

    /// The QUIC idle timeout (`sync.idle_timeout_secs`).
    pub fn idle_timeout(&self) -> Duration {
        self.sync.idle_timeout()
    }

    /// How long a peer may read nothing before it is disconnected (`sync.write_stall_timeout_secs`).
    pub fn write_stall_timeout(&self) -> Duration {
        self.sync.write_stall_timeout()
    }

    /// The lifetime of every certificate the authority issues.
    pub fn certificate_lifetime(&self) -> Duration {
        days(self.certificates.node_lifetime_days)
    }

    /// Checks every bound and every rule between fields. The first violation is reported, with the
    /// key it concerns and what would be accepted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return invalid(
                "data_dir",
                "is empty; give the directory the relay may write to",
            );
        }
        self.sync.validate()?;
        self.operations.validate()?;
        self.certificates.validate()?;
        self.quotas.validate()?;
        // A node is stale before it is offline, and offline before it is lost; a threshold inside
        // the stale window would skip the `offline` state and call a node lost at its first silence.
        let stale_window = self
            .sync
            .heartbeat_interval()
            .saturating_mul(self.operations.stale_after_missed_heartbeats);
        if self.certificates.offline_maximum <= stale_window {
            return invalid(
                "certificates.offline_maximum",
                format!(
                    "is {}, but must be longer than the stale window of {} ({} heartbeats of {} s)",
                    humantime::format_duration(self.certificates.offline_maximum),
                    humantime::format_duration(stale_window),
                    self.operations.stale_after_missed_heartbeats,
                    self.sync.heartbeat_interval_secs
                ),
            );
        }
        Ok(())
    }
}

impl SyncConfig {
    /// The heartbeat interval as a duration.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.heartbeat_interval_secs)
    }

    /// The QUIC keep-alive interval as a duration.
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_secs)
    }

    /// The QUIC idle timeout as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// The write stall timeout as a duration.
    pub fn write_stall_timeout(&self) -> Duration {
        Duration::from_secs(self.write_stall_timeout_secs)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server_names.is_empty() {
            return invalid(
                "sync.server_names",
                "is empty; list the DNS names nodes use to reach the relay, for example [\"relay.example.fi\"]",
            );
        }
        for name in &self.server_names {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                return invalid(
                    "sync.server_names",
                    format!("contains {name:?}, which is neither a DNS name nor an IP address"),
                );
            }
        }
        at_least("sync.max_connections", self.max_connections, 1)?;
        at_least(
            "sync.max_pending_handshakes",
            self.max_pending_handshakes,
            1,
        )?;
        at_least(
            "sync.max_streams_per_connection",
            self.max_streams_per_connection,
            MIN_STREAMS_PER_CONNECTION,
        )?;
        at_least(
            "sync.max_queued_frames_per_peer",
            self.max_queued_frames_per_peer,
            1,
        )?;
        at_least(
            "sync.max_enrolments_per_minute",
            self.max_enrolments_per_minute,
            1,
        )?;
        at_least(
            "sync.max_failed_enrolments_per_source_per_minute",
            self.max_failed_enrolments_per_source_per_minute,
            1,
        )?;
        at_least(
            "sync.max_enrolment_connections_per_source",
            self.max_enrolment_connections_per_source,
            1,
        )?;
        within(
            "sync.heartbeat_interval_secs",
            self.heartbeat_interval_secs,
            1,
            MAX_HEARTBEAT_INTERVAL_SECS,
        )?;
        at_least("sync.keep_alive_secs", self.keep_alive_secs, 1)?;
        within(
            "sync.idle_timeout_secs",
            self.idle_timeout_secs,
            1,
            MAX_TIMEOUT_SECS,
        )?;
        if self.idle_timeout_secs < MIN_HEARTBEATS_PER_IDLE_TIMEOUT * self.heartbeat_interval_secs {
            return invalid(
                "sync.idle_timeout_secs",
                format!(
                    "is {}, but must be at least {MIN_HEARTBEATS_PER_IDLE_TIMEOUT} heartbeat intervals ({} seconds), so that late heartbeats do not drop connections",
                    self.idle_timeout_secs,
                    MIN_HEARTBEATS_PER_IDLE_TIMEOUT * self.heartbeat_interval_secs
                ),
            );
        }
        if self.keep_alive_secs * MIN_KEEP_ALIVES_PER_IDLE_TIMEOUT > self.idle_timeout_secs {
            return invalid(
                "sync.keep_alive_secs",
                format!(
                    "is {}, but at least {MIN_KEEP_ALIVES_PER_IDLE_TIMEOUT} keep-alives must fit into the idle timeout of {} seconds, so one lost packet does not end a connection",
                    self.keep_alive_secs, self.idle_timeout_secs
                ),
            );
        }
        within(
            "sync.socket_buffer_bytes",
            self.socket_buffer_bytes,
            MIN_SOCKET_BUFFER_BYTES,
            MAX_SOCKET_BUFFER_BYTES,
        )?;
        if self.send_rate_limit_bytes_per_sec != 0
            && self.send_rate_limit_bytes_per_sec < MIN_SEND_RATE_LIMIT_BYTES_PER_SEC
        {
            return invalid(
                "sync.send_rate_limit_bytes_per_sec",
                format!(
                    "is {}, but must be 0 (no cap) or at least {MIN_SEND_RATE_LIMIT_BYTES_PER_SEC}, so that a frame of {MAX_FRAME_PAYLOAD_BYTES} bytes still goes out in reasonable time",
                    self.send_rate_limit_bytes_per_sec
                ),
            );
        }
        within(
            "sync.write_stall_timeout_secs",
            self.write_stall_timeout_secs,
            2 * self.heartbeat_interval_secs,
            MAX_TIMEOUT_SECS,
        )?;
        Ok(())
    }
}

impl OperationsConfig {
    /// The operator token, from `operator_token` or from the file `operator_token_file` names.
    /// Exactly one of the two must be set, and the token must have at least
    /// [`MIN_OPERATOR_TOKEN_CHARS`] characters. `serve` calls this before it starts.
    pub fn operator_token(&self) -> Result<String, ConfigError> {
        let token = match (&self.operator_token, &self.operator_token_file) {
            (Some(token), None) => token.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|source| ConfigError::OperatorTokenFile {
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_owned(),
            (None, None) => {
                return Err(ConfigError::OperatorToken(format!(
                    "no operator token is configured; set `operations.operator_token_file` to a file holding a random token of at least {MIN_OPERATOR_TOKEN_CHARS} characters (or {ENVIRONMENT_PREFIX}OPERATIONS__OPERATOR_TOKEN_FILE)"
                )));
            }
            (Some(_), Some(_)) => return Err(both_operator_tokens_error()),
        };
        if token.chars().count() < MIN_OPERATOR_TOKEN_CHARS {
            return Err(ConfigError::OperatorToken(format!(
                "the operator token is shorter than {MIN_OPERATOR_TOKEN_CHARS} characters; use a longer random token, for example 32 hexadecimal digits"
            )));
        }
        Ok(token)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        // Only the combination is checked here; whether a token is configured at all matters only
        // to `serve`, which calls `operator_token`. Commands such as `enrol` run without one.
        if self.operator_token.is_some() && self.operator_token_file.is_some() {
            return Err(both_operator_tokens_error());
        }
        if let Some(token) = &self.operator_token
            && token.chars().count() < MIN_OPERATOR_TOKEN_CHARS
        {
            return invalid(
                "operations.operator_token",
                format!(
                    "is shorter than {MIN_OPERATOR_TOKEN_CHARS} characters; use a longer random token"
                ),
            );
        }
        at_least(
            "operations.stale_after_missed_heartbeats",
            self.stale_after_missed_heartbeats,
            MIN_STALE_AFTER_MISSED_HEARTBEATS,
        )
    }
}

fn both_operator_tokens_error() -> ConfigError {
    ConfigError::OperatorToken(
        "both `operations.operator_token` and `operations.operator_token_file` are set; keep only one (preferably the file)".into(),
    )
}

impl CertificateConfig {
    /// How long before expiry a node renews its certificate.
    pub fn renew_before(&self) -> Duration {
        days(self.renew_before_days)
    }

    /// How long a node may go unseen before the fleet view reports it as lost.
    pub fn offline_maximum(&self) -> Duration {
        self.offline_maximum
    }

    fn validate(&self) -> Result<(), ConfigError> {
        within(
            "certificates.node_lifetime_days",
            self.node_lifetime_days,
            1,
            MAX_NODE_LIFETIME_DAYS,
        )?;
        if self.renew_before_days == 0 || self.renew_before_days >= self.node_lifetime_days {
            return invalid(
                "certificates.renew_before_days",
                format!(
                    "is {}, but must be at least 1 and less than `certificates.node_lifetime_days` ({}), or nodes would renew never or constantly",
                    self.renew_before_days, self.node_lifetime_days
                ),
            );
        }
        if self.token_lifetime < MIN_TOKEN_LIFETIME || self.token_lifetime > MAX_TOKEN_LIFETIME {
            return invalid(
                "certificates.token_lifetime",
                format!(
                    "is {}, but must be from {} to {}",
                    humantime::format_duration(self.token_lifetime),
                    humantime::format_duration(MIN_TOKEN_LIFETIME),
                    humantime::format_duration(MAX_TOKEN_LIFETIME)
                ),
            );
        }
        if self.offline_maximum < MIN_OFFLINE_MAXIMUM || self.offline_maximum > MAX_OFFLINE_MAXIMUM
        {
            return invalid(
                "certificates.offline_maximum",
                format!(
                    "is {}, but must be from {} to {}",
                    humantime::format_duration(self.offline_maximum),
                    humantime::format_duration(MIN_OFFLINE_MAXIMUM),
                    humantime::format_duration(MAX_OFFLINE_MAXIMUM)
                ),
            );
        }
        Ok(())
    }
}

fn days(count: u32) -> Duration {
    Duration::from_secs(u64::from(count) * 24 * 3600)
}

fn invalid(key: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key,
        reason: reason.into(),
    })
}

fn at_least<T: PartialOrd + fmt::Display>(
    key: &'static str,
    value: T,
    minimum: T,
) -> Result<(), ConfigError> {
    if value < minimum {
        return invalid(key, format!("is {value}, but must be at least {minimum}"));
    }
    Ok(())
}

fn within<T: PartialOrd + fmt::Display>(
    key: &'static str,
    value: T,
    minimum: T,
    maximum: T,
) -> Result<(), ConfigError> {
    if value < minimum || value > maximum {
        return invalid(
            key,
            format!("is {value}, but must be from {minimum} to {maximum}"),
        );
    }
    Ok(())
}

/// Keys whose environment values are taken as text, never parsed: a random token or a path may
/// look like a number (`1234567890123456`, `1e100`), and figment's value parser would turn it into
/// one, losing the text.
const VERBATIM_ENVIRONMENT_KEYS: &[&str] = &[
    "data_dir",
    "operations.operator_token",
    "operations.operator_token_file",
];

/// The `DIGIONE_RELAY_*` environment variables as a figment provider. Names are mapped as figment's
/// own `Env::prefixed(..).split("__")` maps them (prefix removed, lowercased, `__` as the nesting
/// separator) and values are parsed by figment's value parser, except those of
/// [`VERBATIM_ENVIRONMENT_KEYS`]. It exists instead of `Env` because
/// it takes the variables as a list, which lets tests check the overlay without touching the
/// process environment (changing it is `unsafe` in this edition, and forbidden here).
struct EnvironmentVariables {
    /// (key path such as `sync.listen`, raw value), sorted by name so the outcome never depends on
    /// the order the operating system lists variables in.
    entries: Vec<(String, String)>,
}

impl EnvironmentVariables {
    fn new(environment: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut entries: Vec<(String, String)> = environment
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix(ENVIRONMENT_PREFIX)?;
                if key.is_empty() {
                    return None;
                }
                let path = key
                    .to_ascii_lowercase()
                    .replace(ENVIRONMENT_NESTING_SEPARATOR, ".");
                Some((path, value))
            })
            .collect();
        entries.sort();
        Self { entries }
    }
}

impl Provider for EnvironmentVariables {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_: &Profile, keys: &[&str]| {
            format!(
                "{ENVIRONMENT_PREFIX}{}",
                keys.join(ENVIRONMENT_NESTING_SEPARATOR)
                    .to_ascii_uppercase()
            )
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        // The values are left untagged, as figment's own `Env` leaves them, so that figment tags
        // them with this provider's metadata and an error names the variable.
        let mut dict = Dict::new();
        for (path, raw) in &self.entries {
            let value = if VERBATIM_ENVIRONMENT_KEYS.contains(&path.as_str()) {
                Value::from(raw.clone())
            } else {
                let Ok(value) = raw.parse::<Value>();
                value
            };
            if let Value::Dict(_, nested) = figment::util::nest(path, value) {
                merge_dicts(&mut dict, nested);
            }
        }
        let mut data = Map::new();
        data.insert(Profile::Default, dict);
        Ok(data)
    }
}

/// Merges `addition` into `target`, joining nested dictionaries key by key; on a conflict the
/// addition wins.
fn merge_dicts(target: &mut Dict, addition: Dict) {
    for (key, value) in addition {
        match (target.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, nested)) => {
                merge_dicts(existing, nested);
            }
            (_, value) => {
                target.insert(key, value);
            }
        }
    }
}

/// Serialises a [`Duration`] as a humantime string (`24h`), and reads one back.
mod humantime_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|error| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration such as \"24h\" or \"3days\": {error}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../relay.example.toml");

    fn environment(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn write_file(directory: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
        let path = directory.path().join(name);
        std::fs::write(&path, content).expect("write file");
        path
    }

    fn reason_for(result: Result<RelayConfig, ConfigError>) -> (String, String) {
        match result {
            Err(ConfigError::Invalid { key, reason }) => (key.to_owned(), reason),
            other => panic!("expected an invalid-configuration error, got {other:?}"),
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        RelayConfig::default().validate().expect("defaults valid");
        let loaded = RelayConfig::load_with_environment(None, Vec::new()).expect("loads");
        assert_eq!(loaded, RelayConfig::default());
    }

    #[test]
    fn the_example_file_parses_and_equals_the_defaults_except_where_it_shows_a_value() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = write_file(&directory, "relay.toml", EXAMPLE);
        let loaded = RelayConfig::load_with_environment(Some(&path), Vec::new()).expect("loads");
        let mut expected = RelayConfig::default();
        // The two values the example deliberately shows, because a real deployment must set them.
        expected.sync.server_names = vec!["relay.digione.example".to_owned()];
        expected.operations.operator_token_file =
            Some(PathBuf::from("/run/secrets/digione-operator-token"));
        assert_eq!(loaded, expected);
    }

    #[test]
    fn the_example_file_mentions_every_key() {
        // JSON rather than TOML because JSON keeps unset optional keys (as null), so they are
        // checked too.
        let defaults = serde_json::to_value(RelayConfig::default()).expect("serialises");
        let mut keys = Vec::new();
        for (key, value) in defaults.as_object().expect("an object") {
            match value {
                serde_json::Value::Object(section) => {
                    assert!(EXAMPLE.contains(&format!("[{key}]")), "section [{key}]");
                    keys.extend(section.keys().cloned());
                }
                _ => keys.push(key.clone()),
            }
        }
        for key in keys {
            assert!(
                EXAMPLE.contains(&format!("{key} =")),
                "relay.example.toml does not document `{key}`"
            );
        }
    }

    #[test]
    fn environment_variables_override_the_file() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = write_file(
            &directory,
            "relay.toml",
            "data_dir = \"/srv/from-file\"\n[sync]\nlisten = \"127.0.0.1:5000\"\nmax_connections = 10\n",
        );
        let loaded = RelayConfig::load_with_environment(
            Some(&path),
            environment(&[
                ("DIGIONE_RELAY_SYNC__LISTEN", "0.0.0.0:4433"),
                (
                    "DIGIONE_RELAY_SYNC__SERVER_NAMES",
                    "[\"relay.example.fi\", \"10.0.0.1\"]",
                ),
                ("DIGIONE_RELAY_CERTIFICATES__TOKEN_LIFETIME", "3days"),
                (
                    "DIGIONE_RELAY_OPERATIONS__OPERATOR_TOKEN",
                    "0123456789abcdef0123",
                ),
                ("UNRELATED_VARIABLE", "ignored"),
            ]),
        )
        .expect("loads");
        assert_eq!(loaded.data_dir, PathBuf::from("/srv/from-file"));
        assert_eq!(loaded.sync.listen, "0.0.0.0:4433".parse().expect("addr"));
        assert_eq!(loaded.sync.max_connections, 10);
        assert_eq!(
            loaded.sync.server_names,
            vec!["relay.example.fi".to_owned(), "10.0.0.1".to_owned()]
        );
        assert_eq!(
            loaded.certificates.token_lifetime,
            Duration::from_secs(3 * 24 * 3600)
        );
        assert_eq!(
            loaded.operations.operator_token().expect("token"),
            "0123456789abcdef0123"
        );
        assert_eq!(loaded.store_dir(), PathBuf::from("/srv/from-file/store"));
        assert_eq!(
            loaded.authority_dir(),
            PathBuf::from("/srv/from-file/authority")
        );
    }

    #[test]
    fn a_numeric_looking_token_in_the_environment_stays_text() {
        for token in [
            "12345678901234567890123",
            "1234567890123456",
            "1234e56789012345",
        ] {
            let loaded = RelayConfig::load_with_environment(
                None,
                environment(&[("DIGIONE_RELAY_OPERATIONS__OPERATOR_TOKEN", token)]),
            )
            .unwrap_or_else(|error| panic!("{token}: {error}"));
            assert_eq!(loaded.operations.operator_token.as_deref(), Some(token));
        }
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let error = RelayConfig::load_with_environment(
            None,
            environment(&[("DIGIONE_RELAY_SYNC__LISTEN", "not an address")]),
        )
        .expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("DIGIONE_RELAY_SYNC__LISTEN"), "{message}");
    }

    #[test]
    fn unknown_keys_are_refused_so_typos_do_not_pass_silently() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = write_file(&directory, "relay.toml", "[sync]\nmax_conections = 5\n");
        let error =
            RelayConfig::load_with_environment(Some(&path), Vec::new()).expect_err("refused");
        assert!(error.to_string().contains("max_conections"), "{error}");
        let error = RelayConfig::load_with_environment(
            None,
            environment(&[("DIGIONE_RELAY_SYNC__LISTNE", "0.0.0.0:1")]),
        )
        .expect_err("refused");
        assert!(error.to_string().contains("listne"), "{error}");
    }

    #[test]
    fn a_missing_configuration_file_is_an_error() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("absent.toml");
        let error =
            RelayConfig::load_with_environment(Some(&path), Vec::new()).expect_err("refused");
        assert!(matches!(error, ConfigError::MissingFile { .. }), "{error}");
        assert!(error.to_string().contains("absent.toml"));
    }

    #[test]
    fn out_of_bounds_values_are_refused_with_the_key_named() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "DIGIONE_RELAY_SYNC__HEARTBEAT_INTERVAL_SECS",
                "31",
                "sync.heartbeat_interval_secs",
            ),
            (
                "DIGIONE_RELAY_SYNC__HEARTBEAT_INTERVAL_SECS",
                "0",
                "sync.heartbeat_interval_secs",
            ),
            (
                "DIGIONE_RELAY_SYNC__IDLE_TIMEOUT_SECS",
                "30",
                "sync.idle_timeout_secs",
            ),
            (
                "DIGIONE_RELAY_SYNC__KEEP_ALIVE_SECS",
                "40",
                "sync.keep_alive_secs",
            ),
            (
                "DIGIONE_RELAY_SYNC__SERVER_NAMES",
                "[]",
                "sync.server_names",
            ),
            (
                "DIGIONE_RELAY_SYNC__SERVER_NAMES",
                "[\"bad name!\"]",
                "sync.server_names",
            ),
            (
                "DIGIONE_RELAY_SYNC__MAX_STREAMS_PER_CONNECTION",
                "1",
                "sync.max_streams_per_connection",
            ),
            (
                "DIGIONE_RELAY_SYNC__MAX_FAILED_ENROLMENTS_PER_SOURCE_PER_MINUTE",
                "0",
                "sync.max_failed_enrolments_per_source_per_minute",
            ),
            (
                "DIGIONE_RELAY_SYNC__MAX_ENROLMENT_CONNECTIONS_PER_SOURCE",
                "0",
                "sync.max_enrolment_connections_per_source",
            ),
            (
                "DIGIONE_RELAY_SYNC__SOCKET_BUFFER_BYTES",
                "1024",
                "sync.socket_buffer_bytes",
            ),
            (
                "DIGIONE_RELAY_SYNC__SEND_RATE_LIMIT_BYTES_PER_SEC",
                "1000",
                "sync.send_rate_limit_bytes_per_sec",
            ),
            (
                "DIGIONE_RELAY_SYNC__WRITE_STALL_TIMEOUT_SECS",
                "10",
                "sync.write_stall_timeout_secs",
            ),
            (
                "DIGIONE_RELAY_OPERATIONS__STALE_AFTER_MISSED_HEARTBEATS",
                "1",
                "operations.stale_after_missed_heartbeats",
            ),
            (
                "DIGIONE_RELAY_OPERATIONS__OPERATOR_TOKEN",
                "short",
                "operations.operator_token",
            ),
            (
                "DIGIONE_RELAY_CERTIFICATES__RENEW_BEFORE_DAYS",
                "30",
                "certificates.renew_before_days",
            ),
            (
                "DIGIONE_RELAY_CERTIFICATES__NODE_LIFETIME_DAYS",
                "400",
                "certificates.node_lifetime_days",
            ),
            (
                "DIGIONE_RELAY_CERTIFICATES__TOKEN_LIFETIME",
                "31days",
                "certificates.token_lifetime",
            ),
            (
                "DIGIONE_RELAY_CERTIFICATES__OFFLINE_MAXIMUM",
                "9s",
                "certificates.offline_maximum",
            ),
            // Inside the default stale window of three 15-second heartbeats.
            (
                "DIGIONE_RELAY_CERTIFICATES__OFFLINE_MAXIMUM",
                "30s",
                "certificates.offline_maximum",
            ),
        ];
        for (name, value, key) in cases {
            let (reported, reason) = reason_for(RelayConfig::load_with_environment(
                None,
                environment(&[(name, value)]),
            ));
            assert_eq!(&reported, key, "{name}={value}: {reason}");
            assert!(!reason.is_empty());
        }
    }

    #[test]
    fn a_token_lifetime_that_is_not_a_duration_is_explained() {
        let error = RelayConfig::load_with_environment(
            None,
            environment(&[("DIGIONE_RELAY_CERTIFICATES__TOKEN_LIFETIME", "tomorrow")]),
        )
        .expect_err("refused");
        assert!(error.to_string().contains("24h"), "{error}");
    }

    #[test]
    fn the_operator_token_needs_exactly_one_source_and_sixteen_characters() {
        let directory = tempfile::tempdir().expect("tempdir");
        let token_path = write_file(&directory, "token", "  abcdefghijklmnopqrstuvwxyz\n");

        let mut operations = OperationsConfig::default();
        assert!(matches!(
            operations.operator_token(),
            Err(ConfigError::OperatorToken(_))
        ));

        operations.operator_token_file = Some(token_path.clone());
        assert_eq!(
            operations.operator_token().expect("token"),
            "abcdefghijklmnopqrstuvwxyz"
        );

        operations.operator_token = Some("abcdefghijklmnopqrstuvwxyz".into());
        assert!(matches!(
            operations.operator_token(),
            Err(ConfigError::OperatorToken(_))
        ));
        assert!(operations.validate().is_err());

        operations.operator_token = None;
        operations.operator_token_file = Some(write_file(&directory, "short", "tiny\n"));
        assert!(matches!(
            operations.operator_token(),
            Err(ConfigError::OperatorToken(_))
        ));

        operations.operator_token_file = Some(directory.path().join("absent"));
        assert!(matches!(
            operations.operator_token(),
            Err(ConfigError::OperatorTokenFile { .. })
        ));
    }

    #[test]
    fn debug_output_hides_the_operator_token() {
        let operations = OperationsConfig {
            operator_token: Some("secret-secret-secret".into()),
            ..OperationsConfig::default()
        };
        assert!(!format!("{operations:?}").contains("secret-secret"));
    }
}
