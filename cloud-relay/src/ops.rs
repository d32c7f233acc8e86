//! The operations HTTP listener: fleet JSON, Prometheus metrics and a server-rendered dashboard.
//!
//! | route                    | auth     | what                                                   |
//! |--------------------------|----------|--------------------------------------------------------|
//! | `GET /healthz`           | none     | `{"status":"ok","version":…,"uptime_secs":…}`          |
//! | `GET /`                  | operator | the dashboard (HTML, refreshes itself every 15 s)      |
//! | `GET /dashboard.css`     | operator | the dashboard's stylesheet                             |
//! | `GET /api/v1/fleet`      | operator | summary and nodes; `?municipality=092&state=stale`     |
//! | `GET /api/v1/fleet/{id}` | operator | one [`NodeView`]; 400 for a malformed id, 404 unknown  |
//! | `GET /metrics`           | operator | OpenMetrics text for Prometheus                        |
//!
//! The operator token is accepted as `Authorization: Bearer <token>` (scripts, Prometheus'
//! `authorization` setting) or as the password of HTTP Basic with any user name (browsers, which
//! prompt for it because a 401 carries `WWW-Authenticate: Basic`). Only the token's SHA-256 digest is
//! kept, and digests are compared in constant time, so neither the token's content nor its length
//! leaks through timing.
//!
//! Every response carries a strict content security policy (`default-src 'self'`): the dashboard has
//! no inline style or script, its stylesheet is served from `/dashboard.css`, and it refreshes with a
//! `<meta http-equiv="refresh">`, so it works without JavaScript.
//!
//! The listener is meant for the operations network, not the internet: it has no connection limit
//! or slow-client timeout of its own.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use maud::{DOCTYPE, Markup, html};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use sync_protocol::ids::{MunicipalityCode, NodeId};

use crate::fleet::{
    FleetRegistry, FleetSummary, NodeState, NodeView, ReconcilingView, SyncVerdict, Waiting,
};
use crate::metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, RelayMetrics, StoreStats};

/// The shortest operator token accepted. The token is the only thing between the network and the
/// fleet's data, so it must be long enough that guessing it is hopeless.
pub const MIN_OPERATOR_TOKEN_CHARS: usize = 24;

/// The most rows the dashboard shows; the stalest come first, so these are the ones that need
/// attention. Filters narrow the list; the JSON API always lists every node.
pub const MAX_DASHBOARD_ROWS: usize = 500;

/// How often the dashboard reloads itself, in seconds.
pub const DASHBOARD_REFRESH_SECS: u32 = 15;

/// The realm browsers show in their password prompt.
const AUTH_REALM_CHALLENGE: &str = "Basic realm=\"DigiOne relay operations\", charset=\"UTF-8\"";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; frame-ancestors 'none'";

/// A certificate that expires within this many days is highlighted on the dashboard.
const CERTIFICATE_WARNING_DAYS: i64 = 14;

/// The operator token, kept only as its SHA-256 digest.
#[derive(Clone)]
pub struct OperatorToken {
    digest: [u8; 32],
}

/// Why an operator token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operator token must be at least {MIN_OPERATOR_TOKEN_CHARS} characters long")]
pub struct WeakOperatorToken;

impl OperatorToken {
    pub fn new(token: &str) -> Result<Self, WeakOperatorToken> {
        if token.trim().chars().count() < MIN_OPERATOR_TOKEN_CHARS {
            return Err(WeakOperatorToken);
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Whether `presented` is the token. Both are hashed first so that the comparison takes the
    /// same time whatever the presented length, and compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let presented_digest: [u8; 32] = Sha256::digest(presented).into();
        presented_digest.ct_eq(&self.digest).into()
    }
}

impl fmt::Debug for OperatorToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("OperatorToken(redacted)")
    }
}

/// The current time as seconds since the Unix epoch; injectable so that tests control it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Reads the relay store's size; called once per scrape or dashboard view, on a blocking thread.
pub type StoreStatsSource = Arc<dyn Fn() -> StoreStats + Send + Sync>;

/// Everything the operations listener reads.
#[derive(Clone)]
pub struct OpsState {
    pub registry: FleetRegistry,
    pub metrics: RelayMetrics,
    pub operator_token: OperatorToken,
    pub store_stats: StoreStatsSource,
    pub clock: Clock,
    /// When the relay started, for `uptime_secs`.
    pub started: Instant,
    /// The relay's version, shown by `/healthz` and the dashboard.
    pub version: &'static str,
}

impl OpsState {
    /// A state with the system clock, started now, and this crate's version.
    pub fn new(
        registry: FleetRegistry,
        metrics: RelayMetrics,
        operator_token: OperatorToken,
        store_stats: StoreStatsSource,
    ) -> Self {
        Self {
            registry,
            metrics,
            operator_token,
            store_stats,
            clock: Arc::new(system_unix_seconds),
            started: Instant::now(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The same state reading time from `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    fn now_unix(&self) -> i64 {
        (self.clock)()
    }
}

impl fmt::Debug for OpsState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("OpsState")
            .field("registry", &self.registry)
            .field("metrics", &self.metrics)
            .field("operator_token", &self.operator_token)
            .field("started", &self.started)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Seconds since the Unix epoch by the system clock; zero if the clock is before 1970.
pub fn system_unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The operations routes; see the module documentation.
pub fn router(state: OpsState) -> Router {
    let protected = Router::new()
        .route("/", get(dashboard))
        .route("/dashboard.css", get(dashboard_css))
        .route("/api/v1/fleet", get(fleet))
        .route("/api/v1/fleet/{node}", get(fleet_node))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_operator,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(protected)
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// Serves the operations routes on `listener` until `shutdown` completes, then lets requests in
/// flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: OpsState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "operations listener ready");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

// ---------------------------------------------------------------------------------------------
// Errors, authentication and headers

/// An error answer: a status and a JSON body `{"error": "…"}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn internal(what: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the relay failed to {what}; see its log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(AUTH_REALM_CHALLENGE),
            );
        }
        response
    }
}

/// Lets a request through only with the operator token.
async fn require_operator(State(state): State<OpsState>, request: Request, next: Next) -> Response {
    match presented_token(request.headers()) {
        Some(token) if state.operator_token.matches(&token) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "the operator token is wrong")
            .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this needs the operator token, as `Authorization: Bearer <token>` or as the HTTP Basic password",
        )
        .into_response(),
    }
}

/// The token from `Authorization: Bearer <token>` or the password of `Authorization: Basic`.
fn presented_token(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, credentials) = text.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(credentials.as_bytes().to_vec())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()?;
        let colon = decoded.iter().position(|byte| *byte == b':')?;
        decoded.get(colon + 1..).map(<[u8]>::to_vec)
    } else {
        None
    }
}

/// Adds the security headers to every response. Responses that chose their own caching (the
/// stylesheet) keep it; everything else is live data and is never stored.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// Runs registry and store reads on a blocking thread: a snapshot of thousands of nodes, or a store
/// callback that touches the disk, must not stall the runtime's workers.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, what, "operations request failed");
        ApiError::internal(what)
    })
}

// ---------------------------------------------------------------------------------------------
// Health, fleet JSON and metrics

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    uptime_secs: u64,
}

async fn healthz(State(state): State<OpsState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: state.version,
        uptime_secs: state.started.elapsed().as_secs(),
    })
}

/// The query of `/api/v1/fleet` and `/`: both filters are optional, and empty means all (the
/// dashboard's form sends `municipality=` for "all municipalities").
#[derive(Debug, Default, Deserialize)]
struct FleetQuery {
    municipality: Option<String>,
    state: Option<String>,
}

/// Parsed filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
struct FleetFilter {
    municipality: Option<MunicipalityCode>,
    state: Option<NodeState>,
}

impl FleetFilter {
    fn parse(query: Result<Query<FleetQuery>, QueryRejection>) -> Result<Self, ApiError> {
        let Query(query) = query
            .map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
        let non_empty = |text: Option<String>| text.filter(|text| !text.is_empty());
        let municipality = non_empty(query.municipality)
            .map(|text| text.parse::<MunicipalityCode>())
            .transpose()
            .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error.to_string()))?;
        let state = non_empty(query.state)
            .map(|text| text.parse::<NodeState>())
            .transpose()
            .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error.to_string()))?;
        Ok(Self {
            municipality,
            state,
        })
    }

    fn admits(&self, view: &NodeView) -> bool {
        self.municipality
            .as_ref()
            .is_none_or(|wanted| view.municipality.as_ref() == Some(wanted))
            && self.state.is_none_or(|wanted| view.state == wanted)
    }
}

/// The answer of `GET /api/v1/fleet`. `summary` counts the whole fleet; `nodes` are those the
/// filter admits, longest without contact first.
#[derive(Debug, Serialize)]
struct FleetResponse {
    generated_unix: i64,
    filter: FleetFilter,
    summary: FleetSummary,
    nodes: Vec<NodeView>,
}

async fn fleet(
    State(state): State<OpsState>,
    query: Result<Query<FleetQuery>, QueryRejection>,
) -> Result<Json<FleetResponse>, ApiError> {
    let filter = FleetFilter::parse(query)?;
    let now_unix = state.now_unix();
    let response = blocking("list the fleet", move || {
        let mut nodes = state.registry.snapshot(now_unix);
        let summary = FleetSummary::of(&nodes);
        nodes.retain(|view| filter.admits(view));
        FleetResponse {
            generated_unix: now_unix,
            filter,
            summary,
            nodes,
        }
    })
    .await?;
    Ok(Json(response))
}

async fn fleet_node(
    State(state): State<OpsState>,
    node: Result<Path<String>, PathRejection>,
) -> Result<Json<NodeView>, ApiError> {
    let Path(node) =
        node.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let node: NodeId = node.parse().map_err(|error: sync_protocol::ids::IdError| {
        ApiError::new(StatusCode::BAD_REQUEST, error.to_string())
    })?;
    state
        .registry
        .node(&node, state.now_unix())
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no node {node} is known")))
}

async fn metrics(State(state): State<OpsState>) -> Result<Response, ApiError> {
    let now_unix = state.now_unix();
    let text = blocking("render the metrics", move || {
        let store = (state.store_stats)();
        state.metrics.render(&state.registry, store, now_unix)
    })
    .await?
    .map_err(|error| {
        tracing::error!(%error, "metrics could not be encoded");
        ApiError::internal("render the metrics")
    })?;
    Ok(([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}

// ---------------------------------------------------------------------------------------------
// Dashboard

/// The stylesheet, in its own file so that the page needs no inline style under the CSP.
const DASHBOARD_CSS: &str = include_str!("dashboard.css");

async fn dashboard_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        DASHBOARD_CSS,
    )
        .into_response()
}

/// What one dashboard page shows, read on a blocking thread.
struct DashboardData {
    now_unix: i64,
    version: &'static str,
    uptime_secs: u64,
    filter: FleetFilter,
    summary: FleetSummary,
    store: StoreStats,
    municipalities: Vec<MunicipalityCode>,
    matching: usize,
    rows: Vec<NodeView>,
}

async fn dashboard(
    State(state): State<OpsState>,
    query: Result<Query<FleetQuery>, QueryRejection>,
) -> Result<Markup, ApiError> {
    let filter = FleetFilter::parse(query)?;
    let now_unix = state.now_unix();
    let data = blocking("render the dashboard", move || {
        let nodes = state.registry.snapshot(now_unix);
        let summary = FleetSummary::of(&nodes);
        let municipalities = summary
            .municipalities
            .iter()
            .map(|municipality| municipality.municipality.clone())
            .collect();
        let mut rows: Vec<NodeView> = nodes
            .into_iter()
            .filter(|view| filter.admits(view))
            .collect();
        let matching = rows.len();
        rows.truncate(MAX_DASHBOARD_ROWS);
        DashboardData {
            now_unix,
            version: state.version,
            uptime_secs: state.started.elapsed().as_secs(),
            filter,
            summary,
            store: (state.store_stats)(),
            municipalities,
            matching,
            rows,
        }
    })
    .await?;
    Ok(render_dashboard(&data))
}

fn render_dashboard(data: &DashboardData) -> Markup {
    let selected_municipality = data.filter.municipality.as_ref().map(ToString::to_string);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(DASHBOARD_REFRESH_SECS);
                title { "DigiOne relay: fleet" }
                link rel="stylesheet" href="/dashboard.css";
            }
            body {
                header {
                    h1 { "DigiOne relay: fleet" }
                    p class="meta" {
                        "Version " (data.version) ", up " (format_duration(data.uptime_secs)) ". "
                        "Generated "
                        @if let Some(exact) = rfc3339(data.now_unix) {
                            time datetime=(exact) { (exact) }
                        }
                        "; "
                        "this page reloads every " (DASHBOARD_REFRESH_SECS) " seconds."
                    }
                }
                main {
                    (render_summary(data))
                    section aria-labelledby="nodes-heading" {
                        h2 id="nodes-heading" { "Nodes" }
                        (render_filter_form(data, selected_municipality.as_deref()))
                        (render_node_table(data))
                    }
                }
            }
        }
    }
}

fn render_summary(data: &DashboardData) -> Markup {
    let summary = &data.summary;
    html! {
        section aria-labelledby="summary-heading" {
            h2 id="summary-heading" { "Summary" }
            dl class="summary" {
                div { dt { "Nodes" } dd { (summary.total) } }
                div { dt { "Connected" } dd { (summary.connected) } }
                div class="sync-reconciling" { dt { "Reconciling" } dd { (summary.reconciling) } }
                @for state in NodeState::ALL {
                    div class={ "state-" (state.as_str()) } {
                        dt { (state_label(state)) }
                        dd { (summary.states.get(state)) }
                    }
                }
                div { dt { "Relay documents" } dd { (data.store.documents) } }
                div { dt { "Relay store" } dd { (format_bytes(data.store.bytes)) } }
            }
        }
    }
}

fn render_filter_form(data: &DashboardData, selected_municipality: Option<&str>) -> Markup {
    html! {
        form method="get" action="/" class="filter" {
            label for="municipality" { "Municipality" }
            select id="municipality" name="municipality" {
                option value="" selected[selected_municipality.is_none()] { "All municipalities" }
                @for municipality in &data.municipalities {
                    @let code = municipality.to_string();
                    option value=(code) selected[selected_municipality == Some(code.as_str())] {
                        (code)
                    }
                }
            }
            label for="state" { "State" }
            select id="state" name="state" {
                option value="" selected[data.filter.state.is_none()] { "All states" }
                @for state in NodeState::ALL {
                    option value=(state.as_str()) selected[data.filter.state == Some(state)] {
                        (state_label(state))
                    }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

fn render_node_table(data: &DashboardData) -> Markup {
    let shown = data.rows.len();
    html! {
        div class="table-scroll" {
            table {
                caption {
                    (data.matching) " nodes"
                    @if let Some(municipality) = &data.filter.municipality {
                        " in municipality " (municipality)
                    }
                    @if let Some(state) = data.filter.state {
                        " in state " (state_label(state))
                    }
                    ", longest without contact first"
                    @if shown < data.matching {
                        "; showing the first " (shown) ", filter to see others"
                    }
                    "."
                }
                thead {
                    tr {
                        th scope="col" { "State" }
                        th scope="col" { "Sync" }
                        th scope="col" { "Node" }
                        th scope="col" { "School" }
                        th scope="col" { "Municipality" }
                        th scope="col" { "Last seen" }
                        th scope="col" { "Offline for" }
                        th scope="col" { "RTT" }
                        th scope="col" { "Waiting to node" }
                        th scope="col" { "Waiting from node" }
                        th scope="col" { "Last complete sync" }
                        th scope="col" { "Certificate expires" }
                        th scope="col" { "Disk free" }
                        th scope="col" { "Errors" }
                    }
                }
                tbody {
                    @if data.rows.is_empty() {
                        tr { td colspan="14" { "No nodes match this filter." } }
                    }
                    @for view in &data.rows {
                        (render_node_row(view, data.now_unix))
                    }
                }
            }
        }
    }
}

fn render_node_row(view: &NodeView, now_unix: i64) -> Markup {
    let node = view.node_id.to_string();
    html! {
        tr class="node" data-node=(node) data-state=(view.state.as_str()) {
            td { span class={ "state state-" (view.state.as_str()) } { (state_label(view.state)) } }
            td {
                @match view.sync {
                    Some(sync) => span class={ "sync sync-" (sync.as_str()) } { (sync_label(sync, view.reconciling.as_ref())) },
                    None => "–",
                }
            }
            th scope="row" { a href={ "/api/v1/fleet/" (node) } { (node) } }
            td { (optional(view.school.as_ref())) }
            td { (optional(view.municipality.as_ref())) }
            td {
                @match view.last_seen_unix {
                    Some(seen) => (time_element(seen, now_unix)),
                    None => "never",
                }
            }
            td {
                @match view.offline_for_secs {
                    Some(offline) => (format_duration(offline)),
                    None => "–",
                }
            }
            td class="number" {
                @match view.rtt_millis {
                    Some(rtt) => { (rtt) " ms" },
                    None => "–",
                }
            }
            td { (format_waiting_to_node(view.waiting_to_node, view.reconciling.as_ref())) }
            td { (format_waiting_from_node(view.waiting_from_node, view.reconciling.as_ref())) }
            td {
                @match view.last_complete_sync_unix {
                    Some(synced) => (time_element(synced, now_unix)),
                    None => "never",
                }
            }
            td class=[certificate_class(view.certificate_expires_in_secs)] {
                (format_certificate_expiry(view.certificate_expires_in_secs))
            }
            td class="number" {
                @match view.health {
                    Some(health) => (format_bytes(health.disk_free_bytes)),
                    None => "–",
                }
            }
            td class="number" {
                @match &view.last_error {
                    Some(message) if view.errors_total > 0 => {
                        details {
                            summary { (view.errors_total) }
                            (message)
                        }
                    },
                    _ => (view.errors_total),
                }
            }
        }
    }
}

/// The state as words: the colour of a state is decoration only.
fn state_label(state: NodeState) -> &'static str {
    match state {
        NodeState::Online => "Online",
        NodeState::Stale => "Stale",
        NodeState::Offline => "Offline",
        NodeState::Lost => "Lost",
        NodeState::NeverConnected => "Never connected",
        NodeState::Revoked => "Revoked",
    }
}

/// The sync verdict as words, with the scopes whose digests differ while reconciling.
fn sync_label(sync: SyncVerdict, reconciling: Option<&ReconcilingView>) -> String {
    match (sync, reconciling) {
        (SyncVerdict::Reconciling, Some(reconciling))
            if !reconciling.scopes_differing.is_empty() =>
        {
            format!(
                "Reconciling: digests of {} differ",
                reconciling.scopes_differing.join(", ")
            )
        }
        (SyncVerdict::Reconciling, _) => "Reconciling".to_owned(),
        (SyncVerdict::Sending, _) => "Sending".to_owned(),
        (SyncVerdict::InSync, _) => "In sync".to_owned(),
    }
}

fn optional(value: Option<&impl fmt::Display>) -> String {
    value.map_or_else(|| "–".to_owned(), ToString::to_string)
}

/// A past moment as "3 min ago", with the exact time in machine-readable form and as a tooltip.
fn time_element(unix: i64, now_unix: i64) -> Markup {
    let exact = rfc3339(unix);
    let ago = u64::try_from(now_unix.saturating_sub(unix)).unwrap_or(0);
    let relative = if ago < 5 {
        "just now".to_owned()
    } else {
        format!("{} ago", format_duration(ago))
    };
    html! {
        @match exact {
            Some(exact) => time datetime=(exact) title=(exact) { (relative) },
            None => (relative),
        }
    }
}

/// A moment as RFC 3339 text in UTC; `None` before 1970.
fn rfc3339(unix: i64) -> Option<String> {
    let secs = u64::try_from(unix).ok()?;
    Some(humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string())
}

/// A duration in its largest sensible unit: "42 s", "3 min", "5 h", "12 d".
fn format_duration(secs: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    match secs {
        secs if secs < MINUTE => format!("{secs} s"),
        secs if secs < HOUR => format!("{} min", secs / MINUTE),
        secs if secs < 2 * DAY => format!("{} h", secs / HOUR),
        secs => format!("{} d", secs / DAY),
    }
}

/// Bytes in decimal units, as disk vendors and `df -H` show them.
fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What waits for the node. An empty queue reads "nothing" only when the node is not reconciling:
/// while a digest differs, the relay does not know yet what the node lacks.
fn format_waiting_to_node(
    waiting: Option<Waiting>,
    reconciling: Option<&ReconcilingView>,
) -> String {
    match (waiting, reconciling) {
        (
            Some(Waiting {
                docs: 0, blobs: 0, ..
            })
            | None,
            Some(_),
        ) => "not known yet (reconciling)".to_owned(),
        _ => format_waiting(waiting),
    }
}

/// What waits to come from the node: while reconciling, what the relay still expects (offered and
/// not yet here, plus the node's reported backlog), which is never read as "nothing".
fn format_waiting_from_node(
    waiting: Option<Waiting>,
    reconciling: Option<&ReconcilingView>,
) -> String {
    match reconciling {
        Some(ReconcilingView {
            documents_to_receive: 0,
            bytes_to_receive: 0,
            ..
        }) => "not known yet (reconciling)".to_owned(),
        Some(reconciling) => format!(
            "{} docs, {} to come (reconciling)",
            reconciling.documents_to_receive,
            format_bytes(reconciling.bytes_to_receive)
        ),
        None => format_waiting(waiting),
    }
}

fn format_waiting(waiting: Option<Waiting>) -> String {
    match waiting {
        None => "–".to_owned(),
        Some(Waiting {
            docs: 0, blobs: 0, ..
        }) => "nothing".to_owned(),
        Some(waiting) => format!(
            "{} docs, {} blobs, {}",
            waiting.docs,
            waiting.blobs,
            format_bytes(waiting.bytes)
        ),
    }
}

fn format_certificate_expiry(expires_in_secs: i64) -> String {
    match u64::try_from(expires_in_secs) {
        Ok(remaining) => format!("in {}", format_duration(remaining)),
        Err(_) => format!(
            "expired {} ago",
            format_duration(expires_in_secs.unsigned_abs())
        ),
    }
}

fn certificate_class(expires_in_secs: i64) -> Option<&'static str> {
    if expires_in_secs < 0 {
        Some("expired")
    } else if expires_in_secs < CERTIFICATE_WARNING_DAYS * 24 * 60 * 60 {
        Some("expiring")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_naturally() {
        assert_eq!(format_duration(42), "42 s");
        assert_eq!(format_duration(180), "3 min");
        assert_eq!(format_duration(3 * 3600), "3 h");
        assert_eq!(format_duration(5 * 86_400), "5 d");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(1_500_000), "1.5 MB");
        assert_eq!(format_certificate_expiry(-86_400 * 3), "expired 3 d ago");
    }

    #[test]
    fn tokens_are_read_from_bearer_and_basic() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-token"),
        );
        assert_eq!(presented_token(&headers), Some(b"secret-token".to_vec()));
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:pass:word");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("basic {basic}")).expect("header"),
        );
        assert_eq!(presented_token(&headers), Some(b"pass:word".to_vec()));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Digest x"));
        assert_eq!(presented_token(&headers), None);
    }

    #[test]
    fn short_tokens_are_refused_and_long_ones_match_only_themselves() {
        assert!(OperatorToken::new("short").is_err());
        let token = OperatorToken::new("a-long-enough-operator-token").expect("token");
        assert!(token.matches(b"a-long-enough-operator-token"));
        assert!(!token.matches(b"a-long-enough-operator-tokem"));
        assert!(!token.matches(b""));
    }
}
