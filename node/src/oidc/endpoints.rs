//! The provider's HTTP handlers and its OAuth 2.0 error answers.
//!
//! Refusals follow RFC 6749 and OpenID Connect Core: an authorisation request whose client or
//! redirect URI cannot be trusted gets an error page and is never redirected (section 4.1.2.1:
//! an unchecked redirect would make the node an open redirector); every later refusal goes back
//! to the service's registered redirect URI with `error`, `error_description` and `state`. The
//! token and userinfo endpoints answer with the JSON error object (RFC 6749 section 5.2, RFC 6750
//! section 3).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::claims::{pairwise_subject, released_claims};
use super::grants::{AccessGrant, CodeGrant, GrantError};
use super::oauth_error::{OAuthError, oauth_error, oauth_refusal};
use super::{MAX_AUTHORIZE_URI_BYTES, MAX_STATE_BYTES};
use crate::api::{ApiError, blocking, node_now_millis, roster_index};
use crate::auth::AuthError;
use crate::model::audit::{AuditEntry, AuditEvent};
use crate::model::catalogue::{
    Activation, ActivationsDocument, CatalogueDocument, CatalogueService, PAIRWISE_SALT_BYTES,
    PairwiseSaltDocument, ReleasableClaim, ServiceProtocol, activations_doc, catalogue_doc,
    client_secret_sha256, pairwise_salt_doc,
};
use crate::model::common::{ModelError, NodeTime};
use crate::state::AppState;
use crate::web::ServiceLoginRefusal;

/// PKCE verifiers are 43 to 128 characters (RFC 7636 section 4.1); an S256 challenge is the
/// base64url of a SHA-256 digest, 43 characters.
const MIN_CODE_VERIFIER_CHARS: usize = 43;
const MAX_CODE_VERIFIER_CHARS: usize = 128;
const S256_CHALLENGE_CHARS: usize = 43;

// ---------------------------------------------------------------------------------------------
// Discovery and keys.

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0, section 3).
pub async fn discovery(State(state): State<AppState>) -> Response {
    let provider = &state.oidc;
    let scopes: Vec<&str> = std::iter::once("openid")
        .chain(ReleasableClaim::ALL.iter().map(|claim| claim.scope()))
        .collect();
    let claims: Vec<&str> = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"]
        .into_iter()
        .chain(
            ReleasableClaim::ALL
                .iter()
                .flat_map(|claim| claim.claim_names().iter().copied()),
        )
        .collect();
    let document = json!({
        "issuer": provider.issuer,
        "authorization_endpoint": provider.endpoint("/oidc/authorize"),
        "token_endpoint": provider.endpoint("/oidc/token"),
        "userinfo_endpoint": provider.endpoint("/oidc/userinfo"),
        "jwks_uri": provider.endpoint("/oidc/jwks"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    ([(header::CACHE_CONTROL, "max-age=3600")], Json(document)).into_response()
}

/// `GET /oidc/jwks`: the signing key and the retired keys still in their grace period.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let provider = state.oidc.clone();
    let now = node_now_millis();
    let published = tokio::task::spawn_blocking(move || {
        // Makes the first key on a fresh node, so that the set is never empty.
        provider.keys.signing_key(now)?;
        provider.keys.published(now)
    })
    .await;
    match published {
        Ok(Ok(keys)) => (
            // Short, so that a service sees a new key soon after a rotation.
            [(header::CACHE_CONTROL, "max-age=300")],
            Json(keys),
        )
            .into_response(),
        Ok(Err(error)) => {
            ApiError::Internal(format!("the signing keys failed: {error}")).into_response()
        }
        Err(error) => ApiError::Internal(error.to_string()).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// The parts shared by the endpoints.

/// The query or form parameters, refusing repeated ones (RFC 6749 section 3.1: parameters must
/// not be included more than once) and empty values (treated as omitted).
pub(crate) fn parameters(encoded: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut parameters = HashMap::new();
    for (name, value) in form_urlencoded::parse(encoded) {
        if value.is_empty() {
            continue;
        }
        if parameters
            .insert(name.clone().into_owned(), value.into_owned())
            .is_some()
        {
            return Err(format!("the parameter {name:?} is repeated"));
        }
    }
    Ok(parameters)
}

/// A catalogued OpenID Connect service and its activation at this school, if any.
async fn service_at_school(
    state: &AppState,
    client_id: &str,
) -> Result<Option<(CatalogueService, Option<Activation>)>, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let client_id = client_id.to_owned();
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let Some(service) = catalogue.services.get(&client_id).cloned() else {
            return Ok(None);
        };
        if service.protocol != ServiceProtocol::Oidc {
            return Ok(None);
        }
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        Ok(Some((
            service,
            activations.services.get(&client_id).cloned(),
        )))
    })
    .await
}

/// The claims a service may receive now: the catalogue's allowance and the school's approval.
fn releasable_now(service: &CatalogueService, activation: &Activation) -> Vec<ReleasableClaim> {
    service.releasable(&activation.approved_claims)
}

/// The school's pairwise salt, made on first use.
pub(crate) async fn pairwise_salt(state: &AppState) -> Result<Vec<u8>, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    blocking(move || {
        let doc = pairwise_salt_doc(&school);
        let stored: Option<PairwiseSaltDocument> = repository.read(&doc)?;
        if let Some(salt) = stored.and_then(|stored| {
            hex::decode(&stored.salt_hex)
                .ok()
                .filter(|salt| salt.len() == PAIRWISE_SALT_BYTES)
        }) {
            return Ok(salt);
        }
        let mut fresh = [0u8; PAIRWISE_SALT_BYTES];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut fresh)
            .map_err(|_| ApiError::Internal("the random number generator failed".into()))?;
        Ok(
            repository.update(&doc, |document: &mut PairwiseSaltDocument| {
                Ok::<_, ModelError>(document.get_or_set(fresh))
            })?,
        )
    })
    .await
}

fn audit_entry(
    event: AuditEvent,
    user: &str,
    service: &str,
    claims: &[ReleasableClaim],
    now: i64,
) -> AuditEntry {
    AuditEntry {
        at: NodeTime::from_unix_millis(now),
        event,
        user: user.to_owned(),
        service: service.to_owned(),
        claims: claims.to_vec(),
        records: None,
        detail: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The authorisation endpoint.

/// How an authorisation request is refused, here and at the LTI platform's authentication
/// endpoint (`crate::lti::launch`).
#[derive(Debug)]
pub(crate) enum AuthorizeRefusal {
    /// Shown to the user, in their language; the request's client or redirect URI is not to be
    /// trusted.
    Page(StatusCode, ServiceLoginRefusal),
    /// Sent back to the client at its registered redirect URI: as query parameters here, as a
    /// form post by the LTI platform.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// An authorisation request whose client is known and whose redirect URI is the client's own:
/// from here on, refusals go back to the client.
pub(crate) struct ClientRequest<T> {
    pub parameters: HashMap<String, String>,
    pub client: T,
    pub redirect_uri: String,
    /// The client's `state`, at most [`MAX_STATE_BYTES`].
    pub state: Option<String>,
}

impl<T> ClientRequest<T> {
    /// The refusal sent back to the client with its `state`.
    pub fn refuse(&self, error: &'static str, description: &str) -> AuthorizeRefusal {
        AuthorizeRefusal::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description: description.to_owned(),
        }
    }
}

/// What both authorisation endpoints check first, in this order: the request's size and syntax,
/// the client it names (`find` looks it up), the redirect URI against those the client
/// registered (compared exactly), and the length of `state`. Until the redirect URI is known to be
/// the client's, a refusal is a page for the user, never a redirect.
pub(crate) async fn client_request<T, F>(
    encoded: &[u8],
    find: impl FnOnce(String) -> F,
    redirect_uris: impl Fn(&T) -> &[String],
) -> Result<ClientRequest<T>, AuthorizeRefusal>
where
    F: Future<Output = Result<Option<T>, ApiError>>,
{
    let page = AuthorizeRefusal::Page;
    if encoded.len() > MAX_AUTHORIZE_URI_BYTES {
        return Err(page(StatusCode::URI_TOO_LONG, ServiceLoginRefusal::TooLong));
    }
    let parameters = parameters(encoded).map_err(|reason| {
        tracing::info!(%reason, "a malformed authorisation request");
        page(StatusCode::BAD_REQUEST, ServiceLoginRefusal::Malformed)
    })?;
    let Some(client_id) = parameters.get("client_id").cloned() else {
        return Err(page(StatusCode::BAD_REQUEST, ServiceLoginRefusal::NoClient));
    };
    let client = find(client_id)
        .await
        .map_err(|_| {
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                ServiceLoginRefusal::Failed,
            )
        })?
        .ok_or(page(
            StatusCode::BAD_REQUEST,
            ServiceLoginRefusal::UnknownService,
        ))?;
    let Some(redirect_uri) = parameters
        .get("redirect_uri")
        .filter(|given| redirect_uris(&client).contains(given))
        .cloned()
    else {
        return Err(page(
            StatusCode::BAD_REQUEST,
            ServiceLoginRefusal::UnregisteredRedirect,
        ));
    };
    let state = parameters.get("state").cloned();
    let too_long = state
        .as_ref()
        .is_some_and(|text| text.len() > MAX_STATE_BYTES);
    let request = ClientRequest {
        parameters,
        client,
        redirect_uri,
        state: state.filter(|_| !too_long),
    };
    if too_long {
        return Err(request.refuse("invalid_request", "state is too long"));
    }
    Ok(request)
}

/// `GET /oidc/authorize`: see the module documentation of [`crate::oidc`].
pub async fn authorize(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match authorize_request(&state, &method, &uri, &headers).await {
        Ok(response) => response,
        Err(AuthorizeRefusal::Page(status, message)) => {
            crate::web::service_login_refused(&state, &headers, status, message)
        }
        Err(AuthorizeRefusal::Redirect {
            redirect_uri,
            state: client_state,
            error,
            description,
        }) => {
            let mut pairs = vec![
                ("error", error.to_owned()),
                ("error_description", description),
            ];
            if let Some(client_state) = client_state {
                pairs.push(("state", client_state));
            }
            pairs.push(("iss", state.oidc.issuer.clone()));
            redirect_with(&state, &headers, &redirect_uri, &pairs)
        }
    }
}

/// The client and request a login is for, once the client and its redirect URI are known.
type ServiceRequest = ClientRequest<(CatalogueService, Option<Activation>)>;

/// The authorisation code flow, step by step: the request is checked whole before anything is
/// issued (each refusal goes back to the client's redirect URI), then the user's login, then the
/// code is issued and recorded in the audit log before the client sees it.
async fn authorize_request(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, AuthorizeRefusal> {
    let request: ServiceRequest = client_request(
        uri.query().unwrap_or("").as_bytes(),
        |client_id| async move { service_at_school(state, &client_id).await },
        |(service, _): &(CatalogueService, Option<Activation>)| &service.redirect_uris,
    )
    .await?;
    refuse_unsupported_parameters(&request)?;
    let (service, activation) = request.client.clone();
    let Some(activation) = activation else {
        return Err(request.refuse(
            "unauthorized_client",
            "this service is not activated at this school",
        ));
    };
    let code_challenge = pkce_challenge(&request)?;
    let requested = requested_claims(&request, &service, &activation)?;
    let login = LoginRequirements::read(&request)?;
    let (caller, session) = match state.auth.authenticate(method, uri, headers) {
        Ok(authenticated) => authenticated,
        Err(AuthError::NotAuthenticated) if login.prompt_none => {
            return Err(request.refuse("login_required", "the user is not logged in"));
        }
        Err(AuthError::NotAuthenticated) => return Ok(to_login(uri)),
        Err(_) => {
            return Err(request.refuse("server_error", "the node could not check the login"));
        }
    };
    let now = node_now_millis();
    if login.wants_a_fresh_login(session.created, now) {
        if login.prompt_none {
            return Err(request.refuse("login_required", "the user's login is older than max_age"));
        }
        return Ok(to_fresh_login(&request.parameters));
    }
    let granted_scope = std::iter::once("openid")
        .chain(requested.iter().map(|claim| claim.scope()))
        .collect::<Vec<_>>()
        .join(" ");
    let grant = CodeGrant {
        service_id: service.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge,
        nonce: login.nonce,
        user_id: caller.user_id.clone(),
        auth_time_secs: i64::try_from(session.created / 1000).unwrap_or(i64::MAX),
        claims: requested.clone(),
        scope: granted_scope,
    };
    let code = issue_recorded_code(state, &request, grant, &requested, now).await?;
    let mut pairs = vec![("code", code)];
    if let Some(client_state) = request.state.clone() {
        pairs.push(("state", client_state));
    }
    pairs.push(("iss", state.oidc.issuer.clone()));
    Ok(redirect_with(state, headers, &request.redirect_uri, &pairs))
}

/// Refuses what this provider does not offer: other response types and modes, request objects,
/// and the `claims` parameter (claims are requested by scope).
fn refuse_unsupported_parameters(request: &ServiceRequest) -> Result<(), AuthorizeRefusal> {
    let parameters = &request.parameters;
    if parameters.get("response_type").map(String::as_str) != Some("code") {
        return Err(request.refuse(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        ));
    }
    if parameters.contains_key("request") {
        return Err(request.refuse("request_not_supported", "request objects are not supported"));
    }
    if parameters.contains_key("request_uri") {
        return Err(request.refuse("request_uri_not_supported", "request_uri is not supported"));
    }
    if parameters.contains_key("claims") {
        return Err(request.refuse(
            "invalid_request",
            "the claims parameter is not supported; request claims by scope",
        ));
    }
    if parameters
        .get("response_mode")
        .is_some_and(|mode| mode != "query")
    {
        return Err(request.refuse("invalid_request", "only response_mode=query is supported"));
    }
    Ok(())
}

/// The PKCE challenge, which every client must send, and only by S256.
fn pkce_challenge(request: &ServiceRequest) -> Result<String, AuthorizeRefusal> {
    let parameters = &request.parameters;
    match (
        parameters.get("code_challenge"),
        parameters.get("code_challenge_method").map(String::as_str),
    ) {
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => Ok(challenge.clone()),
        (Some(_), Some("S256")) => {
            Err(request.refuse("invalid_request", "code_challenge is not an S256 challenge"))
        }
        _ => Err(request.refuse(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        )),
    }
}

/// The claims the scope asks for, sorted: `openid` is required, every other scope must name a
/// claim the school approved for the service, and no roster scope is granted to a login.
fn requested_claims(
    request: &ServiceRequest,
    service: &CatalogueService,
    activation: &Activation,
) -> Result<Vec<ReleasableClaim>, AuthorizeRefusal> {
    let scope = request.parameters.get("scope").cloned().unwrap_or_default();
    let mut requested = Vec::new();
    let mut has_openid = false;
    for value in scope.split(' ').filter(|value| !value.is_empty()) {
        if value == "openid" {
            has_openid = true;
            continue;
        }
        let Some(claim) = ReleasableClaim::from_scope(value) else {
            return Err(request.refuse("invalid_scope", &format!("unknown scope {value:?}")));
        };
        // A roster scope releases the whole school's roster to the service, not data about the
        // user logging in: only the client credentials grant gives it (`crate::oneroster`).
        if claim.is_roster_scope() {
            return Err(request.refuse(
                "invalid_scope",
                &format!("{value:?} is granted only by the client credentials grant"),
            ));
        }
        if !requested.contains(&claim) {
            requested.push(claim);
        }
    }
    if !has_openid {
        return Err(request.refuse("invalid_scope", "the openid scope is required"));
    }
    let releasable = releasable_now(service, activation);
    if let Some(refused) = requested.iter().find(|claim| !releasable.contains(claim)) {
        return Err(request.refuse(
            "invalid_scope",
            &format!(
                "this school has not approved {:?} for this service",
                refused.scope()
            ),
        ));
    }
    requested.sort();
    Ok(requested)
}

/// What the client asks of the user's login: `nonce`, `prompt` and `max_age`.
#[derive(Debug)]
struct LoginRequirements {
    nonce: Option<String>,
    /// `prompt=none`: refuse rather than show the login page.
    prompt_none: bool,
    /// `prompt=login`: the user logs in again now.
    prompt_login: bool,
    max_age_secs: Option<u64>,
}

impl LoginRequirements {
    fn read(request: &ServiceRequest) -> Result<Self, AuthorizeRefusal> {
        let parameters = &request.parameters;
        let nonce = parameters.get("nonce").cloned();
        if nonce
            .as_ref()
            .is_some_and(|nonce| nonce.len() > MAX_STATE_BYTES)
        {
            return Err(request.refuse("invalid_request", "nonce is too long"));
        }
        let prompts: Vec<&str> = parameters
            .get("prompt")
            .map(|prompt| {
                prompt
                    .split(' ')
                    .filter(|value| !value.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let prompt_none = prompts.contains(&"none");
        // OpenID Connect Core 1.0, section 3.1.2.1: `none` with any other value is an error.
        if prompt_none && prompts.len() > 1 {
            return Err(request.refuse(
                "invalid_request",
                "prompt=none cannot be combined with other prompt values",
            ));
        }
        let max_age_secs = match parameters.get("max_age") {
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                request.refuse(
                    "invalid_request",
                    "max_age must be a whole number of seconds",
                )
            })?),
            None => None,
        };
        Ok(Self {
            nonce,
            prompt_none,
            prompt_login: prompts.contains(&"login"),
            max_age_secs,
        })
    }

    /// `prompt=login` and a `max_age` the session is older than both ask for the user to prove
    /// who they are again now, as a service may before something sensitive. `max_age=0` is
    /// `prompt=login` (OpenID Connect Core 1.0, section 3.1.2.1).
    fn wants_a_fresh_login(&self, session_created_millis: u64, now_millis: i64) -> bool {
        let login_age_millis = u64::try_from(now_millis)
            .unwrap_or(0)
            .saturating_sub(session_created_millis);
        let too_old = self
            .max_age_secs
            .is_some_and(|max_age| max_age == 0 || login_age_millis > max_age.saturating_mul(1000));
        self.prompt_login || too_old
    }
}

/// Issues the code and records the release in the audit log; without the record there is no
/// code: it is withdrawn before anyone sees it.
async fn issue_recorded_code(
    state: &AppState,
    request: &ServiceRequest,
    grant: CodeGrant,
    requested: &[ReleasableClaim],
    now: i64,
) -> Result<String, AuthorizeRefusal> {
    let (user_id, service_id) = (grant.user_id.clone(), grant.service_id.clone());
    let code = match state.oidc.grants.issue_code(grant, now) {
        Ok(code) => code,
        Err(GrantError::Full) => {
            return Err(request.refuse(
                "temporarily_unavailable",
                "too many logins are in progress; try again in a minute",
            ));
        }
        Err(GrantError::Random(_)) => {
            return Err(request.refuse("server_error", "the node failed"));
        }
    };
    let entry = audit_entry(AuditEvent::Grant, &user_id, &service_id, requested, now);
    if crate::school::audit::record_before_release(state, entry)
        .await
        .is_err()
    {
        let _ = state.oidc.grants.take_code(&code, now);
        return Err(request.refuse("server_error", "the node could not record the login"));
    }
    Ok(code)
}

fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == S256_CHALLENGE_CHARS
        && URL_SAFE_NO_PAD
            .decode(challenge)
            .is_ok_and(|digest| digest.len() == 32)
}

/// To the login page, which returns here after the login.
fn to_login(uri: &Uri) -> Response {
    let back = uri
        .path_and_query()
        .map_or("/oidc/authorize", |path| path.as_str());
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", back)
        .finish();
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// How recent a login must be when the user comes back from logging in again for `prompt=login`
/// or `max_age`: the login just happened, so a minute is plenty.
const FRESH_LOGIN_WINDOW_SECS: u64 = 60;

/// To the login form even though the user is logged in (`reauth=1`), and back to this request with
/// `prompt=login` replaced by a `max_age` of [`FRESH_LOGIN_WINDOW_SECS`]: the login that just
/// happened satisfies it, so the user is not sent round again, and an old session cannot pass.
/// The ID token's `auth_time` then tells the service when that login was.
fn to_fresh_login(parameters: &HashMap<String, String>) -> Response {
    let mut names: Vec<&String> = parameters.keys().collect();
    names.sort();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for name in names {
        if name == "prompt" || name == "max_age" {
            continue;
        }
        query.append_pair(name, &parameters[name]);
    }
    query.append_pair("max_age", &FRESH_LOGIN_WINDOW_SECS.to_string());
    let back = format!("/oidc/authorize?{}", query.finish());
    let login = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &back)
        .append_pair("reauth", "1")
        .finish();
    Redirect::to(&format!("/login?{login}")).into_response()
}

/// A redirect to `base` (a registered redirect URI) with `pairs` appended to its query.
fn redirect_with(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
    pairs: &[(&str, String)],
) -> Response {
    let Ok(mut url) = url::Url::parse(base) else {
        return crate::web::service_login_refused(
            state,
            headers,
            StatusCode::INTERNAL_SERVER_ERROR,
            ServiceLoginRefusal::InvalidRegisteredAddress,
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------
// The token endpoint.

/// The client's credentials from `Authorization: Basic` (RFC 6749 section 2.3.1: both parts
/// form-urlencoded before base64) or the body, never both.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, credentials) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| credentials.trim().to_owned())
        });
    let from_body = (form.get("client_id"), form.get("client_secret"));
    match (basic, from_body) {
        (Some(_), (_, Some(_))) => Err(oauth_refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "use one client authentication method, not two",
        )),
        (Some(encoded), (body_client_id, None)) => {
            let invalid = || {
                oauth_refusal(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "the client credentials are malformed",
                )
            };
            let decoded = STANDARD.decode(encoded).map_err(|_| invalid())?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
            let id = form_decode(id).ok_or_else(invalid)?;
            let secret = form_decode(secret).ok_or_else(invalid)?;
            if body_client_id.is_some_and(|body_id| body_id != &id) {
                return Err(invalid());
            }
            Ok((id, secret))
        }
        (None, (Some(id), Some(secret))) => Ok((id.clone(), secret.clone())),
        (None, _) => Err(oauth_refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication is required (client_secret_basic or client_secret_post)",
        )),
    }
}

/// Undoes `application/x-www-form-urlencoded` encoding of one value.
fn form_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

fn secret_matches(secret: &str, expected_sha256_hex: &str) -> bool {
    let presented = client_secret_sha256(secret);
    bool::from(presented.as_bytes().ct_eq(expected_sha256_hex.as_bytes()))
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (MIN_CODE_VERIFIER_CHARS..=MAX_CODE_VERIFIER_CHARS).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte));
    well_formed
        && bool::from(
            URL_SAFE_NO_PAD
                .encode(Sha256::digest(verifier.as_bytes()))
                .as_bytes()
                .ct_eq(challenge.as_bytes()),
        )
}

/// `POST /oidc/token`: an authorisation code for an ID token and an access token.
pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        );
    }
    let form = match parameters(&body) {
        Ok(form) => form,
        Err(reason) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &reason),
    };
    let (client_id, client_secret) = match client_credentials(&headers, &form) {
        Ok(credentials) => credentials,
        Err(refusal) => return refusal.into_response(),
    };
    let found = match service_at_school(&state, &client_id).await {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    let unknown_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        )
    };
    let Some((service, activation)) = found else {
        return unknown_client();
    };
    let Some(expected) = service.client_secret_sha256.as_deref() else {
        return unknown_client();
    };
    if !secret_matches(&client_secret, expected) {
        return unknown_client();
    }
    let Some(activation) = activation else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "this service is not activated at this school",
        );
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {}
        // A service reading the school's roster over OneRoster (`crate::oneroster`).
        Some("client_credentials") => {
            return crate::oneroster::grant::client_credentials(
                &state,
                &service,
                &activation,
                &form,
            )
            .await;
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=authorization_code and client_credentials are supported",
            );
        }
    }
    let Some(code) = form.get("code") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is missing",
        );
    };
    let now = node_now_millis();
    // Taken out before any check below: a code is presented once, whatever the outcome.
    let Ok(grant) = state.oidc.grants.take_code(code, now) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code is unknown, expired or used",
        );
    };
    let invalid_grant =
        |description: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
    if grant.service_id != service.id {
        return invalid_grant("the code was issued to another client");
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return invalid_grant("redirect_uri differs from the authorisation request's");
    }
    let verified = form
        .get("code_verifier")
        .is_some_and(|verifier| pkce_matches(verifier, &grant.code_challenge));
    if !verified {
        return invalid_grant("the PKCE code_verifier does not match the code_challenge");
    }
    if state.auth.directory().user_roles(&grant.user_id).is_none() {
        return invalid_grant("the user can no longer log in");
    }
    // The school may have narrowed its approval since the code was issued: release the overlap.
    let releasable = releasable_now(&service, &activation);
    let claims: Vec<ReleasableClaim> = grant
        .claims
        .iter()
        .copied()
        .filter(|claim| releasable.contains(claim))
        .collect();
    match issue_tokens(&state, &service, code, &grant, &claims, now).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn issue_tokens(
    state: &AppState,
    service: &CatalogueService,
    code: &str,
    grant: &CodeGrant,
    claims: &[ReleasableClaim],
    now: i64,
) -> Result<Response, OAuthError> {
    let server_error = |description: &str| {
        oauth_refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
    };
    let roster = roster_index(state)
        .await
        .map_err(|_| server_error("the node could not read the roster"))?;
    let salt = pairwise_salt(state)
        .await
        .map_err(|_| server_error("the node could not read its pairwise salt"))?;
    let subject = pairwise_subject(&salt, &service.id, &grant.user_id);
    let released = released_claims(&roster, &state.identity, &grant.user_id, claims);
    let entry = audit_entry(
        AuditEvent::TokenIssued,
        &grant.user_id,
        &service.id,
        claims,
        now,
    );
    crate::school::audit::record_before_release(state, entry)
        .await
        .map_err(|_| server_error("the node could not record the release"))?;
    let access_grant = AccessGrant {
        service_id: service.id.clone(),
        user_id: grant.user_id.clone(),
        claims: claims.to_vec(),
        userinfo_audited: false,
    };
    let access_token = match state
        .oidc
        .grants
        .issue_access_token(code, access_grant, now)
    {
        Ok(token) => token,
        Err(GrantError::Full) => {
            return Err(oauth_refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many logins are in progress; try again in a minute",
            ));
        }
        Err(GrantError::Random(_)) => return Err(server_error("the node failed")),
    };
    let issued_at = now / 1000;
    let lifetime = i64::try_from(state.oidc.id_token_lifetime.as_secs()).unwrap_or(600);
    let mut id_claims = Map::new();
    id_claims.insert("iss".into(), state.oidc.issuer.clone().into());
    id_claims.insert("sub".into(), subject.into());
    id_claims.insert("aud".into(), service.id.clone().into());
    id_claims.insert("exp".into(), (issued_at + lifetime).into());
    id_claims.insert("iat".into(), issued_at.into());
    id_claims.insert("auth_time".into(), grant.auth_time_secs.into());
    if let Some(nonce) = &grant.nonce {
        id_claims.insert("nonce".into(), nonce.clone().into());
    }
    id_claims.extend(released);
    let provider = state.oidc.clone();
    let id_token = tokio::task::spawn_blocking(move || {
        let key = provider
            .keys
            .signing_key(now)
            .map_err(|error| error.to_string())?;
        let mut header = jsonwebtoken::Header::new(key.algorithm.jwt_algorithm());
        header.kid = Some(key.key_id);
        jsonwebtoken::encode(&header, &Value::Object(id_claims), &key.encoding_key)
            .map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|signed| signed);
    let id_token = match id_token {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "could not sign an ID token");
            return Err(server_error("the node could not sign the ID token"));
        }
    };
    let lifetime_secs = state.oidc.grants.access_token_lifetime().as_secs();
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime_secs,
            "id_token": id_token,
            "scope": grant.scope,
        })),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// The userinfo endpoint.

fn bearer_error(error: Option<&'static str>, description: &str) -> Response {
    let challenge = match error {
        Some(error) => format!(
            "Bearer realm=\"digione-oidc\", error=\"{error}\", error_description=\"{description}\""
        ),
        None => "Bearer realm=\"digione-oidc\"".to_owned(),
    };
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error.unwrap_or("invalid_request"), "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `GET`/`POST /oidc/userinfo` with `Authorization: Bearer`: the claims released to the service.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
    else {
        return bearer_error(None, "an access token is required (Authorization: Bearer)");
    };
    let now = node_now_millis();
    let Some(grant) = state.oidc.grants.use_access_token(&token, now) else {
        return bearer_error(
            Some("invalid_token"),
            "the access token is unknown or expired",
        );
    };
    let found = match service_at_school(&state, &grant.service_id).await {
        Ok(found) => found,
        Err(error) => {
            state.oidc.grants.unmark_userinfo_audited(&token);
            return error.into_response();
        }
    };
    let Some((service, Some(activation))) = found else {
        return bearer_error(
            Some("invalid_token"),
            "the service is no longer activated at this school",
        );
    };
    if state.auth.directory().user_roles(&grant.user_id).is_none() {
        return bearer_error(Some("invalid_token"), "the user can no longer log in");
    }
    let releasable = releasable_now(&service, &activation);
    let claims: Vec<ReleasableClaim> = grant
        .claims
        .iter()
        .copied()
        .filter(|claim| releasable.contains(claim))
        .collect();
    let (roster, salt) = match (roster_index(&state).await, pairwise_salt(&state).await) {
        (Ok(roster), Ok(salt)) => (roster, salt),
        (Err(error), _) | (_, Err(error)) => {
            state.oidc.grants.unmark_userinfo_audited(&token);
            return error.into_response();
        }
    };
    if !grant.userinfo_audited {
        let entry = audit_entry(
            AuditEvent::UserinfoReleased,
            &grant.user_id,
            &service.id,
            &claims,
            now,
        );
        if let Err(error) = crate::school::audit::record_before_release(&state, entry).await {
            state.oidc.grants.unmark_userinfo_audited(&token);
            return crate::api::ApiError::from(error).into_response();
        }
    }
    let mut answer = Map::new();
    answer.insert(
        "sub".into(),
        pairwise_subject(&salt, &service.id, &grant.user_id).into(),
    );
    answer.extend(released_claims(
        &roster,
        &state.identity,
        &grant.user_id,
        &claims,
    ));
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(Value::Object(answer)),
    )
        .into_response()
}

/// The provider's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oidc/jwks", get(jwks))
        .route("/oidc/authorize", get(authorize))
        .route(
            "/oidc/token",
            post(token).layer(DefaultBodyLimit::max(super::MAX_TOKEN_REQUEST_BYTES)),
        )
        .route(
            "/oidc/userinfo",
            get(userinfo)
                .post(userinfo)
                .layer(DefaultBodyLimit::max(super::MAX_TOKEN_REQUEST_BYTES)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_pkce_s256_matches_an_independently_computed_challenge() {
        // The challenge computed outside Rust: base64url(SHA-256(verifier)) with Python's hashlib.
        let verifier = "dBjftJeZ4CVP-mJ0kz2CQi7e7hz3W6bi7eGd2XkV1Ik";
        let challenge = "PG2UoSQRydhideLzrjkG2mqQxjHEzKG82cautGm1O9I";
        assert!(is_s256_challenge(challenge));
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mJ0kz2CQi7e7hz3W6bi7eGd2XkV1Ij",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }

    #[test]
    fn oidc_repeated_parameters_are_refused() {
        assert!(parameters(b"a=1&b=2").is_ok());
        assert!(parameters(b"a=1&a=2").is_err());
        assert_eq!(
            parameters(b"a=&b=x%20y")
                .expect("parses")
                .get("b")
                .map(String::as_str),
            Some("x y")
        );
    }

    #[test]
    fn oidc_client_secret_basic_is_form_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%2Dtool:s%2Bcr+t");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
        );
        let credentials = client_credentials(&headers, &HashMap::new()).expect("credentials");
        assert_eq!(credentials, ("my-tool".to_owned(), "s+cr t".to_owned()));
        let mut both = HashMap::new();
        both.insert("client_secret".to_owned(), "x".to_owned());
        assert!(client_credentials(&headers, &both).is_err());
    }
}
