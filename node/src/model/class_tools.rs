//! `school:S/tools-<class key>`: the connected services a class's teachers placed in it.
//!
//! The catalogue says what exists and the school's activation what may log users in
//! ([`super::catalogue`]). Which tools a pupil sees on their home page follows the catalogue's
//! category: **own** and **common** services, once activated, are every pupil's and teacher's;
//! **optional** ones are chosen group by group, by placing them here. A placement names only the
//! service: if the school stops using it, the placement stays but shows nothing, and comes back
//! with a new activation.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
use super::common::{ModelError, NodeTime, claim_identity, school_doc, sourced_id, sourced_id_key};

/// Tools placed in one class at most: a group's page lists them all.
pub const MAX_TOOLS_PER_CLASS: usize = 50;

/// `school:S/tools-<class key>`. Not `class-…`: that prefix is the roster's
/// (`school::roster_index::ROSTER_DOCUMENT_NAME_PREFIXES`), and a placement must not make every request rebuild the
/// roster index.
pub fn class_tools_doc(school: &SchoolCode, class_sourced_id: &str) -> DocId {
    school_doc(
        school,
        &format!("tools-{}", sourced_id_key(class_sourced_id)),
    )
}

/// Who placed a tool in the class, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub placed_by: UserId,
    pub placed_at: NodeTime,
}

/// The tools of one class, by catalogue service id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct ClassToolsDocument {
    pub class_sourced_id: String,
    pub placements: BTreeMap<String, Placement>,
}

impl ClassToolsDocument {
    /// Binds a new document to its class, or checks an existing one is the class's.
    pub fn open_for(&mut self, class_sourced_id: &str) -> Result<(), ModelError> {
        claim_identity(&mut self.class_sourced_id, class_sourced_id, "class")
    }

    /// Places the service (placing it again keeps the first placement).
    pub fn place(
        &mut self,
        service_id: &str,
        placed_by: &str,
        now: NodeTime,
    ) -> Result<&Placement, ModelError> {
        let service_id = sourced_id("service", service_id)?;
        if !self.placements.contains_key(&service_id)
            && self.placements.len() >= MAX_TOOLS_PER_CLASS
        {
            return Err(ModelError::LimitReached {
                what: "tools in a class",
                max: MAX_TOOLS_PER_CLASS,
            });
        }
        let placement = Placement {
            placed_by: sourced_id("placed by", placed_by)?,
            placed_at: now,
        };
        Ok(self.placements.entry(service_id).or_insert(placement))
    }

    pub fn remove(&mut self, service_id: &str) -> Result<Placement, ModelError> {
        self.placements
            .remove(service_id)
            .ok_or_else(|| ModelError::NotFound {
                what: "tool in this class",
                id: service_id.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_holds_each_tool_once_and_at_most_the_bound() {
        let mut tools = ClassToolsDocument::default();
        tools.open_for("CLS-7A").expect("new");
        tools.place("kirjasto", "T1", NodeTime(1)).expect("placed");
        let again = tools.place("kirjasto", "T2", NodeTime(2)).expect("again");
        assert_eq!(again.placed_by, "T1", "the first placement stays");
        for number in 1..MAX_TOOLS_PER_CLASS {
            tools
                .place(&format!("tool-{number}"), "T1", NodeTime(3))
                .expect("room");
        }
        assert!(matches!(
            tools.place("one-too-many", "T1", NodeTime(4)),
            Err(ModelError::LimitReached { .. })
        ));
        assert!(tools.remove("kirjasto").is_ok());
        assert!(tools.remove("kirjasto").is_err());
        assert!(tools.open_for("CLS-7B").is_err(), "bound to its class");
    }
}

#[cfg(test)]
mod naming {
    use super::*;

    #[test]
    fn a_class_tools_document_is_not_a_roster_document() {
        let doc = class_tools_doc(&"30076".parse().expect("school"), "CLS-7A");
        assert!(
            crate::school::roster_index::ROSTER_DOCUMENT_NAME_PREFIXES
                .iter()
                .all(|prefix| !doc.name().starts_with(prefix)),
            "{doc}"
        );
    }
}
