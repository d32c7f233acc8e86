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
pub mod platform;
pub mod services;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

/// Every LTI release is written to the audit log first, the way the OpenID Provider's are.
pub(crate) use crate::school::audit::record_before_release as record;
pub use crate::school::services::{ToolAtSchool, activated_tool, assignment_link, tool_at_school};
use crate::state::AppState;

pub use self::platform::{
    ExpiringMap, Full, LaunchMessage, LtiPlatform, MAX_ASSERTION_LIFETIME, MAX_PENDING_DEEP_LINKS,
    MAX_PENDING_DEEP_LINKS_PER_USER, MAX_PENDING_LAUNCHES, MAX_PENDING_LAUNCHES_PER_USER,
    MAX_SEEN_ASSERTION_IDS, MAX_SERVICE_TOKENS, PENDING_DEEP_LINK_LIFETIME,
    PENDING_LAUNCH_LIFETIME, PendingDeepLink, PendingLaunch, SERVICE_TOKEN_LIFETIME, ServiceToken,
};
pub(crate) use self::platform::{lock, millis};
pub use crate::school::tools::{is_launch_path, launch_path};

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
