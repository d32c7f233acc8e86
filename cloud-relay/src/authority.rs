//! The fleet certificate authority: the CA key, enrolment tokens, certificate issuance and
//! revocations.
//!
//! All state is plain files under the authority directory (`<data_dir>/authority`), not in the
//! relay's sled store: the running `serve` process holds the store's lock, and operators must be
//! able to `enrol` and `revoke` while it runs. The running server reads revocations by polling
//! [`Authority::revoked_nodes`]. Layout:
//!
//! ```text
//! authority/
//!   ca.key              the CA's private key, PKCS#8 PEM, mode 0600
//!   ca.pem              the CA certificate
//!   tokens/<id>.json    an unused enrolment token: its grant, expiry and the SHA-256 of its secret
//!   tokens/used/<id>.json  the same after redemption (or expiry), moved there atomically
//!   revoked/<node-id>   one file per revoked node: "<unix seconds> <reason>"
//!   issued.log          one JSON line per certificate issued (IssuedRecord)
//! ```
//!
//! Every file that matters is written to a temporary file first, flushed to disk, and renamed into
//! place, so a crash leaves either the old state or the new one, never half a file. Consuming a
//! token is a rename too, which the file system performs atomically: of two processes redeeming the
//! same token at once, exactly one rename succeeds.
//!
//! The certificates name their holder only through [`FleetIdentity::to_uris`]. Whatever a signing
//! request asks for besides its public key is ignored: the authority decides every name, usage and
//! lifetime itself.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::TryRngCore as _;
use rand::rngs::OsRng;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
    SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{
    CertificateDer, CertificateSigningRequestDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use sync_protocol::ids::{MunicipalityCode, NodeId, SchoolCode};
use sync_transport::control::{ControlResponse, EnrolmentToken, RefusalCode, TOKEN_SECRET_BYTES};
use sync_transport::identity::{CertificateFacts, FleetIdentity, Role, certificate_facts};
use x509_parser::prelude::FromDer as _;

use crate::config::{MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME};

/// The common name of the fleet CA certificate.
pub const CA_COMMON_NAME: &str = "DigiOne Edge fleet CA";

/// The common name of the relay's server certificates.
pub const SERVER_COMMON_NAME: &str = "DigiOne Edge relay";

/// How long the CA certificate is valid: ten years. Replacing the CA means every node re-enrols, so
/// it should outlive the hardware it runs on.
pub const CA_LIFETIME: Duration = Duration::from_secs(3652 * 24 * 3600);

/// How far before "now" every certificate's validity starts. School machines' clocks drift; a
/// certificate that is not yet valid on a node whose clock is a few minutes behind would fail the
/// first connection for no good reason.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// The certificate lifetime used until [`Authority::with_certificate_lifetime`] sets another; the
/// same as the configuration's default `certificates.node_lifetime_days`.
pub const DEFAULT_CERTIFICATE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Random bytes in an enrolment token's id (16 hexadecimal digits, as the token format requires).
pub const TOKEN_ID_BYTES: usize = 8;

/// Random bytes in a certificate serial number: 128 bits, so serials never collide and cannot be
/// predicted (the first bit is cleared so the number stays positive).
pub const SERIAL_NUMBER_BYTES: usize = 16;

/// Random bytes in the suffix of a new node id (8 hexadecimal digits). Node ids are also scoped by
/// school, so 32 bits make a collision within one school practically impossible.
pub const NODE_ID_RANDOM_BYTES: usize = 4;

/// The longest revocation reason kept, in characters; the reason is for people reading the file.
pub const MAX_REVOCATION_REASON_CHARS: usize = 200;

const CA_KEY_FILE: &str = "ca.key";
const CA_CERTIFICATE_FILE: &str = "ca.pem";
const TOKENS_DIR: &str = "tokens";
const USED_TOKENS_DIR: &str = "used";
const REVOKED_DIR: &str = "revoked";
const ISSUED_LOG_FILE: &str = "issued.log";
const TOKEN_FILE_SUFFIX: &str = ".json";
/// Temporary files start with a dot, so directory listings (revocations) can skip them.
const TEMPORARY_FILE_PREFIX: &str = ".tmp-";

/// File mode of secrets (the CA key) and of token records: owner only.
const PRIVATE_FILE_MODE: u32 = 0o600;
/// File mode of public files (the CA certificate, revocations, the issued log).
const PUBLIC_FILE_MODE: u32 = 0o644;
/// Directory mode of the authority directory: owner only, because it holds the CA key.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// What went wrong in the authority, for the operator (CLI) or the relay's log.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error(
        "there is no fleet certificate authority in {}; run `digione-relay ca init` first (with the same --config)",
        directory.display()
    )]
    NotInitialised { directory: PathBuf },
    #[error(
        "a fleet certificate authority already exists in {}; nothing was changed. Starting a new CA means every node must re-enrol: move that directory away first if that is really what you want",
        directory.display()
    )]
    AlreadyInitialised { directory: PathBuf },
    #[error("the authority file {} is unusable: {reason}; restore it from backup", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("generating a certificate or key failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(
        "node {node} is revoked; delete {} if the revocation was a mistake",
        path.display()
    )]
    Revoked { node: NodeId, path: PathBuf },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AuthorityError {
    let path = path.to_owned();
    move |source| AuthorityError::Io {
        action,
        path,
        source,
    }
}

/// Why an enrolment or renewal was refused. The message goes to the node, so it explains without
/// revealing anything about the relay's internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: RefusalCode,
    pub message: String,
}

impl Refusal {
    fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn token_invalid() -> Self {
        Self::new(
            RefusalCode::TokenInvalid,
            "the enrolment token is unknown, already used, or its secret is wrong; ask the fleet operators for a new token",
        )
    }

    fn bad_request(reason: impl fmt::Display) -> Self {
        Self::new(
            RefusalCode::BadRequest,
            format!("the certificate signing request was refused: {reason}"),
        )
    }

    fn revoked(node: &NodeId) -> Self {
        Self::new(
            RefusalCode::Revoked,
            format!("node {node} has been revoked; contact the fleet operators"),
        )
    }

    /// The relay failed on its side. The details go to the relay's log, not to the peer.
    fn internal(error: AuthorityError) -> Self {
        tracing::error!(%error, "the certificate authority failed");
        Self::new(
            RefusalCode::Internal,
            "the relay could not issue a certificate; try again later, and tell the fleet operators if it persists",
        )
    }

    /// The refusal as the control-stream answer.
    pub fn into_response(self) -> ControlResponse {
        ControlResponse::Refused {
            code: self.code,
            message: self.message,
        }
    }
}

/// What an enrolment token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub role: Role,
    /// Required for nodes, forbidden for operators.
    pub school: Option<SchoolCode>,
    /// Required for nodes; for operators, limits them to one municipality.
    pub municipality: Option<MunicipalityCode>,
    /// Re-enrolment: the node keeps this id (and so its place in the fleet view). A new id is
    /// assigned at redemption when this is `None`.
    pub node: Option<NodeId>,
    /// How long the token may be redeemed, from [`MIN_TOKEN_LIFETIME`] to [`MAX_TOKEN_LIFETIME`].
    pub valid_for: Duration,
}

/// A certificate just issued, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub certificate_der: Vec<u8>,
    pub facts: CertificateFacts,
}

/// How a certificate came to be issued, as recorded in `issued.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueKind {
    /// By redeeming an enrolment token.
    Enrolment,
    /// By renewing a valid certificate over a sync connection.
    Renewal,
    /// Directly on the relay's machine (`digione-relay operator-certificate`, tests).
    Local,
}

/// One line of `issued.log`: a certificate the authority issued. The fleet view uses it to list
/// nodes that enrolled but never connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedRecord {
    pub node: NodeId,
    pub role: Role,
    pub school: Option<SchoolCode>,
    pub municipality: Option<MunicipalityCode>,
    /// The serial number as lowercase hexadecimal, as [`CertificateFacts::serial_hex`] gives it.
    pub serial: String,
    /// Seconds since the Unix epoch.
    pub issued_unix: i64,
    /// Seconds since the Unix epoch (the issue time less [`CLOCK_SKEW_ALLOWANCE`]).
    pub not_before_unix: i64,
    /// Seconds since the Unix epoch.
    pub not_after_unix: i64,
    pub kind: IssueKind,
    /// The enrolment token redeemed, for enrolments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl IssuedRecord {
    /// The identity the certificate names.
    pub fn identity(&self) -> FleetIdentity {
        FleetIdentity {
            node: self.node.clone(),
            role: self.role,
            school: self.school.clone(),
            municipality: self.municipality.clone(),
        }
    }

    /// What the certificate says, as [`certificate_facts`] would read it from the certificate.
    pub fn facts(&self) -> CertificateFacts {
        CertificateFacts {
            identity: self.identity(),
            not_before_unix: self.not_before_unix,
            not_after_unix: self.not_after_unix,
            serial_hex: self.serial.clone(),
        }
    }
}

/// One revoked node, as read back from `revoked/<node-id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub node: NodeId,
    /// Seconds since the Unix epoch; `None` when the file does not start with a time (for example
    /// when an operator created it by hand).
    pub revoked_unix: Option<i64>,
    pub reason: String,
}

/// What `tokens/<id>.json` holds. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TokenRecord {
    role: Role,
    school: Option<SchoolCode>,
    municipality: Option<MunicipalityCode>,
    node: Option<NodeId>,
    issued_unix: i64,
    expires_unix: i64,
    /// SHA-256 of the secret's text (its hexadecimal digits), as lowercase hexadecimal.
    secret_sha256: String,
}

/// The fleet certificate authority. Cheap to clone: the CA itself is shared behind an `Arc`.
#[derive(Clone)]
pub struct Authority {
    shared: Arc<Shared>,
    certificate_lifetime: Duration,
}

struct Shared {
    directory: PathBuf,
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    ca_sha256: [u8; 32],
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Authority {
    /// Never shows the key.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Authority")
            .field("directory", &self.shared.directory)
            .field("ca_sha256", &hex::encode(self.shared.ca_sha256))
            .field("certificate_lifetime", &self.certificate_lifetime)
            .finish()
    }
}

impl Authority {
    /// Creates a new fleet CA in `directory`: an ECDSA P-256 key and a self-signed CA certificate
    /// valid for [`CA_LIFETIME`] that may sign end-entity certificates only (path length 0).
    /// Refuses when a CA already exists there, because replacing it would strand every node.
    pub fn init(directory: &Path, now: SystemTime) -> Result<Authority, AuthorityError> {
        create_private_dir(directory)?;
        let key_path = directory.join(CA_KEY_FILE);
        let certificate_path = directory.join(CA_CERTIFICATE_FILE);
        if exists(&key_path)? || exists(&certificate_path)? {
            return Err(AuthorityError::AlreadyInitialised {
                directory: directory.to_owned(),
            });
        }

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, CA_COMMON_NAME);
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        params.not_before = validity_start(now).into();
        params.not_after = checked_add(now, CA_LIFETIME)?.into();
        let certificate = params.self_signed(&key)?;

        // The key is published first: should the process die before the certificate is written,
        // `open` reports the directory as incomplete and `init` still refuses, rather than a second
        // `init` silently creating a different CA next to a certificate some node may have pinned.
        let published =
            write_new_file(&key_path, key.serialize_pem().as_bytes(), PRIVATE_FILE_MODE).and_then(
                |()| {
                    write_new_file(
                        &certificate_path,
                        certificate.pem().as_bytes(),
                        PUBLIC_FILE_MODE,
                    )
                },
            );
        match published {
            Ok(()) => {}
            Err(AuthorityError::Io { source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                return Err(AuthorityError::AlreadyInitialised {
                    directory: directory.to_owned(),
                });
            }
            Err(error) => return Err(error),
        }
        Self::open(directory)
    }

    /// Opens the CA in `directory`, as `init` left it.
    pub fn open(directory: &Path) -> Result<Authority, AuthorityError> {
        let key_path = directory.join(CA_KEY_FILE);
        let certificate_path = directory.join(CA_CERTIFICATE_FILE);
        let key_exists = exists(&key_path)?;
        let certificate_exists = exists(&certificate_path)?;
        if !key_exists && !certificate_exists {
            return Err(AuthorityError::NotInitialised {
                directory: directory.to_owned(),
            });
        }
        if !key_exists || !certificate_exists {
            let missing = if key_exists {
                &certificate_path
            } else {
                &key_path
            };
            return Err(AuthorityError::Corrupt {
                path: missing.clone(),
                reason: "it is missing while the rest of the authority exists".into(),
            });
        }
        warn_if_readable_by_others(&key_path);

        let ca_pem = fs::read_to_string(&certificate_path)
            .map_err(io_error("read the CA certificate", &certificate_path))?;
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|error| {
            AuthorityError::Corrupt {
                path: certificate_path.clone(),
                reason: format!("no PEM certificate in it ({error})"),
            }
        })?;
        let key_pem =
            fs::read_to_string(&key_path).map_err(io_error("read the CA key", &key_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|error| AuthorityError::Corrupt {
            path: key_path.clone(),
            reason: format!("not a PKCS#8 PEM private key ({error})"),
        })?;

        // A key that does not belong to the certificate would sign certificates no node accepts.
        let (_, parsed) = x509_parser::parse_x509_certificate(&ca_der).map_err(|error| {
            AuthorityError::Corrupt {
                path: certificate_path.clone(),
                reason: format!("the certificate cannot be parsed ({error})"),
            }
        })?;
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(AuthorityError::Corrupt {
                path: key_path,
                reason: format!(
                    "this key does not belong to the certificate in {CA_CERTIFICATE_FILE}"
                ),
            });
        }

        let issuer =
            Issuer::from_ca_cert_der(&ca_der, key).map_err(|error| AuthorityError::Corrupt {
                path: certificate_path.clone(),
                reason: format!("not usable as an issuer ({error})"),
            })?;
        for subdirectory in [
            directory.join(TOKENS_DIR),
            directory.join(TOKENS_DIR).join(USED_TOKENS_DIR),
            directory.join(REVOKED_DIR),
        ] {
            create_private_dir(&subdirectory)?;
        }
        let ca_sha256 = Sha256::digest(&ca_der).into();
        Ok(Authority {
            shared: Arc::new(Shared {
                directory: directory.to_owned(),
                ca_der,
                ca_pem,
                ca_sha256,
                issuer,
            }),
            certificate_lifetime: DEFAULT_CERTIFICATE_LIFETIME,
        })
    }

    /// The same authority, issuing certificates valid for `lifetime` (the configuration's
    /// `certificates.node_lifetime_days`).
    pub fn with_certificate_lifetime(mut self, lifetime: Duration) -> Self {
        self.certificate_lifetime = lifetime;
        self
    }

    /// How long the certificates this authority issues are valid.
    pub fn certificate_lifetime(&self) -> Duration {
        self.certificate_lifetime
    }

    /// The authority directory.
    pub fn directory(&self) -> &Path {
        &self.shared.directory
    }

    /// The CA certificate, DER.
    pub fn ca_certificate_der(&self) -> &[u8] {
        &self.shared.ca_der
    }

    /// The CA certificate, as rustls takes it.
    pub fn ca_certificate(&self) -> CertificateDer<'static> {
        self.shared.ca_der.clone()
    }

    /// The CA certificate, PEM, as `ca.pem` holds it.
    pub fn ca_certificate_pem(&self) -> &str {
        &self.shared.ca_pem
    }

    /// The SHA-256 of the CA certificate's DER: what enrolment tokens carry, so a node can check
    /// the relay before trusting it.
    pub fn ca_sha256(&self) -> [u8; 32] {
        self.shared.ca_sha256
    }

    /// Issues a single-use enrolment token. Only the SHA-256 of its secret is stored; the token
    /// itself exists only in the return value, so print it once and never log it.
    pub fn issue_token(
        &self,
        request: TokenRequest,
        now: SystemTime,
    ) -> Result<EnrolmentToken, AuthorityError> {
        if request.valid_for < MIN_TOKEN_LIFETIME || request.valid_for > MAX_TOKEN_LIFETIME {
            return Err(AuthorityError::InvalidRequest(format!(
                "a token must be valid for {} to {}, not {}",
                humantime::format_duration(MIN_TOKEN_LIFETIME),
                humantime::format_duration(MAX_TOKEN_LIFETIME),
                humantime::format_duration(request.valid_for)
            )));
        }
        // The identity the token will grant is checked now, with the node id it will get (or one
        // like it), so a token that could never be redeemed is never handed out.
        let node = match &request.node {
            Some(node) => node.clone(),
            None => new_node_id(request.role, request.school.as_ref())?,
        };
        let identity = FleetIdentity {
            node,
            role: request.role,
            school: request.school.clone(),
            municipality: request.municipality.clone(),
        };
        identity
            .validate()
            .map_err(|error| AuthorityError::InvalidRequest(error.to_string()))?;
        if let Some(node) = &request.node {
            self.refuse_if_revoked(node)?;
        }

        let id = hex::encode(random_bytes::<TOKEN_ID_BYTES>()?);
        let secret = hex::encode(random_bytes::<TOKEN_SECRET_BYTES>()?);
        let expires = checked_add(now, request.valid_for)?;
        let record = TokenRecord {
            role: request.role,
            school: request.school,
            municipality: request.municipality,
            node: request.node,
            issued_unix: unix_seconds(now),
            expires_unix: unix_seconds(expires),
            secret_sha256: hex::encode(secret_digest(&secret)),
        };
        let contents = serde_json::to_vec_pretty(&record)
            .map_err(|error| AuthorityError::InvalidRequest(error.to_string()))?;
        write_new_file(&self.token_path(&id), &contents, PRIVATE_FILE_MODE)?;
        Ok(EnrolmentToken {
            id,
            secret,
            ca_sha256: self.shared.ca_sha256,
        })
    }

    /// Checks that `token` is an unused token of this authority and that its secret is right, and
    /// changes nothing. This is what an enrolment request must show before it may cost the relay
    /// anything: it reads one small file and hashes the secret, while [`Authority::redeem_token`]
    /// goes on to rename files, flush directories and sign a certificate. An expired token passes
    /// (its holder knows the secret); redeeming it then reports the expiry and consumes it.
    ///
    /// A token that passes may still be refused by `redeem_token`, which checks everything again:
    /// another redemption may have used it in between.
    pub fn check_token(&self, token: &EnrolmentToken) -> Result<(), Refusal> {
        self.authenticated_token(token).map(|_| ())
    }

    /// Redeems an enrolment token for a certificate for the key in `csr_der`.
    ///
    /// The order of checks is deliberate. A wrong secret is refused before anything changes, so
    /// whoever guesses at tokens cannot use up someone else's. An expired token is consumed, since
    /// it can never be used again. A bad signing request leaves the token unused, so the node can
    /// retry with a correct one. The token is consumed (renamed into `tokens/used/`) before the
    /// certificate is signed, and that rename is what makes it single-use under concurrency.
    pub fn redeem_token(
        &self,
        token: &EnrolmentToken,
        csr_der: &[u8],
        now: SystemTime,
    ) -> Result<IssuedCertificate, Refusal> {
        let record = self.authenticated_token(token)?;

        if unix_seconds(now) >= record.expires_unix {
            match self.consume_token(&token.id) {
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not remove an expired token"),
            }
            return Err(Refusal::new(
                RefusalCode::TokenExpired,
                format!(
                    "the enrolment token expired at {}; ask the fleet operators for a new one",
                    format_unix(record.expires_unix)
                ),
            ));
        }

        let public_key = parse_signing_request(csr_der).map_err(Refusal::bad_request)?;

        if let Some(node) = &record.node {
            match self.is_revoked(node) {
                Ok(false) => {}
                Ok(true) => return Err(Refusal::revoked(node)),
                Err(error) => return Err(Refusal::internal(error)),
            }
        }

        match self.consume_token(&token.id) {
            Ok(true) => {}
            // Another redemption of the same token won the rename.
            Ok(false) => return Err(Refusal::token_invalid()),
            Err(error) => return Err(Refusal::internal(error)),
        }

        let node = match record.node {
            Some(node) => node,
            None => new_node_id(record.role, record.school.as_ref()).map_err(Refusal::internal)?,
        };
        let identity = FleetIdentity {
            node,
            role: record.role,
            school: record.school,
            municipality: record.municipality,
        };
        self.issue_for(
            &identity,
            &public_key,
            now,
            IssueKind::Enrolment,
            Some(token.id.clone()),
        )
        .map_err(Refusal::internal)
    }

    /// Issues a new certificate for `identity` (taken from the peer's current, verified
    /// certificate) and the new key in `csr_der`. Revoked nodes are refused.
    pub fn renew(
        &self,
        identity: &FleetIdentity,
        csr_der: &[u8],
        now: SystemTime,
    ) -> Result<IssuedCertificate, Refusal> {
        identity.validate().map_err(|error| {
            Refusal::new(
                RefusalCode::NotAllowed,
                format!("the current certificate's identity is not valid: {error}"),
            )
        })?;
        match self.is_revoked(&identity.node) {
            Ok(false) => {}
            Ok(true) => return Err(Refusal::revoked(&identity.node)),
            Err(error) => return Err(Refusal::internal(error)),
        }
        let public_key = parse_signing_request(csr_der).map_err(Refusal::bad_request)?;
        self.issue_for(identity, &public_key, now, IssueKind::Renewal, None)
            .map_err(Refusal::internal)
    }

    /// A fresh key and a server certificate for the relay, valid for the certificate lifetime, for
    /// `names` (DNS names, or IP addresses where a name parses as one). The chain is the leaf and
    /// then the CA. The server asks again before the certificate expires.
    pub fn server_certificate(
        &self,
        names: &[String],
        now: SystemTime,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), AuthorityError> {
        if names.is_empty() {
            return Err(AuthorityError::InvalidRequest(
                "a server certificate needs at least one name (`sync.server_names`)".into(),
            ));
        }
        let subject_alt_names = names
            .iter()
            .map(|name| match name.parse::<IpAddr>() {
                Ok(address) => Ok(SanType::IpAddress(address)),
                Err(_) => Ia5String::try_from(name.as_str())
                    .map(SanType::DnsName)
                    .map_err(|error| {
                        AuthorityError::InvalidRequest(format!(
                            "{name:?} cannot be a DNS name in a certificate: {error}"
                        ))
                    }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let params = self.end_entity_params(
            SERVER_COMMON_NAME,
            subject_alt_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            now,
        )?;
        let certificate = params.signed_by(&key, &self.shared.issuer)?;
        let chain = vec![certificate.der().clone(), self.shared.ca_der.clone()];
        let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((chain, private_key))
    }

    /// Issues a key and certificate for `identity` directly, without a token: for operator tooling
    /// and tests on the machine that holds the CA. Returns the certificate (DER) and the private
    /// key (PKCS#8 PEM). Recorded in `issued.log` like any other certificate.
    pub fn issue_local(
        &self,
        identity: &FleetIdentity,
        now: SystemTime,
    ) -> Result<(Vec<u8>, String), AuthorityError> {
        identity
            .validate()
            .map_err(|error| AuthorityError::InvalidRequest(error.to_string()))?;
        self.refuse_if_revoked(&identity.node)?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let issued = self.issue_for(identity, &key, now, IssueKind::Local, None)?;
        Ok((issued.certificate_der, key.serialize_pem()))
    }

    /// A new node id for a peer of `role`: `n-<school>-<8 hex>` for nodes, `op-<8 hex>` for
    /// operators.
    pub fn new_node_id(
        &self,
        role: Role,
        school: Option<&SchoolCode>,
    ) -> Result<NodeId, AuthorityError> {
        new_node_id(role, school)
    }

    /// Revokes `node`: from now on it cannot enrol again, renew, or (once the running relay has
    /// polled) connect. Idempotent: revoking a revoked node keeps the first record and returns
    /// `false`; a new revocation returns `true`. To undo one, delete `revoked/<node-id>`.
    pub fn revoke(
        &self,
        node: &NodeId,
        reason: &str,
        now: SystemTime,
    ) -> Result<bool, AuthorityError> {
        let path = self.revocation_path(node);
        if exists(&path)? {
            return Ok(false);
        }
        let contents = format!("{} {}\n", unix_seconds(now), single_line(reason));
        match write_new_file(&path, contents.as_bytes(), PUBLIC_FILE_MODE) {
            Ok(()) => Ok(true),
            Err(AuthorityError::Io { source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// Whether `node` is revoked.
    pub fn is_revoked(&self, node: &NodeId) -> Result<bool, AuthorityError> {
        exists(&self.revocation_path(node))
    }

    /// Every revoked node id. Files whose names are not node ids are logged and skipped, so a stray
    /// file never stops the relay.
    pub fn revoked_nodes(&self) -> Result<HashSet<NodeId>, AuthorityError> {
        Ok(self.revocation_files()?.into_keys().collect())
    }

    /// Every revocation with its time and reason, for the fleet view.
    pub fn revocations(&self) -> Result<Vec<Revocation>, AuthorityError> {
        let mut revocations = Vec::new();
        for (node, path) in self.revocation_files()? {
            let contents = match fs::read_to_string(&path) {
                Ok(contents) => contents,
                // Deleted (un-revoked) between the listing and the read.
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(io_error("read the revocation", &path)(error)),
            };
            let line = contents.lines().next().unwrap_or_default().trim();
            let (revoked_unix, reason) = match line.split_once(' ') {
                Some((time, reason)) if time.parse::<i64>().is_ok() => {
                    (time.parse::<i64>().ok(), reason.trim().to_owned())
                }
                _ => match line.parse::<i64>() {
                    Ok(time) => (Some(time), String::new()),
                    Err(_) => (None, line.to_owned()),
                },
            };
            revocations.push(Revocation {
                node,
                revoked_unix,
                reason,
            });
        }
        revocations.sort_by(|left, right| left.node.cmp(&right.node));
        Ok(revocations)
    }

    /// Every certificate issued, oldest first, as `issued.log` records them. A line that cannot be
    /// read (for example one torn by a crash mid-write) is logged and skipped.
    pub fn issued_certificates(&self) -> Result<Vec<IssuedRecord>, AuthorityError> {
        let path = self.shared.directory.join(ISSUED_LOG_FILE);
        let contents = match fs::read_to_string(&path) {
            Ok(contents) => contents,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error("read the issued log", &path)(error)),
        };
        let mut records = Vec::new();
        for (index, line) in contents.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<IssuedRecord>(line) {
                Ok(record) => records.push(record),
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    line = index + 1,
                    %error,
                    "skipping an unreadable line of the issued-certificate log"
                ),
            }
        }
        Ok(records)
    }

    /// The record of the unused token `token` names, once its secret is shown to be right; the
    /// cheap part of a redemption, shared by [`Authority::check_token`] and
    /// [`Authority::redeem_token`].
    fn authenticated_token(&self, token: &EnrolmentToken) -> Result<TokenRecord, Refusal> {
        if !is_token_id(&token.id) || token.ca_sha256 != self.shared.ca_sha256 {
            return Err(Refusal::token_invalid());
        }
        let token_path = self.token_path(&token.id);
        let record = match fs::read(&token_path) {
            Ok(bytes) => serde_json::from_slice::<TokenRecord>(&bytes).map_err(|error| {
                Refusal::internal(AuthorityError::Corrupt {
                    path: token_path.clone(),
                    reason: error.to_string(),
                })
            })?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(Refusal::token_invalid());
            }
            Err(error) => {
                return Err(Refusal::internal(io_error("read the token", &token_path)(
                    error,
                )));
            }
        };

        let mut stored_digest = [0u8; 32];
        hex::decode_to_slice(&record.secret_sha256, &mut stored_digest).map_err(|error| {
            Refusal::internal(AuthorityError::Corrupt {
                path: token_path.clone(),
                reason: format!("secret_sha256 is not a SHA-256 in hexadecimal ({error})"),
            })
        })?;
        let presented_digest = secret_digest(&token.secret);
        if !bool::from(presented_digest.ct_eq(&stored_digest)) {
            return Err(Refusal::token_invalid());
        }
        Ok(record)
    }

    fn token_path(&self, id: &str) -> PathBuf {
        self.shared
            .directory
            .join(TOKENS_DIR)
            .join(format!("{id}{TOKEN_FILE_SUFFIX}"))
    }

    fn revocation_path(&self, node: &NodeId) -> PathBuf {
        self.shared
            .directory
            .join(REVOKED_DIR)
            .join(node.to_string())
    }

    fn refuse_if_revoked(&self, node: &NodeId) -> Result<(), AuthorityError> {
        if self.is_revoked(node)? {
            return Err(AuthorityError::Revoked {
                node: node.clone(),
                path: self.revocation_path(node),
            });
        }
        Ok(())
    }

    fn revocation_files(
        &self,
    ) -> Result<std::collections::BTreeMap<NodeId, PathBuf>, AuthorityError> {
        let directory = self.shared.directory.join(REVOKED_DIR);
        let entries = match fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(error) => return Err(io_error("list revocations in", &directory)(error)),
        };
        let mut files = std::collections::BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(io_error("list revocations in", &directory))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(directory = %directory.display(), name = ?name, "ignoring a revocation file whose name is not a node id");
                continue;
            };
            if name.starts_with('.') {
                // A temporary file of a revocation being written.
                continue;
            }
            match name.parse::<NodeId>() {
                Ok(node) => {
                    files.insert(node, entry.path());
                }
                Err(error) => tracing::warn!(
                    directory = %directory.display(),
                    name,
                    %error,
                    "ignoring a revocation file whose name is not a node id"
                ),
            }
        }
        Ok(files)
    }

    /// Moves a token into `tokens/used/`. Returns `false` when the token was gone already, which
    /// is how a redemption learns that a concurrent one won.
    fn consume_token(&self, id: &str) -> Result<bool, AuthorityError> {
        let tokens = self.shared.directory.join(TOKENS_DIR);
        let used = tokens.join(USED_TOKENS_DIR);
        let from = self.token_path(id);
        let to = used.join(format!("{id}{TOKEN_FILE_SUFFIX}"));
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(io_error("consume the token", &from)(error)),
        }
        // The consumption must survive a crash before the certificate is handed out, or a token
        // could be redeemed twice; losing a token is the lesser harm.
        sync_directory(&tokens)?;
        sync_directory(&used)?;
        Ok(true)
    }

    /// Signs a certificate for `identity` and `public_key`, records it in `issued.log`, and only
    /// then returns it: a certificate the records do not show is never handed out.
    fn issue_for(
        &self,
        identity: &FleetIdentity,
        public_key: &impl PublicKeyData,
        now: SystemTime,
        kind: IssueKind,
        token: Option<String>,
    ) -> Result<IssuedCertificate, AuthorityError> {
        identity
            .validate()
            .map_err(|error| AuthorityError::InvalidRequest(error.to_string()))?;
        let subject_alt_names = identity
            .to_uris()
            .into_iter()
            .map(|uri| Ia5String::try_from(uri).map(SanType::URI))
            .collect::<Result<Vec<_>, _>>()?;
        let params = self.end_entity_params(
            &identity.node.to_string(),
            subject_alt_names,
            ExtendedKeyUsagePurpose::ClientAuth,
            now,
        )?;
        let certificate = params.signed_by(public_key, &self.shared.issuer)?;
        let certificate_der = certificate.der().to_vec();
        let facts = certificate_facts(&certificate_der).map_err(|error| {
            AuthorityError::InvalidRequest(format!(
                "the certificate just issued does not read back: {error}"
            ))
        })?;
        self.append_issued(&IssuedRecord {
            node: identity.node.clone(),
            role: identity.role,
            school: identity.school.clone(),
            municipality: identity.municipality.clone(),
            serial: facts.serial_hex.clone(),
            issued_unix: unix_seconds(now),
            not_before_unix: facts.not_before_unix,
            not_after_unix: facts.not_after_unix,
            kind,
            token,
        })?;
        tracing::info!(
            node = %identity.node,
            serial = %facts.serial_hex,
            kind = ?kind,
            "issued a certificate for {identity}"
        );
        Ok(IssuedCertificate {
            certificate_der,
            facts,
        })
    }

    /// Parameters shared by every end-entity certificate: everything is decided here, nothing is
    /// taken from a request.
    fn end_entity_params(
        &self,
        common_name: &str,
        subject_alt_names: Vec<SanType>,
        extended_key_usage: ExtendedKeyUsagePurpose,
        now: SystemTime,
    ) -> Result<CertificateParams, AuthorityError> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.subject_alt_names = subject_alt_names;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![extended_key_usage];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        params.not_before = validity_start(now).into();
        params.not_after = checked_add(now, self.certificate_lifetime)?.into();
        Ok(params)
    }

    fn append_issued(&self, record: &IssuedRecord) -> Result<(), AuthorityError> {
        let path = self.shared.directory.join(ISSUED_LOG_FILE);
        let mut line = serde_json::to_string(record)
            .map_err(|error| AuthorityError::InvalidRequest(error.to_string()))?;
        line.push('\n');
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        set_create_mode(&mut options, PUBLIC_FILE_MODE);
        let mut file = options
            .open(&path)
            .map_err(io_error("open the issued log", &path))?;
        // One write call per line: appends of a few hundred bytes from the CLI and the running
        // server do not interleave within a line.
        file.write_all(line.as_bytes())
            .map_err(io_error("append to the issued log", &path))?;
        file.sync_data()
            .map_err(io_error("flush the issued log", &path))
    }
}

/// Reads a PKCS#10 request, checking its signature, and keeps nothing of it but the public key.
/// Only ECDSA P-256, P-384 and Ed25519 keys are accepted: rustls verifies them all, and they leave
/// no room for weak RSA sizes.
fn parse_signing_request(csr_der: &[u8]) -> Result<rcgen::PublicKey, String> {
    let request =
        CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
            .map_err(|error| format!("it cannot be parsed or its signature is wrong ({error})"))?;
    let algorithm = request.public_key.algorithm();
    let accepted = [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ];
    if !accepted.contains(&algorithm) {
        return Err(format!(
            "its key type ({algorithm:?}) is not accepted; use an ECDSA P-256, P-384 or Ed25519 key"
        ));
    }
    // rcgen derives the key's algorithm from the request's signature algorithm. A P-256 key signing
    // with SHA-384, say, would be relabelled as P-384; comparing the key as the certificate would
    // carry it with the key as the request carries it catches that.
    let (_, parsed) =
        x509_parser::certification_request::X509CertificationRequest::from_der(csr_der)
            .map_err(|error| format!("it cannot be parsed ({error})"))?;
    if parsed.certification_request_info.subject_pki.raw
        != request.public_key.subject_public_key_info().as_slice()
    {
        return Err(
            "its key does not match its signature algorithm; sign P-256 keys with SHA-256 and P-384 keys with SHA-384".into(),
        );
    }
    Ok(request.public_key)
}

fn new_node_id(role: Role, school: Option<&SchoolCode>) -> Result<NodeId, AuthorityError> {
    let suffix = hex::encode(random_bytes::<NODE_ID_RANDOM_BYTES>()?);
    let text = match (role, school) {
        (Role::Node, Some(school)) => format!("n-{school}-{suffix}"),
        (Role::Node, None) => {
            return Err(AuthorityError::InvalidRequest(
                "a node belongs to a school: give its school code".into(),
            ));
        }
        (Role::Operator, _) => format!("op-{suffix}"),
    };
    text.parse().map_err(|error: sync_protocol::ids::IdError| {
        AuthorityError::InvalidRequest(error.to_string())
    })
}

/// SHA-256 of a token secret's text.
fn secret_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A token id is exactly what the token format allows; anything else never reaches a file path.
fn is_token_id(id: &str) -> bool {
    id.len() == TOKEN_ID_BYTES * 2
        && id
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

fn random_bytes<const COUNT: usize>() -> Result<[u8; COUNT], AuthorityError> {
    let mut bytes = [0u8; COUNT];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| AuthorityError::Random(error.to_string()))?;
    Ok(bytes)
}

fn random_serial() -> Result<SerialNumber, AuthorityError> {
    let mut bytes = random_bytes::<SERIAL_NUMBER_BYTES>()?;
    // A serial number is a positive integer; the top bit set would make it negative in DER.
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

fn validity_start(now: SystemTime) -> SystemTime {
    now.checked_sub(CLOCK_SKEW_ALLOWANCE).unwrap_or(UNIX_EPOCH)
}

fn checked_add(time: SystemTime, duration: Duration) -> Result<SystemTime, AuthorityError> {
    time.checked_add(duration).ok_or_else(|| {
        AuthorityError::InvalidRequest(format!(
            "{} after the given time is beyond what the system clock can represent",
            humantime::format_duration(duration)
        ))
    })
}

/// Seconds since the Unix epoch, negative before it.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs())
            .map(|seconds| -seconds)
            .unwrap_or(i64::MIN),
    }
}

fn format_unix(seconds: i64) -> String {
    match u64::try_from(seconds) {
        Ok(seconds) => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
        }
        Err(_) => format!("{seconds} (Unix time)"),
    }
}

/// A reason on one line (the file format is one line), without control characters, and bounded.
fn single_line(reason: &str) -> String {
    let cleaned: String = reason
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .take(MAX_REVOCATION_REASON_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "no reason given".to_owned()
    } else {
        cleaned.to_owned()
    }
}

fn exists(path: &Path) -> Result<bool, AuthorityError> {
    path.try_exists()
        .map_err(io_error("check whether this exists:", path))
}

/// Writes `contents` to a temporary file beside `path`, flushes it, and links it into place only if
/// `path` does not exist yet (an `AlreadyExists` error otherwise), then flushes the directory. A
/// reader sees either no file or the whole file, and a crash never leaves a partial one.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), AuthorityError> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = hex::encode(random_bytes::<8>()?);
    let temporary = directory.join(format!("{TEMPORARY_FILE_PREFIX}{file_name}.{suffix}"));

    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        set_create_mode(&mut options, mode);
        let mut file = options
            .open(&temporary)
            .map_err(io_error("create", &temporary))?;
        file.write_all(contents)
            .map_err(io_error("write", &temporary))?;
        file.sync_all().map_err(io_error("flush", &temporary))?;
        // A hard link, unlike a rename, fails when the target exists: the no-clobber publication
        // that keeps `ca init` and `revoke` from overwriting what is there.
        fs::hard_link(&temporary, path).map_err(io_error("create", path))
    })();
    let removed = fs::remove_file(&temporary);
    written?;
    if let Err(error) = removed {
        tracing::warn!(path = %temporary.display(), %error, "could not remove a temporary file");
    }
    sync_directory(directory)
}

/// Flushes a directory, so that a rename or link inside it survives a crash.
fn sync_directory(directory: &Path) -> Result<(), AuthorityError> {
    #[cfg(unix)]
    {
        File::open(directory)
            .and_then(|handle| handle.sync_all())
            .map_err(io_error("flush the directory", directory))
    }
    #[cfg(not(unix))]
    {
        let _ = directory;
        Ok(())
    }
}

fn create_private_dir(directory: &Path) -> Result<(), AuthorityError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(PRIVATE_DIR_MODE);
    }
    builder
        .create(directory)
        .map_err(io_error("create the directory", directory))
}

fn set_create_mode(options: &mut OpenOptions, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    {
        let _ = (options, mode);
    }
}

/// Warns when the CA key can be read by anyone but its owner. Only a warning: some secret stores
/// mount files with wider modes, and refusing to start would be worse than telling.
fn warn_if_readable_by_others(key_path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = fs::metadata(key_path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %key_path.display(),
                mode = format!("{:o}", metadata.permissions().mode() & 0o777),
                "the fleet CA key is readable by others than its owner; run `chmod 600` on it"
            );
        }
    }
    #[cfg(not(unix))]
    {
        let _ = key_path;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority() -> (tempfile::TempDir, Authority) {
        let directory = tempfile::tempdir().expect("tempdir");
        let authority =
            Authority::init(&directory.path().join("authority"), SystemTime::now()).expect("init");
        (directory, authority)
    }

    #[test]
    fn the_authority_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Authority>();
    }

    #[test]
    fn init_writes_a_private_key_and_open_reads_the_same_ca() {
        let (directory, authority) = authority();
        let authority_dir = directory.path().join("authority");
        let reopened = Authority::open(&authority_dir).expect("open");
        assert_eq!(reopened.ca_sha256(), authority.ca_sha256());
        assert_eq!(
            reopened.ca_sha256(),
            <[u8; 32]>::from(Sha256::digest(reopened.ca_certificate_der()))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(authority_dir.join(CA_KEY_FILE))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (_, ca) =
            x509_parser::parse_x509_certificate(authority.ca_certificate_der()).expect("parses");
        let constraints = ca.basic_constraints().expect("ok").expect("present").value;
        assert!(constraints.ca);
        assert_eq!(constraints.path_len_constraint, Some(0));
        assert_eq!(
            ca.subject()
                .iter_common_name()
                .next()
                .and_then(|name| name.as_str().ok()),
            Some(CA_COMMON_NAME)
        );
        // No temporary files are left behind.
        for entry in fs::read_dir(&authority_dir).expect("list") {
            let name = entry.expect("entry").file_name();
            assert!(!name.to_string_lossy().starts_with('.'), "{name:?}");
        }
    }

    #[test]
    fn open_without_init_says_what_to_run() {
        let directory = tempfile::tempdir().expect("tempdir");
        let error = Authority::open(directory.path()).expect_err("no CA");
        assert!(
            error.to_string().contains("digione-relay ca init"),
            "{error}"
        );
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let (directory, _) = authority();
        let authority_dir = directory.path().join("authority");
        let other = KeyPair::generate().expect("key");
        fs::write(authority_dir.join(CA_KEY_FILE), other.serialize_pem()).expect("write");
        let error = Authority::open(&authority_dir).expect_err("mismatch");
        assert!(matches!(error, AuthorityError::Corrupt { .. }), "{error}");
    }

    #[test]
    fn revocation_listing_skips_stray_files() {
        let (directory, authority) = authority();
        let node: NodeId = "n-30076-abcdef01".parse().expect("node");
        assert!(
            authority
                .revoke(&node, "stolen\nlaptop", SystemTime::now())
                .expect("revoke")
        );
        assert!(
            !authority
                .revoke(&node, "again", SystemTime::now())
                .expect("revoke")
        );
        let revoked_dir = directory.path().join("authority").join(REVOKED_DIR);
        fs::write(revoked_dir.join("Not A Node"), "x").expect("write");
        fs::write(revoked_dir.join(".tmp-something"), "x").expect("write");
        let revoked = authority.revoked_nodes().expect("list");
        assert_eq!(revoked, HashSet::from([node.clone()]));
        let revocations = authority.revocations().expect("list");
        assert_eq!(revocations.len(), 1);
        assert_eq!(revocations[0].reason, "stolen laptop");
        assert!(revocations[0].revoked_unix.is_some());
    }

    #[test]
    fn token_requests_are_checked_before_anything_is_written() {
        let (directory, authority) = authority();
        let now = SystemTime::now();
        let node_without_school = TokenRequest {
            role: Role::Node,
            school: None,
            municipality: Some("092".parse().expect("municipality")),
            node: None,
            valid_for: Duration::from_secs(3600),
        };
        assert!(matches!(
            authority.issue_token(node_without_school, now),
            Err(AuthorityError::InvalidRequest(_))
        ));
        let too_long = TokenRequest {
            role: Role::Operator,
            school: None,
            municipality: None,
            node: None,
            valid_for: MAX_TOKEN_LIFETIME + Duration::from_secs(1),
        };
        assert!(matches!(
            authority.issue_token(too_long, now),
            Err(AuthorityError::InvalidRequest(_))
        ));
        let operator_with_school = TokenRequest {
            role: Role::Operator,
            school: Some("30076".parse().expect("school")),
            municipality: None,
            node: None,
            valid_for: Duration::from_secs(3600),
        };
        assert!(authority.issue_token(operator_with_school, now).is_err());
        let tokens = fs::read_dir(directory.path().join("authority").join(TOKENS_DIR))
            .expect("list")
            .filter(|entry| {
                entry
                    .as_ref()
                    .map(|entry| entry.path().is_file())
                    .unwrap_or(false)
            })
            .count();
        assert_eq!(tokens, 0);
    }

    #[test]
    fn a_token_record_never_holds_the_secret() {
        let (directory, authority) = authority();
        let token = authority
            .issue_token(
                TokenRequest {
                    role: Role::Operator,
                    school: None,
                    municipality: None,
                    node: None,
                    valid_for: Duration::from_secs(3600),
                },
                SystemTime::now(),
            )
            .expect("token");
        let record = fs::read_to_string(
            directory
                .path()
                .join("authority")
                .join(TOKENS_DIR)
                .join(format!("{}.json", token.id)),
        )
        .expect("record");
        assert!(!record.contains(&token.secret));
        assert!(record.contains(&hex::encode(secret_digest(&token.secret))));
    }

    #[test]
    fn new_node_ids_follow_the_naming_scheme() {
        let school: SchoolCode = "30076".parse().expect("school");
        let node = new_node_id(Role::Node, Some(&school))
            .expect("id")
            .to_string();
        assert!(
            node.starts_with("n-30076-") && node.len() == "n-30076-".len() + 8,
            "{node}"
        );
        let operator = new_node_id(Role::Operator, None).expect("id").to_string();
        assert!(
            operator.starts_with("op-") && operator.len() == 11,
            "{operator}"
        );
    }

    #[test]
    fn revocation_reasons_are_one_bounded_line() {
        assert_eq!(single_line("a\nb\tc"), "a b c");
        assert_eq!(single_line("  \n "), "no reason given");
        assert_eq!(
            single_line(&"x".repeat(1000)).chars().count(),
            MAX_REVOCATION_REASON_CHARS
        );
    }
}
