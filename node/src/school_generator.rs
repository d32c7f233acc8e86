//! Generated OneRoster 1.2 schools, written as CSV packages that the roster import reads like any
//! other package: the load-test school of `node_load` and the demo schools of `digione-demo`.
//!
//! A [`GeneratedSchool`] holds the rows of every roster file and, beside them, what a caller needs
//! to drive the school afterwards: its terms, its classes with their teachers, and its people with
//! their roles and guardianships. Generation is deterministic: the same request always yields the
//! same bytes, so the benchmark measures the same school every time and a demo run again on its
//! data directory imports an unchanged roster.

use std::borrow::Cow;
use std::path::Path;

use crate::model::UserRole;

/// Pupils in one class of the load-test school.
pub const LOAD_TEST_PUPILS_PER_CLASS: usize = 25;
/// Classes each pupil of the load-test school attends.
pub const LOAD_TEST_CLASSES_PER_PUPIL: usize = 3;
/// Classes one teacher of the load-test school teaches.
pub const LOAD_TEST_CLASSES_PER_TEACHER: usize = 3;

/// The teaching groups (homerooms) of a demo school; each has a homeroom class and one class per
/// subject of [`DEMO_SUBJECTS`].
pub const DEMO_GROUPS: [&str; 2] = ["7A", "7B"];
/// Pupils in each teaching group of a demo school: a small Finnish lower-secondary class.
pub const DEMO_PUPILS_PER_GROUP: usize = 16;
/// Every third pupil of a demo school has a second guardian; the others have one.
pub const DEMO_SECOND_GUARDIAN_EVERY: usize = 3;

/// A subject taught in a demo school, with the room it is taught in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    /// The Finnish curriculum's abbreviation, used in class codes and sourcedIds.
    pub code: &'static str,
    pub name: &'static str,
    pub room: &'static str,
}

/// The subjects of a demo school. Each has its own teacher, who teaches it in every group.
pub const DEMO_SUBJECTS: [Subject; 3] = [
    Subject {
        code: "MA",
        name: "Matematiikka",
        room: "B204",
    },
    Subject {
        code: "AI",
        name: "Äidinkieli ja kirjallisuus",
        room: "A112",
    },
    Subject {
        code: "ENA",
        name: "Englanti",
        room: "A118",
    },
];

/// What a demo school is: the school, its municipality and the school year to generate.
#[derive(Debug, Clone, Copy)]
pub struct DemoSchoolRequest<'a> {
    /// The five-digit school code.
    pub school_code: &'a str,
    pub school_name: &'a str,
    /// The three-digit municipality code.
    pub municipality_code: &'a str,
    pub municipality_name: &'a str,
    /// The calendar year the school year starts in: 2026 for the school year 2026–2027.
    pub first_year: i32,
}

/// An academic session of type term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedTerm {
    pub sourced_id: String,
    pub title: String,
    /// `YYYY-MM-DD`, the first day of the term.
    pub start_date: String,
    /// `YYYY-MM-DD`, the last day of the term.
    pub end_date: String,
}

/// A class of the generated school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedClass {
    pub sourced_id: String,
    pub title: String,
    /// The teaching group whose pupils attend the class (demo schools only).
    pub group: Option<String>,
    /// The subject taught; `None` for a homeroom class and for the load-test school's classes.
    pub subject: Option<Subject>,
    /// The user sourcedId of the class's teacher.
    pub teacher: String,
    pub room: Option<String>,
}

/// A user of the generated school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedPerson {
    pub sourced_id: String,
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub role: UserRole,
    /// A pupil's teaching group (demo schools only).
    pub group: Option<String>,
    /// A pupil's guardians, or a guardian's children, by sourcedId.
    pub linked: Vec<String>,
}

/// A generated school: its roster rows and what they describe.
#[derive(Debug, Clone)]
pub struct GeneratedSchool {
    pub school_code: String,
    pub school_name: String,
    pub terms: Vec<GeneratedTerm>,
    pub classes: Vec<GeneratedClass>,
    /// In the order of `users.csv`.
    pub people: Vec<GeneratedPerson>,
    rows: RosterRows,
}

impl GeneratedSchool {
    /// Writes the school as a OneRoster 1.2 bulk package (`manifest.csv` and the seven roster
    /// files) into `dir`, which must exist.
    pub fn write_package(&self, dir: &Path) -> std::io::Result<()> {
        self.rows.write(dir)
    }

    /// The people with `role`, in roster order.
    pub fn people_with_role(&self, role: UserRole) -> impl Iterator<Item = &GeneratedPerson> {
        self.people.iter().filter(move |person| person.role == role)
    }

    /// The person with this sourcedId.
    pub fn person(&self, sourced_id: &str) -> Option<&GeneratedPerson> {
        self.people
            .iter()
            .find(|person| person.sourced_id == sourced_id)
    }

    /// The classes a teaching group attends, its homeroom class first.
    pub fn classes_of_group(&self, group: &str) -> impl Iterator<Item = &GeneratedClass> {
        let homeroom = self
            .classes
            .iter()
            .filter(move |class| class.group.as_deref() == Some(group) && class.subject.is_none());
        let subjects = self
            .classes
            .iter()
            .filter(move |class| class.group.as_deref() == Some(group) && class.subject.is_some());
        homeroom.chain(subjects)
    }
}

/// The school `node_load` measures: `pupils` pupils in classes of
/// [`LOAD_TEST_PUPILS_PER_CLASS`], each pupil in [`LOAD_TEST_CLASSES_PER_PUPIL`] classes, one
/// guardian per pupil and a teacher per [`LOAD_TEST_CLASSES_PER_TEACHER`] classes, all with
/// numbered names (`pupil17`, `guardian17`, `teacher3`) and one course and session.
pub fn load_test_school(pupils: usize) -> GeneratedSchool {
    const SCHOOL: &str = "ORG-1";
    const YEAR: &str = "YEAR";
    const COURSE: &str = "CRS-1";
    let class_count = pupils.div_ceil(LOAD_TEST_PUPILS_PER_CLASS) * LOAD_TEST_CLASSES_PER_PUPIL;
    let teacher_count = class_count.div_ceil(LOAD_TEST_CLASSES_PER_TEACHER);
    let mut rows = RosterRows::default();
    rows.orgs.push(OrgRow {
        sourced_id: SCHOOL.into(),
        name: "Kuormituskoulu".into(),
        org_type: "school",
        identifier: "30076".into(),
        parent: String::new(),
    });
    rows.sessions.push(SessionRow {
        sourced_id: YEAR.into(),
        title: "2026–2027".into(),
        session_type: "schoolYear",
        start_date: "2026-08-01".into(),
        end_date: "2027-06-30".into(),
        parent: String::new(),
        school_year: "2027".into(),
    });
    rows.courses.push(CourseRow {
        sourced_id: COURSE.into(),
        school_year: YEAR.into(),
        title: "Yleinen".into(),
        course_code: "YL".into(),
        grades: "07".into(),
        org: SCHOOL.into(),
        subjects: String::new(),
    });
    let mut classes = Vec::new();
    for class in 0..class_count {
        let teacher = format!("T{}", class / LOAD_TEST_CLASSES_PER_TEACHER);
        rows.classes.push(ClassRow {
            sourced_id: format!("C{class}"),
            title: format!("Ryhmä {class}"),
            grades: "07".into(),
            course: COURSE.into(),
            class_code: format!("R{class}"),
            class_type: "scheduled",
            location: String::new(),
            school: SCHOOL.into(),
            terms: vec![YEAR.into()],
            subjects: String::new(),
        });
        classes.push(GeneratedClass {
            sourced_id: format!("C{class}"),
            title: format!("Ryhmä {class}"),
            group: None,
            subject: None,
            teacher,
            room: None,
        });
    }
    let mut people = Vec::new();
    for teacher in 0..teacher_count {
        let person = GeneratedPerson {
            sourced_id: format!("T{teacher}"),
            username: format!("teacher{teacher}"),
            given_name: "Opettaja".into(),
            family_name: teacher.to_string(),
            role: UserRole::Teacher,
            group: None,
            linked: Vec::new(),
        };
        rows.add_user(&person, SCHOOL, String::new(), "");
        rows.roles.push(RoleRow::primary(
            format!("RT{teacher}"),
            &person,
            "teacher",
            SCHOOL,
        ));
        people.push(person);
    }
    for pupil in 0..pupils {
        let child = GeneratedPerson {
            sourced_id: format!("P{pupil}"),
            username: format!("pupil{pupil}"),
            given_name: "Oppilas".into(),
            family_name: pupil.to_string(),
            role: UserRole::Pupil,
            group: None,
            linked: vec![format!("G{pupil}")],
        };
        let guardian = GeneratedPerson {
            sourced_id: format!("G{pupil}"),
            username: format!("guardian{pupil}"),
            given_name: "Huoltaja".into(),
            family_name: pupil.to_string(),
            role: UserRole::Guardian,
            group: None,
            linked: vec![format!("P{pupil}")],
        };
        rows.add_user(&child, SCHOOL, String::new(), "07");
        rows.add_user(&guardian, SCHOOL, String::new(), "");
        rows.roles.push(RoleRow::primary(
            format!("RP{pupil}"),
            &child,
            "student",
            SCHOOL,
        ));
        rows.roles.push(RoleRow::primary(
            format!("RG{pupil}"),
            &guardian,
            "guardian",
            SCHOOL,
        ));
        people.push(child);
        people.push(guardian);
    }
    for (index, class) in classes.iter().enumerate() {
        rows.enrollments.push(EnrollmentRow {
            sourced_id: format!("ET{index}"),
            class: class.sourced_id.clone(),
            school: SCHOOL.into(),
            user: class.teacher.clone(),
            role: "teacher",
            primary: true,
        });
    }
    for pupil in 0..pupils {
        for offset in 0..LOAD_TEST_CLASSES_PER_PUPIL {
            let class = (pupil / LOAD_TEST_PUPILS_PER_CLASS) * LOAD_TEST_CLASSES_PER_PUPIL + offset;
            rows.enrollments.push(EnrollmentRow {
                sourced_id: format!("EP{pupil}-{offset}"),
                class: format!("C{class}"),
                school: SCHOOL.into(),
                user: format!("P{pupil}"),
                role: "student",
                primary: false,
            });
        }
    }
    GeneratedSchool {
        school_code: "30076".into(),
        school_name: "Kuormituskoulu".into(),
        terms: Vec::new(),
        classes,
        people,
        rows,
    }
}

/// A demo school: a principal, one teacher per subject of [`DEMO_SUBJECTS`], the teaching groups
/// of [`DEMO_GROUPS`] with [`DEMO_PUPILS_PER_GROUP`] pupils each and one or two guardians per
/// pupil, all with Finnish names drawn deterministically from the school code; the school year
/// with its autumn and spring terms; a homeroom class and one class per subject for every group.
///
/// The terms cover the whole school year between them (autumn from 1 August, spring to 31 July),
/// so that whenever a demo is started, today falls in a term and the day's timetable shows lessons.
pub fn demo_school(request: &DemoSchoolRequest<'_>) -> GeneratedSchool {
    let code = request.school_code;
    let first = request.first_year;
    let next = first + 1;
    let school_org = format!("school-{code}");
    let municipality_org = format!("municipality-{}", request.municipality_code);
    let year_id = format!("{code}-year-{first}");
    let domain = format!("{code}.koulu.example.fi");
    let mut names = NameDrawer::for_school(code);
    let mut usernames = Usernames::default();
    let mut rows = RosterRows::default();

    rows.orgs.push(OrgRow {
        sourced_id: municipality_org.clone(),
        name: request.municipality_name.into(),
        org_type: "district",
        identifier: request.municipality_code.into(),
        parent: String::new(),
    });
    rows.orgs.push(OrgRow {
        sourced_id: school_org.clone(),
        name: request.school_name.into(),
        org_type: "school",
        identifier: code.into(),
        parent: municipality_org,
    });

    let terms = vec![
        GeneratedTerm {
            sourced_id: format!("{code}-autumn-{first}"),
            title: format!("Syyslukukausi {first}"),
            start_date: format!("{first}-08-01"),
            end_date: format!("{first}-12-31"),
        },
        GeneratedTerm {
            sourced_id: format!("{code}-spring-{next}"),
            title: format!("Kevätlukukausi {next}"),
            start_date: format!("{next}-01-01"),
            end_date: format!("{next}-07-31"),
        },
    ];
    rows.sessions.push(SessionRow {
        sourced_id: year_id.clone(),
        title: format!("Lukuvuosi {first}–{next}"),
        session_type: "schoolYear",
        start_date: format!("{first}-08-01"),
        end_date: format!("{next}-07-31"),
        parent: String::new(),
        school_year: next.to_string(),
    });
    for term in &terms {
        rows.sessions.push(SessionRow {
            sourced_id: term.sourced_id.clone(),
            title: term.title.clone(),
            session_type: "term",
            start_date: term.start_date.clone(),
            end_date: term.end_date.clone(),
            parent: year_id.clone(),
            school_year: next.to_string(),
        });
    }
    let term_ids: Vec<String> = terms.iter().map(|term| term.sourced_id.clone()).collect();

    // The adults first: the principal, then one teacher per subject.
    let mut people = Vec::new();
    let principal = names.adult(format!("{code}-A01"), UserRole::Admin, &mut usernames);
    rows.add_user(&principal, &school_org, email(&principal, &domain), "");
    rows.roles
        .push(RoleRow::of(&principal, "principal", &school_org));
    people.push(principal);
    let mut subject_teachers = Vec::new();
    for number in 1..=DEMO_SUBJECTS.len() {
        let teacher = names.adult(
            format!("{code}-T{number:02}"),
            UserRole::Teacher,
            &mut usernames,
        );
        rows.add_user(&teacher, &school_org, email(&teacher, &domain), "");
        rows.roles
            .push(RoleRow::of(&teacher, "teacher", &school_org));
        subject_teachers.push(teacher.sourced_id.clone());
        people.push(teacher);
    }

    // Courses: the homeroom's guidance lessons and one course per subject.
    let homeroom_course = format!("{code}-LO7");
    rows.courses.push(CourseRow {
        sourced_id: homeroom_course.clone(),
        school_year: year_id.clone(),
        title: "Oppilaanohjaus 7".into(),
        course_code: "OP7".into(),
        grades: "07".into(),
        org: school_org.clone(),
        subjects: "Oppilaanohjaus".into(),
    });
    for subject in DEMO_SUBJECTS {
        rows.courses.push(CourseRow {
            sourced_id: format!("{code}-{}7", subject.code),
            school_year: year_id.clone(),
            title: format!("{} 7", subject.name),
            course_code: format!("{}7", subject.code),
            grades: "07".into(),
            org: school_org.clone(),
            subjects: subject.name.into(),
        });
    }

    // Classes: each group's homeroom class (its class teacher is the group's own subject
    // teacher, one group per subject teacher) and one class per subject.
    let mut classes = Vec::new();
    for (group_index, group) in DEMO_GROUPS.iter().enumerate() {
        let class_teacher = subject_teachers[group_index % subject_teachers.len()].clone();
        let homeroom = GeneratedClass {
            sourced_id: format!("{code}-{group}"),
            title: format!("Luokka {group}"),
            group: Some((*group).into()),
            subject: None,
            teacher: class_teacher,
            room: Some(format!("A{:03}", 101 + group_index)),
        };
        rows.classes.push(ClassRow {
            sourced_id: homeroom.sourced_id.clone(),
            title: homeroom.title.clone(),
            grades: "07".into(),
            course: homeroom_course.clone(),
            class_code: (*group).into(),
            class_type: "homeroom",
            location: homeroom.room.clone().unwrap_or_default(),
            school: school_org.clone(),
            terms: term_ids.clone(),
            subjects: "Oppilaanohjaus".into(),
        });
        classes.push(homeroom);
        for (subject_index, subject) in DEMO_SUBJECTS.iter().enumerate() {
            let class = GeneratedClass {
                sourced_id: format!("{code}-{group}-{}", subject.code),
                title: format!("{} {group}", subject.name),
                group: Some((*group).into()),
                subject: Some(*subject),
                teacher: subject_teachers[subject_index].clone(),
                room: Some(subject.room.into()),
            };
            rows.classes.push(ClassRow {
                sourced_id: class.sourced_id.clone(),
                title: class.title.clone(),
                grades: "07".into(),
                course: format!("{code}-{}7", subject.code),
                class_code: format!("{}7.{group}", subject.code),
                class_type: "scheduled",
                location: subject.room.into(),
                school: school_org.clone(),
                terms: term_ids.clone(),
                subjects: subject.name.into(),
            });
            classes.push(class);
        }
    }

    // Pupils, each followed by their guardians, who share the pupil's family name.
    let mut guardian_number = 0;
    for (group_index, group) in DEMO_GROUPS.iter().enumerate() {
        for place in 0..DEMO_PUPILS_PER_GROUP {
            let pupil_number = group_index * DEMO_PUPILS_PER_GROUP + place + 1;
            let mut pupil = names.pupil(format!("{code}-P{pupil_number:03}"), &mut usernames);
            pupil.group = Some((*group).into());
            let guardian_count = if pupil_number.is_multiple_of(DEMO_SECOND_GUARDIAN_EVERY) {
                2
            } else {
                1
            };
            let mut guardians = Vec::new();
            for _ in 0..guardian_count {
                guardian_number += 1;
                let mut guardian = names.guardian(
                    format!("{code}-G{guardian_number:03}"),
                    &pupil.family_name,
                    &mut usernames,
                );
                guardian.linked = vec![pupil.sourced_id.clone()];
                pupil.linked.push(guardian.sourced_id.clone());
                guardians.push(guardian);
            }
            rows.add_user(&pupil, &school_org, String::new(), "07");
            rows.roles.push(RoleRow::of(&pupil, "student", &school_org));
            for class in classes
                .iter()
                .filter(|class| class.group.as_deref() == Some(*group))
            {
                rows.enrollments.push(EnrollmentRow {
                    sourced_id: format!("{}-E-P{pupil_number:03}", class.sourced_id),
                    class: class.sourced_id.clone(),
                    school: school_org.clone(),
                    user: pupil.sourced_id.clone(),
                    role: "student",
                    primary: false,
                });
            }
            people.push(pupil);
            for guardian in guardians {
                rows.add_user(&guardian, &school_org, String::new(), "");
                rows.roles
                    .push(RoleRow::of(&guardian, "guardian", &school_org));
                people.push(guardian);
            }
        }
    }
    for class in &classes {
        rows.enrollments.push(EnrollmentRow {
            sourced_id: format!("{}-E-teacher", class.sourced_id),
            class: class.sourced_id.clone(),
            school: school_org.clone(),
            user: class.teacher.clone(),
            role: "teacher",
            primary: true,
        });
    }
    GeneratedSchool {
        school_code: code.into(),
        school_name: request.school_name.into(),
        terms,
        classes,
        people,
        rows,
    }
}

fn email(person: &GeneratedPerson, domain: &str) -> String {
    format!("{}@{domain}", person.username)
}

// ---------------------------------------------------------------------------------------------
// Names: Finnish given and family names, drawn with a small deterministic generator so that a
// school's people are the same on every run and on every machine.
// ---------------------------------------------------------------------------------------------

const GIRLS_NAMES: [&str; 20] = [
    "Aino", "Eevi", "Emma", "Sofia", "Helmi", "Aada", "Ella", "Lilja", "Venla", "Olivia", "Iida",
    "Elli", "Pihla", "Kerttu", "Linnea", "Siiri", "Enni", "Vilma", "Alisa", "Hilla",
];
const BOYS_NAMES: [&str; 20] = [
    "Eino", "Leo", "Väinö", "Elias", "Oliver", "Onni", "Eetu", "Niilo", "Leevi", "Aatu", "Veeti",
    "Otto", "Lenni", "Toivo", "Eemil", "Akseli", "Joel", "Luka", "Rasmus", "Valtteri",
];
const ADULT_NAMES: [&str; 24] = [
    "Marja", "Sari", "Tiina", "Minna", "Johanna", "Katja", "Heidi", "Anu", "Laura", "Riikka",
    "Päivi", "Satu", "Mikko", "Juha", "Timo", "Jari", "Antti", "Markus", "Petri", "Janne", "Sami",
    "Ville", "Jussi", "Matti",
];
const FAMILY_NAMES: [&str; 30] = [
    "Korhonen",
    "Virtanen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
    "Jokinen",
    "Mattila",
    "Savolainen",
    "Lahtinen",
    "Ahonen",
];

/// SplitMix64 over a seed taken from the school code. Written out here rather than taken from
/// `rand`, whose generators may change between versions: a demo's names must stay the same.
#[derive(Debug)]
struct NameDrawer {
    state: u64,
}

impl NameDrawer {
    fn for_school(school_code: &str) -> Self {
        // FNV-1a of the code: any stable spreading of the code's bytes would do.
        let seed = school_code
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        Self { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    fn pick<'list>(&mut self, list: &[&'list str]) -> &'list str {
        let index = (self.next() % list.len() as u64) as usize;
        list[index]
    }

    fn pupil(&mut self, sourced_id: String, usernames: &mut Usernames) -> GeneratedPerson {
        let given = if self.next().is_multiple_of(2) {
            self.pick(&GIRLS_NAMES)
        } else {
            self.pick(&BOYS_NAMES)
        };
        self.person(sourced_id, given, UserRole::Pupil, usernames)
    }

    fn adult(
        &mut self,
        sourced_id: String,
        role: UserRole,
        usernames: &mut Usernames,
    ) -> GeneratedPerson {
        let given = self.pick(&ADULT_NAMES);
        self.person(sourced_id, given, role, usernames)
    }

    /// A guardian shares the family name of their child.
    fn guardian(
        &mut self,
        sourced_id: String,
        family: &str,
        usernames: &mut Usernames,
    ) -> GeneratedPerson {
        let given = self.pick(&ADULT_NAMES);
        Self::named(sourced_id, given, family, UserRole::Guardian, usernames)
    }

    fn person(
        &mut self,
        sourced_id: String,
        given: &str,
        role: UserRole,
        usernames: &mut Usernames,
    ) -> GeneratedPerson {
        let family = self.pick(&FAMILY_NAMES);
        Self::named(sourced_id, given, family, role, usernames)
    }

    fn named(
        sourced_id: String,
        given: &str,
        family: &str,
        role: UserRole,
        usernames: &mut Usernames,
    ) -> GeneratedPerson {
        GeneratedPerson {
            sourced_id,
            username: usernames.claim(given, family),
            given_name: given.into(),
            family_name: family.into(),
            role,
            group: None,
            linked: Vec::new(),
        }
    }
}

/// Hands out `given.family` usernames in plain ASCII (`väinö.mäkelä` is `vaino.makela`), with a
/// number appended when the name is taken (`aino.virtanen2`): usernames are unique in a school.
#[derive(Debug, Default)]
struct Usernames {
    taken: std::collections::BTreeSet<String>,
}

impl Usernames {
    fn claim(&mut self, given: &str, family: &str) -> String {
        let base = format!("{}.{}", ascii_folded(given), ascii_folded(family));
        let mut candidate = base.clone();
        let mut number = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{base}{number}");
            number += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

fn ascii_folded(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|letter| match letter {
            'ä' | 'å' => Some('a'),
            'ö' => Some('o'),
            'é' => Some('e'),
            letter if letter.is_ascii_alphanumeric() => Some(letter),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The roster files. The headers carry the optional columns a real export has (left empty where
// the generator has nothing to say), so the import is exercised as with a real package.
// ---------------------------------------------------------------------------------------------

const MANIFEST_CSV: &str = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\nfile.academicSessions,bulk\nfile.classes,bulk\nfile.courses,bulk\nfile.enrollments,bulk\nfile.orgs,bulk\nfile.users,bulk\nfile.roles,bulk\n";
const ORGS_HEADER: &str =
    "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n";
const SESSIONS_HEADER: &str =
    "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n";
const COURSES_HEADER: &str = "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\n";
const CLASSES_HEADER: &str = "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n";
const USERS_HEADER: &str = "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,userMasterIdentifier,resourceSourcedIds,preferredGivenName,preferredMiddleName,preferredFamilyName,primaryOrgSourcedId,pronouns\n";
const ROLES_HEADER: &str = "sourcedId,status,dateLastModified,userSourcedId,roleType,role,orgSourcedId,userProfileSourcedId,beginDate,endDate\n";
const ENROLLMENTS_HEADER: &str = "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n";

#[derive(Debug, Clone, Default)]
struct RosterRows {
    orgs: Vec<OrgRow>,
    sessions: Vec<SessionRow>,
    courses: Vec<CourseRow>,
    classes: Vec<ClassRow>,
    users: Vec<UserRow>,
    roles: Vec<RoleRow>,
    enrollments: Vec<EnrollmentRow>,
}

#[derive(Debug, Clone)]
struct OrgRow {
    sourced_id: String,
    name: String,
    org_type: &'static str,
    identifier: String,
    parent: String,
}

#[derive(Debug, Clone)]
struct SessionRow {
    sourced_id: String,
    title: String,
    session_type: &'static str,
    start_date: String,
    end_date: String,
    parent: String,
    school_year: String,
}

#[derive(Debug, Clone)]
struct CourseRow {
    sourced_id: String,
    school_year: String,
    title: String,
    course_code: String,
    grades: String,
    org: String,
    subjects: String,
}

#[derive(Debug, Clone)]
struct ClassRow {
    sourced_id: String,
    title: String,
    grades: String,
    course: String,
    class_code: String,
    class_type: &'static str,
    location: String,
    school: String,
    terms: Vec<String>,
    subjects: String,
}

#[derive(Debug, Clone)]
struct UserRow {
    sourced_id: String,
    username: String,
    given_name: String,
    family_name: String,
    email: String,
    agents: Vec<String>,
    grades: String,
    primary_org: String,
}

#[derive(Debug, Clone)]
struct RoleRow {
    sourced_id: String,
    user: String,
    role: &'static str,
    org: String,
}

impl RoleRow {
    /// A demo school's role row, named after its user.
    fn of(person: &GeneratedPerson, role: &'static str, org: &str) -> Self {
        Self::primary(format!("R-{}", person.sourced_id), person, role, org)
    }

    fn primary(
        sourced_id: String,
        person: &GeneratedPerson,
        role: &'static str,
        org: &str,
    ) -> Self {
        Self {
            sourced_id,
            user: person.sourced_id.clone(),
            role,
            org: org.into(),
        }
    }
}

#[derive(Debug, Clone)]
struct EnrollmentRow {
    sourced_id: String,
    class: String,
    school: String,
    user: String,
    role: &'static str,
    primary: bool,
}

impl RosterRows {
    fn add_user(
        &mut self,
        person: &GeneratedPerson,
        primary_org: &str,
        email: String,
        grades: &str,
    ) {
        self.users.push(UserRow {
            sourced_id: person.sourced_id.clone(),
            username: person.username.clone(),
            given_name: person.given_name.clone(),
            family_name: person.family_name.clone(),
            email,
            agents: person.linked.clone(),
            grades: grades.into(),
            primary_org: primary_org.into(),
        });
    }

    fn write(&self, dir: &Path) -> std::io::Result<()> {
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text);
        write("manifest.csv", MANIFEST_CSV.into())?;
        write(
            "orgs.csv",
            lines(ORGS_HEADER, &self.orgs, |row| {
                format!(
                    "{},,,{},{},{},{}",
                    field(&row.sourced_id),
                    field(&row.name),
                    row.org_type,
                    field(&row.identifier),
                    field(&row.parent)
                )
            }),
        )?;
        write(
            "academicSessions.csv",
            lines(SESSIONS_HEADER, &self.sessions, |row| {
                format!(
                    "{},,,{},{},{},{},{},{}",
                    field(&row.sourced_id),
                    field(&row.title),
                    row.session_type,
                    row.start_date,
                    row.end_date,
                    field(&row.parent),
                    row.school_year
                )
            }),
        )?;
        write(
            "courses.csv",
            lines(COURSES_HEADER, &self.courses, |row| {
                format!(
                    "{},,,{},{},{},{},{},{},",
                    field(&row.sourced_id),
                    field(&row.school_year),
                    field(&row.title),
                    field(&row.course_code),
                    field(&row.grades),
                    field(&row.org),
                    field(&row.subjects)
                )
            }),
        )?;
        write(
            "classes.csv",
            lines(CLASSES_HEADER, &self.classes, |row| {
                format!(
                    "{},,,{},{},{},{},{},{},{},{},{},,",
                    field(&row.sourced_id),
                    field(&row.title),
                    field(&row.grades),
                    field(&row.course),
                    field(&row.class_code),
                    row.class_type,
                    field(&row.location),
                    field(&row.school),
                    field(&row.terms.join(",")),
                    field(&row.subjects)
                )
            }),
        )?;
        write(
            "users.csv",
            lines(USERS_HEADER, &self.users, |row| {
                format!(
                    "{},,,true,{},,{},{},,,{},,,{},{},,,,,,,{},",
                    field(&row.sourced_id),
                    field(&row.username),
                    field(&row.given_name),
                    field(&row.family_name),
                    field(&row.email),
                    field(&row.agents.join(",")),
                    field(&row.grades),
                    field(&row.primary_org)
                )
            }),
        )?;
        write(
            "roles.csv",
            lines(ROLES_HEADER, &self.roles, |row| {
                format!(
                    "{},,,{},primary,{},{},,,",
                    field(&row.sourced_id),
                    field(&row.user),
                    row.role,
                    field(&row.org)
                )
            }),
        )?;
        write(
            "enrollments.csv",
            lines(ENROLLMENTS_HEADER, &self.enrollments, |row| {
                format!(
                    "{},,,{},{},{},{},{},,",
                    field(&row.sourced_id),
                    field(&row.class),
                    field(&row.school),
                    field(&row.user),
                    row.role,
                    row.primary
                )
            }),
        )
    }
}

/// A CSV file: the header, then one line per row.
fn lines<Row>(header: &str, rows: &[Row], line: impl Fn(&Row) -> String) -> String {
    let mut text = String::from(header);
    for row in rows {
        text.push_str(&line(row));
        text.push('\n');
    }
    text
}

/// One CSV field, quoted when it holds a separator, a quote or a line break (a OneRoster list
/// such as `termSourcedIds` is comma-separated inside one field).
fn field(text: &str) -> Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::roster::{RosterUsersDocument, roster_users_doc};
    use crate::repository::Repository;
    use sync_store::SledStore;

    fn demo_request(school_code: &str) -> DemoSchoolRequest<'_> {
        DemoSchoolRequest {
            school_code,
            school_name: "Kuusikon koulu",
            municipality_code: "092",
            municipality_name: "Vantaan kaupunki",
            first_year: 2026,
        }
    }

    fn package_text(school: &GeneratedSchool) -> Vec<(String, String)> {
        let dir = tempfile::tempdir().expect("tempdir");
        school.write_package(dir.path()).expect("written");
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir.path())
            .expect("listed")
            .map(|entry| {
                let path = entry.expect("entry").path();
                let name = path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (name, std::fs::read_to_string(&path).expect("read"))
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_same_request_writes_the_same_bytes() {
        assert_eq!(
            package_text(&demo_school(&demo_request("30076"))),
            package_text(&demo_school(&demo_request("30076")))
        );
        assert_eq!(
            package_text(&load_test_school(60)),
            package_text(&load_test_school(60))
        );
    }

    #[test]
    fn two_demo_schools_get_different_people_with_unique_ascii_usernames() {
        let first = demo_school(&demo_request("30076"));
        let second = demo_school(&demo_request("30077"));
        let names = |school: &GeneratedSchool| -> Vec<String> {
            school
                .people
                .iter()
                .map(|person| person.username.clone())
                .collect()
        };
        assert_ne!(names(&first), names(&second));
        for school in [&first, &second] {
            let usernames = names(school);
            let unique: std::collections::BTreeSet<&String> = usernames.iter().collect();
            assert_eq!(unique.len(), usernames.len(), "usernames are unique");
            assert!(usernames.iter().all(|username| {
                username.chars().all(|letter| {
                    letter.is_ascii_lowercase() || letter.is_ascii_digit() || letter == '.'
                })
            }));
        }
    }

    #[test]
    fn a_demo_school_imports_whole_with_every_guardian_linked() {
        let school = demo_school(&demo_request("30076"));
        let dir = tempfile::tempdir().expect("tempdir");
        let package = dir.path().join("package");
        std::fs::create_dir_all(&package).expect("package dir");
        school.write_package(&package).expect("written");
        let store = SledStore::open(dir.path().join("store")).expect("store");
        let (notices, _receiver) = tokio::sync::mpsc::channel(16);
        let repository = Repository::new(store, notices);
        let code = "30076".parse().expect("school code");
        crate::api::roster::import_package(&repository, &code, &package).expect("imports");
        let users: RosterUsersDocument = repository
            .read_or_default(&roster_users_doc(&code))
            .expect("users");
        assert_eq!(users.users.len(), school.people.len());
        let pupils = school.people_with_role(UserRole::Pupil).count();
        assert_eq!(pupils, DEMO_GROUPS.len() * DEMO_PUPILS_PER_GROUP);
        for pupil in school.people_with_role(UserRole::Pupil) {
            assert!(
                !pupil.linked.is_empty(),
                "{} has a guardian",
                pupil.username
            );
            let group = pupil.group.as_deref().expect("group");
            assert_eq!(
                school.classes_of_group(group).count(),
                1 + DEMO_SUBJECTS.len()
            );
        }
    }
}
