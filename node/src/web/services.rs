//! School IT's connected services in the web UI: the national catalogue with this school's
//! activations, activating a service with the claims the school approves (or deactivating it), and
//! the audit log of every grant and release. The pages call the operations of
//! [`crate::school::services`] and [`crate::school::audit`], which decide who may do what.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::i18n::Translator;
use super::layout::{FormErrors, Frame, csrf_field, page_with_status};
use super::{Viewer, WebError};
use crate::model::catalogue::{ReleasableClaim, ServiceCategory, ServiceProtocol};
use crate::school::audit::audit_page as read_audit_page;
use crate::school::services::{ServiceView, activate_service, deactivate_service, list_services};
use crate::school::{ServiceError, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

/// The audit page's query: the `next` cursor of the page before.
#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditPageQuery {
    before: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ServicesNotice {
    done: Option<String>,
}

fn service_path(id: &str) -> String {
    format!("/admin/services/{}", path_segment(id))
}

fn category_text(t: &Translator, category: ServiceCategory) -> String {
    match category {
        ServiceCategory::Own => t.text("services-category-own"),
        ServiceCategory::Common => t.text("services-category-common"),
        ServiceCategory::Optional => t.text("services-category-optional"),
    }
}

fn protocol_text(t: &Translator, protocol: ServiceProtocol) -> String {
    match protocol {
        ServiceProtocol::Oidc => t.text("services-protocol-oidc"),
        ServiceProtocol::Lti13 => t.text("services-protocol-lti"),
        ServiceProtocol::Link => t.text("services-protocol-link"),
    }
}

/// `GET /admin/services`: the catalogue, each service with whether this school uses it.
pub async fn services_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(notice): Query<ServicesNotice>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let services = list_services(&state, &viewer.caller).await?;
    let content = html! {
        @match notice.done.as_deref() {
            Some("activated") => p class="notice" role="status" { (t.text("notice-service-activated")) },
            Some("deactivated") => p class="notice" role="status" { (t.text("notice-service-deactivated")) },
            _ => {},
        }
        p { (t.text("services-intro")) }
        @if services.is_empty() {
            p { (t.text("services-none")) }
        } @else {
            table {
                caption class="visually-hidden" { (t.text("services-title")) }
                thead {
                    tr {
                        th scope="col" { (t.text("services-name")) }
                        th scope="col" { (t.text("services-provider")) }
                        th scope="col" { (t.text("services-category")) }
                        th scope="col" { (t.text("services-offline")) }
                        th scope="col" { (t.text("services-state")) }
                    }
                }
                tbody {
                    @for service in &services {
                        tr {
                            td { a href=(service_path(&service.id)) { (service.name) } }
                            td { (service.provider) }
                            td { (category_text(&t, service.category)) }
                            td { @if service.works_offline { (t.text("services-yes")) } @else { (t.text("services-no")) } }
                            td { @if service.activation.is_some() { (t.text("services-active")) } @else { (t.text("services-inactive")) } }
                        }
                    }
                }
            }
        }
        p { a href="/admin/audit" { (t.text("audit-title")) } }
    };
    let frame = Frame::new(&state, &viewer, "/admin/services");
    Ok(page_with_status(
        &frame,
        StatusCode::OK,
        &t.text("services-title"),
        content,
    ))
}

/// `GET /admin/services/{service}`.
pub async fn service_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(service_id): UrlPath<String>,
) -> Result<Response, WebError> {
    render_service(
        &state,
        &viewer,
        &service_id,
        &FormErrors::default(),
        StatusCode::OK,
    )
    .await
}

async fn render_service(
    state: &AppState,
    viewer: &Viewer,
    service_id: &str,
    errors: &FormErrors,
    status: StatusCode,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let services = list_services(state, &viewer.caller).await?;
    let service: &ServiceView = services
        .iter()
        .find(|service| service.id == service_id)
        .ok_or_else(|| {
            ServiceError::NotFound(format!("service {service_id:?} is not in the catalogue"))
        })?;
    let approved: &[ReleasableClaim] = service
        .activation
        .as_ref()
        .map_or(&[], |activation| activation.approved_claims.as_slice());
    let content = html! {
        dl class="facts" {
            dt { (t.text("services-provider")) } dd { (service.provider) }
            dt { (t.text("services-category")) } dd { (category_text(&t, service.category)) }
            dt { (t.text("services-protocol")) } dd { (protocol_text(&t, service.protocol)) }
            dt { (t.text("services-offline")) }
            dd { @if service.works_offline { (t.text("services-yes")) } @else { (t.text("services-no")) } }
            @if let Some(launch_url) = &service.launch_url {
                dt { (t.text("services-launch")) } dd { (launch_url) }
            }
            dt { (t.text("services-state")) }
            dd {
                @match &service.activation {
                    Some(activation) => (t.text_with("services-active-since", &[("when", FluentValue::from(t.date_time(activation.activated_at)))])),
                    None => (t.text("services-inactive")),
                }
            }
        }
        form method="post" action=(service_path(&service.id)) class="stack" novalidate {
            (errors.summary(&t))
            (csrf_field(viewer))
            fieldset id="claims" {
                legend { (t.text("services-claims")) }
                p class="hint" { (t.text("services-claims-hint")) }
                @if service.allowed_claims.is_empty() {
                    p { (t.text("services-no-claims")) }
                }
                @for claim in &service.allowed_claims {
                    @let id = format!("claim-{}", claim.scope().replace([':', '.'], "-"));
                    div class="field checkbox" {
                        input type="checkbox" id=(id) name="claim" value=(claim.scope()) checked[approved.contains(claim)];
                        label for=(id) { (claim_text(&t, *claim)) " " span class="meta" { "(" (claim.scope()) ")" } }
                    }
                }
            }
            div class="buttons" {
                button type="submit" name="action" value="activate" {
                    @if service.activation.is_some() { (t.text("services-save")) } @else { (t.text("services-activate")) }
                }
                @if service.activation.is_some() {
                    button type="submit" name="action" value="deactivate" class="secondary" { (t.text("services-deactivate")) }
                }
            }
        }
        p { a href="/admin/services" { (t.text("services-back")) } }
    };
    let frame = Frame::new(state, viewer, &service_path(&service.id));
    Ok(page_with_status(&frame, status, &service.name, content))
}

fn claim_text(t: &Translator, claim: ReleasableClaim) -> String {
    match claim {
        ReleasableClaim::Profile => t.text("claim-profile"),
        ReleasableClaim::Email => t.text("claim-email"),
        ReleasableClaim::SchoolCode => t.text("claim-school-code"),
        ReleasableClaim::MunicipalityCode => t.text("claim-municipality-code"),
        ReleasableClaim::Class => t.text("claim-class"),
        ReleasableClaim::ClassLevel => t.text("claim-class-level"),
        ReleasableClaim::Role => t.text("claim-role"),
        ReleasableClaim::RosterCoreReadonly => t.text("claim-roster-core"),
    }
}

/// `POST /admin/services/{service}` (form: `claim` repeated, `action` = activate or deactivate).
pub async fn change_service(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(service_id): UrlPath<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let mut action = String::new();
    let mut claims = Vec::new();
    for (name, value) in form_urlencoded::parse(&body) {
        match name.as_ref() {
            "action" => action = value.into_owned(),
            // At most one of each: the list is a set of the seven claims.
            "claim" if claims.len() < ReleasableClaim::ALL.len() => {
                match ReleasableClaim::from_scope(&value) {
                    Some(claim) if !claims.contains(&claim) => claims.push(claim),
                    Some(_) => {}
                    None => {
                        return Err(
                            ServiceError::invalid("claim", format!("no claim {value:?}")).into(),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if action == "deactivate" {
        deactivate_service(&state, &viewer.caller, &service_id).await?;
        return Ok(Redirect::to("/admin/services?done=deactivated").into_response());
    }
    let activated = activate_service(&state, &viewer.caller, &service_id, claims).await;
    match activated {
        Ok(_) => Ok(Redirect::to("/admin/services?done=activated").into_response()),
        // A claim the catalogue does not allow (the form offers only allowed ones; the catalogue
        // may have changed since it was drawn).
        Err(ServiceError::Invalid { .. }) => {
            let mut errors = FormErrors::default();
            errors.add("claims", t.text("services-claims-refused"));
            render_service(
                &state,
                &viewer,
                &service_id,
                &errors,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /admin/audit?before=`: the audit log, newest first, a page at a time.
pub async fn audit_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<AuditPageQuery>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let page = read_audit_page(&state, &viewer.caller, query.before.as_deref(), None).await?;
    let roster = roster_index(&state).await?;
    let content = html! {
        p { (t.text("audit-intro")) }
        @if page.entries.is_empty() {
            p { (t.text("audit-none")) }
        } @else {
            table {
                caption class="visually-hidden" { (t.text("audit-title")) }
                thead {
                    tr {
                        th scope="col" { (t.text("audit-when")) }
                        th scope="col" { (t.text("audit-event")) }
                        th scope="col" { (t.text("audit-user")) }
                        th scope="col" { (t.text("audit-service")) }
                        th scope="col" { (t.text("audit-claims")) }
                    }
                }
                tbody {
                    @for entry in &page.entries {
                        tr {
                            td { (t.date_time(entry.at)) }
                            td {
                                @match entry.event {
                                    "grant" => (t.text("audit-event-grant")),
                                    "token_issued" => (t.text("audit-event-token")),
                                    "upstream_login" => (t.text("audit-event-upstream-login")),
                                    "roster_token_issued" => (t.text("audit-event-roster-token")),
                                    "roster_read" => {
                                        (t.text("audit-event-roster-read"))
                                        @if let Some(records) = entry.records {
                                            " " span class="meta" { (t.text_with("audit-records", &[("count", records.into())])) }
                                        }
                                    }
                                    "lti_launch" => (t.text("audit-event-lti-launch")),
                                    "lti_token_issued" => (t.text("audit-event-lti-token")),
                                    "lti_score_received" => (t.text("audit-event-lti-score")),
                                    "lti_roster_released" => (t.text("audit-event-lti-roster")),
                                    "lti_content_linked" => (t.text("audit-event-lti-content")),
                                    _ => (t.text("audit-event-userinfo")),
                                }
                                @if let Some(detail) = &entry.detail {
                                    " (" (detail) ")"
                                }
                            }
                            td {
                                @if entry.user.is_empty() {
                                    (t.text("audit-no-user"))
                                } @else {
                                    (roster.users.user(&entry.user).map(|user| user.display_name()).unwrap_or_else(|| entry.user.clone()))
                                }
                            }
                            td { (entry.service) }
                            td {
                                @for (index, claim) in entry.claims.iter().enumerate() {
                                    @if index > 0 { ", " }
                                    (claim.scope())
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next {
            p { a href=(format!("/admin/audit?before={}", form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())) rel="next" { (t.text("audit-older")) } }
        }
    };
    let frame = Frame::new(&state, &viewer, "/admin/audit");
    Ok(page_with_status(
        &frame,
        StatusCode::OK,
        &t.text("audit-title"),
        content,
    ))
}
