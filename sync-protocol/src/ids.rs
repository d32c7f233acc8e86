//! Identities and scopes: parsed newtypes for everything that names a node, a document or a blob.
//!
//! Every identifier has one canonical text form. `FromStr` parses it and rejects anything else with a
//! [`IdError`] that says what was wrong, so a function that takes a `DocId` never sees a bad one.
//! On the wire the identifiers travel as their canonical text and are parsed again on decode.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a school code is five digits (for example 30076), got {0:?}")]
    SchoolCode(String),
    #[error("a municipality code is three digits (for example 092), got {0:?}")]
    MunicipalityCode(String),
    #[error("a scope is `national`, `municipality:NNN` or `school:NNNNN`, got {0:?}")]
    Scope(String),
    #[error(
        "a document id is `SCOPE/NAME` where NAME is 1 to {max} characters of a-z, 0-9, `.`, `_` and `-` \
         starting with a letter or digit, got {given:?}",
        max = DocId::MAX_NAME_LEN
    )]
    DocId { given: String },
    #[error(
        "a node id is 3 to 64 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit, got {0:?}"
    )]
    NodeId(String),
    #[error("a blob id is 64 lowercase hexadecimal digits (a SHA-256), got {0:?}")]
    BlobId(String),
}

/// Shortens untrusted input before it is echoed back in an error message.
fn excerpt(text: &str) -> String {
    const MAX_ECHO_CHARS: usize = 80;
    if text.chars().count() <= MAX_ECHO_CHARS {
        text.to_owned()
    } else {
        let mut shortened: String = text.chars().take(MAX_ECHO_CHARS).collect();
        shortened.push('…');
        shortened
    }
}

fn all_ascii_digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// A Finnish school number as used by Statistics Finland and MPASSid, five digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SchoolCode(String);

impl FromStr for SchoolCode {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        if all_ascii_digits(text, 5) {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::SchoolCode(excerpt(text)))
        }
    }
}

/// A Finnish municipality number, three digits (`091` Helsinki, `092` Vantaa, `049` Espoo).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MunicipalityCode(String);

impl FromStr for MunicipalityCode {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        if all_ascii_digits(text, 3) {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::MunicipalityCode(excerpt(text)))
        }
    }
}

/// Who may hold and write a document. Every document belongs to exactly one scope for its whole life,
/// and the scope is part of its id, so the relay can route and authorise from the id alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Scope {
    /// Shared by every school in the country; written only by the relay's operators.
    National,
    /// Shared by every school of one municipality.
    Municipality(MunicipalityCode),
    /// One school's own documents.
    School(SchoolCode),
}

impl FromStr for Scope {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        if text == "national" {
            return Ok(Scope::National);
        }
        let bad = || IdError::Scope(excerpt(text));
        match text.split_once(':') {
            Some(("municipality", code)) => {
                Ok(Scope::Municipality(code.parse().map_err(|_| bad())?))
            }
            Some(("school", code)) => Ok(Scope::School(code.parse().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }
}

/// A document: the scope it lives in and a name unique within that scope.
/// Canonical text: `school:30076/assignment-7b-2026-essay`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocId {
    scope: Scope,
    name: String,
}

impl DocId {
    /// The longest name accepted, in bytes. Keeps ids cheap to send in offers and to use as keys.
    pub const MAX_NAME_LEN: usize = 96;

    pub fn new(scope: Scope, name: &str) -> Result<Self, IdError> {
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_NAME_LEN
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.bytes().all(|byte| {
                byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"._-".contains(&byte)
            });
        if valid {
            Ok(Self {
                scope,
                name: name.to_owned(),
            })
        } else {
            Err(IdError::DocId {
                given: excerpt(&format!("{scope}/{name}")),
            })
        }
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for DocId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        let bad = || IdError::DocId {
            given: excerpt(text),
        };
        let (scope, name) = text.split_once('/').ok_or_else(bad)?;
        let scope: Scope = scope.parse().map_err(|_| bad())?;
        DocId::new(scope, name).map_err(|_| bad())
    }
}

/// A node of the fleet, or the relay itself. Assigned at enrolment and named in its certificate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

impl NodeId {
    /// The id the relay uses for itself in `Hello`. Valid by construction (see `FromStr`).
    pub const RELAY: &'static str = "relay";

    /// The relay's id, [`Self::RELAY`].
    pub fn relay() -> Self {
        Self(Self::RELAY.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        let bytes = text.as_bytes();
        let valid = (3..=64).contains(&bytes.len())
            && bytes
                .iter()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-';
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::NodeId(excerpt(text)))
        }
    }
}

/// A file's content address: the SHA-256 of its bytes. Files never live inside CRDT documents;
/// documents refer to them by this id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The id of the given content.
    pub fn of_content(content: &[u8]) -> Self {
        Self(Sha256::digest(content).into())
    }
}

impl FromStr for BlobId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        let bad = || IdError::BlobId(excerpt(text));
        if text.len() != 64
            || !text
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (index, pair) in text.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            bytes[index] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0
            .iter()
            .try_for_each(|byte| write!(formatter, "{byte:02x}"))
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "BlobId({self})")
    }
}

impl fmt::Display for SchoolCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::National => formatter.write_str("national"),
            Scope::Municipality(code) => write!(formatter, "municipality:{code}"),
            Scope::School(code) => write!(formatter, "school:{code}"),
        }
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.scope, self.name)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The serde bridges: every text identifier is sent as its canonical string and parsed on the way in.
macro_rules! string_conversions {
    ($($type:ty),*) => {$(
        impl TryFrom<String> for $type {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                text.parse()
            }
        }
        impl From<$type> for String {
            fn from(id: $type) -> String {
                id.to_string()
            }
        }
    )*};
}
string_conversions!(SchoolCode, MunicipalityCode, Scope, DocId, NodeId);

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_round_trip<T: FromStr + fmt::Display>(text: &str)
    where
        T::Err: fmt::Debug,
    {
        let parsed: T = text.parse().expect("valid id");
        assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn canonical_forms_round_trip() {
        check_round_trip::<SchoolCode>("30076");
        check_round_trip::<MunicipalityCode>("092");
        check_round_trip::<Scope>("national");
        check_round_trip::<Scope>("municipality:092");
        check_round_trip::<Scope>("school:30076");
        check_round_trip::<DocId>("school:30076/assignment-7b-2026.essay_1");
        check_round_trip::<DocId>("national/service-catalogue");
        check_round_trip::<NodeId>("node-30076-a1");
        check_round_trip::<BlobId>(&"ab".repeat(32));
    }

    #[test]
    fn bad_strings_get_errors_that_name_the_input_and_the_rule() {
        let cases: &[(&str, Result<(), IdError>)] = &[
            ("3007", "3007".parse::<SchoolCode>().map(drop)),
            ("30O76", "30O76".parse::<SchoolCode>().map(drop)),
            ("92", "92".parse::<MunicipalityCode>().map(drop)),
            ("city:092", "city:092".parse::<Scope>().map(drop)),
            ("school:1", "school:1".parse::<Scope>().map(drop)),
            ("school:30076", "school:30076".parse::<DocId>().map(drop)),
            ("school:30076/", "school:30076/".parse::<DocId>().map(drop)),
            (
                "school:30076/Big",
                "school:30076/Big".parse::<DocId>().map(drop),
            ),
            (
                "school:30076/-x",
                "school:30076/-x".parse::<DocId>().map(drop),
            ),
            (
                "school:30076/a/b",
                "school:30076/a/b".parse::<DocId>().map(drop),
            ),
            ("-node", "-node".parse::<NodeId>().map(drop)),
            ("no", "no".parse::<NodeId>().map(drop)),
            ("xyz", "xyz".parse::<BlobId>().map(drop)),
        ];
        for (input, result) in cases {
            let error = result.clone().expect_err(input);
            let message = error.to_string();
            assert!(
                message.contains(&format!("{input:?}")),
                "{message} should quote {input:?}"
            );
        }
    }

    #[test]
    fn a_document_name_longer_than_the_bound_is_refused_and_not_echoed_in_full() {
        let name = "a".repeat(DocId::MAX_NAME_LEN + 1);
        let error = DocId::new(Scope::National, &name).expect_err("too long");
        assert!(error.to_string().len() < 400);
        assert!(DocId::new(Scope::National, &name[1..]).is_ok());
    }

    #[test]
    fn blob_ids_are_sha256_of_the_content() {
        let id = BlobId::of_content(b"abc");
        assert_eq!(
            id.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
