//! The node's configuration: documented defaults, then a TOML file, then `DIGIONE_NODE_*`
//! environment variables (`__` between section and key: `DIGIONE_NODE_HTTP__LISTEN=0.0.0.0:80`).
//! Every key, its default and its bound are listed in `node/node.example.toml`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The longest heartbeat interval the protocol allows, in seconds.
pub const MAX_HEARTBEAT_INTERVAL_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("the configuration could not be read: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration key {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        ConfigError::Load(Box::new(error))
    }
}

/// The whole configuration of one node process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the node keeps everything (default `digione-node-data`): the store in `store/`, the
    /// node's key and certificate in `identity/`, its school in `school.toml`.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub relay: RelayLinkConfig,
    pub oidc: OidcConfig,
    /// Logging in through the municipality's OpenID provider (MPASSid in production); absent (the
    /// default): only the node's own passwords.
    pub upstream_login: Option<UpstreamLoginConfig>,
}

/// The LAN-facing HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the platform is served on (default `0.0.0.0:8080`: every device on the school LAN).
    pub listen: SocketAddr,
    /// The largest file a user may upload, in bytes (default 50 MiB, at most 256 MiB: the protocol's
    /// blob bound).
    pub max_upload_bytes: u64,
    /// The bytes one user may upload per day (UTC day of node time), all uploads together (default
    /// 1 GiB; at least `max_upload_bytes`). Bounds how fast one account can fill the node's disk and
    /// the school's share at the relay. See `crate::upload_quota`.
    pub max_upload_bytes_per_user_per_day: u64,
    /// The largest JSON request body, in bytes (default 1 MiB).
    pub max_json_body_bytes: usize,
    /// Requests handled at once (default 512); more wait in the kernel's accept queue. Bounds memory
    /// when a whole school logs in at the same moment.
    pub max_concurrent_requests: usize,
    /// Where HTTPS is served when a certificate and key are configured (default `0.0.0.0:8443`);
    /// `listen` then only redirects to it.
    pub https_listen: SocketAddr,
    /// The PEM certificate chain for HTTPS (the school's LAN name). Unset: plain HTTP only.
    pub tls_certificate_file: Option<PathBuf>,
    /// The PEM private key of `tls_certificate_file`.
    pub tls_private_key_file: Option<PathBuf>,
}

impl HttpConfig {
    /// The certificate and key when HTTPS is configured.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        match (&self.tls_certificate_file, &self.tls_private_key_file) {
            (Some(certificate), Some(key)) => Some((certificate, key)),
            _ => None,
        }
    }
}

/// The link to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayLinkConfig {
    /// `host:port` of the relay's QUIC endpoint. Empty: the node runs standalone and never syncs.
    pub address: String,
    /// The relay's name in its certificate when it differs from the host in `address`.
    pub server_name: Option<String>,
    /// Seconds between heartbeats, 1 to 30 (default 15).
    pub heartbeat_interval_secs: u64,
    /// A cap on bytes per second sent to the relay (default 0: none). For thin school uplinks.
    pub send_rate_limit_bytes_per_sec: u64,
    /// The first wait after a lost connection, in milliseconds (default 1000); doubled per failure.
    pub backoff_initial_millis: u64,
    /// The longest wait between attempts, in seconds (default 300).
    pub backoff_max_secs: u64,
}

/// The node's OpenID Provider (`crate::oidc`), which logs users in to the school's services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL services know the node by, `https://host[:port]` without a path: the name of
    /// the node on the school LAN. Empty (the default): derived from the listener the platform is
    /// served on, `https://ADDRESS` with HTTPS, else `http://ADDRESS`, which suits tests and
    /// development; a school sets its LAN name here.
    pub issuer: String,
    /// How long an ID token is valid, in seconds (default 600, 60 to 3600).
    pub id_token_lifetime_secs: u64,
    /// How long an access token opens the userinfo endpoint, in seconds (default 600, 60 to 3600).
    pub access_token_lifetime_secs: u64,
    /// Days a signing key signs before the next one takes over (default 30, 1 to 365).
    pub signing_key_rotation_days: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            id_token_lifetime_secs: 600,
            access_token_lifetime_secs: 600,
            signing_key_rotation_days: 30,
        }
    }
}

impl OidcConfig {
    /// The configured issuer, checked and without a trailing `/`; `None` when it is to be derived.
    pub fn configured_issuer(&self) -> Result<Option<String>, ConfigError> {
        if self.issuer.is_empty() {
            return Ok(None);
        }
        let invalid = |reason: String| ConfigError::Invalid {
            key: "oidc.issuer",
            reason,
        };
        let url = url::Url::parse(&self.issuer).map_err(|error| invalid(error.to_string()))?;
        if !matches!(url.scheme(), "https" | "http")
            || url.host().is_none()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
        {
            return Err(invalid(
                "must be http(s)://host[:port] with no path, query or fragment".to_owned(),
            ));
        }
        Ok(Some(url.as_str().trim_end_matches('/').to_owned()))
    }
}

/// The longest name shown on the upstream login button.
pub const MAX_UPSTREAM_DISPLAY_NAME_CHARS: usize = 40;
/// The most extra scopes the node asks the upstream provider for.
pub const MAX_UPSTREAM_SCOPES: usize = 16;

/// An upstream OpenID provider the node's users may log in through while the school is online
/// (`crate::upstream_login`). The municipality registers the node as a client there and installs
/// the same section on each of its schools' nodes; the client secret stays in a local file, never
/// in a synced document, because the relay and every node of the municipality can read those.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamLoginConfig {
    /// The name on the login page's button, e.g. `MPASSid` (1 to 40 characters).
    pub display_name: String,
    /// The provider's issuer URL; discovery is read from
    /// `{issuer}/.well-known/openid-configuration`. `https`; plain `http` only on loopback, for
    /// tests.
    pub issuer: String,
    pub client_id: String,
    /// A file holding the client secret (surrounding whitespace is ignored). Read at start.
    pub client_secret_file: PathBuf,
    /// The scopes asked for besides `openid` (default none), e.g. `["profile"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The claim of the ID token or userinfo that names the user (default `urn:mpass.id:uid`).
    #[serde(default = "default_upstream_user_claim")]
    pub user_claim: String,
    /// The roster field that claim must equal for the user to be logged in as that roster user
    /// (default `identifier`, OneRoster's `users.identifier`).
    #[serde(default)]
    pub roster_field: RosterMatchField,
    /// When set, a claim that must hold this school's code (one of its values, when a list), so an
    /// account of another school is never mapped here: MPASSid's `urn:mpass.id:schoolCode`.
    #[serde(default)]
    pub school_code_claim: Option<String>,
    /// Extra PEM certificates to trust for the provider besides the system's roots (a
    /// municipality's own CA).
    #[serde(default)]
    pub ca_certificate_file: Option<PathBuf>,
    /// The redirect URI registered at the provider (default: the OpenID issuer of this node with
    /// `/login/upstream/callback`).
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

fn default_upstream_user_claim() -> String {
    "urn:mpass.id:uid".to_owned()
}

/// Which roster field an upstream account is matched on. Each compares exactly, except
/// `username` and `email`, which ignore letter case as logins and mail addresses do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterMatchField {
    #[default]
    Identifier,
    Username,
    Email,
    SourcedId,
}

impl UpstreamLoginConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        let name_chars = self.display_name.trim().chars().count();
        if name_chars == 0 || name_chars > MAX_UPSTREAM_DISPLAY_NAME_CHARS {
            return Err(invalid(
                "upstream_login.display_name",
                "must be 1 to 40 characters",
            ));
        }
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|error| invalid("upstream_login.issuer", &error.to_string()))?;
        let loopback = match issuer.host() {
            Some(url::Host::Ipv4(address)) => address.is_loopback(),
            Some(url::Host::Ipv6(address)) => address.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        if !(issuer.scheme() == "https" || (issuer.scheme() == "http" && loopback))
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            return Err(invalid(
                "upstream_login.issuer",
                "must be an https URL without query or fragment (http only on loopback)",
            ));
        }
        if self.client_id.is_empty() || self.client_id.len() > 255 {
            return Err(invalid(
                "upstream_login.client_id",
                "must be 1 to 255 bytes",
            ));
        }
        if self.scopes.len() > MAX_UPSTREAM_SCOPES
            || self.scopes.iter().any(|scope| {
                scope.is_empty()
                    || scope.len() > 255
                    || !scope
                        .chars()
                        .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
            })
        {
            return Err(invalid(
                "upstream_login.scopes",
                "must be at most 16 scope tokens (RFC 6749 section 3.3)",
            ));
        }
        if self.user_claim.is_empty() || self.user_claim.len() > 255 {
            return Err(invalid(
                "upstream_login.user_claim",
                "must be 1 to 255 bytes",
            ));
        }
        if let Some(uri) = &self.redirect_uri {
            let parsed = url::Url::parse(uri)
                .map_err(|error| invalid("upstream_login.redirect_uri", &error.to_string()))?;
            if !matches!(parsed.scheme(), "https" | "http") || parsed.fragment().is_some() {
                return Err(invalid(
                    "upstream_login.redirect_uri",
                    "must be an http(s) URL without a fragment",
                ));
            }
        }
        Ok(())
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("digione-node-data"),
            http: HttpConfig::default(),
            relay: RelayLinkConfig::default(),
            oidc: OidcConfig::default(),
            upstream_login: None,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            max_upload_bytes: 50 * 1024 * 1024,
            max_upload_bytes_per_user_per_day: 1024 * 1024 * 1024,
            max_json_body_bytes: 1024 * 1024,
            max_concurrent_requests: 512,
            https_listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            tls_certificate_file: None,
            tls_private_key_file: None,
        }
    }
}

impl Default for RelayLinkConfig {
    fn default() -> Self {
        Self {
            address: String::new(),
            server_name: None,
            heartbeat_interval_secs: 15,
            send_rate_limit_bytes_per_sec: 0,
            backoff_initial_millis: 1000,
            backoff_max_secs: 300,
        }
    }
}

impl NodeConfig {
    /// Defaults, then the file at `path` (a given file that is missing is an error), then the
    /// environment; validated.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(NodeConfig::default()));
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: NodeConfig = figment
            .merge(Env::prefixed("DIGIONE_NODE_").split("__"))
            .extract()?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.http.max_upload_bytes == 0
            || self.http.max_upload_bytes > sync_protocol::wire::MAX_BLOB_BYTES
        {
            return invalid("http.max_upload_bytes", "must be 1 byte to 256 MiB");
        }
        if self.http.max_upload_bytes_per_user_per_day < self.http.max_upload_bytes {
            return invalid(
                "http.max_upload_bytes_per_user_per_day",
                "must be at least http.max_upload_bytes, or the largest file could never be uploaded",
            );
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.http.max_json_body_bytes) {
            return invalid("http.max_json_body_bytes", "must be 1 KiB to 64 MiB");
        }
        if self.http.max_concurrent_requests == 0 {
            return invalid("http.max_concurrent_requests", "must be at least 1");
        }
        if self.http.tls_certificate_file.is_some() != self.http.tls_private_key_file.is_some() {
            return invalid(
                "http.tls_certificate_file",
                "HTTPS needs both http.tls_certificate_file and http.tls_private_key_file",
            );
        }
        if self.http.tls_files().is_some() && self.http.https_listen == self.http.listen {
            return invalid(
                "http.https_listen",
                "must differ from http.listen, which redirects to it",
            );
        }
        if !(1..=MAX_HEARTBEAT_INTERVAL_SECS).contains(&self.relay.heartbeat_interval_secs) {
            return invalid("relay.heartbeat_interval_secs", "must be 1 to 30");
        }
        if self.relay.backoff_initial_millis == 0
            || self.relay.backoff_max_secs * 1000 < self.relay.backoff_initial_millis
        {
            return invalid(
                "relay.backoff_initial_millis",
                "must be at least 1 and at most relay.backoff_max_secs",
            );
        }
        self.oidc.configured_issuer()?;
        if !(60..=3600).contains(&self.oidc.id_token_lifetime_secs) {
            return invalid("oidc.id_token_lifetime_secs", "must be 60 to 3600");
        }
        if !(60..=3600).contains(&self.oidc.access_token_lifetime_secs) {
            return invalid("oidc.access_token_lifetime_secs", "must be 60 to 3600");
        }
        if !(1..=365).contains(&self.oidc.signing_key_rotation_days) {
            return invalid("oidc.signing_key_rotation_days", "must be 1 to 365");
        }
        if let Some(upstream) = &self.upstream_login {
            upstream.validate()?;
        }
        if !self.relay.address.is_empty() && !self.relay.address.contains(':') {
            return invalid(
                "relay.address",
                "must be host:port, for example relay.example.fi:4433",
            );
        }
        Ok(())
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    pub fn identity_dir(&self) -> PathBuf {
        self.data_dir.join("identity")
    }

    pub fn school_file(&self) -> PathBuf {
        self.data_dir.join("school.toml")
    }

    /// The token the local command line uses to reach a running node's admin API.
    pub fn admin_token_file(&self) -> PathBuf {
        self.data_dir.join("admin.token")
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs(self.relay.heartbeat_interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert!(NodeConfig::default().validate().is_ok());
    }

    #[test]
    fn the_example_file_is_the_defaults() {
        let example: NodeConfig = Figment::from(Serialized::defaults(NodeConfig::default()))
            .merge(Toml::string(include_str!("../node.example.toml")))
            .extract()
            .expect("the example parses");
        let mut expected = NodeConfig::default();
        expected.relay.address = "relay.digione.example:4433".into();
        assert_eq!(example, expected);
    }

    #[test]
    fn out_of_bounds_values_name_their_key() {
        let mut config = NodeConfig::default();
        config.relay.heartbeat_interval_secs = 31;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                key: "relay.heartbeat_interval_secs",
                ..
            })
        ));
        let mut config = NodeConfig::default();
        config.oidc.issuer = "https://koulu.example.fi/path".into();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                key: "oidc.issuer",
                ..
            })
        ));
        config.oidc.issuer = "https://koulu.example.fi:8443/".into();
        assert_eq!(
            config.oidc.configured_issuer().ok().flatten().as_deref(),
            Some("https://koulu.example.fi:8443")
        );
        let mut config = NodeConfig {
            upstream_login: Some(UpstreamLoginConfig {
                display_name: "MPASSid".into(),
                issuer: "http://mpass.example.fi".into(),
                client_id: "digione".into(),
                client_secret_file: PathBuf::from("/etc/digione/secret"),
                scopes: Vec::new(),
                user_claim: default_upstream_user_claim(),
                roster_field: RosterMatchField::Identifier,
                school_code_claim: None,
                ca_certificate_file: None,
                redirect_uri: None,
            }),
            ..NodeConfig::default()
        };
        // Plain HTTP would expose the code and tokens to the network between school and provider.
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                key: "upstream_login.issuer",
                ..
            })
        ));
        if let Some(upstream) = config.upstream_login.as_mut() {
            upstream.issuer = "https://mpass.example.fi".into();
            upstream.scopes = vec!["two words".into()];
        }
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                key: "upstream_login.scopes",
                ..
            })
        ));
        if let Some(upstream) = config.upstream_login.as_mut() {
            upstream.scopes = vec!["profile".into()];
            upstream.display_name = " ".into();
        }
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                key: "upstream_login.display_name",
                ..
            })
        ));
        let mut config = NodeConfig::default();
        config.relay.address = "no-port".into();
        assert!(matches!(
            config.validate(),
            Err(ConfigError::Invalid {
                key: "relay.address",
                ..
            })
        ));
    }
}
