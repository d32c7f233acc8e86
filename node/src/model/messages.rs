//! `school:S/thread-<id>`: one conversation between a fixed set of participants (a teacher and a
//! pupil's guardians, a class's teachers), with its messages and each participant's read marker.
//!
//! A thread holds at most [`MAX_MESSAGES_PER_THREAD`] messages and [`MAX_THREAD_TEXT_BYTES`] of
//! text; after that the participants start a new thread (the API can link it), which keeps every document small however long a conversation
//! runs. Messages are ordered by node time of receipt.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sync_protocol::ids::{DocId, SchoolCode};

use super::UserId;
use super::common::{
    ItemId, MAX_BODY_CHARS, MAX_TITLE_CHARS, ModelError, NodeTime, insert_or_replace, multi_line,
    school_doc, single_line, sourced_id,
};

/// Messages in one thread.
pub const MAX_MESSAGES_PER_THREAD: usize = 1_000;
/// The text of all messages of one thread, in bytes. A thousand messages of ordinary length (a
/// few hundred characters) use a tenth of this; the bound keeps a thread of long messages well
/// inside the store's document bound (`sync_protocol::store::MAX_DOCUMENT_BYTES`, 8 MiB).
pub const MAX_THREAD_TEXT_BYTES: usize = 4 * 1024 * 1024;
/// Participants of one thread: a class's teachers and every pupil's guardians fit.
pub const MAX_PARTICIPANTS_PER_THREAD: usize = 200;

/// `school:S/thread-<id>`.
pub fn thread_doc(school: &SchoolCode, thread_id: &ItemId) -> DocId {
    school_doc(school, &format!("thread-{thread_id}"))
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The key of the list of messages, so that messages posted concurrently are merged as two
    /// messages rather than as two versions of one.
    #[key]
    pub id: String,
    pub author: UserId,
    pub body: String,
    pub sent_at: NodeTime,
}

/// How far a participant has read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct ReadMarker {
    /// The newest message the participant has seen.
    pub last_read_message_id: String,
    pub read_at: NodeTime,
}

/// The thread document. `id` is empty until [`ThreadDocument::create`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Hydrate, Reconcile)]
#[serde(rename_all = "camelCase")]
pub struct ThreadDocument {
    pub id: String,
    pub subject: String,
    pub created_by: UserId,
    pub created_at: NodeTime,
    /// Sorted, each once; includes the creator.
    pub participants: Vec<UserId>,
    /// In order of receipt by the node.
    pub messages: Vec<Message>,
    /// By participant.
    pub read_markers: BTreeMap<UserId, ReadMarker>,
}

impl ThreadDocument {
    /// Starts a thread with its first message. Refused when the document already holds a thread.
    pub fn create(
        &mut self,
        thread_id: &ItemId,
        subject: &str,
        created_by: &str,
        participants: &[UserId],
        first_message: (&ItemId, &str),
        now: NodeTime,
    ) -> Result<(), ModelError> {
        if !self.id.is_empty() {
            return Err(ModelError::AlreadyExists {
                what: "thread",
                id: self.id.clone(),
            });
        }
        let created_by = sourced_id("creator", created_by)?;
        let mut everyone: Vec<UserId> = participants
            .iter()
            .map(|participant| sourced_id("participant", participant))
            .collect::<Result<_, _>>()?;
        everyone.push(created_by.clone());
        everyone.sort();
        everyone.dedup();
        if everyone.len() < 2 {
            return Err(ModelError::Invalid {
                field: "participants",
                reason: "a thread needs at least one participant besides its creator".to_owned(),
            });
        }
        if everyone.len() > MAX_PARTICIPANTS_PER_THREAD {
            return Err(ModelError::LimitReached {
                what: "participants",
                max: MAX_PARTICIPANTS_PER_THREAD,
            });
        }
        let mut thread = ThreadDocument {
            id: thread_id.to_string(),
            subject: single_line("subject", subject, MAX_TITLE_CHARS)?,
            created_by: created_by.clone(),
            created_at: now,
            participants: everyone,
            messages: Vec::new(),
            read_markers: BTreeMap::new(),
        };
        let (message_id, body) = first_message;
        thread.post(message_id, &created_by, body, now)?;
        *self = thread;
        Ok(())
    }

    pub fn is_participant(&self, user: &str) -> bool {
        self.participants
            .iter()
            .any(|participant| participant == user)
    }

    /// Adds a message by `author`, who must be a participant. The author has read their own
    /// message, so their read marker moves to it.
    pub fn post(
        &mut self,
        message_id: &ItemId,
        author: &str,
        body: &str,
        now: NodeTime,
    ) -> Result<&Message, ModelError> {
        if !self.is_participant(author) {
            return Err(ModelError::NotAParticipant {
                user: author.to_owned(),
            });
        }
        let text_bytes: usize = self.messages.iter().map(|message| message.body.len()).sum();
        if self.messages.len() >= MAX_MESSAGES_PER_THREAD
            || text_bytes + body.len() > MAX_THREAD_TEXT_BYTES
        {
            return Err(ModelError::ThreadFull {
                max_messages: MAX_MESSAGES_PER_THREAD,
                max_text_bytes: MAX_THREAD_TEXT_BYTES,
            });
        }
        if self.message_index(message_id.as_str()).is_some() {
            return Err(ModelError::AlreadyExists {
                what: "message",
                id: message_id.to_string(),
            });
        }
        let body = multi_line("body", body, MAX_BODY_CHARS, true)?;
        self.messages.push(Message {
            id: message_id.to_string(),
            author: author.to_owned(),
            body,
            sent_at: now,
        });
        insert_or_replace(
            &mut self.read_markers,
            author.to_owned(),
            ReadMarker {
                last_read_message_id: message_id.to_string(),
                read_at: now,
            },
        );
        self.messages.last().ok_or(ModelError::NotFound {
            what: "message",
            id: message_id.to_string(),
        })
    }

    /// Records that `user` has read up to `message_id`. A marker only moves forward: marking an
    /// older message (another device catching up) keeps the newer marker.
    pub fn mark_read(
        &mut self,
        user: &str,
        message_id: &str,
        now: NodeTime,
    ) -> Result<(), ModelError> {
        if !self.is_participant(user) {
            return Err(ModelError::NotAParticipant {
                user: user.to_owned(),
            });
        }
        let Some(position) = self.message_index(message_id) else {
            return Err(ModelError::NotFound {
                what: "message",
                id: message_id.to_owned(),
            });
        };
        let current = self
            .read_markers
            .get(user)
            .and_then(|marker| self.message_index(&marker.last_read_message_id));
        if current.is_none_or(|current| current < position) {
            insert_or_replace(
                &mut self.read_markers,
                user.to_owned(),
                ReadMarker {
                    last_read_message_id: message_id.to_owned(),
                    read_at: now,
                },
            );
        }
        Ok(())
    }

    /// Messages `user` has not read yet (their own never count).
    pub fn unread_count(&self, user: &str) -> usize {
        let read_up_to = self
            .read_markers
            .get(user)
            .and_then(|marker| self.message_index(&marker.last_read_message_id));
        let first_unread = read_up_to.map_or(0, |index| index + 1);
        self.ordered_messages()
            .iter()
            .skip(first_unread)
            .filter(|message| message.author != user)
            .count()
    }

    /// Messages in node-time order. Messages merged from concurrent writers may sit in the list in
    /// either order; sorting by receipt time and id gives every reader the same order.
    pub fn ordered_messages(&self) -> Vec<&Message> {
        let mut ordered: Vec<&Message> = self.messages.iter().collect();
        ordered.sort_by(|a, b| (a.sent_at, &a.id).cmp(&(b.sent_at, &b.id)));
        ordered
    }

    /// Whether the thread has reached its message bound (it may also refuse a long message when
    /// its text bound is near).
    pub fn is_full(&self) -> bool {
        self.messages.len() >= MAX_MESSAGES_PER_THREAD
    }

    /// The position of a message in [`ThreadDocument::ordered_messages`].
    fn message_index(&self, message_id: &str) -> Option<usize> {
        self.ordered_messages()
            .iter()
            .position(|message| message.id == message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::test_support::*;
    use super::*;

    fn message_id(number: u32) -> ItemId {
        id(&format!("{number:016x}"))
    }

    fn thread() -> ThreadDocument {
        let mut thread = ThreadDocument::default();
        thread
            .create(
                &id("00000000000000aa"),
                "Retkipäivä",
                "T1",
                &["G1".to_owned(), "G2".to_owned()],
                (&message_id(1), "Retki on perjantaina."),
                NodeTime(1_000),
            )
            .expect("valid");
        thread
    }

    #[test]
    fn threads_need_participants_and_a_subject() {
        let thread = thread();
        assert_eq!(thread.participants, ["G1", "G2", "T1"]);
        assert_eq!(
            thread_doc(&school(), &id("00000000000000aa")).to_string(),
            "school:30076/thread-00000000000000aa"
        );
        let mut alone = ThreadDocument::default();
        assert!(matches!(
            alone.create(
                &id("00000000000000ab"),
                "Itselleni",
                "T1",
                &["T1".to_owned()],
                (&message_id(1), "Muistiinpano"),
                NodeTime(1)
            ),
            Err(ModelError::Invalid {
                field: "participants",
                ..
            })
        ));
        let mut untitled = ThreadDocument::default();
        assert_eq!(
            untitled.create(
                &id("00000000000000ac"),
                "",
                "T1",
                &["G1".to_owned()],
                (&message_id(1), "Hei"),
                NodeTime(1)
            ),
            Err(ModelError::Empty { field: "subject" })
        );
        assert_eq!(untitled, ThreadDocument::default());
    }

    #[test]
    fn only_participants_post_and_bodies_are_bounded() {
        let mut thread = thread();
        assert!(matches!(
            thread.post(&message_id(2), "P9", "Hei", NodeTime(2_000)),
            Err(ModelError::NotAParticipant { .. })
        ));
        assert!(matches!(
            thread.post(&message_id(2), "G1", "  ", NodeTime(2_000)),
            Err(ModelError::Empty { field: "body" })
        ));
        assert!(matches!(
            thread.post(
                &message_id(2),
                "G1",
                &"x".repeat(MAX_BODY_CHARS + 1),
                NodeTime(2_000)
            ),
            Err(ModelError::TooLong { .. })
        ));
        assert!(
            thread
                .post(&message_id(2), "G1", "Kiitos!", NodeTime(2_000))
                .is_ok()
        );
        assert!(matches!(
            thread.post(&message_id(2), "G1", "Uudestaan", NodeTime(2_001)),
            Err(ModelError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn a_full_thread_refuses_more_messages() {
        let mut thread = thread();
        for number in 2..=MAX_MESSAGES_PER_THREAD as u32 {
            thread
                .post(
                    &message_id(number),
                    "G1",
                    "viesti",
                    NodeTime(i64::from(number)),
                )
                .expect("room left");
        }
        assert!(thread.is_full());
        assert_eq!(
            thread
                .post(&message_id(5_000), "T1", "Vielä yksi", NodeTime(9_999))
                .err(),
            Some(ModelError::ThreadFull {
                max_messages: MAX_MESSAGES_PER_THREAD,
                max_text_bytes: MAX_THREAD_TEXT_BYTES,
            })
        );
    }

    #[test]
    fn a_thread_of_long_messages_fills_up_by_its_text() {
        let mut thread = thread();
        let long = "ä".repeat(MAX_BODY_CHARS);
        // The first message is short; this many long ones fit beside it.
        let fit = (MAX_THREAD_TEXT_BYTES - thread.messages[0].body.len()) / long.len();
        for number in 2..=fit as u32 + 1 {
            thread
                .post(
                    &message_id(number),
                    "G1",
                    &long,
                    NodeTime(i64::from(number)),
                )
                .expect("room left");
        }
        assert!(matches!(
            thread.post(&message_id(9_999), "G1", &long, NodeTime(9_999)),
            Err(ModelError::ThreadFull { .. })
        ));
        assert!(
            thread
                .post(&message_id(9_999), "G1", "lyhyt", NodeTime(9_999))
                .is_ok()
        );
    }

    #[test]
    fn read_markers_count_unread_messages_and_only_move_forward() {
        let mut thread = thread();
        thread
            .post(&message_id(2), "G1", "Kiitos!", NodeTime(2_000))
            .expect("valid");
        thread
            .post(&message_id(3), "G2", "Selvä.", NodeTime(3_000))
            .expect("valid");
        assert_eq!(thread.unread_count("T1"), 2);
        assert_eq!(thread.unread_count("G1"), 1);
        thread
            .mark_read("T1", message_id(3).as_str(), NodeTime(4_000))
            .expect("valid");
        assert_eq!(thread.unread_count("T1"), 0);
        thread
            .mark_read("T1", message_id(2).as_str(), NodeTime(5_000))
            .expect("valid");
        assert_eq!(
            thread.unread_count("T1"),
            0,
            "an older marker does not move back"
        );
        assert!(
            thread
                .mark_read("P9", message_id(2).as_str(), NodeTime(1))
                .is_err()
        );
        assert!(
            thread
                .mark_read("T1", "ffffffffffffffff", NodeTime(1))
                .is_err()
        );
    }

    #[test]
    fn threads_round_trip_and_concurrent_messages_are_both_kept() {
        let base = thread();
        assert_round_trip(&base);
        let merged = merge_concurrent(
            &base,
            |thread| {
                thread
                    .post(&message_id(2), "G1", "Ensimmäinen vastaus", NodeTime(2_000))
                    .expect("valid");
            },
            |thread| {
                thread
                    .post(&message_id(3), "G2", "Toinen vastaus", NodeTime(2_500))
                    .expect("valid");
            },
        );
        let bodies: Vec<&str> = merged
            .ordered_messages()
            .iter()
            .map(|message| message.body.as_str())
            .collect();
        assert_eq!(
            bodies,
            [
                "Retki on perjantaina.",
                "Ensimmäinen vastaus",
                "Toinen vastaus"
            ]
        );
        assert_eq!(merged.read_markers.len(), 3);
    }
}
