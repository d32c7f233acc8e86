//! `school:S/credentials`: every user's password hash, by user id (the roster's sourcedId).
//!
//! Written by the auth layer (which hashes with argon2id and verifies) and kept in step with the
//! roster by `crate::accounts`; read only by them. The API never returns this document, so the type
//! has no serde derives and its `Debug` shows only how many hashes it holds. It syncs to the relay
//! like every school document: the relay is the school's off-site copy, and a replaced node gets its
//! users' logins back from it.
//!
//! A password belongs to a user id, never to a username. Usernames are recycled: when a pupil leaves
//! and a new pupil later gets the same login name, a hash kept by username would let the departed
//! pupil's password open the new pupil's account. Keyed by user id, the new pupil starts without a
//! password, and `crate::accounts` removes the departed pupil's hash when they leave the roster.
//!
//! Documents written before this rule keep their hashes by username in the map `password_hashes`
//! (the field's name in the stored document). Nothing adds to it any more: the node moves its
//! entries to their users' ids at start, before each roster import and before each password change
//! ([`CredentialsDocument::migrate_legacy`]), and until then the directory reads them by the current
//! username, as before.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
use super::common::{ModelError, school_doc, sourced_id};
use super::roster::{MAX_ROSTER_USERS, RosterUsersDocument};

/// The longest PHC string accepted. An argon2id hash with a 16-byte salt and 32-byte output is
/// about 100 characters; the bound leaves room for larger parameters.
pub const MAX_PASSWORD_HASH_CHARS: usize = 256;

/// The prefix every stored hash carries: only argon2id is accepted.
pub const PASSWORD_HASH_PREFIX: &str = "$argon2id$";

/// `school:S/credentials`.
pub fn credentials_doc(school: &SchoolCode) -> DocId {
    school_doc(school, "credentials")
}

/// User id → argon2id PHC hash string, at most [`MAX_ROSTER_USERS`] entries (one per user of the
/// roster: the hashes of users who left are removed, so they never count toward the bound).
#[derive(Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct CredentialsDocument {
    /// User id → hash. Absent in documents written before passwords were kept by user id.
    #[autosurgeon(missing = "BTreeMap::new")]
    pub hashes_by_user: BTreeMap<UserId, String>,
    /// The old format, username → hash: only ever emptied (see the module documentation). Stored
    /// under its old name, `password_hashes`, so that existing documents hydrate into it.
    #[autosurgeon(rename = "password_hashes", missing = "BTreeMap::new")]
    pub legacy_by_username: BTreeMap<String, String>,
}

impl fmt::Debug for CredentialsDocument {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CredentialsDocument")
            .field("hashes_by_user", &self.hashes_by_user.len())
            .field("legacy_by_username", &self.legacy_by_username.len())
            .finish()
    }
}

/// Whether `phc_hash` is a hash this document may hold.
fn check_hash(phc_hash: &str) -> Result<(), ModelError> {
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
    Ok(())
}

impl CredentialsDocument {
    /// The stored hash of the user `user_id`, for the auth layer to verify against.
    pub fn hash_for(&self, user_id: &str) -> Option<&str> {
        self.hashes_by_user.get(user_id).map(String::as_str)
    }

    /// The hash an old document kept for `username`, not yet moved to its user's id.
    pub fn legacy_hash_for(&self, username: &str) -> Option<&str> {
        self.legacy_by_username.get(username).map(String::as_str)
    }

    /// How many users have a password.
    pub fn len(&self) -> usize {
        self.hashes_by_user.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes_by_user.is_empty()
    }

    /// Sets (or replaces) the hash of the user `user_id` (their roster sourcedId, not their
    /// username). The hash must be an argon2id PHC string; the auth layer computes it, this only
    /// guards the document's shape and bound. Callers that may meet hashes of departed users first
    /// drop them ([`Self::retain_users`]), so that only current users count toward the bound.
    pub fn set_hash(&mut self, user_id: &str, phc_hash: &str) -> Result<(), ModelError> {
        sourced_id("user id", user_id)?;
        check_hash(phc_hash)?;
        if !self.hashes_by_user.contains_key(user_id)
            && self.hashes_by_user.len() >= MAX_ROSTER_USERS
        {
            return Err(ModelError::LimitReached {
                what: "password hashes",
                max: MAX_ROSTER_USERS,
            });
        }
        self.hashes_by_user
            .insert(user_id.to_owned(), phc_hash.to_owned());
        Ok(())
    }

    /// Removes the hash of `user_id` (the user can no longer sign in with a password).
    pub fn remove(&mut self, user_id: &str) -> bool {
        self.hashes_by_user.remove(user_id).is_some()
    }

    /// The users with a hash whom `keep` does not keep, at most `limit` of them: what
    /// [`Self::retain_users`] would remove, for callers that remove them in bounded batches.
    pub fn users_not_kept(&self, keep: impl Fn(&str) -> bool, limit: usize) -> Vec<UserId> {
        self.hashes_by_user
            .keys()
            .filter(|user_id| !keep(user_id))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Removes the hashes of every user `keep` does not keep; returns how many.
    pub fn retain_users(&mut self, keep: impl Fn(&str) -> bool) -> usize {
        let before = self.hashes_by_user.len();
        self.hashes_by_user.retain(|user_id, _| keep(user_id));
        before - self.hashes_by_user.len()
    }

    /// Moves at most `limit` entries of the old username-keyed map to the ids of the users who hold
    /// those usernames in `users` now (letter case aside, as sign-in compares them), and drops the
    /// entries no current user holds. An entry whose user already has a hash by id is dropped too:
    /// that hash was set later. Returns how many old entries were handled; zero means none remain.
    pub fn migrate_legacy(&mut self, users: &RosterUsersDocument, limit: usize) -> usize {
        if self.legacy_by_username.is_empty() {
            return 0;
        }
        let by_username: HashMap<String, &UserId> = users
            .users
            .values()
            .map(|user| (user.username.to_lowercase(), &user.sourced_id))
            .collect();
        let batch: Vec<String> = self
            .legacy_by_username
            .keys()
            .take(limit)
            .cloned()
            .collect();
        for username in &batch {
            let Some(hash) = self.legacy_by_username.remove(username) else {
                continue;
            };
            let Some(user_id) = by_username.get(&username.to_lowercase()) else {
                continue;
            };
            if !self.hashes_by_user.contains_key(*user_id) && check_hash(&hash).is_ok() {
                // At most one entry per current user arrives here, and the roster holds at most
                // MAX_ROSTER_USERS users, so this cannot exceed the bound once departed users'
                // hashes are gone; should it, the entry is dropped rather than the bound broken.
                let _ = self.set_hash(user_id, &hash);
            }
        }
        batch.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::super::roster::RosterUser;
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    const OTHER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNo";

    fn user(sourced_id: &str, username: &str) -> RosterUser {
        RosterUser {
            sourced_id: sourced_id.to_owned(),
            username: username.to_owned(),
            given_name: "Etu".to_owned(),
            family_name: "Suku".to_owned(),
            preferred_given_name: None,
            email: None,
            identifier: None,
            enabled: true,
            roles: Vec::new(),
            role_assignments: BTreeMap::new(),
            grades: Vec::new(),
            agent_sourced_ids: Vec::new(),
        }
    }

    #[test]
    fn only_argon2id_hashes_are_stored_and_debug_hides_them() {
        let mut credentials = CredentialsDocument::default();
        assert!(credentials.set_hash("P01", HASH).is_ok());
        assert!(credentials.set_hash("P01", "plaintext").is_err());
        assert!(
            credentials
                .set_hash("P01", "$2b$12$bcrypthashbcrypthash")
                .is_err()
        );
        assert!(credentials.set_hash("", HASH).is_err(), "no empty user id");
        assert_eq!(credentials.hash_for("P01"), Some(HASH));
        assert!(!format!("{credentials:?}").contains("argon2id"));
        assert_eq!(
            credentials_doc(&school()).to_string(),
            "school:30076/credentials"
        );
    }

    #[test]
    fn credentials_round_trip_and_merge_concurrent_users() {
        let mut credentials = CredentialsDocument::default();
        credentials.set_hash("P01", HASH).expect("valid");
        credentials
            .legacy_by_username
            .insert("old.name".to_owned(), HASH.to_owned());
        assert_round_trip(&credentials);
        let merged = merge_concurrent(
            &credentials,
            |document| document.set_hash("P02", HASH).expect("valid"),
            |document| document.set_hash("P03", HASH).expect("valid"),
        );
        assert_eq!(merged.len(), 3);
    }

    #[test]
    fn a_document_of_the_old_format_hydrates_into_the_legacy_map() {
        use automerge::AutoCommit;
        use automerge::transaction::Transactable;

        // The shape an older node wrote: only `password_hashes`, username → hash.
        let mut document = AutoCommit::new();
        let map = document
            .put_object(automerge::ROOT, "password_hashes", automerge::ObjType::Map)
            .expect("map");
        document.put(&map, "aino.m", HASH).expect("entry");
        let hydrated: CredentialsDocument = autosurgeon::hydrate(&document).expect("hydrates");
        assert!(hydrated.is_empty());
        assert_eq!(hydrated.legacy_hash_for("aino.m"), Some(HASH));
    }

    #[test]
    fn legacy_hashes_move_to_the_current_holder_of_the_username_or_go() {
        let mut users = RosterUsersDocument::default();
        for roster_user in [user("P01", "Aino.M"), user("P02", "eino.m")] {
            users
                .users
                .insert(roster_user.sourced_id.clone(), roster_user);
        }
        let mut credentials = CredentialsDocument::default();
        // P02 already has a newer hash by id; the old one must not replace it.
        credentials.set_hash("P02", OTHER_HASH).expect("valid");
        for (username, hash) in [
            ("aino.m", HASH),
            ("eino.m", HASH),
            ("left.school", HASH),
            ("broken", "not a hash"),
        ] {
            credentials
                .legacy_by_username
                .insert(username.to_owned(), hash.to_owned());
        }
        assert_eq!(credentials.migrate_legacy(&users, 2), 2, "bounded batches");
        assert_eq!(credentials.migrate_legacy(&users, 2), 2);
        assert_eq!(credentials.migrate_legacy(&users, 2), 0, "nothing left");
        assert!(credentials.legacy_by_username.is_empty());
        assert_eq!(credentials.hash_for("P01"), Some(HASH), "letter case aside");
        assert_eq!(credentials.hash_for("P02"), Some(OTHER_HASH));
        assert_eq!(credentials.len(), 2, "the departed user's hash is gone");
    }

    #[test]
    fn departed_users_are_removed_in_batches_and_free_the_bound() {
        let mut credentials = CredentialsDocument::default();
        for index in 0..MAX_ROSTER_USERS {
            credentials
                .set_hash(&format!("left-{index}"), HASH)
                .expect("within the bound");
        }
        assert!(matches!(
            credentials.set_hash("P01", HASH),
            Err(ModelError::LimitReached { .. })
        ));
        let current = |user_id: &str| user_id == "left-7";
        assert_eq!(credentials.users_not_kept(current, 10).len(), 10);
        assert_eq!(
            credentials.retain_users(current),
            MAX_ROSTER_USERS - 1,
            "every departed user"
        );
        credentials.set_hash("P01", HASH).expect("room again");
        assert_eq!(credentials.len(), 2);
    }
}
