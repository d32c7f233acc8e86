//! [`Access`]: one caller and the roster, asking the [`policy`](crate::school::policy) what the
//! caller may do.

use std::sync::Arc;

use crate::auth::Caller;
use crate::model::UserRole;
use crate::model::roster::ClassDocument;
use crate::school::error::ServiceError;
use crate::school::policy::{Action, Relation, Standing, permits};
use crate::school::roster_index::RosterIndex;
use crate::school::runtime::blocking;
use crate::state::AppState;

/// What an action touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'name> {
    School,
    Class(&'name str),
    Pupil(&'name str),
    PupilInClass {
        pupil: &'name str,
        class: &'name str,
    },
    /// A person of the school, by user id (someone to write to).
    Person(&'name str),
    /// Something the named user wrote (an announcement).
    WrittenBy(&'name str),
}

/// One caller's standing in the school, for deciding what they may do.
#[derive(Debug)]
pub struct Access<'caller> {
    pub caller: &'caller Caller,
    pub roster: Arc<RosterIndex>,
}

impl<'caller> Access<'caller> {
    pub fn new(caller: &'caller Caller, roster: Arc<RosterIndex>) -> Self {
        Self { caller, roster }
    }

    pub fn me(&self) -> &str {
        &self.caller.user_id
    }

    pub fn has_role(&self, role: UserRole) -> bool {
        self.caller.roles.contains(&role)
    }

    /// How the caller stands to `target`, from the roster.
    pub fn relation_to(&self, target: Target<'_>) -> Relation {
        Self::relation_in(&self.roster, self.me(), target)
    }

    /// How `me` stands to `target` in `roster`.
    pub fn relation_in(roster: &RosterIndex, me: &str, target: Target<'_>) -> Relation {
        let class_facts = |class: &str| {
            let guardian_of_class_pupil = roster.children.get(me).is_some_and(|children| {
                children
                    .iter()
                    .any(|child| roster.attends(child.as_str(), class))
            });
            Relation {
                attends_class: roster.attends(me, class),
                teaches_class: roster.teaches(me, class),
                guardian_of_class_pupil,
                ..Relation::default()
            }
        };
        let pupil_facts = |pupil: &str| Relation {
            is_the_pupil: me == pupil,
            guardian_of_pupil: roster.is_guardian_of(me, pupil),
            teaches_pupil: roster.teaches_pupil(me, pupil),
            ..Relation::default()
        };
        match target {
            Target::School => Relation::default(),
            Target::Class(class) => class_facts(class),
            Target::Pupil(pupil) => pupil_facts(pupil),
            Target::PupilInClass { pupil, class } => Relation {
                is_the_pupil: me == pupil,
                guardian_of_pupil: roster.is_guardian_of(me, pupil),
                teaches_pupil: roster.teaches_pupil(me, pupil),
                ..class_facts(class)
            },
            Target::Person(person) => Relation {
                person_is_school_adult: roster.users.user(person).is_some_and(|user| {
                    user.enabled && Standing::of(&user.roles) == Some(Standing::SchoolAdult)
                }),
                ..Relation::default()
            },
            Target::WrittenBy(author) => Relation {
                is_the_author: me == author,
                ..Relation::default()
            },
        }
    }

    /// Whether the caller may take `action` on `target`: what a page asks before it shows a
    /// button or a form.
    pub fn may(&self, action: Action, target: Target<'_>) -> bool {
        permits(action, &self.caller.roles, self.relation_to(target))
    }

    /// Refuses with 403 unless the caller may take `action` on `target`.
    pub fn require(&self, action: Action, target: Target<'_>) -> Result<(), ServiceError> {
        if self.may(action, target) {
            return Ok(());
        }
        let about = match target {
            Target::School => String::new(),
            Target::Class(class) => format!(" (class {class:?})"),
            Target::Pupil(pupil) => format!(" (pupil {pupil:?})"),
            Target::PupilInClass { pupil, class } => {
                format!(" (pupil {pupil:?} in class {class:?})")
            }
            // Naming the person would tell whoever probes ids who exists; the author is named
            // by the announcement already.
            Target::Person(_) | Target::WrittenBy(_) => String::new(),
        };
        Err(ServiceError::Forbidden(format!(
            "{}{about}",
            action.refusal()
        )))
    }

    /// Staff and administrators see every class and pupil of the school (read only, unless an
    /// operation says otherwise).
    pub fn is_school_wide(&self) -> bool {
        self.may(Action::ReadSchoolWide, Target::School)
    }

    /// The class exists (and is not removed); 404 otherwise.
    pub fn class(&self, class: &str) -> Result<&ClassDocument, ServiceError> {
        self.roster
            .classes
            .get(class)
            .ok_or_else(|| ServiceError::NotFound(format!("class {class:?} does not exist")))
    }

    /// Members, their guardians, and school-wide staff may read a class's shared material.
    pub fn require_class_reader(&self, class: &str) -> Result<(), ServiceError> {
        self.class(class)?;
        self.require(Action::ReadClass, Target::Class(class))
    }

    /// Only the class's own teachers change what belongs to the class.
    pub fn require_teacher_of(&self, class: &str) -> Result<(), ServiceError> {
        self.class(class)?;
        self.require(Action::TeachClass, Target::Class(class))
    }

    /// A pupil's own records: the pupil, their guardians, teachers of a class they attend, and
    /// school-wide staff.
    pub fn require_pupil_reader(&self, pupil: &str) -> Result<(), ServiceError> {
        self.require(Action::ReadPupilRecords, Target::Pupil(pupil))
    }

    /// A role, for the few operations that ask for one before they know their target (a
    /// teacher's list of their own classes' pupils).
    pub fn require_role(&self, role: UserRole) -> Result<(), ServiceError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )))
        }
    }
}

/// The pupil exists in the roster as a pupil; otherwise 404.
pub fn require_known_pupil(roster: &RosterIndex, pupil: &str) -> Result<(), ServiceError> {
    match roster.users.user(pupil) {
        Some(user) if user.has_role(UserRole::Pupil) => Ok(()),
        _ => Err(ServiceError::NotFound(format!(
            "pupil {pupil:?} does not exist"
        ))),
    }
}

/// The current roster index: at once when nothing changed, else checked (and rebuilt when a
/// roster document changed) on the blocking pool.
pub async fn roster_index(state: &AppState) -> Result<Arc<RosterIndex>, ServiceError> {
    if let Some(index) = state.roster.get_if_unchanged() {
        return Ok(index);
    }
    let repository = state.repository.clone();
    let cache = state.roster.clone();
    let school = state.identity.school.clone();
    blocking(move || cache.get(&repository, &school)).await
}
