//! Writing and paging the audit log of releases to services (the documents are
//! [`crate::model::audit`]'s).
//!
//! A release is recorded before it happens: the grant before the redirect that carries the
//! code, the token issue before the token response, the userinfo release before its answer. If
//! the record cannot be written the release is refused, so the log never misses one.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use sync_protocol::ids::SchoolCode;

use crate::model::audit::{AuditDocument, AuditEntry, MAX_AUDIT_PARTS_PER_DAY, audit_doc};
use crate::model::common::{ModelError, NodeTime};
use crate::repository::{Repository, RepositoryError, UpdateError};

/// Days a page reads back over without finding an entry before it stops: a year and a bit, so
/// that a school's quiet summer never ends the listing.
pub const MAX_AUDIT_DAYS_SCANNED: u32 = 400;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "today's audit log is full ({MAX_AUDIT_PARTS_PER_DAY} documents); releases are refused until tomorrow"
    )]
    Full,
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error("the audit log could not be written: {0}")]
    Rejected(ModelError),
}

/// Where a page ends: the next page lists the entries before this one. Written
/// `YYYYMMDD-PART-INDEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub day: time::Date,
    pub part: u32,
    pub index: usize,
}

impl fmt::Display for AuditCursor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:04}{:02}{:02}-{}-{}",
            self.day.year(),
            u8::from(self.day.month()),
            self.day.day(),
            self.part,
            self.index
        )
    }
}

impl FromStr for AuditCursor {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not an audit cursor (YYYYMMDD-PART-INDEX)");
        let mut pieces = text.split('-');
        let (Some(day), Some(part), Some(index), None) =
            (pieces.next(), pieces.next(), pieces.next(), pieces.next())
        else {
            return Err(bad());
        };
        if day.len() != 8 || !day.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = day[0..4].parse().map_err(|_| bad())?;
        let month: u8 = day[4..6].parse().map_err(|_| bad())?;
        let day_of_month: u8 = day[6..8].parse().map_err(|_| bad())?;
        let month = time::Month::try_from(month).map_err(|_| bad())?;
        let day = time::Date::from_calendar_date(year, month, day_of_month).map_err(|_| bad())?;
        let part: u32 = part.parse().map_err(|_| bad())?;
        let index: usize = index.parse().map_err(|_| bad())?;
        if part >= MAX_AUDIT_PARTS_PER_DAY {
            return Err(bad());
        }
        Ok(Self { day, part, index })
    }
}

/// One page of the log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts, when there may be more.
    pub next: Option<AuditCursor>,
}

/// The day (UTC) of a node time.
pub fn day_of(at: NodeTime) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.unix_millis()) * 1_000_000)
        .map(|moment| moment.date())
        .unwrap_or(time::Date::MIN)
}

/// The school's audit log. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct AuditLog {
    repository: Arc<Repository>,
    school: SchoolCode,
    /// The part written last, so that a write does not retry every full part of the day. Only a
    /// hint: it is not held during a write, so concurrent releases share fsyncs.
    current_part: Mutex<Option<(time::Date, u32)>>,
}

impl AuditLog {
    pub fn new(repository: Arc<Repository>, school: SchoolCode) -> Self {
        Self {
            repository,
            school,
            current_part: Mutex::new(None),
        }
    }

    fn hint(&self) -> std::sync::MutexGuard<'_, Option<(time::Date, u32)>> {
        self.current_part
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `entry` to the log of its day, durably. Blocking (sled, automerge, fsync).
    pub fn record(&self, entry: AuditEntry) -> Result<(), AuditError> {
        let day = day_of(entry.at);
        let mut part = match *self.hint() {
            Some((hinted_day, hinted_part)) if hinted_day == day => hinted_part,
            _ => 0,
        };
        loop {
            if part >= MAX_AUDIT_PARTS_PER_DAY {
                return Err(AuditError::Full);
            }
            let written = self.repository.update(
                &audit_doc(&self.school, day, part),
                |document: &mut AuditDocument| document.append(entry.clone()),
            );
            match written {
                Ok(()) => {
                    let mut hint = self.hint();
                    if hint.is_none_or(|(hinted_day, hinted_part)| {
                        hinted_day != day || hinted_part < part
                    }) {
                        *hint = Some((day, part));
                    }
                    return Ok(());
                }
                Err(UpdateError::Rejected(ModelError::LimitReached { .. })) => part += 1,
                Err(UpdateError::Rejected(other)) => return Err(AuditError::Rejected(other)),
                Err(UpdateError::Repository(failure)) => return Err(failure.into()),
            }
        }
    }

    /// The newest part of `day` that exists.
    fn last_part(&self, day: time::Date) -> Result<Option<u32>, RepositoryError> {
        let mut last = None;
        for part in 0..MAX_AUDIT_PARTS_PER_DAY {
            let exists = self
                .repository
                .store()
                .doc_heads(&audit_doc(&self.school, day, part))?
                .is_some_and(|heads| !heads.is_empty());
            if !exists {
                break;
            }
            last = Some(part);
        }
        Ok(last)
    }

    /// Up to `limit` entries, newest first (in the order of appending within a day), before
    /// `before` or from `today`'s newest. Blocking.
    pub fn page(
        &self,
        before: Option<AuditCursor>,
        limit: usize,
        today: time::Date,
    ) -> Result<AuditPage, RepositoryError> {
        let mut entries = Vec::new();
        let (mut day, mut part, mut end) = match before {
            Some(cursor) => (cursor.day, Some(cursor.part), Some(cursor.index)),
            None => (today, self.last_part(today)?, None),
        };
        let mut empty_days = 0;
        loop {
            if let Some(current_part) = part {
                let document: AuditDocument =
                    self.repository
                        .read_or_default(&audit_doc(&self.school, day, current_part))?;
                let stop = end
                    .unwrap_or(document.entries.len())
                    .min(document.entries.len());
                for index in (0..stop).rev() {
                    if entries.len() == limit {
                        return Ok(AuditPage {
                            entries,
                            next: Some(AuditCursor {
                                day,
                                part: current_part,
                                index: index + 1,
                            }),
                        });
                    }
                    entries.push(document.entries[index].clone());
                    empty_days = 0;
                }
                part = current_part.checked_sub(1);
                end = None;
                continue;
            }
            empty_days += 1;
            if empty_days > MAX_AUDIT_DAYS_SCANNED {
                return Ok(AuditPage {
                    entries,
                    next: None,
                });
            }
            let Some(previous) = day.previous_day() else {
                return Ok(AuditPage {
                    entries,
                    next: None,
                });
            };
            day = previous;
            part = self.last_part(day)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::audit::AuditEvent;
    use crate::model::catalogue::ReleasableClaim;

    const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

    fn log(dir: &tempfile::TempDir) -> AuditLog {
        let store = sync_store::SledStore::open(dir.path()).expect("store");
        let (notices, _) = tokio::sync::mpsc::channel(16);
        AuditLog::new(
            Arc::new(Repository::new(store, notices)),
            "30076".parse().expect("school"),
        )
    }

    fn entry(at: i64, user: &str) -> AuditEntry {
        AuditEntry {
            at: NodeTime(at),
            event: AuditEvent::Grant,
            user: user.to_owned(),
            service: "tool".to_owned(),
            claims: vec![ReleasableClaim::Profile],
            records: None,
            detail: None,
        }
    }

    #[test]
    fn oidc_audit_pages_run_newest_first_across_days_and_quiet_gaps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = log(&dir);
        let first_day = 1_795_000_000_000;
        // Two entries on one day, one a month later, two more the day after that.
        let times = [
            (first_day, "U1"),
            (first_day + 1, "U2"),
            (first_day + 30 * DAY_MILLIS, "U3"),
            (first_day + 31 * DAY_MILLIS, "U4"),
            (first_day + 31 * DAY_MILLIS + 1, "U5"),
        ];
        for (at, user) in times {
            log.record(entry(at, user)).expect("recorded");
        }
        let today = day_of(NodeTime(first_day + 33 * DAY_MILLIS));
        let mut users = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = log.page(cursor, 2, today).expect("page");
            assert!(page.entries.len() <= 2);
            users.extend(page.entries.iter().map(|entry| entry.user.clone()));
            pages += 1;
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(pages < 10, "paging ends");
        }
        assert_eq!(users, ["U5", "U4", "U3", "U2", "U1"]);
        let page = log
            .page(None, 10, day_of(NodeTime(first_day - DAY_MILLIS)))
            .expect("page");
        assert!(page.entries.is_empty(), "nothing before the first entry");
    }

    #[test]
    fn oidc_audit_cursors_round_trip_and_refuse_garbage() {
        let cursor = AuditCursor {
            day: time::macros::date!(2026 - 11 - 27),
            part: 3,
            index: 1999,
        };
        assert_eq!(cursor.to_string(), "20261127-3-1999");
        assert_eq!(cursor.to_string().parse(), Ok(cursor));
        for bad in [
            "",
            "2026-11-27",
            "20261327-0-0",
            "20261127-0",
            "20261127-64-0",
            "20261127-0-0-0",
            "2026112x-0-0",
            "20261127--1-0",
        ] {
            assert!(bad.parse::<AuditCursor>().is_err(), "{bad}");
        }
        assert_eq!(
            day_of(NodeTime(1_795_000_000_000)),
            time::macros::date!(2026 - 11 - 18)
        );
    }
}
