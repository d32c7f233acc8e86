//! Login throttling: delays that grow with each failure, kept per account **and client**, with an
//! account-wide guard that no crowd of clients can turn into a lock-out.
//!
//! # Why not per account alone, or per address alone
//!
//! Kept per account alone (as this module once was), one wrong password a second from anyone keeps
//! the account in its longest back-off for good: the owner's correct password is refused along with
//! the attacker's guesses, so any pupil can lock a classmate out. Kept per address alone, one pupil's
//! typos (or one prankster) behind the school's NAT would stop the whole class. So an attempt is
//! judged in its **lane**: the pair (account, client), where the client is
//!
//! - a **device** that proved an earlier successful login to this account (a signed device cookie,
//!   see [`super::device`]): the browser the account's owner normally uses;
//! - otherwise the **network address** the connection came from (an IPv4 address, or the /64 prefix
//!   of an IPv6 address, since one IPv6 host may use any address of its /64). It is the TCP peer the
//!   listener saw, never `X-Forwarded-For`: the node serves browsers directly, and a header is
//!   whatever the sender writes.
//!
//! Each lane has the familiar rules: [`ThrottleConfig::free_failures`] free failures, then a delay
//! that doubles with each failure, measured from the lane's last failure and capped at
//! [`ThrottleConfig::max_delay`]; once delays apply, one attempt at a time. An attacker's failures
//! therefore slow the attacker's lane, not the owner's.
//!
//! # The account-wide guard
//!
//! Lanes alone would give an attacker with many addresses a few free guesses per address. So every
//! failure also counts toward its account across all lanes, and after
//! [`ThrottleConfig::account_guard_failures`] of them (without a success between) the account is
//! **guarded**: address lanes lose their free failures (each failure delays that lane from the
//! first), and clients without failures of their own on the account are admitted at most one per
//! [`ThrottleConfig::guarded_attempt_interval`]. The guard only ever caps the attempts of clients
//! that have not failed (at a rate far above what a person types) and never adds a delay to a
//! client's own lane; in particular it is never a back-off that an attacker's failures keep
//! renewing. A device lane is not guarded at all: it vouches for an earlier successful login.
//!
//! # The school's shared address
//!
//! - Thirty pupils logging in at the bell from the school's one NAT address are thirty accounts,
//!   thirty lanes: one pupil's failures on their own account touch only that account's lanes.
//! - A pupil hammering a classmate's account from the same address shares that address lane with
//!   the classmate, and the two cannot be told apart by anything a request carries but a device
//!   cookie. So the classmate's browser that has logged in before (their own laptop, or a classroom
//!   computer they used) carries a device cookie and gets its own lane, unaffected by the attack.
//!   (An attacker at a browser the owner once used on a shared computer shares that browser's lane;
//!   the owner's other browsers are unaffected.)
//!   A browser that never logged in to the account meets the attacker's lane: the worst then is
//!   [`ThrottleConfig::max_delay`] between attempts, while the attack lasts, and the owner gets in
//!   from their usual browser, from another network, or through the upstream login (MPASSid).
//!   Nothing else could separate them without letting the attacker's guesses through as well.
//!
//! # Bounds and memory
//!
//! Both tables live in memory only: a restart forgets them. That is accepted, since a restart is
//! rare, slow and visible, and persisting every failure would turn a password guess into a disk
//! write. Keys are SHA-256 of the account key, so every entry has the same small size (about 200
//! bytes with its age index). The lane table holds at most [`ThrottleConfig::max_tracked_lanes`]
//! entries and the account table at most [`ThrottleConfig::max_tracked_accounts`], each evicting the
//! entry whose last activity is oldest; filling either takes that many failed logins, each paying
//! for a full argon2 hash. Entries are forgotten after [`ThrottleConfig::failure_memory`] without a
//! failure.
//!
//! Unknown usernames are throttled exactly like real ones: otherwise the first 429 would reveal that
//! an account exists.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Failures that cost nothing in a lane: a typo or two at the bell should not make a pupil wait.
pub const DEFAULT_FREE_FAILURES: u32 = 3;

/// The delay after the first failure beyond the free ones; each further failure doubles it.
pub const DEFAULT_FIRST_DELAY: Duration = Duration::from_secs(1);

/// The longest delay: the cap that makes throttling a slowdown and never a lock-out.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);

/// How many accounts the account-wide table tracks at most. An entry is a 32-byte key and a few
/// counters (about 150 bytes with its age index), so the table stays below about 8 MB when full.
pub const DEFAULT_MAX_TRACKED_ACCOUNTS: usize = 50_000;

/// How many lanes (account, client) the lane table tracks at most. An entry is about 200 bytes with
/// its age index, so the table stays below about 20 MB when full.
pub const DEFAULT_MAX_TRACKED_LANES: usize = 100_000;

/// After this long without a failure a lane's or an account's failures are forgotten, so
/// yesterday's typos do not delay today's login. It buys an attacker nothing: waiting this long
/// between bursts of free attempts gives fewer guesses than one guess per [`DEFAULT_MAX_DELAY`].
pub const DEFAULT_FAILURE_MEMORY: Duration = Duration::from_secs(60 * 60);

/// Failures of one account across all its lanes after which the account is guarded. Generous: a
/// person mistyping on a few devices never comes near it, while an attacker spreading guesses over
/// many addresses reaches it within a few addresses.
pub const DEFAULT_ACCOUNT_GUARD_FAILURES: u32 = 10;

/// While an account is guarded, clients without failures of their own on it are admitted at most
/// once per this interval: the share of the account's password checks reserved for them. Nobody
/// types a password faster, and an attacker who brings a fresh address for every guess still gets
/// no more than one guess per interval.
pub const DEFAULT_GUARDED_ATTEMPT_INTERVAL: Duration = Duration::from_secs(1);

/// What a client is told to wait when another attempt in the same lane is still being checked.
/// Attempts in one lane are checked one at a time once delays apply, so that parallel requests
/// cannot guess many passwords inside one delay.
pub const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The throttle's bounds and delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures in a lane before delays begin.
    pub free_failures: u32,
    /// The delay after `free_failures` failures; it doubles per further failure.
    pub first_delay: Duration,
    /// The cap on the delay.
    pub max_delay: Duration,
    /// The most accounts tracked at once; the one with the oldest activity is evicted beyond it.
    pub max_tracked_accounts: usize,
    /// The most lanes tracked at once; the one with the oldest activity is evicted beyond it.
    pub max_tracked_lanes: usize,
    /// Failures older than this (counted from the last one) are forgotten.
    pub failure_memory: Duration,
    /// Failures of one account across its lanes after which it is guarded.
    pub account_guard_failures: u32,
    /// While guarded, at most one attempt per this interval from clients without failures.
    pub guarded_attempt_interval: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: DEFAULT_FREE_FAILURES,
            first_delay: DEFAULT_FIRST_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_tracked_accounts: DEFAULT_MAX_TRACKED_ACCOUNTS,
            max_tracked_lanes: DEFAULT_MAX_TRACKED_LANES,
            failure_memory: DEFAULT_FAILURE_MEMORY,
            account_guard_failures: DEFAULT_ACCOUNT_GUARD_FAILURES,
            guarded_attempt_interval: DEFAULT_GUARDED_ATTEMPT_INTERVAL,
        }
    }
}

impl ThrottleConfig {
    /// How long after its last failure a lane with `failures` consecutive failures must wait before
    /// the next attempt: nothing up to `free_failures - 1`, then `first_delay`, doubling per
    /// failure, capped at `max_delay`.
    pub fn delay_after(&self, failures: u32) -> Duration {
        self.delay_with_free(failures, self.free_failures)
    }

    fn delay_with_free(&self, failures: u32, free_failures: u32) -> Duration {
        if failures < free_failures {
            return Duration::ZERO;
        }
        let doublings = failures - free_failures;
        // 2^31 seconds is beyond any sensible cap, so larger exponents just take the cap.
        let factor = 1u32.checked_shl(doublings.min(31)).unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Who is trying, as far as the node can tell: the client half of a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginClient {
    /// A browser whose device cookie vouches for an earlier successful login to the account being
    /// tried: the token's id (see [`super::device`]).
    Device([u8; 16]),
    /// The network address of the connection: an IPv4 address (as a mapped IPv6 address), or the
    /// first 64 bits of an IPv6 address.
    Address([u8; 16]),
    /// The connection's address is not known (a server started without connection information,
    /// as some tests do). All such clients share one lane per account.
    Unknown,
}

impl LoginClient {
    /// The client for a connection from `address`.
    pub fn from_address(address: Option<IpAddr>) -> Self {
        match address {
            None => LoginClient::Unknown,
            Some(IpAddr::V4(v4)) => LoginClient::Address(v4.to_ipv6_mapped().octets()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                // A dual-stack listener reports IPv4 clients as mapped addresses: the same client
                // as when it is reported as IPv4.
                Some(v4) => LoginClient::Address(v4.to_ipv6_mapped().octets()),
                None => {
                    let mut prefix = [0u8; 16];
                    prefix[..8].copy_from_slice(&v6.octets()[..8]);
                    LoginClient::Address(prefix)
                }
            },
        }
    }

    fn is_device(&self) -> bool {
        matches!(self, LoginClient::Device(_))
    }
}

/// An account as the tables key it: SHA-256 of its throttle key, so every entry has one size.
type AccountId = [u8; 32];

fn account_id(account: &str) -> AccountId {
    Sha256::digest(account.as_bytes()).into()
}

type LaneId = (AccountId, LoginClient);

/// One lane: an account tried from one client.
#[derive(Debug, Clone, Default)]
struct Lane {
    /// Consecutive failures since the lane's last success (or since they were forgotten).
    failures: u32,
    /// Attempts in this lane whose password check has not finished.
    in_flight: u32,
}

/// One account across all its lanes.
#[derive(Debug, Clone, Default)]
struct Account {
    /// Failures since the account's last success (or since they were forgotten).
    failures: u32,
    /// When the guard last admitted a client without failures.
    last_guarded_admission: Option<Instant>,
}

/// A table whose entries are also ordered by last activity, which makes eviction of the oldest and
/// forgetting of stale entries cheap.
#[derive(Debug)]
struct AgedTable<K, V> {
    entries: HashMap<K, (V, Instant, u64)>,
    by_age: BTreeMap<(Instant, u64), K>,
    next_sequence: u64,
}

impl<K: Clone + Eq + Hash, V> Default for AgedTable<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
            next_sequence: 0,
        }
    }
}

impl<K: Clone + Eq + Hash, V: Default> AgedTable<K, V> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _, _)| value)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(value, _, _)| value)
    }

    fn last_activity(&self, key: &K) -> Option<Instant> {
        self.entries.get(key).map(|(_, at, _)| *at)
    }

    fn remove(&mut self, key: &K) {
        if let Some((_, at, sequence)) = self.entries.remove(key) {
            self.by_age.remove(&(at, sequence));
        }
    }

    /// The entry for `key`, created (evicting the oldest while the table is full) when absent. A
    /// new entry's activity is `now`.
    fn entry(&mut self, key: &K, now: Instant, cap: usize) -> &mut V {
        if !self.entries.contains_key(key) {
            while self.entries.len() >= cap.max(1) {
                let Some((_, oldest)) = self.by_age.pop_first() else {
                    break;
                };
                self.entries.remove(&oldest);
            }
        }
        let by_age = &mut self.by_age;
        let next_sequence = &mut self.next_sequence;
        let (value, _, _) = self.entries.entry(key.clone()).or_insert_with(|| {
            let sequence = *next_sequence;
            *next_sequence += 1;
            by_age.insert((now, sequence), key.clone());
            (V::default(), now, sequence)
        });
        value
    }

    /// Moves `key` to `now` in the age index.
    fn touch(&mut self, key: &K, now: Instant) {
        let sequence = self.next_sequence;
        let Some((_, at, entry_sequence)) = self.entries.get_mut(key) else {
            return;
        };
        self.next_sequence += 1;
        self.by_age.remove(&(*at, *entry_sequence));
        *at = now;
        *entry_sequence = sequence;
        self.by_age.insert((now, sequence), key.clone());
    }

    /// Drops entries whose last activity is older than `memory`, oldest first, stopping at the first
    /// one that is recent or that `busy` says must stay (an attempt still in flight).
    fn forget_stale(&mut self, now: Instant, memory: Duration, busy: impl Fn(&V) -> bool) {
        while let Some(entry) = self.by_age.first_entry() {
            let (last_activity, _) = *entry.key();
            if now.saturating_duration_since(last_activity) < memory {
                break;
            }
            let key = entry.get().clone();
            if self
                .entries
                .get(&key)
                .is_some_and(|(value, _, _)| busy(value))
            {
                break;
            }
            entry.remove();
            self.entries.remove(&key);
        }
    }
}

/// Both tables, behind one mutex: an attempt's decision reads both.
#[derive(Debug, Default)]
struct ThrottleTables {
    lanes: AgedTable<LaneId, Lane>,
    accounts: AgedTable<AccountId, Account>,
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

/// The login throttle. See the module documentation.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    tables: Mutex<ThrottleTables>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            tables: Mutex::new(ThrottleTables::default()),
        }
    }

    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// The tables, even if a thread panicked while holding them: every update leaves them
    /// consistent enough to go on, and a throttle that stopped working would be worse.
    fn tables(&self) -> MutexGuard<'_, ThrottleTables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks to check a password for the account `account` (its throttle key) from `client` at
    /// `now`. On success the attempt is counted as in flight in its lane until the returned guard
    /// records its outcome (or is dropped).
    ///
    /// In a lane below its free failures, at most as many attempts as free failures remain may be
    /// in flight at once; after them, one at a time and only once the delay since the lane's last
    /// failure has passed. A guarded account adds the rules of the module documentation.
    pub fn begin_attempt(
        &self,
        account: &str,
        client: LoginClient,
        now: Instant,
    ) -> Result<LoginAttempt<'_>, Throttled> {
        let config = &self.config;
        let account = account_id(account);
        let lane_id = (account, client);
        let mut tables = self.tables();
        let tables = &mut *tables;
        tables
            .lanes
            .forget_stale(now, config.failure_memory, |lane| lane.in_flight > 0);
        tables
            .accounts
            .forget_stale(now, config.failure_memory, |_| false);
        // `forget_stale` stops at a lane with an attempt in flight; a stale lane behind it is
        // forgotten here when it is tried.
        if tables
            .lanes
            .get(&lane_id)
            .is_some_and(|lane| lane.in_flight == 0)
            && tables
                .lanes
                .last_activity(&lane_id)
                .is_some_and(|at| now.saturating_duration_since(at) >= config.failure_memory)
        {
            tables.lanes.remove(&lane_id);
        }

        let guarded = !client.is_device()
            && tables
                .accounts
                .get(&account)
                .is_some_and(|state| state.failures >= config.account_guard_failures);
        // A guarded account's address lanes have no free failures: each failure delays the lane
        // from the first. Device lanes keep theirs.
        let free_failures = if guarded {
            config.free_failures.min(1)
        } else {
            config.free_failures
        };
        let (failures, in_flight) = tables
            .lanes
            .get(&lane_id)
            .map_or((0, 0), |lane| (lane.failures, lane.in_flight));
        if failures > 0 && failures >= free_failures {
            let last_failure = tables.lanes.last_activity(&lane_id).unwrap_or(now);
            let ready_at = last_failure + config.delay_with_free(failures, free_failures);
            let wait = ready_at.saturating_duration_since(now);
            if !wait.is_zero() {
                return Err(Throttled { retry_after: wait });
            }
            if in_flight > 0 {
                return Err(Throttled {
                    retry_after: IN_FLIGHT_RETRY_AFTER,
                });
            }
        } else if failures.saturating_add(in_flight) >= free_failures.max(1) {
            return Err(Throttled {
                retry_after: IN_FLIGHT_RETRY_AFTER,
            });
        }
        if guarded && failures == 0 {
            // The share reserved for clients without failures: one admission per interval.
            let state = tables
                .accounts
                .entry(&account, now, config.max_tracked_accounts);
            if let Some(last) = state.last_guarded_admission {
                let wait = (last + config.guarded_attempt_interval).saturating_duration_since(now);
                if !wait.is_zero() {
                    return Err(Throttled { retry_after: wait });
                }
            }
            state.last_guarded_admission = Some(now);
        }
        tables
            .lanes
            .entry(&lane_id, now, config.max_tracked_lanes)
            .in_flight += 1;
        Ok(LoginAttempt {
            throttle: self,
            lane: lane_id,
            finished: false,
        })
    }

    /// How many lanes are tracked now.
    pub fn tracked_lanes(&self) -> usize {
        self.tables().lanes.len()
    }

    /// How many accounts are tracked now.
    pub fn tracked_accounts(&self) -> usize {
        self.tables().accounts.len()
    }

    /// The failures recorded for the account `account` across all its lanes since its last success
    /// (zero when untracked).
    pub fn failures(&self, account: &str) -> u32 {
        self.tables()
            .accounts
            .get(&account_id(account))
            .map_or(0, |state| state.failures)
    }

    /// The consecutive failures recorded in the lane of `account` from `client`.
    pub fn lane_failures(&self, account: &str, client: LoginClient) -> u32 {
        self.tables()
            .lanes
            .get(&(account_id(account), client))
            .map_or(0, |lane| lane.failures)
    }

    fn record_failure(&self, lane_id: &LaneId, now: Instant) {
        let config = &self.config;
        let mut tables = self.tables();
        // An entry evicted while the password was being checked starts again from this failure
        // rather than lose it.
        let lane = tables.lanes.entry(lane_id, now, config.max_tracked_lanes);
        lane.in_flight = lane.in_flight.saturating_sub(1);
        lane.failures = lane.failures.saturating_add(1);
        tables.lanes.touch(lane_id, now);
        let state = tables
            .accounts
            .entry(&lane_id.0, now, config.max_tracked_accounts);
        state.failures = state.failures.saturating_add(1);
        tables.accounts.touch(&lane_id.0, now);
    }

    /// A correct password: the lane's failures are forgotten, and so are the account's. Resetting
    /// the account gives an attacker with fresh addresses at most the guard's threshold of quick
    /// guesses per successful login of the owner, which is bounded by how often the owner logs in;
    /// keeping it would make the owner's own later typos count as an attack.
    fn record_success(&self, lane_id: &LaneId) {
        let mut tables = self.tables();
        tables.lanes.remove(lane_id);
        tables.accounts.remove(&lane_id.0);
    }

    fn release(&self, lane_id: &LaneId) {
        let mut tables = self.tables();
        let Some(lane) = tables.lanes.get_mut(lane_id) else {
            return;
        };
        lane.in_flight = lane.in_flight.saturating_sub(1);
        if lane.in_flight == 0 && lane.failures == 0 {
            tables.lanes.remove(lane_id);
        }
    }
}

/// An attempt admitted by [`LoginThrottle::begin_attempt`]. Record its outcome with
/// [`Self::failed`] or [`Self::succeeded`]; dropping it without either (the request was cancelled)
/// only ends the attempt, counting neither.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    throttle: &'a LoginThrottle,
    lane: LaneId,
    finished: bool,
}

impl LoginAttempt<'_> {
    /// The password was wrong (or the account unusable): one more failure, at `now`.
    pub fn failed(mut self, now: Instant) {
        self.finished = true;
        self.throttle.record_failure(&self.lane, now);
    }

    /// The password was right: the lane's and the account's failures are forgotten.
    pub fn succeeded(mut self) {
        self.finished = true;
        self.throttle.record_success(&self.lane);
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.throttle.release(&self.lane);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn seconds(value: u64) -> Duration {
        Duration::from_secs(value)
    }

    fn address(last: u8) -> LoginClient {
        LoginClient::from_address(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))))
    }

    /// The school's one NAT address.
    fn school_nat() -> LoginClient {
        address(1)
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
    fn clients_are_addresses_with_ipv6_hosts_by_their_64_bit_prefix() {
        let v4: IpAddr = Ipv4Addr::new(192, 0, 2, 7).into();
        let mapped: IpAddr = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped().into();
        assert_eq!(
            LoginClient::from_address(Some(v4)),
            LoginClient::from_address(Some(mapped))
        );
        let host: IpAddr = "2001:db8:1:2::17".parse::<Ipv6Addr>().expect("v6").into();
        let same_host_other_address: IpAddr = "2001:db8:1:2:aaaa::9"
            .parse::<Ipv6Addr>()
            .expect("v6")
            .into();
        let other_network: IpAddr = "2001:db8:1:3::17".parse::<Ipv6Addr>().expect("v6").into();
        assert_eq!(
            LoginClient::from_address(Some(host)),
            LoginClient::from_address(Some(same_host_other_address))
        );
        assert_ne!(
            LoginClient::from_address(Some(host)),
            LoginClient::from_address(Some(other_network))
        );
        assert_eq!(LoginClient::from_address(None), LoginClient::Unknown);
    }

    #[test]
    fn attempts_wait_for_the_delay_measured_from_the_last_failure() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let start = Instant::now();
        for failure in 0..3 {
            let attempt = throttle
                .begin_attempt("aino", school_nat(), start)
                .unwrap_or_else(|_| panic!("free failure {failure} is allowed"));
            attempt.failed(start);
        }
        assert_eq!(throttle.failures("aino"), 3);
        assert_eq!(throttle.lane_failures("aino", school_nat()), 3);
        let refused = throttle
            .begin_attempt("aino", school_nat(), start + Duration::from_millis(400))
            .expect_err("the fourth attempt waits");
        assert_eq!(refused.retry_after, Duration::from_millis(600));

        // After one second the next attempt runs; its failure doubles the delay.
        let later = start + seconds(1);
        throttle
            .begin_attempt("aino", school_nat(), later)
            .expect("the delay has passed")
            .failed(later);
        assert!(
            throttle
                .begin_attempt("aino", school_nat(), later + seconds(1))
                .is_err()
        );
        assert!(
            throttle
                .begin_attempt("aino", school_nat(), later + seconds(2))
                .is_ok()
        );
    }

    #[test]
    fn one_pupils_failures_do_not_slow_the_class_behind_the_same_address() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let now = Instant::now();
        for _ in 0..5 {
            if let Ok(attempt) = throttle.begin_attempt("aino", school_nat(), now) {
                attempt.failed(now);
            }
        }
        assert!(throttle.begin_attempt("aino", school_nat(), now).is_err());
        // Thirty classmates behind the same address log in at once.
        for pupil in 0..30 {
            throttle
                .begin_attempt(&format!("pupil-{pupil}"), school_nat(), now)
                .expect("another account is free")
                .succeeded();
        }
        let later = now + DEFAULT_MAX_DELAY;
        throttle
            .begin_attempt("aino", school_nat(), later)
            .expect("the capped delay has passed")
            .succeeded();
        assert_eq!(throttle.failures("aino"), 0);
        assert_eq!(throttle.tracked_lanes(), 0);
        assert_eq!(throttle.tracked_accounts(), 0);
    }

    #[test]
    fn a_lane_is_never_locked_out_however_many_failures() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let mut now = Instant::now();
        for _ in 0..200 {
            let attempt = throttle
                .begin_attempt("target", address(9), now)
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
        let client = school_nat();
        // Below the free failures, only as many attempts as remain free may be in flight.
        let first = throttle.begin_attempt("aino", client, now).expect("free");
        let second = throttle.begin_attempt("aino", client, now).expect("free");
        let third = throttle.begin_attempt("aino", client, now).expect("free");
        let refused = throttle
            .begin_attempt("aino", client, now)
            .expect_err("no free failure remains");
        assert_eq!(refused.retry_after, IN_FLIGHT_RETRY_AFTER);
        first.failed(now);
        second.failed(now);
        third.failed(now);

        // In the delay phase, one at a time: a second request while the first is checked waits.
        let later = now + seconds(1);
        let checking = throttle
            .begin_attempt("aino", client, later)
            .expect("delay passed");
        assert_eq!(
            throttle.begin_attempt("aino", client, later).err(),
            Some(Throttled {
                retry_after: IN_FLIGHT_RETRY_AFTER
            })
        );
        // A cancelled attempt counts neither way and frees the lane for the next one.
        drop(checking);
        assert_eq!(throttle.failures("aino"), 3);
        assert!(throttle.begin_attempt("aino", client, later).is_ok());
    }

    #[test]
    fn the_tables_are_bounded_and_evict_the_oldest() {
        let config = ThrottleConfig {
            max_tracked_lanes: 3,
            max_tracked_accounts: 2,
            ..ThrottleConfig::default()
        };
        let throttle = LoginThrottle::new(config);
        let start = Instant::now();
        for (index, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let at = start + seconds(u64::try_from(index).expect("small"));
            throttle
                .begin_attempt(name, school_nat(), at)
                .expect("free")
                .failed(at);
        }
        assert_eq!(throttle.tracked_lanes(), 3);
        assert_eq!(throttle.tracked_accounts(), 2);
        assert_eq!(throttle.lane_failures("a", school_nat()), 0, "evicted");
        assert_eq!(throttle.failures("b"), 0, "evicted");
        assert_eq!(throttle.lane_failures("d", school_nat()), 1);
        assert_eq!(throttle.failures("d"), 1);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_period() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let start = Instant::now();
        for _ in 0..5 {
            let at = start + DEFAULT_MAX_DELAY;
            if let Ok(attempt) = throttle.begin_attempt("aino", school_nat(), at) {
                attempt.failed(at);
            }
        }
        let next_day = start + DEFAULT_FAILURE_MEMORY + DEFAULT_MAX_DELAY;
        let attempt = throttle
            .begin_attempt("aino", school_nat(), next_day)
            .expect("yesterday's failures are forgotten");
        attempt.failed(next_day);
        assert_eq!(throttle.failures("aino"), 1);
        // Stale entries of other accounts are dropped as time passes, too.
        throttle
            .begin_attempt("eetu", school_nat(), next_day)
            .expect("free")
            .failed(next_day);
        let much_later = next_day + DEFAULT_FAILURE_MEMORY;
        throttle
            .begin_attempt("someone", school_nat(), much_later)
            .expect("free")
            .succeeded();
        assert_eq!(throttle.tracked_lanes(), 0);
        assert_eq!(throttle.tracked_accounts(), 0);
    }

    /// The attack of security issue 18: one wrong password a second for the victim, for two hours
    /// of simulated time. The victim tries every few minutes from another address, from the
    /// attacker's own address with their device cookie, and from a fresh address; every attempt
    /// is admitted. The attacker's admitted guesses stay at about one per minute.
    #[test]
    fn a_guessing_attack_never_keeps_the_owner_out() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let start = Instant::now();
        let attacker = school_nat();
        let owners_device = LoginClient::Device([7; 16]);
        let mut guesses = 0u32;
        let mut owner_logins = 0u32;
        for second in 0..2 * 60 * 60u64 {
            let now = start + seconds(second);
            if let Ok(attempt) = throttle.begin_attempt("user:P09", attacker, now) {
                guesses += 1;
                attempt.failed(now);
            }
            if second % 300 == 150 {
                let owner = match (second / 300) % 3 {
                    0 => address(2),
                    1 => owners_device,
                    _ => address(u8::try_from(100 + second / 300).expect("small")),
                };
                throttle
                    .begin_attempt("user:P09", owner, now)
                    .unwrap_or_else(|refused| {
                        panic!("the owner at {second} s from {owner:?} was refused: {refused:?}")
                    })
                    .succeeded();
                owner_logins += 1;
            }
        }
        assert_eq!(owner_logins, 24);
        // Three free guesses, the doubling delays, then one a minute (the owner's logins reset
        // the account, never the attacker's lane).
        assert!(guesses <= 3 + 6 + 2 * 60, "{guesses} guesses");
    }

    #[test]
    fn fresh_addresses_get_one_guess_a_second_once_the_account_is_guarded() {
        let throttle = LoginThrottle::new(ThrottleConfig::default());
        let start = Instant::now();
        let mut guesses = 0u32;
        // Every second a fresh address (IPv4 10.1.x.y) tries three passwords at once.
        for second in 0..600u16 {
            let now = start + seconds(u64::from(second));
            let [high, low] = second.to_be_bytes();
            let fresh =
                LoginClient::from_address(Some(IpAddr::V4(Ipv4Addr::new(10, 1, high, low))));
            for _ in 0..3 {
                if let Ok(attempt) = throttle.begin_attempt("user:P01", fresh, now) {
                    guesses += 1;
                    attempt.failed(now);
                }
            }
            if second % 60 == 30 {
                // The owner's browser, which has logged in before, is never held up; its success
                // lifts the guard until the attack reaches it again.
                throttle
                    .begin_attempt("user:P01", LoginClient::Device([1; 16]), now)
                    .expect("the owner's device is never guarded")
                    .succeeded();
            }
        }
        // Unguarded, three guesses a second (1,800). Guarded, one a second, plus the threshold's
        // worth after each of the owner's ten logins.
        let threshold = DEFAULT_ACCOUNT_GUARD_FAILURES;
        assert!(guesses <= 600 + 10 * threshold, "{guesses} guesses");

        // An address with failures of its own waits its own delay, not the attackers'.
        let now = start + seconds(600);
        assert!(throttle.failures("user:P01") >= threshold);
        let typo = address(200);
        throttle
            .begin_attempt("user:P01", typo, now)
            .expect("a client without failures gets the reserved share")
            .failed(now);
        assert!(throttle.begin_attempt("user:P01", typo, now).is_err());
        throttle
            .begin_attempt("user:P01", typo, now + DEFAULT_FIRST_DELAY)
            .expect("one second later")
            .succeeded();
    }
}
