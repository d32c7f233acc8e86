//! The rostering service's handlers: who is asking (the bearer token and the school's current
//! approval), what they get (the records of [`super::records`], paged and filtered by
//! [`super::query`]), the audit entry written before the answer leaves, and the binding's error
//! objects.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::grant::shaping_claims;
use super::query::{self, QueryError};
use super::records::{
    CLASS_FIELDS, COURSE_FIELDS, ENROLLMENT_FIELDS, ORG_FIELDS, Release, ReleasePolicy,
    SESSION_FIELDS, USER_FIELDS,
};
use super::{BASE_PATH, tokens::RosterGrant};
use crate::api::{ApiError, blocking, node_now_millis, roster_index};
use crate::model::UserRole;
use crate::model::audit::{AuditEntry, AuditEvent};
use crate::model::catalogue::{
    ActivationsDocument, CatalogueDocument, ReleasableClaim, activations_doc, catalogue_doc,
};
use crate::model::common::NodeTime;
use crate::model::roster::EnrollmentRole;
use crate::oidc::endpoints::pairwise_salt;
use crate::state::AppState;

/// A refusal in the binding's `imsx_StatusInfo` shape.
#[derive(Debug)]
pub struct OneRosterError {
    status: StatusCode,
    code_minor: &'static str,
    description: String,
    /// The RFC 6750 error for the `WWW-Authenticate` challenge of a 401 or 403.
    bearer_error: Option<&'static str>,
}

impl OneRosterError {
    fn new(status: StatusCode, code_minor: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code_minor,
            description: description.into(),
            bearer_error: None,
        }
    }

    fn unauthorised(bearer_error: Option<&'static str>, description: &str) -> Self {
        Self {
            bearer_error,
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorisedrequest", description)
        }
    }

    fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknownobject",
            format!("no {what} {id:?} is released to this service"),
        )
    }

    fn internal(error: &ApiError) -> Self {
        tracing::error!(%error, "a OneRoster read failed inside the node");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "the node failed; try again",
        )
    }
}

impl From<QueryError> for OneRosterError {
    fn from(error: QueryError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error.code_minor, error.description)
    }
}

impl IntoResponse for OneRosterError {
    fn into_response(self) -> Response {
        let body = json!({
            "imsx_codeMajor": "failure",
            "imsx_severity": "error",
            "imsx_description": self.description,
            "imsx_CodeMinor": {
                "imsx_codeMinorField": [{
                    "imsx_codeMinorFieldName": "TargetEndSystem",
                    "imsx_codeMinorFieldValue": self.code_minor,
                }],
            },
        });
        let mut response = (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(body),
        )
            .into_response();
        let challenge = match (self.status, self.bearer_error) {
            (StatusCode::UNAUTHORIZED, Some(error)) | (StatusCode::FORBIDDEN, Some(error)) => Some(
                format!("Bearer realm=\"digione-oneroster\", error=\"{error}\""),
            ),
            (StatusCode::UNAUTHORIZED, None) => Some("Bearer realm=\"digione-oneroster\"".into()),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|text| HeaderValue::from_str(&text).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A top-level collection of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Orgs,
    Schools,
    AcademicSessions,
    Terms,
    Courses,
    Classes,
    Users,
    Students,
    Teachers,
    Enrollments,
}

impl Listing {
    pub const ALL: [Listing; 10] = [
        Listing::Orgs,
        Listing::Schools,
        Listing::AcademicSessions,
        Listing::Terms,
        Listing::Courses,
        Listing::Classes,
        Listing::Users,
        Listing::Students,
        Listing::Teachers,
        Listing::Enrollments,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Listing::Orgs => "/orgs",
            Listing::Schools => "/schools",
            Listing::AcademicSessions => "/academicSessions",
            Listing::Terms => "/terms",
            Listing::Courses => "/courses",
            Listing::Classes => "/classes",
            Listing::Users => "/users",
            Listing::Students => "/students",
            Listing::Teachers => "/teachers",
            Listing::Enrollments => "/enrollments",
        }
    }

    /// The binding's wrapper keys: of a collection and of one record.
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Listing::Orgs | Listing::Schools => ("orgs", "org"),
            Listing::AcademicSessions | Listing::Terms => ("academicSessions", "academicSession"),
            Listing::Courses => ("courses", "course"),
            Listing::Classes => ("classes", "class"),
            Listing::Users | Listing::Students | Listing::Teachers => ("users", "user"),
            Listing::Enrollments => ("enrollments", "enrollment"),
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Listing::Orgs | Listing::Schools => ORG_FIELDS,
            Listing::AcademicSessions | Listing::Terms => SESSION_FIELDS,
            Listing::Courses => COURSE_FIELDS,
            Listing::Classes => CLASS_FIELDS,
            Listing::Users | Listing::Students | Listing::Teachers => USER_FIELDS,
            Listing::Enrollments => ENROLLMENT_FIELDS,
        }
    }

    fn records(self, release: &Release<'_>) -> Vec<Value> {
        let of_type = |records: Vec<Value>, kind: &str| -> Vec<Value> {
            records
                .into_iter()
                .filter(|record| record["type"] == kind)
                .collect()
        };
        match self {
            Listing::Orgs => release.orgs(),
            Listing::Schools => of_type(release.orgs(), "school"),
            Listing::AcademicSessions => release.sessions(),
            Listing::Terms => of_type(release.sessions(), "term"),
            Listing::Courses => release.courses(),
            Listing::Classes => release.classes(),
            Listing::Users => release.users(),
            Listing::Students => release.users_with(UserRole::Pupil),
            Listing::Teachers => release.users_with(UserRole::Teacher),
            Listing::Enrollments => release.enrollments(),
        }
    }
}

/// A collection below one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nested {
    SchoolClasses,
    ClassStudents,
    ClassTeachers,
}

impl Nested {
    pub const ALL: [Nested; 3] = [
        Nested::SchoolClasses,
        Nested::ClassStudents,
        Nested::ClassTeachers,
    ];

    pub fn template(self) -> &'static str {
        match self {
            Nested::SchoolClasses => "/schools/{id}/classes",
            Nested::ClassStudents => "/classes/{id}/students",
            Nested::ClassTeachers => "/classes/{id}/teachers",
        }
    }

    fn listing(self) -> Listing {
        match self {
            Nested::SchoolClasses => Listing::Classes,
            Nested::ClassStudents => Listing::Students,
            Nested::ClassTeachers => Listing::Teachers,
        }
    }

    /// The records, or `None` when the parent record is not released.
    fn records(self, release: &Release<'_>, id: &str) -> Option<Vec<Value>> {
        match self {
            Nested::SchoolClasses => {
                let is_school = Listing::Schools
                    .records(release)
                    .iter()
                    .any(|school| school["sourcedId"] == id);
                is_school.then(|| {
                    release
                        .classes()
                        .into_iter()
                        .filter(|class| class["school"]["sourcedId"] == id)
                        .collect()
                })
            }
            Nested::ClassStudents => release.class_members(id, EnrollmentRole::Pupil),
            Nested::ClassTeachers => release.class_members(id, EnrollmentRole::Teacher),
        }
    }
}

/// A request that passed the token and approval checks.
struct Authorised {
    grant: RosterGrant,
    /// What the catalogue allows and the school approves for the service now.
    releasable: Vec<ReleasableClaim>,
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// Checks the bearer token, and that the service is still in the catalogue, activated, and
/// approved for the roster: the school's decision holds at every request, also one that reached
/// this node by sync.
async fn authorise(state: &AppState, headers: &HeaderMap) -> Result<Authorised, OneRosterError> {
    let Some(token) = bearer_token(headers) else {
        return Err(OneRosterError::unauthorised(
            None,
            "an access token is required (Authorization: Bearer), from the client credentials grant at /oidc/token",
        ));
    };
    let now = node_now_millis();
    let Some(grant) = state.oneroster.tokens.lookup(&token, now) else {
        return Err(OneRosterError::unauthorised(
            Some("invalid_token"),
            "the access token is unknown, expired or revoked",
        ));
    };
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let service_id = grant.service_id.clone();
    let current = blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        Ok(catalogue
            .services
            .get(&service_id)
            .filter(|service| service.client_secret_sha256.is_some())
            .zip(activations.services.get(&service_id))
            .map(|(service, activation)| service.releasable(&activation.approved_claims)))
    })
    .await
    .map_err(|error| OneRosterError::internal(&error))?;
    let Some(releasable) = current else {
        state.oneroster.tokens.revoke_service(&grant.service_id);
        return Err(OneRosterError::unauthorised(
            Some("invalid_token"),
            "the service is no longer activated at this school",
        ));
    };
    let approved = grant
        .scopes
        .iter()
        .any(|scope| *scope == ReleasableClaim::RosterCoreReadonly && releasable.contains(scope));
    if !approved {
        return Err(OneRosterError {
            bearer_error: Some("insufficient_scope"),
            ..OneRosterError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the school does not approve reading its roster for this service (roster-core.readonly)",
            )
        });
    }
    Ok(Authorised { grant, releasable })
}

/// Builds the service's view of the roster and hands it to `read`.
async fn with_release<T>(
    state: &AppState,
    authorised: &Authorised,
    read: impl FnOnce(&Release<'_>) -> T,
) -> Result<T, OneRosterError> {
    let roster = roster_index(state)
        .await
        .map_err(|error| OneRosterError::internal(&error))?;
    let salt = pairwise_salt(state)
        .await
        .map_err(|error| OneRosterError::internal(&error))?;
    let modified = state.oneroster.modified_at(&roster, node_now_millis());
    let policy = ReleasePolicy {
        names: authorised.releasable.contains(&ReleasableClaim::Profile),
        email: authorised.releasable.contains(&ReleasableClaim::Email),
    };
    let release = Release::new(
        &roster,
        &state.oidc.issuer,
        &salt,
        &authorised.grant.service_id,
        policy,
        &modified,
    );
    Ok(read(&release))
}

/// Writes the audit entry of a read; the answer leaves only after it is durable.
async fn audit_read(
    state: &AppState,
    authorised: &Authorised,
    uri: &Uri,
    records: usize,
) -> Result<(), OneRosterError> {
    let mut claims = authorised.grant.scopes.clone();
    claims.extend(shaping_claims(&authorised.releasable));
    claims.sort();
    let entry = AuditEntry {
        at: NodeTime::from_unix_millis(node_now_millis()),
        event: AuditEvent::RosterRead,
        user: String::new(),
        service: authorised.grant.service_id.clone(),
        claims,
        detail: Some(
            uri.path()
                .strip_prefix(BASE_PATH)
                .unwrap_or(uri.path())
                .to_owned(),
        ),
        records: Some(records as u64),
    };
    crate::school::audit::record_before_release(state, entry)
        .await
        .map_err(|error| OneRosterError::internal(&ApiError::from(error)))
}

fn into_response(result: Result<Response, OneRosterError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A page of a collection with the binding's headers: `X-Total-Count`, and `Link` to the next
/// and last pages.
async fn page(
    state: &AppState,
    authorised: &Authorised,
    uri: &Uri,
    key: &'static str,
    records: Vec<Value>,
    query: &query::CollectionQuery,
) -> Result<Response, OneRosterError> {
    let (page, total) = query::apply(records, query);
    audit_read(state, authorised, uri, page.len()).await?;
    let mut response = (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ key: page })),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    let link_to = |offset: usize| {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            if name != "offset" && name != "limit" {
                pairs.append_pair(&name, &value);
            }
        }
        pairs.append_pair("limit", &query.limit.to_string());
        pairs.append_pair("offset", &offset.to_string());
        format!("{}{}?{}", state.oidc.issuer, uri.path(), pairs.finish())
    };
    let mut links = Vec::new();
    if query.offset + query.limit < total {
        links.push(format!(
            "<{}>; rel=\"next\"",
            link_to(query.offset + query.limit)
        ));
    }
    let last = total.saturating_sub(1) / query.limit * query.limit;
    links.push(format!("<{}>; rel=\"last\"", link_to(last)));
    if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
        headers.insert(header::LINK, value);
    }
    Ok(response)
}

/// `GET {BASE_PATH}/{collection}`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    listing: Listing,
) -> Response {
    into_response(
        async {
            let authorised = authorise(&state, &headers).await?;
            let query = query::parse_collection_query(uri.query(), listing.fields())?;
            let records =
                with_release(&state, &authorised, |release| listing.records(release)).await?;
            page(&state, &authorised, &uri, listing.keys().0, records, &query).await
        }
        .await,
    )
}

/// `GET {BASE_PATH}/{collection}/{sourcedId}`.
pub async fn single(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    listing: Listing,
    id: String,
) -> Response {
    into_response(
        async {
            let authorised = authorise(&state, &headers).await?;
            let fields = query::parse_single_query(uri.query(), listing.fields())?;
            let found = with_release(&state, &authorised, |release| {
                listing
                    .records(release)
                    .into_iter()
                    .find(|record| record["sourcedId"] == id.as_str())
            })
            .await?;
            let (_, key) = listing.keys();
            let Some(record) = found else {
                return Err(OneRosterError::not_found(key, &id));
            };
            audit_read(&state, &authorised, &uri, 1).await?;
            Ok((
                [(header::CACHE_CONTROL, "no-store")],
                Json(json!({ key: query::select(record, fields.as_deref()) })),
            )
                .into_response())
        }
        .await,
    )
}

/// `GET {BASE_PATH}/schools/{id}/classes`, `/classes/{id}/students`, `/classes/{id}/teachers`.
pub async fn nested(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    kind: Nested,
    id: String,
) -> Response {
    into_response(
        async {
            let authorised = authorise(&state, &headers).await?;
            let listing = kind.listing();
            let query = query::parse_collection_query(uri.query(), listing.fields())?;
            let found =
                with_release(&state, &authorised, |release| kind.records(release, &id)).await?;
            let Some(records) = found else {
                let parent = match kind {
                    Nested::SchoolClasses => "school",
                    Nested::ClassStudents | Nested::ClassTeachers => "class",
                };
                return Err(OneRosterError::not_found(parent, &id));
            };
            page(&state, &authorised, &uri, listing.keys().0, records, &query).await
        }
        .await,
    )
}

/// The service's routes, the same as [`ROUTE_TEMPLATES`] (a unit test checks).
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for listing in Listing::ALL {
        let collection = format!("{BASE_PATH}{}", listing.path());
        let one = format!("{collection}/{{id}}");
        router = router
            .route(
                &collection,
                get(
                    move |state: State<AppState>, headers: HeaderMap, uri: Uri| {
                        list(state, headers, uri, listing)
                    },
                ),
            )
            .route(
                &one,
                get(
                    move |state: State<AppState>,
                          headers: HeaderMap,
                          uri: Uri,
                          Path(id): Path<String>| {
                        single(state, headers, uri, listing, id)
                    },
                ),
            );
    }
    for kind in Nested::ALL {
        router = router.route(
            &format!("{BASE_PATH}{}", kind.template()),
            get(
                move |state: State<AppState>,
                      headers: HeaderMap,
                      uri: Uri,
                      Path(id): Path<String>| {
                    nested(state, headers, uri, kind, id)
                },
            ),
        );
    }
    router
}
