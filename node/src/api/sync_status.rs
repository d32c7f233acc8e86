//! `GET /api/v1/sync/status`: the node's sync status, as much of it as the caller may see.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use crate::sync::{SyncHealthView, SyncStatusView};

/// `GET /api/v1/sync/status`: whether the node is linked to the relay and what waits to sync.
///
/// Anyone, logged in or not, gets the `state` alone ([`SyncHealthView`]): that is what a health
/// check or a monitoring probe needs, and it is also in every page's offline banner. The rest (the
/// node's id, the relay's address, counts of what waits, the last error, the certificate's
/// expiry) describes the school's infrastructure and activity, so only an administrator sees it:
/// a session with the admin role, as the school IT pages need, or the local admin token of the
/// node's own machine (`Authorization: Bearer <data_dir>/admin.token`), as the command line has.
#[utoipa::path(get, path = "/api/v1/sync/status", tag = "sync",
    responses((status = 200, body = SyncStatusView,
        description = "every field for an administrator (a session with the admin role, or the local admin token); anyone else gets only `state`")))]
pub async fn sync_status(
    State(state): State<AppState>,
    administrator: Result<crate::school::roster::Administrator, Response>,
) -> Response {
    let view = state.sync.view();
    match administrator {
        Ok(_) => axum::Json(view).into_response(),
        Err(_) => axum::Json(SyncHealthView::from(&view)).into_response(),
    }
}
