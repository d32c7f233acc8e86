//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the API, generated from the handlers'
//! `#[utoipa::path]` annotations and the request and response types, so it cannot drift from the
//! code. A test checks that every route the router serves is in it.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "DigiOne Edge node API",
        description = "The school node's JSON API. Every route needs a session cookie from `POST /api/v1/session`; writes also need the session's CSRF token in `X-CSRF-Token`."
    ),
    paths(
        crate::auth::routes::log_in,
        crate::auth::routes::current_session,
        crate::auth::routes::log_out,
        crate::api::sync_status::sync_status,
        crate::api::roster::me,
        crate::api::roster::classes,
        crate::api::roster::class,
        crate::api::roster::import,
        crate::api::roster::set_password,
        crate::api::files::upload,
        crate::api::assignments::create_assignment,
        crate::api::assignments::list_assignments,
        crate::api::assignments::get_assignment,
        crate::api::assignments::edit_assignment,
        crate::api::assignments::grant_extension,
        crate::api::assignments::revoke_extension,
        crate::api::assignments::save_submission,
        crate::api::assignments::list_submissions,
        crate::api::assignments::get_submission,
        crate::api::assignments::return_submission,
        crate::api::assignments::download_attachment,
        crate::api::assignments::download_submission_file,
        crate::api::timetable::class_timetable,
        crate::api::timetable::replace_timetable,
        crate::api::timetable::add_lesson,
        crate::api::timetable::update_lesson,
        crate::api::timetable::remove_lesson,
        crate::api::timetable::day_timetable,
        crate::api::attendance::mark_lesson,
        crate::api::attendance::class_attendance_on,
        crate::api::attendance::pupil_absences,
        crate::api::attendance::report_absence,
        crate::api::attendance::clear_absences,
        crate::api::attendance::absence_alerts,
        crate::api::messages::start_thread,
        crate::api::messages::list_threads,
        crate::api::messages::thread,
        crate::api::messages::post_message,
        crate::api::messages::mark_read,
        crate::api::announcements::my_announcements,
        crate::api::announcements::class_announcements,
        crate::api::announcements::publish_class_announcement,
        crate::api::announcements::publish_school_announcement,
        crate::api::announcements::withdraw_class_announcement,
        crate::api::announcements::withdraw_school_announcement,
        crate::api::materials::list_materials,
        crate::api::materials::share_material,
        crate::api::materials::remove_material,
        crate::api::materials::material_file,
        crate::api::services::list_services,
        crate::api::services::activate_service,
        crate::api::services::deactivate_service,
        crate::api::services::audit_log,
        crate::api::services::my_tools,
        crate::api::services::class_tools,
        crate::api::services::place_tool,
        crate::api::services::remove_tool,
    )
)]
#[derive(Debug)]
pub struct ApiDocument;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDocument::openapi())
}
