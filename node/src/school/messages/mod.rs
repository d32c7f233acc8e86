//! Messages: conversations (threads) between people of the school, their unread counts, and each
//! user's inbox index. The JSON API (`crate::api::messages`), the web pages
//! (`crate::web::messages`) and the home page call these operations.
//!
//! # Who may write to whom
//!
//! These are safeguarding rules: a school platform must never become a private channel between a
//! child and someone the school has not vetted. They are checked when a thread is started; the
//! participants of a thread never change afterwards, so they hold for its whole life.
//!
//! - Teachers, staff and administrators (the **school's adults**) may start a thread with anyone
//!   of the school.
//! - **Pupils** may start a thread with the school's adults only. Pupils never message each other.
//! - **Guardians** may start a thread with the school's adults only.
//! - Whoever starts it, a thread holds **at most one pupil**, and a thread with a pupil holds no
//!   guardian other than that pupil's own. So a teacher cannot (even by mistake) open a group in
//!   which pupils talk to each other, or in which another family's parent talks to a child. Speaking
//!   to a whole class is what announcements are for.
//! - Every participant must be an enabled user of this school's roster. A user's standing is
//!   decided by the most trusted role they hold: a teacher who is also a guardian counts as a
//!   teacher ([`Standing`]).
//!
//! Whom the caller may write to is the policy's [`Action::StartConversation`]; whom one thread may
//! hold together (the pupil's company) is this module's [`check_pupil_company`].
//!
//! A participant who is no enabled user of the school and one the caller may not write to get the
//! **same refusal** (403, one text that names neither): otherwise a pupil could probe ids and learn
//! which belong to other pupils and guardians, the class lists the roster routes keep from pupils.
//! The web UI's new-message page shows a name named by a link (`?to=`) only to those who may write
//! to that person ([`may_start_thread_with`]).
//!
//! # Who may read a thread
//!
//! Only its participants, administrators included: school staff see a conversation only when they
//! take part in it. Anyone else, and any id that names no thread, gets **404**, never 403: thread
//! ids travel in URLs, logs and browser histories, and a 403 would confirm to whoever holds one that
//! the conversation exists.
//!
//! # One edit per change
//!
//! A message and a read marker depend on the thread as it is when they are written (its
//! participants, its newest message, whether it is full), so each is computed inside the
//! repository's update of the thread, under the document's lock: replies posted at the same moment
//! are all kept, each in its place. Posting a message also moves the author's read marker to it, in
//! the same edit.
//!
//! # The inbox index
//!
//! Finding a user's threads must not mean loading every thread of the school, so each user has an
//! inbox document ([`InboxDocument`]) listing the threads they take part in with the node time of
//! each thread's latest message. A listing reads the inbox, then only one page of threads, at most
//! [`MAX_THREADS_LISTED`]; the next page starts after the last thread of this one (`before`).
//!
//! Starting a thread or posting to one writes the thread first, then every participant's inbox,
//! each write durable on its own (the inboxes several at a time, so they share flushes). The inbox
//! is only an index: the thread document is the authority on who takes part and what was said.
//!
//! - **A crash between the writes** (or an inbox write that fails, which is logged and does not
//!   fail the request, since the message is stored) leaves a thread missing from some inboxes.
//!   Nobody loses a message: the thread is durable, the participants who have it in their inbox see
//!   it, and the next message in the thread rewrites every participant's entry, which repairs the
//!   others. A new thread whose creator never got an answer stays invisible to those whose inbox
//!   lacks it until then; the creator starts it again.
//! - **An inbox entry whose thread is missing** does not arise from this order of writes on one
//!   node, but does when the inbox reaches a node before the thread (documents sync independently,
//!   for example onto a replacement node restored from the relay). A listing skips such an entry and
//!   keeps it, because the thread may still arrive; likewise an entry naming a thread the user does
//!   not take part in, or one whose document is damaged, is skipped.

mod views;

use std::cmp::Reverse;

use sync_protocol::ids::SchoolCode;

use crate::auth::Caller;
use crate::model::UserId;
use crate::model::common::{ItemId, ModelError, NodeTime};
pub use crate::model::inbox::{InboxDocument, MAX_INBOX_THREADS, inbox_doc};
use crate::model::messages::{MAX_PARTICIPANTS_PER_THREAD, ThreadDocument, thread_doc};
use crate::repository::Repository;
use crate::school::access::{Access, Target, roster_index};
use crate::school::error::{Problem, ServiceError};
use crate::school::policy::{Action, Standing};
use crate::school::roster_index::RosterIndex;
use crate::school::runtime::{blocking, node_now};
use crate::state::AppState;

pub use self::views::{MessageView, Participant, ReadState, ThreadSummary, ThreadView};
use self::views::{message_view, read_state, thread_summary, thread_view};

/// Threads returned by one listing, the most recently active first. Each listed thread is read in
/// full (for its unread count), so this bounds the work of a listing.
pub const MAX_THREADS_LISTED: usize = 100;
/// Inbox documents written at the same time after a message, so that their writes share flushes
/// instead of paying one fsync each one after another.
const INBOX_WRITERS_AT_ONCE: usize = 8;

// ---------------------------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------------------------

/// A thread to start, with its first message.
#[derive(Debug)]
pub struct NewThread {
    /// User ids (OneRoster sourcedIds) of the other participants; the caller takes part anyway.
    pub participants: Vec<String>,
    pub subject: String,
    /// The first message.
    pub body: String,
}

/// Which page of the caller's threads.
#[derive(Debug, Default)]
pub struct ThreadPage {
    /// Threads per page: [`MAX_THREADS_LISTED`] when absent, and at most that (larger values are
    /// lowered).
    pub limit: Option<usize>,
    /// The id of the last thread of the previous page: this page starts after it.
    pub before: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Operations.
// ---------------------------------------------------------------------------------------------

/// Starts a thread with its first message, within the rules of the module documentation.
pub async fn start_thread(
    state: &AppState,
    caller: &Caller,
    new: NewThread,
) -> Result<ThreadView, ServiceError> {
    // Checked before any lookup, so an oversized list costs nothing; the exact count (without
    // repeats, with the caller) is checked with the participants.
    if new.participants.len() > MAX_PARTICIPANTS_PER_THREAD {
        return Err(too_many_participants());
    }
    let access = Access::new(caller, roster_index(state).await?);
    let others = allowed_participants(&access, &new.participants)?;
    let thread_id = ItemId::generate();
    let first_message_id = ItemId::generate();
    let now = node_now();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let creator = caller.user_id.clone();
    let thread = blocking(move || {
        let thread = repository.update(
            &thread_doc(&school, &thread_id),
            |thread: &mut ThreadDocument| {
                thread.create(
                    &thread_id,
                    &new.subject,
                    &creator,
                    &others,
                    (&first_message_id, &new.body),
                    now,
                )?;
                Ok::<_, ModelError>(thread.clone())
            },
        )?;
        note_activity_in_inboxes(&repository, &school, &thread.participants, &thread_id, now);
        Ok(thread)
    })
    .await?;
    Ok(thread_view(&access.roster, access.me(), &thread))
}

/// The caller's threads, most recent activity first, with unread counts, a page of at most
/// [`MAX_THREADS_LISTED`] at a time.
pub async fn list_threads(
    state: &AppState,
    caller: &Caller,
    page: ThreadPage,
) -> Result<Vec<ThreadSummary>, ServiceError> {
    let limit = page
        .limit
        .unwrap_or(MAX_THREADS_LISTED)
        .clamp(1, MAX_THREADS_LISTED);
    let roster = roster_index(state).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = caller.user_id.clone();
    let mut summaries = blocking(move || {
        let inbox: InboxDocument = repository.read_or_default(&inbox_doc(&school, &me))?;
        let ordered = inbox.most_recent_first();
        // Pages follow the inbox's order, so a page starts right after the thread the previous
        // one ended with.
        let start = match &page.before {
            None => 0,
            Some(before) => {
                ordered
                    .iter()
                    .position(|thread_id| thread_id == before)
                    .ok_or_else(|| {
                        ServiceError::invalid(
                            "before",
                            format!(
                                "before={before:?} is not one of your threads; pass the id of \
                                 the last thread of the previous page"
                            ),
                        )
                    })?
                    + 1
            }
        };
        let mut summaries = Vec::new();
        for thread_id in ordered.into_iter().skip(start).take(limit) {
            // Each thread is summarised and dropped before the next is read, so a listing holds
            // one thread in memory at a time however long the threads are.
            if let Some(thread) = read_listed_thread(&repository, &school, thread_id, &me) {
                summaries.extend(thread_summary(&roster, &me, &thread));
            }
        }
        Ok(summaries)
    })
    .await?;
    // The inbox's times are only a hint for choosing which threads to read; the threads' own newest
    // messages decide the order.
    summaries.sort_by(|a, b| {
        (Reverse(a.last_activity_at), &a.id).cmp(&(Reverse(b.last_activity_at), &b.id))
    });
    Ok(summaries)
}

/// The whole thread, for its participants only.
pub async fn get_thread(
    state: &AppState,
    caller: &Caller,
    thread: &str,
) -> Result<ThreadView, ServiceError> {
    let thread_id = parse_thread_id(thread)?;
    let roster = roster_index(state).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = caller.user_id.clone();
    let thread = blocking(move || {
        repository
            .read::<ThreadDocument>(&thread_doc(&school, &thread_id))?
            .filter(|thread| thread.id == thread_id.as_str() && thread.is_participant(&me))
            .ok_or_else(|| thread_not_found(&thread_id))
    })
    .await?;
    Ok(thread_view(&roster, &caller.user_id, &thread))
}

/// Adds a message to a thread, for its participants only; the author has then read the thread up
/// to their message. Computed inside the thread's update (see "One edit per change").
pub async fn post_message(
    state: &AppState,
    caller: &Caller,
    thread: &str,
    body: String,
) -> Result<MessageView, ServiceError> {
    let thread_id = parse_thread_id(thread)?;
    let roster = roster_index(state).await?;
    let message_id = ItemId::generate();
    let now = node_now();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = caller.user_id.clone();
    let message = blocking(move || {
        let (message, participants) = repository.update(
            &thread_doc(&school, &thread_id),
            |thread: &mut ThreadDocument| {
                if thread.id != thread_id.as_str() || !thread.is_participant(&me) {
                    return Err(thread_not_found(&thread_id));
                }
                let message = thread.post(&message_id, &me, &body, now)?.clone();
                Ok((message, thread.participants.clone()))
            },
        )?;
        // Every participant's entry, not only the others': this is also what repairs an inbox that
        // a crash left without the thread (see the module documentation).
        note_activity_in_inboxes(&repository, &school, &participants, &thread_id, now);
        Ok(message)
    })
    .await?;
    Ok(message_view(&roster, &message))
}

/// Moves the caller's read marker forward, to `up_to_message_id` or, without one, to the thread's
/// newest message as it is when the marker is written.
pub async fn mark_read(
    state: &AppState,
    caller: &Caller,
    thread: &str,
    up_to_message_id: Option<String>,
) -> Result<ReadState, ServiceError> {
    let thread_id = parse_thread_id(thread)?;
    let now = node_now();
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = caller.user_id.clone();
    blocking(move || {
        Ok(repository.update(
            &thread_doc(&school, &thread_id),
            |thread: &mut ThreadDocument| {
                if thread.id != thread_id.as_str() || !thread.is_participant(&me) {
                    return Err(thread_not_found(&thread_id));
                }
                let newest = thread
                    .ordered_messages()
                    .last()
                    .map(|message| message.id.clone());
                if let Some(up_to) = up_to_message_id.or(newest) {
                    thread.mark_read(&me, &up_to, now)?;
                }
                Ok(read_state(&me, thread))
            },
        )?)
    })
    .await
}

/// Whether the caller may start a thread with `other` alone, by the rules [`start_thread`]
/// applies: a page shows the name of someone named in a link only when this holds.
pub fn may_start_thread_with(access: &Access<'_>, other: &str) -> bool {
    allowed_participants(access, &[other.to_owned()]).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Who may write to whom.
// ---------------------------------------------------------------------------------------------

/// The other participants of a new thread (without the caller, each once), after checking that
/// each is an enabled user of the school, that the caller may write to each
/// ([`Action::StartConversation`]), and that the thread keeps a pupil's company.
fn allowed_participants(
    access: &Access<'_>,
    requested: &[String],
) -> Result<Vec<UserId>, ServiceError> {
    let me = access.me();
    let my_standing = Standing::of(&access.caller.roles).ok_or_else(|| {
        ServiceError::Forbidden("you hold no role at this school that may send messages".into())
    })?;
    let mut others: Vec<UserId> = requested
        .iter()
        .filter(|participant| participant.as_str() != me)
        .cloned()
        .collect();
    others.sort();
    others.dedup();
    if others.is_empty() {
        return Err(ServiceError::Invalid {
            field: Some("participants"),
            problem: Problem::Missing,
            message: "name at least one participant besides yourself".into(),
        });
    }
    // The caller takes part too, so the others may fill all places but one.
    if others.len() >= MAX_PARTICIPANTS_PER_THREAD {
        return Err(too_many_participants());
    }
    let mut everyone = vec![(me.to_owned(), my_standing)];
    for other in &others {
        let standing = access
            .roster
            .users
            .user(other)
            .filter(|user| user.enabled)
            .and_then(|user| Standing::of(&user.roles))
            .ok_or_else(not_a_recipient)?;
        // Refused in the same words as someone who is no user of the school.
        access.require(Action::StartConversation, Target::Person(other))?;
        everyone.push((other.clone(), standing));
    }
    check_pupil_company(&access.roster, &everyone)?;
    Ok(others)
}

/// The one refusal for a participant who is no enabled user of the school, in the words of the
/// refusal for one the caller may not write to (see the module documentation).
fn not_a_recipient() -> ServiceError {
    ServiceError::Forbidden(Action::StartConversation.refusal().to_owned())
}

fn too_many_participants() -> ServiceError {
    ServiceError::invalid(
        "participants",
        format!(
            "a thread has at most {MAX_PARTICIPANTS_PER_THREAD} participants, its creator included"
        ),
    )
}

/// A thread holds at most one pupil, and besides the school's adults only that pupil's own
/// guardians.
fn check_pupil_company(
    roster: &RosterIndex,
    everyone: &[(UserId, Standing)],
) -> Result<(), ServiceError> {
    let pupils: Vec<&UserId> = everyone
        .iter()
        .filter(|(_, standing)| *standing == Standing::Pupil)
        .map(|(user, _)| user)
        .collect();
    match pupils.as_slice() {
        [] => Ok(()),
        [pupil] => {
            let stranger = everyone.iter().any(|(user, standing)| {
                *standing == Standing::Guardian && !roster.is_guardian_of(user, pupil)
            });
            if stranger {
                Err(ServiceError::Forbidden(
                    "a thread with a pupil may include only that pupil's own guardians besides \
                     school staff"
                        .into(),
                ))
            } else {
                Ok(())
            }
        }
        _ => Err(ServiceError::Forbidden(
            "a thread holds at most one pupil: pupils do not message each other".into(),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The inbox index.
// ---------------------------------------------------------------------------------------------

/// Writes the thread's activity into every participant's inbox, [`INBOX_WRITERS_AT_ONCE`] at a
/// time so that their durable writes share flushes; each write is durable when this returns.
///
/// A failed inbox write is logged, not returned: by now the thread and its message are durable, and
/// answering with an error would make the client send the message again. The inbox is repaired by
/// the thread's next message, as after a crash (see the module documentation).
fn note_activity_in_inboxes(
    repository: &Repository,
    school: &SchoolCode,
    participants: &[UserId],
    thread_id: &ItemId,
    at: NodeTime,
) {
    let per_writer = participants.len().div_ceil(INBOX_WRITERS_AT_ONCE).max(1);
    std::thread::scope(|scope| {
        let writers: Vec<_> = participants
            .chunks(per_writer)
            .map(|chunk| {
                scope.spawn(move || {
                    for participant in chunk {
                        let written = repository.update(
                            &inbox_doc(school, participant),
                            |inbox: &mut InboxDocument| {
                                inbox.note_activity(participant, thread_id, at)
                            },
                        );
                        if let Err(error) = written {
                            tracing::error!(%error, user = %participant, thread = %thread_id,
                                "an inbox was not updated; the thread's next message repairs it");
                        }
                    }
                })
            })
            .collect();
        // Joined here rather than implicitly at the end of the scope, so that a panicking writer
        // is logged instead of failing a request whose message is already stored.
        for writer in writers {
            if writer.join().is_err() {
                tracing::error!(thread = %thread_id, "an inbox writer panicked");
            }
        }
    });
}

/// The thread an inbox entry names, when it is there, readable, and the user takes part in it.
/// Anything else is skipped, as the module documentation explains.
fn read_listed_thread(
    repository: &Repository,
    school: &SchoolCode,
    thread_id: &str,
    user: &str,
) -> Option<ThreadDocument> {
    let thread_id: ItemId = thread_id.parse().ok()?;
    match repository.read::<ThreadDocument>(&thread_doc(school, &thread_id)) {
        Ok(thread) => {
            thread.filter(|thread| thread.id == thread_id.as_str() && thread.is_participant(user))
        }
        Err(error) => {
            tracing::warn!(%error, thread = %thread_id, "a thread in an inbox cannot be read; skipped");
            None
        }
    }
}

/// Ids that cannot name a thread get the same answer as threads that do not exist.
fn parse_thread_id(text: &str) -> Result<ItemId, ServiceError> {
    text.parse()
        .map_err(|_| ServiceError::NotFound(format!("thread {text:?} does not exist")))
}

fn thread_not_found(thread_id: &ItemId) -> ServiceError {
    ServiceError::NotFound(format!(
        "thread {thread_id} does not exist, or you do not take part in it"
    ))
}
