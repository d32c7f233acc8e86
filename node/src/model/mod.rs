//! The school's data as automerge documents. See `node/DATA-MODEL.md` for every document kind: its
//! scope, its fields, its size bound and its lifetime.
//!
//! Each submodule defines plain Rust types mapped onto documents with autosurgeon (`Hydrate`,
//! `Reconcile`) and the operations on them as ordinary methods that validate their input. Nothing
//! here does IO: the [`crate::repository::Repository`] loads a document, hydrates it, lets an
//! operation change it, reconciles it back and commits the resulting changes durably.

pub mod announcements;
pub mod assignments;
pub mod attendance;
pub mod audit;
pub mod catalogue;
pub mod class_assignments;
pub mod class_tools;
pub mod common;
pub mod credentials;
pub mod inbox;
pub mod materials;
pub mod messages;
pub mod roster;
pub mod timetable;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

/// The roles a user can hold at a school, after OneRoster 1.2's role vocabulary narrowed to what
/// the platform distinguishes. A user may hold several (a teacher who is also a guardian).
/// Stored in documents as the same lowercase words as in JSON.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Hydrate,
    Reconcile,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    #[autosurgeon(rename = "pupil")]
    Pupil,
    #[autosurgeon(rename = "teacher")]
    Teacher,
    #[autosurgeon(rename = "guardian")]
    Guardian,
    #[autosurgeon(rename = "staff")]
    Staff,
    #[autosurgeon(rename = "admin")]
    Admin,
}

impl UserRole {
    pub const ALL: [UserRole; 5] = [
        UserRole::Pupil,
        UserRole::Teacher,
        UserRole::Guardian,
        UserRole::Staff,
        UserRole::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Pupil => "pupil",
            UserRole::Teacher => "teacher",
            UserRole::Guardian => "guardian",
            UserRole::Staff => "staff",
            UserRole::Admin => "admin",
        }
    }
}

/// A user's identifier: the OneRoster `sourcedId` for imported users.
pub type UserId = String;
