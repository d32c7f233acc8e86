//! [`AppState`]: what every edge of the node (the JSON API, the web pages, the OpenID Provider,
//! LTI, OneRoster) reaches through axum's `State`.
//!
//! This module names no route module: the route modules import it, and the node's import graph
//! runs one way, edges → application layer (`crate::school`) → model, repository and store
//! (`node/tests/import_graph.rs` keeps it so).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRef;

use crate::auth::AuthState;
use crate::config::NodeConfig;
use crate::identity::NodeIdentity;
use crate::repository::Repository;
use crate::sync::SyncHandle;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<NodeConfig>,
    pub identity: Arc<NodeIdentity>,
    pub repository: Arc<Repository>,
    pub sync: SyncHandle,
    pub auth: AuthState,
    pub roster: Arc<crate::school::RosterCache>,
    /// The services in use as tools, for the home pages (`crate::school::tools`).
    pub tools: Arc<crate::school::tools::ToolsCache>,
    pub upload_quota: crate::upload_quota::UploadQuota,
    /// Who uploaded which file, for attaching files (`crate::upload_records`).
    pub upload_records: crate::upload_records::UploadRecords,
    /// The OpenID Provider (`crate::oidc`).
    pub oidc: Arc<crate::oidc::OidcProvider>,
    /// Logging in through the municipality's OpenID provider, when configured
    /// (`crate::upstream_login`).
    pub upstream_login: Option<Arc<crate::upstream_login::UpstreamLogin>>,
    /// The OneRoster rostering service's tokens (`crate::oneroster`).
    pub oneroster: Arc<crate::oneroster::OneRoster>,
    /// The LTI 1.3 platform's launches and tokens in flight (`crate::lti`).
    pub lti: Arc<crate::lti::platform::LtiPlatform>,
    pub started: Instant,
}

impl FromRef<AppState> for AuthState {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AppState")
            .field("school", &self.identity.school)
            .finish_non_exhaustive()
    }
}

impl FromRef<AppState> for Arc<Repository> {
    fn from_ref(state: &AppState) -> Self {
        state.repository.clone()
    }
}
