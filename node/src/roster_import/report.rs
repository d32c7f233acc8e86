//! Problems found in a package, collected as the stages find them and handed back in the order an
//! operator reads the package: the manifest, then the roster files in package order, each by line.

use super::format::{ImportError, ImportErrors, MANIFEST_FILE, MAX_REPORTED_ERRORS, RosterFile};

/// Collects problems, bounded.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub(super) errors: Vec<ImportError>,
    pub(super) omitted: usize,
}

impl Report {
    pub(super) fn add(&mut self, file: &str, line: Option<u64>, message: impl Into<String>) {
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

    pub(super) fn finish(mut self) -> ImportErrors {
        self.errors
            .sort_by_key(|error| (report_order(&error.file), error.line));
        ImportErrors {
            errors: self.errors,
            omitted: self.omitted,
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

#[cfg(test)]
mod tests {
    use super::*;

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
