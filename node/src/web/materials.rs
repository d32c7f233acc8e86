//! A class's materials in the web UI: everyone who may read the class lists them and opens the links
//! and files; the class's teachers share a link or upload a file, and remove what they shared. The
//! same page holds the class's tools (connected services its teachers placed in it, and the form
//! to place one). Materials, files and tools are read and written through the application layer
//! ([`crate::school::materials`], [`crate::school::files`], [`crate::school::services`]), so the
//! JSON API's rules hold here too.

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use fluent_bundle::FluentValue;
use maud::html;

use super::assignments::refusal_text;
use super::layout::{
    Field, FormErrors, Frame, OptionGroup, csrf_field, page_with_status, select_field,
};
use super::upload::{check_csrf, read_upload_form, upload_viewer};
use super::{Viewer, WebError, service_status};
use crate::model::common::{MAX_TITLE_CHARS, MAX_URL_CHARS};
use crate::school::ServiceError;
use crate::school::files::{FileRefView, store_uploaded_file, upload_limit, upload_slot};
use crate::school::materials::{self as operations, NewContent, SharedContent};
use crate::school::services::{class_tools, place_tool, remove_tool};
use crate::school::{Access, roster_index};
use crate::state::AppState;
use crate::url_path::path_segment;

#[derive(Debug, Default, serde::Deserialize)]
pub struct MaterialsNotice {
    done: Option<String>,
}

/// The share form's text values, as sent.
#[derive(Debug, Default)]
struct ShareForm {
    title: String,
    url: String,
}

/// The share form's text fields and their bounds in bytes (four a character, and a little over, so
/// that a long value is answered next to its field rather than refusing the form).
const SHARE_TEXT_FIELDS: [(&str, usize); 2] = [
    ("title", 4 * MAX_TITLE_CHARS + 64),
    ("url", 4 * MAX_URL_CHARS + 64),
];

/// The path of a class's materials page.
pub fn materials_path(class: &str) -> String {
    format!("/classes/{}/materials", path_segment(class))
}

/// `GET /classes/{class}/materials`.
pub async fn materials_page(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(class): UrlPath<String>,
    Query(notice): Query<MaterialsNotice>,
) -> Result<Response, WebError> {
    render(
        &state,
        &viewer,
        &class,
        &ShareForm::default(),
        &FormErrors::default(),
        StatusCode::OK,
        notice.done.as_deref(),
    )
    .await
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    class: &str,
    form: &ShareForm,
    errors: &FormErrors,
    status: StatusCode,
    done: Option<&str>,
) -> Result<Response, WebError> {
    let t = viewer.t;
    let materials = operations::list_materials(state, &viewer.caller, class).await?;
    let roster = roster_index(state).await?;
    let access = Access::new(&viewer.caller, roster.clone());
    let is_teacher = access.class(class).is_ok()
        && access.may(
            crate::school::policy::Action::TeachClass,
            crate::school::Target::Class(class),
        );
    let class_title = access.class(class)?.class.title.clone();
    let tools = class_tools(state, &viewer.caller, class).await?;
    let content = html! {
        @match done {
            Some("shared") => p class="notice" role="status" { (t.text("notice-shared")) },
            Some("removed") => p class="notice" role="status" { (t.text("notice-removed")) },
            Some("placed") => p class="notice" role="status" { (t.text("notice-tool-placed")) },
            Some("unplaced") => p class="notice" role="status" { (t.text("notice-tool-removed")) },
            _ => {},
        }
        @if materials.is_empty() {
            p { (t.text("materials-none")) }
        } @else {
            ul class="cards" {
                @for material in &materials {
                    li {
                        @match &material.content {
                            SharedContent::Link { url } => {
                                a href=(url) rel="noopener noreferrer" { (material.title) }
                                " "
                                span class="meta" { (t.text("materials-link")) }
                            }
                            SharedContent::File { file, download_path } => {
                                a href=(download_path) download=(file.file_name) { (material.title) }
                                " "
                                span class="meta" { (file.file_name) ", " (t.file_size(file.size_bytes)) }
                            }
                        }
                        p class="meta" {
                            (material.shared_by_name.as_deref().unwrap_or(&material.shared_by))
                            ", " (t.date_time(material.shared_at))
                        }
                        @if is_teacher {
                            form method="post" action=(format!("{}/{}/remove", materials_path(class), material.id)) {
                                (csrf_field(viewer))
                                button type="submit" class="secondary" {
                                    (t.text_with("materials-remove", &[("title", FluentValue::from(material.title.as_str()))]))
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="class-tools-heading" {
            h2 id="class-tools-heading" { (t.text("class-tools")) }
            @if tools.placed.is_empty() {
                p { (t.text("class-tools-none")) }
            } @else {
                ul class="cards" {
                    @for tool in &tools.placed {
                        li {
                            a href=(tool.launch_url) rel="noopener" { (tool.name) }
                            " " span class="meta" { (tool.provider) }
                            @if is_teacher {
                                form method="post" action=(format!("{}/{}/remove", tools_path(class), path_segment(&tool.id))) {
                                    (csrf_field(viewer))
                                    button type="submit" class="secondary" {
                                        (t.text_with("class-tools-remove", &[("name", FluentValue::from(tool.name.as_str()))]))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if is_teacher && !tools.placeable.is_empty() {
                form method="post" action=(tools_path(class)) class="stack" novalidate {
                    (csrf_field(viewer))
                    (select_field("service", t.text("class-tools-choose"), &[OptionGroup {
                        heading: None,
                        options: tools.placeable.iter().map(|tool| (tool.id.clone(), tool.name.clone())).collect(),
                    }], "", &FormErrors::default()))
                    button type="submit" { (t.text("class-tools-place")) }
                }
            }
        }
        @if is_teacher {
            section aria-labelledby="share-heading" {
                h2 id="share-heading" { (t.text("materials-share")) }
                form method="post" action=(materials_path(class)) enctype="multipart/form-data" class="stack" novalidate {
                    (errors.summary(&t))
                    (csrf_field(viewer))
                    (Field::new("title", t.text("materials-title-field"), "text", &form.title)
                        .required().max_chars(MAX_TITLE_CHARS).render(errors))
                    (Field::new("url", t.text("materials-url"), "url", &form.url)
                        .hint(t.text("materials-url-hint")).max_chars(MAX_URL_CHARS).render(errors))
                    (Field::new("file", t.text("materials-file"), "file", "")
                        .hint(t.text_with("materials-file-hint", &[("size", FluentValue::from(t.file_size(upload_limit(state))))]))
                        .render(errors))
                    button type="submit" { (t.text("materials-share-button")) }
                }
            }
        }
    };
    let title = t.text_with(
        "materials-title",
        &[("class", FluentValue::from(class_title.as_str()))],
    );
    let frame = Frame::new(state, viewer, &materials_path(class));
    Ok(page_with_status(&frame, status, &title, content))
}

/// `POST /classes/{class}/materials` (`multipart/form-data`): a teacher shares a link or a file.
pub async fn share(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    UrlPath(class): UrlPath<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let viewer = upload_viewer(&state, &method, &uri, &headers)?;
    let t = viewer.t;
    let _slot = upload_slot().await?;
    let upload =
        match read_upload_form(multipart, "file", upload_limit(&state), &SHARE_TEXT_FIELDS).await {
            Ok(upload) => upload,
            Err(error @ ServiceError::TooLarge(_)) => {
                let mut errors = FormErrors::default();
                errors.add("file", t.text("error-file-too-large"));
                return render(
                    &state,
                    &viewer,
                    &class,
                    &ShareForm::default(),
                    &errors,
                    service_status(&error),
                    None,
                )
                .await;
            }
            Err(other) => return Err(other.into()),
        };
    check_csrf(&viewer, &upload)?;
    // Only the class's teachers get this far with a file: nothing is stored for anyone else.
    let roster = roster_index(&state).await?;
    Access::new(&viewer.caller, roster).require_teacher_of(&class)?;
    let form = ShareForm {
        title: upload.field("title").trim().to_owned(),
        url: upload.field("url").trim().to_owned(),
    };
    let mut errors = FormErrors::default();
    errors.check_required_text(
        "title",
        &form.title,
        MAX_TITLE_CHARS,
        &t,
        "materials-title-missing",
    );
    match (form.url.is_empty(), upload.file.is_some()) {
        (true, false) => errors.add("url", t.text("materials-nothing-shared")),
        (false, true) => errors.add("url", t.text("materials-both-shared")),
        _ => {}
    }
    if form.url.chars().count() > MAX_URL_CHARS {
        errors.add_too_long("url", &t, MAX_URL_CHARS);
    }
    if !errors.is_empty() {
        return render(
            &state,
            &viewer,
            &class,
            &form,
            &errors,
            StatusCode::BAD_REQUEST,
            None,
        )
        .await;
    }
    let content = match upload.file {
        Some(file) => {
            let stored = store_uploaded_file(
                &state,
                &viewer.caller.user_id,
                &file.name,
                &file.media_type,
                file.content,
            )
            .await;
            match stored {
                Ok(file) => NewContent::File {
                    file: FileRefView::from(&file),
                },
                Err(error) => {
                    errors.add("file", refusal_text(&t, &error));
                    return render(
                        &state,
                        &viewer,
                        &class,
                        &form,
                        &errors,
                        service_status(&error),
                        None,
                    )
                    .await;
                }
            }
        }
        None => NewContent::Link {
            url: form.url.clone(),
        },
    };
    let shared =
        operations::share_material(&state, &viewer.caller, &class, form.title.clone(), content)
            .await;
    match shared {
        Ok(_) => {
            Ok(Redirect::to(&format!("{}?done=shared", materials_path(&class))).into_response())
        }
        // The model refuses a title it cannot keep, a link that is not http(s) with a host, and a
        // full class list; each is shown at the field it is about.
        Err(ServiceError::Invalid { field, problem, .. }) => {
            if field == Some("title") {
                errors.add("title", super::layout::problem_text(&t, problem));
            } else {
                errors.add("url", t.text("materials-url-invalid"));
            }
            render(
                &state,
                &viewer,
                &class,
                &form,
                &errors,
                StatusCode::BAD_REQUEST,
                None,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

fn tools_path(class: &str) -> String {
    format!("/classes/{}/tools", path_segment(class))
}

/// `POST /classes/{class}/tools` (form: `service`): a teacher places a tool in the class.
pub async fn place(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath(class): UrlPath<String>,
    body: Bytes,
) -> Result<Response, WebError> {
    let fields = super::form_fields(&body);
    let service = fields.get("service").cloned().unwrap_or_default();
    place_tool(&state, &viewer.caller, &class, &service).await?;
    Ok(Redirect::to(&format!("{}?done=placed", materials_path(&class))).into_response())
}

/// `POST /classes/{class}/tools/{service}/remove` (form).
pub async fn unplace(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath((class, service)): UrlPath<(String, String)>,
    _body: Bytes,
) -> Result<Response, WebError> {
    remove_tool(&state, &viewer.caller, &class, &service).await?;
    Ok(Redirect::to(&format!("{}?done=unplaced", materials_path(&class))).into_response())
}

/// `POST /classes/{class}/materials/{material}/remove` (form).
pub async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    UrlPath((class, material)): UrlPath<(String, String)>,
    _body: Bytes,
) -> Result<Response, WebError> {
    operations::remove_material(&state, &viewer.caller, &class, &material).await?;
    Ok(Redirect::to(&format!("{}?done=removed", materials_path(&class))).into_response())
}
