//! The school's audit log as the edges use it: every release of personal data to a service is
//! written there first ([`record_before_release`]). The log itself is [`crate::school::audit_log`].

use crate::model::audit::AuditEntry;
pub use crate::school::audit_log::{
    AuditCursor, AuditError, AuditLog, AuditPage, MAX_AUDIT_DAYS_SCANNED, day_of,
};
use crate::school::error::ServiceError;
use crate::school::runtime::blocking;
use crate::state::AppState;

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
