//! OneRoster access tokens, kept in memory like the OpenID Provider's access tokens
//! ([`crate::oidc::grants`]) but in a map of their own: a userinfo token never reads the roster
//! and a roster token never opens the userinfo endpoint, because each endpoint looks only in its
//! own map.
//!
//! # Decisions
//!
//! - Only SHA-256 of a token is kept, so a memory dump hands out nothing usable.
//! - Bounded: [`MAX_ROSTER_TOKENS`] in all. A service that asks for a new token before its old
//!   ones expire (many clients do, per job) holds at most [`MAX_ROSTER_TOKENS_PER_SERVICE`]; its
//!   oldest is dropped for the new one, which costs only that service. When the whole map is
//!   full of live tokens, a new one is refused rather than evicting another service's.
//! - A restart of the node ends every token; a client-credentials client simply asks again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::model::catalogue::ReleasableClaim;
use crate::oidc::grants::{GrantError, random_token};

/// How long a roster token is valid: an hour, the usual lifetime OneRoster clients expect
/// (`expires_in` 3600); a roster sync of a large school takes minutes.
pub const ROSTER_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Live roster tokens, all services together: far more than the catalogue has services.
pub const MAX_ROSTER_TOKENS: usize = 10_000;
/// Live roster tokens one service holds; beyond it the service's oldest is dropped.
pub const MAX_ROSTER_TOKENS_PER_SERVICE: usize = 10;

type Hash = [u8; 32];

fn hash(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

/// What a roster token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterGrant {
    pub service_id: String,
    /// The OneRoster scopes granted.
    pub scopes: Vec<ReleasableClaim>,
    pub issued_at_millis: i64,
}

#[derive(Debug)]
struct Held {
    grant: RosterGrant,
    expires_at_millis: i64,
}

/// The node's roster tokens. See the module documentation.
#[derive(Debug, Default)]
pub struct RosterTokens {
    tokens: Mutex<HashMap<Hash, Held>>,
    issued_total: AtomicU64,
}

impl RosterTokens {
    pub fn new() -> Self {
        Self::default()
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, Held>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a token for `grant` at `now`.
    pub fn issue(&self, grant: RosterGrant, now_millis: i64) -> Result<String, GrantError> {
        let token = random_token().map_err(GrantError::Random)?;
        let mut tokens = self.tokens();
        tokens.retain(|_, held| held.expires_at_millis > now_millis);
        let mut own: Vec<(Hash, i64)> = tokens
            .iter()
            .filter(|(_, held)| held.grant.service_id == grant.service_id)
            .map(|(hash, held)| (*hash, held.grant.issued_at_millis))
            .collect();
        if own.len() >= MAX_ROSTER_TOKENS_PER_SERVICE {
            own.sort_by_key(|(_, issued_at)| *issued_at);
            let surplus = own.len() + 1 - MAX_ROSTER_TOKENS_PER_SERVICE;
            for (oldest, _) in own.into_iter().take(surplus) {
                tokens.remove(&oldest);
            }
        }
        if tokens.len() >= MAX_ROSTER_TOKENS {
            return Err(GrantError::Full);
        }
        let lifetime_millis = i64::try_from(ROSTER_TOKEN_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        tokens.insert(
            hash(&token),
            Held {
                grant,
                expires_at_millis: now_millis.saturating_add(lifetime_millis),
            },
        );
        self.issued_total.fetch_add(1, Ordering::Relaxed);
        Ok(token)
    }

    /// The live grant of `token`, if any.
    pub fn lookup(&self, token: &str, now_millis: i64) -> Option<RosterGrant> {
        let token_hash = hash(token);
        let mut tokens = self.tokens();
        let held = tokens.get(&token_hash)?;
        if held.expires_at_millis <= now_millis {
            tokens.remove(&token_hash);
            return None;
        }
        Some(held.grant.clone())
    }

    /// Drops every token of `service_id` (the school deactivated it); returns how many.
    pub fn revoke_service(&self, service_id: &str) -> usize {
        let mut tokens = self.tokens();
        let before = tokens.len();
        tokens.retain(|_, held| held.grant.service_id != service_id);
        before - tokens.len()
    }

    /// Tokens held, expired ones not yet swept included.
    pub fn held(&self) -> usize {
        self.tokens().len()
    }

    /// Tokens issued since start.
    pub fn issued_total(&self) -> u64 {
        self.issued_total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(service: &str, at: i64) -> RosterGrant {
        RosterGrant {
            service_id: service.to_owned(),
            scopes: vec![ReleasableClaim::RosterCoreReadonly],
            issued_at_millis: at,
        }
    }

    #[test]
    fn oneroster_tokens_expire_and_are_revoked_per_service() {
        let tokens = RosterTokens::new();
        let first = tokens.issue(grant("tool", 0), 0).expect("issued");
        let other = tokens.issue(grant("other", 0), 0).expect("issued");
        assert_eq!(tokens.lookup(&first, 1), Some(grant("tool", 0)));
        assert_eq!(tokens.lookup("not-a-token", 1), None);
        let lifetime = i64::try_from(ROSTER_TOKEN_LIFETIME.as_millis()).expect("fits");
        assert_eq!(tokens.lookup(&first, lifetime), None, "expired");
        let second = tokens.issue(grant("tool", 5), 5).expect("issued");
        assert_eq!(tokens.revoke_service("tool"), 1);
        assert_eq!(tokens.lookup(&second, 6), None, "revoked");
        assert!(
            tokens.lookup(&other, 6).is_some(),
            "another service's stays"
        );
    }

    #[test]
    fn oneroster_a_service_holds_a_bounded_number_of_tokens_and_loses_its_oldest() {
        let tokens = RosterTokens::new();
        let issued: Vec<String> = (0..=MAX_ROSTER_TOKENS_PER_SERVICE)
            .map(|at| {
                tokens
                    .issue(grant("tool", at as i64), at as i64)
                    .expect("issued")
            })
            .collect();
        assert_eq!(tokens.held(), MAX_ROSTER_TOKENS_PER_SERVICE);
        assert_eq!(tokens.lookup(&issued[0], 100), None, "the oldest went");
        assert!(
            tokens
                .lookup(&issued[MAX_ROSTER_TOKENS_PER_SERVICE], 100)
                .is_some()
        );
        assert_eq!(tokens.issued_total(), issued.len() as u64);
    }
}
