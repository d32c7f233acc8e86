//! The node process: open the store, start the sync client (when enrolled), serve the platform over
//! HTTP on the school LAN, and stop cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sync_store::SledStore;
use tokio::sync::{mpsc, watch};

use crate::auth::{AuthConfig, AuthState, SESSION_PRUNE_INTERVAL};
use crate::config::NodeConfig;
use crate::directory::RosterDirectory;
use crate::identity::NodeIdentity;
use crate::repository::{MAX_QUEUED_NOTICES, Repository};
use crate::state::AppState;
use crate::sync;

/// A started node; [`RunningNode::shutdown`] stops it.
#[derive(Debug)]
pub struct RunningNode {
    /// The plain-HTTP listener: the platform, or, when HTTPS is configured, a redirect to it.
    pub http_address: SocketAddr,
    /// The HTTPS listener, when a certificate is configured.
    pub https_address: Option<SocketAddr>,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    https_server: Option<tokio::task::JoinHandle<()>>,
}

impl RunningNode {
    /// Stops accepting requests, lets running ones finish, stops the sync client and flushes.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        if let Some(https_server) = self.https_server {
            let _ = https_server.await;
        }
        let store = self.state.repository.store().clone();
        let _ = tokio::task::spawn_blocking(move || store.wait_durable()).await;
    }
}

/// Runs the node until Ctrl-C or SIGTERM.
pub async fn run(config: NodeConfig) -> Result<(), String> {
    let node = start(config).await?;
    tracing::info!(http = %node.http_address, https = ?node.https_address, school = %node.state.identity.school, "node serving");
    wait_for_termination().await;
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        if let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The memory sled may use for the node store's page cache (16 MiB as sled counts it, which is less
/// than what it holds). A school's store is small (the 1,000-pupil benchmark school has about 430
/// documents, 330 KB saved in all) and the store keeps its loaded documents in a cache of its own,
/// so sled needs little more than its recent log and index pages. Under the relay's 64 MiB bound,
/// sled's allocations still alive after the benchmark's morning came to about 31 MB (heaptrack),
/// mostly pages the writes had passed through, and the node kept them for good. Measured with
/// `node_load`; see `node/README.md`, "Benchmark".
pub const STORE_CACHE_CAPACITY_BYTES: u64 = 16 * 1024 * 1024;

/// Opens everything and starts serving; returns once the listener is bound.
pub async fn start(config: NodeConfig) -> Result<RunningNode, String> {
    let started = Instant::now();
    let identity = NodeIdentity::load(&config).map_err(|error| error.to_string())?;
    let store_dir = config.store_dir();
    let store = tokio::task::spawn_blocking(move || {
        SledStore::open_with_cache_capacity(&store_dir, STORE_CACHE_CAPACITY_BYTES)
    })
    .await
    .map_err(|error| error.to_string())?
    .map_err(|error| format!("cannot open the node store: {error}"))?;
    crate::api::roster::ensure_local_admin_token(&config.admin_token_file())?;
    let (notices, notice_receiver) = mpsc::channel(MAX_QUEUED_NOTICES);
    let repository = Arc::new(Repository::new(store.clone(), notices));
    let roster = Arc::new(crate::school::RosterCache::new(&store));
    let tools = Arc::new(crate::school::tools::ToolsCache::new(&store));
    let (shutdown, shutdown_receiver) = watch::channel(false);
    let directory = Arc::new(RosterDirectory::new(repository.clone(), &identity.school));
    let sessions = store
        .auxiliary_tree(crate::auth::SESSIONS_TREE)
        .map_err(|error| error.to_string())?;
    // Under HTTPS the session cookie is `__Host-` and `Secure`.
    let tls = match config.http.tls_files() {
        Some((certificate, key)) => Some(crate::web::https::server_config(certificate, key)?),
        None => None,
    };
    let auth_config = AuthConfig {
        https: tls.is_some(),
        ..AuthConfig::default()
    };
    let auth = AuthState::new(auth_config, sessions, directory);
    reconcile_accounts(&repository, &identity.school, &auth).await;
    tokio::spawn(prune_sessions(auth.clone(), shutdown_receiver.clone()));
    let upload_quota = crate::upload_quota::UploadQuota::new(
        store
            .auxiliary_tree("upload_usage")
            .map_err(|error| error.to_string())?,
        config.http.max_upload_bytes_per_user_per_day,
    );
    let upload_records = crate::upload_records::UploadRecords::new(
        store
            .auxiliary_tree("upload_records")
            .map_err(|error| error.to_string())?,
    );
    let sync = sync::start(
        &config,
        &identity,
        store,
        notice_receiver,
        shutdown_receiver.clone(),
        started,
    );
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.http.listen))?;
    let http_address = listener.local_addr().map_err(|error| error.to_string())?;
    let https_listener = match &tls {
        Some(_) => Some(
            tokio::net::TcpListener::bind(config.http.https_listen)
                .await
                .map_err(|error| {
                    format!("cannot listen on {}: {error}", config.http.https_listen)
                })?,
        ),
        None => None,
    };
    let https_bound = match &https_listener {
        Some(listener) => Some(listener.local_addr().map_err(|error| error.to_string())?),
        None => None,
    };
    let oidc = Arc::new(crate::oidc::OidcProvider::new(
        &config.oidc,
        repository.store(),
        repository.clone(),
        identity.school.clone(),
        http_address,
        https_bound,
    )?);
    let upstream_login = match &config.upstream_login {
        Some(upstream) => Some(Arc::new(crate::upstream_login::UpstreamLogin::new(
            upstream,
            &oidc.issuer,
            https_bound.is_some(),
        )?)),
        None => None,
    };
    let state = AppState {
        config: Arc::new(config),
        identity: Arc::new(identity),
        repository,
        sync,
        auth,
        roster,
        tools,
        upload_quota,
        upload_records,
        oidc,
        upstream_login,
        oneroster: Arc::new(crate::oneroster::OneRoster::new()),
        lti: Arc::new(crate::lti::LtiPlatform::new()),
        started,
    };
    // With HTTPS the platform is served there (with HSTS), and plain HTTP only redirects to it.
    let (plain_app, https_address, https_server) = match (tls, https_listener) {
        (Some(tls), Some(https_listener)) => {
            let tls_listener =
                crate::web::https::TlsListener::new(https_listener, tls, shutdown_receiver.clone())
                    .map_err(|error| error.to_string())?;
            let https_address = axum::serve::Listener::local_addr(&tls_listener)
                .map_err(|error| error.to_string())?;
            let https_app = router(state.clone()).layer(axum::middleware::from_fn(
                crate::web::security::strict_transport_security,
            ));
            let mut stop = shutdown_receiver.clone();
            let https_server = tokio::spawn(async move {
                // The peer's address reaches the login throttle (`auth::ClientAddress`).
                let served = axum::serve(
                    tls_listener,
                    https_app.into_make_service_with_connect_info::<crate::auth::PeerAddress>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
                .await;
                if let Err(error) = served {
                    tracing::error!(%error, "the HTTPS server failed");
                }
            });
            let redirect = crate::web::https::redirect_to_https(https_address.port()).layer(
                axum::middleware::from_fn(crate::web::security::security_headers),
            );
            (redirect, Some(https_address), Some(https_server))
        }
        _ => (router(state.clone()), None, None),
    };
    let mut stop = shutdown_receiver;
    let server = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            plain_app.into_make_service_with_connect_info::<crate::auth::PeerAddress>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await;
        if let Err(error) = served {
            tracing::error!(%error, "the HTTP server failed");
        }
    });
    Ok(RunningNode {
        http_address,
        https_address,
        state,
        shutdown,
        server,
        https_server,
    })
}

/// Brings passwords and sessions in step with the roster before the node serves anyone (see
/// [`crate::accounts::reconcile_at_start`]): hashes an older version kept by username move to their
/// users' ids, and what a crash during a roster import left undone is finished.
///
/// A failure is logged and the node serves anyway: until the next start, import or password change
/// the directory still reads username-keyed hashes by the current username (as before), a departed
/// user's hash matches no user id, and a session of a user not in the roster or disabled is refused
/// at its next request. Refusing to serve the school would be worse.
async fn reconcile_accounts(
    repository: &Arc<Repository>,
    school: &sync_protocol::ids::SchoolCode,
    auth: &AuthState,
) {
    let repository = repository.clone();
    let school = school.clone();
    let auth = auth.clone();
    let reconciled = tokio::task::spawn_blocking(move || {
        crate::accounts::reconcile_at_start(&repository, &school, auth.sessions())
    })
    .await;
    match reconciled {
        Ok(Ok(reconciled)) if reconciled != crate::accounts::Reconciled::default() => {
            tracing::info!(
                legacy_handled = reconciled.legacy_handled,
                credentials_removed = reconciled.credentials_removed,
                sessions_ended = reconciled.sessions_ended,
                "passwords and sessions brought in step with the roster"
            );
        }
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::error!(%error, "cannot bring the passwords and sessions in step with the roster");
        }
        Err(error) => {
            tracing::error!(%error, "the passwords and sessions check stopped");
        }
    }
}

/// Removes expired sessions every [`SESSION_PRUNE_INTERVAL`], so the session tree stays bounded by
/// the users who logged in recently.
async fn prune_sessions(auth: AuthState, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(SESSION_PRUNE_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let auth = auth.clone();
        match tokio::task::spawn_blocking(move || auth.prune_expired_sessions()).await {
            Ok(Ok(removed)) if removed > 0 => tracing::info!(removed, "pruned expired sessions"),
            Ok(Err(error)) => tracing::warn!(%error, "could not prune expired sessions"),
            _ => {}
        }
    }
}

/// Every route of the node.
pub fn router(state: AppState) -> Router {
    let concurrency = state.config.http.max_concurrent_requests;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/sync/status",
            get(crate::api::sync_status::sync_status),
        )
        .route("/api/v1/openapi.json", get(crate::api::openapi::document))
        .merge(crate::auth::routes())
        .merge(crate::api::routes())
        .merge(crate::oidc::endpoints::routes())
        .merge(crate::oneroster::endpoints::routes())
        .merge(crate::lti::routes())
        .merge(crate::web::routes(state.config.http.max_upload_bytes))
        .layer(axum::middleware::from_fn(json_rejections))
        .layer(axum::middleware::from_fn(close_after_refused_body))
        .layer(axum::middleware::from_fn(
            crate::web::security::security_headers,
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(concurrency))
        .with_state(state)
}

/// The longest plain-text rejection turned into JSON; axum's are one line.
const MAX_REJECTION_TEXT_BYTES: usize = 4 * 1024;

/// Answers axum's own rejections of a request (a body that is not JSON, of the wrong shape, or too
/// large; a malformed path) in the API's error format, `{ "error": …, "message": … }`, instead of
/// plain text, so that a client handles every refusal one way. Done once here rather than in every
/// extractor, because the rejections come from axum before any handler runs.
async fn json_rejections(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !status.is_client_error() || !plain_text {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        _ => "bad_request",
    };
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_TEXT_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    let mut json = (
        status,
        axum::Json(serde_json::json!({ "error": code, "message": message })),
    )
        .into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// Ends the connection after refusing a body as too large. The server stops reading such a body
/// part-way, so the connection cannot carry another request; without `Connection: close` the
/// client would put it back in its pool and its next request would fail on a broken pipe.
async fn close_after_refused_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[derive(Debug, serde::Serialize)]
struct Health {
    status: &'static str,
    school: String,
    version: &'static str,
    uptime_secs: u64,
}

/// Liveness and readiness: the store answers.
async fn healthz(State(state): State<AppState>) -> Response {
    let store = state.repository.store().clone();
    let readable = tokio::task::spawn_blocking(move || {
        store
            .scope_summary(&sync_protocol::ids::Scope::National)
            .is_ok()
    })
    .await
    .unwrap_or(false);
    let health = Health {
        status: if readable { "ok" } else { "store unreadable" },
        school: state.identity.school.to_string(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started.elapsed().as_secs(),
    };
    let code = if readable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(health)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    match crate::metrics::render(&state).await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error).into_response(),
    }
}
