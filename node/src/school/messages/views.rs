//! What the message operations answer with: threads, their messages and read state as one
//! participant sees them. Times are node time in Unix milliseconds.

use serde::Serialize;

use crate::model::messages::{Message, ThreadDocument};
use crate::school::roster_index::RosterIndex;

/// Characters of the newest message shown in a listing.
const MESSAGE_PREVIEW_CHARS: usize = 140;

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

pub(super) fn thread_view(roster: &RosterIndex, me: &str, thread: &ThreadDocument) -> ThreadView {
    let ReadState {
        unread_count,
        last_read_message_id,
    } = read_state(me, thread);
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
        unread_count,
        last_read_message_id,
        full: thread.is_full(),
    }
}

/// `None` for a thread without messages, which `ThreadDocument::create` never makes.
pub(super) fn thread_summary(
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

pub(super) fn message_view(roster: &RosterIndex, message: &Message) -> MessageView {
    MessageView {
        id: message.id.clone(),
        author: message.author.clone(),
        author_name: display_name(roster, &message.author),
        body: message.body.clone(),
        sent_at: message.sent_at.unix_millis(),
    }
}

/// How far `me` has read the thread.
pub(super) fn read_state(me: &str, thread: &ThreadDocument) -> ReadState {
    ReadState {
        unread_count: thread.unread_count(me),
        last_read_message_id: thread
            .read_markers
            .get(me)
            .map(|marker| marker.last_read_message_id.clone()),
    }
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

/// The user's name in the roster, or their id when the roster no longer holds them.
fn display_name(roster: &RosterIndex, user: &str) -> String {
    roster
        .users
        .user(user)
        .map(|user| user.display_name())
        .unwrap_or_else(|| user.to_owned())
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
