//! Where the application layer's work runs, and the clock it goes by.

use crate::model::common::NodeTime;
use crate::school::error::ServiceError;

/// Runs repository work on the blocking pool: it reads sled, runs automerge, and waits for fsync.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ServiceError::Internal(error.to_string()))?
}

/// Node time now: the authority for every deadline and for ordering, whatever a device's clock
/// says.
pub fn node_now() -> NodeTime {
    NodeTime(sync_transport::link::now_millis() as i64)
}
