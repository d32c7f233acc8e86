//! The provider's signing keys: RSA 2048 (RS256, what ID tokens are signed with
//! ([`ID_TOKEN_ALGORITHM`]), what the IMS Security Framework requires of LTI 1.3 and what OpenID
//! Connect Core section 15.1 requires a provider to support) and ECDSA P-256 (ES256, generated
//! with ring, which signed the first ID tokens and is still available), kept in a node-local sled tree and
//! rotated on a schedule, each algorithm on its own.
//!
//! # Decisions
//!
//! - ring cannot generate RSA keys, so the `rsa` crate (RustCrypto) generates them and exports
//!   them as PKCS#1 DER; nothing else of it is used. Signing is ring's, through jsonwebtoken, and
//!   the published modulus and exponent are read with ring too, so none of the `rsa` crate's
//!   private-key operations (RUSTSEC-2023-0071 concerns their timing) ever runs on a key.
//! - Generating an RSA key takes a noticeable time (tens of milliseconds optimised, seconds in a
//!   debug build of the crate), so it happens once per rotation, under the rotation lock, and
//!   callers reach the keys from blocking tasks, never from an async worker.
//! - Node-local, never synced: a signing key is the one secret a service trusts the node by, and
//!   no document scope is private to one node (the relay reads every school document). A replaced
//!   node makes a new key; services fetch the JWKS again when they meet an unknown `kid`.
//! - The newest key signs. When it is older than the rotation interval, the next signature first
//!   makes a new key. An older key stays in the JWKS for [`RETIRED_KEY_PUBLISHED`] after a newer
//!   one took over, far longer than any token it signed lives, so every token issued still
//!   verifies; after that it is deleted.
//! - The tree is flushed after every change, so a key that signed a token is never lost in a
//!   crash, and the keys survive restarts.
//! - Time is passed in (`now`), so rotation is tested without waiting.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde::{Deserialize, Serialize};

/// How long a retired key stays published after a newer key took over: a week, well beyond the
/// longest ID-token lifetime (an hour) and any JWKS cache of a service.
pub const RETIRED_KEY_PUBLISHED: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Keys kept at most (signing plus retired): even a rotation every day with a week's grace stays
/// under it. Beyond it the oldest are deleted.
pub const MAX_SIGNING_KEYS: usize = 16;
/// Random bytes in a key id.
const KEY_ID_BYTES: usize = 12;
/// The length of an uncompressed P-256 point: `04 || x || y`.
const UNCOMPRESSED_POINT_BYTES: usize = 65;

/// The bits of a generated RSA modulus: the IMS Security Framework's minimum (section 6.1).
pub const RSA_MODULUS_BITS: usize = 2048;

/// The algorithms the node signs with. Each has its own keys and its own rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256: what the provider signed with first; its keys are still read
    /// and published while they are in their grace period.
    #[default]
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256: ID tokens ([`ID_TOKEN_ALGORITHM`]) and LTI 1.3 messages.
    RS256,
}

/// The algorithm of the ID tokens the OpenID Provider issues. RS256: OpenID Connect Core 1.0
/// section 15.1 requires every provider to support it, a client that registered no algorithm
/// expects it (OpenID Connect Dynamic Client Registration, `id_token_signed_response_alg`), and
/// services already connected to MPASSid, which signs with RS256, accept it unchanged.
pub const ID_TOKEN_ALGORITHM: SigningAlgorithm = SigningAlgorithm::RS256;

impl SigningAlgorithm {
    pub fn jwt_algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            SigningAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing-key tree failed: {0}")]
    Storage(#[from] sled::Error),
    #[error("a stored signing key could not be read: {0}")]
    Corrupt(String),
    #[error("the key could not be generated or used: {0}")]
    Crypto(String),
}

/// What the tree holds per key, keyed by creation time (big-endian milliseconds) then key id, so
/// that a scan is in age order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    key_id: String,
    created_at_millis: i64,
    /// Keys stored before RS256 existed have no algorithm field: they are ES256.
    #[serde(default)]
    algorithm: SigningAlgorithm,
    /// The private key, hex: a PKCS#8 document for ES256, a PKCS#1 `RSAPrivateKey` for RS256.
    /// Keys stored before RS256 existed name the field `pkcs8_hex`.
    #[serde(alias = "pkcs8_hex")]
    private_der_hex: String,
}

/// A key that signs now.
#[derive(Clone)]
pub struct SigningKey {
    pub algorithm: SigningAlgorithm,
    pub key_id: String,
    pub created_at_millis: i64,
    pub encoding_key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field("created_at_millis", &self.created_at_millis)
            .finish_non_exhaustive()
    }
}

/// The node's signing keys. See the module documentation.
#[derive(Debug)]
pub struct SigningKeys {
    tree: sled::Tree,
    rotation_interval: Duration,
    /// Serialises rotations, so that two requests at the turn of the interval make one key.
    rotating: Mutex<()>,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn tree_key(stored: &StoredKey) -> Vec<u8> {
    let mut key = stored.created_at_millis.to_be_bytes().to_vec();
    key.extend_from_slice(stored.key_id.as_bytes());
    key
}

impl SigningKeys {
    /// Keys in `tree` (the node passes `SledStore::auxiliary_tree("oidc_signing_keys")`), a new one
    /// every `rotation_interval`.
    pub fn new(tree: sled::Tree, rotation_interval: Duration) -> Self {
        Self {
            tree,
            rotation_interval,
            rotating: Mutex::new(()),
        }
    }

    /// Every stored key of `algorithm`, oldest first.
    fn stored(&self, algorithm: SigningAlgorithm) -> Result<Vec<StoredKey>, KeyError> {
        let mut keys = Vec::new();
        for entry in self.tree.iter() {
            let (_, value) = entry?;
            let stored: StoredKey = serde_json::from_slice(&value)
                .map_err(|error| KeyError::Corrupt(error.to_string()))?;
            if stored.algorithm == algorithm {
                keys.push(stored);
            }
        }
        Ok(keys)
    }

    /// The ID token key to sign with at `now` ([`ID_TOKEN_ALGORITHM`]; see
    /// [`SigningKeys::signing_key_for`]).
    pub fn signing_key(&self, now_millis: i64) -> Result<SigningKey, KeyError> {
        self.signing_key_for(ID_TOKEN_ALGORITHM, now_millis)
    }

    /// The key of `algorithm` to sign with at `now`: the newest, after making a new one if it is
    /// due. Blocking, and slow when an RSA key is made: call it from a blocking task.
    pub fn signing_key_for(
        &self,
        algorithm: SigningAlgorithm,
        now_millis: i64,
    ) -> Result<SigningKey, KeyError> {
        let newest = self.stored(algorithm)?.pop();
        let due = newest.as_ref().is_none_or(|key| {
            now_millis.saturating_sub(key.created_at_millis) >= millis(self.rotation_interval)
        });
        let stored = if due {
            self.rotate_if(algorithm, now_millis, |newest| {
                newest.is_none_or(|key| {
                    now_millis.saturating_sub(key.created_at_millis)
                        >= millis(self.rotation_interval)
                })
            })?
        } else {
            newest.ok_or_else(|| KeyError::Corrupt("no key".into()))?
        };
        let der = hex::decode(&stored.private_der_hex)
            .map_err(|error| KeyError::Corrupt(error.to_string()))?;
        let encoding_key = match algorithm {
            SigningAlgorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_der(&der),
            SigningAlgorithm::RS256 => jsonwebtoken::EncodingKey::from_rsa_der(&der),
        };
        Ok(SigningKey {
            algorithm,
            key_id: stored.key_id,
            created_at_millis: stored.created_at_millis,
            encoding_key,
        })
    }

    /// Makes a new signing key at `now` whatever the schedule says (an operator suspecting a
    /// leak; the tests). Returns its key id.
    pub fn rotate(&self, now_millis: i64) -> Result<String, KeyError> {
        self.rotate_algorithm(ID_TOKEN_ALGORITHM, now_millis)
    }

    /// [`SigningKeys::rotate`] for the keys of `algorithm`.
    pub fn rotate_algorithm(
        &self,
        algorithm: SigningAlgorithm,
        now_millis: i64,
    ) -> Result<String, KeyError> {
        Ok(self.rotate_if(algorithm, now_millis, |_| true)?.key_id)
    }

    /// Under the rotation lock: when `needed` says so of the newest key, makes a new one; prunes
    /// keys no longer published; flushes. Returns the newest key.
    fn rotate_if(
        &self,
        algorithm: SigningAlgorithm,
        now_millis: i64,
        needed: impl FnOnce(Option<&StoredKey>) -> bool,
    ) -> Result<StoredKey, KeyError> {
        let _one_rotation = self
            .rotating
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut keys = self.stored(algorithm)?;
        if let Some(newest) = keys.last()
            && !needed(Some(newest))
        {
            return Ok(newest.clone());
        }
        let random = SystemRandom::new();
        let private_der = generate_private_key(algorithm, &random)?;
        let mut key_id_bytes = [0u8; KEY_ID_BYTES];
        ring::rand::SecureRandom::fill(&random, &mut key_id_bytes)
            .map_err(|error| KeyError::Crypto(error.to_string()))?;
        // A later key must sort after every earlier one even if the clock stepped back.
        let created_at_millis = keys.last().map_or(now_millis, |newest| {
            now_millis.max(newest.created_at_millis + 1)
        });
        let new_key = StoredKey {
            key_id: URL_SAFE_NO_PAD.encode(key_id_bytes),
            created_at_millis,
            algorithm,
            private_der_hex: hex::encode(private_der),
        };
        let encoded =
            serde_json::to_vec(&new_key).map_err(|error| KeyError::Corrupt(error.to_string()))?;
        let mut batch = sled::Batch::default();
        batch.insert(tree_key(&new_key), encoded);
        keys.push(new_key.clone());
        for expired in expired_keys(&keys, now_millis) {
            batch.remove(tree_key(expired));
        }
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(new_key)
    }

    /// The public keys a service verifies ID tokens with at `now`: the signing key and the
    /// retired keys still inside their grace period.
    /// Keys of both algorithms are published, ES256 first, so that a service verifying either
    /// kind of token needs one set.
    ///
    /// An algorithm whose newest key is older than the rotation interval and the grace period
    /// together signs nothing any more: a key signs only while younger than the interval (the next
    /// signature makes a new one), and what it signed expired long before the grace period ends.
    /// Its keys are no longer published, so a node that stopped signing ES256 (ID tokens moved to
    /// RS256) stops vouching for that key instead of trusting it forever.
    pub fn published(&self, now_millis: i64) -> Result<JwkSet, KeyError> {
        let mut published = Vec::new();
        let unused_after = millis(self.rotation_interval) + millis(RETIRED_KEY_PUBLISHED);
        for algorithm in [SigningAlgorithm::ES256, SigningAlgorithm::RS256] {
            let keys = self.stored(algorithm)?;
            if keys.last().is_some_and(|newest| {
                now_millis.saturating_sub(newest.created_at_millis) > unused_after
            }) {
                continue;
            }
            let expired: Vec<&str> = expired_keys(&keys, now_millis)
                .into_iter()
                .map(|key| key.key_id.as_str())
                .collect();
            for key in keys.iter().rev() {
                if expired.contains(&key.key_id.as_str()) {
                    continue;
                }
                published.push(public_jwk(key)?);
            }
        }
        Ok(JwkSet { keys: published })
    }
}

/// A new private key of `algorithm`, DER-encoded (PKCS#8 for ES256, PKCS#1 for RS256).
fn generate_private_key(
    algorithm: SigningAlgorithm,
    random: &SystemRandom,
) -> Result<Vec<u8>, KeyError> {
    match algorithm {
        SigningAlgorithm::ES256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, random)
                .map_err(|error| KeyError::Crypto(error.to_string()))?;
            Ok(pkcs8.as_ref().to_vec())
        }
        SigningAlgorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            // Key generation only: see the module documentation.
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_MODULUS_BITS)
                .map_err(|error| KeyError::Crypto(error.to_string()))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|error| KeyError::Crypto(error.to_string()))?;
            // ring must accept what it will sign with; checked once, here, not at first use.
            RsaKeyPair::from_der(der.as_bytes())
                .map_err(|error| KeyError::Crypto(error.to_string()))?;
            Ok(der.as_bytes().to_vec())
        }
    }
}

/// The keys that are no longer published at `now`: those replaced by a newer key more than
/// [`RETIRED_KEY_PUBLISHED`] ago, and the oldest beyond [`MAX_SIGNING_KEYS`]. `keys` are oldest
/// first.
fn expired_keys(keys: &[StoredKey], now_millis: i64) -> Vec<&StoredKey> {
    let over_limit = keys.len().saturating_sub(MAX_SIGNING_KEYS);
    keys.iter()
        .enumerate()
        .filter(|(index, _)| {
            let replaced_at = keys.get(index + 1).map(|newer| newer.created_at_millis);
            *index < over_limit
                || replaced_at.is_some_and(|replaced_at| {
                    now_millis.saturating_sub(replaced_at) > millis(RETIRED_KEY_PUBLISHED)
                })
        })
        .map(|(_, key)| key)
        .collect()
}

fn public_jwk(key: &StoredKey) -> Result<Jwk, KeyError> {
    let der =
        hex::decode(&key.private_der_hex).map_err(|error| KeyError::Corrupt(error.to_string()))?;
    if key.algorithm == SigningAlgorithm::RS256 {
        let pair =
            RsaKeyPair::from_der(&der).map_err(|error| KeyError::Corrupt(error.to_string()))?;
        let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        return Ok(Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                key_id: Some(key.key_id.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(&components.n),
                e: URL_SAFE_NO_PAD.encode(&components.e),
            }),
        });
    }
    let pkcs8 = der;
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &pkcs8,
        &SystemRandom::new(),
    )
    .map_err(|error| KeyError::Corrupt(error.to_string()))?;
    let point = pair.public_key().as_ref();
    if point.len() != UNCOMPRESSED_POINT_BYTES || point[0] != 0x04 {
        return Err(KeyError::Corrupt(
            "the public key is not an uncompressed P-256 point".into(),
        ));
    }
    Ok(Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::ES256),
            key_id: Some(key.key_id.clone()),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
            key_type: EllipticCurveKeyType::EC,
            curve: EllipticCurve::P256,
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
        }),
    })
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};

    use super::*;

    const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

    fn keys(dir: &tempfile::TempDir) -> SigningKeys {
        let db = sled::open(dir.path()).expect("sled");
        SigningKeys::new(
            db.open_tree("oidc_signing_keys").expect("tree"),
            Duration::from_secs(30 * 24 * 60 * 60),
        )
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    fn sign(keys: &SigningKeys, now: i64) -> (String, String) {
        let key = keys.signing_key(now).expect("signing key");
        let mut header = Header::new(key.algorithm.jwt_algorithm());
        header.kid = Some(key.key_id.clone());
        let claims = Claims {
            sub: "x".into(),
            exp: i64::MAX / 2,
        };
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding_key).expect("signs");
        (token, key.key_id)
    }

    fn es256_key_id(keys: &SigningKeys, now: i64) -> String {
        keys.signing_key_for(SigningAlgorithm::ES256, now)
            .expect("an ES256 key")
            .key_id
    }

    /// Verifies `token` against the key of its `kid` in `published`, as a service would.
    fn verifies(token: &str, published: &JwkSet) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        let Some(jwk) = header.kid.and_then(|kid| published.find(&kid).cloned()) else {
            return false;
        };
        let Ok(decoding_key) = DecodingKey::from_jwk(&jwk) else {
            return false;
        };
        let mut validation = Validation::new(ID_TOKEN_ALGORITHM.jwt_algorithm());
        validation.validate_exp = false;
        jsonwebtoken::decode::<Claims>(token, &decoding_key, &validation).is_ok()
    }

    #[test]
    fn oidc_keys_rotate_on_schedule_and_old_tokens_verify_through_the_grace_period() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = keys(&dir);
        let start = 1_800_000_000_000;
        let (first_token, first_kid) = sign(&keys, start);
        let (_, same_kid) = sign(&keys, start + 29 * DAY_MILLIS);
        assert_eq!(first_kid, same_kid, "no rotation inside the interval");

        let rotated_at = start + 30 * DAY_MILLIS;
        let (second_token, second_kid) = sign(&keys, rotated_at);
        assert_ne!(first_kid, second_kid, "a new key after the interval");
        let published = keys.published(rotated_at).expect("jwks");
        assert_eq!(published.keys.len(), 2);
        assert!(verifies(&first_token, &published), "old tokens verify");
        assert!(verifies(&second_token, &published));
        let header = jsonwebtoken::decode_header(&second_token).expect("header");
        assert_eq!(header.kid.as_deref(), Some(second_kid.as_str()));

        let after_grace = rotated_at + millis(RETIRED_KEY_PUBLISHED) + 1;
        let published = keys.published(after_grace).expect("jwks");
        assert_eq!(published.keys.len(), 1, "the retired key is withdrawn");
        assert!(!verifies(&first_token, &published));
        assert!(verifies(&second_token, &published));
    }

    #[test]
    fn oidc_keys_survive_reopening_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = 1_800_000_000_000;
        let (token, kid) = {
            let keys = keys(&dir);
            sign(&keys, now)
        };
        let keys = keys(&dir);
        let (_, kid_again) = sign(&keys, now + 1000);
        assert_eq!(kid, kid_again);
        assert!(verifies(&token, &keys.published(now).expect("jwks")));
    }

    #[test]
    fn oidc_rs256_keys_sign_verify_through_the_jwks_and_rotate_apart_from_es256() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = keys(&dir);
        let now = 1_800_000_000_000;
        let es_kid = es256_key_id(&keys, now);
        let rsa = keys
            .signing_key_for(SigningAlgorithm::RS256, now)
            .expect("an RSA key");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(rsa.key_id.clone());
        let claims = Claims {
            sub: "x".into(),
            exp: i64::MAX / 2,
        };
        let token = jsonwebtoken::encode(&header, &claims, &rsa.encoding_key).expect("signs");
        let published = keys.published(now).expect("jwks");
        assert_eq!(published.keys.len(), 2, "one key of each algorithm");
        let jwk = published.find(&rsa.key_id).expect("published").clone();
        let json = serde_json::to_value(&jwk).expect("serialises");
        assert_eq!(json["kty"], "RSA");
        assert_eq!(json["alg"], "RS256");
        assert_eq!(json["use"], "sig");
        assert_eq!(json["e"], "AQAB");
        let modulus = URL_SAFE_NO_PAD
            .decode(json["n"].as_str().expect("n"))
            .expect("base64url");
        assert_eq!(modulus.len() * 8, RSA_MODULUS_BITS);
        let decoding_key = DecodingKey::from_jwk(&jwk).expect("key");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        jsonwebtoken::decode::<Claims>(&token, &decoding_key, &validation).expect("verifies");

        // Rotating the RSA keys leaves the ES256 key signing, and the reverse.
        let new_rsa = keys
            .rotate_algorithm(SigningAlgorithm::RS256, now)
            .expect("rotates");
        assert_ne!(new_rsa, rsa.key_id);
        assert_eq!(es_kid, es256_key_id(&keys, now));
        assert_eq!(keys.published(now).expect("jwks").keys.len(), 3);
    }

    #[test]
    fn oidc_an_algorithm_no_longer_signing_drops_out_of_the_jwks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = keys(&dir);
        let start = 1_800_000_000_000;
        let es_kid = es256_key_id(&keys, start);
        // 30 days of rotation and 7 of grace: still published on day 37, gone after it.
        let day_37 = start + 37 * DAY_MILLIS;
        assert!(
            keys.published(day_37)
                .expect("jwks")
                .find(&es_kid)
                .is_some()
        );
        let day_38 = start + 38 * DAY_MILLIS;
        assert!(
            keys.published(day_38)
                .expect("jwks")
                .find(&es_kid)
                .is_none()
        );
    }

    #[test]
    fn oidc_forced_rotation_makes_a_new_key_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = keys(&dir);
        let now = 1_800_000_000_000;
        let (_, first) = sign(&keys, now);
        let forced = keys.rotate(now).expect("rotates");
        assert_ne!(first, forced);
        let (_, signing) = sign(&keys, now);
        assert_eq!(
            signing, forced,
            "the newest key signs, even at the same millisecond"
        );
    }
}
