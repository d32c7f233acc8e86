//! The service catalogue and each school's activations: which digital services exist nationally,
//! and which of them a school uses and with which of its users' data.
//!
//! - `national/service-catalogue`: the services the relay's operators publish for the whole
//!   country (`digione-operator service publish`), synced read-only to every node. A service names
//!   its provider, category, protocol, redirect URIs, the claims it may ever receive, whether it
//!   works offline, and for an OpenID Connect client the SHA-256 of its client secret, never the
//!   secret itself (a node and the relay can check a secret but never reveal one).
//! - `school:S/service-activations`: the school administrator's choice of catalogue services,
//!   each with the subset of the service's allowed claims the school approves. A service receives
//!   a claim only when both the catalogue allows it and the school approved it, so the operators
//!   narrowing a service's claims takes effect at every school at once, and no school can hand a
//!   service more than the catalogue allows.
//!
//! The claims are a closed set ([`ReleasableClaim`]) on MPASSid's vocabulary, so a service
//! already connected to MPASSid reads the same attribute names from this node.

use std::collections::BTreeMap;
use std::net::IpAddr;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode, Scope};

use super::UserId;
use super::common::{ModelError, NodeTime, school_doc, scoped_doc, single_line, sourced_id};

/// Services in the national catalogue. A few hundred services exist in Finnish schools' use;
/// this leaves room while keeping the document, which every node holds, small.
pub const MAX_CATALOGUE_SERVICES: usize = 1_000;
/// Redirect URIs one OpenID Connect client may register (production, staging, a LAN install).
pub const MAX_REDIRECT_URIS_PER_SERVICE: usize = 10;
/// A service id: `[a-z0-9-]`, starting with a letter. It is also the OAuth `client_id`.
pub const MAX_SERVICE_ID_CHARS: usize = 40;
/// A service's display name.
pub const MAX_SERVICE_NAME_CHARS: usize = 100;
/// The name of the organisation that provides a service.
pub const MAX_PROVIDER_NAME_CHARS: usize = 100;
/// One redirect URI or launch URL. Real ones are well under 200 characters.
pub const MAX_SERVICE_URL_CHARS: usize = 512;
/// Hex digits of a SHA-256 digest.
pub const CLIENT_SECRET_SHA256_HEX_CHARS: usize = 64;
/// An LTI tool's public key as a JWK in JSON. An RSA key of 4096 bits takes under 800.
pub const MAX_TOOL_JWK_CHARS: usize = 2_048;
/// The smallest RSA modulus accepted for a tool's key, in bytes: 2048 bits, the IMS Security
/// Framework's minimum (section 6.1).
pub const MIN_TOOL_RSA_MODULUS_BYTES: usize = 256;
/// The largest RSA modulus accepted, in bytes (8192 bits), so that verifying stays cheap.
pub const MAX_TOOL_RSA_MODULUS_BYTES: usize = 1_024;

/// The document every node reads the catalogue from.
pub fn catalogue_doc() -> DocId {
    scoped_doc(Scope::National, "service-catalogue")
}

/// The school's activations of catalogue services.
pub fn activations_doc(school: &SchoolCode) -> DocId {
    school_doc(school, "service-activations")
}

/// Who published a service and how it is offered to schools.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceCategory {
    /// The platform's own tools.
    #[autosurgeon(rename = "own")]
    Own,
    /// Services every school is expected to use (nationally procured).
    #[autosurgeon(rename = "common")]
    Common,
    /// Services a school may choose.
    #[autosurgeon(rename = "optional")]
    Optional,
}

/// How a service is opened.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProtocol {
    /// An OpenID Connect relying party of the node's OpenID Provider (`crate::oidc`).
    #[autosurgeon(rename = "oidc")]
    Oidc,
    /// An LTI 1.3 tool, launched by the node as the LTI platform (`crate::lti`).
    #[autosurgeon(rename = "lti13")]
    Lti13,
    /// A plain link: no login, no data.
    #[autosurgeon(rename = "link")]
    Link,
}

/// The data a service may receive about a user, each named as the scope a service requests it
/// with. The MPASSid attribute names are those of MPASSid's data model (versions 1.0 to 1.3, as
/// the Finnish National Agency for Education publishes them: wiki.eduuni.fi, "MPASSid data
/// model 1.3", pageId 281776372, and "MPASSid-attribuuttien tarkistaminen"), which uses
/// `given_name` and `family_name` for names in OpenID Connect and `urn:mpass.id:*` names for the
/// rest. Each MPASSid attribute is its own scope (scope tokens may hold `:` and `.`, RFC 6749
/// section 3.3), so a service asks for exactly the attributes it needs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
)]
pub enum ReleasableClaim {
    /// `given_name` and `family_name` (the OpenID Connect `profile` scope, names only).
    #[serde(rename = "profile")]
    #[autosurgeon(rename = "profile")]
    Profile,
    /// `email`, when the roster has one.
    #[serde(rename = "email")]
    #[autosurgeon(rename = "email")]
    Email,
    /// The school's code from Statistics Finland (`urn:mpass.id:schoolCode`).
    #[serde(rename = "urn:mpass.id:schoolCode")]
    #[autosurgeon(rename = "urn:mpass.id:schoolCode")]
    SchoolCode,
    /// The municipality's code (`urn:mpass.id:municipalityCode`).
    #[serde(rename = "urn:mpass.id:municipalityCode")]
    #[autosurgeon(rename = "urn:mpass.id:municipalityCode")]
    MunicipalityCode,
    /// The user's class or teaching group (`urn:mpass.id:class`).
    #[serde(rename = "urn:mpass.id:class")]
    #[autosurgeon(rename = "urn:mpass.id:class")]
    Class,
    /// The pupil's grade, an integer (`urn:mpass.id:classLevel`).
    #[serde(rename = "urn:mpass.id:classLevel")]
    #[autosurgeon(rename = "urn:mpass.id:classLevel")]
    ClassLevel,
    /// The role string (`urn:mpass.id:role`).
    #[serde(rename = "urn:mpass.id:role")]
    #[autosurgeon(rename = "urn:mpass.id:role")]
    Role,
    /// Read the school's roster over the OneRoster 1.2 REST binding (`crate::oneroster`), with a
    /// client-credentials token: the orgs, academic sessions, courses, classes, users (pupils and
    /// staff, not guardians) and enrollments. Not a claim about one user but a release of the
    /// whole roster, so it is never granted to a login (the authorisation code flow refuses it);
    /// users' names and e-mail addresses in it still need `profile` and `email` approved. The
    /// scope URI is OneRoster 1.2's own (`roster-core.readonly`, "the core set of read
    /// operations").
    #[serde(rename = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly")]
    #[autosurgeon(rename = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly")]
    RosterCoreReadonly,
}

impl ReleasableClaim {
    pub const ALL: [ReleasableClaim; 8] = [
        ReleasableClaim::Profile,
        ReleasableClaim::Email,
        ReleasableClaim::SchoolCode,
        ReleasableClaim::MunicipalityCode,
        ReleasableClaim::Class,
        ReleasableClaim::ClassLevel,
        ReleasableClaim::Role,
        ReleasableClaim::RosterCoreReadonly,
    ];

    /// The scope value a service requests the claim with.
    pub fn scope(self) -> &'static str {
        match self {
            ReleasableClaim::Profile => "profile",
            ReleasableClaim::Email => "email",
            ReleasableClaim::SchoolCode => "urn:mpass.id:schoolCode",
            ReleasableClaim::MunicipalityCode => "urn:mpass.id:municipalityCode",
            ReleasableClaim::Class => "urn:mpass.id:class",
            ReleasableClaim::ClassLevel => "urn:mpass.id:classLevel",
            ReleasableClaim::Role => "urn:mpass.id:role",
            ReleasableClaim::RosterCoreReadonly => {
                "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
            }
        }
    }

    /// The claim names released for the scope.
    pub fn claim_names(self) -> &'static [&'static str] {
        match self {
            ReleasableClaim::Profile => &["given_name", "family_name"],
            ReleasableClaim::Email => &["email"],
            ReleasableClaim::SchoolCode => &["urn:mpass.id:schoolCode"],
            ReleasableClaim::MunicipalityCode => &["urn:mpass.id:municipalityCode"],
            ReleasableClaim::Class => &["urn:mpass.id:class"],
            ReleasableClaim::ClassLevel => &["urn:mpass.id:classLevel"],
            ReleasableClaim::Role => &["urn:mpass.id:role"],
            ReleasableClaim::RosterCoreReadonly => &[],
        }
    }

    /// Whether this is a OneRoster scope: granted to a service by the client credentials grant
    /// for reading the roster, never to a user's login.
    pub fn is_roster_scope(self) -> bool {
        matches!(self, ReleasableClaim::RosterCoreReadonly)
    }

    /// The claim a scope value names, if any.
    pub fn from_scope(scope: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|claim| claim.scope() == scope)
    }
}

/// One catalogued service.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct CatalogueService {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub category: ServiceCategory,
    pub protocol: ServiceProtocol,
    /// Exact redirect URIs (OpenID Connect clients), compared as strings: see
    /// [`validate_redirect_uri`].
    pub redirect_uris: Vec<String>,
    /// Where a plain link or an LTI tool is opened; for OpenID Connect clients, where the
    /// service's own login starts.
    pub launch_url: Option<String>,
    /// The most the service may ever receive, sorted, without duplicates.
    pub allowed_claims: Vec<ReleasableClaim>,
    /// Whether the service works without the internet (it runs on the school LAN, or offline).
    pub works_offline: bool,
    /// Lowercase hex SHA-256 of the client secret, for OpenID Connect clients only.
    pub client_secret_sha256: Option<String>,
    pub published_at: NodeTime,
    /// What an LTI 1.3 tool registers beyond the common fields; only for
    /// [`ServiceProtocol::Lti13`], where it is required. For a tool, `redirect_uris` are its
    /// launch (redirect) URIs and `launch_url` its default target link URI.
    pub lti: Option<LtiTool>,
}

/// An LTI 1.3 tool's registration (LTI Core 1.3 section 4.1 and the IMS Security Framework). The
/// tool's `client_id` is the service id, and its `deployment_id` at a school is the school's code,
/// so neither is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct LtiTool {
    /// Where the node starts a third-party-initiated login (OpenID Connect Core section 4).
    pub login_initiation_url: String,
    /// The tool's RSA public key, a JWK in canonical JSON: the node verifies the tool's client
    /// assertions and deep-linking responses with it offline, without fetching a key set.
    pub public_jwk: String,
    /// Where a teacher picks content (Deep Linking 2.0), when the tool offers it.
    pub deep_linking_url: Option<String>,
}

impl LtiTool {
    /// The tool's key for verifying what it signs. Valid by construction (checked at publish).
    pub fn decoding_key(&self) -> Result<jsonwebtoken::DecodingKey, ModelError> {
        let jwk = parse_tool_jwk(&self.public_jwk)?;
        jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|error| ModelError::Invalid {
            field: "tool public key",
            reason: error.to_string(),
        })
    }
}

impl CatalogueService {
    /// The claims a service receives at a school that approved `approved`: the intersection.
    pub fn releasable(&self, approved: &[ReleasableClaim]) -> Vec<ReleasableClaim> {
        self.allowed_claims
            .iter()
            .copied()
            .filter(|claim| approved.contains(claim))
            .collect()
    }
}

/// What an operator publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInput {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub category: ServiceCategory,
    pub protocol: ServiceProtocol,
    pub redirect_uris: Vec<String>,
    pub launch_url: Option<String>,
    pub allowed_claims: Vec<ReleasableClaim>,
    pub works_offline: bool,
    /// Required for [`ServiceProtocol::Oidc`], refused for the others.
    pub client_secret_sha256: Option<String>,
    /// Required for [`ServiceProtocol::Lti13`], refused for the others.
    pub lti: Option<LtiTool>,
}

/// The national catalogue, by service id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct CatalogueDocument {
    pub services: BTreeMap<String, CatalogueService>,
}

impl CatalogueDocument {
    /// Publishes a service, or replaces the one with the same id (a new secret, new URIs).
    /// Everything is validated before anything changes.
    pub fn publish(&mut self, input: ServiceInput, now: NodeTime) -> Result<(), ModelError> {
        let id = service_id(&input.id)?;
        if !self.services.contains_key(&id) && self.services.len() >= MAX_CATALOGUE_SERVICES {
            return Err(ModelError::LimitReached {
                what: "catalogue services",
                max: MAX_CATALOGUE_SERVICES,
            });
        }
        let name = single_line("name", &input.name, MAX_SERVICE_NAME_CHARS)?;
        let provider = single_line("provider", &input.provider, MAX_PROVIDER_NAME_CHARS)?;
        if input.redirect_uris.len() > MAX_REDIRECT_URIS_PER_SERVICE {
            return Err(ModelError::Invalid {
                field: "redirect URIs",
                reason: format!(
                    "{} given, at most {MAX_REDIRECT_URIS_PER_SERVICE} allowed",
                    input.redirect_uris.len()
                ),
            });
        }
        let mut redirect_uris = Vec::with_capacity(input.redirect_uris.len());
        for uri in &input.redirect_uris {
            let uri = validate_redirect_uri(uri)?;
            if !redirect_uris.contains(&uri) {
                redirect_uris.push(uri);
            }
        }
        let launch_url = match &input.launch_url {
            Some(url) => Some(validate_service_url("launch URL", url)?),
            None => None,
        };
        let mut allowed_claims = input.allowed_claims.clone();
        allowed_claims.sort();
        allowed_claims.dedup();
        let client_secret_sha256 = match (input.protocol, &input.client_secret_sha256) {
            (ServiceProtocol::Oidc, Some(hash)) => Some(secret_hash(hash)?),
            (ServiceProtocol::Oidc, None) => {
                return Err(ModelError::Empty {
                    field: "client secret hash",
                });
            }
            (_, Some(_)) => {
                return Err(ModelError::Invalid {
                    field: "client secret hash",
                    reason: "only OpenID Connect clients have a client secret".to_owned(),
                });
            }
            (_, None) => None,
        };
        match input.protocol {
            ServiceProtocol::Oidc if redirect_uris.is_empty() => {
                return Err(ModelError::Empty {
                    field: "redirect URIs",
                });
            }
            ServiceProtocol::Lti13 if redirect_uris.is_empty() => {
                return Err(ModelError::Empty {
                    field: "redirect URIs (the tool's launch URIs)",
                });
            }
            ServiceProtocol::Lti13 if launch_url.is_none() => {
                return Err(ModelError::Empty {
                    field: "launch URL (the tool's target link URI)",
                });
            }
            ServiceProtocol::Link if !redirect_uris.is_empty() => {
                return Err(ModelError::Invalid {
                    field: "redirect URIs",
                    reason: "only OpenID Connect clients and LTI tools have redirect URIs"
                        .to_owned(),
                });
            }
            ServiceProtocol::Link if launch_url.is_none() => {
                return Err(ModelError::Empty {
                    field: "launch URL",
                });
            }
            _ => {}
        }
        let lti = match (input.protocol, &input.lti) {
            (ServiceProtocol::Lti13, Some(tool)) => Some(validate_lti_tool(tool)?),
            (ServiceProtocol::Lti13, None) => {
                return Err(ModelError::Empty {
                    field: "LTI tool registration",
                });
            }
            (_, Some(_)) => {
                return Err(ModelError::Invalid {
                    field: "LTI tool registration",
                    reason: "only LTI 1.3 tools have one".to_owned(),
                });
            }
            (_, None) => None,
        };
        self.services.insert(
            id.clone(),
            CatalogueService {
                id,
                name,
                provider,
                category: input.category,
                protocol: input.protocol,
                redirect_uris,
                launch_url,
                allowed_claims,
                works_offline: input.works_offline,
                client_secret_sha256,
                published_at: now,
                lti,
            },
        );
        Ok(())
    }

    /// Removes a service from the catalogue; schools' activations of it stop working at once
    /// (the provider refuses a service that is not in the catalogue).
    pub fn withdraw(&mut self, id: &str) -> Result<CatalogueService, ModelError> {
        self.services
            .remove(id)
            .ok_or_else(|| ModelError::NotFound {
                what: "service",
                id: id.to_owned(),
            })
    }
}

/// A service id: 1 to [`MAX_SERVICE_ID_CHARS`] of `[a-z0-9-]`, starting with a letter. Plain so
/// that it can be a path segment and an OAuth `client_id` without any escaping.
pub fn service_id(value: &str) -> Result<String, ModelError> {
    if value.is_empty() {
        return Err(ModelError::Empty {
            field: "service id",
        });
    }
    let actual = value.chars().count();
    if actual > MAX_SERVICE_ID_CHARS {
        return Err(ModelError::TooLong {
            field: "service id",
            max: MAX_SERVICE_ID_CHARS,
            actual,
        });
    }
    let plain = value.as_bytes()[0].is_ascii_lowercase()
        && value
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !plain {
        return Err(ModelError::Invalid {
            field: "service id",
            reason: "use lowercase letters, digits and '-', starting with a letter".to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// The lowercase hex SHA-256 of a client secret, as the catalogue keeps it. A plain hash suffices
/// (no password hashing): the secret is 256 random bits from `digione-operator`, beyond guessing.
pub fn client_secret_sha256(secret: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

fn secret_hash(value: &str) -> Result<String, ModelError> {
    let valid = value.len() == CLIENT_SECRET_SHA256_HEX_CHARS
        && value
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(ModelError::Invalid {
            field: "client secret hash",
            reason: "expected 64 lowercase hex digits (SHA-256)".to_owned(),
        })
    }
}

/// A redirect URI a service may register: an absolute URL in its canonical form (so that the
/// exact string comparison of the authorisation request, RFC 9700 section 4.1.3, cannot be
/// dodged by an equivalent spelling), without a fragment (RFC 6749 section 3.1.2) or user
/// information, and `https`, except that plain `http` is accepted for a host on the school's own
/// network: a loopback or private IP address (10/8, 172.16/12, 192.168/16, fc00::/7) or
/// `localhost`. Services that run on the school LAN without a certificate (the reason the node
/// works offline) need that; the authorisation code they receive is bound to their PKCE verifier
/// and client secret, so intercepting it on the LAN gives nothing.
pub fn validate_redirect_uri(value: &str) -> Result<String, ModelError> {
    let url = parse_service_url("redirect URI", value)?;
    if url.fragment().is_some() {
        return Err(ModelError::Invalid {
            field: "redirect URI",
            reason: "a redirect URI must not have a fragment".to_owned(),
        });
    }
    Ok(url.into())
}

/// The tool's registration as published: URLs checked, the key checked and made canonical.
fn validate_lti_tool(input: &LtiTool) -> Result<LtiTool, ModelError> {
    let login_initiation_url =
        validate_service_url("LTI login initiation URL", &input.login_initiation_url)?;
    let deep_linking_url = match &input.deep_linking_url {
        Some(url) => Some(validate_service_url("deep linking URL", url)?),
        None => None,
    };
    let jwk = parse_tool_jwk(&input.public_jwk)?;
    let public_jwk = serde_json::to_string(&jwk).map_err(|error| ModelError::Invalid {
        field: "tool public key",
        reason: error.to_string(),
    })?;
    Ok(LtiTool {
        login_initiation_url,
        public_jwk,
        deep_linking_url,
    })
}

/// A tool's public key: an RSA JWK for signatures (RS256) of 2048 to 8192 bits, with no private
/// parts (a JWK with `d` is refused: the catalogue is readable by every node and operator).
pub fn parse_tool_jwk(text: &str) -> Result<jsonwebtoken::jwk::Jwk, ModelError> {
    use base64::Engine as _;
    use jsonwebtoken::jwk::{AlgorithmParameters, KeyAlgorithm, PublicKeyUse};
    let invalid = |reason: String| ModelError::Invalid {
        field: "tool public key",
        reason,
    };
    let actual = text.chars().count();
    if actual > MAX_TOOL_JWK_CHARS {
        return Err(ModelError::TooLong {
            field: "tool public key",
            max: MAX_TOOL_JWK_CHARS,
            actual,
        });
    }
    let raw: serde_json::Value =
        serde_json::from_str(text).map_err(|error| invalid(format!("not JSON: {error}")))?;
    if ["d", "p", "q", "dp", "dq", "qi"]
        .iter()
        .any(|private| raw.get(private).is_some())
    {
        return Err(invalid(
            "it holds private key parts; publish the public key only".to_owned(),
        ));
    }
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(raw).map_err(|error| invalid(format!("not a JWK: {error}")))?;
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return Err(invalid("an RSA key (kty RSA) is required".to_owned()));
    };
    if jwk
        .common
        .key_algorithm
        .is_some_and(|algorithm| algorithm != KeyAlgorithm::RS256)
    {
        return Err(invalid("its alg must be RS256".to_owned()));
    }
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|key_use| *key_use != PublicKeyUse::Signature)
    {
        return Err(invalid("its use must be sig".to_owned()));
    }
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&rsa.n)
        .map_err(|_| invalid("n is not base64url".to_owned()))?;
    let significant = modulus.iter().skip_while(|byte| **byte == 0).count();
    if !(MIN_TOOL_RSA_MODULUS_BYTES..=MAX_TOOL_RSA_MODULUS_BYTES).contains(&significant) {
        return Err(invalid(format!(
            "the modulus has {} bits; 2048 to 8192 are accepted",
            significant * 8
        )));
    }
    jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|error| invalid(error.to_string()))?;
    Ok(jwk)
}

fn validate_service_url(field: &'static str, value: &str) -> Result<String, ModelError> {
    parse_service_url(field, value).map(String::from)
}

fn parse_service_url(field: &'static str, value: &str) -> Result<url::Url, ModelError> {
    let actual = value.chars().count();
    if actual > MAX_SERVICE_URL_CHARS {
        return Err(ModelError::TooLong {
            field,
            max: MAX_SERVICE_URL_CHARS,
            actual,
        });
    }
    let invalid = |reason: String| ModelError::Invalid { field, reason };
    let url = url::Url::parse(value).map_err(|error| invalid(format!("{value:?}: {error}")))?;
    if url.as_str() != value {
        return Err(invalid(format!(
            "{value:?} is not in canonical form; write it as {:?}",
            url.as_str()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it must not contain a user name or password".into(),
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_school_network_host(&url) => {}
        "http" => {
            return Err(invalid(
                "plain http is accepted only for loopback and private LAN addresses; use https"
                    .into(),
            ));
        }
        other => {
            return Err(invalid(format!(
                "the scheme {other:?} is not http or https"
            )));
        }
    }
    Ok(url)
}

fn is_school_network_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(address)) => {
            let address = IpAddr::V4(address);
            address.is_loopback() || matches!(address, IpAddr::V4(v4) if v4.is_private())
        }
        Some(url::Host::Ipv6(address)) => {
            // fc00::/7: unique local addresses, the IPv6 counterpart of the private ranges.
            address.is_loopback() || (address.segments()[0] & 0xfe00) == 0xfc00
        }
        None => false,
    }
}

/// One school's activation of a catalogue service.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct Activation {
    pub service_id: String,
    /// The claims the school approved, sorted, without duplicates; a subset of the service's
    /// allowed claims when approved.
    pub approved_claims: Vec<ReleasableClaim>,
    pub activated_by: UserId,
    pub activated_at: NodeTime,
}

/// The school's activations, by service id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct ActivationsDocument {
    pub services: BTreeMap<String, Activation>,
}

impl ActivationsDocument {
    /// Activates `service` with `approved` claims, or changes the approval of an active one.
    /// A claim the catalogue does not allow the service is refused, not silently dropped: the
    /// administrator should see what they approve.
    pub fn activate(
        &mut self,
        service: &CatalogueService,
        approved: &[ReleasableClaim],
        activated_by: &str,
        now: NodeTime,
    ) -> Result<Activation, ModelError> {
        if let Some(refused) = approved
            .iter()
            .find(|claim| !service.allowed_claims.contains(claim))
        {
            return Err(ModelError::Invalid {
                field: "approved claims",
                reason: format!(
                    "the catalogue does not allow {} to receive {:?}",
                    service.id,
                    refused.scope()
                ),
            });
        }
        if !self.services.contains_key(&service.id) && self.services.len() >= MAX_CATALOGUE_SERVICES
        {
            return Err(ModelError::LimitReached {
                what: "activated services",
                max: MAX_CATALOGUE_SERVICES,
            });
        }
        let mut approved_claims = approved.to_vec();
        approved_claims.sort();
        approved_claims.dedup();
        let activation = Activation {
            service_id: service.id.clone(),
            approved_claims,
            activated_by: sourced_id("activated by", activated_by)?,
            activated_at: now,
        };
        self.services.insert(service.id.clone(), activation.clone());
        Ok(activation)
    }

    pub fn deactivate(&mut self, service_id: &str) -> Result<Activation, ModelError> {
        self.services
            .remove(service_id)
            .ok_or_else(|| ModelError::NotFound {
                what: "activation of service",
                id: service_id.to_owned(),
            })
    }
}

/// Bytes of the school's pairwise-subject salt.
pub const PAIRWISE_SALT_BYTES: usize = 32;

/// The school's salt for pairwise subject identifiers (`crate::oidc::claims`).
pub fn pairwise_salt_doc(school: &SchoolCode) -> DocId {
    school_doc(school, "oidc-pairwise-salt")
}

/// The salt every node of the school derives pairwise subjects from. A school-scope document, so
/// that a replaced node gets it back from the relay and the school's users keep their identities
/// at every service; the relay's operators can read it, but they hold the roster the subjects
/// are derived from anyway, so it tells them nothing new. What it protects against is services
/// comparing notes: without it no two services can tell whether their users are the same person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct PairwiseSaltDocument {
    /// Lowercase hex of [`PAIRWISE_SALT_BYTES`] random bytes; empty until first used.
    pub salt_hex: String,
}

impl PairwiseSaltDocument {
    /// The salt, set to `fresh` first when the document has none (or a damaged one).
    pub fn get_or_set(&mut self, fresh: [u8; PAIRWISE_SALT_BYTES]) -> Vec<u8> {
        match hex::decode(&self.salt_hex) {
            Ok(salt) if salt.len() == PAIRWISE_SALT_BYTES => salt,
            _ => {
                self.salt_hex = hex::encode(fresh);
                fresh.to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    fn oidc_input(id: &str) -> ServiceInput {
        ServiceInput {
            id: id.to_owned(),
            name: "Oppimateriaali".to_owned(),
            provider: "Kustantamo Oy".to_owned(),
            category: ServiceCategory::Optional,
            protocol: ServiceProtocol::Oidc,
            redirect_uris: vec!["https://tool.example.fi/callback".to_owned()],
            launch_url: None,
            allowed_claims: vec![ReleasableClaim::Role, ReleasableClaim::Profile],
            works_offline: false,
            client_secret_sha256: Some("ab".repeat(32)),
            lti: None,
        }
    }

    /// A 2048-bit RSA public key (the modulus is not a real key's, which publishing cannot tell).
    fn tool_jwk() -> String {
        use base64::Engine as _;
        let modulus = [0xc5u8; 256];
        serde_json::json!({
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": "tool-key-1",
            "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(modulus),
            "e": "AQAB",
        })
        .to_string()
    }

    fn lti_input(id: &str) -> ServiceInput {
        ServiceInput {
            protocol: ServiceProtocol::Lti13,
            client_secret_sha256: None,
            launch_url: Some("https://tool.example.fi/lti/launch".to_owned()),
            redirect_uris: vec!["https://tool.example.fi/lti/launch".to_owned()],
            lti: Some(LtiTool {
                login_initiation_url: "https://tool.example.fi/lti/login".to_owned(),
                public_jwk: tool_jwk(),
                deep_linking_url: Some("https://tool.example.fi/lti/deep".to_owned()),
            }),
            ..oidc_input(id)
        }
    }

    #[test]
    fn lti_tools_need_a_login_url_launch_uris_a_target_and_an_rsa_public_key() {
        let mut catalogue = CatalogueDocument::default();
        let mut refused = Vec::new();
        let mut no_registration = lti_input("tool");
        no_registration.lti = None;
        refused.push(no_registration);
        let mut no_redirect = lti_input("tool");
        no_redirect.redirect_uris.clear();
        refused.push(no_redirect);
        let mut no_target = lti_input("tool");
        no_target.launch_url = None;
        refused.push(no_target);
        let mut with_secret = lti_input("tool");
        with_secret.client_secret_sha256 = Some("ab".repeat(32));
        refused.push(with_secret);
        let mut oidc_with_lti = oidc_input("tool");
        oidc_with_lti.lti = lti_input("tool").lti;
        refused.push(oidc_with_lti);
        for bad_login in ["http://tool.example.fi/login", "not a url"] {
            let mut input = lti_input("tool");
            if let Some(tool) = input.lti.as_mut() {
                tool.login_initiation_url = bad_login.to_owned();
            }
            refused.push(input);
        }
        let jwk: serde_json::Value = serde_json::from_str(&tool_jwk()).expect("json");
        let mut bad_keys = vec![
            "{}".to_owned(),
            "not json".to_owned(),
            serde_json::json!({ "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA" }).to_string(),
            serde_json::json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" }).to_string(),
            "x".repeat(MAX_TOOL_JWK_CHARS + 1),
        ];
        let mut with_private = jwk.clone();
        with_private["d"] = "AQAB".into();
        bad_keys.push(with_private.to_string());
        let mut wrong_alg = jwk.clone();
        wrong_alg["alg"] = "RS512".into();
        bad_keys.push(wrong_alg.to_string());
        for bad_key in bad_keys {
            let mut input = lti_input("tool");
            if let Some(tool) = input.lti.as_mut() {
                tool.public_jwk = bad_key;
            }
            refused.push(input);
        }
        for input in refused {
            assert!(
                catalogue.publish(input.clone(), NodeTime(1)).is_err(),
                "{input:?} is refused"
            );
        }
        assert!(catalogue.services.is_empty(), "nothing was published");

        catalogue
            .publish(lti_input("tool"), NodeTime(1))
            .expect("valid");
        let tool = catalogue.services["tool"]
            .lti
            .clone()
            .expect("registration");
        assert!(tool.decoding_key().is_ok());
        assert_eq!(
            tool.deep_linking_url.as_deref(),
            Some("https://tool.example.fi/lti/deep")
        );
        assert_round_trip(&catalogue);
    }

    #[test]
    fn catalogue_and_activations_documents_have_fixed_ids() {
        assert_eq!(catalogue_doc().to_string(), "national/service-catalogue");
        assert_eq!(
            activations_doc(&school()).to_string(),
            "school:30076/service-activations"
        );
    }

    #[test]
    fn redirect_uris_must_be_canonical_https_or_lan_http() {
        for good in [
            "https://tool.example.fi/callback",
            "http://127.0.0.1:8080/cb",
            "http://localhost:3000/cb",
            "http://192.168.1.20/oidc/cb",
            "http://10.0.0.5:8443/cb?tenant=30076",
            "http://[fd00::5]/cb",
        ] {
            assert_eq!(validate_redirect_uri(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "http://tool.example.fi/callback",
            "http://8.8.8.8/cb",
            "https://tool.example.fi/cb#fragment",
            "https://user:pw@tool.example.fi/cb",
            "HTTPS://tool.example.fi/cb",
            "https://tool.example.fi",
            "javascript:alert(1)",
            "/relative/path",
            "",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn publishing_validates_everything_before_changing_anything() {
        let mut catalogue = CatalogueDocument::default();
        let mut bad_id = oidc_input("Tool");
        bad_id.id = "Tool".into();
        assert!(catalogue.publish(bad_id, NodeTime(1)).is_err());
        let mut no_secret = oidc_input("tool");
        no_secret.client_secret_sha256 = None;
        assert!(catalogue.publish(no_secret, NodeTime(1)).is_err());
        let mut bad_uri = oidc_input("tool");
        bad_uri.redirect_uris.push("http://evil.example/cb".into());
        assert!(catalogue.publish(bad_uri, NodeTime(1)).is_err());
        let mut too_many = oidc_input("tool");
        too_many.redirect_uris = (0..=MAX_REDIRECT_URIS_PER_SERVICE)
            .map(|number| format!("https://tool.example.fi/cb{number}"))
            .collect();
        assert!(catalogue.publish(too_many, NodeTime(1)).is_err());
        let mut link_with_secret = oidc_input("tool");
        link_with_secret.protocol = ServiceProtocol::Link;
        link_with_secret.redirect_uris.clear();
        link_with_secret.launch_url = Some("https://tool.example.fi/".into());
        assert!(catalogue.publish(link_with_secret, NodeTime(1)).is_err());
        assert!(catalogue.services.is_empty(), "nothing was published");

        catalogue
            .publish(oidc_input("tool"), NodeTime(1))
            .expect("valid");
        let service = &catalogue.services["tool"];
        assert_eq!(
            service.allowed_claims,
            [ReleasableClaim::Profile, ReleasableClaim::Role],
            "sorted"
        );
        assert_round_trip(&catalogue);
        assert!(catalogue.withdraw("tool").is_ok());
        assert!(catalogue.withdraw("tool").is_err());
    }

    #[test]
    fn a_school_approves_only_what_the_catalogue_allows() {
        let mut catalogue = CatalogueDocument::default();
        catalogue
            .publish(oidc_input("tool"), NodeTime(1))
            .expect("valid");
        let service = catalogue.services["tool"].clone();
        let mut activations = ActivationsDocument::default();
        assert!(
            activations
                .activate(&service, &[ReleasableClaim::Email], "ADM01", NodeTime(2))
                .is_err()
        );
        assert!(activations.services.is_empty());
        activations
            .activate(&service, &[ReleasableClaim::Role], "ADM01", NodeTime(2))
            .expect("allowed");
        assert_eq!(
            service.releasable(&activations.services["tool"].approved_claims),
            [ReleasableClaim::Role]
        );
        assert_round_trip(&activations);
        assert!(activations.deactivate("tool").is_ok());
        assert!(activations.deactivate("tool").is_err());
    }

    #[test]
    fn every_claim_is_found_by_its_scope() {
        for claim in ReleasableClaim::ALL {
            assert_eq!(ReleasableClaim::from_scope(claim.scope()), Some(claim));
            let json = serde_json::to_value(claim).expect("serialises");
            assert_eq!(json, claim.scope());
        }
        assert_eq!(ReleasableClaim::from_scope("openid"), None);
    }
}
