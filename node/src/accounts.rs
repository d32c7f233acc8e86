//! Keeps passwords and sessions in step with the roster: a password belongs to a user id, and a user
//! who leaves the roster takes their password and their sessions with them.
//!
//! The credentials document (`crate::model::credentials`) keeps each hash under the user's id, so a
//! new user who is given a departed user's username starts without a password. What this module
//! adds is the bookkeeping around it:
//!
//! - **A roster import** ([`before_roster_write`], [`after_roster_write`]) removes the passwords of
//!   the users it removes (`tobedeleted`, or missing from a bulk file) or disables, before it writes
//!   the roster, and ends their sessions after. Ending them explicitly matters even though a request
//!   of a removed or disabled user is refused anyway: a session left in the tree would come back to
//!   life if the same user id were enabled or imported again.
//! - **A password change** ([`set_password_hash`]) first drops the hashes of users no longer in the
//!   roster, so departed users never count toward the document's bound, then sets the hash; the
//!   caller ends the user's other sessions (`SessionStore::delete_user_sessions_except`).
//! - **At start** ([`reconcile_at_start`]) the node moves hashes an older version kept by username
//!   to their users' ids, drops the hashes of users not in the roster, and ends the sessions of
//!   users not in the roster or disabled: whatever a crash in the middle of an import left undone.
//!
//! Every write to the credentials document here is bounded to [`CREDENTIALS_PER_WRITE`] entries, so
//! that each automerge change stays far below the store's bound on one change.

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;

use sync_protocol::ids::{DocId, SchoolCode};

use crate::auth::{SessionError, SessionStore};
use crate::model::UserId;
use crate::model::common::ModelError;
use crate::model::credentials::{CredentialsDocument, credentials_doc};
use crate::model::roster::{RosterUsersDocument, roster_users_doc};
use crate::repository::{Repository, RepositoryError, UpdateError};

/// Credentials entries added, moved or removed per change of the credentials document. An entry is
/// about 100 bytes of hash plus its key and automerge's overhead, so 500 keep a change near 100 KB,
/// far below the store's 512 KiB bound on one change.
pub const CREDENTIALS_PER_WRITE: usize = 500;

/// Why the credentials or sessions could not be brought in step with the roster.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(transparent)]
    Sessions(#[from] SessionError),
    #[error(transparent)]
    Rejected(#[from] ModelError),
}

impl From<UpdateError<Infallible>> for AccountsError {
    fn from(error: UpdateError<Infallible>) -> Self {
        match error {
            UpdateError::Rejected(never) => match never {},
            UpdateError::Repository(error) => error.into(),
        }
    }
}

impl From<UpdateError<ModelError>> for AccountsError {
    fn from(error: UpdateError<ModelError>) -> Self {
        match error {
            UpdateError::Rejected(error) => error.into(),
            UpdateError::Repository(error) => error.into(),
        }
    }
}

/// The users who leave between two states of the roster: enabled in `before`, and in `after`
/// absent or disabled.
pub fn departures(before: &RosterUsersDocument, after: &RosterUsersDocument) -> BTreeSet<UserId> {
    before
        .users
        .values()
        .filter(|user| user.enabled)
        .filter(|user| {
            after
                .users
                .get(&user.sourced_id)
                .is_none_or(|now| !now.enabled)
        })
        .map(|user| user.sourced_id.clone())
        .collect()
}

/// Moves the hashes an older version kept by username to the ids of the users who hold those
/// usernames in `users`, and drops those no current user holds. Returns how many old entries there
/// were. Does nothing when the roster has no users: then no username can be matched, and dropping
/// every hash of a node whose roster has not arrived yet (a replaced node still restoring) would
/// lose them all.
pub fn migrate_legacy_credentials(
    repository: &Repository,
    school: &SchoolCode,
    users: &RosterUsersDocument,
) -> Result<usize, AccountsError> {
    if users.users.is_empty() {
        return Ok(0);
    }
    let doc = credentials_doc(school);
    let mut handled = 0;
    loop {
        let batch = repository.update(&doc, |credentials: &mut CredentialsDocument| {
            Ok::<_, Infallible>(credentials.migrate_legacy(users, CREDENTIALS_PER_WRITE))
        })?;
        if batch == 0 {
            return Ok(handled);
        }
        handled += batch;
    }
}

/// Removes the hashes of every user `keep` does not keep, in bounded batches. Returns how many.
fn remove_credentials_where_not(
    repository: &Repository,
    doc: &DocId,
    keep: impl Fn(&str) -> bool,
) -> Result<usize, AccountsError> {
    let mut removed = 0;
    loop {
        let batch = repository.update(doc, |credentials: &mut CredentialsDocument| {
            let leaving = credentials.users_not_kept(&keep, CREDENTIALS_PER_WRITE);
            for user_id in &leaving {
                credentials.remove(user_id);
            }
            Ok::<_, Infallible>(leaving.len())
        })?;
        if batch == 0 {
            return Ok(removed);
        }
        removed += batch;
    }
}

/// Before a roster import writes `after` over `before`: moves any username-keyed hashes to their
/// users (by the roster they were set under, `before`), then removes the hashes of the users who
/// leave and of any user already gone. Done before the roster is written, so that no moment exists
/// in which a departed user's password still works. Returns the users who leave, whose sessions
/// [`after_roster_write`] ends.
pub fn before_roster_write(
    repository: &Repository,
    school: &SchoolCode,
    before: &RosterUsersDocument,
    after: &RosterUsersDocument,
) -> Result<BTreeSet<UserId>, AccountsError> {
    migrate_legacy_credentials(repository, school, before)?;
    let leaving = departures(before, after);
    remove_credentials_where_not(repository, &credentials_doc(school), |user_id| {
        after.users.contains_key(user_id) && !leaving.contains(user_id)
    })?;
    Ok(leaving)
}

/// After a roster import wrote the roster: ends every session of the users who left. Done after
/// the write, so that a login racing with the import either sees the user gone or made a session
/// that is ended here.
pub fn after_roster_write(
    sessions: &SessionStore,
    leaving: &BTreeSet<UserId>,
) -> Result<usize, AccountsError> {
    let mut ended = 0;
    for user_id in leaving {
        ended += sessions.delete_user_sessions(user_id)?;
    }
    Ok(ended)
}

/// Sets the password hash of the user `user_id`, who must be in the roster: first moves any
/// username-keyed hashes and drops the hashes of users no longer in the roster (so that departed
/// users never use up the bound), then sets this one. Ending the user's other sessions is the
/// caller's, who knows which session made the request.
pub fn set_password_hash(
    repository: &Repository,
    school: &SchoolCode,
    user_id: &str,
    phc_hash: &str,
) -> Result<(), AccountsError> {
    let users: RosterUsersDocument = repository.read_or_default(&roster_users_doc(school))?;
    if !users.users.contains_key(user_id) {
        return Err(ModelError::NotFound {
            what: "user",
            id: user_id.to_owned(),
        }
        .into());
    }
    migrate_legacy_credentials(repository, school, &users)?;
    let doc = credentials_doc(school);
    remove_credentials_where_not(repository, &doc, |id| users.users.contains_key(id))?;
    repository.update(&doc, |credentials: &mut CredentialsDocument| {
        credentials.set_hash(user_id, phc_hash)
    })?;
    Ok(())
}

/// What [`reconcile_at_start`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Username-keyed hashes handled (moved to their users, or dropped).
    pub legacy_handled: usize,
    /// Hashes of users no longer in the roster, removed.
    pub credentials_removed: usize,
    /// Sessions of users not in the roster or disabled, ended.
    pub sessions_ended: usize,
}

/// At start, before serving: moves username-keyed hashes to their users, removes the hashes of
/// users not in the roster and ends the sessions of users not in the roster or disabled. Does
/// nothing while the roster has no users (a new node, or a replaced one whose roster has not been
/// restored yet), since then nobody can be told from a departed user.
pub fn reconcile_at_start(
    repository: &Repository,
    school: &SchoolCode,
    sessions: &SessionStore,
) -> Result<Reconciled, AccountsError> {
    let users: RosterUsersDocument = repository.read_or_default(&roster_users_doc(school))?;
    if users.users.is_empty() {
        return Ok(Reconciled::default());
    }
    let legacy_handled = migrate_legacy_credentials(repository, school, &users)?;
    let credentials_removed =
        remove_credentials_where_not(repository, &credentials_doc(school), |id| {
            users.users.contains_key(id)
        })?;
    let enabled: HashSet<&str> = users
        .users
        .values()
        .filter(|user| user.enabled)
        .map(|user| user.sourced_id.as_str())
        .collect();
    let sessions_ended = sessions.delete_sessions_of_users_not(|id| enabled.contains(id))?;
    Ok(Reconciled {
        legacy_handled,
        credentials_removed,
        sessions_ended,
    })
}
