//! Password hashing with argon2id, and the bounded pool of workers that runs it.
//!
//! One hash costs tens of milliseconds of CPU and [`ARGON2_MEMORY_KIB`] of memory. Running it on an
//! async worker would stall every other request served by that worker, and running an unbounded
//! number at once would let a burst of logins (thirty pupils at the bell, or an attacker) exhaust
//! memory. [`PasswordWorkers`] therefore runs hashes on tokio's blocking pool behind a semaphore.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::TryRngCore;
use rand::rngs::OsRng;
use tokio::sync::Semaphore;

/// Argon2id memory cost in KiB: 19 MiB, the OWASP Password Storage Cheat Sheet's minimum for
/// argon2id with two iterations. Each concurrent hash holds this much memory while it runs.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;

/// Argon2id iterations (time cost), paired with [`ARGON2_MEMORY_KIB`] as OWASP recommends.
pub const ARGON2_ITERATIONS: u32 = 2;

/// Argon2id lanes. One lane keeps one hash on one core, so the worker count alone decides how many
/// cores hashing may occupy.
pub const ARGON2_PARALLELISM: u32 = 1;

/// Bytes of random salt per hash; 16 bytes is the length the PHC string format recommends.
pub const SALT_BYTES: usize = 16;

/// The shortest password that may be set. Verification does not apply it, so that an older, shorter
/// password still works until it is changed.
pub const MIN_PASSWORD_BYTES: usize = 8;

/// The longest password that may be set or verified. Longer input is refused before any hashing, so
/// that nobody can make the server hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// How many password jobs may wait for a worker, per worker, before further jobs are refused as
/// busy. Waiting jobs hold no argon2 memory, only the request; the bound keeps a flood of logins
/// from queueing without end. At roughly 50 ms a hash, a full queue drains in about 13 s.
pub const QUEUED_JOBS_PER_WORKER: usize = 256;

/// A hash of a password nobody knows, made with the current parameters. When a username does not
/// exist the password is verified against this, so the response takes as long as for a real user and
/// its timing does not reveal which usernames exist. A unit test checks that its parameters are the
/// current ones; regenerate it when they change.
const DUMMY_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$sNwWJUjP4ZTAJXODvPn6bQ$5PViPkBQ91ExtBN6EWeaTVGkE16l+9HxAyC6xpGFRpk";

/// Why a password could not be hashed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_PASSWORD_BYTES} bytes long")]
    TooShort,
    #[error("the password must be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error("argon2 failed: {0}")]
    Hash(String),
    #[error("too many password checks are waiting; try again shortly")]
    Busy,
    #[error("the password worker stopped before finishing")]
    WorkerFailed,
}

/// The argon2id hasher with the node's parameters.
fn argon2_with_policy() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .map_err(|error| PasswordError::Hash(error.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks the length rule for a password that is about to be set.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.len() < MIN_PASSWORD_BYTES {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Hashes a new password with argon2id and a fresh salt from the operating system, giving a PHC
/// string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). Blocks for the whole hash: call it through
/// [`PasswordWorkers::hash`] from async code.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_new_password(password)?;
    let mut salt_bytes = [0u8; SALT_BYTES];
    OsRng
        .try_fill_bytes(&mut salt_bytes)
        .map_err(|error| PasswordError::Random(error.to_string()))?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|error| PasswordError::Hash(error.to_string()))?;
    let hash = argon2_with_policy()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| PasswordError::Hash(error.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc`. The parameters come from the PHC string, so
/// hashes made with older parameters still verify. An overlong password or an unreadable PHC
/// string is a mismatch, the former without hashing. Blocks for the whole hash: call it through
/// [`PasswordWorkers::verify`] from async code.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // Only argon2 hashes are accepted: `Argon2` would refuse anything else anyway, and stating it
    // here keeps a stray legacy format from ever being considered.
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored hash was made with argon2id and parameters at least as strong as the current
/// ones. A hash that is not should be replaced the next time its owner logs in (or sets a
/// password).
pub fn hash_meets_policy(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm.as_str() == Algorithm::Argon2id.as_str()
        && params.m_cost() >= ARGON2_MEMORY_KIB
        && params.t_cost() >= ARGON2_ITERATIONS
        && params.p_cost() >= ARGON2_PARALLELISM
}

/// Runs password hashes on `concurrency` dedicated threads (one per core by default).
///
/// Dedicated threads, not tokio's blocking pool: each argon2 hash allocates 19 MiB, and the C
/// allocator keeps freed memory per thread. Spread over the blocking pool's many threads, a bell's
/// worth of logins left hundreds of megabytes resident for good; on a fixed set of threads the
/// memory is `concurrency × 19 MiB`, reused. The async workers stay free to serve everything else
/// (a hash never runs on them). Jobs beyond the running ones wait in a queue bounded by
/// [`QUEUED_JOBS_PER_WORKER`]; past that they fail at once with [`PasswordError::Busy`].
#[derive(Debug, Clone)]
pub struct PasswordWorkers {
    jobs: std::sync::mpsc::SyncSender<PasswordJob>,
    /// Permits to be queued or running: bounds the waiting line.
    admitted: Arc<Semaphore>,
    concurrency: usize,
    /// Hashes and verifications handed to the workers since start: what a throttled or refused
    /// login must not add to (the tests check that), and a figure for operators.
    jobs_started: Arc<AtomicU64>,
}

/// A hash to run on a worker thread; it sends its own answer.
type PasswordJob = Box<dyn FnOnce() + Send>;

impl PasswordWorkers {
    /// Workers for `concurrency` simultaneous hashes (at least one).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        let admitted = concurrency.saturating_mul(QUEUED_JOBS_PER_WORKER + 1);
        let (jobs, queue) = std::sync::mpsc::sync_channel::<PasswordJob>(admitted);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for number in 0..concurrency {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("password-{number}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking the next job, never while hashing.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Every sender is gone: the workers are no longer needed.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password worker thread");
            }
        }
        Self {
            jobs,
            admitted: Arc::new(Semaphore::new(admitted)),
            concurrency,
            jobs_started: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Workers for as many simultaneous hashes as this machine has cores.
    pub fn for_this_machine() -> Self {
        Self::new(available_cores())
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How many hashes and verifications were handed to the workers since start.
    pub fn jobs_started(&self) -> u64 {
        self.jobs_started.load(Ordering::Relaxed)
    }

    /// Hashes a new password (see [`hash_password`]) on a worker.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        // The length rule is checked before queueing, so a refused password costs nothing.
        check_new_password(&password)?;
        self.run(move || hash_password(&password)).await?
    }

    /// Verifies `password` against `phc` on a worker. Without a readable stored hash (the user does
    /// not exist) the password is verified against a dummy hash and the answer is always `false`, so
    /// that both cases take the same time. An overlong password fails at once without a worker.
    pub async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        self.run(move || match phc {
            Some(phc) if PasswordHash::new(&phc).is_ok() => verify_password(&password, &phc),
            // No user, or a stored hash that cannot be read (which can never match): the dummy hash
            // does the same work, and its answer is discarded.
            _ => {
                let _ = verify_password(&password, DUMMY_PASSWORD_HASH);
                false
            }
        })
        .await
    }

    /// Runs `job` on a worker thread once one is free. The admission permit moves into the job, so
    /// that it is released when the hash finishes even if the request that asked for it has gone
    /// away meanwhile: the bound holds under cancellation too.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let admission = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: PasswordJob = Box::new(move || {
            let result = job();
            drop(admission);
            let _ = answer.send(result);
        });
        // The queue holds as many jobs as there are admission permits, so this never blocks.
        self.jobs
            .try_send(job)
            .map_err(|_| PasswordError::WorkerFailed)?;
        self.jobs_started.fetch_add(1, Ordering::Relaxed);
        answered.await.map_err(|_| PasswordError::WorkerFailed)
    }
}

/// The number of cores this process may use, or one when the system cannot tell.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify_round_trips_and_rejects_other_passwords() {
        let hash = hash_password("correct horse battery").expect("hashing works");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        assert!(hash_meets_policy(&hash));
    }

    #[test]
    fn new_password_length_is_bounded_on_both_sides() {
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
        let overlong = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hash_password(&overlong), Err(PasswordError::TooLong));
        assert!(check_new_password(&"a".repeat(MIN_PASSWORD_BYTES)).is_ok());
        assert!(check_new_password(&"a".repeat(MAX_PASSWORD_BYTES)).is_ok());
    }

    #[test]
    fn overlong_and_malformed_input_never_verifies() {
        let overlong = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(!verify_password(&overlong, DUMMY_PASSWORD_HASH));
        assert!(!verify_password("anything at all", "not a phc string"));
        assert!(!verify_password("anything at all", ""));
    }

    #[test]
    fn dummy_hash_uses_the_current_parameters() {
        // A dummy hash with cheaper parameters would make unknown usernames answer faster.
        let parsed = PasswordHash::new(DUMMY_PASSWORD_HASH).expect("the dummy hash parses");
        let params = Params::try_from(&parsed).expect("the dummy hash has argon2 parameters");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(params.m_cost(), ARGON2_MEMORY_KIB);
        assert_eq!(params.t_cost(), ARGON2_ITERATIONS);
        assert_eq!(params.p_cost(), ARGON2_PARALLELISM);
    }

    #[test]
    fn weaker_hashes_do_not_meet_the_policy() {
        let weak_params = Params::new(4096, 1, 1, None).expect("valid parameters");
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, weak_params);
        let salt = SaltString::encode_b64(&[7u8; SALT_BYTES]).expect("valid salt");
        let hash = weak
            .hash_password(b"a weak but valid password", &salt)
            .expect("hashing works")
            .to_string();
        assert!(verify_password("a weak but valid password", &hash));
        assert!(!hash_meets_policy(&hash));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_hash_and_verify_off_the_async_threads() {
        let workers = PasswordWorkers::new(2);
        let hash = workers
            .hash("a password for the pool".to_owned())
            .await
            .expect("hashing works");
        assert_eq!(
            workers
                .verify("a password for the pool".to_owned(), Some(hash.clone()))
                .await,
            Ok(true)
        );
        assert_eq!(
            workers
                .verify("a wrong password".to_owned(), Some(hash))
                .await,
            Ok(false)
        );
        // An unknown user never verifies, whatever the password.
        assert_eq!(
            workers
                .verify("a password for the pool".to_owned(), None)
                .await,
            Ok(false)
        );
        // Nor does a stored hash that cannot be read; it costs the dummy hash's work instead.
        assert_eq!(
            workers
                .verify(
                    "a password for the pool".to_owned(),
                    Some("garbage".to_owned())
                )
                .await,
            Ok(false)
        );
        assert_eq!(
            workers.hash("short".to_owned()).await,
            Err(PasswordError::TooShort)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_further_jobs_as_busy() {
        let workers = PasswordWorkers::new(1);
        // Take every admission permit, as a flood of queued logins would.
        let held = Arc::clone(&workers.admitted)
            .try_acquire_many_owned(u32::try_from(QUEUED_JOBS_PER_WORKER + 1).expect("small"))
            .expect("permits are free");
        assert_eq!(
            workers.verify("whatever password".to_owned(), None).await,
            Err(PasswordError::Busy)
        );
        drop(held);
        assert_eq!(
            workers.verify("whatever password".to_owned(), None).await,
            Ok(false)
        );
    }
}
