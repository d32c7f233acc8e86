//! The node as an LTI 1.3 platform: a catalogue service of protocol `lti13` that the school
//! activated is launched by the node with the user's session, also while the school is offline.
//!
//! Routes (see `node/README.md`, "Connecting a service"):
//! - `GET /lti/launch/{service}` (`?class=`, `?assignment=`): a logged-in user opens a tool; the
//!   node starts the tool's third-party-initiated login ([`launch`]);
//! - `GET /lti/deep-linking/{service}?class=`: a teacher of the class picks content in the tool
//!   (Deep Linking 2.0), which comes back as assignments ([`deep_linking`]);
//! - `GET`/`POST /lti/authorize`: the tool's authentication request; answered with a page that
//!   posts the signed launch (`id_token`, RS256) to the tool's registered redirect URI;
//! - `POST /lti/deep-linking/return`: the tool's signed deep-linking response;
//! - `POST /lti/token`: a service access token for a tool's signed client assertion
//!   ([`services`]);
//! - Assignment and Grade Services 2.0: `GET /lti/classes/{class}/lineitems`,
//!   `GET /lti/assignments/{id}/lineitem`, `POST /lti/assignments/{id}/lineitem/scores`;
//! - Names and Role Provisioning Services 2.0: `GET /lti/classes/{class}/memberships`.
//!
//! # Decisions
//!
//! - A tool's `client_id` is its service id; its `deployment_id` at a school is the school's
//!   code: one deployment per school, as the school's activation is the deployment.
//! - The tool's public key is in the catalogue ([`crate::model::catalogue::LtiTool`]): the node
//!   verifies a tool's signatures offline and never fetches a key set.
//! - Who may receive what follows the OpenID Provider ([`crate::oidc`]): the `sub` is the same
//!   pairwise subject, names and email go only when the school approved `profile` and `email`
//!   for the tool, and every launch, token, score and roster release is written to the school's
//!   audit log before it happens; a failed record refuses the release.
//! - Everything in flight (launches between the two redirects, deep-linking requests, seen
//!   client-assertion ids, service tokens) is in memory, bounded and short-lived: a restart ends
//!   launches in progress and tokens, which the tool simply asks for again.
//! - What a user fills by clicking (launches, deep-linking requests) is bounded per user too
//!   ([`MAX_PENDING_LAUNCHES_PER_USER`], [`MAX_PENDING_DEEP_LINKS_PER_USER`]), well below the
//!   node-wide bounds: a user at their bound loses their own oldest pending launch to the new one,
//!   so a pupil with a script cannot block the school's launches, and a real user who clicked a
//!   slow tool five times still gets the last click through. The maps the tools fill (assertion
//!   ids, service tokens) take only requests signed with a catalogued tool's key.

pub mod deep_linking;
pub mod launch;
pub mod services;

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::api::{ApiError, blocking};
use crate::model::assignments::{LtiLink, format_score, validate_score};
use crate::model::catalogue::{
    Activation, ActivationsDocument, CatalogueDocument, CatalogueService, LtiTool, ServiceProtocol,
    activations_doc, catalogue_doc,
};
/// Every LTI release is written to the audit log first, the way the OpenID Provider's are.
pub(crate) use crate::oidc::audit::record_before_release as record;
use crate::server::AppState;

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
/// The largest form body of `/lti/token`, `/lti/authorize` and the deep-linking return: a
/// signed JWT with a few content items.
pub const MAX_LTI_FORM_BYTES: usize = 64 * 1024;
/// The largest score body (AGS): a score is a few hundred bytes.
pub const MAX_SCORE_BYTES: usize = 16 * 1024;

/// The claim names of LTI Core 1.3, Deep Linking 2.0, AGS 2.0 and NRPS 2.0.
pub mod claim {
    pub const MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
    pub const VERSION: &str = "https://purl.imsglobal.org/spec/lti/claim/version";
    pub const DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
    pub const TARGET_LINK_URI: &str = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri";
    pub const RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";
    pub const ROLES: &str = "https://purl.imsglobal.org/spec/lti/claim/roles";
    pub const CONTEXT: &str = "https://purl.imsglobal.org/spec/lti/claim/context";
    pub const TOOL_PLATFORM: &str = "https://purl.imsglobal.org/spec/lti/claim/tool_platform";
    pub const LAUNCH_PRESENTATION: &str =
        "https://purl.imsglobal.org/spec/lti/claim/launch_presentation";
    pub const AGS_ENDPOINT: &str = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint";
    pub const NRPS: &str = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice";
    pub const DEEP_LINKING_SETTINGS: &str =
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings";
    pub const CONTENT_ITEMS: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items";
    pub const DEEP_LINKING_DATA: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/data";
}

/// The scopes of the services a tool may ask a token for.
pub mod scope {
    pub const LINE_ITEM_READ: &str =
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly";
    pub const SCORE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";
    pub const MEMBERSHIPS: &str =
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";
    pub const ALL: [&str; 3] = [LINE_ITEM_READ, SCORE, MEMBERSHIPS];
}

/// The LTI version of every message.
pub const LTI_VERSION: &str = "1.3.0";

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
    pub pending_launches: Mutex<ExpiringMap<String, launch::PendingLaunch>>,
    /// Deep-linking requests by their `data` value, owned by the teacher who started them.
    pub pending_deep_links: Mutex<ExpiringMap<String, deep_linking::PendingDeepLink>>,
    /// `jti` of client assertions and deep-linking responses, by client.
    pub seen_assertions: Mutex<ExpiringMap<(String, String), ()>>,
    /// Service tokens by the SHA-256 of the token.
    pub service_tokens: Mutex<ExpiringMap<[u8; 32], services::ServiceToken>>,
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

/// The platform's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/lti/launch/{service}", get(launch::start_launch))
        .route(
            "/lti/deep-linking/{service}",
            get(deep_linking::start_deep_linking),
        )
        .route(
            "/lti/authorize",
            get(launch::authorize)
                .post(launch::authorize)
                .layer(DefaultBodyLimit::max(MAX_LTI_FORM_BYTES)),
        )
        .route(
            "/lti/deep-linking/return",
            post(deep_linking::deep_linking_return)
                .layer(DefaultBodyLimit::max(MAX_LTI_FORM_BYTES)),
        )
        .route(
            "/lti/token",
            post(services::token).layer(DefaultBodyLimit::max(MAX_LTI_FORM_BYTES)),
        )
        .route("/lti/classes/{class}/lineitems", get(services::line_items))
        .route("/lti/assignments/{id}/lineitem", get(services::line_item))
        .route(
            "/lti/assignments/{id}/lineitem/scores",
            post(services::post_score).layer(DefaultBodyLimit::max(MAX_SCORE_BYTES)),
        )
        .route(
            "/lti/classes/{class}/memberships",
            get(services::memberships),
        )
}

/// Where a user opens `service`: alone, in `class`, or as `assignment` (whose class it is in).
pub fn launch_path(service: &str, class: Option<&str>, assignment: Option<&str>) -> String {
    let mut path = format!("/lti/launch/{}", crate::api::path_segment(service));
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(class) = class {
        query.append_pair("class", class);
    }
    if let Some(assignment) = assignment {
        query.append_pair("assignment", assignment);
    }
    let query = query.finish();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query);
    }
    path
}

/// Whether a tool's home-page address is the node's launch of it (so a class page adds the class).
pub fn is_launch_path(path: &str) -> bool {
    path.starts_with("/lti/launch/") && !path.contains('?')
}

/// An LTI tool of the catalogue with its registration and its activation at this school.
#[derive(Debug, Clone)]
pub struct ToolAtSchool {
    pub service: CatalogueService,
    pub tool: LtiTool,
    pub activation: Option<Activation>,
}

/// The catalogued LTI tool `service_id` and its activation here; `None` when the catalogue has
/// no LTI tool of that id.
pub async fn tool_at_school(
    state: &AppState,
    service_id: &str,
) -> Result<Option<ToolAtSchool>, ApiError> {
    let repository = state.repository.clone();
    let school = state.identity.school.clone();
    let service_id = service_id.to_owned();
    blocking(move || {
        let catalogue: CatalogueDocument = repository.read_or_default(&catalogue_doc())?;
        let Some(service) = catalogue.services.get(&service_id).cloned() else {
            return Ok(None);
        };
        let Some(tool) = service
            .lti
            .clone()
            .filter(|_| service.protocol == ServiceProtocol::Lti13)
        else {
            return Ok(None);
        };
        let activations: ActivationsDocument =
            repository.read_or_default(&activations_doc(&school))?;
        Ok(Some(ToolAtSchool {
            activation: activations.services.get(&service_id).cloned(),
            service,
            tool,
        }))
    })
    .await
}

/// The tool `service_id` if it is catalogued and activated here; refusals for the API.
pub async fn activated_tool(state: &AppState, service_id: &str) -> Result<ToolAtSchool, ApiError> {
    let found = tool_at_school(state, service_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{service_id:?} is not an LTI tool")))?;
    if found.activation.is_none() {
        return Err(ApiError::Forbidden(format!(
            "the LTI tool {service_id:?} is not activated at this school"
        )));
    }
    Ok(found)
}

/// The link of a new assignment done in tool `service_id` (activated here), opened at `url` (the
/// tool's launch URL when `None`) and taking scores up to `score_maximum` when given.
pub async fn assignment_link(
    state: &AppState,
    service_id: &str,
    url: Option<String>,
    score_maximum: Option<f64>,
) -> Result<LtiLink, ApiError> {
    let found = activated_tool(state, service_id).await?;
    let score_maximum = match score_maximum {
        Some(maximum) => {
            let maximum = validate_score("score maximum", maximum)?;
            if maximum <= 0.0 {
                return Err(ApiError::BadRequest(
                    "the score maximum must be more than 0".to_owned(),
                ));
            }
            Some(format_score(maximum))
        }
        None => None,
    };
    Ok(LtiLink {
        service_id: found.service.id,
        url,
        score_maximum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lti_expiring_maps_are_single_use_bounded_and_forget_expired_entries() {
        let mut map = ExpiringMap::new(2);
        map.insert("a", 1, 100, 0).expect("room");
        map.insert("b", 2, 50, 0).expect("room");
        assert_eq!(
            map.insert("c", 3, 100, 10),
            Err(Full),
            "full of live entries"
        );
        assert_eq!(
            map.insert("a", 9, 100, 10),
            Err(Full),
            "a live key is not replaced"
        );
        assert_eq!(map.take(&"a", 10), Some(1));
        assert_eq!(map.take(&"a", 10), None, "single use");
        assert_eq!(map.take(&"b", 60), None, "expired");
        map.insert("c", 3, 100, 60).expect("room again");
        map.insert("d", 4, 100, 60).expect("room again");
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn lti_an_owner_at_their_bound_gives_up_their_own_oldest_entry_only() {
        // Keys are numbers here: the pupil's from 1, the others' from 1,000.
        let mut map = ExpiringMap::with_owner_bound(4, 2);
        map.insert_owned("pupil", 1, "p1", 100, 0).expect("room");
        map.insert_owned("other", 1_000, "o1", 100, 0)
            .expect("room");
        map.insert_owned("pupil", 2, "p2", 100, 1).expect("room");
        map.insert_owned("pupil", 3, "p3", 100, 2)
            .expect("own room");
        assert_eq!(map.get(&1, 3), None, "the owner's oldest gave way");
        assert_eq!(
            map.get(&1_000, 3),
            Some(&"o1"),
            "another owner's entry stays"
        );
        for key in 10..110 {
            map.insert_owned("pupil", key, "flood", 100, 3)
                .expect("an owner's new entry always finds room among their own");
        }
        assert_eq!(map.owned_by("pupil"), 2);
        assert_eq!(map.len(), 3);
        map.insert_owned("third", 2_000, "t1", 100, 4)
            .expect("room for others");
        assert_eq!(map.take(&2_000, 5), Some("t1"));
        assert_eq!(
            map.owned_by("third"),
            0,
            "a taken entry leaves its owner's list"
        );
        map.insert_owned("other", 1_001, "o2", 100, 5)
            .expect("room");
        assert_eq!(map.owned_by("other"), 2);
        map.insert_owned("other", 1_002, "o3", 300, 200)
            .expect("room");
        assert_eq!(map.owned_by("other"), 1, "expired entries do not count");
    }

    #[test]
    fn lti_launch_paths_carry_the_class_and_assignment() {
        assert_eq!(launch_path("tool", None, None), "/lti/launch/tool");
        assert_eq!(
            launch_path("tool", Some("CLS 7A"), Some("abc")),
            "/lti/launch/tool?class=CLS+7A&assignment=abc"
        );
        assert!(is_launch_path("/lti/launch/tool"));
        assert!(!is_launch_path("https://tool.example.fi/"));
    }
}
