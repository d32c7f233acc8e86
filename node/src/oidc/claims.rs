//! What a service learns about a user: the pairwise subject identifier and the released claims,
//! built from the roster at the moment of release.
//!
//! # Decisions
//!
//! - `sub` is pairwise (OpenID Connect Core section 8.1): base64url of
//!   HMAC-SHA256(school salt, "digione-pairwise-sub-v1" 0 service id 0 user id). Stable for one
//!   user at one service across logins, different at every other service, and not reversible
//!   without the salt. The salt lives in a school-scope document
//!   ([`crate::model::catalogue::PairwiseSaltDocument`]) so that a replaced node, restored from
//!   the relay, gives every user the same `sub` as before. It is per school, not national: no
//!   secret is shared fleet-wide, so a pupil who moves to another school is a new user to a
//!   service (as with MPASSid's `urn:mpass.id:uid`, which changes with the user registry).
//! - Claims follow MPASSid's attribute names (see [`ReleasableClaim`]). Values:
//!   `urn:mpass.id:schoolCode` and `urn:mpass.id:municipalityCode` are the node's school and
//!   municipality codes; `urn:mpass.id:class` is the title of the user's homeroom class, else of
//!   the first class they attend or teach (omitted when none); `urn:mpass.id:classLevel` is the
//!   user's first OneRoster grade as an integer ("07" is 7; omitted when not a number);
//!   `urn:mpass.id:role` is a list with one string per role the user holds, in MPASSid 1.0's
//!   form `municipality;school code;group;role` with the municipality's code, the school's code
//!   and the class above, each left empty unless its own claim is released too, and MPASSid's
//!   Finnish role word (Oppilas, Opettaja, Huoltaja, Hallintohenkilö).

use ring::hmac;
use serde_json::{Map, Value};

use crate::identity::NodeIdentity;
use crate::model::UserRole;
use crate::model::catalogue::ReleasableClaim;
use crate::model::roster::ClassType;
use crate::school::RosterIndex;

/// Separates this derivation from any other use of the salt.
const PAIRWISE_CONTEXT: &[u8] = b"digione-pairwise-sub-v1";

/// The pairwise subject of `user_id` at `service_id`.
pub fn pairwise_subject(salt: &[u8], service_id: &str, user_id: &str) -> String {
    use base64::Engine as _;
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    let mut context = hmac::Context::with_key(&key);
    context.update(PAIRWISE_CONTEXT);
    context.update(&[0]);
    context.update(service_id.as_bytes());
    context.update(&[0]);
    context.update(user_id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(context.sign().as_ref())
}

/// The released claims of `user_id` for `claims`, as JSON members. A claim the roster has no
/// value for is left out rather than sent empty.
pub fn released_claims(
    roster: &RosterIndex,
    identity: &NodeIdentity,
    user_id: &str,
    claims: &[ReleasableClaim],
) -> Map<String, Value> {
    let mut released = Map::new();
    let Some(user) = roster.users.user(user_id) else {
        return released;
    };
    let class = class_of(roster, user_id);
    for claim in claims {
        match claim {
            ReleasableClaim::Profile => {
                let given = user
                    .preferred_given_name
                    .clone()
                    .unwrap_or_else(|| user.given_name.clone());
                released.insert("given_name".into(), given.into());
                released.insert("family_name".into(), user.family_name.clone().into());
            }
            ReleasableClaim::Email => {
                if let Some(email) = &user.email {
                    released.insert("email".into(), email.clone().into());
                }
            }
            ReleasableClaim::SchoolCode => {
                released.insert(claim.scope().into(), identity.school.to_string().into());
            }
            ReleasableClaim::MunicipalityCode => {
                released.insert(
                    claim.scope().into(),
                    identity.municipality.to_string().into(),
                );
            }
            ReleasableClaim::Class => {
                if let Some(class) = &class {
                    released.insert(claim.scope().into(), class.clone().into());
                }
            }
            ReleasableClaim::ClassLevel => {
                if let Some(level) = user
                    .grades
                    .first()
                    .and_then(|grade| grade.trim().parse::<u32>().ok())
                {
                    released.insert(claim.scope().into(), level.into());
                }
            }
            // Not a claim about the user: the roster is read over OneRoster, never in a login.
            ReleasableClaim::RosterCoreReadonly => {}
            ReleasableClaim::Role => {
                // Each part beside the role word only when its own claim is released too, so
                // the role string never carries what the school did not approve.
                let releases = |part: ReleasableClaim| claims.contains(&part);
                let municipality = if releases(ReleasableClaim::MunicipalityCode) {
                    identity.municipality.to_string()
                } else {
                    String::new()
                };
                let school = if releases(ReleasableClaim::SchoolCode) {
                    identity.school.to_string()
                } else {
                    String::new()
                };
                let group = match (&class, releases(ReleasableClaim::Class)) {
                    (Some(class), true) => class.as_str(),
                    _ => "",
                };
                let roles: Vec<Value> = user
                    .roles
                    .iter()
                    .map(|role| {
                        format!("{municipality};{school};{group};{}", mpass_role_word(*role)).into()
                    })
                    .collect();
                if !roles.is_empty() {
                    released.insert(claim.scope().into(), Value::Array(roles));
                }
            }
        }
    }
    released
}

/// MPASSid's role words (its data model's role code list, in Finnish).
fn mpass_role_word(role: UserRole) -> &'static str {
    match role {
        UserRole::Pupil => "Oppilas",
        UserRole::Teacher => "Opettaja",
        UserRole::Guardian => "Huoltaja",
        UserRole::Staff | UserRole::Admin => "Hallintohenkilö",
    }
}

/// The title of the user's homeroom class, else of the first class (by id) they attend or teach.
fn class_of(roster: &RosterIndex, user_id: &str) -> Option<String> {
    let mut classes: Vec<&String> = roster
        .classes_as_pupil
        .get(user_id)
        .into_iter()
        .chain(roster.classes_as_teacher.get(user_id))
        .flatten()
        .collect();
    classes.sort();
    let documents: Vec<_> = classes
        .into_iter()
        .filter_map(|class| roster.classes.get(class))
        .collect();
    documents
        .iter()
        .find(|document| document.class.class_type == ClassType::Homeroom)
        .or_else(|| documents.first())
        .map(|document| document.class.title.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_pairwise_subjects_differ_per_service_and_are_stable() {
        let salt = [7u8; 32];
        let tool = pairwise_subject(&salt, "tool", "P01");
        assert_eq!(tool, pairwise_subject(&salt, "tool", "P01"));
        assert_ne!(tool, pairwise_subject(&salt, "other-tool", "P01"));
        assert_ne!(tool, pairwise_subject(&salt, "tool", "P02"));
        assert_ne!(tool, pairwise_subject(&[8u8; 32], "tool", "P01"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            pairwise_subject(&salt, "ab", "c"),
            pairwise_subject(&salt, "a", "bc")
        );
        assert_eq!(tool.len(), 43, "256 bits in base64url");
    }
}
