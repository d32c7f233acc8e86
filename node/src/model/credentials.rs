//! `school:S/credentials`: every user's password hash, by username.
//!
//! Written by the auth layer (which hashes with argon2id and verifies); read only by it. The API
//! never returns this document, so the type has no serde derives and its `Debug` shows only how
//! many hashes it holds. It syncs to the relay like every school document: the relay is the school's
//! off-site copy, and a replaced node gets its users' logins back from it.

use std::collections::BTreeMap;
use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::{DocId, SchoolCode};

use super::common::{ModelError, school_doc};
use super::roster::{MAX_ROSTER_USERS, validate_username};

/// The longest PHC string accepted. An argon2id hash with a 16-byte salt and 32-byte output is
/// about 100 characters; the bound leaves room for larger parameters.
pub const MAX_PASSWORD_HASH_CHARS: usize = 256;

/// The prefix every stored hash carries: only argon2id is accepted.
pub const PASSWORD_HASH_PREFIX: &str = "$argon2id$";

/// `school:S/credentials`.
pub fn credentials_doc(school: &SchoolCode) -> DocId {
    school_doc(school, "credentials")
}

/// Username → argon2id PHC hash string. At most [`MAX_ROSTER_USERS`] entries, one per user.
#[derive(Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct CredentialsDocument {
    pub password_hashes: BTreeMap<String, String>,
}

impl fmt::Debug for CredentialsDocument {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CredentialsDocument")
            .field("password_hashes", &self.password_hashes.len())
            .finish()
    }
}

impl CredentialsDocument {
    /// The stored hash for `username`, for the auth layer to verify against.
    pub fn hash_for(&self, username: &str) -> Option<&str> {
        self.password_hashes.get(username).map(String::as_str)
    }

    /// Sets (or replaces) the hash of `username`. The hash must be an argon2id PHC string; the auth
    /// layer computes it, this only guards the document's shape and bound.
    pub fn set_hash(&mut self, username: &str, phc_hash: &str) -> Result<(), ModelError> {
        validate_username(username)?;
        if !phc_hash.starts_with(PASSWORD_HASH_PREFIX)
            || phc_hash.len() > MAX_PASSWORD_HASH_CHARS
            || !phc_hash.is_ascii()
        {
            return Err(ModelError::Invalid {
                field: "password hash",
                reason: format!(
                    "expected an argon2id PHC string of at most {MAX_PASSWORD_HASH_CHARS} characters"
                ),
            });
        }
        if !self.password_hashes.contains_key(username)
            && self.password_hashes.len() >= MAX_ROSTER_USERS
        {
            return Err(ModelError::LimitReached {
                what: "password hashes",
                max: MAX_ROSTER_USERS,
            });
        }
        self.password_hashes
            .insert(username.to_owned(), phc_hash.to_owned());
        Ok(())
    }

    /// Removes the hash of `username` (the user can no longer sign in with a password).
    pub fn remove(&mut self, username: &str) -> bool {
        self.password_hashes.remove(username).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

    #[test]
    fn only_argon2id_hashes_are_stored_and_debug_hides_them() {
        let mut credentials = CredentialsDocument::default();
        assert!(credentials.set_hash("aino.m", HASH).is_ok());
        assert!(credentials.set_hash("aino.m", "plaintext").is_err());
        assert!(
            credentials
                .set_hash("aino.m", "$2b$12$bcrypthashbcrypthash")
                .is_err()
        );
        assert_eq!(credentials.hash_for("aino.m"), Some(HASH));
        assert!(!format!("{credentials:?}").contains("argon2id"));
        assert_eq!(
            credentials_doc(&school()).to_string(),
            "school:30076/credentials"
        );
    }

    #[test]
    fn credentials_round_trip_and_merge_concurrent_users() {
        let mut credentials = CredentialsDocument::default();
        credentials.set_hash("aino.m", HASH).expect("valid");
        assert_round_trip(&credentials);
        let merged = merge_concurrent(
            &credentials,
            |document| document.set_hash("eino.k", HASH).expect("valid"),
            |document| document.set_hash("veera.l", HASH).expect("valid"),
        );
        assert_eq!(merged.password_hashes.len(), 3);
    }
}
