//! `school:S/inbox-<user key>`: one user's inbox, the index of the threads they take part in.
//!
//! Finding a user's threads must not mean loading every thread of the school, so each user has an
//! inbox listing the ids of the threads they take part in with the node time of each thread's
//! latest message (the key as for every roster entity, [`sourced_id_key`]). It holds at most
//! [`MAX_INBOX_THREADS`] entries; beyond that the entries with the oldest activity are dropped (the
//! threads themselves stay, and a new message in one puts it back). The inbox is only an index:
//! the thread document (`crate::model::messages`) is the authority on who takes part and what was
//! said. When it is written, and how a listing reads it, is `crate::school::messages`'s to say.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use sync_protocol::ids::{DocId, SchoolCode};

use crate::model::UserId;
use crate::model::common::{
    ItemId, ModelError, NodeTime, claim_identity, school_doc, sourced_id_key,
};

/// Threads listed in one user's inbox. A user who joins a few new threads a week for the nine years
/// of basic education stays well below it; an entry takes a few dozen bytes, so a full inbox is a
/// small document.
pub const MAX_INBOX_THREADS: usize = 2_000;

/// `school:S/inbox-<user key>`.
pub fn inbox_doc(school: &SchoolCode, user: &str) -> DocId {
    school_doc(school, &format!("inbox-{}", sourced_id_key(user)))
}

/// One user's inbox: the threads they take part in, by thread id.
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
