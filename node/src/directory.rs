//! Who may log in: the auth layer's [`UserDirectory`] answered from the school's roster and
//! credentials documents.
//!
//! Logins and role checks happen on every request, so the directory answers from an in-memory index.
//! The index is rebuilt when either document is written (a roster import, a password change, or
//! either arriving from the relay), which a counter of their writes tells with one atomic read per
//! lookup (see [`sync_store::SledStore::change_counter`]); other writes leave the index alone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sync_protocol::ids::{DocId, SchoolCode};
use sync_store::ChangeCounter;

use crate::auth::{LoginRecord, UserDirectory};
use crate::model::credentials::{CredentialsDocument, credentials_doc};
use crate::model::roster::{RosterUsersDocument, roster_users_doc};
use crate::model::{UserId, UserRole};
use crate::repository::Repository;

/// One user as the directory needs them.
#[derive(Debug, Clone)]
struct Entry {
    user_id: UserId,
    roles: Vec<UserRole>,
    enabled: bool,
    password_hash: Option<String>,
}

#[derive(Debug, Default)]
struct Index {
    /// The count of writes to the two documents when the index was built from them.
    built_at: Option<u64>,
    /// Lowercased username → user id.
    by_username: HashMap<String, UserId>,
    by_id: HashMap<UserId, Entry>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct RosterDirectory {
    repository: Arc<Repository>,
    users_doc: DocId,
    credentials_doc: DocId,
    writes: ChangeCounter,
    index: RwLock<Index>,
    /// One rebuild at a time; concurrent logins wait for it instead of repeating it.
    rebuilding: std::sync::Mutex<()>,
}

impl RosterDirectory {
    pub fn new(repository: Arc<Repository>, school: &SchoolCode) -> Self {
        let users_doc = roster_users_doc(school);
        let credentials_doc = credentials_doc(school);
        let writes = repository
            .store()
            .change_counter(&[users_doc.name(), credentials_doc.name()]);
        Self {
            repository,
            users_doc,
            credentials_doc,
            writes,
            index: RwLock::new(Index::default()),
            rebuilding: std::sync::Mutex::new(()),
        }
    }

    fn is_current(&self, writes: u64) -> bool {
        self.index
            .read()
            .is_ok_and(|index| index.built_at == Some(writes))
    }

    /// Rebuilds the index when either document was written since it was built. Nothing written
    /// (one atomic read) is the common case and costs nothing more.
    fn refresh(&self) {
        if self.is_current(self.writes.get()) {
            return;
        }
        let _one_builder = self
            .rebuilding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Read before the documents, so a write racing with the build only makes the next lookup
        // build again.
        let writes = self.writes.get();
        if self.is_current(writes) {
            return;
        }
        let users: RosterUsersDocument = match self.repository.read(&self.users_doc) {
            Ok(users) => users.unwrap_or_default(),
            Err(error) => {
                tracing::error!(%error, "the roster's users cannot be read; logins use the last known index");
                return;
            }
        };
        let credentials: CredentialsDocument = match self.repository.read(&self.credentials_doc) {
            Ok(credentials) => credentials.unwrap_or_default(),
            Err(error) => {
                tracing::error!(%error, "the credentials cannot be read; logins use the last known index");
                return;
            }
        };
        let mut fresh = Index {
            built_at: Some(writes),
            ..Index::default()
        };
        for user in users.users.values() {
            fresh
                .by_username
                .insert(user.username.to_lowercase(), user.sourced_id.clone());
            fresh.by_id.insert(
                user.sourced_id.clone(),
                Entry {
                    user_id: user.sourced_id.clone(),
                    roles: user.roles.clone(),
                    enabled: user.enabled,
                    // The password is the user id's. A hash an older version kept by username
                    // counts for the user who holds that username now, as it did then, until the
                    // node moves it to the user's id (at start, or before the next import or
                    // password change; see `crate::accounts`).
                    password_hash: credentials
                        .hash_for(&user.sourced_id)
                        .or_else(|| credentials.legacy_hash_for(&user.username))
                        .map(str::to_owned),
                },
            );
        }
        if let Ok(mut index) = self.index.write() {
            *index = fresh;
        }
    }
}

impl UserDirectory for RosterDirectory {
    fn find_login(&self, username: &str) -> Option<LoginRecord> {
        self.refresh();
        let index = self.index.read().ok()?;
        let user_id = index.by_username.get(&username.to_lowercase())?;
        let entry = index.by_id.get(user_id)?;
        Some(LoginRecord {
            user_id: entry.user_id.clone(),
            // A user without a password cannot log in; the auth layer then verifies against its
            // dummy hash, so the answer takes as long as for anyone else.
            password_hash: entry.password_hash.clone()?,
            roles: entry.roles.clone(),
            enabled: entry.enabled,
        })
    }

    fn user_roles(&self, user: &UserId) -> Option<Vec<UserRole>> {
        self.refresh();
        let index = self.index.read().ok()?;
        let entry = index.by_id.get(user)?;
        entry.enabled.then(|| entry.roles.clone())
    }
}
