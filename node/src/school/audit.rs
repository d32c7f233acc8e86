//! The school's audit log as the edges use it: every release of personal data to a service is
//! written there first ([`record_before_release`]), and school administrators
//! ([`Action::AdministerSchool`]) read it a page at a time, newest first ([`audit_page`]). The log
//! itself is [`crate::school::audit_log`].

use serde::Serialize;

use crate::auth::Caller;
use crate::model::audit::AuditEntry;
use crate::model::catalogue::ReleasableClaim;
use crate::school::access::{Access, Target, roster_index};
pub use crate::school::audit_log::{
    AuditCursor, AuditError, AuditLog, AuditPage, MAX_AUDIT_DAYS_SCANNED, day_of,
};
use crate::school::error::ServiceError;
use crate::school::policy::Action;
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;

/// Entries in one page of the audit log when the caller names no `limit`.
pub const DEFAULT_AUDIT_PAGE_ENTRIES: usize = 50;
/// The most entries one page may ask for.
pub const MAX_AUDIT_PAGE_ENTRIES: usize = 500;

/// Writes `entry` to the school's audit log on the blocking pool. Every grant, launch and release
/// calls this before it happens and refuses when it fails: a release the school cannot see
/// afterwards does not happen.
pub async fn record_before_release(
    state: &AppState,
    entry: AuditEntry,
) -> Result<(), ServiceError> {
    let provider = state.oidc.clone();
    blocking(move || {
        provider
            .audit
            .record(entry)
            .map_err(|error| ServiceError::Internal(error.to_string()))
    })
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    /// Unix milliseconds, node time.
    pub at: i64,
    /// `grant`, `token_issued`, `userinfo_released`, `roster_token_issued` or `roster_read`.
    /// `grant`, `token_issued`, `userinfo_released`, or an LTI event: `lti_launch`,
    /// `lti_token_issued`, `lti_score_received`, `lti_roster_released`, `lti_content_linked`.
    pub event: &'static str,
    /// The user whose data was released; empty for OneRoster events.
    pub user: String,
    pub service: String,
    #[schema(value_type = Vec<String>)]
    pub claims: Vec<ReleasableClaim>,
    /// For `roster_read`: the number of records released.
    pub records: Option<u64>,
    /// For `roster_read`, the OneRoster endpoint read (below `/ims/oneroster/rostering/v1p2`);
    /// for LTI events, the class, assignment or token scopes concerned.
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPageView {
    pub entries: Vec<AuditEntryView>,
    /// Pass as `before` for the next page; absent on the last.
    pub next: Option<String>,
}

/// One page of the audit log of grants and releases to services, newest first, before the cursor
/// `before` (the `next` of the previous page): administrators.
pub async fn audit_page(
    state: &AppState,
    caller: &Caller,
    before: Option<&str>,
    limit: Option<usize>,
) -> Result<AuditPageView, ServiceError> {
    Access::new(caller, roster_index(state).await?)
        .require(Action::AdministerSchool, Target::School)?;
    let limit = limit.unwrap_or(DEFAULT_AUDIT_PAGE_ENTRIES);
    if !(1..=MAX_AUDIT_PAGE_ENTRIES).contains(&limit) {
        return Err(ServiceError::invalid(
            "limit",
            format!("limit must be 1 to {MAX_AUDIT_PAGE_ENTRIES}"),
        ));
    }
    let before = match before {
        Some(text) => Some(
            text.parse::<AuditCursor>()
                .map_err(|message| ServiceError::invalid("before", message))?,
        ),
        None => None,
    };
    let provider = state.oidc.clone();
    let today = day_of(node_now());
    blocking(move || {
        let page = provider
            .audit
            .page(before, limit, today)
            .map_err(|error| ServiceError::Internal(error.to_string()))?;
        Ok(AuditPageView {
            entries: page
                .entries
                .into_iter()
                .map(|entry| AuditEntryView {
                    at: entry.at.unix_millis(),
                    event: entry.event.as_str(),
                    user: entry.user,
                    service: entry.service,
                    claims: entry.claims,
                    records: entry.records,
                    detail: entry.detail,
                })
                .collect(),
            next: page.next.map(|cursor| cursor.to_string()),
        })
    })
    .await
}
