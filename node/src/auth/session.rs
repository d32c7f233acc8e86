//! Login sessions in a node-local sled tree.
//!
//! A session is named by a random 32-byte token that only the browser holds (in a cookie); the tree
//! stores SHA-256 of the token, so a copy of the database (a backup, a stolen disk) holds no usable
//! session. Sessions end after [`SessionLimits::idle_timeout`] without use or
//! [`SessionLimits::absolute_lifetime`] after login, whichever comes first, and a user holds at most
//! [`SessionLimits::max_sessions_per_user`] (logging in again evicts the oldest).
//!
//! The tree is the node's alone (`SledStore::auxiliary_tree(SESSIONS_TREE)`, never synced). Its
//! layout is known only to this module:
//!
//! - `s` + SHA-256(token) → the [`SessionRecord`] as JSON;
//! - `u` + SHA-256(user id) + created (u64 milliseconds, big-endian) + SHA-256(token) → nothing: the
//!   index of a user's sessions, oldest first, for the per-user limit and for ending them all when
//!   their password is reset or they leave the roster. It holds at most
//!   [`SessionLimits::max_sessions_per_user`] entries per user, like the sessions themselves.
//!
//! - `k` + a name → a 32-byte secret of the node's login machinery (the key that signs device
//!   cookies, `super::device`): node-local like the sessions, and kept across restarts.
//!
//! Both keys of a session are written and removed in one atomic batch. Writes become durable with
//! sled's periodic flush, except logout, which flushes at once so that a crash right after it cannot
//! bring the session back.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{UserId, UserRole};

/// A session unused for this long ends: a pupil who walks away from a shared computer after the
/// school day is logged out by the next morning.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);

/// A session ends this long after login however much it is used, so that a stolen cookie does not
/// work for ever.
pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The most sessions one user may hold (browsers, devices); logging in beyond it ends the oldest.
/// Bounds what one account can store, however often it logs in.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 20;

/// How stale a session's stored `last_seen` may become before a request rewrites it. Writing on
/// every request would turn each page view into a disk write; the idle timeout is then enforced to
/// within this interval (or a tenth of the idle timeout, whichever is shorter).
pub const LAST_SEEN_WRITE_INTERVAL: Duration = Duration::from_secs(60);

/// How often the server should call [`SessionStore::prune_expired`]. Expired sessions are refused
/// when presented anyway; pruning only reclaims their space.
pub const SESSION_PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// The name of the node's session tree (`SledStore::auxiliary_tree`). The server keeps its sessions
/// there, and the roster import and the password commands end sessions in it, also when they run
/// without a serving node.
pub const SESSIONS_TREE: &str = "sessions";

/// Random bytes in a session token: 256 bits, beyond any guessing.
pub const SESSION_TOKEN_BYTES: usize = 32;

/// Random bytes in a session's CSRF token.
pub const CSRF_TOKEN_BYTES: usize = 32;

const RECORD_PREFIX: u8 = b's';
const USER_INDEX_PREFIX: u8 = b'u';
const SECRET_PREFIX: u8 = b'k';

/// Bytes of a secret kept in the session tree.
pub const SECRET_BYTES: usize = 32;
const HASH_BYTES: usize = 32;

/// Milliseconds since the Unix epoch: sessions outlive the process, so they need wall-clock time.
pub type UnixMillis = u64;

/// The current wall-clock time (zero if the clock is before 1970).
pub fn unix_millis_now() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How long sessions live and how many a user may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle_timeout: Duration,
    pub absolute_lifetime: Duration,
    pub max_sessions_per_user: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_lifetime: DEFAULT_ABSOLUTE_LIFETIME,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
        }
    }
}

impl SessionLimits {
    /// The interval after which `last_seen` is rewritten: see [`LAST_SEEN_WRITE_INTERVAL`].
    fn last_seen_write_interval(&self) -> Duration {
        LAST_SEEN_WRITE_INTERVAL.min(self.idle_timeout / 10)
    }
}

/// What the tree holds for a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: UserId,
    /// The roles at login. Requests use the directory's current roles instead (see
    /// [`crate::auth::Caller`]); these are kept for audit.
    pub roles: Vec<UserRole>,
    pub created: UnixMillis,
    /// The last use, written at most every [`LAST_SEEN_WRITE_INTERVAL`].
    pub last_seen: UnixMillis,
    /// The absolute end: `created` plus the absolute lifetime.
    pub expires: UnixMillis,
    /// The token unsafe requests must carry (hex). It is not a credential on its own: it proves that
    /// a request came from a page that could read the session's own responses.
    pub csrf_token: String,
}

impl SessionRecord {
    /// Whether the session has ended at `now`, by either limit.
    pub fn is_expired(&self, now: UnixMillis, idle_timeout: Duration) -> bool {
        now >= self.expires || now >= self.last_seen.saturating_add(millis(idle_timeout))
    }
}

/// A session token: what the cookie carries. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken {
    bytes: [u8; SESSION_TOKEN_BYTES],
}

impl SessionToken {
    /// A fresh token from the operating system's random number generator.
    pub fn generate() -> Result<Self, SessionError> {
        let mut bytes = [0u8; SESSION_TOKEN_BYTES];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|error| SessionError::Random(error.to_string()))?;
        Ok(Self { bytes })
    }

    /// Reads a token from its cookie form (lowercase hex); anything else is no token.
    pub fn from_cookie_value(value: &str) -> Option<Self> {
        if value.len() != SESSION_TOKEN_BYTES * 2 {
            return None;
        }
        let mut bytes = [0u8; SESSION_TOKEN_BYTES];
        hex::decode_to_slice(value, &mut bytes).ok()?;
        Some(Self { bytes })
    }

    /// The cookie form: lowercase hex.
    pub fn to_cookie_value(&self) -> String {
        hex::encode(self.bytes)
    }

    /// SHA-256 of the token: the session's key in the tree and its id in logs and [`Caller`]s.
    ///
    /// [`Caller`]: crate::auth::Caller
    pub fn id_hash(&self) -> [u8; HASH_BYTES] {
        Sha256::digest(self.bytes).into()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SessionToken(redacted)")
    }
}

/// A session just created by login.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: SessionToken,
    pub id_hash: [u8; HASH_BYTES],
    pub record: SessionRecord,
}

/// Why the session store failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session tree failed: {0}")]
    Storage(#[from] sled::Error),
    #[error("a stored session could not be read: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// The sessions of one node. Cheap to share behind an `Arc`; every method is a few sled operations.
#[derive(Debug)]
pub struct SessionStore {
    tree: sled::Tree,
    limits: SessionLimits,
    /// Serialises logins, so that two simultaneous logins of one user cannot both see room under
    /// the per-user limit. Logins are rare and each follows a whole argon2 hash, so this costs
    /// nothing measurable; reads never take it.
    create_lock: Mutex<()>,
}

fn record_key(id_hash: &[u8; HASH_BYTES]) -> [u8; 1 + HASH_BYTES] {
    let mut key = [0u8; 1 + HASH_BYTES];
    key[0] = RECORD_PREFIX;
    key[1..].copy_from_slice(id_hash);
    key
}

fn user_prefix(user_id: &str) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(1 + HASH_BYTES);
    prefix.push(USER_INDEX_PREFIX);
    prefix.extend_from_slice(&Sha256::digest(user_id.as_bytes()));
    prefix
}

fn user_index_key(user_id: &str, created: UnixMillis, id_hash: &[u8; HASH_BYTES]) -> Vec<u8> {
    let mut key = user_prefix(user_id);
    key.extend_from_slice(&created.to_be_bytes());
    key.extend_from_slice(id_hash);
    key
}

/// The session id at the end of a user index key.
fn id_hash_of_index_key(key: &[u8]) -> Option<[u8; HASH_BYTES]> {
    let start = key.len().checked_sub(HASH_BYTES)?;
    key.get(start..)?.try_into().ok()
}

fn random_hex(bytes: usize) -> Result<String, SessionError> {
    let mut buffer = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buffer)
        .map_err(|error| SessionError::Random(error.to_string()))?;
    Ok(hex::encode(buffer))
}

impl SessionStore {
    /// Sessions in `tree`, which must be used for nothing else.
    pub fn new(tree: sled::Tree, limits: SessionLimits) -> Self {
        Self {
            tree,
            limits,
            create_lock: Mutex::new(()),
        }
    }

    pub fn limits(&self) -> &SessionLimits {
        &self.limits
    }

    /// The secret named `name`, made from the operating system's random number generator the first
    /// time it is asked for and kept in the tree from then on. Two processes asking at once get the
    /// same secret (compare-and-swap). A stored value of the wrong length is replaced.
    pub fn secret(&self, name: &str) -> Result<[u8; SECRET_BYTES], SessionError> {
        let mut key = Vec::with_capacity(1 + name.len());
        key.push(SECRET_PREFIX);
        key.extend_from_slice(name.as_bytes());
        loop {
            let stored = self.tree.get(&key)?;
            if let Some(secret) = stored
                .as_deref()
                .and_then(|bytes| <[u8; SECRET_BYTES]>::try_from(bytes).ok())
            {
                return Ok(secret);
            }
            let mut fresh = [0u8; SECRET_BYTES];
            OsRng
                .try_fill_bytes(&mut fresh)
                .map_err(|error| SessionError::Random(error.to_string()))?;
            if self
                .tree
                .compare_and_swap(&key, stored, Some(&fresh[..]))?
                .is_ok()
            {
                return Ok(fresh);
            }
        }
    }

    /// Starts a session for `user_id` at `now`, ending the user's oldest sessions beyond the limit.
    pub fn create(
        &self,
        user_id: &str,
        roles: Vec<UserRole>,
        now: UnixMillis,
    ) -> Result<NewSession, SessionError> {
        let token = SessionToken::generate()?;
        let id_hash = token.id_hash();
        let record = SessionRecord {
            user_id: user_id.to_owned(),
            roles,
            created: now,
            last_seen: now,
            expires: now.saturating_add(millis(self.limits.absolute_lifetime)),
            csrf_token: random_hex(CSRF_TOKEN_BYTES)?,
        };
        let encoded = serde_json::to_vec(&record)?;

        let _serialised = self
            .create_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let existing = self.user_sessions(user_id)?;
        let mut batch = sled::Batch::default();
        let keep = self.limits.max_sessions_per_user.max(1) - 1;
        let evict = existing.len().saturating_sub(keep);
        for (index_key, old_id_hash) in existing.into_iter().take(evict) {
            batch.remove(index_key);
            batch.remove(&record_key(&old_id_hash)[..]);
        }
        batch.insert(&record_key(&id_hash)[..], encoded);
        batch.insert(user_index_key(user_id, now, &id_hash), &[][..]);
        self.tree.apply_batch(batch)?;
        Ok(NewSession {
            token,
            id_hash,
            record,
        })
    }

    /// A user's sessions as (index key, session id), oldest first. Index entries whose session is
    /// gone (pruned) are included; removing them with the rest is harmless.
    fn user_sessions(
        &self,
        user_id: &str,
    ) -> Result<Vec<(sled::IVec, [u8; HASH_BYTES])>, SessionError> {
        let mut sessions = Vec::new();
        for entry in self.tree.scan_prefix(user_prefix(user_id)) {
            let (key, _) = entry?;
            if let Some(id_hash) = id_hash_of_index_key(&key) {
                sessions.push((key, id_hash));
            }
        }
        Ok(sessions)
    }

    /// The session record for `id_hash`, expired or not.
    pub fn get(&self, id_hash: &[u8; HASH_BYTES]) -> Result<Option<SessionRecord>, SessionError> {
        match self.tree.get(record_key(id_hash))? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The live session named by `token` at `now`, or `None` when there is none or it has expired
    /// (an expired one is deleted on the way). Refreshes `last_seen` when it is older than the write
    /// interval.
    pub fn authenticate(
        &self,
        token: &SessionToken,
        now: UnixMillis,
    ) -> Result<Option<([u8; HASH_BYTES], SessionRecord)>, SessionError> {
        let id_hash = token.id_hash();
        let key = record_key(&id_hash);
        let Some(stored) = self.tree.get(key)? else {
            return Ok(None);
        };
        let mut record: SessionRecord = match serde_json::from_slice(&stored) {
            Ok(record) => record,
            Err(error) => {
                // An unreadable record (damage, or a format from another version) can authenticate
                // nobody; it is removed so that its holder is simply logged out, not refused with
                // server errors until the next prune.
                tracing::warn!(%error, "removing an unreadable session record");
                self.tree.remove(key)?;
                return Ok(None);
            }
        };
        if record.is_expired(now, self.limits.idle_timeout) {
            self.remove(&id_hash, &record)?;
            return Ok(None);
        }
        let write_interval = millis(self.limits.last_seen_write_interval());
        if now.saturating_sub(record.last_seen) >= write_interval {
            record.last_seen = now;
            let updated = serde_json::to_vec(&record)?;
            // Compare-and-swap, so that a logout racing with this request is never undone by it. A
            // lost race only means the refresh waits for the next request.
            let _ = self
                .tree
                .compare_and_swap(key, Some(stored), Some(updated))?;
        }
        Ok(Some((id_hash, record)))
    }

    fn remove(
        &self,
        id_hash: &[u8; HASH_BYTES],
        record: &SessionRecord,
    ) -> Result<(), SessionError> {
        let mut batch = sled::Batch::default();
        batch.remove(&record_key(id_hash)[..]);
        batch.remove(user_index_key(&record.user_id, record.created, id_hash));
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Ends the session `id_hash` (logout). Returns whether it existed.
    pub fn delete(&self, id_hash: &[u8; HASH_BYTES]) -> Result<bool, SessionError> {
        let Some(record) = self.get(id_hash)? else {
            return Ok(false);
        };
        self.remove(id_hash, &record)?;
        Ok(true)
    }

    /// Ends the session `id_hash` and waits until the end is on disk.
    pub async fn delete_durably(&self, id_hash: &[u8; HASH_BYTES]) -> Result<bool, SessionError> {
        let existed = self.delete(id_hash)?;
        self.tree.flush_async().await?;
        Ok(existed)
    }

    /// Ends every session of `user_id` (a password reset, a user who left the roster). Returns how
    /// many.
    pub fn delete_user_sessions(&self, user_id: &str) -> Result<usize, SessionError> {
        self.delete_user_sessions_except(user_id, None)
    }

    /// Ends every session of `user_id` but `keep` (the session of a user who changes their own
    /// password stays; their other browsers are logged out). Returns how many ended. The user's
    /// index bounds the work to [`SessionLimits::max_sessions_per_user`] sessions.
    pub fn delete_user_sessions_except(
        &self,
        user_id: &str,
        keep: Option<&[u8; HASH_BYTES]>,
    ) -> Result<usize, SessionError> {
        let sessions = self.user_sessions(user_id)?;
        let mut batch = sled::Batch::default();
        let mut ended = 0;
        for (index_key, id_hash) in &sessions {
            if keep == Some(id_hash) {
                continue;
            }
            batch.remove(index_key.clone());
            batch.remove(&record_key(id_hash)[..]);
            ended += 1;
        }
        self.tree.apply_batch(batch)?;
        Ok(ended)
    }

    /// Ends every session whose user `keep` does not keep (users no longer in the roster, or
    /// disabled). Returns how many. Scans all sessions, like [`Self::prune_expired`]: the node runs
    /// it once at start, to finish what a roster import interrupted by a crash left undone.
    pub fn delete_sessions_of_users_not(
        &self,
        keep: impl Fn(&str) -> bool,
    ) -> Result<usize, SessionError> {
        let mut ended = Vec::new();
        for entry in self.tree.scan_prefix([RECORD_PREFIX]) {
            let (key, value) = entry?;
            let Some(id_hash) = key
                .get(1..)
                .and_then(|bytes| <[u8; HASH_BYTES]>::try_from(bytes).ok())
            else {
                continue;
            };
            // Unreadable records authenticate nobody and are removed by the prune.
            if let Ok(record) = serde_json::from_slice::<SessionRecord>(&value)
                && !keep(&record.user_id)
            {
                ended.push((id_hash, record));
            }
        }
        let mut batch = sled::Batch::default();
        for (id_hash, record) in &ended {
            batch.remove(&record_key(id_hash)[..]);
            batch.remove(user_index_key(&record.user_id, record.created, id_hash));
        }
        self.tree.apply_batch(batch)?;
        Ok(ended.len())
    }

    /// Deletes every session that has expired at `now`. Returns how many. Scans all sessions: a
    /// school has at most a few thousand, and this runs every [`SESSION_PRUNE_INTERVAL`].
    pub fn prune_expired(&self, now: UnixMillis) -> Result<usize, SessionError> {
        let mut expired = Vec::new();
        for entry in self.tree.scan_prefix([RECORD_PREFIX]) {
            let (key, value) = entry?;
            let Some(id_hash) = key
                .get(1..)
                .and_then(|bytes| <[u8; HASH_BYTES]>::try_from(bytes).ok())
            else {
                continue;
            };
            match serde_json::from_slice::<SessionRecord>(&value) {
                Ok(record) if record.is_expired(now, self.limits.idle_timeout) => {
                    expired.push((id_hash, Some(record)));
                }
                Ok(_) => {}
                // An unreadable record can never authenticate anyone; it goes too.
                Err(_) => expired.push((id_hash, None)),
            }
        }
        let mut batch = sled::Batch::default();
        for (id_hash, record) in &expired {
            batch.remove(&record_key(id_hash)[..]);
            if let Some(record) = record {
                batch.remove(user_index_key(&record.user_id, record.created, id_hash));
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(expired.len())
    }

    /// How many sessions are stored, expired ones included.
    pub fn len(&self) -> usize {
        self.tree.scan_prefix([RECORD_PREFIX]).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(limits: SessionLimits) -> SessionStore {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("a temporary sled database opens");
        SessionStore::new(db.open_tree("sessions").expect("tree"), limits)
    }

    const HOUR: u64 = 60 * 60 * 1000;

    #[test]
    fn tokens_round_trip_through_the_cookie_form_and_nothing_else_parses() {
        let token = SessionToken::generate().expect("random works");
        let value = token.to_cookie_value();
        assert_eq!(value.len(), 64);
        assert_eq!(SessionToken::from_cookie_value(&value), Some(token.clone()));
        assert_eq!(SessionToken::from_cookie_value(&value[1..]), None);
        assert_eq!(SessionToken::from_cookie_value(&"z".repeat(64)), None);
        assert_eq!(SessionToken::from_cookie_value(""), None);
        assert_eq!(format!("{token:?}"), "SessionToken(redacted)");
    }

    #[test]
    fn a_session_authenticates_until_idle_or_absolute_expiry() {
        let sessions = store(SessionLimits::default());
        let start = 1_700_000_000_000;
        let created = sessions
            .create("pupil-1", vec![UserRole::Pupil], start)
            .expect("created");
        assert_eq!(created.record.expires, start + 7 * 24 * HOUR);
        let (id_hash, record) = sessions
            .authenticate(&created.token, start + HOUR)
            .expect("readable")
            .expect("live");
        assert_eq!(id_hash, created.id_hash);
        assert_eq!(record.user_id, "pupil-1");
        assert_eq!(record.last_seen, start + HOUR, "last_seen was refreshed");

        // Idle: eight hours after the last use.
        assert!(
            sessions
                .authenticate(&created.token, start + 9 * HOUR)
                .expect("readable")
                .is_none()
        );
        assert!(sessions.is_empty(), "the expired session was deleted");

        // Absolute: used every few hours, it still ends after seven days.
        let busy = sessions
            .create("pupil-1", vec![UserRole::Pupil], start)
            .expect("created");
        let mut now = start;
        while now < start + 7 * 24 * HOUR - 4 * HOUR {
            now += 4 * HOUR;
            assert!(
                sessions
                    .authenticate(&busy.token, now)
                    .expect("ok")
                    .is_some()
            );
        }
        assert!(
            sessions
                .authenticate(&busy.token, start + 7 * 24 * HOUR)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn last_seen_is_written_only_after_the_interval() {
        let sessions = store(SessionLimits::default());
        let start = 1_700_000_000_000;
        let created = sessions.create("t", vec![], start).expect("created");
        sessions
            .authenticate(&created.token, start + 30_000)
            .expect("ok");
        let stored = sessions.get(&created.id_hash).expect("ok").expect("exists");
        assert_eq!(stored.last_seen, start, "not rewritten within the interval");
        sessions
            .authenticate(&created.token, start + 61_000)
            .expect("ok");
        let stored = sessions.get(&created.id_hash).expect("ok").expect("exists");
        assert_eq!(stored.last_seen, start + 61_000);
    }

    #[test]
    fn logging_in_beyond_the_limit_evicts_the_oldest_sessions() {
        let sessions = store(SessionLimits {
            max_sessions_per_user: 3,
            ..SessionLimits::default()
        });
        let start = 1_700_000_000_000;
        let created: Vec<NewSession> = (0..5)
            .map(|index| {
                sessions
                    .create("teacher-1", vec![UserRole::Teacher], start + index)
                    .expect("created")
            })
            .collect();
        let other = sessions
            .create("teacher-2", vec![], start)
            .expect("created");
        let live: Vec<bool> = created
            .iter()
            .map(|session| {
                sessions
                    .authenticate(&session.token, start + 10)
                    .expect("ok")
                    .is_some()
            })
            .collect();
        assert_eq!(live, [false, false, true, true, true]);
        assert!(
            sessions
                .authenticate(&other.token, start + 10)
                .expect("ok")
                .is_some()
        );
        assert_eq!(sessions.len(), 4);
    }

    #[test]
    fn an_unreadable_record_logs_its_holder_out() {
        let sessions = store(SessionLimits::default());
        let start = 1_700_000_000_000;
        let created = sessions.create("a", vec![], start).expect("created");
        sessions
            .tree
            .insert(record_key(&created.id_hash), &b"{not json"[..])
            .expect("written");
        assert!(
            sessions
                .authenticate(&created.token, start)
                .expect("no error")
                .is_none()
        );
        assert!(sessions.get(&created.id_hash).expect("ok").is_none());
    }

    #[test]
    fn delete_and_prune_remove_records_and_index_entries() {
        let sessions = store(SessionLimits::default());
        let start = 1_700_000_000_000;
        let first = sessions.create("a", vec![], start).expect("created");
        let _second = sessions.create("a", vec![], start + 1).expect("created");
        let later = sessions
            .create("b", vec![], start + 5 * HOUR)
            .expect("created");
        assert!(sessions.delete(&first.id_hash).expect("ok"));
        assert!(!sessions.delete(&first.id_hash).expect("ok"));
        assert!(
            sessions
                .authenticate(&first.token, start)
                .expect("ok")
                .is_none()
        );

        assert_eq!(sessions.prune_expired(start + 9 * HOUR).expect("ok"), 1);
        assert_eq!(sessions.len(), 1);
        assert!(
            sessions
                .authenticate(&later.token, start + 9 * HOUR)
                .expect("ok")
                .is_some()
        );
        // Only the live session's index entry is left.
        assert_eq!(sessions.user_sessions("a").expect("ok").len(), 0);
        assert_eq!(sessions.user_sessions("b").expect("ok").len(), 1);
        assert_eq!(sessions.delete_user_sessions("b").expect("ok"), 1);
        assert!(sessions.is_empty());
    }

    #[test]
    fn a_users_sessions_end_together_but_for_the_one_kept() {
        let sessions = store(SessionLimits::default());
        let start = 1_700_000_000_000;
        let resetting = sessions.create("a", vec![], start).expect("created");
        let other = sessions.create("a", vec![], start + 1).expect("created");
        let classmate = sessions.create("b", vec![], start).expect("created");
        assert_eq!(
            sessions
                .delete_user_sessions_except("a", Some(&resetting.id_hash))
                .expect("ok"),
            1
        );
        let live = |session: &NewSession| {
            sessions
                .authenticate(&session.token, start + 2)
                .expect("ok")
                .is_some()
        };
        assert!(live(&resetting));
        assert!(!live(&other));
        assert!(live(&classmate));
        assert_eq!(sessions.user_sessions("a").expect("ok").len(), 1);
    }

    #[test]
    fn sessions_of_users_who_left_end_with_their_index_entries() {
        let sessions = store(SessionLimits::default());
        let start = 1_700_000_000_000;
        let left = sessions.create("left", vec![], start).expect("created");
        let _left_again = sessions.create("left", vec![], start + 1).expect("created");
        let stays = sessions.create("stays", vec![], start).expect("created");
        assert_eq!(
            sessions
                .delete_sessions_of_users_not(|user_id| user_id == "stays")
                .expect("ok"),
            2
        );
        assert!(
            sessions
                .authenticate(&left.token, start + 2)
                .expect("ok")
                .is_none()
        );
        assert!(
            sessions
                .authenticate(&stays.token, start + 2)
                .expect("ok")
                .is_some()
        );
        assert_eq!(sessions.user_sessions("left").expect("ok").len(), 0);
        assert_eq!(sessions.len(), 1);
    }
}
