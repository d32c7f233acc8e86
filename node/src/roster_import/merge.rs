//! Merging: the changes of each file applied onto the current state, remembering which line (if
//! any) each record came from, so that problems can be reported where they were written.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::roster::{AcademicSession, Course, Org, RosterClass, RosterUser};

use super::format::FileMode;
use super::format::RosterFile;
use super::read::Package;
use super::rows::{Change, Changes, EnrollmentRow, RoleRow};

/// Every kind of the roster merged: the state the package would leave, before the checks that look
/// across kinds ([`super::validate`]) decide whether it may.
#[derive(Debug)]
pub(super) struct MergedRoster {
    pub(super) orgs: Merged<Org>,
    pub(super) sessions: Merged<AcademicSession>,
    pub(super) courses: Merged<Course>,
    pub(super) classes: Merged<RosterClass>,
    pub(super) users: Merged<RosterUser>,
    pub(super) roles: Merged<RoleRow>,
    pub(super) enrollments: Merged<EnrollmentRow>,
}

/// The new state of one kind.
#[derive(Debug)]
pub(super) struct Merged<T> {
    pub(super) file: RosterFile,
    pub(super) items: BTreeMap<String, Staged<T>>,
    /// Ids whose rows were bad, and whether the whole file was unreadable: references to these
    /// are not judged (the cause is reported already).
    pub(super) rejected: BTreeSet<String>,
    pub(super) unreadable: bool,
}

impl<T> Merged<T> {
    pub(super) fn can_judge(&self, id: &str) -> bool {
        !self.unreadable && !self.rejected.contains(id)
    }
}

/// A record and the line of the package it came from; `None` when it comes from the current
/// roster.
#[derive(Debug, Clone)]
pub(super) struct Staged<T> {
    pub(super) value: T,
    pub(super) line: Option<u64>,
}

/// Applies one file's changes onto the current records of its kind: a bulk file replaces them
/// all, a delta file changes only what its rows name, an absent file changes nothing.
pub(super) fn merge<T>(
    package: &Package,
    file: RosterFile,
    current: impl IntoIterator<Item = (String, T)>,
    changes: Changes<T>,
) -> Merged<T> {
    let mut items: BTreeMap<String, Staged<T>> = BTreeMap::new();
    if changes.mode != FileMode::Bulk {
        items.extend(
            current
                .into_iter()
                .map(|(id, value)| (id, Staged { value, line: None })),
        );
    }
    for (line, id, change) in changes.rows {
        match change {
            Change::Upsert(value) => {
                items.insert(
                    id,
                    Staged {
                        value,
                        line: Some(line),
                    },
                );
            }
            // Deleting what is not there is not an error: a delta may be applied twice.
            Change::Delete => {
                items.remove(&id);
            }
        }
    }
    Merged {
        file,
        items,
        rejected: changes.rejected,
        unreadable: package.unreadable(file),
    }
}
