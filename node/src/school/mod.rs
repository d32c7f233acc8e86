//! The school's application layer: the operations pupils, teachers, guardians and school IT
//! perform, as typed functions that every edge of the node calls — the JSON API (`crate::api`),
//! the web pages (`crate::web`), the OpenID Provider, LTI, OneRoster and the admin CLI.
//!
//! An operation takes the caller's [`Access`] and typed inputs, decides what the caller may do
//! with the one [`policy`], reads and writes the documents through the repository, and answers
//! with typed views or a [`ServiceError`] that names the field it is about. It knows nothing of
//! HTTP: the edges turn its answers into JSON, pages or redirects.
//!
//! The node's imports run one way: edges → this layer → model, repository and store
//! (`node/tests/import_graph.rs` fails on a cycle). Resources move here one at a time; those not
//! yet moved keep their operations in their `crate::api` module. Moved so far: assignments and
//! submissions, attendance and absences, materials, messages, announcements, files, timetables
//! (with the school's calendar), the roster and its administration, services and tools, the
//! audit log.
//!
//! Modules that [`crate::state::AppState`] holds (the roster index, the tools cache, the audit
//! log) import neither the state nor this module's re-exports: they name `error`, `runtime` and
//! each other by path, so the state never reaches back into an operation.

pub mod access;
pub mod announcements;
pub mod assignments;
pub mod attendance;
pub mod audit;
pub mod audit_log;
pub mod calendar;
pub mod error;
pub mod files;
pub mod materials;
pub mod messages;
pub mod policy;
pub mod roster;
pub mod roster_index;
pub mod runtime;
pub mod services;
pub mod timetable;
pub mod tools;

pub use self::access::{Access, Target, roster_index};
pub use self::error::{Problem, ServiceError};
pub use self::roster_index::{RosterCache, RosterIndex};
pub use self::runtime::{blocking, node_now};
