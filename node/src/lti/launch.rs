//! Launches: the node's third-party-initiated login into a tool (OpenID Connect Core section 4,
//! IMS Security Framework section 5.1.1) and the signed LTI message it answers the tool's
//! authentication request with (LTI Core 1.3 section 5).
//!
//! The flow: the user's browser opens `/lti/launch/{service}` on the node → the node keeps a
//! pending launch bound to the session and redirects to the tool's login initiation URL with
//! `iss`, `login_hint`, `target_link_uri`, `lti_message_hint`, `client_id` and
//! `lti_deployment_id` → the tool sends the browser to `/lti/authorize` (`response_type=id_token`,
//! `response_mode=form_post`, `prompt=none`, a `nonce`, the registered `redirect_uri`) → the node
//! takes the pending launch (single use), checks that it is this session's and that
//! `login_hint` is the user's, records the release in the audit log, and answers a page whose
//! form posts `id_token` and `state` to the tool. A small static script submits it; without
//! JavaScript the user presses Continue. The page's own content security policy allows that one
//! form target and nothing else.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::platform::{LaunchMessage, PendingLaunch};
use super::{
    LTI_VERSION, PENDING_LAUNCH_LIFETIME, ToolAtSchool, activated_tool, claim, lock, record, scope,
    tool_at_school,
};
use crate::api::{ApiError, blocking, node_now_millis, roster_index};
use crate::auth::{AuthError, Caller};
use crate::model::UserRole;
use crate::model::assignments::{AssignmentDocument, assignment_doc};
use crate::model::audit::{AuditEntry, AuditEvent};
use crate::model::catalogue::{ReleasableClaim, ServiceCategory};
use crate::model::common::{ItemId, NodeTime};
use crate::oidc::MAX_STATE_BYTES;
use crate::oidc::claims::{pairwise_subject, released_claims};
use crate::oidc::endpoints::{AuthorizeRefusal, client_request, pairwise_salt};
use crate::oidc::grants::random_token;
use crate::oidc::keys::SigningAlgorithm;
use crate::school::services::placed_in;
use crate::school::{Access, RosterIndex};
use crate::state::AppState;

/// IMS role URIs (LTI Core 1.3 appendix A.2).
pub mod role {
    pub const LEARNER: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
    pub const INSTRUCTOR: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor";
    pub const MENTOR: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor";
    pub const STUDENT: &str = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student";
    pub const FACULTY: &str = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Faculty";
    pub const INSTITUTION_MENTOR: &str =
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Mentor";
    pub const STAFF: &str = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Staff";
    pub const ADMINISTRATOR: &str =
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator";
}

/// The context type of a class (LTI Core 1.3 appendix A.1).
const COURSE_SECTION: &str = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseSection";

#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    pub class: Option<String>,
    pub assignment: Option<String>,
}

/// `GET /lti/launch/{service}`: a logged-in user opens an activated tool, alone, in a class
/// they may read, or as an assignment of such a class. Optional tools open only where a teacher
/// placed them (or as an assignment); the school's own and common tools open anywhere.
pub async fn start_launch(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(service_id): UrlPath<String>,
    Query(query): Query<LaunchQuery>,
) -> Result<Response, ApiError> {
    let found = activated_tool(&state, &service_id).await?;
    let access = Access::new(&caller, roster_index(&state).await?);
    let (class, assignment) = match &query.assignment {
        Some(id) => {
            let assignment = read_assignment(&state, id).await?;
            if assignment
                .lti_link
                .as_ref()
                .map(|link| link.service_id.as_str())
                != Some(service_id.as_str())
            {
                return Err(ApiError::BadRequest(format!(
                    "assignment {id} is not done in {service_id:?}"
                )));
            }
            if query
                .class
                .as_ref()
                .is_some_and(|class| *class != assignment.class_sourced_id)
            {
                return Err(ApiError::BadRequest(
                    "the assignment belongs to another class".to_owned(),
                ));
            }
            (Some(assignment.class_sourced_id.clone()), Some(assignment))
        }
        None => (query.class.clone(), None),
    };
    if let Some(class) = &class {
        access.require_class_reader(class)?;
    }
    if assignment.is_none() && found.service.category == ServiceCategory::Optional {
        let classes: Vec<String> = match &class {
            Some(class) => vec![class.clone()],
            None => access
                .roster
                .classes_as_pupil
                .get(&caller.user_id)
                .into_iter()
                .chain(access.roster.classes_as_teacher.get(&caller.user_id))
                .flatten()
                .cloned()
                .collect(),
        };
        if !placed_in_any(&state, &service_id, classes).await? {
            return Err(ApiError::Forbidden(format!(
                "{service_id:?} is not placed in a class of yours"
            )));
        }
    }
    let target_link_uri = assignment
        .as_ref()
        .and_then(|assignment| assignment.lti_link.as_ref())
        .and_then(|link| link.url.clone())
        .or_else(|| found.service.launch_url.clone())
        .ok_or_else(|| ApiError::Internal("an LTI tool without a launch URL".to_owned()))?;
    let message = LaunchMessage::ResourceLink {
        resource_link_id: resource_link_id(&service_id, class.as_deref(), assignment.as_ref()),
        title: assignment
            .as_ref()
            .map(|assignment| assignment.title.clone()),
        assignment: assignment.as_ref().map(|assignment| {
            (
                assignment.id.clone(),
                assignment
                    .lti_link
                    .as_ref()
                    .is_some_and(|link| link.score_maximum.is_some()),
            )
        }),
    };
    begin_login(&state, &caller, &found, class, target_link_uri, message).await
}

/// Whether `service` is placed in any of `classes`.
async fn placed_in_any(
    state: &AppState,
    service: &str,
    classes: Vec<String>,
) -> Result<bool, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let service = service.to_owned();
    blocking(move || {
        for class in &classes {
            if placed_in(&repository, &school, class)?.contains(&service) {
                return Ok(true);
            }
        }
        Ok(false)
    })
    .await
}

pub(crate) async fn read_assignment(
    state: &AppState,
    id: &str,
) -> Result<AssignmentDocument, ApiError> {
    let id: ItemId = id.parse()?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let lookup = id.clone();
    let found: Option<AssignmentDocument> =
        blocking(move || Ok(repository.read(&assignment_doc(&school, &lookup))?)).await?;
    found
        .filter(|assignment| assignment.id == id.as_str())
        .ok_or_else(|| ApiError::NotFound(format!("assignment {id} does not exist")))
}

/// A resource link id, stable for one placement: the assignment's id, else a digest of the
/// class and tool (at most 255 ASCII characters, LTI Core 1.3 section 5.3.5).
fn resource_link_id(
    service: &str,
    class: Option<&str>,
    assignment: Option<&AssignmentDocument>,
) -> String {
    if let Some(assignment) = assignment {
        return format!("assignment-{}", assignment.id);
    }
    let mut digest = Sha256::new();
    digest.update(b"digione-lti-resource-link-v1");
    digest.update([0]);
    digest.update(service.as_bytes());
    digest.update([0]);
    digest.update(class.unwrap_or("").as_bytes());
    format!("tool-{}", &hex::encode(digest.finalize())[..32])
}

/// Keeps the pending launch and redirects the browser to the tool's login initiation URL.
pub(crate) async fn begin_login(
    state: &AppState,
    caller: &Caller,
    found: &ToolAtSchool,
    class: Option<String>,
    target_link_uri: String,
    message: LaunchMessage,
) -> Result<Response, ApiError> {
    let salt = pairwise_salt(state).await?;
    let login_hint = pairwise_subject(&salt, &found.service.id, &caller.user_id);
    let message_hint = random_token().map_err(ApiError::Internal)?;
    let now = node_now_millis();
    let pending = PendingLaunch {
        user_id: caller.user_id.clone(),
        session_id_hash: caller.session_id_hash,
        service_id: found.service.id.clone(),
        class,
        target_link_uri: target_link_uri.clone(),
        message,
    };
    // Owned by the user, so that their launches beyond their bound replace their own oldest and
    // never fill the node's map for everyone else (`super::MAX_PENDING_LAUNCHES_PER_USER`).
    lock(&state.lti.pending_launches)
        .insert_owned(
            &caller.user_id,
            message_hint.clone(),
            pending,
            now + super::millis(PENDING_LAUNCH_LIFETIME),
            now,
        )
        .map_err(|_| {
            ApiError::Conflict("too many launches are in progress; try again in a minute".into())
        })?;
    let mut url = url::Url::parse(&found.tool.login_initiation_url)
        .map_err(|error| ApiError::Internal(format!("a catalogued login URL: {error}")))?;
    url.query_pairs_mut()
        .append_pair("iss", &state.oidc.issuer)
        .append_pair("login_hint", &login_hint)
        .append_pair("target_link_uri", &target_link_uri)
        .append_pair("lti_message_hint", &message_hint)
        .append_pair("client_id", &found.service.id)
        .append_pair("lti_deployment_id", &deployment_id(state));
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The school's deployment id of every tool: the school's code.
pub(crate) fn deployment_id(state: &AppState) -> String {
    state.identity.school.to_string()
}

/// IMS roles of `user`: institution roles from their roles at the school, and, in `class`, the
/// membership role of their relation to it (teacher: Instructor, pupil: Learner, guardian of a
/// pupil: Mentor).
pub fn ims_roles(roster: &RosterIndex, user: &str, class: Option<&str>) -> Vec<&'static str> {
    let mut roles = Vec::new();
    if let Some(class) = class.and_then(|class| roster.classes.get(class)) {
        if class.is_teacher(user) {
            roles.push(role::INSTRUCTOR);
        }
        if class.is_pupil(user) {
            roles.push(role::LEARNER);
        }
        let guardian_of_member = roster
            .children
            .get(user)
            .is_some_and(|children| children.iter().any(|child| class.is_pupil(child)));
        if guardian_of_member {
            roles.push(role::MENTOR);
        }
    }
    if let Some(person) = roster.users.user(user) {
        for held in &person.roles {
            roles.push(match held {
                UserRole::Pupil => role::STUDENT,
                UserRole::Teacher => role::FACULTY,
                UserRole::Guardian => role::INSTITUTION_MENTOR,
                UserRole::Staff => role::STAFF,
                UserRole::Admin => role::ADMINISTRATOR,
            });
        }
    }
    roles.dedup();
    roles
}

/// The names and email a tool receives: only what the school approved of `profile` and `email`.
pub(crate) fn released_person_claims(
    roster: &RosterIndex,
    state: &AppState,
    user: &str,
    released: &[ReleasableClaim],
) -> Map<String, Value> {
    let mut claims = released_claims(roster, &state.identity, user, released);
    if let (Some(Value::String(given)), Some(Value::String(family))) =
        (claims.get("given_name"), claims.get("family_name"))
    {
        let name = format!("{given} {family}");
        claims.insert("name".into(), name.into());
    }
    claims
}

/// The claims of tools: the person claims LTI knows (names, email), approved by the school.
pub(crate) fn lti_releasable(found: &ToolAtSchool) -> Vec<ReleasableClaim> {
    let approved = found
        .activation
        .as_ref()
        .map(|activation| activation.approved_claims.clone())
        .unwrap_or_default();
    found
        .service
        .releasable(&approved)
        .into_iter()
        .filter(|claim| matches!(claim, ReleasableClaim::Profile | ReleasableClaim::Email))
        .collect()
}

/// The context claim of a class.
pub(crate) fn context_claim(roster: &RosterIndex, class: &str) -> Value {
    let document = roster.classes.get(class);
    let title = document.map_or_else(|| class.to_owned(), |doc| doc.class.title.clone());
    let label = document
        .and_then(|doc| doc.class.class_code.clone())
        .unwrap_or_else(|| title.clone());
    json!({ "id": class, "label": label, "title": title, "type": [COURSE_SECTION] })
}

// ---------------------------------------------------------------------------------------------
// The authentication request.

/// `GET`/`POST /lti/authorize`: see the module documentation. A POST comes from another site,
/// which `SameSite=Lax` keeps the session cookie from, so tools should send the request with GET
/// (both are accepted, IMS Security Framework section 5.1.1.2).
pub async fn authorize(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match authorize_request(&state, &method, &uri, &headers, &body).await {
        Ok(response) => response,
        Err(AuthorizeRefusal::Page(status, refusal)) => {
            crate::web::service_login_refused(&state, &headers, status, refusal)
        }
        Err(AuthorizeRefusal::Redirect {
            redirect_uri,
            state: client_state,
            error,
            description,
        }) => {
            let mut fields = vec![
                ("error", error.to_owned()),
                ("error_description", description),
            ];
            if let Some(client_state) = client_state {
                fields.push(("state", client_state));
            }
            crate::web::tool_form_post_page(&headers, &redirect_uri, &fields)
        }
    }
}

async fn authorize_request(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, AuthorizeRefusal> {
    let encoded: &[u8] = if *method == Method::POST {
        body
    } else {
        uri.query().unwrap_or("").as_bytes()
    };
    let request = client_request(
        encoded,
        |client_id| async move { Ok(tool_at_school(state, &client_id).await?) },
        |found: &ToolAtSchool| &found.service.redirect_uris,
    )
    .await?;
    let found = &request.client;
    let parameters = &request.parameters;
    let redirect_uri = request.redirect_uri.clone();
    let client_state = request.state.clone();
    let refuse = |error: &'static str, description: &str| request.refuse(error, description);
    let scopes: Vec<&str> = parameters
        .get("scope")
        .map(|scope| scope.split(' ').collect())
        .unwrap_or_default();
    if !scopes.contains(&"openid") {
        return Err(refuse("invalid_scope", "the openid scope is required"));
    }
    if parameters.get("response_type").map(String::as_str) != Some("id_token") {
        return Err(refuse(
            "unsupported_response_type",
            "an LTI launch uses response_type=id_token",
        ));
    }
    if parameters.get("response_mode").map(String::as_str) != Some("form_post") {
        return Err(refuse(
            "invalid_request",
            "an LTI launch uses response_mode=form_post",
        ));
    }
    if parameters.get("prompt").map(String::as_str) != Some("none") {
        return Err(refuse("invalid_request", "an LTI launch uses prompt=none"));
    }
    let Some(nonce) = parameters
        .get("nonce")
        .filter(|nonce| nonce.len() <= MAX_STATE_BYTES)
        .cloned()
    else {
        return Err(refuse(
            "invalid_request",
            "a nonce of at most 1024 bytes is required",
        ));
    };
    let (Some(login_hint), Some(message_hint)) = (
        parameters.get("login_hint"),
        parameters.get("lti_message_hint"),
    ) else {
        return Err(refuse(
            "invalid_request",
            "login_hint and lti_message_hint are required",
        ));
    };
    let authenticated = if *method == Method::POST {
        state.auth.authenticate_before_csrf(method, uri, headers)
    } else {
        state.auth.authenticate(method, uri, headers)
    };
    let caller = match authenticated {
        Ok((caller, _)) => caller,
        Err(AuthError::NotAuthenticated) => {
            return Err(refuse("login_required", "the user is not logged in"));
        }
        Err(_) => return Err(refuse("server_error", "the node could not check the login")),
    };
    let now = node_now_millis();
    // Taken before any further check, so that a launch is used once whatever follows.
    let pending = lock(&state.lti.pending_launches).take(message_hint, now);
    let Some(pending) = pending.filter(|pending| {
        pending.session_id_hash == caller.session_id_hash
            && pending.user_id == caller.user_id
            && pending.service_id == found.service.id
    }) else {
        return Err(refuse(
            "invalid_request",
            "no launch of this user for this tool is waiting under that lti_message_hint; it was used, expired or never started",
        ));
    };
    let salt = pairwise_salt(state)
        .await
        .map_err(|_| refuse("server_error", "the node failed"))?;
    let subject = pairwise_subject(&salt, &found.service.id, &caller.user_id);
    if *login_hint != subject {
        return Err(refuse(
            "login_required",
            "login_hint is not the user logged in",
        ));
    }
    if found.activation.is_none() {
        return Err(refuse(
            "unauthorized_client",
            "this tool is not activated at this school",
        ));
    }
    let roster = roster_index(state)
        .await
        .map_err(|_| refuse("server_error", "the node failed"))?;
    let released = lti_releasable(found);
    let claims = message_claims(
        state, &roster, found, &pending, &subject, &nonce, &released, now,
    );
    let id_token = sign(state, claims, now)
        .await
        .map_err(|_| refuse("server_error", "the node could not sign the launch"))?;
    let (event, detail) = match &pending.message {
        LaunchMessage::ResourceLink {
            assignment: Some((id, _)),
            ..
        } => (AuditEvent::LtiLaunch, Some(format!("assignment {id}"))),
        LaunchMessage::ResourceLink { .. } => (
            AuditEvent::LtiLaunch,
            pending.class.as_ref().map(|class| format!("class {class}")),
        ),
        LaunchMessage::DeepLinking { .. } => (
            AuditEvent::LtiLaunch,
            pending
                .class
                .as_ref()
                .map(|class| format!("deep linking in class {class}")),
        ),
    };
    let entry = AuditEntry {
        at: NodeTime::from_unix_millis(now),
        event,
        user: caller.user_id.clone(),
        service: found.service.id.clone(),
        claims: released,
        detail,
        records: None,
    };
    if record(state, entry).await.is_err() {
        return Err(refuse(
            "server_error",
            "the node could not record the launch",
        ));
    }
    let mut fields = vec![("id_token", id_token)];
    if let Some(client_state) = client_state {
        fields.push(("state", client_state));
    }
    Ok(crate::web::tool_form_post_page(
        headers,
        &redirect_uri,
        &fields,
    ))
}

/// The claims of the LTI message of `pending`.
#[allow(clippy::too_many_arguments)]
fn message_claims(
    state: &AppState,
    roster: &RosterIndex,
    found: &ToolAtSchool,
    pending: &PendingLaunch,
    subject: &str,
    nonce: &str,
    released: &[ReleasableClaim],
    now: i64,
) -> Map<String, Value> {
    let issuer = &state.oidc.issuer;
    let now_secs = now / 1000;
    let lifetime = i64::try_from(state.oidc.id_token_lifetime.as_secs()).unwrap_or(300);
    let mut claims = Map::new();
    claims.insert("iss".into(), issuer.clone().into());
    claims.insert("aud".into(), found.service.id.clone().into());
    claims.insert("azp".into(), found.service.id.clone().into());
    claims.insert("sub".into(), subject.into());
    claims.insert("iat".into(), now_secs.into());
    claims.insert("exp".into(), (now_secs + lifetime).into());
    claims.insert("nonce".into(), nonce.into());
    claims.insert(claim::VERSION.into(), LTI_VERSION.into());
    claims.insert(claim::DEPLOYMENT_ID.into(), deployment_id(state).into());
    claims.insert(
        claim::TARGET_LINK_URI.into(),
        pending.target_link_uri.clone().into(),
    );
    let roles = ims_roles(roster, &pending.user_id, pending.class.as_deref());
    claims.insert(claim::ROLES.into(), json!(roles));
    claims.insert(
        claim::TOOL_PLATFORM.into(),
        json!({
            "guid": format!("digione-{}", state.identity.school),
            "product_family_code": "digione-edge",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    claims.insert(
        claim::LAUNCH_PRESENTATION.into(),
        json!({ "document_target": "window", "return_url": format!("{issuer}/home") }),
    );
    if let Some(class) = &pending.class {
        claims.insert(claim::CONTEXT.into(), context_claim(roster, class));
        let segment = crate::url_path::path_segment(class);
        claims.insert(
            claim::NRPS.into(),
            json!({
                "context_memberships_url": format!("{issuer}/lti/classes/{segment}/memberships"),
                "service_versions": ["2.0"],
            }),
        );
    }
    match &pending.message {
        LaunchMessage::ResourceLink {
            resource_link_id,
            title,
            assignment,
        } => {
            claims.insert(claim::MESSAGE_TYPE.into(), "LtiResourceLinkRequest".into());
            let mut link = json!({ "id": resource_link_id });
            if let Some(title) = title {
                link["title"] = title.clone().into();
            }
            claims.insert(claim::RESOURCE_LINK.into(), link);
            if let Some(class) = &pending.class {
                let segment = crate::url_path::path_segment(class);
                let mut endpoint = json!({
                    "scope": [scope::LINE_ITEM_READ, scope::SCORE],
                    "lineitems": format!("{issuer}/lti/classes/{segment}/lineitems"),
                });
                if let Some((id, true)) = assignment {
                    endpoint["lineitem"] = format!("{issuer}/lti/assignments/{id}/lineitem").into();
                }
                claims.insert(claim::AGS_ENDPOINT.into(), endpoint);
            }
        }
        LaunchMessage::DeepLinking { data } => {
            claims.insert(claim::MESSAGE_TYPE.into(), "LtiDeepLinkingRequest".into());
            claims.insert(
                claim::DEEP_LINKING_SETTINGS.into(),
                json!({
                    "deep_link_return_url": format!("{issuer}/lti/deep-linking/return"),
                    "accept_types": ["ltiResourceLink"],
                    "accept_presentation_document_targets": ["window"],
                    "accept_multiple": true,
                    "auto_create": true,
                    "title": "DigiOne",
                    "data": data,
                }),
            );
        }
    }
    for (name, value) in released_person_claims(roster, state, &pending.user_id, released) {
        claims.insert(name, value);
    }
    claims
}

/// Signs `claims` with the node's RS256 key (made on first use, on the blocking pool).
async fn sign(state: &AppState, claims: Map<String, Value>, now: i64) -> Result<String, ApiError> {
    let provider = state.oidc.clone();
    blocking(move || {
        let key = provider
            .keys
            .signing_key_for(SigningAlgorithm::RS256, now)
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(key.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding_key)
            .map_err(|error| ApiError::Internal(error.to_string()))
    })
    .await
}
