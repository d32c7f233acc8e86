//! Who a certificate names, and what that entitles its holder to.
//!
//! The fleet certificate authority (in the relay) writes a peer's identity into its certificate as
//! subject alternative names of the form `urn:digione:<field>:<value>`, and every decision about
//! scopes is made from that identity alone, never from what a peer says about itself. This module is
//! the only place that knows the encoding.

use std::fmt;
use std::str::FromStr;

use sync_protocol::ids::{DocId, IdError, MunicipalityCode, NodeId, SchoolCode, Scope};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The URN prefix of every identity field written into a certificate.
const URN_PREFIX: &str = "urn:digione:";

/// What kind of peer a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A school's node: reads and writes its school and municipality, reads national documents.
    Node,
    /// Central operations: writes the national scope, or one municipality's when the certificate
    /// names a municipality.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Operator => "operator",
        }
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(text: &str) -> Result<Self, IdentityError> {
        match text {
            "node" => Ok(Role::Node),
            "operator" => Ok(Role::Operator),
            other => Err(IdentityError::Invalid(format!(
                "role must be `node` or `operator`, got {other:?}"
            ))),
        }
    }
}

/// The identity a fleet certificate vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FleetIdentity {
    pub node: NodeId,
    pub role: Role,
    /// Set for nodes; never for operators.
    pub school: Option<SchoolCode>,
    /// Set for nodes, and for operators of one municipality.
    pub municipality: Option<MunicipalityCode>,
}

/// The scopes a peer may read (the relay sends them) and write (the relay accepts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeGrant {
    pub readable: Vec<Scope>,
    pub writable: Vec<Scope>,
    /// Writable scopes in which only the documents whose name starts with the prefix may be
    /// written; a writable scope not named here may be written whole. A school's node writes in its
    /// municipality's scope only the documents named for its school
    /// ([`school_document_prefix`]): what the municipality publishes to all its schools (its
    /// announcements) is written by the municipality's operators alone, so that whoever holds one
    /// school's node cannot speak for the municipality.
    pub writable_only_named: Vec<(Scope, String)>,
}

impl ScopeGrant {
    /// True when the holder may write `doc`.
    pub fn may_write(&self, doc: &DocId) -> bool {
        if !self.writable.contains(doc.scope()) {
            return false;
        }
        let mut prefixes = self
            .writable_only_named
            .iter()
            .filter(|(scope, _)| scope == doc.scope())
            .peekable();
        prefixes.peek().is_none()
            || prefixes.any(|(_, prefix)| doc.name().starts_with(prefix.as_str()))
    }
}

/// The start of the name of every document a school's node may write in its municipality's scope:
/// `school-<code>.`, e.g. `municipality:092/school-30076.menu`. Every school of the municipality
/// reads such a document; only its school writes it.
pub fn school_document_prefix(school: &SchoolCode) -> String {
    format!("school-{school}.")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("the certificate could not be parsed: {0}")]
    Unparsable(String),
    #[error("the certificate names no DigiOne identity (no `urn:digione:node:` name)")]
    Missing,
    #[error("the certificate's DigiOne identity is invalid: {0}")]
    Invalid(String),
}

impl From<IdError> for IdentityError {
    fn from(error: IdError) -> Self {
        IdentityError::Invalid(error.to_string())
    }
}

impl FleetIdentity {
    /// A school node's identity.
    pub fn node(node: NodeId, school: SchoolCode, municipality: MunicipalityCode) -> Self {
        Self {
            node,
            role: Role::Node,
            school: Some(school),
            municipality: Some(municipality),
        }
    }

    /// Checks the combination of fields: a node belongs to one school of one municipality; an
    /// operator to no school.
    pub fn validate(&self) -> Result<(), IdentityError> {
        match (self.role, &self.school, &self.municipality) {
            (Role::Node, Some(_), Some(_)) => Ok(()),
            (Role::Node, _, _) => Err(IdentityError::Invalid(
                "a node certificate must name both a school and a municipality".into(),
            )),
            (Role::Operator, None, _) => Ok(()),
            (Role::Operator, Some(_), _) => Err(IdentityError::Invalid(
                "an operator certificate names no school".into(),
            )),
        }
    }

    /// What the holder of this identity may read and write.
    pub fn scopes(&self) -> ScopeGrant {
        match (self.role, &self.school, &self.municipality) {
            (Role::Node, Some(school), Some(municipality)) => {
                let own = vec![
                    Scope::School(school.clone()),
                    Scope::Municipality(municipality.clone()),
                ];
                let mut readable = own.clone();
                readable.push(Scope::National);
                ScopeGrant {
                    readable,
                    writable: own,
                    writable_only_named: vec![(
                        Scope::Municipality(municipality.clone()),
                        school_document_prefix(school),
                    )],
                }
            }
            (Role::Operator, None, Some(municipality)) => ScopeGrant {
                readable: vec![Scope::Municipality(municipality.clone()), Scope::National],
                writable: vec![Scope::Municipality(municipality.clone())],
                writable_only_named: Vec::new(),
            },
            (Role::Operator, None, None) => ScopeGrant {
                readable: vec![Scope::National],
                writable: vec![Scope::National],
                writable_only_named: Vec::new(),
            },
            // Rejected by `validate`, which every constructor from untrusted input runs; a grant of
            // nothing is the safe answer for anything else.
            _ => ScopeGrant {
                readable: Vec::new(),
                writable: Vec::new(),
                writable_only_named: Vec::new(),
            },
        }
    }

    /// The subject alternative names that encode this identity in a certificate.
    pub fn to_uris(&self) -> Vec<String> {
        let mut uris = vec![
            format!("{URN_PREFIX}node:{}", self.node),
            format!("{URN_PREFIX}role:{}", self.role.as_str()),
        ];
        if let Some(school) = &self.school {
            uris.push(format!("{URN_PREFIX}school:{school}"));
        }
        if let Some(municipality) = &self.municipality {
            uris.push(format!("{URN_PREFIX}municipality:{municipality}"));
        }
        uris
    }

    /// Reads the identity back from subject alternative name URIs. Unknown `urn:digione:` fields
    /// and repeated fields are refused rather than guessed at.
    pub fn from_uris<'uri>(
        uris: impl IntoIterator<Item = &'uri str>,
    ) -> Result<Self, IdentityError> {
        let mut node = None;
        let mut role = None;
        let mut school = None;
        let mut municipality = None;
        for uri in uris {
            let Some(field) = uri.strip_prefix(URN_PREFIX) else {
                continue;
            };
            let (name, value) = field
                .split_once(':')
                .ok_or_else(|| IdentityError::Invalid(format!("malformed name {uri:?}")))?;
            let duplicate = match name {
                "node" => node.replace(value.parse::<NodeId>()?).is_some(),
                "role" => role.replace(value.parse::<Role>()?).is_some(),
                "school" => school.replace(value.parse::<SchoolCode>()?).is_some(),
                "municipality" => municipality
                    .replace(value.parse::<MunicipalityCode>()?)
                    .is_some(),
                other => {
                    return Err(IdentityError::Invalid(format!(
                        "unknown identity field {other:?}"
                    )));
                }
            };
            if duplicate {
                return Err(IdentityError::Invalid(format!(
                    "identity field {name:?} appears twice"
                )));
            }
        }
        let identity = Self {
            node: node.ok_or(IdentityError::Missing)?,
            role: role.ok_or_else(|| IdentityError::Invalid("no role".into()))?,
            school,
            municipality,
        };
        identity.validate()?;
        Ok(identity)
    }
}

impl fmt::Display for FleetIdentity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.role.as_str(), self.node)?;
        if let Some(school) = &self.school {
            write!(formatter, " of school {school}")?;
        }
        if let Some(municipality) = &self.municipality {
            write!(formatter, " in municipality {municipality}")?;
        }
        Ok(())
    }
}

/// What a parsed certificate says: whose it is, and its validity and serial for the fleet view and
/// revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    pub identity: FleetIdentity,
    /// Seconds since the Unix epoch.
    pub not_before_unix: i64,
    /// Seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// The serial number as lowercase hexadecimal.
    pub serial_hex: String,
}

/// Reads the identity and validity of a DER certificate. This does not verify anything: callers use
/// it on certificates that rustls already verified against the fleet CA, or on their own.
pub fn certificate_facts(der: &[u8]) -> Result<CertificateFacts, IdentityError> {
    let (_, certificate) = X509Certificate::from_der(der)
        .map_err(|error| IdentityError::Unparsable(error.to_string()))?;
    let names = certificate
        .subject_alternative_name()
        .map_err(|error| IdentityError::Unparsable(error.to_string()))?
        .ok_or(IdentityError::Missing)?;
    let uris = names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        });
    let identity = FleetIdentity::from_uris(uris)?;
    let validity = certificate.validity();
    Ok(CertificateFacts {
        identity,
        not_before_unix: validity.not_before.timestamp(),
        not_after_unix: validity.not_after.timestamp(),
        serial_hex: certificate.raw_serial_as_string().replace(':', ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn school_node() -> FleetIdentity {
        FleetIdentity::node(
            "n-30076-a1".parse().expect("node id"),
            "30076".parse().expect("school"),
            "092".parse().expect("municipality"),
        )
    }

    #[test]
    fn uris_round_trip() {
        let identity = school_node();
        let uris = identity.to_uris();
        let parsed = FleetIdentity::from_uris(uris.iter().map(String::as_str)).expect("parses");
        assert_eq!(parsed, identity);
    }

    #[test]
    fn a_node_writes_its_school_and_municipality_and_only_reads_national() {
        let grant = school_node().scopes();
        assert_eq!(
            grant.writable,
            vec![
                "school:30076".parse().expect("scope"),
                "municipality:092".parse().expect("scope")
            ]
        );
        assert!(grant.readable.contains(&Scope::National));
        assert!(!grant.writable.contains(&Scope::National));
    }

    #[test]
    fn in_its_municipality_a_node_writes_only_its_schools_documents() {
        let grant = school_node().scopes();
        let may_write = |doc: &str| grant.may_write(&doc.parse().expect("doc id"));
        assert!(may_write("school:30076/assignments"));
        assert!(may_write("municipality:092/school-30076.menu"));
        assert!(!may_write("municipality:092/announcements"));
        assert!(!may_write("municipality:092/school-30077.menu"));
        assert!(!may_write("municipality:092/school-300761.menu"));
        assert!(!may_write("school:30077/assignments"));
        assert!(!may_write("national/curriculum"));

        let operator = FleetIdentity {
            node: "op-092".parse().expect("node id"),
            role: Role::Operator,
            school: None,
            municipality: Some("092".parse().expect("municipality")),
        };
        assert!(
            operator
                .scopes()
                .may_write(&"municipality:092/announcements".parse().expect("doc id"))
        );
    }

    #[test]
    fn repeated_or_unknown_fields_are_refused() {
        let twice = [
            "urn:digione:node:n-1-a",
            "urn:digione:role:node",
            "urn:digione:school:30076",
            "urn:digione:school:30077",
            "urn:digione:municipality:092",
        ];
        assert!(matches!(
            FleetIdentity::from_uris(twice),
            Err(IdentityError::Invalid(_))
        ));
        let unknown = ["urn:digione:node:n-1-a", "urn:digione:admin:yes"];
        assert!(matches!(
            FleetIdentity::from_uris(unknown),
            Err(IdentityError::Invalid(_))
        ));
    }

    #[test]
    fn a_node_without_a_school_is_refused() {
        let uris = [
            "urn:digione:node:n-1-a",
            "urn:digione:role:node",
            "urn:digione:municipality:092",
        ];
        assert!(matches!(
            FleetIdentity::from_uris(uris),
            Err(IdentityError::Invalid(_))
        ));
    }
}
