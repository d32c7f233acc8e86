//! `school:S/timetable-<class key>-<term key>`: the weekly lessons of one class in one term.
//!
//! A lesson recurs every week of the term on its weekday. Attendance marks refer to a lesson by its
//! id and a date, and copy the lesson's length when marked, so editing the timetable later never
//! changes absence totals already counted.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
use super::common::{
    ClockTime, ItemId, MAX_LABEL_CHARS, ModelError, Weekday, claim_identity, optional_single_line,
    school_doc, sourced_id, sourced_id_key,
};

/// Lessons in one timetable. A class has at most a few dozen lessons a week; the bound stops a
/// runaway client from growing the document.
pub const MAX_LESSONS_PER_TIMETABLE: usize = 100;
/// The longest lesson accepted (a whole-morning workshop); longer entries are mistakes.
pub const MAX_LESSON_MINUTES: u16 = 6 * 60;

/// `school:S/timetable-<class key>-<term key>`, keys by [`sourced_id_key`].
pub fn timetable_doc(school: &SchoolCode, class_sourced_id: &str, term_sourced_id: &str) -> DocId {
    school_doc(
        school,
        &format!(
            "timetable-{}-{}",
            sourced_id_key(class_sourced_id),
            sourced_id_key(term_sourced_id)
        ),
    )
}

/// A weekly lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Lesson {
    pub id: String,
    pub weekday: Weekday,
    pub starts_at: ClockTime,
    pub ends_at: ClockTime,
    pub room: Option<String>,
    pub teacher: UserId,
    /// The course taught, by sourcedId; usually the class's own course.
    pub course_sourced_id: Option<String>,
    /// A subject label when it differs from the course (a combined lesson).
    pub subject: Option<String>,
}

impl Lesson {
    /// The lesson's length in minutes (always positive: [`LessonInput`] checks the end is after the
    /// start).
    pub fn minutes(&self) -> u16 {
        self.ends_at
            .minutes_since_midnight()
            .saturating_sub(self.starts_at.minutes_since_midnight())
    }

    fn overlaps(&self, other: &Lesson) -> bool {
        self.weekday == other.weekday
            && self.starts_at < other.ends_at
            && other.starts_at < self.ends_at
    }
}

/// What a teacher or administrator enters for a lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonInput {
    pub weekday: Weekday,
    pub starts_at: ClockTime,
    pub ends_at: ClockTime,
    pub room: Option<String>,
    pub teacher: UserId,
    pub course_sourced_id: Option<String>,
    pub subject: Option<String>,
}

impl LessonInput {
    fn into_lesson(self, id: String) -> Result<Lesson, ModelError> {
        if self.ends_at <= self.starts_at {
            return Err(ModelError::Invalid {
                field: "ends at",
                reason: format!(
                    "the lesson must end after it starts ({} is not after {})",
                    self.ends_at, self.starts_at
                ),
            });
        }
        let minutes =
            self.ends_at.minutes_since_midnight() - self.starts_at.minutes_since_midnight();
        if minutes > MAX_LESSON_MINUTES {
            return Err(ModelError::Invalid {
                field: "ends at",
                reason: format!(
                    "a lesson lasts at most {MAX_LESSON_MINUTES} minutes, this one {minutes}"
                ),
            });
        }
        let course_sourced_id = match self.course_sourced_id.as_deref() {
            Some(course) => Some(sourced_id("course", course)?),
            None => None,
        };
        Ok(Lesson {
            id,
            weekday: self.weekday,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            room: optional_single_line("room", self.room.as_deref(), MAX_LABEL_CHARS)?,
            teacher: sourced_id("teacher", &self.teacher)?,
            course_sourced_id,
            subject: optional_single_line("subject", self.subject.as_deref(), MAX_LABEL_CHARS)?,
        })
    }
}

/// The timetable document: its class and term, and the lessons by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct TimetableDocument {
    pub class_sourced_id: String,
    pub term_sourced_id: String,
    pub lessons: BTreeMap<String, Lesson>,
}

impl TimetableDocument {
    /// Binds a new document to its class and term, or checks an existing one is theirs.
    pub fn open_for(
        &mut self,
        class_sourced_id: &str,
        term_sourced_id: &str,
    ) -> Result<(), ModelError> {
        claim_identity(&mut self.class_sourced_id, class_sourced_id, "class")?;
        claim_identity(&mut self.term_sourced_id, term_sourced_id, "term")
    }

    /// Adds a lesson. Refused when it overlaps another lesson of the class on the same weekday (a
    /// class is in one place at a time) or when the timetable is full.
    pub fn add_lesson(&mut self, id: &ItemId, input: LessonInput) -> Result<&Lesson, ModelError> {
        if self.lessons.contains_key(id.as_str()) {
            return Err(ModelError::AlreadyExists {
                what: "lesson",
                id: id.to_string(),
            });
        }
        if self.lessons.len() >= MAX_LESSONS_PER_TIMETABLE {
            return Err(ModelError::LimitReached {
                what: "lessons",
                max: MAX_LESSONS_PER_TIMETABLE,
            });
        }
        let lesson = input.into_lesson(id.to_string())?;
        self.check_no_overlap(&lesson)?;
        Ok(self.lessons.entry(id.to_string()).or_insert(lesson))
    }

    /// Replaces a lesson's details, keeping its id (so attendance marks stay attached).
    pub fn update_lesson(&mut self, id: &str, input: LessonInput) -> Result<&Lesson, ModelError> {
        if !self.lessons.contains_key(id) {
            return Err(not_found(id));
        }
        let lesson = input.into_lesson(id.to_owned())?;
        self.check_no_overlap(&lesson)?;
        let slot = self.lessons.get_mut(id).ok_or_else(|| not_found(id))?;
        *slot = lesson;
        Ok(slot)
    }

    pub fn remove_lesson(&mut self, id: &str) -> Result<Lesson, ModelError> {
        self.lessons.remove(id).ok_or_else(|| not_found(id))
    }

    pub fn lesson(&self, id: &str) -> Option<&Lesson> {
        self.lessons.get(id)
    }

    /// The lessons of one weekday in time order.
    pub fn lessons_on(&self, weekday: Weekday) -> Vec<&Lesson> {
        let mut lessons: Vec<&Lesson> = self
            .lessons
            .values()
            .filter(|lesson| lesson.weekday == weekday)
            .collect();
        lessons.sort_by_key(|lesson| (lesson.starts_at, lesson.id.clone()));
        lessons
    }

    fn check_no_overlap(&self, lesson: &Lesson) -> Result<(), ModelError> {
        match self
            .lessons
            .values()
            .find(|other| other.id != lesson.id && other.overlaps(lesson))
        {
            Some(other) => Err(ModelError::Conflict(format!(
                "the lesson overlaps lesson {} ({}–{}) on the same weekday",
                other.id, other.starts_at, other.ends_at
            ))),
            None => Ok(()),
        }
    }
}

fn not_found(id: &str) -> ModelError {
    ModelError::NotFound {
        what: "lesson",
        id: id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    fn input(weekday: Weekday, starts: &str, ends: &str) -> LessonInput {
        LessonInput {
            weekday,
            starts_at: clock(starts),
            ends_at: clock(ends),
            room: Some("B204".to_owned()),
            teacher: "T1".to_owned(),
            course_sourced_id: Some("CRS-MA7".to_owned()),
            subject: None,
        }
    }

    fn timetable() -> TimetableDocument {
        let mut timetable = TimetableDocument::default();
        timetable.open_for("CLS-7A", "TERM-1").expect("new");
        timetable
            .add_lesson(
                &id("00000000000000a1"),
                input(Weekday::Monday, "08:15", "09:00"),
            )
            .expect("valid");
        timetable
            .add_lesson(
                &id("00000000000000a2"),
                input(Weekday::Wednesday, "10:00", "11:30"),
            )
            .expect("valid");
        timetable
    }

    #[test]
    fn the_document_id_names_class_and_term_keys() {
        let doc = timetable_doc(&school(), "CLS-7A", "TERM-1");
        assert_eq!(
            doc.name(),
            format!(
                "timetable-{}-{}",
                sourced_id_key("CLS-7A"),
                sourced_id_key("TERM-1")
            )
        );
    }

    #[test]
    fn lessons_must_end_after_they_start_and_not_overlap() {
        let mut timetable = timetable();
        assert_eq!(timetable.lessons["00000000000000a1"].minutes(), 45);
        let backwards = timetable.add_lesson(
            &id("00000000000000b1"),
            input(Weekday::Friday, "10:00", "09:00"),
        );
        assert!(matches!(
            backwards,
            Err(ModelError::Invalid {
                field: "ends at",
                ..
            })
        ));
        let empty = timetable.add_lesson(
            &id("00000000000000b2"),
            input(Weekday::Friday, "10:00", "10:00"),
        );
        assert!(empty.is_err());
        let overlapping = timetable.add_lesson(
            &id("00000000000000b3"),
            input(Weekday::Monday, "08:45", "09:30"),
        );
        assert!(matches!(overlapping, Err(ModelError::Conflict(_))));
        // Back to back is not an overlap, and weekends are allowed.
        assert!(
            timetable
                .add_lesson(
                    &id("00000000000000b4"),
                    input(Weekday::Monday, "09:00", "09:45")
                )
                .is_ok()
        );
        assert!(
            timetable
                .add_lesson(
                    &id("00000000000000b5"),
                    input(Weekday::Saturday, "09:00", "12:00")
                )
                .is_ok()
        );
        let ordered: Vec<&str> = timetable
            .lessons_on(Weekday::Monday)
            .iter()
            .map(|lesson| lesson.id.as_str())
            .collect();
        assert_eq!(ordered, ["00000000000000a1", "00000000000000b4"]);
    }

    #[test]
    fn a_document_stays_bound_to_its_class_and_term() {
        let mut timetable = timetable();
        assert!(timetable.open_for("CLS-7A", "TERM-1").is_ok());
        assert!(matches!(
            timetable.open_for("CLS-7B", "TERM-1"),
            Err(ModelError::WrongDocument { .. })
        ));
    }

    #[test]
    fn updating_and_removing_lessons() {
        let mut timetable = timetable();
        let updated = timetable
            .update_lesson("00000000000000a1", input(Weekday::Monday, "08:30", "09:15"))
            .expect("valid");
        assert_eq!(updated.starts_at, clock("08:30"));
        assert!(
            timetable
                .update_lesson("00000000000000ff", input(Weekday::Monday, "08:30", "09:15"))
                .is_err()
        );
        assert!(timetable.remove_lesson("00000000000000a2").is_ok());
        assert!(timetable.remove_lesson("00000000000000a2").is_err());
    }

    #[test]
    fn timetables_round_trip_and_merge_concurrent_lessons() {
        let base = timetable();
        assert_round_trip(&base);
        let merged = merge_concurrent(
            &base,
            |timetable| {
                timetable
                    .add_lesson(
                        &id("00000000000000c1"),
                        input(Weekday::Tuesday, "12:00", "12:45"),
                    )
                    .expect("valid");
            },
            |timetable| {
                timetable
                    .update_lesson(
                        "00000000000000a2",
                        input(Weekday::Wednesday, "10:15", "11:45"),
                    )
                    .expect("valid");
            },
        );
        assert_eq!(merged.lessons.len(), 3);
        assert_eq!(merged.lessons["00000000000000a2"].starts_at, clock("10:15"));
    }
}
