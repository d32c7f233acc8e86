//! The demo's fleet: the relay with its certificate authority and the two school nodes, each in
//! its own directory under the demo's data directory, all listening on loopback only (every user
//! of the demo shares a published password, so nothing of it may be reachable from the network).
//!
//! ```text
//! demo-data/
//!   relay/            the relay's store and fleet CA (`authority/`), and `operator.token`
//!   school-30076/     the first node: store, identity, school.toml, the imported roster package
//!   school-30077/     the second node
//!   operator/         the municipality's operator: its certificate and replica, for its announcement
//!   school-year       the school year the demo generated (its first calendar year)
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloud_relay::authority::{Authority, AuthorityError, TokenRequest};
use cloud_relay::config::RelayConfig;
use cloud_relay::server::RunningRelay;
use node::config::NodeConfig;
use node::identity::{IdentityError, NodeIdentity};
use node::server::RunningNode;
use operator::connection::OperatorSettings;
use rand::TryRngCore as _;
use sync_protocol::ids::NodeId;
use sync_transport::identity::{FleetIdentity, Role};
use sync_transport::tls::NodeCredentials;

/// The demo's relay sync port: the relay's own default.
pub const DEFAULT_RELAY_PORT: u16 = 4433;
/// The demo's operations port: the relay's own default.
pub const DEFAULT_OPERATIONS_PORT: u16 = 8480;
/// The first school's HTTP port: the node's own default.
pub const DEFAULT_FIRST_SCHOOL_PORT: u16 = 8080;
/// The second school's HTTP port: the next one up.
pub const DEFAULT_SECOND_SCHOOL_PORT: u16 = 8081;

/// Everything listens here only: see the module's documentation.
const DEMO_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The name in the relay's server certificate that the nodes check (the relay's default
/// `sync.server_names`).
const RELAY_SERVER_NAME: &str = "localhost";

pub const MUNICIPALITY_CODE: &str = "092";
pub const MUNICIPALITY_NAME: &str = "Vantaa";
/// The municipality's name as its org appears in the schools' rosters.
pub const MUNICIPALITY_ORG_NAME: &str = "Vantaan kaupunki";

/// The demo's two schools: code and name. The names are made up.
pub const SCHOOLS: [(&str, &str); 2] = [("30076", "Kuusikon koulu"), ("30077", "Koivulan koulu")];

/// How long an enrolment token the demo issues stays valid: it is redeemed a moment later, and
/// this is the shortest lifetime the authority accepts.
const ENROLMENT_TOKEN_LIFETIME: Duration = cloud_relay::config::MIN_TOKEN_LIFETIME;

/// How long enrolling one node may take. On loopback it takes well under a second; the bound keeps
/// a relay that does not answer from hanging the demo.
const ENROLMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A node whose certificate has less than this left is enrolled again (keeping its node id) before
/// it starts, so a demo left alone for longer than a certificate lives still starts. Nodes renew on
/// their own while connected; this covers the demo not running at all.
const REENROL_BEFORE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// Random bytes in the operator token: 256 bits, printed as 64 hexadecimal digits.
const OPERATOR_TOKEN_BYTES: usize = 32;

/// How long stopping one node or the relay may take before the demo moves on. A node waits for
/// its open HTTP connections to finish their requests; the relay gives its sessions a short grace.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the municipality's operator waits for the relay, to sync before its edit and to confirm
/// it after.
const OPERATOR_TIMEOUT: Duration = Duration::from_secs(30);

/// The ports the demo listens on.
#[derive(Debug, Clone, Copy)]
pub struct DemoPorts {
    pub relay: u16,
    pub operations: u16,
    pub first_school: u16,
    pub second_school: u16,
}

/// The started relay and nodes.
#[derive(Debug)]
pub struct Fleet {
    /// Absolute, so that what is printed can be found from anywhere.
    pub data_dir: PathBuf,
    pub relay: RunningRelay,
    pub operator_token: String,
    pub schools: Vec<RunningSchool>,
    /// The fleet's certificate authority, which also certifies the municipality's operator.
    authority: Authority,
}

/// One started school node.
#[derive(Debug)]
pub struct RunningSchool {
    pub code: &'static str,
    pub name: &'static str,
    pub node_id: NodeId,
    pub data_dir: PathBuf,
    pub node: RunningNode,
}

impl RunningSchool {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.node.http_address)
    }
}

impl Fleet {
    /// Starts the relay (creating its certificate authority on the first run), then enrols each
    /// school whose node has no valid certificate yet, and starts the nodes.
    pub async fn start(data_dir: &Path, ports: &DemoPorts) -> Result<Self, String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;
        let data_dir = std::path::absolute(data_dir)
            .map_err(|error| format!("cannot resolve {}: {error}", data_dir.display()))?;
        let (relay_config, operator_token) = relay_config(&data_dir, ports)?;
        let authority = open_or_create_authority(&relay_config)?;
        let relay = cloud_relay::server::start(relay_config, authority.clone())
            .await
            .map_err(|error| format!("the relay could not start: {error}"))?;
        let mut schools = Vec::new();
        let school_ports = [ports.first_school, ports.second_school];
        for ((code, name), port) in SCHOOLS.into_iter().zip(school_ports) {
            match start_school(&data_dir, code, name, port, &relay, &authority).await {
                Ok(school) => schools.push(school),
                Err(error) => {
                    // What already started is stopped cleanly before the error is reported.
                    for started in schools {
                        started.node.shutdown().await;
                    }
                    relay.shutdown().await;
                    return Err(error);
                }
            }
        }
        Ok(Self {
            data_dir,
            relay,
            operator_token,
            schools,
            authority,
        })
    }

    /// How the municipality's operator reaches the relay: `digione-operator`'s settings, over a
    /// data directory (`operator/`) holding a municipality operator's certificate, issued anew on
    /// every run so that a demo started again after weeks never meets an expired one. Only an
    /// operator may write what every school of the municipality shows as the municipality's.
    pub fn municipality_operator(&self) -> Result<OperatorSettings, String> {
        let settings = OperatorSettings {
            data_dir: self.data_dir.join("operator"),
            relay_address: self.relay.sync_address.to_string(),
            server_name: Some("localhost".into()),
            timeout: OPERATOR_TIMEOUT,
        };
        let identity = FleetIdentity {
            node: parse("op-092-demo")?,
            role: Role::Operator,
            school: None,
            municipality: Some(parse(MUNICIPALITY_CODE)?),
        };
        let (certificate_der, key_pem) = self
            .authority
            .issue_local(&identity, SystemTime::now())
            .map_err(|error| {
            format!("the operator certificate could not be issued: {error}")
        })?;
        NodeCredentials {
            certificate_der,
            key_pem,
            ca_der: self.authority.ca_certificate_der().to_vec(),
        }
        .save(&settings.identity_dir())
        .map_err(|error| format!("the operator certificate could not be saved: {error}"))?;
        Ok(settings)
    }

    /// Stops the nodes first (so they do not see the relay vanish and start reconnecting), then the
    /// relay; each flushes its store. Each stop is bounded by [`SHUTDOWN_TIMEOUT`].
    pub async fn shutdown(self) {
        for school in self.schools {
            if tokio::time::timeout(SHUTDOWN_TIMEOUT, school.node.shutdown())
                .await
                .is_err()
            {
                tracing::warn!(school = school.code, "the node did not stop in time");
            }
        }
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, self.relay.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("the relay did not stop in time");
        }
    }
}

/// The relay's configuration: its defaults (not the environment: the demo runs on embedded
/// defaults whatever the shell holds), on loopback, with the demo's operator token, which is
/// created on the first run and kept in a file beside the relay's data.
fn relay_config(data_dir: &Path, ports: &DemoPorts) -> Result<(RelayConfig, String), String> {
    let mut config = RelayConfig {
        data_dir: data_dir.join("relay"),
        ..RelayConfig::default()
    };
    config.sync.listen = SocketAddr::new(DEMO_HOST, ports.relay);
    config.operations.listen = SocketAddr::new(DEMO_HOST, ports.operations);
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|error| format!("cannot create {}: {error}", config.data_dir.display()))?;
    let token_file = config.data_dir.join("operator.token");
    if !token_file.exists() {
        let mut bytes = [0u8; OPERATOR_TOKEN_BYTES];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|error| format!("no randomness for the operator token: {error}"))?;
        sync_transport::tls::write_atomically(&token_file, hex::encode(bytes).as_bytes(), true)
            .map_err(|error| format!("cannot write {}: {error}", token_file.display()))?;
    }
    config.operations.operator_token_file = Some(token_file);
    let operator_token = config
        .operations
        .operator_token()
        .map_err(|error| error.to_string())?;
    Ok((config, operator_token))
}

fn open_or_create_authority(config: &RelayConfig) -> Result<Authority, String> {
    let directory = config.authority_dir();
    let authority = match Authority::open(&directory) {
        Ok(authority) => authority,
        Err(AuthorityError::NotInitialised { .. }) => {
            Authority::init(&directory, SystemTime::now()).map_err(|error| error.to_string())?
        }
        Err(error) => return Err(error.to_string()),
    };
    Ok(authority.with_certificate_lifetime(config.certificate_lifetime()))
}

/// Enrols the school's node when it needs it, then starts it.
async fn start_school(
    data_dir: &Path,
    code: &'static str,
    name: &'static str,
    port: u16,
    relay: &RunningRelay,
    authority: &Authority,
) -> Result<RunningSchool, String> {
    let school_dir = data_dir.join(format!("school-{code}"));
    let mut config = NodeConfig {
        data_dir: school_dir.clone(),
        ..NodeConfig::default()
    };
    config.http.listen = SocketAddr::new(DEMO_HOST, port);
    config.relay.address = relay.sync_address.to_string();
    config.relay.server_name = Some(RELAY_SERVER_NAME.into());
    let identity = match enrolment_needed(&config)? {
        None => NodeIdentity::load(&config).map_err(|error| error.to_string())?,
        Some(keep_node_id) => {
            let token = authority
                .issue_token(
                    TokenRequest {
                        role: Role::Node,
                        school: Some(parse(code)?),
                        municipality: Some(parse(MUNICIPALITY_CODE)?),
                        node: keep_node_id,
                        valid_for: ENROLMENT_TOKEN_LIFETIME,
                    },
                    SystemTime::now(),
                )
                .map_err(|error| format!("cannot issue a token for school {code}: {error}"))?;
            let enrolment = NodeIdentity::init_enrolled(
                &config,
                &config.relay.address,
                config.relay.server_name.as_deref(),
                &token,
            );
            tokio::time::timeout(ENROLMENT_TIMEOUT, enrolment)
                .await
                .map_err(|_| {
                    format!("enrolling school {code} took longer than {ENROLMENT_TIMEOUT:?}")
                })?
                .map_err(|error| format!("cannot enrol school {code}: {error}"))?
        }
    };
    let node_id = identity
        .node_id()
        .cloned()
        .ok_or_else(|| format!("school {code} has no node certificate after enrolment"))?;
    let node = node::server::start(config)
        .await
        .map_err(|error| format!("the node of school {code} could not start: {error}"))?;
    Ok(RunningSchool {
        code,
        name,
        node_id,
        data_dir: school_dir,
        node,
    })
}

/// `None` when the node holds a certificate valid for longer than [`REENROL_BEFORE_EXPIRY`];
/// otherwise `Some` with the node id to keep (when there is one), so that a re-enrolled node stays
/// the same node in the relay's fleet view.
fn enrolment_needed(config: &NodeConfig) -> Result<Option<Option<NodeId>>, String> {
    let identity = match NodeIdentity::load(config) {
        Ok(identity) => identity,
        Err(IdentityError::NotInitialised) => return Ok(Some(None)),
        Err(error) => return Err(error.to_string()),
    };
    let Some(facts) = identity.certificate else {
        return Ok(Some(None));
    };
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    let remaining_secs = facts.not_after_unix - now_unix;
    if remaining_secs > REENROL_BEFORE_EXPIRY.as_secs() as i64 {
        Ok(None)
    } else {
        Ok(Some(Some(facts.identity.node)))
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|error| format!("`{text}` is not valid: {error}"))
}
