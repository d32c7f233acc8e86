//! `school:S/assignments-<class key>`: the index of one class's assignments.
//!
//! An assignment's document is named by its random id only (`school:S/assignment-<id>`), so its
//! class is known only by reading it. Listing from the store's document ids would scan every
//! document id of the school (submissions alone are pupils × assignments, tens of thousands a
//! year) and then read every assignment of the school to learn its class, on every request.
//! Instead each class has this index: assignment id → creation time. A list reads the index, then
//! only the page of assignments it shows. The index is an ordinary document: it syncs like the
//! rest, so a node restored from the relay lists the same assignments, and concurrent creations
//! add different keys of one map, which merge. It holds at most [`MAX_ASSIGNMENTS_PER_CLASS`]
//! entries.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::{DocId, SchoolCode};

use crate::model::common::{
    ItemId, ModelError, NodeTime, claim_identity, school_doc, sourced_id_key,
};

/// Assignments one class's index keeps. A class lasts a school year or two; even daily homework in
/// every lesson stays far below this, and a full index saves to under 20 KB (a unit test measures
/// it).
pub const MAX_ASSIGNMENTS_PER_CLASS: usize = 2_000;

/// `school:S/assignments-<class key>`: the index of one class's assignments.
pub fn class_assignments_doc(school: &SchoolCode, class_sourced_id: &str) -> DocId {
    school_doc(
        school,
        &format!("assignments-{}", sourced_id_key(class_sourced_id)),
    )
}

/// The ids of a class's assignments with their creation times, so a list is ordered and paged
/// without reading the assignments it does not show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct ClassAssignmentsIndex {
    pub class_sourced_id: String,
    /// By assignment id. A map, so that assignments created concurrently merge.
    pub assignments: BTreeMap<String, IndexedAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct IndexedAssignment {
    pub created_at: NodeTime,
}

impl ClassAssignmentsIndex {
    /// Refuses when the index is full and does not hold `id` already.
    pub fn check_room(&self, id: &ItemId) -> Result<(), ModelError> {
        if self.assignments.len() >= MAX_ASSIGNMENTS_PER_CLASS
            && !self.assignments.contains_key(id.as_str())
        {
            Err(ModelError::LimitReached {
                what: "assignments of this class",
                max: MAX_ASSIGNMENTS_PER_CLASS,
            })
        } else {
            Ok(())
        }
    }

    /// Records an assignment of the class (binding a new index to the class).
    pub fn add(
        &mut self,
        class: &str,
        id: &ItemId,
        created_at: NodeTime,
    ) -> Result<(), ModelError> {
        claim_identity(&mut self.class_sourced_id, class, "class")?;
        self.check_room(id)?;
        self.assignments
            .insert(id.to_string(), IndexedAssignment { created_at });
        Ok(())
    }

    /// Up to `limit` ids, newest first, starting after `before` (an id of the index); and the id
    /// to pass as `before` for the next page when there is one. Equal creation times are ordered
    /// by id, so the order is total and pages neither repeat nor skip an assignment.
    pub fn page(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), ModelError> {
        let mut ordered: Vec<(NodeTime, &String)> = self
            .assignments
            .iter()
            .map(|(id, entry)| (entry.created_at, id))
            .collect();
        ordered.sort_unstable_by(|newer, older| older.cmp(newer));
        let start = match before {
            None => 0,
            Some(before) => {
                ordered
                    .iter()
                    .position(|(_, id)| id.as_str() == before)
                    .ok_or_else(|| ModelError::Invalid {
                        field: "before",
                        reason: "it is not an assignment of this class".to_owned(),
                    })?
                    + 1
            }
        };
        let page: Vec<String> = ordered
            .iter()
            .skip(start)
            .take(limit)
            .map(|(_, id)| (*id).clone())
            .collect();
        let next_before = if start + page.len() < ordered.len() {
            page.last().cloned()
        } else {
            None
        };
        Ok((page, next_before))
    }
}

#[cfg(test)]
mod tests {
    use automerge::{ActorId, AutoCommit};

    use super::*;

    /// What a full index may take saved (about 18 KB measured), far below the store's 8 MiB
    /// document bound.
    const MAX_SAVED_INDEX_BYTES: usize = 64 * 1024;

    fn id(text: &str) -> ItemId {
        text.parse().expect("test id")
    }

    fn index_with(entries: &[(&str, i64)]) -> ClassAssignmentsIndex {
        let mut index = ClassAssignmentsIndex::default();
        for (entry, created_at) in entries {
            index
                .add("CLS-7A", &id(entry), NodeTime(*created_at))
                .expect("room");
        }
        index
    }

    #[test]
    fn pages_are_newest_first_and_neither_repeat_nor_skip() {
        let index = index_with(&[
            ("000000000000000a", 10),
            ("000000000000000b", 30),
            ("000000000000000c", 20),
            ("000000000000000d", 30),
        ]);
        let (first, next) = index.page(None, 2).expect("page");
        assert_eq!(first, vec!["000000000000000d", "000000000000000b"]);
        assert_eq!(next.as_deref(), Some("000000000000000b"));
        let (second, next) = index.page(next.as_deref(), 2).expect("page");
        assert_eq!(second, vec!["000000000000000c", "000000000000000a"]);
        assert_eq!(next, None, "the last page says so");
        assert!(index.page(Some("ffffffffffffffff"), 2).is_err());
    }

    #[test]
    fn the_index_belongs_to_one_class_and_is_bounded() {
        let mut index = index_with(&[("000000000000000a", 1)]);
        assert!(matches!(
            index.add("CLS-7B", &id("000000000000000b"), NodeTime(2)),
            Err(ModelError::WrongDocument { .. })
        ));
        // Numbered from 0x10000 so none repeats the first entry's id.
        for number in 0x1_0000..0x1_0000 + MAX_ASSIGNMENTS_PER_CLASS - 1 {
            index
                .add("CLS-7A", &id(&format!("{number:016x}")), NodeTime(3))
                .expect("room");
        }
        assert_eq!(index.assignments.len(), MAX_ASSIGNMENTS_PER_CLASS);
        assert!(matches!(
            index.add("CLS-7A", &id("ffffffffffffffff"), NodeTime(4)),
            Err(ModelError::LimitReached { .. })
        ));
        assert!(
            index.check_room(&id("000000000000000a")).is_ok(),
            "re-adding a listed assignment takes no room"
        );
    }

    #[test]
    fn a_full_index_stays_small() {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT, ReadDoc};
        // One change per creation, as the API writes them, so the saved history is the real one.
        // Written with automerge directly: reconciling the whole index per entry would make this
        // test quadratic.
        let mut document = AutoCommit::new();
        document
            .put(ROOT, "class_sourced_id", "CLS-7A")
            .expect("class");
        let entries = document
            .put_object(ROOT, "assignments", ObjType::Map)
            .expect("map");
        document.commit();
        for number in 0..MAX_ASSIGNMENTS_PER_CLASS {
            let entry = document
                .put_object(&entries, format!("{:016x}", number * 7919), ObjType::Map)
                .expect("entry");
            document
                .put(
                    &entry,
                    "created_at",
                    1_760_000_000_000 + number as i64 * 60_000,
                )
                .expect("time");
            document.commit();
        }
        let index: ClassAssignmentsIndex = autosurgeon::hydrate(&document).expect("hydrate");
        assert_eq!(index.assignments.len(), MAX_ASSIGNMENTS_PER_CLASS);
        assert_eq!(document.length(&entries), MAX_ASSIGNMENTS_PER_CLASS);
        let saved = document.save().len();
        assert!(
            saved < MAX_SAVED_INDEX_BYTES,
            "a full index saves to {saved} bytes"
        );
    }

    #[test]
    fn concurrent_creations_both_stay_listed() {
        let base = index_with(&[("000000000000000a", 1)]);
        let mut first = AutoCommit::new().with_actor(ActorId::random());
        autosurgeon::reconcile(&mut first, &base).expect("reconcile base");
        first.commit();
        let mut second = first.fork().with_actor(ActorId::random());
        for (document, entry) in [
            (&mut first, "000000000000000b"),
            (&mut second, "000000000000000c"),
        ] {
            let mut index: ClassAssignmentsIndex =
                autosurgeon::hydrate(&*document).expect("hydrate");
            index.add("CLS-7A", &id(entry), NodeTime(2)).expect("room");
            autosurgeon::reconcile(document, &index).expect("reconcile");
        }
        first.merge(&mut second).expect("merge");
        let merged: ClassAssignmentsIndex = autosurgeon::hydrate(&first).expect("hydrate merged");
        assert_eq!(merged.assignments.len(), 3);
        assert_eq!(merged.class_sourced_id, "CLS-7A");
    }

    #[test]
    fn index_document_names_are_valid_and_distinct_from_assignments() {
        let school: SchoolCode = "30076".parse().expect("school");
        let doc = class_assignments_doc(&school, "{CLASS 7A/Math}");
        assert_eq!(
            doc.to_string(),
            format!(
                "school:30076/assignments-{}",
                sourced_id_key("{CLASS 7A/Math}")
            )
        );
        assert!(!doc.name().starts_with("assignment-"));
    }
}
