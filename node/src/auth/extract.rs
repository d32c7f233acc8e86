//! The [`Caller`] extractor: who sent this request. Taking it as a handler argument is what protects
//! a route.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use axum::serve::IncomingStream;

use super::AuthState;
use super::cookies::session_token_from_headers;
use super::csrf::{check_csrf_header, check_origin, is_unsafe_method};
use super::error::AuthError;
use super::session::{SessionRecord, unix_millis_now};
use crate::model::{UserId, UserRole};

/// The authenticated user behind a request.
///
/// Extracting it refuses the request with 401 when there is no live session (no cookie, unknown,
/// expired, or its user disabled or removed), and for unsafe methods with 403 when the `Origin` is
/// foreign or the CSRF token is missing or wrong. `roles` are the directory's current ones, read at
/// request time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub roles: Vec<UserRole>,
    /// SHA-256 of the session token: names the session (for logout, for logs) without being it.
    pub session_id_hash: [u8; 32],
}

impl Caller {
    pub fn has_role(&self, role: UserRole) -> bool {
        self.roles.contains(&role)
    }
}

impl AuthState {
    /// Authenticates a request from its method, URI and headers; see [`Caller`]. Also returns the
    /// session record, for the routes that show the CSRF token.
    pub(crate) fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(Caller, SessionRecord), AuthError> {
        let (caller, record) = self.authenticate_before_csrf(method, uri, headers)?;
        if is_unsafe_method(method) {
            check_csrf_header(headers, &record.csrf_token)?;
        }
        Ok((caller, record))
    }

    /// Every check of [`AuthState::authenticate`] but the CSRF token's. Only for a route whose token
    /// travels where no middleware can lift it into the header: the web UI's file-upload forms
    /// (`multipart/form-data`), which must compare the form's `csrf_token` with the returned
    /// record's (`csrf::csrf_tokens_match`) before they change anything.
    pub(crate) fn authenticate_before_csrf(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(Caller, SessionRecord), AuthError> {
        check_origin(method, headers, uri)?;
        let token = session_token_from_headers(headers, self.config().https)
            .ok_or(AuthError::NotAuthenticated)?;
        let (session_id_hash, record) = self
            .sessions()
            .authenticate(&token, unix_millis_now())?
            .ok_or(AuthError::NotAuthenticated)?;
        let Some(roles) = self.directory().user_roles(&record.user_id) else {
            // The user was disabled or removed: the session ends now rather than lingering until it
            // expires.
            self.sessions().delete(&session_id_hash)?;
            return Err(AuthError::NotAuthenticated);
        };
        let caller = Caller {
            user_id: record.user_id.clone(),
            roles,
            session_id_hash,
        };
        Ok((caller, record))
    }
}

impl<S> FromRequestParts<S> for Caller
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A handler (or a middleware before it) may extract the caller more than once; the first
        // answer stands for the whole request.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let auth = AuthState::from_ref(state);
        let (caller, _) = auth.authenticate(&parts.method, &parts.uri, &parts.headers)?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The TCP peer of a connection, as the listener accepted it: the connection information the node's
/// servers attach to every request (`into_make_service_with_connect_info::<PeerAddress>()`), over
/// plain HTTP and over HTTPS alike (`crate::web::https::TlsListener` implements it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddress(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for PeerAddress {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddress(*stream.remote_addr())
    }
}

/// The network address a request came from: the TCP peer of its connection, or `None` when the
/// server was started without connection information (as some tests do).
///
/// `X-Forwarded-For`, `Forwarded` and the like are never read: the node serves the school's
/// browsers directly, with no proxy in front of it, so such a header says whatever its sender wants
/// and would let anyone pick the address the login throttle judges them by. Were a proxy ever put
/// in front, every client would share its address; the throttle would then treat everyone like
/// pupils behind the school's NAT, which its design already allows for (see
/// [`super::throttle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// The address in `parts`' connection information.
    pub fn of(parts: &Parts) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<PeerAddress>>()
            .map(|info| info.0.0)
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|info| info.0)
            });
        ClientAddress(peer.map(|address| address.ip()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}
