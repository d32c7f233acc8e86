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

mod merge;
mod plan;
mod read;
mod report;
mod rows;
mod validate;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use sync_protocol::ids::{DocId, SchoolCode};

use crate::model::roster::{
    ClassDocument, RosterOrgDocument, RosterUsersDocument, class_doc, roster_org_doc,
    roster_users_doc,
};
use crate::repository::{Repository, RepositoryError};

use self::report::Report;
pub use self::rows::{map_enrollment_role, map_oneroster_role};

/// The largest package accepted: all files of the package directory together.
pub const MAX_PACKAGE_BYTES: u64 = 50 * 1024 * 1024;
/// The most data rows one file may hold.
pub const MAX_ROWS_PER_FILE: usize = 100_000;
/// The most problems reported; the rest are counted in [`ImportErrors::omitted`]. A package this
/// broken is fixed at the source, not row by row.
pub const MAX_REPORTED_ERRORS: usize = 1_000;
/// The OneRoster version this importer reads (`oneroster.version` in the manifest).
pub const ONEROSTER_VERSION: &str = "1.2";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.csv";
/// Users written per repository update. The first import of a large school writes its users in
/// several changes, so that each automerge change stays far below the store's bound on one change
/// (`sync_protocol::store::MAX_CHANGE_BYTES`, 512 KiB). A user takes about 1 KB in a change
/// (changes are not compressed), so 200 users make about 200 KB; a unit test checks the margin.
pub const USERS_PER_WRITE: usize = 200;
/// Classes (and courses) written per repository update of `roster-org`, for the same reason.
pub const ORG_ENTRIES_PER_WRITE: usize = 200;

/// How the manifest says to apply one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    Bulk,
    Delta,
    Absent,
}

/// One problem in a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// The file's name within the package (`users.csv`), or `package` for the package as a whole.
    pub file: String,
    /// The line in the file (the header is line 1), when the problem has one.
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(formatter, "{}:{line}: {}", self.file, self.message),
            None => write!(formatter, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in a package (the first [`MAX_REPORTED_ERRORS`]), ordered by file in
/// package order and by line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors {
    pub errors: Vec<ImportError>,
    /// Problems found beyond the reported ones.
    pub omitted: usize,
}

impl ImportErrors {
    /// Each problem as `file:line: message`.
    pub fn lines(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "the roster package was not imported; nothing was changed:"
        )?;
        for error in &self.errors {
            writeln!(formatter, "{error}")?;
        }
        if self.omitted > 0 {
            writeln!(formatter, "… and {} more problems", self.omitted)?;
        }
        Ok(())
    }
}

impl std::error::Error for ImportErrors {}

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
