//! `GET /metrics`: the node's figures in the OpenMetrics text format, for the school's or the
//! municipality's monitoring. Gauges are read at scrape time from the store, the repository and the
//! sync status.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::state::AppState;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric = Gauge::<u64, AtomicU64>::default();
    metric.set(value);
    registry.register(name, help, metric);
}

/// Renders every metric; store figures are read on the blocking pool.
pub async fn render(state: &AppState) -> Result<String, String> {
    let store = state.repository.store().clone();
    let data_dir = state.config.data_dir.clone();
    let started = state.started;
    let health = tokio::task::spawn_blocking(move || {
        crate::sync::measure_health(&data_dir, &store, started)
    })
    .await
    .map_err(|error| error.to_string())?;
    let status = state.sync.view();
    let mut registry = Registry::with_prefix("digione_node");
    gauge(
        &mut registry,
        "uptime_seconds",
        "Seconds since the node started",
        health.uptime_secs,
    );
    gauge(
        &mut registry,
        "store_documents",
        "Documents in the node's store",
        health.doc_count,
    );
    gauge(
        &mut registry,
        "store_bytes",
        "Bytes the node's store occupies on disk",
        health.store_bytes,
    );
    gauge(
        &mut registry,
        "disk_free_bytes",
        "Free bytes on the data directory's file system",
        health.disk_free_bytes,
    );
    gauge(
        &mut registry,
        "durable_writes",
        "Durable writes committed since start",
        state.repository.writes_total(),
    );
    gauge(
        &mut registry,
        "sync_connected",
        "1 while linked to the relay",
        u64::from(status.connected),
    );
    gauge(
        &mut registry,
        "sync_documents_waiting_to_send",
        "Documents changed here that the relay has not confirmed",
        status.documents_waiting_to_send,
    );
    gauge(
        &mut registry,
        "sync_blobs_waiting_to_send",
        "Files added here that the relay has not confirmed",
        status.blobs_waiting_to_send,
    );
    gauge(
        &mut registry,
        "sync_last_complete_timestamp_seconds",
        "Unix time of the last complete sync with the relay (0: never)",
        status.last_complete_sync_unix.unwrap_or(0).max(0) as u64,
    );
    gauge(
        &mut registry,
        "sync_notices_dropped",
        "Change notices dropped while the sync client was offline or behind",
        state.repository.notices_dropped_total(),
    );
    gauge(
        &mut registry,
        "oidc_pending_codes",
        "Authorisation codes of the OpenID Provider waiting to be redeemed",
        state.oidc.grants.pending_codes() as u64,
    );
    gauge(
        &mut registry,
        "oidc_access_tokens",
        "Access tokens the OpenID Provider holds",
        state.oidc.grants.access_tokens_held() as u64,
    );
    gauge(
        &mut registry,
        "oidc_logins",
        "Logins to services (access tokens issued) since start",
        state.oidc.grants.access_tokens_issued_total(),
    );
    if let Some(upstream) = &state.upstream_login {
        gauge(
            &mut registry,
            "upstream_logins",
            "Logins through the municipality's OpenID provider since start",
            upstream.logins_total(),
        );
        gauge(
            &mut registry,
            "upstream_login_failures",
            "Upstream logins that logged no one in since start (provider unreachable, refused, no roster match)",
            upstream.failures_total(),
        );
    }
    let mut text = String::new();
    encode(&mut text, &registry).map_err(|error| error.to_string())?;
    Ok(text)
}
