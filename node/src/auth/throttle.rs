//! Login throttling per account, with delays that grow with each failure.
//!
//! A whole class logs in from one NAT'd address, so throttling by IP address would let one pupil's
//! typos (or one prankster) stop thirty; throttling is therefore per account only. It never locks an
//! account out: after [`ThrottleConfig::free_failures`] failures every further attempt waits a delay
//! that doubles with each failure, measured from the last failure and capped at
//! [`ThrottleConfig::max_delay`]. The worst an attacker can do to a pupil is make them wait that
//! long, and the most guesses an attacker gets is one per `max_delay` per account.
//!
//! The table lives in memory only: a restart forgets it. That is accepted, since a restart is rare,
//! slow and visible, and persisting every failure would turn a password guess into a disk write.
//! The table is bounded by [`ThrottleConfig::max_tracked_accounts`], evicting the account whose last
//! failure is oldest; filling it takes that many failed logins, each paying for a full argon2 hash,
//! so eviction buys an attacker nothing they would not get from waiting out the delay.
//!
//! Unknown usernames are throttled exactly like real ones: otherwise the first 429 would reveal that
//! an account exists.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Failures that cost nothing: a typo or two at the bell should not make a pupil wait.
pub const DEFAULT_FREE_FAILURES: u32 = 3;

/// The delay after the first failure beyond the free ones; each further failure doubles it.
pub const DEFAULT_FIRST_DELAY: Duration = Duration::from_secs(1);

/// The longest delay: the cap that makes throttling a slowdown and never a lock-out.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);

/// How many accounts the table tracks at most. An entry is a username and a few counters (well under
/// 200 bytes), so the table stays below about 20 MB even when full.
pub const DEFAULT_MAX_TRACKED_ACCOUNTS: usize = 100_000;

/// After this long without a failure an account's failures are forgotten, so yesterday's typos do not
/// delay today's login. It buys an attacker nothing: waiting this long between bursts of free
/// attempts gives fewer guesses than one guess per [`DEFAULT_MAX_DELAY`].
pub const DEFAULT_FAILURE_MEMORY: Duration = Duration::from_secs(60 * 60);

/// What a client is told to wait when another attempt on the same account is still being checked.
/// Attempts on one account are checked one at a time once delays apply, so that parallel requests
/// cannot guess many passwords inside one delay.
pub const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The throttle's bounds and delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures before delays begin.
    pub free_failures: u32,
    /// The delay after `free_failures` failures; it doubles per further failure.
    pub first_delay: Duration,
    /// The cap on the delay.
    pub max_delay: Duration,
    /// The most accounts tracked at once; the one with the oldest failure is evicted beyond it.
    pub max_tracked_accounts: usize,
    /// Failures older than this (counted from the last one) are forgotten.
    pub failure_memory: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: DEFAULT_FREE_FAILURES,
            first_delay: DEFAULT_FIRST_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_tracked_accounts: DEFAULT_MAX_TRACKED_ACCOUNTS,
            failure_memory: DEFAULT_FAILURE_MEMORY,
        }
    }
}

impl ThrottleConfig {
    /// How long after its last failure an account with `failures` consecutive failures must wait
    /// before the next attempt: nothing up to `free_failures - 1`, then `first_delay`, doubling per
    /// failure, capped at `max_delay`.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let doublings = failures - self.free_failures;
        // 2^31 seconds is beyond any sensible cap, so larger exponents just take the cap.
        let factor = 1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// One tracked account.
#[derive(Debug, Clone)]
struct AccountFailures {
    /// Consecutive failures since the last success (or since they were forgotten).
    failures: u32,
    /// When the last failure happened, or when tracking began if none has yet.
    last_activity: Instant,
    /// Tie-breaker in the age index, so that two entries with the same instant stay distinct.
    sequence: u64,
    /// Attempts on this account whose password check has not finished.
    in_flight: u32,
}

/// The table behind the mutex: entries by key and the same keys ordered by last activity, which is
/// what makes eviction of the oldest and forgetting of stale entries cheap.
#[derive(Debug, Default)]
struct ThrottleTable {
    accounts: HashMap<String, AccountFailures>,
    by_age: BTreeMap<(Instant, u64), String>,
    next_sequence: u64,
}

impl ThrottleTable {
    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.accounts.remove(key) {
            self.by_age.remove(&(entry.last_activity, entry.sequence));
        }
    }

    /// Moves `key` to `now` in the age index.
    fn touch(&mut self, key: &str, now: Instant) {
        let sequence = self.next_sequence;
        let Some(entry) = self.accounts.get_mut(key) else {
            return;
        };
        self.next_sequence += 1;
        self.by_age.remove(&(entry.last_activity, entry.sequence));
        entry.last_activity = now;
        entry.sequence = sequence;
        self.by_age.insert((now, sequence), key.to_owned());
    }

    /// Inserts a fresh entry, evicting the oldest ones while the table is full.
    fn insert(&mut self, key: &str, entry_failures: u32, in_flight: u32, now: Instant, cap: usize) {
        while self.accounts.len() >= cap.max(1) {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.accounts.remove(&oldest);
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.accounts.insert(
            key.to_owned(),
            AccountFailures {
                failures: entry_failures,
                last_activity: now,
                sequence,
                in_flight,
            },
        );
        self.by_age.insert((now, sequence), key.to_owned());
    }

    /// Drops entries whose last activity is older than `memory`, oldest first, stopping at the first
    /// one that is recent or still has an attempt in flight.
    fn forget_stale(&mut self, now: Instant, memory: Duration) {
        while let Some(entry) = self.by_age.first_entry() {
            let (last_activity, _) = *entry.key();
            if now.saturating_duration_since(last_activity) < memory {
                break;
            }
            let key = entry.get().clone();
            if self
                .accounts
                .get(&key)
                .is_some_and(|account| account.in_flight > 0)
            {
                break;
            }
            entry.remove();
            self.accounts.remove(&key);
        }
    }
}

/// Why an attempt may not proceed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long the client should wait before trying again.
    pub retry_after: Duration,
}

impl Throttled {
    /// `retry_after` in whole seconds, rounded up and at least one, for the `Retry-After` header.
    pub fn retry_after_seconds(&self) -> u64 {
        whole_seconds_rounded_up(self.retry_after)
    }
}

/// `duration` in whole seconds, rounded up and at least one: what a `Retry-After` header can say
/// without telling a client to retry before the wait is over.
pub fn whole_seconds_rounded_up(duration: Duration) -> u64 {
    let whole = duration.as_secs();
    let rounded = if duration.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    };
    rounded.max(1)
}

/// The per-account login throttle. See the module documentation.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    table: Mutex<ThrottleTable>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            table: Mutex::new(ThrottleTable::default()),
        }
    }

    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// The table, even if a thread panicked while holding it: every update leaves it consistent
    /// enough to go on, and a throttle that stopped working would be worse.
    fn table(&self) -> MutexGuard<'_, ThrottleTable> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks to check a password for the account `key` at `now`. On success the attempt is counted as
    /// in flight until the returned guard records its outcome (or is dropped).
    ///
    /// Below the free failures, at most as many attempts as free failures remain may be in flight at
    /// once; after them, one at a time and only once the delay since the last failure has passed.
    pub fn begin_attempt(&self, key: &str, now: Instant) -> Result<LoginAttempt<'_>, Throttled> {
        let mut table = self.table();
        table.forget_stale(now, self.config.failure_memory);
        match table.accounts.get_mut(key) {
            None => {
                table.insert(key, 0, 1, now, self.config.max_tracked_accounts);
            }
            Some(entry) => {
                if entry.in_flight == 0
                    && now.saturating_duration_since(entry.last_activity)
                        >= self.config.failure_memory
                {
                    entry.failures = 0;
                }
                if entry.failures >= self.config.free_failures {
                    let ready_at = entry.last_activity + self.config.delay_after(entry.failures);
                    let wait = ready_at.saturating_duration_since(now);
                    if !wait.is_zero() {
                        return Err(Throttled { retry_after: wait });
                    }
                    if entry.in_flight > 0 {
                        return Err(Throttled {
                            retry_after: IN_FLIGHT_RETRY_AFTER,
                        });
                    }
                } else if entry.failures.saturating_add(entry.in_flight)
                    >= self.config.free_failures
                {
                    return Err(Throttled {
                        retry_after: IN_FLIGHT_RETRY_AFTER,
                    });
                }
                entry.in_flight += 1;
            }
        }
        Ok(LoginAttempt {
            throttle: self,
            key: key.to_owned(),
            finished: false,
        })
    }

    /// How many accounts are tracked now.
    pub fn tracked_accounts(&self) -> usize {
        self.table().accounts.len()
    }

    /// The consecutive failures recorded for `key` (zero when untracked).
    pub fn failures(&self, key: &str) -> u32 {
        self.table()
            .accounts
            .get(key)
            .map_or(0, |entry| entry.failures)
    }

    fn record_failure(&self, key: &str, now: Instant) {
        let mut table = self.table();
        match table.accounts.get_mut(key) {
            Some(entry) => {
                entry.in_flight = entry.in_flight.saturating_sub(1);
                entry.failures = entry.failures.saturating_add(1);
                table.touch(key, now);
            }
            // The entry was evicted while the password was being checked: start again from this
            // failure rather than lose it.
            None => table.insert(key, 1, 0, now, self.config.max_tracked_accounts),
        }
    }

    fn record_success(&self, key: &str) {
        self.table().remove(key);
    }

    fn release(&self, key: &str) {
        let mut table = self.table();
        let Some(entry) = table.accounts.get_mut(key) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if entry.in_flight == 0 && entry.failures == 0 {
            table.remove(key);
        }
    }
}

/// An attempt admitted by [`LoginThrottle::begin_attempt`]. Record its outcome with
/// [`Self::failed`] or [`Self::succeeded`]; dropping it without either (the request was cancelled)
/// only ends the attempt, counting neither.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    throttle: &'a LoginThrottle,
    key: String,
    finished: bool,
}

impl LoginAttempt<'_> {
    /// The password was wrong (or the account unusable): one more failure, at `now`.
    pub fn failed(mut self, now: Instant) {
        self.finished = true;
        self.throttle.record_failure(&self.key, now);
    }

    /// The password was right: the account's failures are forgotten.
    pub fn succeeded(mut self) {
        self.finished = true;
        self.throttle.record_success(&self.key);
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.throttle.release(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(value: u64) -> Duration {
        Duration::from_secs(value)
    }

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        let config = ThrottleConfig::default();
        let delays: Vec<u64> = (0..=12).map(|f| config.delay_after(f).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    }

    #[test]
    fn huge_failure_counts_saturate_at_the_cap() {
        let config = ThrottleConfig::default();
        for failures in [40, 64, 1_000, u32::MAX - 1, u32::MAX] {
            assert_eq!(config.delay_after(failures), DEFAULT_MAX_DELAY);
        }
        let no_free = ThrottleConfig {
            free_failures: 0,
            ..ThrottleConfig::default()
        };
        assert_eq!(no_free.delay_after(0), DEFAULT_FIRST_DELAY);
        assert_eq!(no_free.delay_after(u32::MAX), DEFAULT_MAX_DELAY);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let in_millis = |millis| Throttled {
            retry_after: Duration::from_millis(millis),
        };
        assert_eq!(in_millis(1).retry_after_seconds(), 1);
        assert_eq!(in_millis(1_000).retry_after_seconds(), 1);
        assert_eq!(in_millis(1_001).retry_after_seconds(), 2);
        assert_eq!(in_millis(0).retry_after_seconds(), 1);
    }

    #[test]
    fn attempts_wait_for_the_delay_measured_from_the_last_failure() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let start = Instant::now();
        for failure in 0..3 {
            let attempt = throttle
                .begin_attempt("aino", start)
                .unwrap_or_else(|_| panic!("free failure {failure} is allowed"));
            attempt.failed(start);
        }
        assert_eq!(throttle.failures("aino"), 3);
        let refused = throttle
            .begin_attempt("aino", start + Duration::from_millis(400))
            .expect_err("the fourth attempt waits");
        assert_eq!(refused.retry_after, Duration::from_millis(600));

        // After one second the next attempt runs; its failure doubles the delay.
        let later = start + seconds(1);
        throttle
            .begin_attempt("aino", later)
            .expect("the delay has passed")
            .failed(later);
        assert!(throttle.begin_attempt("aino", later + seconds(1)).is_err());
        assert!(throttle.begin_attempt("aino", later + seconds(2)).is_ok());
    }

    #[test]
    fn success_resets_and_other_accounts_are_unaffected() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let now = Instant::now();
        for _ in 0..5 {
            if let Ok(attempt) = throttle.begin_attempt("aino", now) {
                attempt.failed(now);
            }
        }
        assert!(throttle.begin_attempt("aino", now).is_err());
        // Another pupil behind the same address logs in at once.
        throttle
            .begin_attempt("eetu", now)
            .expect("another account is free")
            .succeeded();
        let later = now + DEFAULT_MAX_DELAY;
        throttle
            .begin_attempt("aino", later)
            .expect("the capped delay has passed")
            .succeeded();
        assert_eq!(throttle.failures("aino"), 0);
        assert_eq!(throttle.tracked_accounts(), 0);
    }

    #[test]
    fn never_locks_out_however_many_failures() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let mut now = Instant::now();
        for _ in 0..200 {
            let attempt = throttle
                .begin_attempt("target", now)
                .expect("the capped delay has passed");
            attempt.failed(now);
            now += DEFAULT_MAX_DELAY;
        }
        assert_eq!(throttle.failures("target"), 200);
    }

    #[test]
    fn parallel_attempts_cannot_share_one_delay() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let now = Instant::now();
        // Below the free failures, only as many attempts as remain free may be in flight.
        let first = throttle.begin_attempt("aino", now).expect("free");
        let second = throttle.begin_attempt("aino", now).expect("free");
        let third = throttle.begin_attempt("aino", now).expect("free");
        let refused = throttle
            .begin_attempt("aino", now)
            .expect_err("no free failure remains");
        assert_eq!(refused.retry_after, IN_FLIGHT_RETRY_AFTER);
        first.failed(now);
        second.failed(now);
        third.failed(now);

        // In the delay phase, one at a time: a second request while the first is checked waits.
        let later = now + seconds(1);
        let checking = throttle.begin_attempt("aino", later).expect("delay passed");
        assert_eq!(
            throttle.begin_attempt("aino", later).err(),
            Some(Throttled {
                retry_after: IN_FLIGHT_RETRY_AFTER
            })
        );
        // A cancelled attempt counts neither way and frees the account for the next one.
        drop(checking);
        assert_eq!(throttle.failures("aino"), 3);
        assert!(throttle.begin_attempt("aino", later).is_ok());
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_oldest_failure() {
        let config = ThrottleConfig {
            max_tracked_accounts: 3,
            ..ThrottleConfig::default()
        };
        let throttle = LoginThrottle::new(config);
        let start = Instant::now();
        for (index, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let at = start + seconds(u64::try_from(index).expect("small"));
            throttle.begin_attempt(name, at).expect("free").failed(at);
        }
        assert_eq!(throttle.tracked_accounts(), 3);
        assert_eq!(throttle.failures("a"), 0, "the oldest was evicted");
        assert_eq!(throttle.failures("d"), 1);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_period() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let start = Instant::now();
        for _ in 0..5 {
            let at = start + DEFAULT_MAX_DELAY;
            if let Ok(attempt) = throttle.begin_attempt("aino", at) {
                attempt.failed(at);
            }
        }
        let next_day = start + DEFAULT_FAILURE_MEMORY + DEFAULT_MAX_DELAY;
        let attempt = throttle
            .begin_attempt("aino", next_day)
            .expect("yesterday's failures are forgotten");
        attempt.failed(next_day);
        assert_eq!(throttle.failures("aino"), 1);
        // Stale entries of other accounts are dropped as time passes, too.
        throttle
            .begin_attempt("eetu", next_day)
            .expect("free")
            .failed(next_day);
        let much_later = next_day + DEFAULT_FAILURE_MEMORY;
        throttle
            .begin_attempt("someone", much_later)
            .expect("free")
            .succeeded();
        assert_eq!(throttle.tracked_accounts(), 0);
    }
}
