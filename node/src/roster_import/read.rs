//! Reading: the package's size, the manifest, and each roster file the manifest lists as a table of
//! rows. Nothing here knows what a row means; [`super::rows`] parses the rows into records.
//!
//! A file that cannot be read as a whole (missing, not UTF-8, a header without the required
//! columns) is reported and left out of the [`Package`], and the later stages then do not judge
//! references into its kind: the cause is reported already, and guessing would only add noise.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use csv::StringRecord;

use super::format::{
    FileMode, MANIFEST_FILE, MAX_PACKAGE_BYTES, MAX_ROWS_PER_FILE, ONEROSTER_VERSION, RosterFile,
};
use super::report::Report;

/// What was read of the package: each roster file's mode, and its table unless it is absent or
/// unreadable.
#[derive(Debug)]
pub(super) struct Package {
    modes: BTreeMap<RosterFile, FileMode>,
    pub(super) tables: BTreeMap<RosterFile, CsvTable>,
}

impl Package {
    pub(super) fn mode(&self, file: RosterFile) -> FileMode {
        self.modes.get(&file).copied().unwrap_or(FileMode::Absent)
    }

    /// Whether the file should have been read but could not be (missing, bad encoding, missing
    /// columns). Its kind is then unknown, and references to it are not judged.
    pub(super) fn unreadable(&self, file: RosterFile) -> bool {
        self.mode(file) != FileMode::Absent && !self.tables.contains_key(&file)
    }
}

/// Reads the package in `dir`. `None` when nothing can be planned from it: the directory cannot be
/// read, it is over [`MAX_PACKAGE_BYTES`], or the manifest has problems. A roster file with
/// problems is reported and left out of the package, so the other files are still checked.
pub(super) fn read_package(dir: &Path, report: &mut Report) -> Option<Package> {
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

/// Refuses a package over [`MAX_PACKAGE_BYTES`] before any file of it is read.
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

/// One data row and the line it starts on.
#[derive(Debug)]
pub(super) struct CsvRow {
    pub(super) line: u64,
    record: StringRecord,
}

/// A file's rows, with its columns by name.
#[derive(Debug)]
pub(super) struct CsvTable {
    pub(super) file: &'static str,
    columns: BTreeMap<String, usize>,
    pub(super) rows: Vec<CsvRow>,
}

impl CsvTable {
    /// A field, trimmed; empty when the column is absent (optional columns may be left out).
    pub(super) fn get<'row>(&self, row: &'row CsvRow, column: &str) -> &'row str {
        self.columns
            .get(column)
            .and_then(|index| row.record.get(*index))
            .map_or("", str::trim)
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
}
