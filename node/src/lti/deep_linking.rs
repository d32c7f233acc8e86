//! Deep Linking 2.0: a teacher picks content in a tool, and each picked resource link becomes an
//! assignment of the class, done in the tool.
//!
//! The teacher opens `/lti/deep-linking/{service}?class=` → the node keeps a pending deep link
//! (the teacher, the class, the tool) under a random `data` value and launches the tool with an
//! `LtiDeepLinkingRequest` carrying that `data` → the tool posts a JWT signed with its key to
//! `/lti/deep-linking/return` → the node verifies it (the tool's catalogued key, `aud` the node's
//! issuer, the school's deployment, a nonce used once, the `data` of a pending deep link of the
//! same tool, taken once) and creates one assignment per `ltiResourceLink` item, with the item's
//! `lineItem.scoreMaximum` when it has one. The return is a cross-site form post, which carries
//! no session cookie (`SameSite=Lax`): the pending deep link, not the session, says who asked.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::launch::{begin_login, deployment_id};
use super::platform::{LaunchMessage, PendingDeepLink};
use super::services::verify_tool_jwt;
use super::{
    LTI_VERSION, MAX_ASSERTION_LIFETIME, PENDING_DEEP_LINK_LIFETIME, activated_tool, lock, millis,
    record,
};
use crate::api::{ApiError, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::assignments::{AssignmentInput, LtiLink, format_score, validate_score};
use crate::model::audit::{AuditEntry, AuditEvent};
use crate::model::common::{ItemId, MAX_TITLE_CHARS, NodeTime};
use crate::oidc::endpoints::parameters;
use crate::oidc::grants::random_token;
use crate::school::Access;
use crate::school::assignments::{create_in_class, require_class_work};
use crate::state::AppState;
use crate::web::ServiceLoginRefusal;

/// Content items one response may create: a teacher picks a handful at a time.
pub const MAX_DEEP_LINK_ITEMS: usize = 20;
/// When an assignment made from picked content is due: a week on, for the teacher to change.
pub const DEEP_LINKED_ASSIGNMENT_DUE: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 60 * 60);

#[derive(Debug, Deserialize)]
pub struct DeepLinkingQuery {
    pub class: String,
}

/// `GET /lti/deep-linking/{service}?class=`: a teacher of the class picks content in the tool.
pub async fn start_deep_linking(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(service_id): UrlPath<String>,
    Query(query): Query<DeepLinkingQuery>,
) -> Result<Response, ApiError> {
    let access = Access::new(&caller, roster_index(&state).await?);
    require_class_work(&access, &query.class)?;
    let found = activated_tool(&state, &service_id).await?;
    let Some(deep_linking_url) = found.tool.deep_linking_url.clone() else {
        return Err(ApiError::BadRequest(format!(
            "{service_id:?} offers no content to pick (no deep linking URL)"
        )));
    };
    let data = random_token().map_err(ApiError::Internal)?;
    let now = node_now_millis();
    // Owned by the teacher and bounded per teacher, like launches
    // (`super::MAX_PENDING_DEEP_LINKS_PER_USER`).
    lock(&state.lti.pending_deep_links)
        .insert_owned(
            &caller.user_id,
            data.clone(),
            PendingDeepLink {
                teacher: caller.user_id.clone(),
                class: query.class.clone(),
                service_id: service_id.clone(),
            },
            now + millis(PENDING_DEEP_LINK_LIFETIME),
            now,
        )
        .map_err(|_| ApiError::Conflict("too many content picks are in progress".into()))?;
    begin_login(
        &state,
        &caller,
        &found,
        Some(query.class),
        deep_linking_url,
        LaunchMessage::DeepLinking { data },
    )
    .await
}

/// The claims the node reads from a deep-linking response.
#[derive(Debug, Deserialize)]
struct DeepLinkingResponse {
    exp: i64,
    nonce: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type")]
    message_type: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version")]
    version: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id")]
    deployment_id: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-dl/claim/data")]
    data: Option<String>,
    #[serde(
        rename = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items",
        default
    )]
    content_items: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Issuer {
    iss: String,
}

/// `POST /lti/deep-linking/return`: see the module documentation.
///
/// The tool posts from its own site, so the teacher's session cookie (`SameSite=Lax`) is not sent
/// here: on success the browser is sent on to the first new assignment, a navigation of this
/// site's own that carries the session, with a notice that the content was added.
pub async fn deep_linking_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match receive(&state, &body).await {
        Ok(created) => match created.assignments.first() {
            Some((id, _)) => Redirect::to(&format!(
                "/assignments/{}?done=linked",
                crate::url_path::path_segment(id)
            ))
            .into_response(),
            None => Redirect::to("/home").into_response(),
        },
        Err(message) => {
            tracing::info!(%message, "a deep-linking answer was refused");
            crate::web::service_login_refused(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                ServiceLoginRefusal::DeepLinkRefused,
            )
        }
    }
}

/// The new assignments, by id and title, in the order the tool listed the content.
struct Created {
    assignments: Vec<(String, String)>,
}

async fn receive(state: &AppState, body: &[u8]) -> Result<Created, String> {
    let form =
        parameters(body).map_err(|reason| format!("The tool's answer is malformed: {reason}."))?;
    let jwt = form.get("JWT").ok_or("The tool's answer carries no JWT.")?;
    // The issuer names the tool whose key verifies the response; trusted only once verified.
    let mut unverified = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    unverified.insecure_disable_signature_validation();
    unverified.validate_exp = false;
    unverified.validate_aud = false;
    unverified.required_spec_claims.clear();
    let issuer = jsonwebtoken::decode::<Issuer>(
        jwt,
        &jsonwebtoken::DecodingKey::from_secret(&[]),
        &unverified,
    )
    .map_err(|_| "The tool's answer is not a JWT.".to_owned())?
    .claims
    .iss;
    let found = activated_tool(state, &issuer)
        .await
        .map_err(|_| "The answer is not from an LTI tool activated at this school.".to_owned())?;
    let response: DeepLinkingResponse = verify_tool_jwt(&found, jwt, &state.oidc.issuer, false)
        .map_err(|reason| format!("The tool's answer is refused: {reason}."))?;
    if response.message_type.as_deref() != Some("LtiDeepLinkingResponse")
        || response.version.as_deref() != Some(LTI_VERSION)
    {
        return Err("The tool's answer is not an LTI 1.3 deep-linking response.".into());
    }
    if response.deployment_id.as_deref() != Some(deployment_id(state).as_str()) {
        return Err("The tool's answer names another deployment.".into());
    }
    let now = node_now_millis();
    let expires_at = response.exp.saturating_mul(1000);
    if expires_at - now > millis(MAX_ASSERTION_LIFETIME) {
        return Err("The tool's answer is valid for too long.".into());
    }
    let Some(nonce) = response
        .nonce
        .filter(|nonce| !nonce.is_empty() && nonce.len() <= 256)
    else {
        return Err("The tool's answer has no nonce.".into());
    };
    lock(&state.lti.seen_assertions)
        .insert(
            (found.service.id.clone(), format!("deep-link-nonce {nonce}")),
            (),
            expires_at + 60_000,
            now,
        )
        .map_err(|_| "The tool's answer was received already.".to_owned())?;
    let data = response
        .data
        .ok_or("The tool's answer lost the request's data.")?;
    let pending = lock(&state.lti.pending_deep_links)
        .take(&data, now)
        .filter(|pending| pending.service_id == found.service.id)
        .ok_or(
            "No content pick of this tool is waiting for this answer; it was used or expired.",
        )?;
    if response.content_items.len() > MAX_DEEP_LINK_ITEMS {
        return Err(format!(
            "The tool returned more than {MAX_DEEP_LINK_ITEMS} items; pick fewer."
        ));
    }
    // Everything is validated before anything is created.
    let mut planned = Vec::new();
    for item in &response.content_items {
        if item.get("type").and_then(Value::as_str) != Some("ltiResourceLink") {
            continue;
        }
        let title: String = item
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(&found.service.name)
            .chars()
            .filter(|character| !character.is_control())
            .take(MAX_TITLE_CHARS)
            .collect();
        let url = match item.get("url").and_then(Value::as_str) {
            Some(url) => Some(tool_url(url)?),
            None => None,
        };
        let score_maximum = match item
            .get("lineItem")
            .and_then(|line_item| line_item.get("scoreMaximum"))
        {
            Some(maximum) => {
                let maximum = maximum
                    .as_f64()
                    .ok_or("A line item's scoreMaximum is not a number.")?;
                let maximum =
                    validate_score("scoreMaximum", maximum).map_err(|error| error.to_string())?;
                if maximum <= 0.0 {
                    return Err("A line item's scoreMaximum must be more than 0.".into());
                }
                Some(format_score(maximum))
            }
            None => None,
        };
        let instructions: String = item
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(crate::model::common::MAX_BODY_CHARS)
            .collect();
        planned.push((title, instructions, url, score_maximum));
    }
    let mut created = Created {
        assignments: Vec::new(),
    };
    for (title, instructions, url, score_maximum) in planned {
        let id = ItemId::generate();
        let entry = AuditEntry {
            at: NodeTime::from_unix_millis(now),
            event: AuditEvent::LtiContentLinked,
            user: pending.teacher.clone(),
            service: found.service.id.clone(),
            claims: Vec::new(),
            detail: Some(format!("assignment {id} in class {}", pending.class)),
            records: None,
        };
        record(state, entry)
            .await
            .map_err(|_| "The node could not record the content; try again.".to_owned())?;
        let input = AssignmentInput {
            title,
            instructions,
            attachments: Vec::new(),
            due_at: NodeTime::from_unix_millis(now + millis(DEEP_LINKED_ASSIGNMENT_DUE)),
            cut_off_at: None,
        };
        let link = LtiLink {
            service_id: found.service.id.clone(),
            url,
            score_maximum,
        };
        let assignment = create_in_class(
            state,
            id,
            &pending.class,
            &pending.teacher,
            input,
            Some(link),
            NodeTime::from_unix_millis(now),
        )
        .await
        .map_err(|error| format!("The assignment could not be created: {error}."))?;
        created.assignments.push((assignment.id, assignment.title));
    }
    Ok(created)
}

/// A resource link's URL from a tool: absolute `https`, or `http` on the school's network, like
/// every URL the catalogue holds.
fn tool_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("{url:?} is not a URL."))?;
    crate::model::catalogue::validate_redirect_uri(parsed.as_str())
        .map_err(|error| format!("The tool's link is refused: {error}."))
}
