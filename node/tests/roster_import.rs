//! The roster import against the OneRoster 1.2 fixtures in `tests/fixtures/oneroster/`: a bulk
//! package for school 30076, a delta package on top of it, and broken packages that must be
//! refused with exact `file:line` errors and no plan. Variations are made on copies of the bulk
//! package in temporary directories.

use std::path::{Path, PathBuf};

use node::model::UserRole;
use node::model::roster::{
    ClassDocument, EnrollmentRole, RosterUsersDocument, class_doc, roster_org_doc, roster_users_doc,
};
use node::repository::Repository;
use node::roster_import::{
    CurrentRoster, FileMode, ImportErrors, ImportPlan, RosterDocument, plan_import,
};
use sync_protocol::ids::SchoolCode;
use sync_store::SledStore;

fn school() -> SchoolCode {
    "30076".parse().expect("school code")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oneroster")
        .join(name)
}

fn plan(dir: &Path, current: &CurrentRoster) -> Result<ImportPlan, ImportErrors> {
    plan_import(dir, &school(), current)
}

/// The errors of a package that must be refused.
#[track_caller]
fn refused(dir: &Path, current: &CurrentRoster) -> Vec<String> {
    match plan(dir, current) {
        Ok(plan) => panic!(
            "the package was accepted with {} documents",
            plan.documents.len()
        ),
        Err(errors) => {
            assert_eq!(errors.omitted, 0);
            errors.lines()
        }
    }
}

/// The roster after importing the bulk fixture onto an empty one.
fn after_bulk() -> CurrentRoster {
    let mut current = CurrentRoster::default();
    let bulk = plan(&fixture("bulk"), &current).expect("the bulk package is valid");
    current.apply(&bulk);
    current
}

/// A copy of a fixture package to change.
fn copy_of(name: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temporary directory");
    for entry in std::fs::read_dir(fixture(name)).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).expect("copy");
    }
    copy
}

/// Replaces `from` by `to` on one line (1-based) of a package file.
#[track_caller]
fn edit_line(dir: &Path, file: &str, line: usize, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("fixture file");
    let mut lines: Vec<String> = text.split('\n').map(ToOwned::to_owned).collect();
    assert!(
        lines[line - 1].contains(from),
        "{file}:{line} has no {from:?}: {}",
        lines[line - 1]
    );
    lines[line - 1] = lines[line - 1].replacen(from, to, 1);
    std::fs::write(&path, lines.join("\n")).expect("write");
}

/// Removes the lines containing any of `needles` from a package file.
fn remove_lines(dir: &Path, file: &str, needles: &[&str]) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("fixture file");
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|line| !needles.iter().any(|needle| line.contains(needle)))
        .collect();
    std::fs::write(&path, kept.join("\n")).expect("write");
}

/// A package directory holding a manifest with the given modes (other roster files absent) and the
/// given files.
fn delta_package(modes: &[(&str, &str)], files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut manifest =
        String::from("propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\n");
    for file in [
        "academicSessions",
        "classes",
        "courses",
        "enrollments",
        "orgs",
        "roles",
        "users",
    ] {
        let mode = modes
            .iter()
            .find(|(name, _)| *name == file)
            .map_or("absent", |(_, mode)| *mode);
        manifest.push_str(&format!("file.{file},{mode}\n"));
    }
    std::fs::write(dir.path().join("manifest.csv"), manifest).expect("write");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write");
    }
    dir
}

fn class_document<'a>(plan: &'a ImportPlan, class: &str) -> Option<&'a ClassDocument> {
    let doc = class_doc(&school(), class);
    plan.documents
        .iter()
        .find_map(|(id, document)| match document {
            RosterDocument::Class(class) if *id == doc => Some(class),
            _ => None,
        })
}

fn users_document(plan: &ImportPlan) -> Option<&RosterUsersDocument> {
    plan.documents
        .iter()
        .find_map(|(_, document)| match document {
            RosterDocument::Users(users) => Some(users),
            _ => None,
        })
}

fn ids(users: Vec<&node::model::roster::RosterUser>) -> Vec<&str> {
    users.iter().map(|user| user.sourced_id.as_str()).collect()
}

#[test]
fn the_bulk_package_plans_every_roster_document() {
    let plan = plan(&fixture("bulk"), &CurrentRoster::default()).expect("valid");
    let documents: Vec<String> = plan
        .documents
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    let class = |id: &str| class_doc(&school(), id).to_string();
    assert_eq!(
        documents,
        [
            roster_users_doc(&school()).to_string(),
            class("CLS-7A-AI"),
            class("CLS-7A-MA"),
            class("CLS-7AB-EN"),
            class("CLS-7B-MA"),
            roster_org_doc(&school()).to_string(),
        ]
    );
    let summary = &plan.summary;
    assert!(
        summary
            .modes
            .iter()
            .all(|(_, mode)| *mode == FileMode::Bulk)
    );
    assert_eq!(
        (
            summary.orgs,
            summary.academic_sessions,
            summary.courses,
            summary.classes,
            summary.users,
            summary.enrollments
        ),
        (3, 3, 3, 4, 21, 34)
    );
    assert_eq!(summary.roles_ignored, 1, "T02's role at the other school");
    assert_eq!(summary.classes_removed, 0);

    let mut roster = CurrentRoster::default();
    roster.apply(&plan);
    let org = &roster.org;
    assert_eq!(org.school_sourced_id, "ORG-30076");
    assert_eq!(
        org.school().map(|school| school.name.as_str()),
        Some("Mäntymäen koulu")
    );
    let terms: Vec<&str> = org
        .terms_of(&org.classes["CLS-7A-MA"])
        .iter()
        .map(|term| term.title.as_str())
        .collect();
    assert_eq!(terms, ["Syyslukukausi 2025", "Kevätlukukausi 2026"]);

    let users = &roster.users;
    let count = |role| {
        users
            .users
            .values()
            .filter(|user| user.has_role(role))
            .count()
    };
    assert_eq!(
        UserRole::ALL.map(count),
        [12, 2, 6, 0, 1],
        "pupils, teachers, guardians, staff, admins"
    );
    let principal = &users.users["ADM01"];
    assert_eq!(principal.roles, [UserRole::Admin]);
    assert_eq!(
        principal.role_assignments.len(),
        2,
        "the school's and the municipality's"
    );
    assert_eq!(users.users["T02"].role_assignments.len(), 1);
    assert_eq!(ids(users.guardians_of("P01")), ["G01"]);
    assert_eq!(ids(users.children_of("G06")), ["P11", "P12"]);
    assert_eq!(
        users
            .by_username("Aino.Makinen01")
            .map(|user| user.family_name.as_str()),
        Some("Mäkinen")
    );

    let english = &roster.classes["CLS-7AB-EN"];
    assert_eq!(english.class.title, "7AB englanti");
    assert_eq!(english.teachers(), ["T02"]);
    assert_eq!(english.pupils().len(), 12);
    assert!(english.enrollments["ENR-7AB-EN-T02"].primary);
    assert_eq!(
        english.enrollments["ENR-7AB-EN-P01"].role,
        EnrollmentRole::Pupil
    );
}

#[test]
fn importing_the_same_bulk_package_again_changes_nothing() {
    let current = after_bulk();
    let again = plan(&fixture("bulk"), &current).expect("valid");
    assert!(again.documents.is_empty(), "{:?}", again.documents);
}

#[test]
fn the_delta_package_adds_a_pupil_deletes_an_enrollment_and_renames_a_class() {
    let current = after_bulk();
    let delta = plan(&fixture("delta"), &current).expect("valid");
    let documents: Vec<String> = delta
        .documents
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(
        documents,
        [
            roster_users_doc(&school()).to_string(),
            class_doc(&school(), "CLS-7B-MA").to_string(),
            roster_org_doc(&school()).to_string(),
        ],
        "only the documents that change"
    );
    assert_eq!(delta.summary.users, 22);
    assert_eq!(delta.summary.enrollments, 34);

    let users = users_document(&delta).expect("users change");
    let new_pupil = &users.users["P13"];
    assert_eq!(new_pupil.roles, [UserRole::Pupil]);
    assert_eq!(new_pupil.given_name, "Iida");
    assert_eq!(ids(users.guardians_of("P13")), ["G06"]);
    assert_eq!(ids(users.children_of("G06")), ["P11", "P12", "P13"]);
    assert_eq!(users.users.len(), 22);

    let class = class_document(&delta, "CLS-7B-MA").expect("class changes");
    assert_eq!(class.class.title, "7B matematiikka (ryhmä 2)");
    assert!(!class.enrollments.contains_key("ENR-7B-MA-P12"));
    assert!(class.enrollments.contains_key("ENR-7B-MA-P13"));
    assert_eq!(class.pupils(), ["P07", "P08", "P09", "P10", "P11", "P13"]);

    let mut roster = current.clone();
    roster.apply(&delta);
    assert_eq!(
        roster.org.classes["CLS-7B-MA"].title,
        "7B matematiikka (ryhmä 2)"
    );
    assert_eq!(
        roster.classes["CLS-7AB-EN"], current.classes["CLS-7AB-EN"],
        "P12 stays in English"
    );
    assert!(roster.classes["CLS-7AB-EN"].is_pupil("P12"));
}

#[test]
fn a_missing_file_is_refused() {
    assert_eq!(
        refused(&fixture("broken-missing-file"), &CurrentRoster::default()),
        ["enrollments.csv: the manifest lists this file as bulk, but the package has no such file"]
    );
}

#[test]
fn a_reference_to_an_unknown_class_is_refused_at_its_line() {
    assert_eq!(
        refused(&fixture("broken-bad-reference"), &CurrentRoster::default()),
        [
            "enrollments.csv:11: classSourcedId \"CLS-9Z-MA\" is not a class in this package or the current roster"
        ]
    );
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_the_file_and_line() {
    assert_eq!(
        refused(&fixture("broken-bad-encoding"), &CurrentRoster::default()),
        [
            "users.csv:5: the file is not UTF-8 (byte 0xe4 is not valid here); save it as UTF-8, Latin-1 and Windows-1252 are not accepted"
        ]
    );
}

#[test]
fn a_missing_required_column_is_refused() {
    assert_eq!(
        refused(&fixture("broken-missing-column"), &CurrentRoster::default()),
        ["classes.csv:1: required column \"courseSourcedId\" is missing"]
    );
}

#[test]
fn an_unknown_role_is_refused_at_its_line() {
    assert_eq!(
        refused(&fixture("broken-bad-role"), &CurrentRoster::default()),
        [
            "roles.csv:5: role \"headmaster\" is not a OneRoster 1.2 role (aide, counselor, districtAdministrator, guardian, parent, principal, proctor, relative, siteAdministrator, student, systemAdministrator, teacher)"
        ]
    );
}

#[test]
fn a_broken_package_on_top_of_a_roster_is_refused_too() {
    let current = after_bulk();
    for broken in [
        "broken-missing-file",
        "broken-bad-reference",
        "broken-bad-encoding",
        "broken-missing-column",
        "broken-bad-role",
    ] {
        assert_eq!(refused(&fixture(broken), &current).len(), 1, "{broken}");
    }
}

#[test]
fn every_bad_row_is_reported_with_its_line() {
    let package = copy_of("bulk");
    let dir = package.path();
    edit_line(dir, "classes.csv", 2, "7A matematiikka", &"x".repeat(201));
    edit_line(
        dir,
        "users.csv",
        3,
        "mikko.nieminen@edu.vantaa.example.fi",
        "not-an-email",
    );
    edit_line(dir, "users.csv", 7, "veera.laine03", "");
    edit_line(dir, "users.csv", 9, "helmi.heikkinen05", "Aino.Makinen01");
    edit_line(dir, "enrollments.csv", 3, "student,false", "student,yes");
    assert_eq!(
        refused(dir, &CurrentRoster::default()),
        [
            "classes.csv:2: title is 201 characters long, but at most 200 are allowed",
            "users.csv:3: email is not valid: \"not-an-email\" is not an e-mail address",
            "users.csv:7: username must not be empty",
            "users.csv:9: username \"Aino.Makinen01\" of user \"P05\" is already used by user \"P01\"",
            "enrollments.csv:3: primary must be true or false, got \"yes\"",
        ]
    );
}

#[test]
fn manifest_problems_are_reported_before_anything_else() {
    let package = copy_of("bulk");
    let dir = package.path();
    edit_line(
        dir,
        "manifest.csv",
        3,
        "oneroster.version,1.2",
        "oneroster.version,1.1",
    );
    edit_line(
        dir,
        "manifest.csv",
        11,
        "file.enrollments,bulk",
        "file.enrollments,full",
    );
    remove_lines(dir, "manifest.csv", &["file.roles"]);
    assert_eq!(
        refused(dir, &CurrentRoster::default()),
        [
            "manifest.csv: file.roles is missing (it must say bulk, delta or absent)",
            "manifest.csv:3: oneroster.version is \"1.1\", but this importer reads OneRoster 1.2 packages only",
            "manifest.csv:11: file.enrollments must be bulk, delta or absent, got \"full\"",
        ]
    );
    let empty = tempfile::tempdir().expect("temporary directory");
    assert_eq!(
        refused(empty.path(), &CurrentRoster::default()),
        ["manifest.csv: the package has no such file"]
    );
}

#[test]
fn bulk_and_delta_rules_for_status_are_enforced() {
    let package = copy_of("bulk");
    edit_line(
        package.path(),
        "orgs.csv",
        4,
        "ORG-30077,,",
        "ORG-30077,tobedeleted,",
    );
    assert_eq!(
        refused(package.path(), &CurrentRoster::default()),
        [
            "orgs.csv:4: status tobedeleted belongs in a delta file; a bulk file lists only what exists"
        ]
    );

    let header =
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\n";
    let delta = delta_package(
        &[("enrollments", "delta")],
        &[(
            "enrollments.csv",
            &format!("{header}ENR-7A-MA-P01,,,CLS-7A-MA,ORG-30076,P01,student\n"),
        )],
    );
    assert_eq!(
        refused(delta.path(), &after_bulk()),
        ["enrollments.csv:2: status is required in a delta file (active or tobedeleted)"]
    );
}

#[test]
fn deleting_a_user_removes_their_enrollments_roles_and_guardian_links() {
    let current = after_bulk();
    let header = "sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName\n";
    let delta = delta_package(
        &[("users", "delta")],
        &[(
            "users.csv",
            &format!(
                "{header}P01,tobedeleted,2025-10-01T08:00:00Z,true,aino.makinen01,Aino,Mäkinen\n"
            ),
        )],
    );
    let plan = plan(delta.path(), &current).expect("valid");
    // Three enrollments, the role row and G01's link to P01.
    assert_eq!(plan.summary.removed_with_their_owner, 5);
    let users = users_document(&plan).expect("users change");
    assert!(!users.users.contains_key("P01"));
    assert_eq!(users.users["G01"].agent_sourced_ids, ["P02"]);
    for class in ["CLS-7A-MA", "CLS-7A-AI", "CLS-7AB-EN"] {
        let document = class_document(&plan, class).expect("class changes");
        assert!(!document.is_member("P01"), "{class}");
    }
    assert!(class_document(&plan, "CLS-7B-MA").is_none());
}

#[test]
fn deleting_what_the_current_roster_still_uses_is_refused() {
    let header = "sourcedId,status,dateLastModified,title,orgSourcedId\n";
    let delta = delta_package(
        &[("courses", "delta")],
        &[(
            "courses.csv",
            &format!("{header}CRS-EN7,tobedeleted,2025-10-01,Englanti 7,ORG-30076\n"),
        )],
    );
    assert_eq!(
        refused(delta.path(), &after_bulk()),
        [
            "courses.csv: course \"CRS-EN7\" is deleted, but class \"CLS-7AB-EN\" (already imported) still refers to it"
        ]
    );
}

#[test]
fn a_new_user_without_a_role_is_refused() {
    let header = "sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName\n";
    let delta = delta_package(
        &[("users", "delta")],
        &[(
            "users.csv",
            &format!("{header}P14,active,2025-10-01,true,uusi.oppilas,Uusi,Oppilas\n"),
        )],
    );
    assert_eq!(
        refused(delta.path(), &after_bulk()),
        ["users.csv:2: user \"P14\" has no role at this school in roles.csv"]
    );
}

#[test]
fn a_bulk_package_without_a_class_removes_its_document() {
    let package = copy_of("bulk");
    remove_lines(package.path(), "classes.csv", &["CLS-7AB-EN"]);
    remove_lines(package.path(), "enrollments.csv", &["CLS-7AB-EN"]);
    let plan = plan(package.path(), &after_bulk()).expect("valid");
    assert_eq!(plan.summary.classes_removed, 1);
    let removed = class_document(&plan, "CLS-7AB-EN").expect("marked removed");
    assert!(removed.removed);
    assert!(removed.enrollments.is_empty());
    assert_eq!(removed.class.title, "7AB englanti");
    let mut roster = after_bulk();
    roster.apply(&plan);
    assert!(!roster.org.classes.contains_key("CLS-7AB-EN"));
    assert!(!roster.classes.contains_key("CLS-7AB-EN"));
}

#[test]
fn bulk_then_delta_through_the_repository() {
    let data = tempfile::tempdir().expect("temporary directory");
    let store = SledStore::open(data.path()).expect("store");
    let (notices, _receiver) = tokio::sync::mpsc::channel(1024);
    let repository = Repository::new(store, notices);

    let empty = CurrentRoster::load(&repository, &school()).expect("load");
    assert_eq!(empty, CurrentRoster::default());
    let bulk = plan(&fixture("bulk"), &empty).expect("valid");
    assert_eq!(bulk.write(&repository).expect("write"), 6);
    let stored = CurrentRoster::load(&repository, &school()).expect("load");
    assert_eq!(stored, after_bulk());

    let delta = plan(&fixture("delta"), &stored).expect("valid");
    delta.write(&repository).expect("write");
    let mut expected = stored.clone();
    expected.apply(&delta);
    assert_eq!(
        CurrentRoster::load(&repository, &school()).expect("load"),
        expected
    );

    // A broken package writes nothing, so the stored roster stays as it was.
    let writes_before = repository.writes_total();
    assert!(plan(&fixture("broken-bad-reference"), &expected).is_err());
    assert_eq!(repository.writes_total(), writes_before);
}
