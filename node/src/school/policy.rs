//! The one permission policy of the node: which [`Action`] a caller may take, decided from their
//! roles and their [`Relation`] to what the action touches.
//!
//! [`permits`] is the only place a permission is decided. Operations enforce it through
//! [`crate::school::Access::require`]; pages ask [`crate::school::Access::may`] which buttons to
//! show, so a page never shows what the operation behind it would refuse. The table test below
//! states every action × role × relation; changing a permission means changing a row there.

use crate::model::UserRole;

/// Something a caller wants to do, named by what it touches. Each names its target kind: a class,
/// a pupil, a pupil in a class, the school, a person, or something a person wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read a class's shared material: its assignments, announcements, materials and tools.
    ReadClass,
    /// Change what belongs to a class day to day: announcements, materials, tools.
    TeachClass,
    /// Set and review a class's work: create and edit assignments, grant extensions, see and
    /// return submissions. Needs the teacher role, not only a place among the class's teachers.
    SetClassWork,
    /// Change a class's timetable.
    EditClassTimetable,
    /// Save and submit one's own work for an assignment of the class.
    SubmitOwnWork,
    /// Read a pupil's records: timetable, attendance, absences.
    ReadPupilRecords,
    /// Read a pupil's work in one class: their submissions, extensions, grades and feedback there.
    /// A pupil's work overview and their grades and feedback are decided by it class by class.
    /// (A teacher of the pupil's other classes reads the pupil's records but not their work in
    /// this class.)
    ReadPupilWorkInClass,
    /// Report and explain a pupil's absences.
    ExplainPupilAbsence,
    /// See who the pupils of a class are (every member of a class sees its teachers).
    ListClassPupils,
    /// Mark pupils' attendance at the class's lessons: the class's teachers, and administrators
    /// correcting the record.
    MarkClassAttendance,
    /// Read a class's attendance on a date (its lessons, marks and the reports covering it): the
    /// class's teachers and school staff.
    ReadClassAttendance,
    /// Clear a guardian's absence report in one class of the pupil: a guardian of the pupil (their
    /// explanation), or a teacher of that class (accepting the report for it). A place among the
    /// class's teachers is enough, as for the class's other day-to-day records.
    ClearPupilAbsenceReport,
    /// See whose absences crossed an alert threshold: school staff and administrators for the whole
    /// school, teachers for the pupils of their own classes (the operation picks which pupils).
    ReadAbsenceAlerts,
    /// Read every class and pupil of the school.
    ReadSchoolWide,
    /// Administer the school: its services, accounts and settings.
    AdministerSchool,
    /// Start a conversation (a message thread) with a person of the school. These are
    /// safeguarding rules: the school's adults write to anyone of the school, pupils and guardians
    /// only to the school's adults, so the platform never becomes a private channel between a
    /// child and someone the school has not vetted. (Who else a thread may hold is the thread's
    /// own rule, in `crate::school::messages`.)
    StartConversation,
    /// Announce to the whole school.
    AnnounceToSchool,
    /// Withdraw an announcement of the school or of a class: its author, or an administrator.
    WithdrawAnnouncement,
}

impl Action {
    /// Every action, for tables and tests.
    pub const ALL: [Action; 18] = [
        Action::ReadClass,
        Action::TeachClass,
        Action::SetClassWork,
        Action::EditClassTimetable,
        Action::SubmitOwnWork,
        Action::ReadPupilRecords,
        Action::ReadPupilWorkInClass,
        Action::ExplainPupilAbsence,
        Action::ListClassPupils,
        Action::MarkClassAttendance,
        Action::ReadClassAttendance,
        Action::ClearPupilAbsenceReport,
        Action::ReadAbsenceAlerts,
        Action::ReadSchoolWide,
        Action::AdministerSchool,
        Action::StartConversation,
        Action::AnnounceToSchool,
        Action::WithdrawAnnouncement,
    ];

    /// Why the action was refused, in the words the API answers with.
    pub fn refusal(self) -> &'static str {
        match self {
            Action::ReadClass => {
                "only members of the class, their guardians and school staff may see this"
            }
            Action::TeachClass => "only teachers of the class may do this",
            Action::SetClassWork => "only teachers of the class may do this",
            Action::EditClassTimetable => {
                "only school staff, administrators and teachers of the class may change its \
                 timetable"
            }
            Action::SubmitOwnWork => "only pupils of the class submit work for its assignments",
            Action::ReadPupilRecords => {
                "only the pupil, their guardians, their teachers and school staff may see this"
            }
            Action::ReadPupilWorkInClass => {
                "only the pupil, their guardians, the class's teachers and school staff may see \
                 this pupil's work"
            }
            Action::ExplainPupilAbsence => {
                "only a guardian of the pupil may report or explain their absences"
            }
            Action::ListClassPupils => {
                "only the class's teachers, school staff and administrators see its pupils"
            }
            // The refusals the attendance routes answered with before these actions had names.
            Action::MarkClassAttendance | Action::ReadClassAttendance => {
                "only teachers of the class may do this"
            }
            Action::ClearPupilAbsenceReport => {
                "only a guardian of the pupil or a teacher of their classes may clear their \
                 absence reports"
            }
            Action::ReadAbsenceAlerts => "this needs the teacher role",
            Action::ReadSchoolWide => "only school staff and administrators may see this",
            Action::AdministerSchool => "this needs the admin role",
            // One text that names no one: it is also the answer for a person who is no user of
            // the school, so that probing ids tells a pupil nothing about who exists.
            Action::StartConversation => {
                "you may not start a conversation with everyone named: pupils and guardians write \
                 to the school's teachers, staff and administrators, and every participant must be \
                 a user of this school"
            }
            Action::AnnounceToSchool => {
                "only staff and administrators announce to the whole school"
            }
            Action::WithdrawAnnouncement => {
                "only its author or an administrator may withdraw an announcement"
            }
        }
    }
}

/// How the caller stands to what an action touches, read from the roster. A fact that does not
/// apply to the action's target (a pupil's guardian, for a class) is false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relation {
    /// The caller is one of the class's pupils.
    pub attends_class: bool,
    /// The caller is one of the class's teachers.
    pub teaches_class: bool,
    /// The caller is a guardian of one of the class's pupils.
    pub guardian_of_class_pupil: bool,
    /// The caller is the pupil the action is about.
    pub is_the_pupil: bool,
    /// The caller is a guardian of the pupil the action is about.
    pub guardian_of_pupil: bool,
    /// The caller teaches a class the pupil attends.
    pub teaches_pupil: bool,
    /// The person the action is about is one of the school's adults: an enabled user holding
    /// the teacher, staff or admin role ([`Standing::SchoolAdult`]).
    pub person_is_school_adult: bool,
    /// The caller wrote what the action is about.
    pub is_the_author: bool,
}

/// How the safeguarding rules of messages see a person: by the most trusted role they hold at
/// the school, so a teacher who is also a guardian counts as a teacher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Holds the teacher, staff or admin role.
    SchoolAdult,
    Pupil,
    Guardian,
}

impl Standing {
    /// `None` for someone who holds none of the school's roles.
    pub fn of(roles: &[UserRole]) -> Option<Standing> {
        let has = |role| roles.contains(&role);
        if has(UserRole::Teacher) || has(UserRole::Staff) || has(UserRole::Admin) {
            Some(Standing::SchoolAdult)
        } else if has(UserRole::Pupil) {
            Some(Standing::Pupil)
        } else if has(UserRole::Guardian) {
            Some(Standing::Guardian)
        } else {
            None
        }
    }
}

/// Whether a caller with `roles`, standing to the target as `relation` says, may take `action`.
pub fn permits(action: Action, roles: &[UserRole], relation: Relation) -> bool {
    let has = |role: UserRole| roles.contains(&role);
    // Staff and administrators see every class and pupil of the school, read only.
    let school_wide = has(UserRole::Staff) || has(UserRole::Admin);
    match action {
        Action::ReadClass => {
            relation.attends_class
                || relation.teaches_class
                || relation.guardian_of_class_pupil
                || school_wide
        }
        Action::TeachClass => relation.teaches_class,
        Action::SetClassWork => has(UserRole::Teacher) && relation.teaches_class,
        Action::EditClassTimetable => relation.teaches_class || school_wide,
        Action::SubmitOwnWork => has(UserRole::Pupil) && relation.attends_class,
        Action::ReadPupilRecords => {
            relation.is_the_pupil
                || relation.guardian_of_pupil
                || relation.teaches_pupil
                || school_wide
        }
        Action::ReadPupilWorkInClass => {
            relation.is_the_pupil
                || relation.guardian_of_pupil
                || relation.teaches_class
                || school_wide
        }
        Action::ExplainPupilAbsence => has(UserRole::Guardian) && relation.guardian_of_pupil,
        Action::ListClassPupils => relation.teaches_class || school_wide,
        Action::MarkClassAttendance => relation.teaches_class || has(UserRole::Admin),
        Action::ReadClassAttendance => relation.teaches_class || school_wide,
        Action::ClearPupilAbsenceReport => {
            (has(UserRole::Guardian) && relation.guardian_of_pupil) || relation.teaches_class
        }
        Action::ReadAbsenceAlerts => school_wide || has(UserRole::Teacher),
        Action::ReadSchoolWide => school_wide,
        Action::AdministerSchool => has(UserRole::Admin),
        Action::StartConversation => match Standing::of(roles) {
            Some(Standing::SchoolAdult) => true,
            Some(Standing::Pupil | Standing::Guardian) => relation.person_is_school_adult,
            None => false,
        },
        Action::AnnounceToSchool => school_wide,
        Action::WithdrawAnnouncement => relation.is_the_author || has(UserRole::Admin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relations a test caller can have, one fact at a time, and none.
    const RELATIONS: [(&str, Relation); 9] = [
        ("none", NONE),
        (
            "attends class",
            Relation {
                attends_class: true,
                ..NONE
            },
        ),
        (
            "teaches class",
            Relation {
                teaches_class: true,
                ..NONE
            },
        ),
        (
            "guardian of a class pupil",
            Relation {
                guardian_of_class_pupil: true,
                ..NONE
            },
        ),
        (
            "is the pupil",
            Relation {
                is_the_pupil: true,
                ..NONE
            },
        ),
        (
            "guardian of the pupil",
            Relation {
                guardian_of_pupil: true,
                ..NONE
            },
        ),
        (
            "teaches the pupil",
            Relation {
                teaches_pupil: true,
                ..NONE
            },
        ),
        (
            "writes to a school adult",
            Relation {
                person_is_school_adult: true,
                ..NONE
            },
        ),
        (
            "is the author",
            Relation {
                is_the_author: true,
                ..NONE
            },
        ),
    ];
    const NONE: Relation = Relation {
        attends_class: false,
        teaches_class: false,
        guardian_of_class_pupil: false,
        is_the_pupil: false,
        guardian_of_pupil: false,
        teaches_pupil: false,
        person_is_school_adult: false,
        is_the_author: false,
    };
    const ROLES: [(&str, UserRole); 5] = [
        ("pupil", UserRole::Pupil),
        ("teacher", UserRole::Teacher),
        ("guardian", UserRole::Guardian),
        ("staff", UserRole::Staff),
        ("admin", UserRole::Admin),
    ];

    /// Every permitted (role, relation) pair of each action; everything not listed is refused.
    /// `*` as the relation means "with any relation, or none".
    const PERMITTED: [(Action, &[(&str, &str)]); 18] = [
        (
            Action::ReadClass,
            &[
                ("pupil", "attends class"),
                ("pupil", "teaches class"),
                ("pupil", "guardian of a class pupil"),
                ("teacher", "attends class"),
                ("teacher", "teaches class"),
                ("teacher", "guardian of a class pupil"),
                ("guardian", "attends class"),
                ("guardian", "teaches class"),
                ("guardian", "guardian of a class pupil"),
                ("staff", "*"),
                ("admin", "*"),
            ],
        ),
        (
            Action::TeachClass,
            &[
                ("pupil", "teaches class"),
                ("teacher", "teaches class"),
                ("guardian", "teaches class"),
                ("staff", "teaches class"),
                ("admin", "teaches class"),
            ],
        ),
        (Action::SetClassWork, &[("teacher", "teaches class")]),
        (
            Action::EditClassTimetable,
            &[
                ("pupil", "teaches class"),
                ("teacher", "teaches class"),
                ("guardian", "teaches class"),
                ("staff", "*"),
                ("admin", "*"),
            ],
        ),
        (Action::SubmitOwnWork, &[("pupil", "attends class")]),
        (
            Action::ReadPupilRecords,
            &[
                ("pupil", "is the pupil"),
                ("pupil", "guardian of the pupil"),
                ("pupil", "teaches the pupil"),
                ("teacher", "is the pupil"),
                ("teacher", "guardian of the pupil"),
                ("teacher", "teaches the pupil"),
                ("guardian", "is the pupil"),
                ("guardian", "guardian of the pupil"),
                ("guardian", "teaches the pupil"),
                ("staff", "*"),
                ("admin", "*"),
            ],
        ),
        (
            Action::ReadPupilWorkInClass,
            &[
                ("pupil", "is the pupil"),
                ("pupil", "guardian of the pupil"),
                ("pupil", "teaches class"),
                ("teacher", "is the pupil"),
                ("teacher", "guardian of the pupil"),
                ("teacher", "teaches class"),
                ("guardian", "is the pupil"),
                ("guardian", "guardian of the pupil"),
                ("guardian", "teaches class"),
                ("staff", "*"),
                ("admin", "*"),
            ],
        ),
        (
            Action::ExplainPupilAbsence,
            &[("guardian", "guardian of the pupil")],
        ),
        (
            Action::MarkClassAttendance,
            &[
                ("pupil", "teaches class"),
                ("teacher", "teaches class"),
                ("guardian", "teaches class"),
                ("staff", "teaches class"),
                ("admin", "*"),
            ],
        ),
        (
            Action::ReadClassAttendance,
            &[
                ("pupil", "teaches class"),
                ("teacher", "teaches class"),
                ("guardian", "teaches class"),
                ("staff", "*"),
                ("admin", "*"),
            ],
        ),
        (
            Action::ClearPupilAbsenceReport,
            &[
                ("pupil", "teaches class"),
                ("teacher", "teaches class"),
                ("guardian", "teaches class"),
                ("guardian", "guardian of the pupil"),
                ("staff", "teaches class"),
                ("admin", "teaches class"),
            ],
        ),
        (
            Action::ReadAbsenceAlerts,
            &[("teacher", "*"), ("staff", "*"), ("admin", "*")],
        ),
        (
            Action::ListClassPupils,
            &[
                ("pupil", "teaches class"),
                ("teacher", "teaches class"),
                ("guardian", "teaches class"),
                ("staff", "*"),
                ("admin", "*"),
            ],
        ),
        (Action::ReadSchoolWide, &[("staff", "*"), ("admin", "*")]),
        (Action::AdministerSchool, &[("admin", "*")]),
        (
            Action::StartConversation,
            &[
                ("pupil", "writes to a school adult"),
                ("teacher", "*"),
                ("guardian", "writes to a school adult"),
                ("staff", "*"),
                ("admin", "*"),
            ],
        ),
        (Action::AnnounceToSchool, &[("staff", "*"), ("admin", "*")]),
        (
            Action::WithdrawAnnouncement,
            &[
                ("pupil", "is the author"),
                ("teacher", "is the author"),
                ("guardian", "is the author"),
                ("staff", "is the author"),
                ("admin", "*"),
            ],
        ),
    ];

    #[test]
    fn every_action_role_and_relation_is_decided_as_the_table_says() {
        assert_eq!(PERMITTED.len(), Action::ALL.len());
        let mut mismatches = Vec::new();
        for action in Action::ALL {
            let permitted = PERMITTED
                .iter()
                .find(|(listed, _)| *listed == action)
                .map(|(_, pairs)| *pairs)
                .unwrap_or_else(|| panic!("{action:?} has no row in the table"));
            for (role_name, role) in ROLES {
                for (relation_name, relation) in RELATIONS {
                    let expected = permitted.iter().any(|(listed_role, listed_relation)| {
                        *listed_role == role_name
                            && (*listed_relation == "*" || *listed_relation == relation_name)
                    });
                    if permits(action, &[role], relation) != expected {
                        mismatches.push(format!(
                            "{action:?} by a {role_name} who {relation_name}: expected {expected}"
                        ));
                    }
                }
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn a_caller_with_no_role_may_do_nothing_school_wide() {
        for action in [
            Action::ReadSchoolWide,
            Action::AdministerSchool,
            Action::AnnounceToSchool,
        ] {
            assert!(!permits(action, &[], NONE));
        }
        assert!(!permits(
            Action::SetClassWork,
            &[],
            Relation {
                teaches_class: true,
                ..NONE
            }
        ));
        // Not even to the school's adults: messages are for people the school knows in a role.
        assert!(!permits(
            Action::StartConversation,
            &[],
            Relation {
                person_is_school_adult: true,
                ..NONE
            }
        ));
    }

    #[test]
    fn the_most_trusted_role_decides_whom_one_may_write_to() {
        // A teacher who is also a guardian writes to pupils as a teacher does; a pupil who is
        // also a guardian (an adult pupil with a child) writes as a pupil.
        let to_a_pupil = NONE;
        assert!(permits(
            Action::StartConversation,
            &[UserRole::Guardian, UserRole::Teacher],
            to_a_pupil
        ));
        assert!(!permits(
            Action::StartConversation,
            &[UserRole::Pupil, UserRole::Guardian],
            to_a_pupil
        ));
    }
}
