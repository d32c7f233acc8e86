//! Where authentication learns who the users are: the [`UserDirectory`] trait, which the node
//! implements from its roster and credentials documents, and [`MemoryUserDirectory`] for tests and
//! benchmarks.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use crate::model::{UserId, UserRole};

/// What login needs to know about one username.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRecord {
    pub user_id: UserId,
    /// The argon2id PHC string (see [`crate::auth::hash_password`]).
    pub password_hash: String,
    pub roles: Vec<UserRole>,
    /// A disabled user cannot log in, and their sessions stop working at their next request.
    pub enabled: bool,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoginRecord")
            .field("user_id", &self.user_id)
            .field("password_hash", &"(redacted)")
            .field("roles", &self.roles)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// The users authentication may admit.
///
/// Both methods are called on async workers for every login and every authenticated request, so
/// they must answer from memory (an index kept up to date as documents change), never by parsing a
/// document or touching the disk.
pub trait UserDirectory: Send + Sync {
    /// The login record for `username`, as the user types it. Whether usernames compare with or
    /// without case is the directory's choice; usernames longer than
    /// [`crate::auth::MAX_USERNAME_BYTES`] are never asked for.
    fn find_login(&self, username: &str) -> Option<LoginRecord>;

    /// The current roles of `user`, or `None` when the user no longer exists or is disabled: every
    /// session of such a user is refused from its next request on.
    fn user_roles(&self, user: &UserId) -> Option<Vec<UserRole>>;
}

/// A [`UserDirectory`] in memory, keyed by username as given (case-sensitive). For tests and
/// benchmarks; [`Self::user_roles`] scans every user.
#[derive(Debug, Default)]
pub struct MemoryUserDirectory {
    users: RwLock<BTreeMap<String, LoginRecord>>,
}

impl MemoryUserDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the user `username`.
    pub fn insert(&self, username: &str, record: LoginRecord) {
        self.users
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(username.to_owned(), record);
    }

    /// Removes the user `username`; returns whether it existed.
    pub fn remove(&self, username: &str) -> bool {
        self.users
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(username)
            .is_some()
    }

    /// Enables or disables the user `username`; returns whether it exists.
    pub fn set_enabled(&self, username: &str, enabled: bool) -> bool {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        match users.get_mut(username) {
            Some(record) => {
                record.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// Replaces the roles of the user `username`; returns whether it exists.
    pub fn set_roles(&self, username: &str, roles: Vec<UserRole>) -> bool {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        match users.get_mut(username) {
            Some(record) => {
                record.roles = roles;
                true
            }
            None => false,
        }
    }
}

impl UserDirectory for MemoryUserDirectory {
    fn find_login(&self, username: &str) -> Option<LoginRecord> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(username)
            .cloned()
    }

    fn user_roles(&self, user: &UserId) -> Option<Vec<UserRole>> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .find(|record| record.enabled && &record.user_id == user)
            .map(|record| record.roles.clone())
    }
}
