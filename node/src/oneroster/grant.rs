//! The client credentials grant (RFC 6749 section 4.4) at `POST /oidc/token`: a connected
//! service gets a OneRoster token. The token endpoint ([`crate::oidc::endpoints::token`]) has
//! already authenticated the client (`client_secret_basic` or `client_secret_post`, its
//! catalogue secret) and checked that the school activated it; this module checks the scope,
//! writes the audit entry and issues the token.

use std::collections::HashMap;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::tokens::{ROSTER_TOKEN_LIFETIME, RosterGrant};
use crate::api::node_now_millis;
use crate::model::audit::{AuditEntry, AuditEvent};
use crate::model::catalogue::{Activation, CatalogueService, ReleasableClaim};
use crate::model::common::NodeTime;
use crate::oidc::grants::GrantError;
use crate::oidc::oauth_error::oauth_error;
use crate::state::AppState;

/// The claims that shape what a roster read releases, besides the roster scope itself: the
/// audit log names them, so the school sees that names or e-mail addresses went out.
pub fn shaping_claims(releasable: &[ReleasableClaim]) -> Vec<ReleasableClaim> {
    releasable
        .iter()
        .copied()
        .filter(|claim| matches!(claim, ReleasableClaim::Profile | ReleasableClaim::Email))
        .collect()
}

/// Issues a OneRoster token to `service`, activated by `activation`, for the form's `scope`.
pub async fn client_credentials(
    state: &AppState,
    service: &CatalogueService,
    activation: &Activation,
    form: &HashMap<String, String>,
) -> Response {
    let invalid_scope =
        |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", description);
    // RFC 6749 section 3.3 lets a server default the scope; this one asks the service to name
    // it, so that the audit log says what the service asked for, not what the node assumed.
    let Some(requested) = form.get("scope") else {
        return invalid_scope(
            "name the OneRoster scope, e.g. https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly",
        );
    };
    let releasable = service.releasable(&activation.approved_claims);
    let mut scopes = Vec::new();
    for value in requested.split(' ').filter(|value| !value.is_empty()) {
        let Some(scope) =
            ReleasableClaim::from_scope(value).filter(|claim| claim.is_roster_scope())
        else {
            return invalid_scope(&format!(
                "{value:?} is not a OneRoster scope this node grants to a service"
            ));
        };
        if !releasable.contains(&scope) {
            return invalid_scope(&format!(
                "this school has not approved {value:?} for this service"
            ));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return invalid_scope("no OneRoster scope was requested");
    }
    scopes.sort();
    let now = node_now_millis();
    let mut audited = scopes.clone();
    audited.extend(shaping_claims(&releasable));
    audited.sort();
    let entry = AuditEntry {
        at: NodeTime::from_unix_millis(now),
        event: AuditEvent::RosterTokenIssued,
        user: String::new(),
        service: service.id.clone(),
        claims: audited,
        records: None,
        detail: None,
    };
    let recorded = crate::school::audit::record_before_release(state, entry).await;
    if let Err(error) = recorded {
        tracing::error!(%error, service = %service.id, "a roster token was refused: the audit log failed");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the node could not record the grant",
        );
    }
    let grant = RosterGrant {
        service_id: service.id.clone(),
        scopes: scopes.clone(),
        issued_at_millis: now,
    };
    let token = match state.oneroster.tokens.issue(grant, now) {
        Ok(token) => token,
        Err(GrantError::Full) => {
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many roster tokens are live; try again later",
            );
        }
        Err(GrantError::Random(_)) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the node failed",
            );
        }
    };
    let scope: Vec<&str> = scopes.iter().map(|scope| scope.scope()).collect();
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ROSTER_TOKEN_LIFETIME.as_secs(),
            "scope": scope.join(" "),
        })),
    )
        .into_response()
}
