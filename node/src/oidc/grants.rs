//! Authorisation codes and access tokens, kept in memory.
//!
//! # Decisions
//!
//! - In memory, not in sled: a code lives [`CODE_LIFETIME`] and an access token only minutes, so a
//!   restart costs a user one more click on the service's login button, and nothing a service was
//!   given outlives a restart of the node it trusts. Both maps are bounded ([`MAX_PENDING_CODES`],
//!   [`MAX_ACCESS_TOKENS`]): expired entries are swept before an insert, and when a map is still
//!   full the insert is refused (the user tries again shortly) rather than evicting a live grant.
//! - Only SHA-256 of a code or token is kept, like the session tree does: a memory dump does not
//!   hand out usable credentials.
//! - A code is removed the first time it is presented, whether the exchange then succeeds or not,
//!   so a code can be redeemed once. A second presentation of a redeemed code also revokes the
//!   access token the first one got (RFC 6749 section 4.1.2: the code may have been stolen).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};

use crate::model::UserId;
use crate::model::catalogue::ReleasableClaim;

/// How long an authorisation code may be redeemed: the service redeems it in the same second in
/// practice; RFC 6749 recommends at most ten minutes, OAuth 2.1 "short".
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Codes issued and not yet redeemed or expired, all services together: a whole school logging
/// in to a service at the same minute fits many times over.
pub const MAX_PENDING_CODES: usize = 10_000;
/// Codes one user may have pending at once: a person logs in to a few services a minute, and the
/// bound keeps one account (or a script with its session) from filling the node's map and
/// blocking everyone else's logins.
pub const MAX_PENDING_CODES_PER_USER: usize = 20;
/// Live access tokens, all services together.
pub const MAX_ACCESS_TOKENS: usize = 50_000;
/// How long a redeemed code is remembered, to revoke its token when it is presented again.
const REDEEMED_CODE_MEMORY: Duration = Duration::from_secs(10 * 60);
/// Random bytes in a code or an access token: 256 bits.
pub const TOKEN_BYTES: usize = 32;

type Hash = [u8; 32];

fn hash(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh random token, base64url without padding (43 characters).
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| format!("the random number generator failed: {error}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What an authorisation code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeGrant {
    pub service_id: String,
    pub redirect_uri: String,
    /// The PKCE S256 challenge from the authorisation request.
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub user_id: UserId,
    /// When the user logged in (the session's start), Unix seconds, for `auth_time`.
    pub auth_time_secs: i64,
    /// The claims the service asked for and may receive.
    pub claims: Vec<ReleasableClaim>,
    /// The scope values granted, space-separated, as the token response repeats them.
    pub scope: String,
}

/// What an access token stands for: the userinfo endpoint answers with these claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub service_id: String,
    pub user_id: UserId,
    pub claims: Vec<ReleasableClaim>,
    /// Whether the userinfo release was audited already: the first answer is recorded, repeats
    /// under the same token release nothing new.
    pub userinfo_audited: bool,
}

#[derive(Debug)]
struct Expiring<T> {
    value: T,
    expires_at_millis: i64,
}

#[derive(Debug, Default)]
struct Maps {
    codes: HashMap<Hash, Expiring<CodeGrant>>,
    tokens: HashMap<Hash, Expiring<AccessGrant>>,
    /// Redeemed code → the access token it got.
    redeemed: HashMap<Hash, Expiring<Hash>>,
    /// Codes in `codes` per user, expired or not, for [`MAX_PENDING_CODES_PER_USER`].
    codes_per_user: HashMap<UserId, usize>,
}

impl Maps {
    fn remove_code(&mut self, code_hash: &Hash) -> Option<Expiring<CodeGrant>> {
        let entry = self.codes.remove(code_hash)?;
        if let Some(count) = self.codes_per_user.get_mut(&entry.value.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.codes_per_user.remove(&entry.value.user_id);
            }
        }
        Some(entry)
    }

    fn sweep_expired_codes(&mut self, now_millis: i64) {
        let expired: Vec<Hash> = self
            .codes
            .iter()
            .filter(|(_, entry)| entry.expires_at_millis <= now_millis)
            .map(|(hash, _)| *hash)
            .collect();
        for hash in expired {
            self.remove_code(&hash);
        }
    }

    fn pending_codes_of(&self, user_id: &str) -> usize {
        self.codes_per_user.get(user_id).copied().unwrap_or(0)
    }
}

/// Why a grant could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("too many logins to services are in progress; try again in a minute")]
    Full,
    #[error("{0}")]
    Random(String),
}

/// The provider's codes and tokens. See the module documentation.
#[derive(Debug)]
pub struct Grants {
    maps: Mutex<Maps>,
    access_token_lifetime: Duration,
    /// Access tokens issued since start (each one a login to a service), for the metrics.
    access_tokens_issued_total: AtomicU64,
}

/// Why redeeming a code failed; each is `invalid_grant` to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemError {
    /// Unknown, expired, or redeemed before (then its token was revoked).
    UnknownCode,
}

impl Grants {
    pub fn new(access_token_lifetime: Duration) -> Self {
        Self {
            maps: Mutex::new(Maps::default()),
            access_token_lifetime,
            access_tokens_issued_total: AtomicU64::new(0),
        }
    }

    pub fn access_token_lifetime(&self) -> Duration {
        self.access_token_lifetime
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.maps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a code for `grant` at `now`.
    pub fn issue_code(&self, grant: CodeGrant, now_millis: i64) -> Result<String, GrantError> {
        let code = random_token().map_err(GrantError::Random)?;
        let mut maps = self.maps();
        if maps.codes.len() >= MAX_PENDING_CODES
            || maps.pending_codes_of(&grant.user_id) >= MAX_PENDING_CODES_PER_USER
        {
            maps.sweep_expired_codes(now_millis);
        }
        if maps.codes.len() >= MAX_PENDING_CODES
            || maps.pending_codes_of(&grant.user_id) >= MAX_PENDING_CODES_PER_USER
        {
            return Err(GrantError::Full);
        }
        *maps
            .codes_per_user
            .entry(grant.user_id.clone())
            .or_default() += 1;
        maps.codes.insert(
            hash(&code),
            Expiring {
                value: grant,
                expires_at_millis: now_millis.saturating_add(millis(CODE_LIFETIME)),
            },
        );
        Ok(code)
    }

    /// Takes the code out (single use) and returns its grant if it was live. A code presented a
    /// second time revokes the token its first redemption got.
    pub fn take_code(&self, code: &str, now_millis: i64) -> Result<CodeGrant, RedeemError> {
        let code_hash = hash(code);
        let mut maps = self.maps();
        if let Some(entry) = maps.remove_code(&code_hash) {
            return if entry.expires_at_millis > now_millis {
                Ok(entry.value)
            } else {
                Err(RedeemError::UnknownCode)
            };
        }
        if let Some(redeemed) = maps.redeemed.remove(&code_hash) {
            maps.tokens.remove(&redeemed.value);
            tracing::warn!("an authorisation code was presented twice; its token is revoked");
        }
        Err(RedeemError::UnknownCode)
    }

    /// Issues an access token for `grant`, redeemed from the code `code`.
    pub fn issue_access_token(
        &self,
        code: &str,
        grant: AccessGrant,
        now_millis: i64,
    ) -> Result<String, GrantError> {
        let token = random_token().map_err(GrantError::Random)?;
        let token_hash = hash(&token);
        let mut maps = self.maps();
        if maps.tokens.len() >= MAX_ACCESS_TOKENS {
            maps.tokens
                .retain(|_, entry| entry.expires_at_millis > now_millis);
            maps.redeemed
                .retain(|_, entry| entry.expires_at_millis > now_millis);
        }
        if maps.tokens.len() >= MAX_ACCESS_TOKENS {
            return Err(GrantError::Full);
        }
        maps.tokens.insert(
            token_hash,
            Expiring {
                value: grant,
                expires_at_millis: now_millis.saturating_add(millis(self.access_token_lifetime)),
            },
        );
        // Bounded with the tokens: one entry per token issued, swept with them.
        maps.redeemed.insert(
            hash(code),
            Expiring {
                value: token_hash,
                expires_at_millis: now_millis.saturating_add(millis(REDEEMED_CODE_MEMORY)),
            },
        );
        self.access_tokens_issued_total
            .fetch_add(1, Ordering::Relaxed);
        Ok(token)
    }

    /// The live grant of an access token, marking its userinfo release as audited. Returns the
    /// grant as it was before (so `userinfo_audited` says whether this is the first release).
    pub fn use_access_token(&self, token: &str, now_millis: i64) -> Option<AccessGrant> {
        let mut maps = self.maps();
        let token_hash = hash(token);
        let entry = maps.tokens.get_mut(&token_hash)?;
        if entry.expires_at_millis <= now_millis {
            maps.tokens.remove(&token_hash);
            return None;
        }
        let before = entry.value.clone();
        entry.value.userinfo_audited = true;
        Some(before)
    }

    /// Marks a token's userinfo release as not audited after all (the audit write failed), so the
    /// next call tries again.
    pub fn unmark_userinfo_audited(&self, token: &str) {
        if let Some(entry) = self.maps().tokens.get_mut(&hash(token)) {
            entry.value.userinfo_audited = false;
        }
    }

    /// Codes waiting to be redeemed (for metrics and tests), expired ones not yet swept included.
    pub fn pending_codes(&self) -> usize {
        self.maps().codes.len()
    }

    /// Access tokens held, expired ones not yet swept included.
    pub fn access_tokens_held(&self) -> usize {
        self.maps().tokens.len()
    }

    /// Access tokens issued since start.
    pub fn access_tokens_issued_total(&self) -> u64 {
        self.access_tokens_issued_total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_grant() -> CodeGrant {
        CodeGrant {
            service_id: "tool".into(),
            redirect_uri: "https://tool.example.fi/cb".into(),
            code_challenge: "challenge".into(),
            nonce: None,
            user_id: "P01".into(),
            auth_time_secs: 1,
            claims: vec![],
            scope: "openid".into(),
        }
    }

    fn access_grant() -> AccessGrant {
        AccessGrant {
            service_id: "tool".into(),
            user_id: "P01".into(),
            claims: vec![],
            userinfo_audited: false,
        }
    }

    #[test]
    fn oidc_codes_are_single_use_and_expire() {
        let grants = Grants::new(Duration::from_secs(600));
        let code = grants.issue_code(code_grant(), 0).expect("issued");
        assert_eq!(grants.take_code(&code, 1), Ok(code_grant()));
        assert_eq!(grants.take_code(&code, 2), Err(RedeemError::UnknownCode));
        let late = grants.issue_code(code_grant(), 0).expect("issued");
        assert_eq!(
            grants.take_code(&late, millis(CODE_LIFETIME)),
            Err(RedeemError::UnknownCode)
        );
        assert_eq!(grants.pending_codes(), 0);
    }

    #[test]
    fn oidc_a_code_presented_twice_revokes_its_token() {
        let grants = Grants::new(Duration::from_secs(600));
        let code = grants.issue_code(code_grant(), 0).expect("issued");
        grants.take_code(&code, 1).expect("first redemption");
        let token = grants
            .issue_access_token(&code, access_grant(), 1)
            .expect("token");
        assert!(grants.use_access_token(&token, 2).is_some());
        assert!(grants.take_code(&code, 3).is_err());
        assert!(grants.use_access_token(&token, 4).is_none(), "revoked");
    }

    #[test]
    fn oidc_access_tokens_expire_and_record_the_first_userinfo_release() {
        let grants = Grants::new(Duration::from_secs(10));
        let token = grants
            .issue_access_token("code", access_grant(), 0)
            .expect("token");
        assert_eq!(
            grants
                .use_access_token(&token, 1)
                .map(|grant| grant.userinfo_audited),
            Some(false)
        );
        assert_eq!(
            grants
                .use_access_token(&token, 2)
                .map(|grant| grant.userinfo_audited),
            Some(true)
        );
        assert!(grants.use_access_token(&token, 10_000).is_none());
    }

    #[test]
    fn oidc_one_user_cannot_hold_more_than_their_share_of_codes() {
        let grants = Grants::new(Duration::from_secs(600));
        for _ in 0..MAX_PENDING_CODES_PER_USER {
            grants.issue_code(code_grant(), 0).expect("room");
        }
        assert_eq!(grants.issue_code(code_grant(), 1), Err(GrantError::Full));
        let other_user = CodeGrant {
            user_id: "P02".into(),
            ..code_grant()
        };
        assert!(
            grants.issue_code(other_user, 1).is_ok(),
            "others still log in"
        );
        assert!(
            grants
                .issue_code(code_grant(), millis(CODE_LIFETIME))
                .is_ok(),
            "the user's expired codes do not count"
        );
    }

    #[test]
    fn oidc_a_full_code_map_refuses_rather_than_evicting_live_codes() {
        let grants = Grants::new(Duration::from_secs(600));
        for number in 0..MAX_PENDING_CODES {
            let grant = CodeGrant {
                user_id: format!("U{number}"),
                ..code_grant()
            };
            grants.issue_code(grant, 0).expect("room");
        }
        assert_eq!(
            grants.issue_code(code_grant(), 1),
            Err(GrantError::Full),
            "live codes are kept"
        );
        assert!(
            grants
                .issue_code(code_grant(), millis(CODE_LIFETIME))
                .is_ok(),
            "expired codes make room"
        );
    }
}
