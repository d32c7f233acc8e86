//! The LTI platform's state in memory — launches, deep-linking requests and service tokens in
//! flight, each map bounded — and the paths that open a tool. Kept apart from the routes so that
//! [`crate::state::AppState`] can hold the platform without importing a route module.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// Launches between the redirect to the tool's login and its authentication request. A launch
/// is a user's click; a school of a thousand users never has this many within a lifetime.
pub const MAX_PENDING_LAUNCHES: usize = 10_000;
/// Launches one user may have pending at once. A person opens a few tools within the five minutes
/// a launch waits (a double click, a second tab, a slow tool); beyond this many their own oldest
/// launch gives way to the new one. The bound keeps one account (or a script with its session)
/// from filling [`MAX_PENDING_LAUNCHES`] and blocking every other launch at the school: a thousand
/// users at their bound together fill the map, one user never does.
pub const MAX_PENDING_LAUNCHES_PER_USER: usize = 10;
/// How long a started launch waits for the tool's authentication request.
pub const PENDING_LAUNCH_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Deep-linking requests waiting for the tool's response (a teacher picking content).
pub const MAX_PENDING_DEEP_LINKS: usize = 1_000;
/// Deep-linking requests one teacher may have pending at once; beyond this many their own oldest
/// gives way, for the same reason as [`MAX_PENDING_LAUNCHES_PER_USER`]. A teacher abandons a
/// picker now and then, and opens it again; ten in an hour is plenty.
pub const MAX_PENDING_DEEP_LINKS_PER_USER: usize = 10;

// One user must never be able to fill a map on their own.
const _: () = assert!(MAX_PENDING_LAUNCHES_PER_USER < MAX_PENDING_LAUNCHES);
const _: () = assert!(MAX_PENDING_DEEP_LINKS_PER_USER < MAX_PENDING_DEEP_LINKS);
/// How long a teacher has to pick content in the tool.
pub const PENDING_DEEP_LINK_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Client-assertion and deep-linking-response ids remembered against replay, each until its
/// token expires.
pub const MAX_SEEN_ASSERTION_IDS: usize = 20_000;
/// The longest a client assertion or deep-linking response may be valid (`exp` after now).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Service access tokens held.
pub const MAX_SERVICE_TOKENS: usize = 10_000;
/// How long a service access token is valid.
pub const SERVICE_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// What a started launch will send.
#[derive(Debug, Clone)]
pub enum LaunchMessage {
    /// `LtiResourceLinkRequest`.
    ResourceLink {
        resource_link_id: String,
        title: Option<String>,
        /// The assignment launched, with whether it takes scores (has a line item).
        assignment: Option<(String, bool)>,
    },
    /// `LtiDeepLinkingRequest`; `data` comes back in the tool's response.
    DeepLinking { data: String },
}

/// A launch between the redirect to the tool's login and its authentication request.
#[derive(Debug, Clone)]
pub struct PendingLaunch {
    pub user_id: String,
    pub session_id_hash: [u8; 32],
    pub service_id: String,
    pub class: Option<String>,
    pub target_link_uri: String,
    pub message: LaunchMessage,
}

/// A deep-linking request waiting for the tool's response.
#[derive(Debug, Clone)]
pub struct PendingDeepLink {
    pub teacher: String,
    pub class: String,
    pub service_id: String,
}

/// What a service token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    pub service_id: String,
    pub scopes: Vec<String>,
}

/// A map of short-lived entries with a bound: expired entries are dropped when it is full, and
/// an insert into a map full of live entries is refused rather than evicting one (an evicted
/// launch would fail for a user who did nothing wrong, while a refusal says "try again").
///
/// Entries may also have an owner (the user who started them), with a bound per owner
/// ([`ExpiringMap::with_owner_bound`]): an owner at their bound makes room by giving up their own
/// oldest entry, never anyone else's. With that bound well below the map's, no single owner can
/// fill the map and refuse everybody else.
#[derive(Debug)]
pub struct ExpiringMap<K, V> {
    entries: HashMap<K, Entry<V>>,
    capacity: usize,
    per_owner: usize,
    /// The keys of each owner's entries, oldest first (entries of one map share one lifetime, so
    /// the first inserted expires first).
    owners: HashMap<String, VecDeque<K>>,
}

#[derive(Debug)]
struct Entry<V> {
    expires_at_millis: i64,
    owner: Option<String>,
    value: V,
}

/// The map is full of live entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl<K: Eq + Hash + Clone, V> ExpiringMap<K, V> {
    /// A map of at most `capacity` entries, without owners.
    pub fn new(capacity: usize) -> Self {
        Self::with_owner_bound(capacity, capacity)
    }

    /// A map of at most `capacity` entries, of which one owner holds at most `per_owner`.
    pub fn with_owner_bound(capacity: usize, per_owner: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            per_owner: per_owner.max(1),
            owners: HashMap::new(),
        }
    }

    /// Inserts `value` until `expires_at_millis`; refused when the key is present (and live) or
    /// the map is full.
    pub fn insert(
        &mut self,
        key: K,
        value: V,
        expires_at_millis: i64,
        now_millis: i64,
    ) -> Result<(), Full> {
        self.insert_entry(None, key, value, expires_at_millis, now_millis)
    }

    /// Inserts `value` for `owner`. An owner holding their bound of live entries first gives up
    /// their oldest, so their new entry always finds room among their own; otherwise as
    /// [`ExpiringMap::insert`].
    pub fn insert_owned(
        &mut self,
        owner: &str,
        key: K,
        value: V,
        expires_at_millis: i64,
        now_millis: i64,
    ) -> Result<(), Full> {
        if let Some(keys) = self.owners.get_mut(owner) {
            // The owner's expired entries go first, then their oldest live ones until one more fits.
            let mut given_up = Vec::new();
            while let Some(oldest) = keys.front() {
                let expired = self
                    .entries
                    .get(oldest)
                    .is_none_or(|entry| entry.expires_at_millis <= now_millis);
                if !expired && keys.len() < self.per_owner {
                    break;
                }
                given_up.extend(keys.pop_front());
            }
            if keys.is_empty() {
                self.owners.remove(owner);
            }
            for key in given_up {
                self.entries.remove(&key);
            }
        }
        self.insert_entry(
            Some(owner.to_owned()),
            key,
            value,
            expires_at_millis,
            now_millis,
        )
    }

    fn insert_entry(
        &mut self,
        owner: Option<String>,
        key: K,
        value: V,
        expires_at_millis: i64,
        now_millis: i64,
    ) -> Result<(), Full> {
        if self.entries.len() >= self.capacity {
            self.sweep_expired(now_millis);
        }
        if self.entries.len() >= self.capacity {
            return Err(Full);
        }
        if self.contains_live(&key, now_millis) {
            return Err(Full);
        }
        if let Some(replaced) = self.entries.remove(&key) {
            self.forget_owner_key(replaced.owner.as_deref(), &key);
        }
        if let Some(owner) = &owner {
            self.owners
                .entry(owner.clone())
                .or_default()
                .push_back(key.clone());
        }
        self.entries.insert(
            key,
            Entry {
                expires_at_millis,
                owner,
                value,
            },
        );
        Ok(())
    }

    /// Drops every expired entry, and the owners' records of them.
    fn sweep_expired(&mut self, now_millis: i64) {
        self.entries
            .retain(|_, entry| entry.expires_at_millis > now_millis);
        let entries = &self.entries;
        self.owners.retain(|_, keys| {
            keys.retain(|key| entries.contains_key(key));
            !keys.is_empty()
        });
    }

    /// Removes `key` from its owner's list (at most [`ExpiringMap::with_owner_bound`]'s bound
    /// long).
    fn forget_owner_key(&mut self, owner: Option<&str>, key: &K) {
        let Some(owner) = owner else {
            return;
        };
        if let Some(keys) = self.owners.get_mut(owner) {
            keys.retain(|kept| kept != key);
            if keys.is_empty() {
                self.owners.remove(owner);
            }
        }
    }

    /// Removes and returns the live entry of `key`: single use.
    pub fn take(&mut self, key: &K, now_millis: i64) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.forget_owner_key(entry.owner.as_deref(), key);
        (entry.expires_at_millis > now_millis).then_some(entry.value)
    }

    /// The live entry of `key`, left in place.
    pub fn get(&self, key: &K, now_millis: i64) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|entry| entry.expires_at_millis > now_millis)
            .map(|entry| &entry.value)
    }

    pub fn contains_live(&self, key: &K, now_millis: i64) -> bool {
        self.get(key, now_millis).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries held for `owner`, expired ones not yet dropped included.
    pub fn owned_by(&self, owner: &str) -> usize {
        self.owners.get(owner).map_or(0, VecDeque::len)
    }
}

/// The platform's state in memory, shared by its handlers.
#[derive(Debug)]
pub struct LtiPlatform {
    /// Started launches by their `lti_message_hint`, owned by the user who started them.
    pub pending_launches: Mutex<ExpiringMap<String, PendingLaunch>>,
    /// Deep-linking requests by their `data` value, owned by the teacher who started them.
    pub pending_deep_links: Mutex<ExpiringMap<String, PendingDeepLink>>,
    /// `jti` of client assertions and deep-linking responses, by client.
    pub seen_assertions: Mutex<ExpiringMap<(String, String), ()>>,
    /// Service tokens by the SHA-256 of the token.
    pub service_tokens: Mutex<ExpiringMap<[u8; 32], ServiceToken>>,
}

impl Default for LtiPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl LtiPlatform {
    pub fn new() -> Self {
        Self {
            pending_launches: Mutex::new(ExpiringMap::with_owner_bound(
                MAX_PENDING_LAUNCHES,
                MAX_PENDING_LAUNCHES_PER_USER,
            )),
            pending_deep_links: Mutex::new(ExpiringMap::with_owner_bound(
                MAX_PENDING_DEEP_LINKS,
                MAX_PENDING_DEEP_LINKS_PER_USER,
            )),
            seen_assertions: Mutex::new(ExpiringMap::new(MAX_SEEN_ASSERTION_IDS)),
            service_tokens: Mutex::new(ExpiringMap::new(MAX_SERVICE_TOKENS)),
        }
    }
}

/// A duration in milliseconds, for node-time arithmetic.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Locks a mutex of the platform; a panic elsewhere never poisons the platform for good.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
