//! The node's OpenID Provider: a service in the national catalogue that the school activated logs
//! its users in with the node's one login, over OpenID Connect's authorisation code flow, also
//! while the school is offline (nothing here calls the relay).
//!
//! Endpoints (see `node/README.md`, "Connecting a service"):
//! - `GET /.well-known/openid-configuration`: discovery;
//! - `GET /oidc/jwks`: the public signing keys ([`keys`]);
//! - `GET /oidc/authorize`: the code flow, PKCE S256 required, with the user's browser session
//!   (not logged in: to `/login?next=…` and back);
//! - `POST /oidc/token`: code for ID token and access token (`client_secret_basic` or
//!   `client_secret_post`);
//! - `GET`/`POST /oidc/userinfo`: the released claims, for a bearer access token.
//!
//! Who may receive what: the client id is the catalogue's service id; the service must be an
//! OpenID Connect client of the national catalogue, activated by the school
//! ([`crate::model::catalogue`]), and may ask only for claims both the catalogue allows and the
//! school approved. The school administrator's activation is the consent, as with MPASSid, where
//! the education provider decides for its users; users are not asked again. Every grant and
//! release is written to the school's audit log ([`audit`]) before it happens.
//!
//! Files: [`endpoints`] (the HTTP handlers and OAuth errors), [`grants`] (codes and access tokens in
//! memory), [`keys`] (signing keys and rotation), [`claims`] (pairwise subjects, MPASSid claims),
//! [`audit`] (the audit log writer and reader).

pub mod claims;
pub mod endpoints;
pub mod grants;
pub mod keys;
pub mod oauth_error;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sync_protocol::ids::SchoolCode;
use sync_store::SledStore;

use self::grants::Grants;
use self::keys::SigningKeys;
use crate::config::OidcConfig;
use crate::repository::Repository;
use crate::school::audit_log::AuditLog;

/// The largest token request body: a code, a verifier, a redirect URI and client credentials
/// take well under 4 KiB.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;
/// The longest authorisation request URI the provider reads (its query holds the parameters).
pub const MAX_AUTHORIZE_URI_BYTES: usize = 8 * 1024;
/// The longest `state` and `nonce` passed through, in bytes.
pub const MAX_STATE_BYTES: usize = 1024;
/// The name of the sled tree of signing keys (node-local, never synced).
pub const SIGNING_KEYS_TREE: &str = "oidc_signing_keys";

/// The provider's state, shared by its handlers.
#[derive(Debug)]
pub struct OidcProvider {
    /// The issuer URL, without a trailing `/`.
    pub issuer: String,
    pub keys: SigningKeys,
    pub grants: Grants,
    pub audit: AuditLog,
    pub id_token_lifetime: Duration,
}

impl OidcProvider {
    /// The provider of a node serving on `http_address` (and `https_address` with HTTPS).
    pub fn new(
        config: &OidcConfig,
        store: &SledStore,
        repository: Arc<Repository>,
        school: SchoolCode,
        http_address: SocketAddr,
        https_address: Option<SocketAddr>,
    ) -> Result<Self, String> {
        let issuer = match config
            .configured_issuer()
            .map_err(|error| error.to_string())?
        {
            Some(issuer) => issuer,
            None => derived_issuer(http_address, https_address),
        };
        let tree = store
            .auxiliary_tree(SIGNING_KEYS_TREE)
            .map_err(|error| error.to_string())?;
        let rotation = Duration::from_secs(config.signing_key_rotation_days * 24 * 60 * 60);
        Ok(Self {
            issuer,
            keys: SigningKeys::new(tree, rotation),
            grants: Grants::new(Duration::from_secs(config.access_token_lifetime_secs)),
            audit: AuditLog::new(repository, school),
            id_token_lifetime: Duration::from_secs(config.id_token_lifetime_secs),
        })
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// `https://ADDRESS` when HTTPS is served, else `http://ADDRESS`. An unspecified listen address
/// (`0.0.0.0`) names no host a service could reach, so the node warns: `oidc.issuer` should then
/// be set to its LAN name.
fn derived_issuer(http_address: SocketAddr, https_address: Option<SocketAddr>) -> String {
    let (scheme, address) = match https_address {
        Some(address) => ("https", address),
        None => ("http", http_address),
    };
    if address.ip().is_unspecified() {
        tracing::warn!(
            %address,
            "oidc.issuer is not set and the node listens on every address; services need the node's LAN name there"
        );
    }
    format!("{scheme}://{address}")
}
