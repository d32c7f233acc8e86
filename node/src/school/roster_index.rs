//! Who is in which class, as pupil or teacher, and whose guardian each guardian is: the
//! [`RosterIndex`] every permission decision reads ([`crate::school::policy`]), kept in memory by
//! the [`RosterCache`] and rebuilt whenever a roster document changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use sync_protocol::ids::SchoolCode;
use sync_store::{ChangeCounter, SledStore};

use crate::model::roster::{
    ClassDocument, RosterOrgDocument, RosterUsersDocument, class_doc, roster_org_doc,
    roster_users_doc,
};
use crate::model::{UserId, UserRole};
use crate::repository::Repository;
use crate::school::error::ServiceError;

/// Who is in which class, and whose guardian is whom. Rebuilt when any roster document changes.
#[derive(Debug, Default)]
pub struct RosterIndex {
    pub classes: BTreeMap<String, ClassDocument>,
    pub classes_as_pupil: HashMap<UserId, BTreeSet<String>>,
    pub classes_as_teacher: HashMap<UserId, BTreeSet<String>>,
    pub children: HashMap<UserId, BTreeSet<UserId>>,
    pub users: RosterUsersDocument,
    pub org: RosterOrgDocument,
}

impl RosterIndex {
    fn build(repository: &Repository, school: &SchoolCode) -> Result<Self, ServiceError> {
        let org_doc = roster_org_doc(school);
        let users_doc = roster_users_doc(school);
        let org: RosterOrgDocument = repository.read_or_default(&org_doc)?;
        let users: RosterUsersDocument = repository.read_or_default(&users_doc)?;
        let mut index = RosterIndex::default();
        for class_id in org.classes.keys() {
            let Some(class) = repository.read::<ClassDocument>(&class_doc(school, class_id))?
            else {
                continue;
            };
            if class.removed {
                continue;
            }
            for pupil in class.pupils() {
                index
                    .classes_as_pupil
                    .entry(pupil.clone())
                    .or_default()
                    .insert(class_id.clone());
            }
            for teacher in class.teachers() {
                index
                    .classes_as_teacher
                    .entry(teacher.clone())
                    .or_default()
                    .insert(class_id.clone());
            }
            index.classes.insert(class_id.clone(), class);
        }
        for user in users.users.values() {
            if user.has_role(UserRole::Guardian) {
                let children: BTreeSet<UserId> = users
                    .children_of(&user.sourced_id)
                    .into_iter()
                    .map(|child| child.sourced_id.clone())
                    .collect();
                index.children.insert(user.sourced_id.clone(), children);
            }
        }
        index.users = users;
        index.org = org;
        Ok(index)
    }

    pub fn is_guardian_of(&self, guardian: &str, pupil: &str) -> bool {
        self.children
            .get(guardian)
            .is_some_and(|children| children.contains(pupil))
    }

    pub fn teaches(&self, teacher: &str, class: &str) -> bool {
        self.classes_as_teacher
            .get(teacher)
            .is_some_and(|classes| classes.contains(class))
    }

    pub fn attends(&self, pupil: &str, class: &str) -> bool {
        self.classes_as_pupil
            .get(pupil)
            .is_some_and(|classes| classes.contains(class))
    }

    /// Whether `teacher` teaches any class that `pupil` attends.
    pub fn teaches_pupil(&self, teacher: &str, pupil: &str) -> bool {
        match (
            self.classes_as_teacher.get(teacher),
            self.classes_as_pupil.get(pupil),
        ) {
            (Some(taught), Some(attended)) => !taught.is_disjoint(attended),
            _ => false,
        }
    }
}

/// The names of the documents a [`RosterIndex`] is built from (`roster-org`, `roster-users`, and
/// `class-<key>` for every class).
pub const ROSTER_DOCUMENT_NAME_PREFIXES: [&str; 3] = ["roster-org", "roster-users", "class-"];

/// The cached [`RosterIndex`] of a node.
///
/// Every request asks for it, so the common case must cost almost nothing: a counter of writes to
/// the roster documents (one atomic read, see [`SledStore::change_counter`]) tells whether the
/// index is still current; draft saves and other writes leave it alone. Only when a roster
/// document changed is the index rebuilt, by one thread at a time: the others wait for that build
/// instead of each rebuilding (a bell's worth of first requests would otherwise build it hundreds
/// of times at once).
#[derive(Debug)]
pub struct RosterCache {
    roster_writes: ChangeCounter,
    /// The index and the roster write count it was built at.
    current: RwLock<Option<(u64, Arc<RosterIndex>)>>,
    rebuilding: Mutex<()>,
}

impl RosterCache {
    pub fn new(store: &SledStore) -> Self {
        Self {
            roster_writes: store.change_counter(&ROSTER_DOCUMENT_NAME_PREFIXES),
            current: RwLock::new(None),
            rebuilding: Mutex::new(()),
        }
    }

    /// The index if no roster document changed since it was built; never blocks.
    pub fn get_if_unchanged(&self) -> Option<Arc<RosterIndex>> {
        let writes = self.roster_writes.get();
        let current = self.current.read().ok()?;
        match current.as_ref() {
            Some((built_at, index)) if *built_at == writes => Some(index.clone()),
            _ => None,
        }
    }

    /// The index, rebuilt if a roster document changed. Reads the store, so it runs on the
    /// blocking pool.
    pub fn get(
        &self,
        repository: &Repository,
        school: &SchoolCode,
    ) -> Result<Arc<RosterIndex>, ServiceError> {
        if let Some(index) = self.get_if_unchanged() {
            return Ok(index);
        }
        let _one_builder = self
            .rebuilding
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(index) = self.get_if_unchanged() {
            return Ok(index);
        }
        // The count is read before the build, so a write racing with it only makes the next
        // request build again.
        let writes = self.roster_writes.get();
        let index = Arc::new(RosterIndex::build(repository, school)?);
        if let Ok(mut current) = self.current.write() {
            *current = Some((writes, index.clone()));
        }
        Ok(index)
    }
}
