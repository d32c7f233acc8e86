//! The OneRoster 1.2 Rostering Service, REST/JSON binding, read only: a connected service that
//! the school activated and approved for the roster reads the school's orgs, academic sessions,
//! courses, classes, users and enrollments at `/ims/oneroster/rostering/v1p2/…`.
//!
//! Who may read what:
//! - The service authenticates at `POST /oidc/token` with `grant_type=client_credentials` and its
//!   catalogue client secret ([`grant`]); it must be activated at this school and ask for a
//!   OneRoster scope ([`crate::model::catalogue::ReleasableClaim::RosterCoreReadonly`]) that the
//!   catalogue allows it and the school approved. The token is a random bearer token kept in
//!   memory ([`tokens`]), apart from the OpenID Provider's userinfo tokens, so neither kind opens
//!   the other's endpoints.
//! - Every read checks again that the service is still in the catalogue, activated, and approved
//!   for the scope, so a deactivation or a narrowed approval (also one that arrives by sync) takes
//!   effect at the next request; deactivating on this node also drops the service's tokens.
//! - What a record carries is decided in [`records`]: names only with `profile` approved, e-mail
//!   only with `email`, never passwords or the school's identifiers; users' and enrollments'
//!   sourcedIds are pairwise per service; guardians are not released; only this school's data.
//! - Every token issued and every read is written to the school's audit log before the answer
//!   leaves ([`endpoints`]); when the log cannot be written, the read is refused.
//!
//! Paging, filtering, sorting and field selection follow the binding ([`query`]); errors are the
//! binding's `imsx_StatusInfo` objects.

pub mod endpoints;
pub mod grant;
pub mod query;
pub mod records;
pub mod tokens;

use std::sync::{Arc, Mutex, Weak};

use crate::school::roster_index::RosterIndex;

pub use self::tokens::RosterTokens;

/// The service's state, shared by its handlers and the token endpoint.
#[derive(Debug, Default)]
pub struct OneRoster {
    pub tokens: RosterTokens,
    /// The roster index the records were last built from, and when this node first built
    /// records from it: their `dateLastModified` (see [`records`]). A weak reference, so an old
    /// index is freed, yet its address cannot be reused while the comparison holds it.
    modified: Mutex<Option<(Weak<RosterIndex>, String)>>,
}

impl OneRoster {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `dateLastModified` of records built from `index` (at `now_millis` when `index` is
    /// new to this node).
    pub fn modified_at(&self, index: &Arc<RosterIndex>, now_millis: i64) -> String {
        let mut modified = self
            .modified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, stamp)) = modified.as_ref()
            && std::ptr::eq(seen.as_ptr(), Arc::as_ptr(index))
        {
            return stamp.clone();
        }
        let stamp = iso_8601_millis(now_millis);
        *modified = Some((Arc::downgrade(index), stamp.clone()));
        stamp
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the binding's DateTime, always with milliseconds so that text
/// order is time order (filters compare as text).
pub fn iso_8601_millis(unix_millis: i64) -> String {
    let moment =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        moment.year(),
        u8::from(moment.month()),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second(),
        moment.millisecond()
    )
}

/// Where the rostering service lives, as the binding names it.
pub const BASE_PATH: &str = "/ims/oneroster/rostering/v1p2";

/// Every route of the service, relative to [`BASE_PATH`] (all `GET`). The authorisation matrix
/// test checks that each has a row.
pub const ROUTE_TEMPLATES: [&str; 23] = [
    "/orgs",
    "/orgs/{id}",
    "/schools",
    "/schools/{id}",
    "/schools/{id}/classes",
    "/academicSessions",
    "/academicSessions/{id}",
    "/terms",
    "/terms/{id}",
    "/courses",
    "/courses/{id}",
    "/classes",
    "/classes/{id}",
    "/classes/{id}/students",
    "/classes/{id}/teachers",
    "/users",
    "/users/{id}",
    "/students",
    "/students/{id}",
    "/teachers",
    "/teachers/{id}",
    "/enrollments",
    "/enrollments/{id}",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneroster_route_templates_name_every_route() {
        let mut routed: Vec<String> = Vec::new();
        for listing in endpoints::Listing::ALL {
            routed.push(listing.path().to_owned());
            routed.push(format!("{}/{{id}}", listing.path()));
        }
        for kind in endpoints::Nested::ALL {
            routed.push(kind.template().to_owned());
        }
        routed.sort();
        let mut listed: Vec<String> = ROUTE_TEMPLATES
            .iter()
            .map(|path| (*path).to_owned())
            .collect();
        listed.sort();
        assert_eq!(routed, listed);
    }

    #[test]
    fn oneroster_times_have_milliseconds_and_a_zone() {
        assert_eq!(
            iso_8601_millis(1_795_000_000_123),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(iso_8601_millis(0), "1970-01-01T00:00:00.000Z");
    }
}
