//! Roster import: a OneRoster 1.2 CSV package becomes the complete new state of the school's roster
//! documents (`roster-org`, `roster-users`, one `class-<key>` per class; see `crate::model::roster`).
//!
//! [`plan_import`] reads and checks the whole package before anything is written: the encoding
//! (UTF-8 only), the manifest, the required columns of each file, every row, and every reference
//! across the package and the current roster. Every problem is reported as `file:line: message`
//! (up to [`MAX_REPORTED_ERRORS`]), and a package with any problem yields no plan at all, so a bad
//! package changes nothing. A good package yields an [`ImportPlan`]: each changed document with its
//! complete new state, which [`ImportPlan::write`] stores through the repository.
//!
//! Each file's mode comes from the manifest (`file.<name>` = `bulk`, `delta` or `absent`): a bulk
//! file replaces everything of its kind, a delta file applies `active` rows as upserts and
//! `tobedeleted` rows as deletions onto the current state, an absent file leaves its kind as it is.
//! Removing a user or a class removes what hangs on it (enrollments, role rows, guardian links)
//! when those were imported earlier; a row of the package itself that refers to something missing
//! is an error. `node/DATA-MODEL.md` describes the rules for operators.
//!
//! # How the stages connect
//!
//! [`plan_import`] runs the stages in order, each in its own file, and every stage reports its
//! problems into one bounded report (`report.rs`) instead of stopping at the first:
//!
//! 1. `read.rs` checks the package's size and encoding, reads the manifest's mode for each roster
//!    file, and reads each listed file as a table of rows with its required columns.
//! 2. `rows.rs` parses each table's rows into upserts and deletions of typed records, checking
//!    what one row can be judged on alone.
//! 3. `merge.rs` applies each file's changes onto the current records of its kind, remembering
//!    the line each record came from.
//! 4. `validate.rs` checks the merged roster across kinds: references, roles, usernames, bounds.
//! 5. `plan.rs` drives steps 2 to 4 and, when nothing was reported, builds the documents that
//!    change; this is the [`ImportPlan`].
//!
//! [`ImportPlan::write`] then stores the plan through `write.rs`, which writes large documents in
//! batches so that each change stays within the store's bound.

mod format;
mod merge;
mod plan;
mod read;
mod report;
mod rows;
mod validate;
mod write;

use std::collections::BTreeMap;
use std::path::Path;

use sync_protocol::ids::{DocId, SchoolCode};

use crate::model::roster::{
    ClassDocument, RosterOrgDocument, RosterUsersDocument, class_doc, roster_org_doc,
    roster_users_doc,
};
use crate::repository::{Repository, RepositoryError};

pub use self::format::{
    FileMode, ImportError, ImportErrors, MANIFEST_FILE, MAX_PACKAGE_BYTES, MAX_REPORTED_ERRORS,
    MAX_ROWS_PER_FILE, ONEROSTER_VERSION, ORG_ENTRIES_PER_WRITE, USERS_PER_WRITE,
};
use self::report::Report;
pub use self::rows::{map_enrollment_role, map_oneroster_role};

/// What the planner needs of the current roster: the org and users documents and every active
/// class document. [`CurrentRoster::load`] fills it from the repository; tests and tools may build
/// it directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentRoster {
    pub org: RosterOrgDocument,
    pub users: RosterUsersDocument,
    /// The class documents of the classes in `org.classes`, by class sourcedId.
    pub classes: BTreeMap<String, ClassDocument>,
}

impl CurrentRoster {
    /// The roster as stored for `school` (empty before the first import).
    pub fn load(repository: &Repository, school: &SchoolCode) -> Result<Self, RepositoryError> {
        let org: RosterOrgDocument = repository.read_or_default(&roster_org_doc(school))?;
        let users: RosterUsersDocument = repository.read_or_default(&roster_users_doc(school))?;
        let mut classes = BTreeMap::new();
        for class_id in org.classes.keys() {
            let document: ClassDocument =
                repository.read_or_default(&class_doc(school, class_id))?;
            classes.insert(class_id.clone(), document);
        }
        Ok(Self {
            org,
            users,
            classes,
        })
    }

    /// The roster as it will be once `plan` is written.
    pub fn apply(&mut self, plan: &ImportPlan) {
        for (_, document) in &plan.documents {
            match document {
                RosterDocument::Org(org) => self.org = org.clone(),
                RosterDocument::Users(users) => self.users = users.clone(),
                RosterDocument::Class(class) if class.removed => {
                    self.classes.remove(&class.class.sourced_id);
                }
                RosterDocument::Class(class) => {
                    self.classes
                        .insert(class.class.sourced_id.clone(), class.clone());
                }
            }
        }
    }
}

/// The new state of one roster document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterDocument {
    Org(RosterOrgDocument),
    Users(RosterUsersDocument),
    Class(ClassDocument),
}

/// The documents a package changes, each with its complete new state, in the order to write them:
/// users first, then classes, then `roster-org` (whose class directory then never names a class
/// document that is not written yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPlan {
    pub documents: Vec<(DocId, RosterDocument)>,
    pub summary: ImportSummary,
}

/// What the package amounts to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Each roster file with its mode, in package order.
    pub modes: Vec<(&'static str, FileMode)>,
    /// Data rows read, over all files.
    pub rows_read: usize,
    /// Totals after the import.
    pub orgs: usize,
    pub academic_sessions: usize,
    pub courses: usize,
    pub classes: usize,
    pub users: usize,
    pub enrollments: usize,
    /// Classes that were in the roster and are not any more.
    pub classes_removed: usize,
    /// `roles.csv` rows at orgs other than this school and its parents, which are not this
    /// school's business.
    pub roles_ignored: usize,
    /// Enrollments, role rows and guardian links removed because the user or class they hung on
    /// was removed.
    pub removed_with_their_owner: usize,
}

impl ImportPlan {
    /// Writes every document of the plan. Each document is written atomically; the plan as a
    /// whole is not (a crash midway leaves some documents new and some old), and planning and
    /// writing the same package again completes it, because a plan states whole documents.
    /// Returns the number of documents written.
    pub fn write(&self, repository: &Repository) -> Result<usize, RepositoryError> {
        for (doc, document) in &self.documents {
            write::write_document(repository, doc, document)?;
        }
        Ok(self.documents.len())
    }
}

/// Plans the import of the package in `dir` for `school` onto `current`. See the module
/// documentation.
pub fn plan_import(
    dir: &Path,
    school: &SchoolCode,
    current: &CurrentRoster,
) -> Result<ImportPlan, ImportErrors> {
    let mut report = Report::default();
    let planned = read::read_package(dir, &mut report)
        .and_then(|package| plan::plan_package(package, school, current, &mut report));
    match planned {
        Some(plan) if report.errors.is_empty() => Ok(plan),
        _ => {
            if report.errors.is_empty() {
                report.add("package", None, "the package could not be planned");
            }
            Err(report.finish())
        }
    }
}
