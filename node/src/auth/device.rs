//! Device cookies: a browser that has logged in to an account keeps a signed token saying so, and
//! the login throttle gives that browser a lane of its own for that account (see
//! [`super::throttle`]). This is the "device cookie" defence of the OWASP guidance on brute-force
//! protection: it is what lets a pupil log in from their usual browser while a classmate behind the
//! same school address keeps guessing their password.
//!
//! The cookie holds up to [`MAX_DEVICE_TOKENS`] tokens, one per account that logged in on this
//! browser (a classroom computer is shared), newest first. A token is
//! `expiry ‖ nonce ‖ HMAC-SHA256(key, account ‖ expiry ‖ nonce)[..16]` in hex, where `account` is the
//! throttle's account key (`user:<id>`). It names no account, so another pupil reading the cookie on
//! a shared computer learns nothing but how many tokens it holds; it proves nothing but an earlier
//! successful login; and it grants nothing but a throttle lane, which still has its own delays, so a
//! stolen cookie is worth one more client's guesses and no more. The key is 32 random bytes kept in
//! the node's session tree ([`super::SessionStore::secret`]), so tokens outlive a restart and never
//! leave the node.

use std::time::Duration;

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use ring::hmac;
use subtle::ConstantTimeEq;

use super::session::{SECRET_BYTES, SessionError, SessionStore};

/// The cookie's name over plain HTTP.
pub const PLAIN_DEVICE_COOKIE_NAME: &str = "digione_device";

/// The cookie's name over HTTPS (`__Host-`: `Secure`, `Path=/`, no `Domain`; see the session
/// cookie).
pub const SECURE_DEVICE_COOKIE_NAME: &str = "__Host-digione_device";

/// How long a token vouches for its browser: a school year and a summer. Each login renews it.
pub const DEVICE_TOKEN_LIFETIME: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// The most tokens one browser keeps: the accounts logged in on a shared classroom computer, the
/// newest kept. Bounds the cookie (about 260 bytes) and the work of reading it.
pub const MAX_DEVICE_TOKENS: usize = 4;

/// The name of the signing key in the session tree.
const KEY_NAME: &str = "device-cookie-key";

const EXPIRY_BYTES: usize = 8;
const NONCE_BYTES: usize = 8;
const MAC_BYTES: usize = 16;
const TOKEN_BYTES: usize = EXPIRY_BYTES + NONCE_BYTES + MAC_BYTES;
const TOKEN_HEX_CHARS: usize = TOKEN_BYTES * 2;
const SEPARATOR: char = '.';

/// The cookie's name under `https` or plain HTTP.
pub fn device_cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_DEVICE_COOKIE_NAME
    } else {
        PLAIN_DEVICE_COOKIE_NAME
    }
}

/// The id of a device token: what names its throttle lane.
pub type DeviceId = [u8; MAC_BYTES];

/// Issues and recognises device tokens with the node's key.
pub struct DeviceTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for DeviceTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("DeviceTokens(key redacted)")
    }
}

/// One token as read from the cookie.
#[derive(Clone, Copy)]
struct Token {
    expiry: u64,
    nonce: [u8; NONCE_BYTES],
    mac: [u8; MAC_BYTES],
}

impl Token {
    fn parse(text: &str) -> Option<Self> {
        if text.len() != TOKEN_HEX_CHARS {
            return None;
        }
        let mut bytes = [0u8; TOKEN_BYTES];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        let (expiry, rest) = bytes.split_at(EXPIRY_BYTES);
        let (nonce, mac) = rest.split_at(NONCE_BYTES);
        Some(Self {
            expiry: u64::from_be_bytes(expiry.try_into().ok()?),
            nonce: nonce.try_into().ok()?,
            mac: mac.try_into().ok()?,
        })
    }

    fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_BYTES);
        bytes.extend_from_slice(&self.expiry.to_be_bytes());
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.mac);
        hex::encode(bytes)
    }
}

impl DeviceTokens {
    /// Tokens signed with `key`.
    pub fn new(key: &[u8; SECRET_BYTES]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// Tokens signed with the node's key from `sessions` (made on first use).
    pub fn from_session_store(sessions: &SessionStore) -> Result<Self, SessionError> {
        Ok(Self::new(&sessions.secret(KEY_NAME)?))
    }

    fn mac(&self, account: &str, expiry: u64, nonce: &[u8; NONCE_BYTES]) -> [u8; MAC_BYTES] {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(b"digione-device-token-v1\0");
        // The account key's length first, so that no two (account, expiry, nonce) triples share an
        // input.
        context.update(&(account.len() as u64).to_be_bytes());
        context.update(account.as_bytes());
        context.update(&expiry.to_be_bytes());
        context.update(nonce);
        let tag = context.sign();
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&tag.as_ref()[..MAC_BYTES]);
        mac
    }

    /// The tokens the browser sent, at most [`MAX_DEVICE_TOKENS`], unexpired at `now` (seconds
    /// since the Unix epoch). Malformed ones are skipped.
    fn presented(&self, headers: &HeaderMap, https: bool, now: u64) -> Vec<Token> {
        let jar = CookieJar::from_headers(headers);
        let Some(cookie) = jar.get(device_cookie_name(https)) else {
            return Vec::new();
        };
        cookie
            .value()
            .split(SEPARATOR)
            .take(MAX_DEVICE_TOKENS)
            .filter_map(Token::parse)
            .filter(|token| token.expiry > now)
            .collect()
    }

    fn vouches_for(&self, token: &Token, account: &str) -> bool {
        let expected = self.mac(account, token.expiry, &token.nonce);
        bool::from(expected.ct_eq(&token.mac))
    }

    /// The id of the browser's token for `account`, when the request carries a valid one at `now`
    /// (seconds since the Unix epoch).
    pub fn recognise(
        &self,
        headers: &HeaderMap,
        https: bool,
        account: &str,
        now: u64,
    ) -> Option<DeviceId> {
        self.presented(headers, https, now)
            .into_iter()
            .find(|token| self.vouches_for(token, account))
            .map(|token| token.mac)
    }

    /// The `Set-Cookie` value after a successful login to `account` at `now` (seconds since the
    /// Unix epoch): a fresh token for the account first, then the browser's other unexpired tokens
    /// that are not for it, at most [`MAX_DEVICE_TOKENS`] in all. `Max-Age` is the token lifetime,
    /// so the cookie outlives the browser session (unlike the session cookie) but not its tokens.
    pub fn cookie_after_login(
        &self,
        headers: &HeaderMap,
        https: bool,
        account: &str,
        now: u64,
    ) -> Result<String, SessionError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut nonce)
            .map_err(|error| SessionError::Random(error.to_string()))?;
        let expiry = now.saturating_add(DEVICE_TOKEN_LIFETIME.as_secs());
        let fresh = Token {
            expiry,
            nonce,
            mac: self.mac(account, expiry, &nonce),
        };
        let mut tokens = vec![fresh];
        tokens.extend(
            self.presented(headers, https, now)
                .into_iter()
                .filter(|token| !self.vouches_for(token, account))
                .take(MAX_DEVICE_TOKENS - 1),
        );
        let value: Vec<String> = tokens.iter().map(Token::encode).collect();
        let max_age = i64::try_from(DEVICE_TOKEN_LIFETIME.as_secs()).unwrap_or(i64::MAX);
        let cookie = Cookie::build((device_cookie_name(https), value.join(".")))
            .http_only(true)
            // Read only by the node's own login form and API, which are same-site requests.
            .same_site(SameSite::Strict)
            .path("/")
            .secure(https)
            .max_age(time::Duration::seconds(max_age))
            .build();
        Ok(cookie.to_string())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::http::header::COOKIE;

    use super::*;

    const NOW: u64 = 1_780_000_000;

    fn headers_with(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().expect("name=value");
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(pair).expect("header"));
        headers
    }

    #[test]
    fn a_token_vouches_for_its_account_only_and_until_it_expires() {
        let tokens = DeviceTokens::new(&[3; SECRET_BYTES]);
        let set = tokens
            .cookie_after_login(&HeaderMap::new(), false, "user:P01", NOW)
            .expect("issued");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
            assert!(set.contains(attribute), "{set} lacks {attribute}");
        }
        assert!(set.starts_with("digione_device="));
        let headers = headers_with(&set);
        let id = tokens.recognise(&headers, false, "user:P01", NOW + 1);
        assert!(id.is_some());
        assert_eq!(tokens.recognise(&headers, false, "user:P02", NOW), None);
        assert_eq!(tokens.recognise(&headers, true, "user:P01", NOW), None);
        let expired = NOW + DEVICE_TOKEN_LIFETIME.as_secs();
        assert_eq!(tokens.recognise(&headers, false, "user:P01", expired), None);
        // Another node's key does not recognise it.
        let other = DeviceTokens::new(&[4; SECRET_BYTES]);
        assert_eq!(other.recognise(&headers, false, "user:P01", NOW), None);
    }

    #[test]
    fn a_shared_browser_keeps_the_newest_accounts_tokens() {
        let tokens = DeviceTokens::new(&[3; SECRET_BYTES]);
        let mut headers = HeaderMap::new();
        for pupil in 1..=6 {
            let set = tokens
                .cookie_after_login(&headers, false, &format!("user:P0{pupil}"), NOW)
                .expect("issued");
            headers = headers_with(&set);
        }
        let known: Vec<u32> = (1..=6)
            .filter(|pupil| {
                tokens
                    .recognise(&headers, false, &format!("user:P0{pupil}"), NOW)
                    .is_some()
            })
            .collect();
        assert_eq!(known, [3, 4, 5, 6]);
        // Logging in again replaces the account's token rather than adding one.
        let first = tokens.recognise(&headers, false, "user:P06", NOW);
        let set = tokens
            .cookie_after_login(&headers, false, "user:P06", NOW)
            .expect("issued");
        let headers = headers_with(&set);
        let second = tokens.recognise(&headers, false, "user:P06", NOW);
        assert!(second.is_some() && second != first);
        assert!(tokens.recognise(&headers, false, "user:P03", NOW).is_some());
    }

    #[test]
    fn forged_and_malformed_tokens_are_ignored() {
        let tokens = DeviceTokens::new(&[3; SECRET_BYTES]);
        let forged = Token {
            expiry: NOW + 1_000,
            nonce: [1; NONCE_BYTES],
            mac: [2; MAC_BYTES],
        }
        .encode();
        for value in [
            forged.as_str(),
            "zz",
            "",
            "....",
            &"f".repeat(TOKEN_HEX_CHARS * 50),
        ] {
            let headers = headers_with(&format!("digione_device={value}"));
            assert_eq!(tokens.recognise(&headers, false, "user:P01", NOW), None);
        }
    }
}
