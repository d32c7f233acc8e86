//! The LTI services a tool calls on its own, without a user: the token endpoint (IMS Security
//! Framework section 4.1, client credentials with a signed JWT client assertion, RFC 7523),
//! Assignment and Grade Services 2.0 (line items and the score publish service) and Names and
//! Role Provisioning Services 2.0 (a class's members).
//!
//! A tool is authorised by its service token's scopes and by what it is connected to: it reads
//! and scores only the line items of assignments done in it, and reads the members of a class
//! only where a teacher placed it or set an assignment in it. Every token, score and roster
//! release is audited before it happens.

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::launch::{context_claim, ims_roles, lti_releasable, released_person_claims};
use super::platform::ServiceToken;
use super::{
    MAX_ASSERTION_LIFETIME, SERVICE_TOKEN_LIFETIME, ToolAtSchool, activated_tool, lock, millis,
    record, scope,
};
use crate::api::{ApiError, blocking, node_now_millis, roster_index};
use crate::model::assignments::{
    AssignmentDocument, MAX_TOOL_COMMENT_CHARS, SubmissionDocument, ToolScore, assignment_doc,
    format_score, submission_doc, validate_score,
};
use crate::model::audit::{AuditEntry, AuditEvent};
use crate::model::class_assignments::{ClassAssignmentsIndex, class_assignments_doc};
use crate::model::common::{ItemId, ModelError, NodeTime};
use crate::oidc::claims::pairwise_subject;
use crate::oidc::endpoints::{pairwise_salt, parameters};
use crate::oidc::grants::random_token;
use crate::school::RosterIndex;
use crate::school::services::placed_in;
use crate::state::AppState;

/// The client assertion type of RFC 7523 section 2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Members per page of a membership container when the request names no `limit`.
pub const DEFAULT_MEMBERS_PER_PAGE: usize = 100;
/// The most members one page lists.
pub const MAX_MEMBERS_PER_PAGE: usize = 500;

const SCORE_MEDIA_TYPE: &str = "application/vnd.ims.lis.v1.score+json";
const LINE_ITEM_MEDIA_TYPE: &str = "application/vnd.ims.lis.v2.lineitem+json";
const LINE_ITEM_CONTAINER_MEDIA_TYPE: &str = "application/vnd.ims.lis.v2.lineitemcontainer+json";
const MEMBERSHIP_CONTAINER_MEDIA_TYPE: &str =
    "application/vnd.ims.lti-nrps.v2.membershipcontainer+json";
const ACTIVITY_PROGRESS: [&str; 5] = [
    "Initialized",
    "Started",
    "InProgress",
    "Submitted",
    "Completed",
];
const GRADING_PROGRESS: [&str; 5] = [
    "FullyGraded",
    "Pending",
    "PendingManual",
    "Failed",
    "NotReady",
];

/// A refusal of a service request: OAuth errors from the token endpoint (RFC 6749 section 5.2),
/// bearer-token errors (RFC 6750 section 3.1), and the API's own errors.
#[derive(Debug)]
pub enum ServiceError {
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    Bearer {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    Api(ApiError),
}

impl From<crate::school::ServiceError> for ServiceError {
    fn from(error: crate::school::ServiceError) -> Self {
        ServiceError::Api(error.into())
    }
}

impl From<ApiError> for ServiceError {
    fn from(error: ApiError) -> Self {
        ServiceError::Api(error)
    }
}

impl From<ModelError> for ServiceError {
    fn from(error: ModelError) -> Self {
        ServiceError::Api(error.into())
    }
}

fn oauth(status: StatusCode, error: &'static str, description: &str) -> ServiceError {
    ServiceError::OAuth {
        status,
        error,
        description: description.to_owned(),
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        match self {
            ServiceError::OAuth {
                status,
                error,
                description,
            } => (
                status,
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({ "error": error, "error_description": description })),
            )
                .into_response(),
            ServiceError::Bearer {
                status,
                error,
                description,
            } => {
                let challenge = format!("Bearer realm=\"digione-lti\", error=\"{error}\"");
                let mut response = (
                    status,
                    Json(json!({ "error": error, "error_description": description })),
                )
                    .into_response();
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            ServiceError::Api(error) => error.into_response(),
        }
    }
}

fn media_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

// ---------------------------------------------------------------------------------------------
// The token endpoint.

/// The claims read from a client assertion.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    exp: i64,
    jti: Option<String>,
}

/// `POST /lti/token`: client credentials with a client assertion signed by the tool's key.
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match issue_token(&state, &headers, &body).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn issue_token(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ServiceError> {
    if !media_type_is(headers, "application/x-www-form-urlencoded") {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let form = parameters(body)
        .map_err(|reason| oauth(StatusCode::BAD_REQUEST, "invalid_request", &reason))?;
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        ));
    }
    let invalid_client =
        |description: &str| oauth(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER_ASSERTION) {
        return Err(invalid_client(
            "authenticate with a JWT client assertion (client_assertion_type jwt-bearer)",
        ));
    }
    let Some(assertion) = form.get("client_assertion") else {
        return Err(invalid_client("client_assertion is missing"));
    };
    let requested: BTreeSet<&str> = form
        .get("scope")
        .map(|scope| scope.split(' ').filter(|value| !value.is_empty()).collect())
        .unwrap_or_default();
    if requested.is_empty() {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "name the scopes wanted",
        ));
    }
    if let Some(unknown) = requested.iter().find(|wanted| !scope::ALL.contains(wanted)) {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("the scope {unknown:?} is not offered"),
        ));
    }
    // The issuer names the tool whose key verifies the assertion; nothing read here is trusted
    // until that verification below.
    let mut unverified = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    unverified.insecure_disable_signature_validation();
    unverified.validate_exp = false;
    unverified.validate_aud = false;
    unverified.required_spec_claims.clear();
    let claimed = jsonwebtoken::decode::<AssertionClaims>(
        assertion,
        &jsonwebtoken::DecodingKey::from_secret(&[]),
        &unverified,
    )
    .map_err(|_| invalid_client("the client assertion is not a JWT"))?;
    let client_id = claimed.claims.iss;
    let found = match super::tool_at_school(state, &client_id).await? {
        Some(found) if found.activation.is_some() => found,
        _ => {
            return Err(invalid_client("not an LTI tool activated at this school"));
        }
    };
    let token_url = state.oidc.endpoint("/lti/token");
    let claims = verify_tool_jwt::<AssertionClaims>(&found, assertion, &token_url, true)
        .map_err(|reason| invalid_client(&format!("the client assertion is refused: {reason}")))?;
    let now = node_now_millis();
    check_fresh_and_unused(state, &found.service.id, &claims, now)
        .map_err(|reason| invalid_client(&format!("the client assertion is refused: {reason}")))?;

    let token = random_token().map_err(ApiError::Internal)?;
    let scopes: Vec<String> = requested.iter().map(|scope| (*scope).to_owned()).collect();
    let joined = scopes.join(" ");
    let entry = AuditEntry {
        at: NodeTime::from_unix_millis(now),
        event: AuditEvent::LtiTokenIssued,
        user: String::new(),
        service: found.service.id.clone(),
        claims: Vec::new(),
        detail: Some(joined.clone()),
        records: None,
    };
    record(state, entry).await?;
    lock(&state.lti.service_tokens)
        .insert(
            token_hash(&token),
            ServiceToken {
                service_id: found.service.id.clone(),
                scopes,
            },
            now + millis(SERVICE_TOKEN_LIFETIME),
            now,
        )
        .map_err(|_| {
            oauth(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many tokens are held; try again later",
            )
        })?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": SERVICE_TOKEN_LIFETIME.as_secs(),
            "scope": joined,
        })),
    )
        .into_response())
}

/// Verifies a JWT the tool signed: RS256 with its catalogued key, issued by the tool
/// (`iss` = client id, and `sub` too for a client assertion), for `audience`, not expired.
pub(crate) fn verify_tool_jwt<T: serde::de::DeserializeOwned>(
    found: &ToolAtSchool,
    token: &str,
    audience: &str,
    subject_is_client: bool,
) -> Result<T, String> {
    let key = found
        .tool
        .decoding_key()
        .map_err(|error| error.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[found.service.id.as_str()]);
    let mut required = vec!["exp", "iat", "iss", "aud"];
    if subject_is_client {
        validation.sub = Some(found.service.id.clone());
        required.push("sub");
    }
    validation.set_required_spec_claims(&required);
    jsonwebtoken::decode::<T>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|error| error.to_string())
}

/// Refuses an assertion valid for longer than [`MAX_ASSERTION_LIFETIME`], without a `jti`, or
/// whose `jti` was seen from the same tool; remembers it until it expires.
fn check_fresh_and_unused(
    state: &AppState,
    service: &str,
    claims: &AssertionClaims,
    now: i64,
) -> Result<(), &'static str> {
    let expires_at = claims.exp.saturating_mul(1000);
    if expires_at - now > millis(MAX_ASSERTION_LIFETIME) {
        return Err("it is valid for too long; at most ten minutes");
    }
    let Some(jti) = claims
        .jti
        .as_ref()
        .filter(|jti| !jti.is_empty() && jti.len() <= 256)
    else {
        return Err("a jti of at most 256 characters is required");
    };
    // A minute of leeway on `exp` (jsonwebtoken's default) is covered by remembering it as long.
    let remember_until = expires_at + 60_000;
    lock(&state.lti.seen_assertions)
        .insert((service.to_owned(), jti.clone()), (), remember_until, now)
        .map_err(|_| "its jti was used already (or too many are in use)")
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The tool of a valid bearer token holding `needed`, still activated here.
async fn bearer(
    state: &AppState,
    headers: &HeaderMap,
    needed: &str,
) -> Result<(ServiceToken, ToolAtSchool), ServiceError> {
    let unauthorized = |description: &str| ServiceError::Bearer {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_token",
        description: description.to_owned(),
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .ok_or_else(|| unauthorized("a bearer token from /lti/token is required"))?;
    let now = node_now_millis();
    let granted = lock(&state.lti.service_tokens)
        .get(&token_hash(&token), now)
        .cloned()
        .ok_or_else(|| unauthorized("the token is unknown or expired"))?;
    if !granted.scopes.iter().any(|scope| scope == needed) {
        return Err(ServiceError::Bearer {
            status: StatusCode::FORBIDDEN,
            error: "insufficient_scope",
            description: format!("the token lacks the scope {needed}"),
        });
    }
    let found = activated_tool(state, &granted.service_id)
        .await
        .map_err(|_| unauthorized("the tool is no longer activated at this school"))?;
    Ok((granted, found))
}

// ---------------------------------------------------------------------------------------------
// Assignment and Grade Services.

/// The line item of an assignment done in a tool with a score maximum.
fn line_item_json(state: &AppState, assignment: &AssignmentDocument) -> Option<Value> {
    let link = assignment.lti_link.as_ref()?;
    let maximum: f64 = link.score_maximum.as_deref()?.parse().ok()?;
    let due = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(assignment.due_at.0) * 1_000_000,
    )
    .ok()
    .and_then(|due| {
        due.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    let mut item = json!({
        "id": state.oidc.endpoint(&format!("/lti/assignments/{}/lineitem", assignment.id)),
        "scoreMaximum": maximum,
        "label": assignment.title,
        "resourceLinkId": format!("assignment-{}", assignment.id),
    });
    if let Some(due) = due {
        item["endDateTime"] = due.into();
    }
    Some(item)
}

/// The assignments of `class`, read through its index (bounded by
/// [`crate::model::class_assignments::MAX_ASSIGNMENTS_PER_CLASS`]).
async fn class_assignments(
    state: &AppState,
    class: &str,
) -> Result<Vec<AssignmentDocument>, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let class = class.to_owned();
    blocking(move || {
        let index: ClassAssignmentsIndex =
            repository.read_or_default(&class_assignments_doc(&school, &class))?;
        let mut assignments = Vec::new();
        for id in index.assignments.keys() {
            let Ok(id) = id.parse::<ItemId>() else {
                continue;
            };
            if let Some(assignment) =
                repository.read::<AssignmentDocument>(&assignment_doc(&school, &id))?
                && assignment.id == id.as_str()
                && assignment.class_sourced_id == class
            {
                assignments.push(assignment);
            }
        }
        Ok(assignments)
    })
    .await
}

fn require_class(roster: &RosterIndex, class: &str) -> Result<(), ApiError> {
    if roster.classes.contains_key(class) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "class {class:?} does not exist"
        )))
    }
}

fn with_media_type(media_type: &'static str, body: Value) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(media_type))],
        body.to_string(),
    )
        .into_response()
}

/// `GET /lti/classes/{class}/lineitems`: the line items of the class's assignments done in the
/// calling tool.
pub async fn line_items(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(class): UrlPath<String>,
) -> Result<Response, ServiceError> {
    let (granted, _) = bearer(&state, &headers, scope::LINE_ITEM_READ).await?;
    require_class(&*roster_index(&state).await?, &class)?;
    let items: Vec<Value> = class_assignments(&state, &class)
        .await?
        .iter()
        .filter(|assignment| {
            assignment
                .lti_link
                .as_ref()
                .is_some_and(|link| link.service_id == granted.service_id)
        })
        .filter_map(|assignment| line_item_json(&state, assignment))
        .collect();
    Ok(with_media_type(
        LINE_ITEM_CONTAINER_MEDIA_TYPE,
        json!(items),
    ))
}

/// An assignment done in the calling tool, with a line item.
async fn tool_assignment(
    state: &AppState,
    granted: &ServiceToken,
    id: &str,
) -> Result<AssignmentDocument, ServiceError> {
    let assignment = super::launch::read_assignment(state, id).await?;
    let linked = assignment
        .lti_link
        .as_ref()
        .is_some_and(|link| link.service_id == granted.service_id && link.score_maximum.is_some());
    if !linked {
        return Err(ApiError::NotFound(format!("the tool has no line item {id}")).into());
    }
    Ok(assignment)
}

/// `GET /lti/assignments/{id}/lineitem`.
pub async fn line_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ServiceError> {
    let (granted, _) = bearer(&state, &headers, scope::LINE_ITEM_READ).await?;
    let assignment = tool_assignment(&state, &granted, &id).await?;
    let item = line_item_json(&state, &assignment)
        .ok_or_else(|| ApiError::NotFound(format!("no line item {id}")))?;
    Ok(with_media_type(LINE_ITEM_MEDIA_TYPE, item))
}

/// A score as AGS 2.0 sends it (section 3.4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScoreRequest {
    user_id: String,
    score_given: Option<f64>,
    score_maximum: Option<f64>,
    comment: Option<String>,
    timestamp: String,
    activity_progress: String,
    grading_progress: String,
}

/// `POST /lti/assignments/{id}/lineitem/scores`: the score becomes the pupil's tool score on the
/// assignment, durably, after the audit record.
pub async fn post_score(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ServiceError> {
    let (granted, found) = bearer(&state, &headers, scope::SCORE).await?;
    if !media_type_is(&headers, SCORE_MEDIA_TYPE) {
        return Err(ApiError::BadRequest(format!("the body must be {SCORE_MEDIA_TYPE}")).into());
    }
    let assignment = tool_assignment(&state, &granted, &id).await?;
    let request: ScoreRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("not a score: {error}")))?;
    if !ACTIVITY_PROGRESS.contains(&request.activity_progress.as_str()) {
        return Err(ApiError::BadRequest("an unknown activityProgress".into()).into());
    }
    if !GRADING_PROGRESS.contains(&request.grading_progress.as_str()) {
        return Err(ApiError::BadRequest("an unknown gradingProgress".into()).into());
    }
    let (score_given, score_maximum) = match (request.score_given, request.score_maximum) {
        (Some(given), Some(maximum)) => {
            let given = validate_score("scoreGiven", given)?;
            let maximum = validate_score("scoreMaximum", maximum)?;
            if maximum <= 0.0 {
                return Err(ApiError::BadRequest("scoreMaximum must be more than 0".into()).into());
            }
            (Some(format_score(given)), Some(format_score(maximum)))
        }
        (None, _) => (None, None),
        (Some(_), None) => {
            return Err(ApiError::BadRequest("scoreGiven needs scoreMaximum".into()).into());
        }
    };
    if request
        .comment
        .as_ref()
        .is_some_and(|comment| comment.chars().count() > MAX_TOOL_COMMENT_CHARS)
    {
        return Err(ApiError::BadRequest(format!(
            "the comment is longer than {MAX_TOOL_COMMENT_CHARS} characters"
        ))
        .into());
    }
    let timestamp = time::OffsetDateTime::parse(
        &request.timestamp,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| ApiError::BadRequest("timestamp is not an ISO 8601 date and time".into()))?;
    let timestamp_millis =
        i64::try_from(timestamp.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);

    let roster = roster_index(&state).await?;
    let salt = pairwise_salt(&state).await?;
    let class = assignment.class_sourced_id.clone();
    let pupil = roster
        .classes
        .get(&class)
        .map(|document| document.pupils())
        .unwrap_or_default()
        .into_iter()
        .find(|pupil| pairwise_subject(&salt, &found.service.id, pupil) == request.user_id)
        .cloned()
        .ok_or_else(|| {
            ApiError::BadRequest("userId is not a pupil of the assignment's class".into())
        })?;
    let now = node_now_millis();
    let score = ToolScore {
        service_id: found.service.id.clone(),
        score_given,
        score_maximum,
        comment: request.comment,
        activity_progress: request.activity_progress,
        grading_progress: request.grading_progress,
        timestamp_millis,
        received_at: NodeTime::from_unix_millis(now),
    };
    let assignment_id: ItemId = assignment.id.parse().map_err(ApiError::from)?;
    // A score older than the one kept is refused (AGS 2.0). It is checked here too, before the
    // audit entry, so that the log does not say a refused score was received; the update below
    // checks again, for a newer score that arrives in between.
    let kept = {
        let repository = state.repository.clone();
        let document = submission_doc(&state.identity.school, &assignment_id, &pupil);
        blocking(move || Ok(repository.read::<SubmissionDocument>(&document)?)).await?
    };
    if kept
        .and_then(|submission| submission.tool_score)
        .is_some_and(|kept| kept.timestamp_millis > timestamp_millis)
    {
        return Err(ApiError::Conflict(
            "a newer score from the tool is already recorded".to_owned(),
        )
        .into());
    }
    let entry = AuditEntry {
        at: NodeTime::from_unix_millis(now),
        event: AuditEvent::LtiScoreReceived,
        user: pupil.clone(),
        service: found.service.id.clone(),
        claims: Vec::new(),
        detail: Some(format!("assignment {}", assignment.id)),
        records: None,
    };
    record(&state, entry).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        repository.update(
            &submission_doc(&school, &assignment_id, &pupil),
            |submission: &mut SubmissionDocument| {
                submission.open_for(&assignment_id, &pupil)?;
                submission.record_tool_score(score)
            },
        )?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Names and Role Provisioning Services.

#[derive(Debug, Deserialize)]
pub struct MembershipQuery {
    pub limit: Option<usize>,
    /// 1 for the first page.
    pub page: Option<usize>,
}

/// `GET /lti/classes/{class}/memberships`: the class's teachers and pupils, with pairwise ids,
/// their roles in the class, and names and email only as the school approved.
pub async fn memberships(
    State(state): State<AppState>,
    headers: HeaderMap,
    UrlPath(class): UrlPath<String>,
    Query(query): Query<MembershipQuery>,
) -> Result<Response, ServiceError> {
    let (_, found) = bearer(&state, &headers, scope::MEMBERSHIPS).await?;
    let roster = roster_index(&state).await?;
    require_class(&roster, &class)?;
    let limit = query.limit.unwrap_or(DEFAULT_MEMBERS_PER_PAGE);
    if !(1..=MAX_MEMBERS_PER_PAGE).contains(&limit) {
        return Err(
            ApiError::BadRequest(format!("limit must be 1 to {MAX_MEMBERS_PER_PAGE}")).into(),
        );
    }
    let page = query.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::BadRequest("pages count from 1".into()).into());
    }
    if !connected_to_class(&state, &found.service.id, &class).await? {
        return Err(ApiError::Forbidden(format!(
            "the tool is not placed in class {class:?} and has no assignment there"
        ))
        .into());
    }
    let document = roster
        .classes
        .get(&class)
        .ok_or_else(|| ApiError::NotFound(format!("class {class:?} does not exist")))?;
    let members: Vec<&String> = document
        .teachers()
        .into_iter()
        .chain(document.pupils())
        .collect();
    let start = (page - 1).saturating_mul(limit);
    let shown: Vec<&String> = members.iter().skip(start).take(limit).copied().collect();
    let released = lti_releasable(&found);
    let salt = pairwise_salt(&state).await?;
    let now = node_now_millis();
    let entry = AuditEntry {
        at: NodeTime::from_unix_millis(now),
        event: AuditEvent::LtiRosterReleased,
        user: String::new(),
        service: found.service.id.clone(),
        claims: released.clone(),
        detail: Some(format!("class {class}, {} members", shown.len())),
        records: None,
    };
    record(&state, entry).await?;
    let member_values: Vec<Value> = shown
        .iter()
        .map(|member| {
            let mut value = json!({
                "user_id": pairwise_subject(&salt, &found.service.id, member),
                "status": "Active",
                "roles": ims_roles(&roster, member, Some(&class))
                    .into_iter()
                    .filter(|role| role.contains("/membership#"))
                    .collect::<Vec<_>>(),
            });
            for (name, claim) in released_person_claims(&roster, &state, member, &released) {
                value[name] = claim;
            }
            value
        })
        .collect();
    let url = state.oidc.endpoint(&format!(
        "/lti/classes/{}/memberships",
        crate::url_path::path_segment(&class)
    ));
    let body = json!({
        "id": url,
        "context": context_claim(&roster, &class),
        "members": member_values,
    });
    let mut response = with_media_type(MEMBERSHIP_CONTAINER_MEDIA_TYPE, body);
    if start + shown.len() < members.len() {
        let next = format!("<{url}?limit={limit}&page={}>; rel=\"next\"", page + 1);
        if let Ok(value) = HeaderValue::from_str(&next) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Whether `service` is placed in `class` or an assignment of the class is done in it.
async fn connected_to_class(
    state: &AppState,
    service: &str,
    class: &str,
) -> Result<bool, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let (service_id, class_id) = (service.to_owned(), class.to_owned());
    let placed =
        blocking(move || Ok(placed_in(&repository, &school, &class_id)?.contains(&service_id)))
            .await?;
    if placed {
        return Ok(true);
    }
    Ok(class_assignments(state, class)
        .await?
        .iter()
        .any(|assignment| {
            assignment
                .lti_link
                .as_ref()
                .is_some_and(|link| link.service_id == service)
        }))
}
