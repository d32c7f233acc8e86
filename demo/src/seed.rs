//! The demo data: at each school a generated roster (the school year and its two terms, classes,
//! teachers, pupils, guardians, a principal), every user's password, the classes' weekly
//! timetables, an assignment per subject class with submissions (one returned with feedback, one
//! saved as a draft), message threads with replies, and announcements to the school and to a
//! class; and one announcement to the whole municipality.
//!
//! Everything goes through the code a real school uses: the roster through the OneRoster import,
//! the passwords through the credentials model, the rest through the node's HTTP API as the user
//! who would write it (the principal sets the timetables, a teacher creates the assignment, the
//! pupil submits it). The municipality's announcement is the exception that proves the rule: the
//! node's API only reads those, and the relay accepts them only from the municipality's operators,
//! so it is written as `digione-operator announce` writes it (an operator certificate, a replica
//! synced with the relay, the edit confirmed by the relay) and reaches both schools through the
//! relay, as it would in production.
//!
//! **Run again, write nothing twice.** Each step first reads whether what it would write is there
//! (an assignment or a thread by its title, a submission by its status, a timetable by its
//! lessons) and writes only what is missing. So a second run writes nothing, and a first run that
//! was interrupted is completed by the next.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use node::model::UserRole;
use node::model::announcements::{
    AnnouncementAudience, AnnouncementInput, AnnouncementsDocument, announcements_doc,
};
use node::model::common::{ItemId, ModelError, NodeTime};
use node::model::credentials::{CredentialsDocument, credentials_doc};
use operator::connection::OperatorConnection;
use school_fixtures::school_generator::{
    DEMO_GROUPS, DemoSchoolRequest, GeneratedClass, GeneratedPerson, GeneratedSchool, demo_school,
};
use serde_json::{Value, json};

use crate::client::ApiSession;
use crate::fleet::{self, Fleet, RunningSchool};

/// Every demo user's password. It is printed and published, which is why the demo listens on
/// loopback only.
pub const DEMO_PASSWORD: &str = "digione-demo";

/// The file, in the data directory, that keeps the school year the first run generated, so a run
/// in a later year continues the same roster instead of importing a new year over it.
const SCHOOL_YEAR_FILE: &str = "school-year";

/// The first month of a Finnish school year (August).
const SCHOOL_YEAR_FIRST_MONTH: time::Month = time::Month::August;

/// Password hashes written per change of the credentials document: each entry is about 100 bytes
/// of hash plus automerge's overhead, so this keeps a change far below the store's 512 KiB bound.
const CREDENTIALS_PER_WRITE: usize = 500;

/// Pupils of each group who have submitted the mathematics assignment.
const PUPILS_WHO_SUBMITTED: usize = 5;

/// The municipality announcement's author: the municipality's education office, as its coordinator
/// tool would sign it.
const MUNICIPALITY_AUTHOR: &str = "vantaa-opetustoimi";

const MILLIS_PER_DAY: i64 = 24 * 3600 * 1000;

/// The logins the demo prints for one school: a user per role.
#[derive(Debug, Clone)]
pub struct DemoLogins {
    pub pupil: String,
    pub teacher: String,
    pub guardian: String,
    pub admin: String,
}

/// Writes whatever of the demo data is missing at every school; returns each school's logins in
/// the fleet's order.
pub async fn write_demo_data(fleet: &Fleet) -> Result<Vec<DemoLogins>, String> {
    let first_year = school_year(&fleet.data_dir)?;
    let mut logins = Vec::new();
    for school in &fleet.schools {
        let generated = demo_school(&DemoSchoolRequest {
            school_code: school.code,
            school_name: school.name,
            municipality_code: fleet::MUNICIPALITY_CODE,
            municipality_name: fleet::MUNICIPALITY_ORG_NAME,
            first_year,
        });
        import_roster(school, &generated).await?;
        set_passwords(school, &generated).await?;
        let cast = Cast::of(&generated)?;
        let mut sessions = Sessions::new(school.base_url());
        write_timetables(&generated, &cast, &mut sessions).await?;
        write_assignments(&generated, &cast, &mut sessions).await?;
        write_threads(&cast, &mut sessions).await?;
        write_announcements(&generated, &cast, &mut sessions, first_year).await?;
        logins.push(cast.logins());
    }
    write_municipality_announcement(fleet).await?;
    Ok(logins)
}

/// The calendar year the demo's school year starts in: chosen on the first run (the school year
/// going on today, a Finnish one starting in August) and read back after.
fn school_year(data_dir: &Path) -> Result<i32, String> {
    let path = data_dir.join(SCHOOL_YEAR_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|error| format!("{} is damaged: {error}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let today = time::OffsetDateTime::now_utc().date();
            let first_year = if today.month() >= SCHOOL_YEAR_FIRST_MONTH {
                today.year()
            } else {
                today.year() - 1
            };
            std::fs::write(&path, format!("{first_year}\n"))
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            Ok(first_year)
        }
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// Writes the school's OneRoster package into the node's directory (where it stays, as an example
/// package) and imports it. A bulk package that matches the current roster changes nothing.
async fn import_roster(school: &RunningSchool, generated: &GeneratedSchool) -> Result<(), String> {
    let package = school.data_dir.join("roster-package");
    std::fs::create_dir_all(&package)
        .map_err(|error| format!("cannot create {}: {error}", package.display()))?;
    generated
        .write_package(&package)
        .map_err(|error| format!("cannot write the roster package: {error}"))?;
    let repository = school.node.state.repository.clone();
    let code = school.node.state.identity.school.clone();
    tokio::task::spawn_blocking(move || {
        node::school::roster::import_package(&repository, &code, &package)
            .map(|_| ())
            .map_err(|failure| format!("the roster import failed: {failure:?}"))
    })
    .await
    .map_err(|error| error.to_string())?
}

/// Gives every user without a password the demo password. One argon2id hash serves them all:
/// hashing each user's separately would take seconds and show nothing.
async fn set_passwords(school: &RunningSchool, generated: &GeneratedSchool) -> Result<(), String> {
    let repository = school.node.state.repository.clone();
    let code = school.node.state.identity.school.clone();
    // Passwords are kept by user id (the roster's sourcedId), not by username.
    let user_ids: Vec<String> = generated
        .people
        .iter()
        .map(|person| person.sourced_id.clone())
        .collect();
    tokio::task::spawn_blocking(move || {
        let document = credentials_doc(&code);
        let credentials: CredentialsDocument = repository
            .read_or_default(&document)
            .map_err(|error| error.to_string())?;
        let missing: Vec<&String> = user_ids
            .iter()
            .filter(|user_id| credentials.hash_for(user_id).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let hash = node::auth::hash_password(DEMO_PASSWORD).map_err(|error| error.to_string())?;
        for slice in missing.chunks(CREDENTIALS_PER_WRITE) {
            repository
                .update(&document, |credentials: &mut CredentialsDocument| {
                    for user_id in slice {
                        credentials.set_hash(user_id, &hash)?;
                    }
                    Ok::<_, ModelError>(())
                })
                .map_err(|error| error.to_string())?;
        }
        Ok(())
    })
    .await
    .map_err(|error| error.to_string())?
}

/// The people the demo data is about at one school.
struct Cast<'school> {
    admin: &'school GeneratedPerson,
    /// The first pupil of the first group: the pupil whose login is printed.
    pupil: &'school GeneratedPerson,
    guardian: &'school GeneratedPerson,
    /// The first group's class teacher, who also teaches it a subject.
    class_teacher: &'school GeneratedPerson,
    /// Another pupil of the first group, whose guardian a teacher writes to.
    classmate: &'school GeneratedPerson,
    classmate_guardian: &'school GeneratedPerson,
    /// The first group's homeroom class and its subject classes.
    first_group_classes: Vec<&'school GeneratedClass>,
    /// Each pupil by group, in roster order.
    pupils_by_group: BTreeMap<String, Vec<&'school GeneratedPerson>>,
    school: &'school GeneratedSchool,
}

impl<'school> Cast<'school> {
    fn of(school: &'school GeneratedSchool) -> Result<Self, String> {
        let missing = |what: &str| format!("the generated school has no {what}");
        let first_group = DEMO_GROUPS[0];
        let mut pupils_by_group: BTreeMap<String, Vec<&GeneratedPerson>> = BTreeMap::new();
        for pupil in school.people_with_role(UserRole::Pupil) {
            if let Some(group) = &pupil.group {
                pupils_by_group
                    .entry(group.clone())
                    .or_default()
                    .push(pupil);
            }
        }
        let first_group_pupils = pupils_by_group
            .get(first_group)
            .ok_or_else(|| missing("pupils"))?;
        let (pupil, classmate) = match first_group_pupils.as_slice() {
            [pupil, classmate, ..] => (*pupil, *classmate),
            _ => return Err(missing("two pupils in a group")),
        };
        let guardian_of = |child: &GeneratedPerson| {
            child
                .linked
                .first()
                .and_then(|id| school.person(id))
                .ok_or_else(|| missing("guardian for a pupil"))
        };
        let first_group_classes: Vec<&GeneratedClass> =
            school.classes_of_group(first_group).collect();
        let class_teacher = first_group_classes
            .first()
            .and_then(|homeroom| school.person(&homeroom.teacher))
            .ok_or_else(|| missing("class teacher"))?;
        Ok(Self {
            admin: school
                .people_with_role(UserRole::Admin)
                .next()
                .ok_or_else(|| missing("principal"))?,
            pupil,
            guardian: guardian_of(pupil)?,
            class_teacher,
            classmate,
            classmate_guardian: guardian_of(classmate)?,
            first_group_classes,
            pupils_by_group,
            school,
        })
    }

    fn logins(&self) -> DemoLogins {
        DemoLogins {
            pupil: self.pupil.username.clone(),
            teacher: self.class_teacher.username.clone(),
            guardian: self.guardian.username.clone(),
            admin: self.admin.username.clone(),
        }
    }

    /// The first group's class of a subject.
    fn first_group_class(&self, subject_code: &str) -> Result<&'school GeneratedClass, String> {
        self.first_group_classes
            .iter()
            .find(|class| {
                class
                    .subject
                    .is_some_and(|subject| subject.code == subject_code)
            })
            .copied()
            .ok_or_else(|| format!("the first group has no {subject_code} class"))
    }

    fn teacher_of(&self, class: &GeneratedClass) -> Result<&'school GeneratedPerson, String> {
        self.school
            .person(&class.teacher)
            .ok_or_else(|| format!("{} has no teacher in the roster", class.sourced_id))
    }
}

/// Logged-in sessions of one school, one per user, so that each user logs in (one argon2id check)
/// once per run.
struct Sessions {
    base: String,
    by_username: HashMap<String, ApiSession>,
}

impl Sessions {
    fn new(base: String) -> Self {
        Self {
            base,
            by_username: HashMap::new(),
        }
    }

    async fn of(&mut self, person: &GeneratedPerson) -> Result<ApiSession, String> {
        if let Some(session) = self.by_username.get(&person.username) {
            return Ok(session.clone());
        }
        let session = ApiSession::login(&self.base, &person.username, DEMO_PASSWORD).await?;
        self.by_username
            .insert(person.username.clone(), session.clone());
        Ok(session)
    }
}

// ---------------------------------------------------------------------------------------------
// Timetables.
// ---------------------------------------------------------------------------------------------

const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

/// The morning's subject lessons, 45 minutes each (one Finnish lesson hour) with breaks between.
const SUBJECT_LESSON_TIMES: [(&str, &str); 3] =
    [("08:15", "09:00"), ("09:15", "10:00"), ("10:45", "11:30")];

/// The weekly homeroom lesson, after lunch.
const HOMEROOM_LESSON_TIME: (&str, &str) = ("12:15", "13:00");

/// The principal sets every class's weekly lessons for both terms, where a class has none yet.
async fn write_timetables(
    school: &GeneratedSchool,
    cast: &Cast<'_>,
    sessions: &mut Sessions,
) -> Result<(), String> {
    let admin = sessions.of(cast.admin).await?;
    for (group_index, group) in DEMO_GROUPS.iter().enumerate() {
        for (class, lessons) in weekly_lessons(school, group_index, group) {
            for term in &school.terms {
                let path = format!("/api/v1/classes/{class}/timetable/{}", term.sourced_id);
                let current = admin.get(&path).await?;
                if current["lessons"]
                    .as_array()
                    .is_some_and(|lessons| !lessons.is_empty())
                {
                    continue;
                }
                admin
                    .put(&path, json!({ "lessons": lessons.clone() }))
                    .await?;
            }
        }
    }
    Ok(())
}

/// One group's week, by class: each morning slot rotates through the subjects, shifted by the
/// group's index so that two groups never need the same subject teacher at the same time (which
/// holds while there are no more groups than subjects); the homeroom lesson is on a different
/// weekday for each group.
fn weekly_lessons(
    school: &GeneratedSchool,
    group_index: usize,
    group: &str,
) -> BTreeMap<String, Vec<Value>> {
    let classes: Vec<&GeneratedClass> = school.classes_of_group(group).collect();
    let subject_classes: Vec<&GeneratedClass> = classes
        .iter()
        .copied()
        .filter(|class| class.subject.is_some())
        .collect();
    let mut lessons: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let lesson = |weekday: &str, (start, end): (&str, &str), class: &GeneratedClass| {
        json!({
            "weekday": weekday,
            "start": start,
            "end": end,
            "room": class.room,
            "teacher": class.teacher,
        })
    };
    if !subject_classes.is_empty() {
        for (day_index, weekday) in WEEKDAYS.iter().enumerate() {
            for (slot, times) in SUBJECT_LESSON_TIMES.iter().enumerate() {
                let class =
                    subject_classes[(day_index + slot + group_index) % subject_classes.len()];
                lessons
                    .entry(class.sourced_id.clone())
                    .or_default()
                    .push(lesson(weekday, *times, class));
            }
        }
    }
    if let Some(homeroom) = classes.iter().find(|class| class.subject.is_none()) {
        let weekday = WEEKDAYS[group_index % WEEKDAYS.len()];
        lessons
            .entry(homeroom.sourced_id.clone())
            .or_default()
            .push(lesson(weekday, HOMEROOM_LESSON_TIME, homeroom));
    }
    lessons
}

// ---------------------------------------------------------------------------------------------
// Assignments and submissions.
// ---------------------------------------------------------------------------------------------

/// An assignment every group's class of a subject gets.
struct AssignmentPlan {
    subject_code: &'static str,
    title: &'static str,
    instructions: &'static str,
    due_in_days: i64,
    cut_off_in_days: i64,
}

const ASSIGNMENTS: [AssignmentPlan; 3] = [
    AssignmentPlan {
        subject_code: "MA",
        title: "Murtolukujen yhteenlasku",
        instructions: "Laske kirjan sivun 42 tehtävät 1–12. Kirjoita vastausten lisäksi välivaiheet, niin näen, miten ajattelit.",
        due_in_days: 3,
        cut_off_in_days: 7,
    },
    AssignmentPlan {
        subject_code: "AI",
        title: "Kirjoitelma: paras muistoni kesältä",
        instructions: "Kirjoita noin sivun mittainen kirjoitelma kesän parhaasta muistostasi. Muista otsikko ja kappalejako.",
        due_in_days: 7,
        cut_off_in_days: 14,
    },
    AssignmentPlan {
        subject_code: "ENA",
        title: "Unit 3: vocabulary",
        instructions: "Learn the words of Unit 3 and write five sentences that use at least ten of them.",
        due_in_days: 2,
        cut_off_in_days: 5,
    },
];

const MATHEMATICS_ANSWER: &str = "1) 3/4 + 1/8 = 6/8 + 1/8 = 7/8\n2) 2/3 + 1/6 = 4/6 + 1/6 = 5/6\n3) 1/2 + 3/4 = 2/4 + 3/4 = 5/4 = 1 1/4";
const ENGLISH_ANSWER: &str = "1. I usually walk to school with my neighbour.\n2. My favourite subject is science because the experiments are exciting.\n3. We borrowed three books from the library.\n4. The weather was freezing, so we stayed inside.\n5. I would like to travel abroad next summer.";
const ESSAY_DRAFT: &str =
    "Paras muistoni kesältä\n\nHeinäkuussa olimme mökillä Saimaalla. Eräänä iltana";
const MATHEMATICS_FEEDBACK: &str = "Hienoa työtä! Välivaiheet ovat selkeät. Tarkista vielä tehtävä 7: muista laventaa murtoluvut samannimisiksi ennen yhteenlaskua.";
const MATHEMATICS_GRADE: &str = "9";

/// Each subject class gets its assignment; in every group the first pupils have submitted the
/// mathematics one; the printed pupil has also submitted the English one and saved a draft of the
/// essay; the class teacher has returned the printed pupil's mathematics with feedback.
async fn write_assignments(
    school: &GeneratedSchool,
    cast: &Cast<'_>,
    sessions: &mut Sessions,
) -> Result<(), String> {
    let now = node_now_millis();
    // Assignment ids by class sourcedId.
    let mut assignment_of_class: BTreeMap<String, String> = BTreeMap::new();
    for group in DEMO_GROUPS {
        for class in school.classes_of_group(group) {
            let Some(subject) = class.subject else {
                continue;
            };
            let Some(plan) = ASSIGNMENTS
                .iter()
                .find(|plan| plan.subject_code == subject.code)
            else {
                continue;
            };
            let teacher = sessions.of(cast.teacher_of(class)?).await?;
            let id = ensure_assignment(&teacher, class, plan, now).await?;
            assignment_of_class.insert(class.sourced_id.clone(), id);
        }
    }

    for group in DEMO_GROUPS {
        let Some(mathematics) = school
            .classes_of_group(group)
            .find(|class| class.subject.is_some_and(|subject| subject.code == "MA"))
        else {
            continue;
        };
        let Some(assignment) = assignment_of_class.get(&mathematics.sourced_id) else {
            continue;
        };
        let pupils = cast.pupils_by_group.get(group).cloned().unwrap_or_default();
        let teacher = sessions.of(cast.teacher_of(mathematics)?).await?;
        let submitted = submitted_pupils(&teacher, assignment).await?;
        for pupil in pupils.iter().take(PUPILS_WHO_SUBMITTED) {
            if !submitted.contains_key(&pupil.sourced_id) {
                let session = sessions.of(pupil).await?;
                submit(&session, assignment, MATHEMATICS_ANSWER, true).await?;
            }
        }
    }

    // The printed pupil's own work: mathematics returned, English submitted, the essay a draft.
    let mathematics = cast.first_group_class("MA")?;
    let english = cast.first_group_class("ENA")?;
    let essay = cast.first_group_class("AI")?;
    if let Some(assignment) = assignment_of_class.get(&english.sourced_id) {
        let teacher = sessions.of(cast.teacher_of(english)?).await?;
        if !submitted_pupils(&teacher, assignment)
            .await?
            .contains_key(&cast.pupil.sourced_id)
        {
            let pupil = sessions.of(cast.pupil).await?;
            submit(&pupil, assignment, ENGLISH_ANSWER, true).await?;
        }
    }
    if let Some(assignment) = assignment_of_class.get(&essay.sourced_id) {
        let pupil = sessions.of(cast.pupil).await?;
        let own = pupil
            .get(&format!(
                "/api/v1/assignments/{assignment}/submissions/{}",
                cast.pupil.sourced_id
            ))
            .await?;
        if own["draft_saved_at"].is_null() && own["attempts"].as_array().is_none_or(Vec::is_empty) {
            submit(&pupil, assignment, ESSAY_DRAFT, false).await?;
        }
    }
    if let Some(assignment) = assignment_of_class.get(&mathematics.sourced_id) {
        let teacher = sessions.of(cast.teacher_of(mathematics)?).await?;
        let status = submitted_pupils(&teacher, assignment).await?;
        if status.get(&cast.pupil.sourced_id).map(String::as_str) == Some("submitted") {
            teacher
                .post(
                    &format!(
                        "/api/v1/assignments/{assignment}/submissions/{}/return",
                        cast.pupil.sourced_id
                    ),
                    json!({ "feedback": MATHEMATICS_FEEDBACK, "grade": MATHEMATICS_GRADE }),
                )
                .await?;
        }
    }
    Ok(())
}

/// The id of the class's assignment with the plan's title, created by its teacher when missing.
async fn ensure_assignment(
    teacher: &ApiSession,
    class: &GeneratedClass,
    plan: &AssignmentPlan,
    now: i64,
) -> Result<String, String> {
    let path = format!("/api/v1/classes/{}/assignments", class.sourced_id);
    let page = teacher.get(&path).await?;
    let existing = page["assignments"].as_array().and_then(|assignments| {
        assignments
            .iter()
            .find(|assignment| assignment["title"] == plan.title)
            .and_then(|assignment| assignment["id"].as_str())
    });
    if let Some(id) = existing {
        return Ok(id.to_owned());
    }
    let created = teacher
        .post(
            &path,
            json!({
                "title": plan.title,
                "instructions": plan.instructions,
                "due_at": now + plan.due_in_days * MILLIS_PER_DAY,
                "cut_off_at": now + plan.cut_off_in_days * MILLIS_PER_DAY,
            }),
        )
        .await?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("creating {:?} answered without an id", plan.title))
}

/// The pupils who have submitted (their status: `submitted` or `returned`), as the teacher sees it.
async fn submitted_pupils(
    teacher: &ApiSession,
    assignment: &str,
) -> Result<BTreeMap<String, String>, String> {
    let summaries = teacher
        .get(&format!("/api/v1/assignments/{assignment}/submissions"))
        .await?;
    Ok(summaries
        .as_array()
        .map(|summaries| {
            summaries
                .iter()
                .filter(|summary| summary["status"] != "draft")
                .filter_map(|summary| {
                    Some((
                        summary["pupil"].as_str()?.to_owned(),
                        summary["status"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

async fn submit(
    pupil: &ApiSession,
    assignment: &str,
    text: &str,
    submit: bool,
) -> Result<(), String> {
    pupil
        .put(
            &format!("/api/v1/assignments/{assignment}/submission"),
            json!({ "text": text, "submit": submit }),
        )
        .await
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------------------------

/// A conversation: who starts it with whom, and the other's answer.
struct ThreadPlan<'school> {
    from: &'school GeneratedPerson,
    to: &'school GeneratedPerson,
    subject: String,
    body: String,
    reply: String,
}

async fn write_threads(cast: &Cast<'_>, sessions: &mut Sessions) -> Result<(), String> {
    let essay_teacher = cast.teacher_of(cast.first_group_class("AI")?)?;
    let plans = [
        ThreadPlan {
            from: cast.guardian,
            to: cast.class_teacher,
            subject: "Poissaolo perjantaina".into(),
            body: format!(
                "Hei! {} on perjantaina hammaslääkärissä kello 9–11 ja tulee kouluun sen jälkeen.\n\nTerveisin {} {}",
                cast.pupil.given_name, cast.guardian.given_name, cast.guardian.family_name
            ),
            reply: "Kiitos tiedosta! Merkitsen poissaolon selvitetyksi.".into(),
        },
        ThreadPlan {
            from: cast.pupil,
            to: essay_teacher,
            subject: "Kysymys kirjoitelmasta".into(),
            body: "Saako kirjoitelman kirjoittaa myös talviloman muistosta?".into(),
            reply: "Saa, kunhan se on oma muistosi. Muista otsikko ja kappalejako!".into(),
        },
        ThreadPlan {
            from: cast.class_teacher,
            to: cast.classmate_guardian,
            subject: "Matematiikan tukiopetus".into(),
            body: format!(
                "Hei! Järjestän matematiikan tukiopetusta tiistaisin kello 14.15–15.00 luokassa B204. {} on tervetullut mukaan, jos murtoluvut tuntuvat hankalilta.",
                cast.classmate.given_name
            ),
            reply: format!(
                "Kiitos, {} tulee mielellään ensi tiistaina.",
                cast.classmate.given_name
            ),
        },
    ];
    for plan in &plans {
        let starter = sessions.of(plan.from).await?;
        if find_thread(&starter, &plan.subject).await?.is_none() {
            starter
                .post(
                    "/api/v1/threads",
                    json!({
                        "participants": [plan.to.sourced_id],
                        "subject": plan.subject,
                        "body": plan.body,
                    }),
                )
                .await?;
        }
        let replier = sessions.of(plan.to).await?;
        if let Some(thread) = find_thread(&replier, &plan.subject).await?
            && thread["message_count"].as_u64().unwrap_or(0) < 2
            && let Some(id) = thread["id"].as_str()
        {
            replier
                .post(
                    &format!("/api/v1/threads/{id}/messages"),
                    json!({ "body": plan.reply }),
                )
                .await?;
        }
    }
    Ok(())
}

/// The caller's thread with this subject, as its inbox lists it.
async fn find_thread(session: &ApiSession, subject: &str) -> Result<Option<Value>, String> {
    let threads = session.get("/api/v1/threads").await?;
    Ok(threads.as_array().and_then(|threads| {
        threads
            .iter()
            .find(|thread| thread["subject"] == subject)
            .cloned()
    }))
}

// ---------------------------------------------------------------------------------------------
// Announcements.
// ---------------------------------------------------------------------------------------------

async fn write_announcements(
    school: &GeneratedSchool,
    cast: &Cast<'_>,
    sessions: &mut Sessions,
    first_year: i32,
) -> Result<(), String> {
    let admin = sessions.of(cast.admin).await?;
    let school_title = format!("Tervetuloa lukuvuoteen {first_year}–{}!", first_year + 1);
    let visible = admin.get("/api/v1/announcements").await?;
    if !has_title(&visible, &school_title) {
        admin
            .post(
                "/api/v1/announcements/school",
                json!({
                    "title": school_title,
                    "body": format!(
                        "{} toivottaa kaikki oppilaat ja huoltajat tervetulleiksi. Syyslukukauden vanhempainilta pidetään koulun salissa; kutsu tulee tätä kautta.\n\nRehtori {} {}",
                        school.school_name, cast.admin.given_name, cast.admin.family_name
                    ),
                }),
            )
            .await?;
    }

    let homeroom = cast
        .first_group_classes
        .first()
        .ok_or("the first group has no homeroom class")?;
    let class_teacher = sessions.of(cast.class_teacher).await?;
    let class_path = format!("/api/v1/classes/{}/announcements", homeroom.sourced_id);
    let class_title = "Luokkaretki Nuuksioon";
    if !has_title(&class_teacher.get(&class_path).await?, class_title) {
        class_teacher
            .post(
                &class_path,
                json!({
                    "title": class_title,
                    "body": "Lähdemme luokkaretkelle Nuuksion kansallispuistoon. Ota mukaan sään mukaiset vaatteet, vesipullo ja eväät; koulu tarjoaa lämpimän keiton.",
                }),
            )
            .await?;
    }
    Ok(())
}

fn has_title(announcements: &Value, title: &str) -> bool {
    announcements
        .as_array()
        .is_some_and(|items| items.iter().any(|item| item["title"] == title))
}

/// The title of the municipality's announcement; it is written once, whatever the year.
const MUNICIPALITY_TITLE: &str = "Vantaan koulujen talviajan koulukuljetukset";
const MUNICIPALITY_BODY: &str = "Lumisateen aikana koulukuljetukset voivat myöhästyä. Koulut eivät merkitse myöhästymistä, jos kuljetus on myöhässä. Ajankohtaiset tiedot kuljetuksista julkaistaan tällä kanavalla.\n\nVantaan kaupunki, opetustoimi";

/// Writes the municipality's announcement into `municipality:092/announcements` on the first
/// school's node, from where it syncs through the relay to every school of the municipality.
async fn write_municipality_announcement(fleet: &Fleet) -> Result<(), String> {
    let settings = fleet.municipality_operator()?;
    let municipality = settings.municipality().map_err(|error| error.to_string())?;
    let connection = OperatorConnection::connect(settings)
        .await
        .map_err(|error| format!("the municipality's operator could not sync: {error}"))?;
    let document = announcements_doc(&AnnouncementAudience::Municipality { municipality });
    let repository = connection.repository.clone();
    let written_document = document.clone();
    let written = tokio::task::spawn_blocking(move || {
        repository
            .update(
                &written_document,
                |announcements: &mut AnnouncementsDocument| {
                    // Written once: a second run finds it, through the operator's synced replica.
                    if announcements
                        .items
                        .values()
                        .any(|announcement| announcement.title == MUNICIPALITY_TITLE)
                    {
                        return Ok(());
                    }
                    announcements
                        .publish(
                            &ItemId::generate(),
                            AnnouncementInput {
                                title: MUNICIPALITY_TITLE.into(),
                                body: MUNICIPALITY_BODY.into(),
                                expires_at: None,
                            },
                            MUNICIPALITY_AUTHOR,
                            NodeTime::from_unix_millis(node_now_millis()),
                        )
                        .map(|_| ())
                },
            )
            .map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|written| written);
    let confirmed = match written {
        Ok(()) => connection
            .wait_confirmed(&document)
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(error),
    };
    connection.disconnect().await;
    confirmed
}

/// Node time: the node's clock in Unix milliseconds, as the API itself reads it.
fn node_now_millis() -> i64 {
    sync_transport::link::now_millis() as i64
}
