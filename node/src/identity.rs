//! Which school this node serves, and whether it is enrolled with a relay.
//!
//! A node is initialised once, either standalone (`init --school S --municipality M`: it serves its
//! school at once and enrols later) or by enrolling (`init --token T --relay ADDR`: the certificate
//! names the school). `school.toml` in the data directory records the school either way; the
//! certificate, when there is one, must agree with it, so that a node can never start serving one
//! school's data under another school's scopes.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sync_protocol::ids::{MunicipalityCode, NodeId, SchoolCode, Scope};
use sync_transport::client;
use sync_transport::control::EnrolmentToken;
use sync_transport::identity::{CertificateFacts, Role};
use sync_transport::quic::QuicTuning;
use sync_transport::tls::{self, NodeCredentials};

use crate::config::NodeConfig;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "this node is not initialised: run `digione-node init --school CODE --municipality CODE` (standalone) or `digione-node init --token TOKEN --relay HOST:PORT`"
    )]
    NotInitialised,
    #[error("{path} is damaged: {reason}")]
    Damaged { path: String, reason: String },
    #[error(
        "this node serves school {existing}, but the {what} names school {requested}; use a fresh data directory for another school"
    )]
    OtherSchool {
        existing: SchoolCode,
        requested: SchoolCode,
        what: &'static str,
    },
    #[error("the certificate is for a {0}, not a school node")]
    NotANode(&'static str),
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("enrolment failed: {0}")]
    Enrolment(#[from] client::ClientError),
}

/// What `school.toml` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolRecord {
    pub school: SchoolCode,
    pub municipality: MunicipalityCode,
}

/// The node's identity as the running node uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub school: SchoolCode,
    pub municipality: MunicipalityCode,
    /// Set once enrolled.
    pub certificate: Option<CertificateFacts>,
}

impl NodeIdentity {
    pub fn school_scope(&self) -> Scope {
        Scope::School(self.school.clone())
    }

    pub fn municipality_scope(&self) -> Scope {
        Scope::Municipality(self.municipality.clone())
    }

    pub fn node_id(&self) -> Option<&NodeId> {
        self.certificate.as_ref().map(|facts| &facts.identity.node)
    }

    /// Reads `school.toml` and, when present, the certificate; they must agree.
    pub fn load(config: &NodeConfig) -> Result<Self, IdentityError> {
        let path = config.school_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(IdentityError::NotInitialised);
            }
            Err(error) => {
                return Err(IdentityError::Damaged {
                    path: path.display().to_string(),
                    reason: error.to_string(),
                });
            }
        };
        let record: SchoolRecord =
            toml::from_str(&text).map_err(|error| IdentityError::Damaged {
                path: path.display().to_string(),
                reason: error.to_string(),
            })?;
        let certificate = if NodeCredentials::exist(&config.identity_dir()) {
            let credentials = NodeCredentials::load(&config.identity_dir()).map_err(|error| {
                IdentityError::Damaged {
                    path: config.identity_dir().display().to_string(),
                    reason: error.to_string(),
                }
            })?;
            let facts = credentials
                .facts()
                .map_err(|error| IdentityError::Damaged {
                    path: config.identity_dir().display().to_string(),
                    reason: error.to_string(),
                })?;
            check_certificate_school(&record, &facts)?;
            Some(facts)
        } else {
            None
        };
        Ok(Self {
            school: record.school,
            municipality: record.municipality,
            certificate,
        })
    }

    /// `init --school S --municipality M`: a standalone node. Repeating it for the same school is
    /// harmless; another school is refused.
    pub fn init_standalone(
        config: &NodeConfig,
        school: SchoolCode,
        municipality: MunicipalityCode,
    ) -> Result<Self, IdentityError> {
        let record = SchoolRecord {
            school,
            municipality,
        };
        match Self::load(config) {
            Ok(existing) => {
                if existing.school != record.school {
                    return Err(IdentityError::OtherSchool {
                        existing: existing.school,
                        requested: record.school,
                        what: "command line",
                    });
                }
                Ok(existing)
            }
            Err(IdentityError::NotInitialised) => {
                write_school_record(config, &record)?;
                Self::load(config)
            }
            Err(error) => Err(error),
        }
    }

    /// `init --token T --relay ADDR`: enrols (a new node, a node whose certificate expired, or a
    /// replaced node rebuilding from the relay). The data directory may already hold the same
    /// school's data, which is kept.
    pub async fn init_enrolled(
        config: &NodeConfig,
        relay_address: &str,
        server_name: Option<&str>,
        token: &EnrolmentToken,
    ) -> Result<Self, IdentityError> {
        let existing = match Self::load(config) {
            Ok(existing) => Some(existing),
            Err(IdentityError::NotInitialised) => None,
            Err(error) => return Err(error),
        };
        // Enrol into a scratch directory first, so a refusal leaves the current identity intact.
        let scratch = config.data_dir.join("identity.enrolling");
        let _ = std::fs::remove_dir_all(&scratch);
        let facts = client::enrol(
            relay_address,
            server_name,
            token,
            &scratch,
            &QuicTuning::default(),
        )
        .await?;
        let identity = &facts.identity;
        if identity.role != Role::Node {
            return Err(IdentityError::NotANode(identity.role.as_str()));
        }
        let (Some(school), Some(municipality)) = (&identity.school, &identity.municipality) else {
            return Err(IdentityError::NotANode("node without a school"));
        };
        let record = SchoolRecord {
            school: school.clone(),
            municipality: municipality.clone(),
        };
        if let Some(existing) = &existing
            && existing.school != record.school
        {
            return Err(IdentityError::OtherSchool {
                existing: existing.school.clone(),
                requested: record.school,
                what: "enrolment token",
            });
        }
        let identity_dir = config.identity_dir();
        let _ = std::fs::remove_dir_all(&identity_dir);
        std::fs::rename(&scratch, &identity_dir).map_err(|error| IdentityError::Write {
            path: identity_dir.display().to_string(),
            reason: error.to_string(),
        })?;
        write_school_record(config, &record)?;
        Self::load(config)
    }
}

fn check_certificate_school(
    record: &SchoolRecord,
    facts: &CertificateFacts,
) -> Result<(), IdentityError> {
    match &facts.identity.school {
        Some(school) if *school == record.school => Ok(()),
        Some(school) => Err(IdentityError::OtherSchool {
            existing: record.school.clone(),
            requested: school.clone(),
            what: "certificate",
        }),
        None => Err(IdentityError::NotANode(facts.identity.role.as_str())),
    }
}

fn write_school_record(config: &NodeConfig, record: &SchoolRecord) -> Result<(), IdentityError> {
    let path = config.school_file();
    let failed = |reason: String| IdentityError::Write {
        path: path.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(&config.data_dir).map_err(|error| failed(error.to_string()))?;
    let text = toml::to_string(record).map_err(|error| failed(error.to_string()))?;
    tls::write_atomically(&path, text.as_bytes(), false).map_err(|error| failed(error.to_string()))
}

/// True when `dir` looks like a node data directory that has been initialised.
pub fn is_initialised(dir: &Path) -> bool {
    dir.join("school.toml").exists()
}
