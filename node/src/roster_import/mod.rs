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

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::fmt;
use std::io::Read as _;
use std::path::Path;

use autosurgeon::{Hydrate, Reconcile};
use csv::StringRecord;
use sync_protocol::ids::{DocId, SchoolCode};

use crate::model::UserRole;
use crate::model::common::{CalendarDate, MAX_SOURCED_ID_CHARS, excerpt, sourced_id_key};
use crate::model::roster::{
    AcademicSession, ClassDocument, ClassType, Course, Enrollment, EnrollmentRole,
    MAX_ACADEMIC_SESSIONS, MAX_CLASSES_PER_SCHOOL, MAX_COURSES_PER_SCHOOL,
    MAX_ENROLLMENTS_PER_CLASS, MAX_LIST_ITEMS, MAX_ORGS, MAX_ROSTER_USERS, Org, OrgType,
    RoleAssignment, RoleType, RosterClass, RosterOrgDocument, RosterUser, RosterUsersDocument,
    SessionType, class_doc, roster_org_doc, roster_users_doc,
};
use crate::repository::{Repository, RepositoryError, UpdateError};

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
            match document {
                RosterDocument::Users(users) => write_users(repository, doc, users)?,
                RosterDocument::Class(class) => replace_state(repository, doc, class.clone())?,
                RosterDocument::Org(org) => write_org(repository, doc, org)?,
            }
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
    let planned = read_package(dir, &mut report)
        .and_then(|package| plan_package(package, school, current, &mut report));
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

/// The roster files, in the order they are read and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RosterFile {
    Orgs,
    AcademicSessions,
    Courses,
    Classes,
    Users,
    Roles,
    Enrollments,
}

impl RosterFile {
    const ALL: [RosterFile; 7] = [
        RosterFile::Orgs,
        RosterFile::AcademicSessions,
        RosterFile::Courses,
        RosterFile::Classes,
        RosterFile::Users,
        RosterFile::Roles,
        RosterFile::Enrollments,
    ];

    fn name(self) -> &'static str {
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

    fn manifest_key(self) -> &'static str {
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
    fn a_kind(self) -> &'static str {
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

    fn kind(self) -> &'static str {
        self.a_kind()
            .split_once(' ')
            .map_or(self.a_kind(), |(_, kind)| kind)
    }

    fn kinds(self) -> &'static str {
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
    fn required_columns(self) -> &'static [&'static str] {
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

/// The position of a file in reports: the manifest first, then the roster files, then the package.
fn report_order(file: &str) -> usize {
    if file == MANIFEST_FILE {
        return 0;
    }
    RosterFile::ALL
        .iter()
        .position(|roster_file| roster_file.name() == file)
        .map_or(RosterFile::ALL.len() + 1, |position| position + 1)
}

/// Collects problems, bounded.
#[derive(Debug, Default)]
struct Report {
    errors: Vec<ImportError>,
    omitted: usize,
}

impl Report {
    fn add(&mut self, file: &str, line: Option<u64>, message: impl Into<String>) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(ImportError {
                file: file.to_owned(),
                line,
                message: message.into(),
            });
        } else {
            self.omitted += 1;
        }
    }

    fn finish(mut self) -> ImportErrors {
        self.errors
            .sort_by_key(|error| (report_order(&error.file), error.line));
        ImportErrors {
            errors: self.errors,
            omitted: self.omitted,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading: the package's size, the manifest, and each file as a table of rows.
// ---------------------------------------------------------------------------------------------

/// One data row and the line it starts on.
#[derive(Debug)]
struct CsvRow {
    line: u64,
    record: StringRecord,
}

/// A file's rows, with its columns by name.
#[derive(Debug)]
struct CsvTable {
    file: &'static str,
    columns: BTreeMap<String, usize>,
    rows: Vec<CsvRow>,
}

impl CsvTable {
    /// A field, trimmed; empty when the column is absent (optional columns may be left out).
    fn get<'row>(&self, row: &'row CsvRow, column: &str) -> &'row str {
        self.columns
            .get(column)
            .and_then(|index| row.record.get(*index))
            .map_or("", str::trim)
    }
}

/// What was read of the package: each roster file's mode, and its table unless it is absent or
/// unreadable.
#[derive(Debug)]
struct Package {
    modes: BTreeMap<RosterFile, FileMode>,
    tables: BTreeMap<RosterFile, CsvTable>,
}

impl Package {
    fn mode(&self, file: RosterFile) -> FileMode {
        self.modes.get(&file).copied().unwrap_or(FileMode::Absent)
    }

    /// Whether the file should have been read but could not be (missing, bad encoding, missing
    /// columns). Its kind is then unknown, and references to it are not judged.
    fn unreadable(&self, file: RosterFile) -> bool {
        self.mode(file) != FileMode::Absent && !self.tables.contains_key(&file)
    }
}

fn read_package(dir: &Path, report: &mut Report) -> Option<Package> {
    check_package_size(dir, report)?;
    let manifest = read_table(dir, MANIFEST_FILE, &["propertyName", "value"], report)?;
    let modes = read_manifest(&manifest, report)?;
    let mut tables = BTreeMap::new();
    for file in RosterFile::ALL {
        let mode = modes.get(&file).copied().unwrap_or(FileMode::Absent);
        if mode == FileMode::Absent {
            continue;
        }
        if !dir.join(file.name()).is_file() {
            let mode_word = if mode == FileMode::Bulk {
                "bulk"
            } else {
                "delta"
            };
            report.add(
                file.name(),
                None,
                format!(
                    "the manifest lists this file as {mode_word}, but the package has no such file"
                ),
            );
            continue;
        }
        if let Some(table) = read_table(dir, file.name(), file.required_columns(), report) {
            tables.insert(file, table);
        }
    }
    Some(Package { modes, tables })
}

fn check_package_size(dir: &Path, report: &mut Report) -> Option<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            report.add(
                "package",
                None,
                format!("the package directory cannot be read: {error}"),
            );
            return None;
        }
    };
    let mut total: u64 = 0;
    for entry in entries.flatten() {
        if let Ok(metadata) = entry.metadata()
            && metadata.is_file()
        {
            total = total.saturating_add(metadata.len());
        }
    }
    if total > MAX_PACKAGE_BYTES {
        report.add(
            "package",
            None,
            format!("the package holds {total} bytes, over the limit of {MAX_PACKAGE_BYTES} bytes"),
        );
        return None;
    }
    Some(())
}

/// Reads one file as UTF-8 CSV with a header row holding at least `required` columns. Problems are
/// reported; `None` means the file could not be read as a whole.
fn read_table(
    dir: &Path,
    file: &'static str,
    required: &[&str],
    report: &mut Report,
) -> Option<CsvTable> {
    let bytes = match read_bounded(&dir.join(file)) {
        Ok(bytes) => bytes,
        Err(message) => {
            report.add(file, None, message);
            return None;
        }
    };
    let text = match decode_utf8(&bytes) {
        Ok(text) => text,
        Err((line, message)) => {
            report.add(file, line, message);
            return None;
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(header) => header.clone(),
        Err(error) => {
            report.add(
                file,
                Some(1),
                format!("the header row cannot be read: {error}"),
            );
            return None;
        }
    };
    let mut columns = BTreeMap::new();
    let mut header_ok = true;
    for (index, name) in header.iter().enumerate() {
        let name = name.trim();
        if columns.insert(name.to_owned(), index).is_some() {
            report.add(
                file,
                Some(1),
                format!("column {name:?} appears more than once"),
            );
            header_ok = false;
        }
    }
    for column in required {
        if !columns.contains_key(*column) {
            report.add(
                file,
                Some(1),
                format!("required column {column:?} is missing"),
            );
            header_ok = false;
        }
    }
    if !header_ok {
        return None;
    }
    let mut rows = Vec::new();
    let mut lines = LineCounter::new(text);
    for result in reader.records() {
        match result {
            Ok(record) => {
                let line = lines.line_at(record.position().map_or(0, csv::Position::byte));
                if rows.len() >= MAX_ROWS_PER_FILE {
                    report.add(
                        file,
                        Some(line),
                        format!(
                            "the file has more than {MAX_ROWS_PER_FILE} rows, the most accepted"
                        ),
                    );
                    return None;
                }
                if record.len() != header.len() {
                    report.add(
                        file,
                        Some(line),
                        format!(
                            "the row has {} fields, but the header has {}",
                            record.len(),
                            header.len()
                        ),
                    );
                    continue;
                }
                rows.push(CsvRow { line, record });
            }
            Err(error) => {
                let line = error
                    .position()
                    .map(|position| lines.line_at(position.byte()));
                report.add(file, line, format!("the row cannot be read: {error}"));
            }
        }
    }
    Some(CsvTable {
        file,
        columns,
        rows,
    })
}

/// Line numbers of byte offsets, for offsets met in rising order. The csv reader's own line count
/// is one short for rows after a CRLF line end (it places the row's start before the `\n`), and
/// SIS exports use CRLF, so lines are counted here from the row's byte offset instead.
#[derive(Debug)]
struct LineCounter<'text> {
    text: &'text [u8],
    offset: usize,
    line: u64,
}

impl<'text> LineCounter<'text> {
    fn new(text: &'text str) -> Self {
        Self {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// The line on which the row starting at `byte` begins: line ends the row's offset still
    /// points at belong before it.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start >= self.offset {
            let newlines = self.text[self.offset..start]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count();
            self.line += newlines as u64;
            self.offset = start;
        }
        self.line
    }
}

/// The file's bytes, refusing files over the package bound before reading them whole.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => "the package has no such file".to_owned(),
        _ => format!("the file cannot be read: {error}"),
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_PACKAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("the file cannot be read: {error}"))?;
    if bytes.len() as u64 > MAX_PACKAGE_BYTES {
        return Err(format!(
            "the file is over the package limit of {MAX_PACKAGE_BYTES} bytes"
        ));
    }
    Ok(bytes)
}

/// The text of a UTF-8 file, without its byte order mark if it has one. Anything else (UTF-16,
/// Latin-1, Windows-1252) is refused with the line of the first byte that is not UTF-8: guessing
/// an encoding would silently corrupt names like Mäkinen.
fn decode_utf8(bytes: &[u8]) -> Result<&str, (Option<u64>, String)> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err((
            None,
            "the file is UTF-16; OneRoster packages must be UTF-8".to_owned(),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = error.valid_up_to();
        let line = bytes[..valid].iter().filter(|byte| **byte == b'\n').count() as u64 + 1;
        let byte = bytes.get(valid).copied().unwrap_or_default();
        (
            Some(line),
            format!(
                "the file is not UTF-8 (byte 0x{byte:02x} is not valid here); save it as UTF-8, \
                 Latin-1 and Windows-1252 are not accepted"
            ),
        )
    })
}

/// The manifest's modes for the roster files, once the manifest is valid.
fn read_manifest(
    manifest: &CsvTable,
    report: &mut Report,
) -> Option<BTreeMap<RosterFile, FileMode>> {
    let errors_before = report.errors.len() + report.omitted;
    let mut properties: BTreeMap<&str, (&str, u64)> = BTreeMap::new();
    for row in &manifest.rows {
        let name = manifest.get(row, "propertyName");
        let value = manifest.get(row, "value");
        if let Some((_, first_line)) = properties.insert(name, (value, row.line)) {
            report.add(
                MANIFEST_FILE,
                Some(row.line),
                format!("{name} appears again (first on line {first_line})"),
            );
        }
    }
    if !properties.contains_key("manifest.version") {
        report.add(MANIFEST_FILE, None, "manifest.version is missing");
    }
    match properties.get("oneroster.version") {
        None => report.add(MANIFEST_FILE, None, "oneroster.version is missing"),
        Some((version, line)) if *version != ONEROSTER_VERSION => report.add(
            MANIFEST_FILE,
            Some(*line),
            format!(
                "oneroster.version is {version:?}, but this importer reads OneRoster {ONEROSTER_VERSION} packages only"
            ),
        ),
        Some(_) => {}
    }
    let mut modes = BTreeMap::new();
    for file in RosterFile::ALL {
        let key = file.manifest_key();
        match properties.get(key) {
            None => report.add(
                MANIFEST_FILE,
                None,
                format!("{key} is missing (it must say bulk, delta or absent)"),
            ),
            Some((value, line)) => match value.to_ascii_lowercase().as_str() {
                "bulk" => {
                    modes.insert(file, FileMode::Bulk);
                }
                "delta" => {
                    modes.insert(file, FileMode::Delta);
                }
                "absent" => {
                    modes.insert(file, FileMode::Absent);
                }
                _ => report.add(
                    MANIFEST_FILE,
                    Some(*line),
                    format!("{key} must be bulk, delta or absent, got {value:?}"),
                ),
            },
        }
    }
    (report.errors.len() + report.omitted == errors_before).then_some(modes)
}

// ---------------------------------------------------------------------------------------------
// Rows: each file's rows become upserts and deletions of typed records.
// ---------------------------------------------------------------------------------------------

/// What one row asks for.
#[derive(Debug)]
enum Change<T> {
    Upsert(T),
    Delete,
}

/// One file's rows as changes, plus the sourcedIds of rows that were bad (so references to them
/// are not reported a second time).
#[derive(Debug)]
struct Changes<T> {
    mode: FileMode,
    rows: Vec<(u64, String, Change<T>)>,
    rejected: BTreeSet<String>,
}

/// Parses every row of `file` with `parse`, checking what all files share: the sourcedId, the
/// status against the mode, dateLastModified, and sourcedIds repeated within the file.
fn parse_rows<T>(
    package: &Package,
    file: RosterFile,
    report: &mut Report,
    parse: impl Fn(&CsvTable, &CsvRow) -> Result<T, String>,
) -> Changes<T> {
    let mode = package.mode(file);
    let mut changes = Changes {
        mode,
        rows: Vec::new(),
        rejected: BTreeSet::new(),
    };
    let Some(table) = package.tables.get(&file) else {
        return changes;
    };
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for row in &table.rows {
        let line = row.line;
        let id = table.get(row, "sourcedId");
        if let Err(message) = check_sourced_id("sourcedId", id) {
            report.add(table.file, Some(line), message);
            continue;
        }
        if let Some(first_line) = seen.insert(id.to_owned(), line) {
            report.add(
                table.file,
                Some(line),
                format!("sourcedId {id:?} appears again (first on line {first_line})"),
            );
            changes.rejected.insert(id.to_owned());
            continue;
        }
        let change = parse_status(table.get(row, "status"), mode).and_then(|delete| {
            check_date_last_modified(table.get(row, "dateLastModified"))?;
            if delete {
                Ok(Change::Delete)
            } else {
                parse(table, row).map(Change::Upsert)
            }
        });
        match change {
            Ok(change) => changes.rows.push((line, id.to_owned(), change)),
            Err(message) => {
                report.add(table.file, Some(line), message);
                changes.rejected.insert(id.to_owned());
            }
        }
    }
    changes
}

/// Whether the row deletes (`tobedeleted`), by the rules of the file's mode: a bulk file lists what
/// exists (status empty or `active`), a delta file says for each row.
fn parse_status(status: &str, mode: FileMode) -> Result<bool, String> {
    match (status.to_ascii_lowercase().as_str(), mode) {
        ("" | "active", FileMode::Bulk) | ("active", FileMode::Delta) => Ok(false),
        ("tobedeleted", FileMode::Delta) => Ok(true),
        ("tobedeleted", _) => Err(
            "status tobedeleted belongs in a delta file; a bulk file lists only what exists"
                .to_owned(),
        ),
        ("", FileMode::Delta) => {
            Err("status is required in a delta file (active or tobedeleted)".to_owned())
        }
        _ => Err(format!(
            "status must be active or tobedeleted, got {:?}",
            excerpt(status)
        )),
    }
}

/// `dateLastModified` is informational, but when given it must be an ISO 8601 date or date-time.
fn check_date_last_modified(value: &str) -> Result<(), String> {
    if value.is_empty()
        || value.parse::<CalendarDate>().is_ok()
        || time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .is_ok()
    {
        Ok(())
    } else {
        Err(format!(
            "dateLastModified {:?} is not an ISO 8601 date-time",
            excerpt(value)
        ))
    }
}

fn check_sourced_id(column: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{column} is empty"));
    }
    if value.chars().count() > MAX_SOURCED_ID_CHARS {
        return Err(format!(
            "{column} is longer than {MAX_SOURCED_ID_CHARS} characters"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{column} contains a control character"));
    }
    Ok(())
}

fn required_reference(table: &CsvTable, row: &CsvRow, column: &str) -> Result<String, String> {
    let value = table.get(row, column);
    check_sourced_id(column, value)?;
    Ok(value.to_owned())
}

fn optional_reference(
    table: &CsvTable,
    row: &CsvRow,
    column: &str,
) -> Result<Option<String>, String> {
    match table.get(row, column) {
        "" => Ok(None),
        value => check_sourced_id(column, value).map(|()| Some(value.to_owned())),
    }
}

fn optional_text(table: &CsvTable, row: &CsvRow, column: &str) -> Option<String> {
    match table.get(row, column) {
        "" => None,
        value => Some(value.to_owned()),
    }
}

/// A comma-separated list inside one field (`grades`, `termSourcedIds`, `agentSourcedIds`).
fn list(table: &CsvTable, row: &CsvRow, column: &str) -> Vec<String> {
    table
        .get(row, column)
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(ToOwned::to_owned)
        .collect()
}

fn date(table: &CsvTable, row: &CsvRow, column: &str) -> Result<CalendarDate, String> {
    let value = table.get(row, column);
    value
        .parse()
        .map_err(|_| format!("{column} {:?} is not a date (YYYY-MM-DD)", excerpt(value)))
}

fn optional_date(
    table: &CsvTable,
    row: &CsvRow,
    column: &str,
) -> Result<Option<CalendarDate>, String> {
    if table.get(row, column).is_empty() {
        Ok(None)
    } else {
        date(table, row, column).map(Some)
    }
}

fn boolean(table: &CsvTable, row: &CsvRow, column: &str, default: bool) -> Result<bool, String> {
    match table.get(row, column).to_ascii_lowercase().as_str() {
        "" => Ok(default),
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!(
            "{column} must be true or false, got {:?}",
            excerpt(other)
        )),
    }
}

/// The platform role for a OneRoster 1.2 `roles.csv` role (and `administrator` from OneRoster
/// 1.1, which some systems still write). A Finnish principal (`rehtori`) administers the school.
pub fn map_oneroster_role(role: &str) -> Option<UserRole> {
    Some(match role {
        "student" => UserRole::Pupil,
        "teacher" => UserRole::Teacher,
        "parent" | "guardian" | "relative" => UserRole::Guardian,
        "aide" | "proctor" | "counselor" => UserRole::Staff,
        "administrator"
        | "districtAdministrator"
        | "siteAdministrator"
        | "systemAdministrator"
        | "principal" => UserRole::Admin,
        _ => return None,
    })
}

/// The class role for a OneRoster 1.2 `enrollments.csv` role.
pub fn map_enrollment_role(role: &str) -> Option<EnrollmentRole> {
    Some(match role {
        "student" => EnrollmentRole::Pupil,
        "teacher" => EnrollmentRole::Teacher,
        "proctor" | "administrator" => EnrollmentRole::Assistant,
        _ => return None,
    })
}

fn parse_org(table: &CsvTable, row: &CsvRow) -> Result<Org, String> {
    let org = Org {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        name: table.get(row, "name").to_owned(),
        org_type: OrgType::parse(table.get(row, "type")).map_err(|error| error.to_string())?,
        identifier: optional_text(table, row, "identifier"),
        parent_sourced_id: optional_reference(table, row, "parentSourcedId")?,
    };
    org.validate().map_err(|error| error.to_string())?;
    Ok(org)
}

fn parse_session(table: &CsvTable, row: &CsvRow) -> Result<AcademicSession, String> {
    let session = AcademicSession {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        title: table.get(row, "title").to_owned(),
        session_type: SessionType::parse(table.get(row, "type"))
            .map_err(|error| error.to_string())?,
        start_date: date(table, row, "startDate")?,
        end_date: date(table, row, "endDate")?,
        parent_sourced_id: optional_reference(table, row, "parentSourcedId")?,
        school_year: table.get(row, "schoolYear").to_owned(),
    };
    session.validate().map_err(|error| error.to_string())?;
    Ok(session)
}

fn parse_course(table: &CsvTable, row: &CsvRow) -> Result<Course, String> {
    let course = Course {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        title: table.get(row, "title").to_owned(),
        course_code: optional_text(table, row, "courseCode"),
        grades: list(table, row, "grades"),
        subjects: list(table, row, "subjects"),
        school_year_sourced_id: optional_reference(table, row, "schoolYearSourcedId")?,
        org_sourced_id: required_reference(table, row, "orgSourcedId")?,
    };
    course.validate().map_err(|error| error.to_string())?;
    Ok(course)
}

fn parse_class(
    table: &CsvTable,
    row: &CsvRow,
    school_org: Option<&str>,
) -> Result<RosterClass, String> {
    check_school(table, row, school_org)?;
    let class = RosterClass {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        title: table.get(row, "title").to_owned(),
        course_sourced_id: required_reference(table, row, "courseSourcedId")?,
        class_code: optional_text(table, row, "classCode"),
        class_type: ClassType::parse(table.get(row, "classType"))
            .map_err(|error| error.to_string())?,
        grades: list(table, row, "grades"),
        term_sourced_ids: list(table, row, "termSourcedIds"),
        subjects: list(table, row, "subjects"),
        location: optional_text(table, row, "location"),
    };
    class.validate().map_err(|error| error.to_string())?;
    Ok(class)
}

fn parse_user(table: &CsvTable, row: &CsvRow) -> Result<RosterUser, String> {
    let user = RosterUser {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        username: table.get(row, "username").to_owned(),
        given_name: table.get(row, "givenName").to_owned(),
        family_name: table.get(row, "familyName").to_owned(),
        preferred_given_name: optional_text(table, row, "preferredGivenName"),
        email: optional_text(table, row, "email"),
        identifier: optional_text(table, row, "identifier"),
        enabled: boolean(table, row, "enabledUser", true)?,
        roles: Vec::new(),
        role_assignments: BTreeMap::new(),
        grades: list(table, row, "grades"),
        agent_sourced_ids: list(table, row, "agentSourcedIds"),
    };
    user.validate().map_err(|error| error.to_string())?;
    Ok(user)
}

/// A `roles.csv` row: the assignment and the user it belongs to.
#[derive(Debug, Clone)]
struct RoleRow {
    user: String,
    assignment: RoleAssignment,
}

fn parse_role(table: &CsvTable, row: &CsvRow) -> Result<RoleRow, String> {
    let oneroster_role = table.get(row, "role");
    let role = map_oneroster_role(oneroster_role).ok_or_else(|| {
        format!(
            "role {:?} is not a OneRoster 1.2 role (aide, counselor, districtAdministrator, \
             guardian, parent, principal, proctor, relative, siteAdministrator, student, \
             systemAdministrator, teacher)",
            excerpt(oneroster_role)
        )
    })?;
    let role_type = match table.get(row, "roleType") {
        "primary" => RoleType::Primary,
        "secondary" => RoleType::Secondary,
        other => {
            return Err(format!(
                "roleType must be primary or secondary, got {:?}",
                excerpt(other)
            ));
        }
    };
    let begin_date = optional_date(table, row, "beginDate")?;
    let end_date = optional_date(table, row, "endDate")?;
    if let (Some(begin), Some(end)) = (begin_date, end_date)
        && end < begin
    {
        return Err(format!("endDate {end} is before beginDate {begin}"));
    }
    Ok(RoleRow {
        user: required_reference(table, row, "userSourcedId")?,
        assignment: RoleAssignment {
            sourced_id: table.get(row, "sourcedId").to_owned(),
            role,
            oneroster_role: oneroster_role.to_owned(),
            role_type,
            org_sourced_id: required_reference(table, row, "orgSourcedId")?,
            begin_date,
            end_date,
        },
    })
}

/// An `enrollments.csv` row: the enrollment and its class.
#[derive(Debug, Clone)]
struct EnrollmentRow {
    class: String,
    enrollment: Enrollment,
}

fn parse_enrollment(
    table: &CsvTable,
    row: &CsvRow,
    school_org: Option<&str>,
) -> Result<EnrollmentRow, String> {
    check_school(table, row, school_org)?;
    let role_text = table.get(row, "role");
    let role = map_enrollment_role(role_text).ok_or_else(|| {
        format!(
            "role {:?} is not an enrollment role (administrator, proctor, student, teacher)",
            excerpt(role_text)
        )
    })?;
    let enrollment = Enrollment {
        sourced_id: table.get(row, "sourcedId").to_owned(),
        user_sourced_id: required_reference(table, row, "userSourcedId")?,
        role,
        primary: boolean(table, row, "primary", false)?,
        begin_date: optional_date(table, row, "beginDate")?,
        end_date: optional_date(table, row, "endDate")?,
    };
    enrollment.validate().map_err(|error| error.to_string())?;
    Ok(EnrollmentRow {
        class: required_reference(table, row, "classSourcedId")?,
        enrollment,
    })
}

/// A class or enrollment row must be this school's (a package carries one school).
fn check_school(table: &CsvTable, row: &CsvRow, school_org: Option<&str>) -> Result<(), String> {
    let given = table.get(row, "schoolSourcedId");
    match school_org {
        Some(school_org) if given != school_org => Err(format!(
            "schoolSourcedId {:?} is not this school's org {school_org:?}",
            excerpt(given)
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Merging: the changes of each file applied onto the current state, remembering which line
// (if any) each record came from, so that problems can be reported where they were written.
// ---------------------------------------------------------------------------------------------

/// A record and the line of the package it came from; `None` when it comes from the current
/// roster.
#[derive(Debug, Clone)]
struct Staged<T> {
    value: T,
    line: Option<u64>,
}

/// The new state of one kind.
#[derive(Debug)]
struct Merged<T> {
    file: RosterFile,
    items: BTreeMap<String, Staged<T>>,
    /// Ids whose rows were bad, and whether the whole file was unreadable: references to these
    /// are not judged (the cause is reported already).
    rejected: BTreeSet<String>,
    unreadable: bool,
}

impl<T> Merged<T> {
    fn can_judge(&self, id: &str) -> bool {
        !self.unreadable && !self.rejected.contains(id)
    }
}

fn merge<T>(
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

/// Reports `target_id` when it is not in `target`. A row of the package is reported at its line; a
/// record of the current roster is reported on the target's file, since the package deleted what
/// it refers to.
fn check_reference<T, U>(
    report: &mut Report,
    referrer: (&Merged<T>, &str, Option<u64>),
    column: &str,
    target: &Merged<U>,
    target_id: &str,
) {
    let (referrer_kind, referrer_id, referrer_line) = referrer;
    if target.items.contains_key(target_id) || !target.can_judge(target_id) {
        return;
    }
    match referrer_line {
        Some(line) => report.add(
            referrer_kind.file.name(),
            Some(line),
            format!(
                "{column} {target_id:?} is not {} in this package or the current roster",
                target.file.a_kind()
            ),
        ),
        None => report.add(
            target.file.name(),
            None,
            format!(
                "{} {target_id:?} is deleted, but {} {referrer_id:?} (already imported) still refers to it",
                target.file.kind(),
                referrer_kind.file.kind()
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Planning: merge every kind, check the references and bounds, and build the documents.
// ---------------------------------------------------------------------------------------------

fn plan_package(
    package: Package,
    school: &SchoolCode,
    current: &CurrentRoster,
    report: &mut Report,
) -> Option<ImportPlan> {
    let mut summary = ImportSummary {
        modes: RosterFile::ALL
            .iter()
            .map(|file| (file.name(), package.mode(*file)))
            .collect(),
        rows_read: package.tables.values().map(|table| table.rows.len()).sum(),
        ..ImportSummary::default()
    };

    let orgs = merge(
        &package,
        RosterFile::Orgs,
        current.org.orgs.clone(),
        parse_rows(&package, RosterFile::Orgs, report, parse_org),
    );
    let school_org = find_school_org(&orgs, school, report);
    let sessions = merge(
        &package,
        RosterFile::AcademicSessions,
        current.org.sessions.clone(),
        parse_rows(
            &package,
            RosterFile::AcademicSessions,
            report,
            parse_session,
        ),
    );
    let courses = merge(
        &package,
        RosterFile::Courses,
        current.org.courses.clone(),
        parse_rows(&package, RosterFile::Courses, report, parse_course),
    );
    let classes = merge(
        &package,
        RosterFile::Classes,
        current.org.classes.clone(),
        parse_rows(&package, RosterFile::Classes, report, |table, row| {
            parse_class(table, row, school_org.as_deref())
        }),
    );
    let mut users = merge(
        &package,
        RosterFile::Users,
        current.users.users.clone(),
        parse_rows(&package, RosterFile::Users, report, parse_user),
    );
    let role_changes = parse_rows(&package, RosterFile::Roles, report, parse_role);
    let users_with_rejected_roles = rejected_role_users(&package, &role_changes);
    let current_roles = current.users.users.values().flat_map(|user| {
        user.role_assignments.values().map(|assignment| {
            (
                assignment.sourced_id.clone(),
                RoleRow {
                    user: user.sourced_id.clone(),
                    assignment: assignment.clone(),
                },
            )
        })
    });
    let mut roles = merge(&package, RosterFile::Roles, current_roles, role_changes);
    let current_enrollments = current.classes.values().flat_map(|document| {
        document.enrollments.values().map(|enrollment| {
            (
                enrollment.sourced_id.clone(),
                EnrollmentRow {
                    class: document.class.sourced_id.clone(),
                    enrollment: enrollment.clone(),
                },
            )
        })
    });
    let mut enrollments = merge(
        &package,
        RosterFile::Enrollments,
        current_enrollments,
        parse_rows(&package, RosterFile::Enrollments, report, |table, row| {
            parse_enrollment(table, row, school_org.as_deref())
        }),
    );

    summary.removed_with_their_owner =
        remove_with_their_owner(&classes, &mut users, &mut roles, &mut enrollments);
    check_references(
        report,
        (&orgs, &sessions, &courses, &classes),
        (&users, &roles, &enrollments),
    );
    let school_org = school_org?;
    summary.roles_ignored = assign_roles(&orgs, &school_org, &mut users, &roles);
    // Without readable users and roles, whether a user lacks a role cannot be judged.
    let roles_known = !users.unreadable && !roles.unreadable;
    check_users(report, &users, roles_known, &users_with_rejected_roles);
    if roles_known {
        check_enrollment_roles(report, &users, &enrollments, &users_with_rejected_roles);
    }
    check_bounds(
        report,
        (&orgs, &sessions, &courses, &classes),
        &users,
        &enrollments,
    );
    if !report.errors.is_empty() {
        return None;
    }

    let new_org = RosterOrgDocument {
        school_sourced_id: school_org,
        orgs: values(orgs),
        sessions: values(sessions),
        courses: values(courses),
        classes: values(classes),
    };
    let new_users = RosterUsersDocument {
        users: values(users),
    };
    let mut class_documents: BTreeMap<String, ClassDocument> = new_org
        .classes
        .values()
        .map(|class| {
            (
                class.sourced_id.clone(),
                ClassDocument {
                    class: class.clone(),
                    removed: false,
                    enrollments: BTreeMap::new(),
                },
            )
        })
        .collect();
    summary.enrollments = enrollments.items.len();
    for (id, staged) in enrollments.items {
        if let Some(document) = class_documents.get_mut(&staged.value.class) {
            document.enrollments.insert(id, staged.value.enrollment);
        }
    }

    summary.orgs = new_org.orgs.len();
    summary.academic_sessions = new_org.sessions.len();
    summary.courses = new_org.courses.len();
    summary.classes = new_org.classes.len();
    summary.users = new_users.users.len();

    let mut documents = Vec::new();
    if new_users != current.users {
        documents.push((roster_users_doc(school), RosterDocument::Users(new_users)));
    }
    for (id, document) in class_documents {
        if current.classes.get(&id) != Some(&document) {
            documents.push((class_doc(school, &id), RosterDocument::Class(document)));
        }
    }
    for (id, class) in &current.org.classes {
        if !new_org.classes.contains_key(id) {
            summary.classes_removed += 1;
            documents.push((
                class_doc(school, id),
                RosterDocument::Class(ClassDocument {
                    class: class.clone(),
                    removed: true,
                    enrollments: BTreeMap::new(),
                }),
            ));
        }
    }
    if new_org != current.org {
        documents.push((roster_org_doc(school), RosterDocument::Org(new_org)));
    }
    Some(ImportPlan { documents, summary })
}

fn values<T>(merged: Merged<T>) -> BTreeMap<String, T> {
    merged
        .items
        .into_iter()
        .map(|(id, staged)| (id, staged.value))
        .collect()
}

/// The school's own org: type `school`, identifier the school code. Exactly one must exist.
fn find_school_org(orgs: &Merged<Org>, school: &SchoolCode, report: &mut Report) -> Option<String> {
    let code = school.to_string();
    let matching: Vec<&String> = orgs
        .items
        .iter()
        .filter(|(_, staged)| {
            staged.value.org_type == OrgType::School
                && staged.value.identifier.as_deref() == Some(code.as_str())
        })
        .map(|(id, _)| id)
        .collect();
    match matching.as_slice() {
        [only] => Some((*only).clone()),
        [] => {
            if !orgs.unreadable && orgs.rejected.is_empty() {
                report.add(
                    RosterFile::Orgs.name(),
                    None,
                    format!("no org of type school has identifier {code:?} (this node's school)"),
                );
            }
            None
        }
        several => {
            report.add(
                RosterFile::Orgs.name(),
                None,
                format!(
                    "{} orgs of type school have identifier {code:?}; a package carries one school",
                    several.len()
                ),
            );
            None
        }
    }
}

/// The users whose `roles.csv` rows were bad: their missing roles are not reported again.
fn rejected_role_users(package: &Package, changes: &Changes<RoleRow>) -> BTreeSet<String> {
    let Some(table) = package.tables.get(&RosterFile::Roles) else {
        return BTreeSet::new();
    };
    table
        .rows
        .iter()
        .filter(|row| changes.rejected.contains(table.get(row, "sourcedId")))
        .map(|row| table.get(row, "userSourcedId").to_owned())
        .collect()
}

/// Removes earlier-imported enrollments, role rows and guardian links whose user or class is gone.
/// Rows of the package itself are kept, to be reported by [`check_references`].
fn remove_with_their_owner(
    classes: &Merged<RosterClass>,
    users: &mut Merged<RosterUser>,
    roles: &mut Merged<RoleRow>,
    enrollments: &mut Merged<EnrollmentRow>,
) -> usize {
    let user_ids: BTreeSet<String> = users.items.keys().cloned().collect();
    let before = enrollments.items.len() + roles.items.len();
    enrollments.items.retain(|_, staged| {
        staged.line.is_some()
            || (classes.items.contains_key(&staged.value.class)
                && user_ids.contains(&staged.value.enrollment.user_sourced_id))
    });
    roles
        .items
        .retain(|_, staged| staged.line.is_some() || user_ids.contains(&staged.value.user));
    let mut removed = before - enrollments.items.len() - roles.items.len();
    for staged in users
        .items
        .values_mut()
        .filter(|staged| staged.line.is_none())
    {
        let links = staged.value.agent_sourced_ids.len();
        staged
            .value
            .agent_sourced_ids
            .retain(|agent| user_ids.contains(agent));
        removed += links - staged.value.agent_sourced_ids.len();
    }
    removed
}

type RosterOrgKinds<'a> = (
    &'a Merged<Org>,
    &'a Merged<AcademicSession>,
    &'a Merged<Course>,
    &'a Merged<RosterClass>,
);

fn check_references(
    report: &mut Report,
    (orgs, sessions, courses, classes): RosterOrgKinds<'_>,
    (users, roles, enrollments): (
        &Merged<RosterUser>,
        &Merged<RoleRow>,
        &Merged<EnrollmentRow>,
    ),
) {
    for (id, staged) in &orgs.items {
        if let Some(parent) = &staged.value.parent_sourced_id {
            check_reference(
                report,
                (orgs, id, staged.line),
                "parentSourcedId",
                orgs,
                parent,
            );
        }
    }
    for (id, staged) in &sessions.items {
        if let Some(parent) = &staged.value.parent_sourced_id {
            check_reference(
                report,
                (sessions, id, staged.line),
                "parentSourcedId",
                sessions,
                parent,
            );
        }
    }
    for (id, staged) in &courses.items {
        let referrer = (courses, id.as_str(), staged.line);
        check_reference(
            report,
            referrer,
            "orgSourcedId",
            orgs,
            &staged.value.org_sourced_id,
        );
        if let Some(year) = &staged.value.school_year_sourced_id {
            check_reference(report, referrer, "schoolYearSourcedId", sessions, year);
        }
    }
    for (id, staged) in &classes.items {
        let referrer = (classes, id.as_str(), staged.line);
        check_reference(
            report,
            referrer,
            "courseSourcedId",
            courses,
            &staged.value.course_sourced_id,
        );
        for term in &staged.value.term_sourced_ids {
            check_reference(report, referrer, "termSourcedIds", sessions, term);
        }
    }
    for (id, staged) in &users.items {
        for agent in &staged.value.agent_sourced_ids {
            check_reference(
                report,
                (users, id, staged.line),
                "agentSourcedIds",
                users,
                agent,
            );
        }
    }
    for (id, staged) in &roles.items {
        let referrer = (roles, id.as_str(), staged.line);
        check_reference(report, referrer, "userSourcedId", users, &staged.value.user);
        check_reference(
            report,
            referrer,
            "orgSourcedId",
            orgs,
            &staged.value.assignment.org_sourced_id,
        );
    }
    for (id, staged) in &enrollments.items {
        let referrer = (enrollments, id.as_str(), staged.line);
        check_reference(
            report,
            referrer,
            "classSourcedId",
            classes,
            &staged.value.class,
        );
        check_reference(
            report,
            referrer,
            "userSourcedId",
            users,
            &staged.value.enrollment.user_sourced_id,
        );
    }
}

/// Gives every user the role rows at this school (or at one of its parent orgs, such as a
/// municipality-wide administrator), and derives their roles. Returns how many rows were at
/// other orgs and so ignored.
fn assign_roles(
    orgs: &Merged<Org>,
    school_org: &str,
    users: &mut Merged<RosterUser>,
    roles: &Merged<RoleRow>,
) -> usize {
    let mut this_school_and_parents = BTreeSet::new();
    let mut next = Some(school_org.to_owned());
    while let Some(org) = next {
        if !this_school_and_parents.insert(org.clone()) || this_school_and_parents.len() > MAX_ORGS
        {
            break;
        }
        next = orgs
            .items
            .get(&org)
            .and_then(|staged| staged.value.parent_sourced_id.clone());
    }
    for staged in users.items.values_mut() {
        staged.value.role_assignments.clear();
    }
    let mut ignored = 0;
    for (id, staged) in &roles.items {
        let assignment = &staged.value.assignment;
        if !this_school_and_parents.contains(&assignment.org_sourced_id) {
            ignored += 1;
            continue;
        }
        if let Some(user) = users.items.get_mut(&staged.value.user) {
            user.value
                .role_assignments
                .insert(id.clone(), assignment.clone());
        }
    }
    for staged in users.items.values_mut() {
        staged.value.derive_roles();
    }
    ignored
}

/// Every user has a role at this school, at most [`MAX_LIST_ITEMS`] role rows, and a username no
/// other user has (compared without regard to case, as sign-in does).
fn check_users(
    report: &mut Report,
    users: &Merged<RosterUser>,
    roles_known: bool,
    users_with_rejected_roles: &BTreeSet<String>,
) {
    let users_file = RosterFile::Users.name();
    let mut usernames: BTreeMap<String, &str> = BTreeMap::new();
    for (id, staged) in &users.items {
        let user = &staged.value;
        if roles_known && user.roles.is_empty() && !users_with_rejected_roles.contains(id) {
            match staged.line {
                Some(line) => report.add(
                    users_file,
                    Some(line),
                    format!("user {id:?} has no role at this school in roles.csv"),
                ),
                None => report.add(
                    RosterFile::Roles.name(),
                    None,
                    format!(
                        "user {id:?} (already imported) would be left without a role at this school"
                    ),
                ),
            }
        }
        if user.role_assignments.len() > MAX_LIST_ITEMS {
            report.add(
                RosterFile::Roles.name(),
                None,
                format!(
                    "user {id:?} has {} role rows, more than the {MAX_LIST_ITEMS} accepted",
                    user.role_assignments.len()
                ),
            );
        }
        let folded = user.username.to_lowercase();
        if let Some(other) = usernames.insert(folded, id) {
            report.add(
                users_file,
                staged.line,
                format!(
                    "username {:?} of user {id:?} is already used by user {other:?}",
                    user.username
                ),
            );
        }
    }
}

/// A pupil enrollment needs the pupil role, a teacher enrollment the teacher role, an assistant
/// enrollment a staff, teacher or administrator role.
fn check_enrollment_roles(
    report: &mut Report,
    users: &Merged<RosterUser>,
    enrollments: &Merged<EnrollmentRow>,
    users_with_rejected_roles: &BTreeSet<String>,
) {
    for (id, staged) in &enrollments.items {
        let enrollment = &staged.value.enrollment;
        let Some(user) = users.items.get(&enrollment.user_sourced_id) else {
            continue;
        };
        if users_with_rejected_roles.contains(&enrollment.user_sourced_id) {
            continue;
        }
        let (fits, needed) = match enrollment.role {
            EnrollmentRole::Pupil => (user.value.has_role(UserRole::Pupil), "student"),
            EnrollmentRole::Teacher => (user.value.has_role(UserRole::Teacher), "teacher"),
            EnrollmentRole::Assistant => (
                [UserRole::Staff, UserRole::Teacher, UserRole::Admin]
                    .iter()
                    .any(|role| user.value.has_role(*role)),
                "staff, teacher or administrator",
            ),
        };
        if fits {
            continue;
        }
        let message = format!(
            "user {:?} is enrolled as {} but has no {needed} role at this school",
            enrollment.user_sourced_id,
            match enrollment.role {
                EnrollmentRole::Pupil => "student",
                EnrollmentRole::Teacher => "teacher",
                EnrollmentRole::Assistant => "assistant",
            }
        );
        match staged.line {
            Some(line) => report.add(RosterFile::Enrollments.name(), Some(line), message),
            None => report.add(
                RosterFile::Roles.name(),
                None,
                format!("{message} (enrollment {id:?}, already imported)"),
            ),
        }
    }
}

/// The documents' bounds, and distinct document keys for distinct classes.
fn check_bounds(
    report: &mut Report,
    (orgs, sessions, courses, classes): RosterOrgKinds<'_>,
    users: &Merged<RosterUser>,
    enrollments: &Merged<EnrollmentRow>,
) {
    let mut bound = |file: RosterFile, count: usize, max: usize| {
        if count > max {
            report.add(
                file.name(),
                None,
                format!(
                    "the roster would hold {count} {}, more than the {max} a school keeps",
                    file.kinds()
                ),
            );
        }
    };
    bound(RosterFile::Orgs, orgs.items.len(), MAX_ORGS);
    bound(
        RosterFile::AcademicSessions,
        sessions.items.len(),
        MAX_ACADEMIC_SESSIONS,
    );
    bound(
        RosterFile::Courses,
        courses.items.len(),
        MAX_COURSES_PER_SCHOOL,
    );
    bound(
        RosterFile::Classes,
        classes.items.len(),
        MAX_CLASSES_PER_SCHOOL,
    );
    bound(RosterFile::Users, users.items.len(), MAX_ROSTER_USERS);

    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    for staged in enrollments.items.values() {
        *per_class.entry(staged.value.class.as_str()).or_default() += 1;
    }
    for (class, count) in per_class {
        if count > MAX_ENROLLMENTS_PER_CLASS {
            report.add(
                RosterFile::Enrollments.name(),
                None,
                format!(
                    "class {class:?} would have {count} enrollments, more than the {MAX_ENROLLMENTS_PER_CLASS} a class keeps"
                ),
            );
        }
    }

    let mut keys: BTreeMap<String, &str> = BTreeMap::new();
    for (id, staged) in &classes.items {
        if let Some(other) = keys.insert(sourced_id_key(id), id) {
            report.add(
                RosterFile::Classes.name(),
                staged.line,
                format!("classes {other:?} and {id:?} map to the same document key; change one sourcedId"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.
// ---------------------------------------------------------------------------------------------

/// Replaces a document's state in one update.
fn replace_state<T>(repository: &Repository, doc: &DocId, state: T) -> Result<(), RepositoryError>
where
    T: Hydrate + Reconcile + Default,
{
    repository
        .update(doc, |current: &mut T| -> Result<(), Infallible> {
            *current = state;
            Ok(())
        })
        .map_err(into_repository_error)
}

fn into_repository_error(error: UpdateError<Infallible>) -> RepositoryError {
    match error {
        UpdateError::Rejected(never) => match never {},
        UpdateError::Repository(error) => error,
    }
}

/// Writes `roster-users` in batches of [`USERS_PER_WRITE`] changed users, then removes the users
/// that are gone.
fn write_users(
    repository: &Repository,
    doc: &DocId,
    users: &RosterUsersDocument,
) -> Result<(), RepositoryError> {
    let ids: Vec<&String> = users.users.keys().collect();
    for batch in ids.chunks(USERS_PER_WRITE) {
        repository
            .update(
                doc,
                |current: &mut RosterUsersDocument| -> Result<(), Infallible> {
                    for id in batch {
                        if let Some(user) = users.users.get(*id)
                            && current.users.get(*id) != Some(user)
                        {
                            current.users.insert((*id).clone(), user.clone());
                        }
                    }
                    Ok(())
                },
            )
            .map_err(into_repository_error)?;
    }
    replace_state(repository, doc, users.clone())
}

/// Writes `roster-org`: the orgs, sessions and courses first, then the class directory in batches
/// of [`ORG_ENTRIES_PER_WRITE`], then whatever is left (removals).
fn write_org(
    repository: &Repository,
    doc: &DocId,
    org: &RosterOrgDocument,
) -> Result<(), RepositoryError> {
    let course_ids: Vec<&String> = org.courses.keys().collect();
    for batch in course_ids.chunks(ORG_ENTRIES_PER_WRITE) {
        repository
            .update(
                doc,
                |current: &mut RosterOrgDocument| -> Result<(), Infallible> {
                    current.school_sourced_id.clone_from(&org.school_sourced_id);
                    current.orgs.clone_from(&org.orgs);
                    current.sessions.clone_from(&org.sessions);
                    for id in batch {
                        if let Some(course) = org.courses.get(*id) {
                            current.courses.insert((*id).clone(), course.clone());
                        }
                    }
                    Ok(())
                },
            )
            .map_err(into_repository_error)?;
    }
    let class_ids: Vec<&String> = org.classes.keys().collect();
    for batch in class_ids.chunks(ORG_ENTRIES_PER_WRITE) {
        repository
            .update(
                doc,
                |current: &mut RosterOrgDocument| -> Result<(), Infallible> {
                    for id in batch {
                        if let Some(class) = org.classes.get(*id) {
                            current.classes.insert((*id).clone(), class.clone());
                        }
                    }
                    Ok(())
                },
            )
            .map_err(into_repository_error)?;
    }
    replace_state(repository, doc, org.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_accepted_with_or_without_a_byte_order_mark() {
        assert_eq!(decode_utf8("Mäkinen".as_bytes()), Ok("Mäkinen"));
        assert_eq!(decode_utf8(b"\xEF\xBB\xBFsourcedId"), Ok("sourcedId"));
    }

    #[test]
    fn latin1_and_utf16_are_refused_with_the_line() {
        let latin1 = b"sourcedId,name\nU1,Aino\nU2,M\xe4kinen\n";
        let (line, message) = decode_utf8(latin1).expect_err("latin-1");
        assert_eq!(line, Some(3));
        assert!(message.contains("0xe4"), "{message}");
        let utf16 = [0xFF, 0xFE, b's', 0];
        assert_eq!(decode_utf8(&utf16).expect_err("utf-16").0, None);
    }

    #[test]
    fn oneroster_roles_map_onto_platform_roles() {
        let cases = [
            ("student", Some(UserRole::Pupil)),
            ("teacher", Some(UserRole::Teacher)),
            ("parent", Some(UserRole::Guardian)),
            ("guardian", Some(UserRole::Guardian)),
            ("relative", Some(UserRole::Guardian)),
            ("aide", Some(UserRole::Staff)),
            ("proctor", Some(UserRole::Staff)),
            ("counselor", Some(UserRole::Staff)),
            ("administrator", Some(UserRole::Admin)),
            ("districtAdministrator", Some(UserRole::Admin)),
            ("siteAdministrator", Some(UserRole::Admin)),
            ("systemAdministrator", Some(UserRole::Admin)),
            ("principal", Some(UserRole::Admin)),
            ("Student", None),
            ("headmaster", None),
        ];
        for (role, expected) in cases {
            assert_eq!(map_oneroster_role(role), expected, "{role}");
        }
        assert_eq!(
            map_enrollment_role("proctor"),
            Some(EnrollmentRole::Assistant)
        );
        assert_eq!(map_enrollment_role("guardian"), None);
    }

    #[test]
    fn rows_are_numbered_by_the_line_they_start_on_with_any_line_ending() {
        for text in [
            "a,b\nx,1\ny,\"two\nlines\"\n\nz,3\n",
            "a,b\r\nx,1\r\ny,\"two\r\nlines\"\r\n\r\nz,3\r\n",
        ] {
            let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
            let mut counter = LineCounter::new(text);
            let lines: Vec<u64> = reader
                .records()
                .map(|record| {
                    let record = record.expect("valid csv");
                    counter.line_at(record.position().map_or(0, csv::Position::byte))
                })
                .collect();
            assert_eq!(lines, [2, 3, 6], "{text:?}");
        }
    }

    #[test]
    fn status_follows_the_file_mode() {
        assert_eq!(parse_status("", FileMode::Bulk), Ok(false));
        assert_eq!(parse_status("active", FileMode::Bulk), Ok(false));
        assert!(parse_status("tobedeleted", FileMode::Bulk).is_err());
        assert_eq!(parse_status("tobedeleted", FileMode::Delta), Ok(true));
        assert!(parse_status("", FileMode::Delta).is_err());
        assert!(parse_status("inactive", FileMode::Delta).is_err());
    }

    #[test]
    fn date_last_modified_is_iso_8601_when_given() {
        assert!(check_date_last_modified("").is_ok());
        assert!(check_date_last_modified("2025-08-01").is_ok());
        assert!(check_date_last_modified("2025-08-01T12:00:00.000Z").is_ok());
        assert!(check_date_last_modified("1.8.2025").is_err());
    }

    fn sample_user(number: usize) -> RosterUser {
        let id = format!("{{9f3c6a2e-1b4d-4c8e-a7f1-{number:012}}}");
        let mut user = RosterUser {
            sourced_id: id.clone(),
            username: format!("etunimi.sukunimi{number}"),
            given_name: "Aino-Marjatta Kristiina".to_owned(),
            family_name: "Mäkinen-Virtanen".to_owned(),
            preferred_given_name: Some("Aino".to_owned()),
            email: Some(format!("etunimi.sukunimi{number}@edu.kaupunki.example.fi")),
            identifier: Some(format!("{number:08}")),
            enabled: true,
            roles: Vec::new(),
            role_assignments: (0..2)
                .map(|index| {
                    let sourced_id = format!("{id}-role-{index}");
                    let assignment = RoleAssignment {
                        sourced_id: sourced_id.clone(),
                        role: UserRole::Pupil,
                        oneroster_role: "student".to_owned(),
                        role_type: RoleType::Primary,
                        org_sourced_id: "{0c1d2e3f-4a5b-6c7d-8e9f-000000030076}".to_owned(),
                        begin_date: "2025-08-11".parse().ok(),
                        end_date: "2026-05-30".parse().ok(),
                    };
                    (sourced_id, assignment)
                })
                .collect(),
            grades: vec!["07".to_owned()],
            agent_sourced_ids: (1..=2)
                .map(|guardian| format!("{{9f3c6a2e-1b4d-4c8e-a7f1-{:012}}}", number + guardian))
                .collect(),
        };
        user.derive_roles();
        user
    }

    /// The bytes of the change that reconciling `value` into a fresh document makes.
    fn change_bytes<T: Reconcile>(value: &T) -> usize {
        let mut document = automerge::AutoCommit::new();
        autosurgeon::reconcile(&mut document, value).expect("reconcile");
        document.commit();
        document
            .get_changes(&[])
            .iter()
            .map(|change| change.raw_bytes().len())
            .sum()
    }

    #[test]
    fn one_write_of_each_roster_document_fits_well_within_the_change_bound() {
        let half_bound = sync_protocol::store::MAX_CHANGE_BYTES / 2;
        let users = RosterUsersDocument {
            users: (0..USERS_PER_WRITE)
                .map(|number| {
                    let user = sample_user(number * 3);
                    (user.sourced_id.clone(), user)
                })
                .collect(),
        };
        let bytes = change_bytes(&users);
        assert!(
            bytes < half_bound,
            "{bytes} bytes for {USERS_PER_WRITE} users"
        );

        let class = |number: usize| RosterClass {
            sourced_id: format!("{{5e1f0c2a-7b3d-4e9f-8a6c-{number:012}}}"),
            title: "7A Äidinkieli ja kirjallisuus, ryhmä 2".to_owned(),
            course_sourced_id: format!("{{5e1f0c2a-7b3d-4e9f-8a6c-{:012}}}", number / 4),
            class_code: Some(format!("AI7.{number}")),
            class_type: ClassType::Scheduled,
            grades: vec!["07".to_owned()],
            term_sourced_ids: vec![
                "{term-autumn-2025}".to_owned(),
                "{term-spring-2026}".to_owned(),
            ],
            subjects: vec!["Äidinkieli ja kirjallisuus".to_owned()],
            location: Some("B204".to_owned()),
        };
        let org = RosterOrgDocument {
            classes: (0..ORG_ENTRIES_PER_WRITE)
                .map(|number| (class(number).sourced_id, class(number)))
                .collect(),
            ..RosterOrgDocument::default()
        };
        let bytes = change_bytes(&org);
        assert!(
            bytes < half_bound,
            "{bytes} bytes for {ORG_ENTRIES_PER_WRITE} classes"
        );

        let full_class = ClassDocument {
            class: class(0),
            removed: false,
            enrollments: (0..MAX_ENROLLMENTS_PER_CLASS)
                .map(|number| {
                    let enrollment = Enrollment {
                        sourced_id: format!("{{0b7e5d1c-2f4a-4b6c-9d8e-{number:012}}}"),
                        user_sourced_id: sample_user(number).sourced_id,
                        role: EnrollmentRole::Pupil,
                        primary: false,
                        begin_date: "2025-08-11".parse().ok(),
                        end_date: "2026-05-30".parse().ok(),
                    };
                    (enrollment.sourced_id.clone(), enrollment)
                })
                .collect(),
        };
        let bytes = change_bytes(&full_class);
        assert!(
            bytes < half_bound,
            "{bytes} bytes for a class of {MAX_ENROLLMENTS_PER_CLASS} enrollments"
        );
    }

    #[test]
    fn a_full_users_document_stays_well_within_the_document_bound() {
        let users = RosterUsersDocument {
            users: (0..MAX_ROSTER_USERS)
                .map(|number| {
                    let user = sample_user(number);
                    (user.sourced_id.clone(), user)
                })
                .collect(),
        };
        let mut document = automerge::AutoCommit::new();
        autosurgeon::reconcile(&mut document, &users).expect("reconcile");
        let saved = document.save().len() as u64;
        assert!(
            saved < sync_protocol::store::MAX_DOCUMENT_BYTES / 4,
            "{saved} bytes for {MAX_ROSTER_USERS} users"
        );
    }

    #[test]
    fn errors_display_as_file_line_message() {
        let error = ImportError {
            file: "users.csv".to_owned(),
            line: Some(7),
            message: "username is empty".to_owned(),
        };
        assert_eq!(error.to_string(), "users.csv:7: username is empty");
        let mut report = Report::default();
        report.add("users.csv", Some(9), "b");
        report.add("classes.csv", Some(3), "a");
        report.add("users.csv", None, "c");
        report.add(MANIFEST_FILE, None, "d");
        assert_eq!(
            report.finish().lines(),
            [
                "manifest.csv: d",
                "classes.csv:3: a",
                "users.csv: c",
                "users.csv:9: b"
            ]
        );
    }
}
