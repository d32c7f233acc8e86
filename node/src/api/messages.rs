//! Messages: conversations (threads) between people of the school, their unread counts, and each
//! user's inbox index.
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
//!   teacher.
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
//! # The inbox index
//!
//! Finding a user's threads must not mean loading every thread of the school, so each user has an
//! inbox document, `school:S/inbox-<user key>` (the key as for every roster entity,
//! [`sourced_id_key`]), listing the ids of the threads they take part in with the node time of each
//! thread's latest message. It holds at most [`MAX_INBOX_THREADS`] entries; beyond that the entries
//! with the oldest activity are dropped (the threads themselves stay, and a new message in one puts
//! it back). A listing reads the inbox, then only one page of threads, at most
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

use std::cmp::Reverse;
use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::{Access, ApiError, RosterIndex, blocking, node_now_millis, roster_index};
use crate::auth::Caller;
use crate::model::common::{
    ItemId, ModelError, NodeTime, claim_identity, school_doc, sourced_id_key,
};
use crate::model::messages::{MAX_PARTICIPANTS_PER_THREAD, Message, ThreadDocument, thread_doc};
use crate::model::{UserId, UserRole};
use crate::repository::Repository;
use crate::state::AppState;

/// Threads listed in one user's inbox. A user who joins a few new threads a week for the nine years
/// of basic education stays well below it; an entry takes a few dozen bytes, so a full inbox is a
/// small document.
pub const MAX_INBOX_THREADS: usize = 2_000;
/// Threads returned by one listing, the most recently active first. Each listed thread is read in
/// full (for its unread count), so this bounds the work of a listing.
pub const MAX_THREADS_LISTED: usize = 100;
/// Inbox documents written at the same time after a message, so that their writes share flushes
/// instead of paying one fsync each one after another.
const INBOX_WRITERS_AT_ONCE: usize = 8;
/// Characters of the newest message shown in a listing.
const MESSAGE_PREVIEW_CHARS: usize = 140;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/threads", get(list_threads).post(start_thread))
        .route("/api/v1/threads/{thread}", get(thread))
        .route("/api/v1/threads/{thread}/messages", post(post_message))
        .route("/api/v1/threads/{thread}/read", post(mark_read))
}

// ---------------------------------------------------------------------------------------------
// Request and response bodies.

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewThread {
    /// User ids (OneRoster sourcedIds) of the other participants; the caller takes part anyway.
    pub participants: Vec<String>,
    pub subject: String,
    /// The first message.
    pub body: String,
}

/// The query of a thread listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadListQuery {
    /// Threads per page: 100 by default and at most (larger values are lowered).
    pub limit: Option<usize>,
    /// The id of the last thread of the previous page: this page starts after it.
    pub before: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewMessage {
    pub body: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct MarkRead {
    /// The newest message the caller has seen. Without it, the thread's newest message: a client
    /// that may have received messages after it drew the thread should name the one it showed.
    #[serde(default)]
    pub up_to_message_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Participant {
    pub user_id: String,
    pub display_name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: String,
    pub author: String,
    pub author_name: String,
    pub body: String,
    /// Node time of receipt, Unix milliseconds.
    pub sent_at: i64,
}

/// One thread in a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThreadSummary {
    pub id: String,
    pub subject: String,
    pub participants: Vec<Participant>,
    pub message_count: usize,
    /// Messages by others that the caller has not read.
    pub unread_count: usize,
    /// Node time of the newest message, Unix milliseconds.
    pub last_activity_at: i64,
    pub last_message_author_name: String,
    /// The beginning of the newest message.
    pub last_message_preview: String,
    /// The thread takes no more messages; the conversation continues in a new thread.
    pub full: bool,
}

/// A whole thread, for one of its participants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThreadView {
    pub id: String,
    pub subject: String,
    pub created_by: String,
    /// Unix milliseconds, node time.
    pub created_at: i64,
    pub participants: Vec<Participant>,
    /// Oldest first, in the order every replica agrees on.
    pub messages: Vec<MessageView>,
    pub unread_count: usize,
    pub last_read_message_id: Option<String>,
    pub full: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadState {
    pub unread_count: usize,
    pub last_read_message_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Routes.

/// `POST /api/v1/threads`: starts a thread with its first message, within the rules of the module
/// documentation.
#[utoipa::path(post, path = "/api/v1/threads", tag = "messages", request_body = NewThread,
    responses((status = 201, body = ThreadView), (status = 400, description = "an invalid subject or body, or no participant besides the caller"),
        (status = 403, description = "the safeguarding rules do not allow this thread; a participant who is no user of the school gets the same answer")))]
pub async fn start_thread(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<NewThread>,
) -> Result<(StatusCode, Json<ThreadView>), ApiError> {
    // Checked before any lookup, so an oversized list costs nothing; the exact count (without
    // repeats, with the caller) is checked with the participants.
    if request.participants.len() > MAX_PARTICIPANTS_PER_THREAD {
        return Err(too_many_participants());
    }
    let roster = roster_index(&state).await?;
    let access = Access::new(&caller, roster);
    let others = allowed_participants(&access, &request.participants)?;
    let thread_id = ItemId::generate();
    let first_message_id = ItemId::generate();
    let now = NodeTime(node_now_millis());
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let creator = caller.user_id.clone();
    let thread = blocking(move || {
        let thread = repository.update(
            &thread_doc(&school, &thread_id),
            |thread: &mut ThreadDocument| {
                thread.create(
                    &thread_id,
                    &request.subject,
                    &creator,
                    &others,
                    (&first_message_id, &request.body),
                    now,
                )?;
                Ok::<_, ModelError>(thread.clone())
            },
        )?;
        note_activity_in_inboxes(&repository, &school, &thread.participants, &thread_id, now);
        Ok(thread)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(thread_view(&access.roster, access.me(), &thread)),
    ))
}

/// `GET /api/v1/threads`: the caller's threads, most recent activity first, with unread counts, a
/// page of at most [`MAX_THREADS_LISTED`] at a time.
#[utoipa::path(get, path = "/api/v1/threads", tag = "messages",
    params(ThreadListQuery),
    responses((status = 200, body = [ThreadSummary], description = "a page of threads; fewer than `limit` means the last page"),
        (status = 400, description = "a bad `limit`, or a `before` that is not in the caller's inbox"),
        (status = 401, description = "not logged in")))]
pub async fn list_threads(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ThreadListQuery>, QueryRejection>,
) -> Result<Json<Vec<ThreadSummary>>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let limit = query
        .limit
        .unwrap_or(MAX_THREADS_LISTED)
        .clamp(1, MAX_THREADS_LISTED);
    let roster = roster_index(&state).await?;
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = caller.user_id.clone();
    let mut summaries = blocking(move || {
        let inbox: InboxDocument = repository.read_or_default(&inbox_doc(&school, &me))?;
        let ordered = inbox.most_recent_first();
        // Pages follow the inbox's order, so a page starts right after the thread the previous
        // one ended with.
        let start = match &query.before {
            None => 0,
            Some(before) => {
                ordered
                    .iter()
                    .position(|thread_id| thread_id == before)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "before={before:?} is not one of your threads; pass the id of the \
                             last thread of the previous page"
                        ))
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
    Ok(Json(summaries))
}

/// `GET /api/v1/threads/{thread}`: the whole thread, for its participants only.
#[utoipa::path(get, path = "/api/v1/threads/{thread}", tag = "messages",
    params(("thread" = String, Path, description = "the thread's id")),
    responses((status = 200, body = ThreadView), (status = 404, description = "no such thread, or the caller does not take part in it")))]
pub async fn thread(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(thread_id): UrlPath<String>,
) -> Result<Json<ThreadView>, ApiError> {
    let thread_id = parse_thread_id(&thread_id)?;
    let roster = roster_index(&state).await?;
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
    Ok(Json(thread_view(&roster, &caller.user_id, &thread)))
}

/// `POST /api/v1/threads/{thread}/messages`: adds a message, for participants only.
#[utoipa::path(post, path = "/api/v1/threads/{thread}/messages", tag = "messages", request_body = NewMessage,
    params(("thread" = String, Path, description = "the thread's id")),
    responses((status = 201, body = MessageView), (status = 404, description = "no such thread, or the caller does not take part in it"),
        (status = 409, description = "the thread is full; start a new one")))]
pub async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(thread_id): UrlPath<String>,
    Json(request): Json<NewMessage>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let thread_id = parse_thread_id(&thread_id)?;
    let roster = roster_index(&state).await?;
    let message_id = ItemId::generate();
    let now = NodeTime(node_now_millis());
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
                let message = thread.post(&message_id, &me, &request.body, now)?.clone();
                Ok((message, thread.participants.clone()))
            },
        )?;
        // Every participant's entry, not only the others': this is also what repairs an inbox that
        // a crash left without the thread (see the module documentation).
        note_activity_in_inboxes(&repository, &school, &participants, &thread_id, now);
        Ok(message)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(message_view(&roster, &message))))
}

/// `POST /api/v1/threads/{thread}/read`: moves the caller's read marker forward.
#[utoipa::path(post, path = "/api/v1/threads/{thread}/read", tag = "messages", request_body = MarkRead,
    params(("thread" = String, Path, description = "the thread's id")),
    responses((status = 200, body = ReadState), (status = 404, description = "no such thread or message, or the caller does not take part in it")))]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    UrlPath(thread_id): UrlPath<String>,
    Json(request): Json<MarkRead>,
) -> Result<Json<ReadState>, ApiError> {
    let thread_id = parse_thread_id(&thread_id)?;
    let now = NodeTime(node_now_millis());
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let me = caller.user_id.clone();
    let read_state = blocking(move || {
        repository
            .update(
                &thread_doc(&school, &thread_id),
                |thread: &mut ThreadDocument| {
                    if thread.id != thread_id.as_str() || !thread.is_participant(&me) {
                        return Err(thread_not_found(&thread_id));
                    }
                    let newest = thread
                        .ordered_messages()
                        .last()
                        .map(|message| message.id.clone());
                    if let Some(up_to) = request.up_to_message_id.or(newest) {
                        thread.mark_read(&me, &up_to, now)?;
                    }
                    Ok(ReadState {
                        unread_count: thread.unread_count(&me),
                        last_read_message_id: thread
                            .read_markers
                            .get(&me)
                            .map(|marker| marker.last_read_message_id.clone()),
                    })
                },
            )
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(read_state))
}

// ---------------------------------------------------------------------------------------------
// Who may write to whom.

/// How the safeguarding rules see a person: by the most trusted role they hold at the school.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    SchoolAdult,
    Pupil,
    Guardian,
}

impl Standing {
    fn of(roles: &[UserRole]) -> Option<Standing> {
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

/// The other participants of a new thread (without the caller, each once), after checking that
/// each is an enabled user of the school and that the rules of the module documentation allow the
/// thread.
fn allowed_participants(
    access: &Access<'_>,
    requested: &[String],
) -> Result<Vec<UserId>, ApiError> {
    let me = access.me();
    let my_standing = Standing::of(&access.caller.roles).ok_or_else(|| {
        ApiError::Forbidden("you hold no role at this school that may send messages".into())
    })?;
    let mut others: Vec<UserId> = requested
        .iter()
        .filter(|participant| participant.as_str() != me)
        .cloned()
        .collect();
    others.sort();
    others.dedup();
    if others.is_empty() {
        return Err(ApiError::BadRequest(
            "name at least one participant besides yourself".into(),
        ));
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
        if my_standing != Standing::SchoolAdult && standing != Standing::SchoolAdult {
            return Err(not_a_recipient());
        }
        everyone.push((other.clone(), standing));
    }
    check_pupil_company(&access.roster, &everyone)?;
    Ok(others)
}

/// Whether the caller may start a thread with `other` alone, by the rules [`start_thread`]
/// applies: a page shows the name of someone named in a link only when this holds.
pub fn may_start_thread_with(access: &Access<'_>, other: &str) -> bool {
    allowed_participants(access, &[other.to_owned()]).is_ok()
}

/// The one refusal for a participant who is no enabled user of the school and for one the caller
/// may not write to. It names no one and says the same in both cases, so that probing ids tells a
/// pupil nothing about who exists (see the module documentation).
fn not_a_recipient() -> ApiError {
    ApiError::Forbidden(
        "you may not start a conversation with everyone named: pupils and guardians write to the \
         school's teachers, staff and administrators, and every participant must be a user of \
         this school"
            .into(),
    )
}

fn too_many_participants() -> ApiError {
    ApiError::BadRequest(format!(
        "a thread has at most {MAX_PARTICIPANTS_PER_THREAD} participants, its creator included"
    ))
}

/// A thread holds at most one pupil, and besides the school's adults only that pupil's own
/// guardians.
fn check_pupil_company(
    roster: &RosterIndex,
    everyone: &[(UserId, Standing)],
) -> Result<(), ApiError> {
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
                Err(ApiError::Forbidden(
                    "a thread with a pupil may include only that pupil's own guardians besides school staff"
                        .into(),
                ))
            } else {
                Ok(())
            }
        }
        _ => Err(ApiError::Forbidden(
            "a thread holds at most one pupil: pupils do not message each other".into(),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The inbox index.

/// `school:S/inbox-<user key>`.
pub fn inbox_doc(school: &SchoolCode, user: &str) -> DocId {
    school_doc(school, &format!("inbox-{}", sourced_id_key(user)))
}

/// One user's inbox: the threads they take part in, by thread id. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile)]
pub struct InboxDocument {
    /// The user whose inbox this is (the document name holds only a key of it).
    pub user: UserId,
    pub threads: BTreeMap<String, InboxEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct InboxEntry {
    pub thread_id: String,
    /// Node time of the newest message the inbox was told about.
    pub last_activity_at: NodeTime,
}

impl InboxDocument {
    /// Records activity in a thread at `at`, adding the thread when the inbox lacks it, and drops
    /// the least recently active entries beyond [`MAX_INBOX_THREADS`].
    pub fn note_activity(
        &mut self,
        user: &str,
        thread_id: &ItemId,
        at: NodeTime,
    ) -> Result<(), ModelError> {
        claim_identity(&mut self.user, user, "inbox user")?;
        match self.threads.get_mut(thread_id.as_str()) {
            // Activity only moves forward, so a late write of an older message changes nothing.
            Some(entry) => entry.last_activity_at = entry.last_activity_at.max(at),
            None => {
                self.threads.insert(
                    thread_id.to_string(),
                    InboxEntry {
                        thread_id: thread_id.to_string(),
                        last_activity_at: at,
                    },
                );
            }
        }
        let excess = self.threads.len().saturating_sub(MAX_INBOX_THREADS);
        if excess > 0 {
            let mut least_recent: Vec<(NodeTime, String)> = self
                .threads
                .values()
                .map(|entry| (entry.last_activity_at, entry.thread_id.clone()))
                .collect();
            least_recent.sort();
            for (_, thread_id) in least_recent.into_iter().take(excess) {
                self.threads.remove(&thread_id);
            }
        }
        Ok(())
    }

    /// Thread ids, the most recently active first.
    pub fn most_recent_first(&self) -> Vec<&str> {
        let mut entries: Vec<&InboxEntry> = self.threads.values().collect();
        entries.sort_by(|a, b| {
            (Reverse(a.last_activity_at), &a.thread_id)
                .cmp(&(Reverse(b.last_activity_at), &b.thread_id))
        });
        entries
            .into_iter()
            .map(|entry| entry.thread_id.as_str())
            .collect()
    }
}

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

// ---------------------------------------------------------------------------------------------
// Views.

/// Ids that cannot name a thread get the same answer as threads that do not exist.
fn parse_thread_id(text: &str) -> Result<ItemId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("thread {text:?} does not exist")))
}

fn thread_not_found(thread_id: &ItemId) -> ApiError {
    ApiError::NotFound(format!(
        "thread {thread_id} does not exist, or you do not take part in it"
    ))
}

fn display_name(roster: &RosterIndex, user: &str) -> String {
    roster
        .users
        .user(user)
        .map(|user| user.display_name())
        .unwrap_or_else(|| user.to_owned())
}

fn participants(roster: &RosterIndex, thread: &ThreadDocument) -> Vec<Participant> {
    thread
        .participants
        .iter()
        .map(|user| Participant {
            user_id: user.clone(),
            display_name: display_name(roster, user),
        })
        .collect()
}

fn message_view(roster: &RosterIndex, message: &Message) -> MessageView {
    MessageView {
        id: message.id.clone(),
        author: message.author.clone(),
        author_name: display_name(roster, &message.author),
        body: message.body.clone(),
        sent_at: message.sent_at.unix_millis(),
    }
}

fn thread_view(roster: &RosterIndex, me: &str, thread: &ThreadDocument) -> ThreadView {
    ThreadView {
        id: thread.id.clone(),
        subject: thread.subject.clone(),
        created_by: thread.created_by.clone(),
        created_at: thread.created_at.unix_millis(),
        participants: participants(roster, thread),
        messages: thread
            .ordered_messages()
            .into_iter()
            .map(|message| message_view(roster, message))
            .collect(),
        unread_count: thread.unread_count(me),
        last_read_message_id: thread
            .read_markers
            .get(me)
            .map(|marker| marker.last_read_message_id.clone()),
        full: thread.is_full(),
    }
}

/// `None` for a thread without messages, which `ThreadDocument::create` never makes.
fn thread_summary(
    roster: &RosterIndex,
    me: &str,
    thread: &ThreadDocument,
) -> Option<ThreadSummary> {
    let ordered = thread.ordered_messages();
    let newest = ordered.last()?;
    Some(ThreadSummary {
        id: thread.id.clone(),
        subject: thread.subject.clone(),
        participants: participants(roster, thread),
        message_count: ordered.len(),
        unread_count: thread.unread_count(me),
        last_activity_at: newest.sent_at.unix_millis(),
        last_message_author_name: display_name(roster, &newest.author),
        last_message_preview: preview(&newest.body),
        full: thread.is_full(),
    })
}

fn preview(body: &str) -> String {
    let flattened = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flattened.chars().count() <= MESSAGE_PREVIEW_CHARS {
        flattened
    } else {
        let mut shortened: String = flattened.chars().take(MESSAGE_PREVIEW_CHARS).collect();
        shortened.push('…');
        shortened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_id(number: usize) -> ItemId {
        format!("{number:016x}").parse().expect("an item id")
    }

    #[test]
    fn an_inbox_keeps_the_most_recently_active_threads() {
        let mut inbox = InboxDocument::default();
        for number in 0..MAX_INBOX_THREADS {
            inbox
                .note_activity("T01", &thread_id(number), NodeTime(number as i64))
                .expect("the inbox's own user");
        }
        // Activity in the oldest thread makes it the newest; an older time never moves one back.
        inbox
            .note_activity("T01", &thread_id(0), NodeTime(1_000_000))
            .expect("valid");
        inbox
            .note_activity("T01", &thread_id(0), NodeTime(5))
            .expect("valid");
        inbox
            .note_activity("T01", &thread_id(MAX_INBOX_THREADS), NodeTime(999_999))
            .expect("valid");
        assert_eq!(inbox.threads.len(), MAX_INBOX_THREADS);
        assert!(
            !inbox.threads.contains_key(thread_id(1).as_str()),
            "the least recently active entry is dropped"
        );
        let newest: Vec<&str> = inbox.most_recent_first().into_iter().take(2).collect();
        assert_eq!(
            newest,
            [thread_id(0).as_str(), thread_id(MAX_INBOX_THREADS).as_str()]
        );
        assert!(matches!(
            inbox.note_activity("T02", &thread_id(1), NodeTime(1)),
            Err(ModelError::WrongDocument { .. })
        ));
    }
}
