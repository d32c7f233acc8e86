//! TLS for both sides, always TLS 1.3 with the ring provider, always pinned to the fleet CA.
//!
//! - The relay offers client authentication on every connection and verifies any certificate presented
//!   against the fleet CA (chain, validity period) and then against the revocation list, so an unknown
//!   CA, an expired or a revoked certificate fails the handshake. Client authentication is not
//!   mandatory at the TLS layer only because enrolment connections (ALPN [`crate::ALPN_ENROL`]) come
//!   from nodes that have no certificate yet; the relay closes a sync connection without a
//!   certificate before reading anything from it.
//! - A node with credentials trusts only the fleet CA. A node enrolling trusts only a server whose
//!   chain contains the CA named by the SHA-256 in its token.

use std::fmt::Debug;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use sync_protocol::ids::NodeId;

use crate::identity::{CertificateFacts, certificate_facts};
use crate::quic::QuicTuning;
use crate::{ALPN_ENROL, ALPN_SYNC};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS configuration failed: {0}")]
    Config(String),
    #[error("cannot read the node's credentials in {dir}: {reason}")]
    Credentials { dir: PathBuf, reason: String },
}

fn config_error(error: impl std::fmt::Display) -> TlsError {
    TlsError::Config(error.to_string())
}

/// The one crypto provider used everywhere, so that both sides agree on algorithms.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The SHA-256 of a DER certificate, as enrolment tokens pin the fleet CA.
pub fn certificate_sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// What the relay's handshake asks about revocations. The relay keeps the list current; a lookup
/// must be cheap, it runs inside every handshake.
pub trait RevocationList: Send + Sync + Debug {
    fn is_revoked(&self, node: &NodeId) -> bool;
}

/// The relay's client certificate check: the fleet CA's verdict first, then revocation.
#[derive(Debug)]
struct FleetClientVerifier {
    ca_verifier: Arc<dyn ClientCertVerifier>,
    revocations: Arc<dyn RevocationList>,
}

impl ClientCertVerifier for FleetClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca_verifier.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .ca_verifier
            .verify_client_cert(end_entity, intermediates, now)?;
        let facts = certificate_facts(end_entity).map_err(|error| {
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(error),
            )))
        })?;
        if self.revocations.is_revoked(&facts.identity.node) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca_verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca_verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.ca_verifier.supported_verify_schemes()
    }
}

/// The relay's QUIC server configuration: its own chain and key, the fleet CA for clients, both ALPNs.
pub fn relay_server_config(
    ca_der: &[u8],
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
    revocations: Arc<dyn RevocationList>,
    tuning: &QuicTuning,
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = crypto_provider();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(config_error)?;
    let ca_verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(config_error)?;
    let verifier = Arc::new(FleetClientVerifier {
        ca_verifier,
        revocations,
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(server_chain, server_key)
        .map_err(config_error)?;
    tls.alpn_protocols = vec![ALPN_SYNC.to_vec(), ALPN_ENROL.to_vec()];
    // 0-RTT data could be replayed; sync frames are not idempotent enough to allow that.
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).map_err(config_error)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(tuning.transport_config()));
    Ok(config)
}

/// A node's certificate, key and the fleet CA, as stored in its identity directory.
#[derive(Debug)]
pub struct NodeCredentials {
    pub certificate_der: Vec<u8>,
    pub key_pem: String,
    pub ca_der: Vec<u8>,
}

/// File names inside a node's identity directory.
pub const KEY_FILE: &str = "node.key";
pub const CERTIFICATE_FILE: &str = "node.pem";
pub const CA_FILE: &str = "ca.pem";

impl NodeCredentials {
    /// Reads the credentials written by [`Self::save`].
    pub fn load(dir: &Path) -> Result<Self, TlsError> {
        let failed = |reason: String| TlsError::Credentials {
            dir: dir.to_owned(),
            reason,
        };
        let certificate = CertificateDer::from_pem_file(dir.join(CERTIFICATE_FILE))
            .map_err(|error| failed(format!("{CERTIFICATE_FILE}: {error}")))?;
        let ca = CertificateDer::from_pem_file(dir.join(CA_FILE))
            .map_err(|error| failed(format!("{CA_FILE}: {error}")))?;
        let key_pem = fs::read_to_string(dir.join(KEY_FILE))
            .map_err(|error| failed(format!("{KEY_FILE}: {error}")))?;
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|error| failed(format!("{KEY_FILE}: {error}")))?;
        let credentials = Self {
            certificate_der: certificate.to_vec(),
            key_pem,
            ca_der: ca.to_vec(),
        };
        credentials
            .facts()
            .map_err(|error| failed(format!("{CERTIFICATE_FILE}: {error}")))?;
        Ok(credentials)
    }

    /// True when the directory holds a certificate (enrolled before).
    pub fn exist(dir: &Path) -> bool {
        dir.join(CERTIFICATE_FILE).exists()
    }

    /// Writes the three files, each replaced atomically, the key readable by its owner only. A crash
    /// between the key and the certificate leaves a new key beside the old certificate; the TLS
    /// handshake then fails and the node needs re-enrolment (documented in the node's guide), so the
    /// window is kept to two renames.
    pub fn save(&self, dir: &Path) -> Result<(), TlsError> {
        let failed = |reason: String| TlsError::Credentials {
            dir: dir.to_owned(),
            reason,
        };
        fs::create_dir_all(dir).map_err(|error| failed(error.to_string()))?;
        write_atomically(
            &dir.join(CA_FILE),
            pem_certificate(&self.ca_der).as_bytes(),
            false,
        )
        .map_err(|error| failed(format!("{CA_FILE}: {error}")))?;
        write_atomically(&dir.join(KEY_FILE), self.key_pem.as_bytes(), true)
            .map_err(|error| failed(format!("{KEY_FILE}: {error}")))?;
        write_atomically(
            &dir.join(CERTIFICATE_FILE),
            pem_certificate(&self.certificate_der).as_bytes(),
            false,
        )
        .map_err(|error| failed(format!("{CERTIFICATE_FILE}: {error}")))
    }

    pub fn facts(&self) -> Result<CertificateFacts, crate::identity::IdentityError> {
        certificate_facts(&self.certificate_der)
    }

    /// The QUIC client configuration for sync connections: this certificate, the fleet CA only.
    pub fn sync_client_config(&self, tuning: &QuicTuning) -> Result<quinn::ClientConfig, TlsError> {
        let provider = crypto_provider();
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .map_err(config_error)?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(config_error)?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config_error)?
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from(self.certificate_der.clone())],
                key,
            )
            .map_err(config_error)?;
        tls.alpn_protocols = vec![ALPN_SYNC.to_vec()];
        client_config(tls, tuning)
    }
}

fn client_config(
    tls: rustls::ClientConfig,
    tuning: &QuicTuning,
) -> Result<quinn::ClientConfig, TlsError> {
    let crypto = QuicClientConfig::try_from(tls).map_err(config_error)?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(tuning.transport_config()));
    Ok(config)
}

/// A certificate as PEM text.
pub fn pem_certificate(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

/// The QUIC client configuration for enrolment: no client certificate, and the server must chain
/// to the CA whose SHA-256 the token names.
pub fn enrolment_client_config(
    ca_sha256: [u8; 32],
    tuning: &QuicTuning,
) -> Result<quinn::ClientConfig, TlsError> {
    let provider = crypto_provider();
    let verifier = Arc::new(PinnedCaVerifier {
        ca_sha256,
        provider: provider.clone(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_ENROL.to_vec()];
    client_config(tls, tuning)
}

/// Accepts a server chain only if it contains the pinned CA certificate and verifies against it
/// with webpki, exactly as if that CA were the only trusted root.
#[derive(Debug)]
struct PinnedCaVerifier {
    ca_sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = intermediates
            .iter()
            .find(|certificate| certificate_sha256(certificate) == self.ca_sha256)
            .ok_or(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))?;
        let mut roots = RootCertStore::empty();
        roots.add(pinned.clone().into_owned())?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|error| rustls::Error::General(error.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A fresh ECDSA P-256 key and a certificate signing request for it. The relay ignores everything
/// in the request but the key, so the subject is a placeholder.
pub fn new_key_and_request() -> Result<(String, Vec<u8>), TlsError> {
    let key = rcgen::KeyPair::generate().map_err(config_error)?;
    let params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(config_error)?;
    let request = params.serialize_request(&key).map_err(config_error)?;
    Ok((key.serialize_pem(), request.der().to_vec()))
}

/// Writes a file by writing a temporary sibling, syncing it and renaming it over the target, so a
/// crash leaves either the old or the new content.
pub fn write_atomically(path: &Path, content: &[u8], private: bool) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(&temporary)?;
        file.write_all(content)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
