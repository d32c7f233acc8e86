//! What a OneRoster package is to the import: its bounds, its files and how each is read, and the
//! errors reported about it. Every stage reads these; none of them reads a stage.

use std::fmt;

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

/// The roster files, in the order they are read and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum RosterFile {
    Orgs,
    AcademicSessions,
    Courses,
    Classes,
    Users,
    Roles,
    Enrollments,
}

impl RosterFile {
    pub(super) const ALL: [RosterFile; 7] = [
        RosterFile::Orgs,
        RosterFile::AcademicSessions,
        RosterFile::Courses,
        RosterFile::Classes,
        RosterFile::Users,
        RosterFile::Roles,
        RosterFile::Enrollments,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            RosterFile::Orgs => "orgs.csv",
            RosterFile::AcademicSessions => "academicSessions.csv",
            RosterFile::Courses => "courses.csv",
            RosterFile::Classes => "classes.csv",
            RosterFile::Users => "users.csv",
            RosterFile::Roles => "roles.csv",
            RosterFile::Enrollments => "enrollments.csv",
        }
    }

    pub(super) fn manifest_key(self) -> &'static str {
        match self {
            RosterFile::Orgs => "file.orgs",
            RosterFile::AcademicSessions => "file.academicSessions",
            RosterFile::Courses => "file.courses",
            RosterFile::Classes => "file.classes",
            RosterFile::Users => "file.users",
            RosterFile::Roles => "file.roles",
            RosterFile::Enrollments => "file.enrollments",
        }
    }

    /// What one row is, with its article, for messages ("a class").
    pub(super) fn a_kind(self) -> &'static str {
        match self {
            RosterFile::Orgs => "an org",
            RosterFile::AcademicSessions => "an academic session",
            RosterFile::Courses => "a course",
            RosterFile::Classes => "a class",
            RosterFile::Users => "a user",
            RosterFile::Roles => "a role",
            RosterFile::Enrollments => "an enrollment",
        }
    }

    pub(super) fn kind(self) -> &'static str {
        self.a_kind()
            .split_once(' ')
            .map_or(self.a_kind(), |(_, kind)| kind)
    }

    pub(super) fn kinds(self) -> &'static str {
        match self {
            RosterFile::Orgs => "orgs",
            RosterFile::AcademicSessions => "academic sessions",
            RosterFile::Courses => "courses",
            RosterFile::Classes => "classes",
            RosterFile::Users => "users",
            RosterFile::Roles => "roles",
            RosterFile::Enrollments => "enrollments",
        }
    }

    /// The columns the importer needs, per the OneRoster 1.2 CSV binding. Other columns (such as
    /// `metadata.*` or ones the platform does not use) are allowed and ignored.
    pub(super) fn required_columns(self) -> &'static [&'static str] {
        match self {
            RosterFile::Orgs => &["sourcedId", "status", "dateLastModified", "name", "type"],
            RosterFile::AcademicSessions => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "type",
                "startDate",
                "endDate",
                "schoolYear",
            ],
            RosterFile::Courses => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "orgSourcedId",
            ],
            RosterFile::Classes => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "title",
                "courseSourcedId",
                "classType",
                "schoolSourcedId",
                "termSourcedIds",
            ],
            RosterFile::Users => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "enabledUser",
                "username",
                "givenName",
                "familyName",
            ],
            RosterFile::Roles => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "userSourcedId",
                "roleType",
                "role",
                "orgSourcedId",
            ],
            RosterFile::Enrollments => &[
                "sourcedId",
                "status",
                "dateLastModified",
                "classSourcedId",
                "schoolSourcedId",
                "userSourcedId",
                "role",
            ],
        }
    }
}
