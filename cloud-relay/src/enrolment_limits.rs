//! What enrolment may cost the relay, and who may spend it.
//!
//! Enrolment is the one thing the relay does for peers that have proven nothing: the enrolment ALPN
//! needs no client certificate, so anyone who can reach the UDP port can ask. Three bounds apply,
//! and the server ([`crate::server`]) consults them in this order:
//!
//! 1. **Connections per source** (`sync.max_enrolment_connections_per_source`): how many
//!    enrolment connections one source holds open at once. A silent peer (connect, send nothing)
//!    is otherwise bounded only by the relay-wide `sync.max_connections`, which sync connections
//!    share, and a request that arrives byte by byte would keep its connection as long as the
//!    peer's keep-alives do. When a source is at its bound, a new connection closes that source's
//!    oldest connection that is still waiting for its peer (for its request, or for it to take a
//!    refusal) and takes its place; only when none is waiting is the new one refused. An honest
//!    request arrives within a round trip of the handshake, so a neighbour behind the same address
//!    would have to complete that many handshakes within one round trip to crowd it out, where
//!    refusing the newest would let one silent connection per slot lock the address out.
//! 2. **Failed attempts per source** (`sync.max_failed_enrolments_per_source_per_minute`): unknown
//!    tokens, wrong secrets, malformed, missing or misplaced requests. Once a source has spent them
//!    for its [`ENROLMENT_WINDOW`], its requests without a valid token are closed with the
//!    rate-limited code instead of answered, and logged once rather than each time. The token is
//!    still read and checked first: a valid token from that source is served. Closing before
//!    reading would save only the read and one small file lookup, while the TLS handshake the peer
//!    has already forced costs far more; and it would let anyone behind a shared address (pupils
//!    behind a municipality's NAT, say) lock every school behind it out of enrolment. Guessing is
//!    no reason to close earlier either: a token secret has 160 random bits.
//! 3. **Issuances for the whole relay** (`sync.max_enrolments_per_minute`): taken only by requests
//!    whose token checked out (an unused token with the right secret), and given back when the
//!    redemption then issues nothing (a bad signing request, an expired token, a token a
//!    concurrent request used first). Tokens are single-use and made by operators, so peers
//!    without one cannot use this budget up; it bounds the signing and disk work of a burst of
//!    real enrolments.
//!
//! A source is an IPv4 address, or an IPv6 /64 ([`IPV6_SOURCE_PREFIX_BITS`]): one subscriber or
//! one host usually holds a whole /64, so counting single IPv6 addresses would count nothing.
//! At most [`MAX_TRACKED_ENROLMENT_SOURCES`] sources are remembered. A relay behind a proxy that
//! hides peers' addresses sees one source for everyone; raise the per-source bounds there.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::SyncConfig;

/// How long a budget lasts: the relay-wide issuance budget and each source's failed attempts are
/// counted per window of this length, starting at the first use.
pub const ENROLMENT_WINDOW: Duration = Duration::from_secs(60);

/// The most sources whose enrolment connections and failures are remembered at once. A source is
/// kept while it has enrolment connections open or failures in a window not yet over; when the
/// table is full, a new source replaces the source heard from least recently, preferring one
/// without open connections. Reaching this takes thousands of addresses failing within a minute,
/// and what a forgotten source loses is a count the next minute would have reset anyway.
pub const MAX_TRACKED_ENROLMENT_SOURCES: usize = 4096;

/// The length of the IPv6 prefix that makes one source.
pub const IPV6_SOURCE_PREFIX_BITS: u32 = 64;

/// The three bounds, as the configuration gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrolmentLimitSettings {
    /// `sync.max_enrolments_per_minute`.
    pub issuances_per_window: u32,
    /// `sync.max_failed_enrolments_per_source_per_minute`.
    pub failures_per_source: u32,
    /// `sync.max_enrolment_connections_per_source`.
    pub connections_per_source: u32,
}

impl EnrolmentLimitSettings {
    pub fn from_config(sync: &SyncConfig) -> Self {
        Self {
            issuances_per_window: sync.max_enrolments_per_minute,
            failures_per_source: sync.max_failed_enrolments_per_source_per_minute,
            connections_per_source: sync.max_enrolment_connections_per_source,
        }
    }
}

/// Where enrolment requests come from, as the limits count them: an IPv4 address (IPv4-mapped IPv6
/// addresses included), or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(address) => Source(IpAddr::V4(address)),
            IpAddr::V6(address) => {
                let prefix = u128::MAX << (128 - IPV6_SOURCE_PREFIX_BITS);
                Source(IpAddr::V6(Ipv6Addr::from(u128::from(address) & prefix)))
            }
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(address) => write!(formatter, "{address}"),
            IpAddr::V6(address) => write!(formatter, "{address}/{IPV6_SOURCE_PREFIX_BITS}"),
        }
    }
}

/// A count that starts again once [`ENROLMENT_WINDOW`] has passed since its first use.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    used: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            used: 0,
        }
    }

    fn is_over(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= ENROLMENT_WINDOW
    }

    /// Starts a new window when this one is over or unused, so a window starts at its first use.
    fn roll(&mut self, now: Instant) {
        if self.used == 0 || self.is_over(now) {
            *self = Window::new(now);
        }
    }
}

/// How a connection learns that its source's bound closed it to make room for a newer one.
#[derive(Debug, Default)]
struct EvictionSignal {
    evicted: AtomicBool,
    notify: Notify,
}

#[derive(Debug)]
struct OpenConnection {
    id: u64,
    /// Whether the relay is waiting for the peer (its request, or it taking a refusal), so that a
    /// newer connection of the same source may replace it.
    waiting_for_peer: bool,
    signal: Arc<EvictionSignal>,
}

#[derive(Debug)]
struct SourceState {
    failures: Window,
    /// Oldest first.
    open: Vec<OpenConnection>,
    last_seen: Instant,
}

impl SourceState {
    fn new(now: Instant) -> Self {
        Self {
            failures: Window::new(now),
            open: Vec::new(),
            last_seen: now,
        }
    }

    /// Whether forgetting this source would lose anything: connections to count, or failures of a
    /// window that is not over.
    fn matters(&self, now: Instant) -> bool {
        !self.open.is_empty() || (self.failures.used > 0 && !self.failures.is_over(now))
    }
}

/// What a failed attempt means for its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureVerdict {
    /// The source had failures left: answer the refusal.
    Answer,
    /// This failure went beyond the source's budget: close the connection, and say so in the log.
    CutOffNow,
    /// The source was beyond its budget already: close the connection quietly.
    CutOff,
}

/// One unit of the relay-wide issuance budget, to be given back if nothing is issued.
#[derive(Debug)]
pub struct IssuanceTicket {
    window_started: Instant,
}

/// The enrolment bounds of one relay; see the module documentation.
#[derive(Debug)]
pub struct EnrolmentLimits {
    settings: EnrolmentLimitSettings,
    issuances: Mutex<Window>,
    sources: Mutex<HashMap<Source, SourceState>>,
    next_connection: AtomicU64,
}

/// Mutexes here guard plain counts, which a panic elsewhere cannot leave half-updated in a way that
/// matters; carrying on with them beats refusing every enrolment until the relay restarts.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EnrolmentLimits {
    pub fn new(settings: EnrolmentLimitSettings, now: Instant) -> Self {
        Self {
            settings,
            issuances: Mutex::new(Window::new(now)),
            sources: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
        }
    }

    /// Admits a new enrolment connection from `source`, or refuses it (`None`) when the source is
    /// at its bound and none of its connections is waiting for its peer. Admitting may close the
    /// source's oldest waiting connection (its [`EnrolmentSlot::evicted`] completes). The slot
    /// counts until it is dropped, and starts out waiting for the peer's request.
    pub fn admit(self: &Arc<Self>, source: Source, now: Instant) -> Option<EnrolmentSlot> {
        let bound = usize::try_from(self.settings.connections_per_source).unwrap_or(usize::MAX);
        let mut sources = lock(&self.sources);
        let state = tracked(&mut sources, source, now);
        state.last_seen = now;
        if state.open.len() >= bound {
            let oldest_waiting = state
                .open
                .iter()
                .position(|connection| connection.waiting_for_peer)?;
            let evicted = state.open.remove(oldest_waiting);
            evicted.signal.evicted.store(true, Ordering::Release);
            evicted.signal.notify.notify_waiters();
        }
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let signal = Arc::new(EvictionSignal::default());
        state.open.push(OpenConnection {
            id,
            waiting_for_peer: true,
            signal: signal.clone(),
        });
        Some(EnrolmentSlot {
            limits: self.clone(),
            source,
            id,
            signal,
        })
    }

    /// Counts a failed attempt against `source`.
    pub fn record_failure(&self, source: Source, now: Instant) -> FailureVerdict {
        let budget = self.settings.failures_per_source;
        let mut sources = lock(&self.sources);
        let state = tracked(&mut sources, source, now);
        state.last_seen = now;
        state.failures.roll(now);
        state.failures.used = state.failures.used.saturating_add(1);
        if state.failures.used <= budget {
            FailureVerdict::Answer
        } else if state.failures.used == budget.saturating_add(1) {
            FailureVerdict::CutOffNow
        } else {
            FailureVerdict::CutOff
        }
    }

    /// Takes one unit of the relay-wide issuance budget; `None` when this window's is spent.
    pub fn take_issuance(&self, now: Instant) -> Option<IssuanceTicket> {
        let mut window = lock(&self.issuances);
        window.roll(now);
        if window.used >= self.settings.issuances_per_window {
            return None;
        }
        window.used += 1;
        Some(IssuanceTicket {
            window_started: window.started,
        })
    }

    /// Gives a unit back because nothing was issued with it. A unit of a window that is over is
    /// simply dropped: the new window never lent it.
    pub fn give_back_issuance(&self, ticket: IssuanceTicket) {
        let mut window = lock(&self.issuances);
        if window.started == ticket.window_started {
            window.used = window.used.saturating_sub(1);
        }
    }

    /// How many sources are remembered, for tests of the bound.
    pub fn tracked_sources(&self) -> usize {
        lock(&self.sources).len()
    }
}

/// The state of `source`, created if need be, making room first when the table is full.
fn tracked(
    sources: &mut HashMap<Source, SourceState>,
    source: Source,
    now: Instant,
) -> &mut SourceState {
    if sources.len() >= MAX_TRACKED_ENROLMENT_SOURCES && !sources.contains_key(&source) {
        sources.retain(|_, state| state.matters(now));
        if sources.len() >= MAX_TRACKED_ENROLMENT_SOURCES
            && let Some(oldest) = sources
                .iter()
                .min_by_key(|(_, state)| (!state.open.is_empty(), state.last_seen))
                .map(|(source, _)| *source)
        {
            // Its open connections stop counting (they end within their timeouts anyway); its
            // failures are forgotten.
            sources.remove(&oldest);
        }
    }
    sources
        .entry(source)
        .or_insert_with(|| SourceState::new(now))
}

/// One admitted enrolment connection; it counts against its source until dropped.
#[derive(Debug)]
pub struct EnrolmentSlot {
    limits: Arc<EnrolmentLimits>,
    source: Source,
    id: u64,
    signal: Arc<EvictionSignal>,
}

impl EnrolmentSlot {
    /// Completes once a newer connection of the same source has replaced this one; the connection
    /// should then be closed as rate limited.
    pub async fn evicted(&self) {
        let notified = self.signal.notify.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so an eviction between the two is not missed.
        notified.as_mut().enable();
        if self.signal.evicted.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Marks whether the relay is waiting for the peer, and so whether a newer connection of the
    /// same source may replace this one. Returns `false` when it has been replaced already.
    pub fn set_waiting_for_peer(&self, waiting: bool) -> bool {
        let mut sources = lock(&self.limits.sources);
        // Read under the lock that evictions hold while they set it.
        if self.signal.evicted.load(Ordering::Acquire) {
            return false;
        }
        if let Some(connection) = sources.get_mut(&self.source).and_then(|state| {
            state
                .open
                .iter_mut()
                .find(|connection| connection.id == self.id)
        }) {
            connection.waiting_for_peer = waiting;
        }
        true
    }
}

impl Drop for EnrolmentSlot {
    fn drop(&mut self) {
        let mut sources = lock(&self.limits.sources);
        if let Some(state) = sources.get_mut(&self.source) {
            state.open.retain(|connection| connection.id != self.id);
            if !state.matters(Instant::now()) {
                sources.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn limits(
        issuances: u32,
        failures: u32,
        connections: u32,
        now: Instant,
    ) -> Arc<EnrolmentLimits> {
        Arc::new(EnrolmentLimits::new(
            EnrolmentLimitSettings {
                issuances_per_window: issuances,
                failures_per_source: failures,
                connections_per_source: connections,
            },
            now,
        ))
    }

    fn source(text: &str) -> Source {
        Source::of(text.parse().expect("address"))
    }

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64s() {
        assert_eq!(source("192.0.2.1"), source("::ffff:192.0.2.1"));
        assert_ne!(source("192.0.2.1"), source("192.0.2.2"));
        assert_eq!(source("2001:db8:1:2::1"), source("2001:db8:1:2:ffff::7"));
        assert_ne!(source("2001:db8:1:2::1"), source("2001:db8:1:3::1"));
        assert_eq!(source("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(source("192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn the_issuance_budget_counts_per_window_and_takes_back_what_issued_nothing() {
        let start = Instant::now();
        let limits = limits(2, 1, 1, start);
        let first = limits.take_issuance(start).expect("first");
        let _second = limits.take_issuance(start).expect("second");
        assert!(limits.take_issuance(start).is_none(), "spent");
        limits.give_back_issuance(first);
        let _third = limits.take_issuance(start).expect("given back");
        assert!(limits.take_issuance(start).is_none(), "spent again");

        let later = start + ENROLMENT_WINDOW;
        let stale = limits.take_issuance(later).expect("a new window");
        let _ = limits
            .take_issuance(later)
            .expect("second of the new window");
        let next = later + ENROLMENT_WINDOW;
        let _ = limits.take_issuance(next).expect("another window");
        // A unit of a window that is over does not enlarge the current one.
        limits.give_back_issuance(stale);
        let _ = limits.take_issuance(next).expect("second of that window");
        assert!(limits.take_issuance(next).is_none());
    }

    #[test]
    fn a_source_beyond_its_failures_is_cut_off_until_its_window_passes_and_others_are_not() {
        let start = Instant::now();
        let limits = limits(1, 3, 1, start);
        let noisy = source("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(limits.record_failure(noisy, start), FailureVerdict::Answer);
        }
        assert_eq!(
            limits.record_failure(noisy, start),
            FailureVerdict::CutOffNow
        );
        assert_eq!(limits.record_failure(noisy, start), FailureVerdict::CutOff);
        assert_eq!(
            limits.record_failure(source("192.0.2.2"), start),
            FailureVerdict::Answer
        );
        let later = start + ENROLMENT_WINDOW;
        assert_eq!(limits.record_failure(noisy, later), FailureVerdict::Answer);
    }

    #[tokio::test]
    async fn a_source_at_its_connection_bound_replaces_its_oldest_waiting_connection() {
        let now = Instant::now();
        let limits = limits(1, 1, 2, now);
        let address = source("192.0.2.1");
        let oldest = limits.admit(address, now).expect("first");
        let second = limits.admit(address, now).expect("second");
        // The second is being served; the oldest still waits for its request.
        assert!(second.set_waiting_for_peer(false));
        let third = limits.admit(address, now).expect("replaces the oldest");
        tokio::time::timeout(Duration::from_secs(5), oldest.evicted())
            .await
            .expect("the oldest learns it was replaced");
        assert!(!oldest.set_waiting_for_peer(false));
        assert!(third.set_waiting_for_peer(false));
        assert!(
            limits.admit(address, now).is_none(),
            "none waits, so a newcomer is refused"
        );
        assert!(
            limits.admit(source("192.0.2.2"), now).is_some(),
            "other sources are not affected"
        );
        drop(oldest);
        assert!(limits.admit(address, now).is_none(), "still two counted");
        drop(second);
        let _fourth = limits.admit(address, now).expect("room again");
    }

    #[test]
    fn sources_with_nothing_to_remember_are_forgotten() {
        let now = Instant::now();
        let limits = limits(1, 1, 1, now);
        let slot = limits.admit(source("192.0.2.1"), now).expect("admitted");
        assert_eq!(limits.tracked_sources(), 1);
        drop(slot);
        assert_eq!(limits.tracked_sources(), 0);
    }

    #[test]
    fn the_source_table_is_bounded() {
        let start = Instant::now();
        let limits = limits(1, 1, 1, start);
        let count = u32::try_from(MAX_TRACKED_ENROLMENT_SOURCES).expect("fits") + 10;
        for index in 0..count {
            let address = Source::of(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + index)));
            let _ = limits.record_failure(address, start);
        }
        assert_eq!(limits.tracked_sources(), MAX_TRACKED_ENROLMENT_SOURCES);
        // Once their window has passed, old sources make room without a search for the oldest.
        let later = start + ENROLMENT_WINDOW;
        let _ = limits.record_failure(source("192.0.2.1"), later);
        assert_eq!(limits.tracked_sources(), 1);
    }
}
