//! Logging in through an upstream OpenID provider configured for the municipality (MPASSid in
//! production), as a relying party built on the `openidconnect` crate.
//!
//! The flow: `GET /login/upstream` sends the browser to the provider with a fresh `state`, `nonce`
//! and PKCE challenge; `GET /login/upstream/callback` redeems the code, verifies the ID token
//! (signature through the provider's JWKS, issuer, audience, expiry, nonce), reads the configured
//! claim from the ID token or else the userinfo endpoint, and maps it to one roster user of this
//! school ([`crate::config::RosterMatchField`]). The web handlers (`crate::web::login`) then start
//! the same kind of session a password login starts.
//!
//! What is pending between the two requests lives in a signed cookie, not in the node's memory:
//! a flood of unfinished logins then costs the node nothing and cannot crowd out real ones. The
//! cookie crate signs it (HMAC-SHA256) with a key made when the process starts, so a restart only
//! asks users in the middle of a login to start again. The cookie also binds the callback to the
//! browser that started the login, which stops an attacker from logging a victim into the
//! attacker's account with a code of their own (login CSRF).
//!
//! Nothing here is needed to log in with a password: when the provider cannot be reached (the
//! school is offline), the login page says so and the local login keeps working.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IdToken, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse as _, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::SchoolCode;

use crate::config::{RosterMatchField, UpstreamLoginConfig};
use crate::model::UserId;
use crate::school::roster_index::RosterIndex;

/// How long a started login may take at the provider before its callback is refused: enough to
/// type a password and answer a second factor.
pub const UPSTREAM_LOGIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long the provider's discovery document and keys are reused before they are read again, so
/// thirty pupils logging in at the bell cost one discovery, and a key rotation there is seen soon.
pub const UPSTREAM_METADATA_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// How long the node waits for the provider to accept a connection, and for a whole answer.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const UPSTREAM_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider (discovery, keys, token, userinfo are a few KiB):
/// a provider that misbehaves cannot fill the node's memory.
pub const MAX_UPSTREAM_RESPONSE_BYTES: usize = 1024 * 1024;
/// The longest return path kept across the login; a longer one returns to the home page.
pub const MAX_UPSTREAM_RETURN_PATH_BYTES: usize = 1024;
/// The most values of the user claim (or the school code claim) looked at.
pub const MAX_CLAIM_VALUES: usize = 64;
/// The name of the cookie that carries a started login.
pub const PENDING_COOKIE_NAME: &str = "digione_upstream_login";
/// The path the pending cookie is sent to: only the callback needs it.
const PENDING_COOKIE_PATH: &str = "/login/upstream";

/// Why an upstream login did not log anyone in. Each has its own page text
/// (`crate::web::login`), and none of them changes anything on the node.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamLoginError {
    /// The provider could not be reached or answered nonsense: offline, or down.
    #[error("the upstream provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused the login (`error=` on the callback), or the user cancelled.
    #[error("the upstream provider refused the login: {0}")]
    Refused(String),
    /// No started login matches: no cookie, a forged or expired one, or another `state`.
    #[error("the login was not started here or took too long")]
    NotStarted,
    /// The code or the ID token did not verify.
    #[error("the upstream provider's answer did not verify: {0}")]
    Invalid(String),
    /// The provider did not say who the user is in the configured claim.
    #[error("the upstream provider did not send the claim {0}")]
    MissingClaim(String),
    /// The account belongs to another school (the school code claim).
    #[error("the upstream account is not of this school")]
    OtherSchool,
    /// No enabled roster user matches, or more than one does.
    #[error("no user of this school matches the upstream account")]
    NoMatchingUser,
}

/// Who the provider says logged in, before mapping.
#[derive(Debug, Clone)]
pub struct UpstreamIdentity {
    /// The provider's subject, for the log.
    pub subject: String,
    /// The values of the configured user claim.
    pub user_values: Vec<String>,
    /// The values of the school code claim, when one is configured.
    pub school_codes: Option<Vec<String>>,
    /// Where to go after logging in, as it was when the login started.
    pub return_path: String,
}

/// A started login, carried by the signed cookie.
#[derive(Debug, Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    return_path: String,
    /// Unix seconds after which the callback is refused.
    expires: u64,
}

/// Every claim a provider sends, for reading the configured ones by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AnyClaims {
    #[serde(flatten)]
    values: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for AnyClaims {}

type UpstreamIdToken =
    IdToken<AnyClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// The upstream login of one node.
pub struct UpstreamLogin {
    config: UpstreamLoginConfig,
    issuer: IssuerUrl,
    client_secret: ClientSecret,
    redirect_uri: RedirectUrl,
    /// No redirects: a provider's token or userinfo endpoint that redirects could send the code
    /// or the access token elsewhere (the `openidconnect` crate's advice).
    http: reqwest::Client,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
    cookie_key: Key,
    https: bool,
    /// Logins finished through the provider since start, and those that logged no one in, for
    /// `/metrics`: school IT sees at once when the provider stops working for the school.
    logins: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for UpstreamLogin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UpstreamLogin")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl UpstreamLogin {
    /// The upstream login of a node whose OpenID issuer (its own address) is `node_issuer`. Reads
    /// the client secret and the extra CA certificates; never contacts the provider.
    pub fn new(
        config: &UpstreamLoginConfig,
        node_issuer: &str,
        https: bool,
    ) -> Result<Self, String> {
        let secret = std::fs::read_to_string(&config.client_secret_file).map_err(|error| {
            format!(
                "upstream_login.client_secret_file {}: {error}",
                config.client_secret_file.display()
            )
        })?;
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(format!(
                "upstream_login.client_secret_file {} is empty",
                config.client_secret_file.display()
            ));
        }
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|error| format!("upstream_login.issuer: {error}"))?;
        let redirect = config
            .redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{node_issuer}/login/upstream/callback"));
        let redirect_uri = RedirectUrl::new(redirect)
            .map_err(|error| format!("upstream_login.redirect_uri: {error}"))?;
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(UPSTREAM_CONNECT_TIMEOUT)
            .timeout(UPSTREAM_REQUEST_TIMEOUT);
        if let Some(file) = &config.ca_certificate_file {
            let pem = std::fs::read(file).map_err(|error| {
                format!(
                    "upstream_login.ca_certificate_file {}: {error}",
                    file.display()
                )
            })?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                format!(
                    "upstream_login.ca_certificate_file {}: {error}",
                    file.display()
                )
            })?;
            if certificates.is_empty() {
                return Err(format!(
                    "upstream_login.ca_certificate_file {} holds no certificate",
                    file.display()
                ));
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .build()
            .map_err(|error| format!("the upstream login's HTTP client: {error}"))?;
        Ok(Self {
            config: config.clone(),
            issuer,
            client_secret: ClientSecret::new(secret.to_owned()),
            redirect_uri,
            http,
            metadata: Mutex::new(None),
            cookie_key: Key::generate(),
            https,
            logins: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// The name on the login button.
    pub fn display_name(&self) -> &str {
        self.config.display_name.trim()
    }

    /// Counts a login that started a session.
    pub fn count_login(&self) {
        self.logins.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a login that did not (the reason is in the log).
    pub fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn logins_total(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    pub fn failures_total(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The provider's issuer, for the audit log.
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The HTTP client the `openidconnect` crate calls the provider with.
    fn client(&self) -> impl Fn(openidconnect::HttpRequest) -> PendingCall {
        let http = self.http.clone();
        move |request| {
            let http = http.clone();
            Box::pin(async move { bounded_call(&http, request).await })
        }
    }

    /// The provider's metadata and keys, from the cache or read afresh.
    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, UpstreamLoginError> {
        if !fresh {
            let cached = self
                .metadata
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((read_at, metadata)) = cached.as_ref()
                && read_at.elapsed() < UPSTREAM_METADATA_MAX_AGE
            {
                return Ok(metadata.clone());
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.client())
            .await
            .map_err(|error| UpstreamLoginError::Unreachable(error_chain(&error)))?;
        *self
            .metadata
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// Starts a login: the provider's authorisation URL, and the `Set-Cookie` value that carries
    /// the pending login to the callback. `return_path` must already be a checked path of this
    /// node.
    pub async fn begin(&self, return_path: &str) -> Result<(String, String), UpstreamLoginError> {
        let metadata = self.metadata(false).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect_uri.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let pending = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_path: if return_path.len() <= MAX_UPSTREAM_RETURN_PATH_BYTES {
                return_path.to_owned()
            } else {
                "/home".to_owned()
            },
            expires: unix_seconds() + UPSTREAM_LOGIN_TIMEOUT.as_secs(),
        };
        let value = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&pending)
                .map_err(|error| UpstreamLoginError::Invalid(error.to_string()))?,
        );
        let cookie = Cookie::build((PENDING_COOKIE_NAME, value))
            .http_only(true)
            // Lax: the browser sends it on the provider's top-level redirect back to the callback.
            .same_site(SameSite::Lax)
            .path(PENDING_COOKIE_PATH)
            .secure(self.https)
            .max_age(time::Duration::seconds(
                UPSTREAM_LOGIN_TIMEOUT.as_secs() as i64
            ))
            .build();
        let jar = SignedCookieJar::new(self.cookie_key.clone()).add(cookie);
        let set_cookie = signed_set_cookie_value(jar)
            .ok_or_else(|| UpstreamLoginError::Invalid("the pending cookie".to_owned()))?;
        Ok((url.to_string(), set_cookie))
    }

    /// The `Set-Cookie` value that ends the pending login in the browser.
    pub fn clear_pending_cookie(&self) -> String {
        let mut cookie = Cookie::build((PENDING_COOKIE_NAME, ""))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path(PENDING_COOKIE_PATH)
            .secure(self.https)
            .build();
        cookie.make_removal();
        cookie.to_string()
    }

    /// Finishes a login at the callback: checks the pending cookie against `state`, redeems
    /// `code`, verifies the ID token and reads the claims.
    pub async fn finish(
        &self,
        headers: &HeaderMap,
        state: &str,
        code: &str,
    ) -> Result<UpstreamIdentity, UpstreamLoginError> {
        let pending = self.pending(headers)?;
        // Both are random strings of ours; comparing in constant time costs nothing and leaves no
        // doubt about timing.
        let state_matches: bool =
            subtle::ConstantTimeEq::ct_eq(pending.state.as_bytes(), state.as_bytes()).into();
        if !state_matches {
            return Err(UpstreamLoginError::NotStarted);
        }
        let metadata = self.metadata(false).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect_uri.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| UpstreamLoginError::Unreachable(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.client())
            .await
            .map_err(|error| match &error {
                openidconnect::RequestTokenError::ServerResponse(response) => {
                    UpstreamLoginError::Invalid(response.to_string())
                }
                other => UpstreamLoginError::Unreachable(error_chain(other)),
            })?;
        let raw_id_token = tokens
            .id_token()
            .ok_or_else(|| UpstreamLoginError::Invalid("no ID token".to_owned()))?
            .to_string();
        let id_token: UpstreamIdToken = raw_id_token
            .parse()
            .map_err(|error: serde_json::Error| UpstreamLoginError::Invalid(error.to_string()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // The provider may have rotated its keys since the metadata was cached: read them
            // again once before refusing.
            Err(_) => {
                let fresh = self.metadata(true).await?;
                let client = CoreClient::from_provider_metadata(
                    fresh,
                    ClientId::new(self.config.client_id.clone()),
                    Some(self.client_secret.clone()),
                );
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|error| UpstreamLoginError::Invalid(error.to_string()))?
                    .clone()
            }
        };
        let subject = claims.subject().to_string();
        let mut found = BTreeMap::new();
        found.insert("sub".to_owned(), vec![subject.clone()]);
        if let Some(email) = claims.email() {
            found.insert("email".to_owned(), vec![email.to_string()]);
        }
        if let Some(username) = claims.preferred_username() {
            found.insert("preferred_username".to_owned(), vec![username.to_string()]);
        }
        add_claims(&mut found, &claims.additional_claims().values);

        let wanted: Vec<&str> = std::iter::once(self.config.user_claim.as_str())
            .chain(self.config.school_code_claim.as_deref())
            .collect();
        // The ID token may carry only the subject; the rest is then at the userinfo endpoint.
        if wanted.iter().any(|name| !found.contains_key(*name))
            && let Ok(request) = client.user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            )
        {
            let userinfo: UserInfoClaims<AnyClaims, CoreGenderClaim> = request
                .request_async(&self.client())
                .await
                .map_err(|error| UpstreamLoginError::Invalid(error_chain(&error)))?;
            if let Some(email) = userinfo.email() {
                found
                    .entry("email".to_owned())
                    .or_insert_with(|| vec![email.to_string()]);
            }
            if let Some(username) = userinfo.preferred_username() {
                found
                    .entry("preferred_username".to_owned())
                    .or_insert_with(|| vec![username.to_string()]);
            }
            add_claims(&mut found, &userinfo.additional_claims().values);
        }
        let user_values = found
            .get(&self.config.user_claim)
            .filter(|values| !values.is_empty())
            .cloned()
            .ok_or_else(|| UpstreamLoginError::MissingClaim(self.config.user_claim.clone()))?;
        let school_codes = match &self.config.school_code_claim {
            Some(name) => Some(
                found
                    .get(name)
                    .cloned()
                    .ok_or_else(|| UpstreamLoginError::MissingClaim(name.clone()))?,
            ),
            None => None,
        };
        Ok(UpstreamIdentity {
            subject,
            user_values,
            school_codes,
            return_path: pending.return_path,
        })
    }

    /// The pending login the request's signed cookie carries, if it is ours and not expired.
    fn pending(&self, headers: &HeaderMap) -> Result<PendingLogin, UpstreamLoginError> {
        let jar = SignedCookieJar::from_headers(headers, self.cookie_key.clone());
        let cookie = jar
            .get(PENDING_COOKIE_NAME)
            .ok_or(UpstreamLoginError::NotStarted)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(cookie.value())
            .map_err(|_| UpstreamLoginError::NotStarted)?;
        let pending: PendingLogin =
            serde_json::from_slice(&bytes).map_err(|_| UpstreamLoginError::NotStarted)?;
        if pending.expires < unix_seconds() {
            return Err(UpstreamLoginError::NotStarted);
        }
        Ok(pending)
    }

    /// The one enabled roster user `identity` names at `school`.
    pub fn map_to_roster_user(
        &self,
        identity: &UpstreamIdentity,
        roster: &RosterIndex,
        school: &SchoolCode,
    ) -> Result<UserId, UpstreamLoginError> {
        if let Some(codes) = &identity.school_codes
            && !codes.iter().any(|code| *code == school.to_string())
        {
            return Err(UpstreamLoginError::OtherSchool);
        }
        let field = self.config.roster_field;
        let mut matches = roster.users.users.values().filter(|user| {
            identity.user_values.iter().any(|value| match field {
                RosterMatchField::Identifier => user.identifier.as_deref() == Some(value.as_str()),
                RosterMatchField::SourcedId => user.sourced_id.as_str() == value,
                RosterMatchField::Username => user.username.eq_ignore_ascii_case(value),
                RosterMatchField::Email => user
                    .email
                    .as_deref()
                    .is_some_and(|email| email.eq_ignore_ascii_case(value)),
            })
        });
        let user = matches.next().ok_or(UpstreamLoginError::NoMatchingUser)?;
        // Two roster users with the same value cannot be told apart: logging in as either could
        // be the wrong person, so neither is chosen.
        if matches.next().is_some() {
            tracing::warn!(
                field = ?field,
                "an upstream account matches more than one roster user; refused"
            );
            return Err(UpstreamLoginError::NoMatchingUser);
        }
        if !user.enabled {
            return Err(UpstreamLoginError::NoMatchingUser);
        }
        Ok(user.sourced_id.clone())
    }
}

/// The `Set-Cookie` value of the cookie added to `jar`, signed by the jar.
fn signed_set_cookie_value(jar: SignedCookieJar) -> Option<String> {
    use axum::response::IntoResponse as _;
    let response = (jar, ()).into_response();
    response
        .headers()
        .get(axum::http::header::SET_COOKIE)?
        .to_str()
        .ok()
        .map(str::to_owned)
}

/// Adds every string, number or list of them among `values` to `found`, at most
/// [`MAX_CLAIM_VALUES`] per claim; the first source of a claim wins.
fn add_claims(
    found: &mut BTreeMap<String, Vec<String>>,
    values: &serde_json::Map<String, serde_json::Value>,
) {
    fn text(value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
    for (name, value) in values {
        if found.contains_key(name) {
            continue;
        }
        let texts: Vec<String> = match value {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(text)
                .take(MAX_CLAIM_VALUES)
                .collect(),
            other => text(other).into_iter().collect(),
        };
        if !texts.is_empty() {
            found.insert(name.clone(), texts);
        }
    }
}

/// Why a request to the provider failed below the OpenID Connect layer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamHttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error("the provider's answer is larger than {MAX_UPSTREAM_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error(transparent)]
    Http(#[from] openidconnect::http::Error),
}

/// A request to the provider in flight.
type PendingCall = std::pin::Pin<
    Box<dyn Future<Output = Result<openidconnect::HttpResponse, UpstreamHttpError>> + Send>,
>;

/// One request to the provider for the `openidconnect` crate, like its own reqwest client but
/// reading at most [`MAX_UPSTREAM_RESPONSE_BYTES`] of the answer.
async fn bounded_call(
    http: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, UpstreamHttpError> {
    let mut response = http.execute(reqwest::Request::try_from(request)?).await?;
    if response
        .content_length()
        .is_some_and(|length| length > MAX_UPSTREAM_RESPONSE_BYTES as u64)
    {
        return Err(UpstreamHttpError::TooLarge);
    }
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_UPSTREAM_RESPONSE_BYTES {
            return Err(UpstreamHttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(answer.body(body)?)
}

/// An error with its causes, which the crate's errors keep apart (a connection refused is two
/// levels down).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
