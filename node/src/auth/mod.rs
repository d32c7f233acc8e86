//! Authentication of the people who use a school's node: passwords, login throttling, sessions,
//! cookies and CSRF defences, and their axum integration.
//!
//! # How a request is authenticated
//!
//! 1. `POST /api/v1/session` with `{username, password}` checks the password with argon2id on a
//!    bounded pool of blocking workers ([`PasswordWorkers`]), after asking the [`LoginThrottle`]
//!    whether this account may be tried now from this client (its address, or its device cookie).
//!    Success creates a session ([`SessionStore`]), sets the session cookie ([`cookies`]) and renews
//!    the device cookie ([`device`]); the response carries the session's CSRF token.
//! 2. Every route that takes a [`Caller`] is protected: the extractor reads the cookie, finds the
//!    live session, and for unsafe methods checks the `Origin` and the CSRF token ([`csrf`]).
//! 3. Roles are re-read from the [`UserDirectory`] on every request rather than trusted from the
//!    session: the directory answers from memory, so this costs a map lookup, and a user who is
//!    disabled, removed or loses a role loses the access at once, not at their next login.
//!
//! # Decisions
//!
//! - Throttling is per account and client (a device cookie, or else the connection's address),
//!   never per address alone: a class logs in from one NAT'd address. An attacker's failures slow
//!   the attacker's client; an account-wide guard limits attackers with many addresses without ever
//!   delaying a client that has not failed. It slows down and never locks out. It is kept in
//!   memory; a restart forgets it (see [`throttle`]). The client's address is the TCP peer
//!   ([`ClientAddress`]); `X-Forwarded-For` is never trusted.
//! - An unknown username costs the same argon2 work as a known one (a dummy hash), gets the same
//!   401 body, and is throttled the same way, so neither timing, body nor throttling reveals which
//!   usernames exist.
//! - The session tree stores only SHA-256 of each token. Idle timeout, absolute lifetime and the
//!   per-user limit are in [`SessionLimits`]; the server should call
//!   [`AuthState::prune_expired_sessions`] every [`SESSION_PRUNE_INTERVAL`].
//! - Throughout, time is passed in (`now`) where it decides something, so that tests and benchmarks
//!   can drive the throttle and the sessions without sleeping.

pub mod cookies;
pub mod csrf;
pub mod device;
mod directory;
mod error;
mod extract;
pub mod password;
pub mod routes;
pub mod session;
pub mod throttle;

use std::sync::Arc;

pub use self::cookies::{PLAIN_COOKIE_NAME, SECURE_COOKIE_NAME};
pub use self::csrf::{CSRF_FORM_FIELD, CSRF_HEADER, lift_form_csrf_token};
pub use self::directory::{LoginRecord, MemoryUserDirectory, UserDirectory};
pub use self::error::AuthError;
pub use self::extract::{Caller, ClientAddress, PeerAddress};
pub use self::password::{
    ARGON2_ITERATIONS, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, MAX_PASSWORD_BYTES,
    MIN_PASSWORD_BYTES, PasswordError, PasswordWorkers, hash_password, verify_password,
};
pub use self::routes::{
    LOGIN_BODY_LIMIT_BYTES, MAX_USERNAME_BYTES, SESSION_PATH, login_throttle_key, routes,
};
pub use self::session::{
    SESSION_PRUNE_INTERVAL, SESSIONS_TREE, SessionError, SessionLimits, SessionRecord, SessionStore,
};
pub use self::throttle::{LoginClient, LoginThrottle, ThrottleConfig};

/// Everything that shapes authentication on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Whether the node serves HTTPS. Then the session cookie is `__Host-digione_session` with
    /// `Secure`; over plain HTTP it is `digione_session` without it (a browser would drop a
    /// `Secure` cookie sent over HTTP).
    pub https: bool,
    pub sessions: SessionLimits,
    pub throttle: ThrottleConfig,
    /// How many password hashes may run at once; see [`PasswordWorkers`]. Defaults to the number of
    /// cores.
    pub password_workers: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            https: false,
            sessions: SessionLimits::default(),
            throttle: ThrottleConfig::default(),
            password_workers: password::available_cores(),
        }
    }
}

/// The authentication state shared by every request: cheap to clone (one `Arc`). A server's state
/// exposes it through `FromRef`, which is all [`Caller`] and [`routes`] need.
#[derive(Clone)]
pub struct AuthState {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    config: AuthConfig,
    sessions: SessionStore,
    throttle: LoginThrottle,
    passwords: PasswordWorkers,
    devices: device::DeviceTokens,
    directory: Arc<dyn UserDirectory>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AuthState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    /// Authentication with `config`, keeping sessions in `sessions_tree` (the node passes
    /// `SledStore::auxiliary_tree("sessions")`) and finding users in `directory`.
    pub fn new(
        config: AuthConfig,
        sessions_tree: sled::Tree,
        directory: Arc<dyn UserDirectory>,
    ) -> Self {
        let sessions = SessionStore::new(sessions_tree, config.sessions.clone());
        let throttle = LoginThrottle::new(config.throttle.clone());
        let passwords = PasswordWorkers::new(config.password_workers);
        let devices = device::DeviceTokens::from_session_store(&sessions).unwrap_or_else(|error| {
            // Without its stored key the node signs with one of its own for this run: device
            // cookies from before then simply are not recognised, which costs their browsers only
            // their own throttle lane until they log in again.
            tracing::error!(%error, "the device cookie key cannot be read or stored; using one for this run only");
            let mut key = [0u8; session::SECRET_BYTES];
            rand::Rng::fill(&mut rand::rng(), &mut key);
            device::DeviceTokens::new(&key)
        });
        Self {
            inner: Arc::new(AuthInner {
                config,
                sessions,
                throttle,
                passwords,
                devices,
                directory,
            }),
        }
    }

    /// Issues and recognises the device cookies that give a browser its own throttle lane.
    pub fn devices(&self) -> &device::DeviceTokens {
        &self.inner.devices
    }

    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.inner.sessions
    }

    pub fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }

    /// The password workers, also for setting passwords: `passwords().hash(new_password)`.
    pub fn passwords(&self) -> &PasswordWorkers {
        &self.inner.passwords
    }

    pub fn directory(&self) -> &Arc<dyn UserDirectory> {
        &self.inner.directory
    }

    /// The session cookie's name under this configuration.
    pub fn cookie_name(&self) -> &'static str {
        cookies::session_cookie_name(self.inner.config.https)
    }

    /// Deletes the sessions that have expired by now; returns how many. Call it every
    /// [`SESSION_PRUNE_INTERVAL`]; it runs a scan of the session tree, so from async code prefer
    /// `tokio::task::spawn_blocking`.
    pub fn prune_expired_sessions(&self) -> Result<usize, SessionError> {
        self.inner
            .sessions
            .prune_expired(session::unix_millis_now())
    }
}
