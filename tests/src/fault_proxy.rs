//! A fault-injecting UDP proxy on loopback, placed between school nodes and the relay.
//!
//! Every node is configured with the proxy's address as its relay address. The proxy forwards each
//! datagram to the relay from an upstream socket of its own per client address, so the relay sees
//! as many distinct peers as there are nodes, and forwards the relay's answers back to the client
//! they belong to. Each direction ([`Direction::NodeToRelay`], [`Direction::RelayToNode`]) has its
//! own [`FaultProfile`], changed at any moment through a cloneable [`FaultProxyHandle`]: loss,
//! duplication, delay with random jitter (which reorders), and a cut that drops everything.
//!
//! Decisions come from one seeded random generator per direction, so that the same sequence of
//! datagrams in a direction meets the same faults when a seed is replayed (the real processes on
//! either side do not replay their timing exactly, so a seed narrows a failure down rather than
//! reproducing it bit for bit). The seed is printed by the tests that use the proxy.
//!
//! Everything the proxy holds is bounded: datagrams above [`MAX_DATAGRAM_BYTES`] are dropped, at
//! most [`MAX_CLIENT_MAPPINGS`] client addresses are mapped at once (the least recently active is
//! forgotten to make room), and at most [`MAX_DELAYED_PACKETS`] datagrams wait for their delay to
//! pass (beyond that a delayed datagram is dropped and counted as an overflow).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

/// The largest datagram forwarded, in bytes. QUIC as the relay and nodes run it (quinn) never sends
/// a datagram above its largest path MTU, 1,452 bytes by default, so this leaves ample room while
/// keeping what a delayed datagram holds small; a larger one is dropped and counted as oversized.
pub const MAX_DATAGRAM_BYTES: usize = 9_216;

/// The most client addresses mapped to upstream sockets at once. A test fleet has a handful of
/// nodes, and each node restart adds one address (a new UDP port); when the table is full, the
/// mapping that was idle longest is forgotten and its upstream socket closed, as a NAT would.
pub const MAX_CLIENT_MAPPINGS: usize = 64;

/// The most datagrams waiting for their delay at once, over both directions. With datagrams of at
/// most [`MAX_DATAGRAM_BYTES`] this bounds the delay queue to about 36 MiB; a datagram that finds the
/// queue full is dropped and counted as an overflow, which to QUIC is just more loss.
pub const MAX_DELAYED_PACKETS: usize = 4_096;

/// The longest delay plus jitter a profile may ask for. Delays in these tests model a congested
/// school uplink (tens to hundreds of milliseconds); longer ones would only hold datagrams in the
/// bounded queue until QUIC gives up on them.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// The direction a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    NodeToRelay,
    RelayToNode,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::NodeToRelay, Direction::RelayToNode];

    fn index(self) -> usize {
        match self {
            Direction::NodeToRelay => 0,
            Direction::RelayToNode => 1,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Direction::NodeToRelay => "node→relay",
            Direction::RelayToNode => "relay→node",
        })
    }
}

/// The faults applied to the datagrams of one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultProfile {
    /// The chance, 0 to 1, that a datagram is dropped.
    pub drop_probability: f64,
    /// The chance, 0 to 1, that a datagram that was not dropped is sent twice.
    pub duplicate_probability: f64,
    /// Every datagram (and each copy of a duplicate) waits this long before it is sent on.
    pub delay: Duration,
    /// Plus a uniformly random extra wait up to this; datagrams overtake each other when it is
    /// larger than the gap between them, which is how the proxy reorders.
    pub jitter: Duration,
    /// Drops every datagram: the link is down in this direction.
    pub cut: bool,
}

impl FaultProfile {
    /// Forwards everything at once, unchanged.
    pub const CLEAN: FaultProfile = FaultProfile {
        drop_probability: 0.0,
        duplicate_probability: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        cut: false,
    };

    /// Drops everything.
    pub const CUT: FaultProfile = FaultProfile {
        cut: true,
        ..FaultProfile::CLEAN
    };

    /// Loss, duplication and reordering together, as a poor school uplink shows them.
    pub fn lossy(drop_probability: f64, duplicate_probability: f64, jitter: Duration) -> Self {
        FaultProfile {
            drop_probability,
            duplicate_probability,
            delay: Duration::ZERO,
            jitter,
            cut: false,
        }
    }

    /// Clamps probabilities into 0..=1 and the delay into [`MAX_DELAY`], so a test's typo cannot
    /// make the proxy hold datagrams for ever.
    fn bounded(self) -> Self {
        let delay = self.delay.min(MAX_DELAY);
        FaultProfile {
            drop_probability: self.drop_probability.clamp(0.0, 1.0),
            duplicate_probability: self.duplicate_probability.clamp(0.0, 1.0),
            delay,
            jitter: self.jitter.min(MAX_DELAY - delay),
            cut: self.cut,
        }
    }
}

/// What happened to the datagrams of one direction, as of the moment the snapshot was taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionCounts {
    /// Datagrams that arrived at the proxy.
    pub received: u64,
    /// Datagrams sent on, duplicates included.
    pub forwarded: u64,
    /// Datagrams dropped by loss or a cut (at arrival or, for a delayed one, at sending).
    pub dropped: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Datagrams (or copies) that waited before being sent.
    pub delayed: u64,
    /// Delayed datagrams dropped because [`MAX_DELAYED_PACKETS`] were already waiting.
    pub overflowed: u64,
    /// Datagrams dropped for exceeding [`MAX_DATAGRAM_BYTES`].
    pub oversized: u64,
}

impl fmt::Display for DirectionCounts {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "received {}, forwarded {}, dropped {}, duplicated {}, delayed {}, overflowed {}, oversized {}",
            self.received,
            self.forwarded,
            self.dropped,
            self.duplicated,
            self.delayed,
            self.overflowed,
            self.oversized
        )
    }
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    delayed: AtomicU64,
    overflowed: AtomicU64,
    oversized: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> DirectionCounts {
        DirectionCounts {
            received: self.received.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            duplicated: self.duplicated.load(Ordering::Relaxed),
            delayed: self.delayed.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
            oversized: self.oversized.load(Ordering::Relaxed),
        }
    }
}

/// One direction's profile, random generator and counters.
#[derive(Debug)]
struct DirectionState {
    profile: Mutex<FaultProfile>,
    random: Mutex<StdRng>,
    counters: Counters,
}

/// One client address and the upstream socket the proxy talks to the relay from on its behalf.
#[derive(Debug)]
struct ClientMapping {
    upstream: Arc<UdpSocket>,
    reader: AbortHandle,
    last_active: Instant,
}

#[derive(Debug)]
struct Shared {
    listen: Arc<UdpSocket>,
    upstream_address: Mutex<SocketAddr>,
    directions: [DirectionState; 2],
    clients: Mutex<HashMap<SocketAddr, ClientMapping>>,
    delay_slots: Arc<Semaphore>,
    seed: u64,
}

/// Locks a mutex, going on with the data if a panicking test thread poisoned it: the proxy's state
/// stays consistent under every lock (each critical section is a plain read or write).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn direction(&self, direction: Direction) -> &DirectionState {
        &self.directions[direction.index()]
    }
}

/// The running proxy. Dropping it stops every task it started and closes its sockets.
#[derive(Debug)]
pub struct FaultProxy {
    handle: FaultProxyHandle,
    listener: AbortHandle,
}

/// Controls a running proxy; cheap to clone and usable from any task.
#[derive(Debug, Clone)]
pub struct FaultProxyHandle {
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port that forwards to `upstream_address`, with clean
    /// profiles both ways and decisions drawn from `seed`.
    pub async fn start(upstream_address: SocketAddr, seed: u64) -> std::io::Result<FaultProxy> {
        let listen = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let direction_state = |offset: u64| DirectionState {
            profile: Mutex::new(FaultProfile::CLEAN),
            random: Mutex::new(StdRng::seed_from_u64(seed.wrapping_add(offset))),
            counters: Counters::default(),
        };
        let shared = Arc::new(Shared {
            listen: listen.clone(),
            upstream_address: Mutex::new(upstream_address),
            directions: [direction_state(0), direction_state(1)],
            clients: Mutex::new(HashMap::new()),
            delay_slots: Arc::new(Semaphore::new(MAX_DELAYED_PACKETS)),
            seed,
        });
        let listener = tokio::spawn(listen_for_clients(shared.clone())).abort_handle();
        Ok(FaultProxy {
            handle: FaultProxyHandle { shared },
            listener,
        })
    }

    pub fn handle(&self) -> FaultProxyHandle {
        self.handle.clone()
    }
}

impl std::ops::Deref for FaultProxy {
    type Target = FaultProxyHandle;

    fn deref(&self) -> &FaultProxyHandle {
        &self.handle
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.listener.abort();
        for (_, mapping) in lock(&self.handle.shared.clients).drain() {
            mapping.reader.abort();
        }
    }
}

impl FaultProxyHandle {
    /// The address nodes use as their relay address.
    pub fn address(&self) -> SocketAddr {
        self.shared
            .listen
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// The seed the proxy's decisions are drawn from.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Points the proxy at another upstream address, for a relay restarted on a new port. Client
    /// mappings stay, so a node's next datagrams reach the new relay from the same upstream socket.
    pub fn set_upstream(&self, upstream_address: SocketAddr) {
        *lock(&self.shared.upstream_address) = upstream_address;
    }

    pub fn set_profile(&self, direction: Direction, profile: FaultProfile) {
        *lock(&self.shared.direction(direction).profile) = profile.bounded();
    }

    /// The same profile both ways.
    pub fn set_profiles(&self, profile: FaultProfile) {
        for direction in Direction::BOTH {
            self.set_profile(direction, profile);
        }
    }

    pub fn profile(&self, direction: Direction) -> FaultProfile {
        *lock(&self.shared.direction(direction).profile)
    }

    /// Cuts the link both ways.
    pub fn cut(&self) {
        self.set_profiles(FaultProfile::CUT);
    }

    /// Cuts one direction only; the other keeps its profile.
    pub fn cut_one_way(&self, direction: Direction) {
        let profile = FaultProfile {
            cut: true,
            ..self.profile(direction)
        };
        self.set_profile(direction, profile);
    }

    /// Restores clean forwarding both ways.
    pub fn heal(&self) {
        self.set_profiles(FaultProfile::CLEAN);
    }

    pub fn counts(&self, direction: Direction) -> DirectionCounts {
        self.shared.direction(direction).counters.snapshot()
    }

    /// Both directions' counts in one line, for a scenario's report.
    pub fn report(&self) -> String {
        format!(
            "proxy seed {}: {}: {}; {}: {}",
            self.seed(),
            Direction::NodeToRelay,
            self.counts(Direction::NodeToRelay),
            Direction::RelayToNode,
            self.counts(Direction::RelayToNode)
        )
    }

    /// Client addresses currently mapped.
    pub fn client_count(&self) -> usize {
        lock(&self.shared.clients).len()
    }
}

/// Receives datagrams from clients and forwards each towards the relay through the client's
/// upstream socket, creating the mapping on a client's first datagram.
async fn listen_for_clients(shared: Arc<Shared>) {
    // One byte more than the largest forwarded datagram, so that a larger one is recognised
    // (the kernel truncates a datagram to the buffer and reports the truncated length).
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    loop {
        let (length, client) = match shared.listen.recv_from(&mut buffer).await {
            Ok(received) => received,
            // A previous send to a client that went away can surface here as an ICMP error
            // (connection refused); the socket itself is fine, so keep listening.
            Err(_) => continue,
        };
        let upstream = match upstream_for(&shared, client).await {
            Ok(upstream) => upstream,
            Err(_) => continue,
        };
        let upstream_address = *lock(&shared.upstream_address);
        forward(
            &shared,
            Direction::NodeToRelay,
            &buffer[..length],
            Route::ToRelay {
                upstream,
                relay: upstream_address,
            },
        )
        .await;
    }
}

/// The upstream socket of `client`, created (with its reader task) on first use.
async fn upstream_for(shared: &Arc<Shared>, client: SocketAddr) -> std::io::Result<Arc<UdpSocket>> {
    if let Some(mapping) = lock(&shared.clients).get_mut(&client) {
        mapping.last_active = Instant::now();
        return Ok(mapping.upstream.clone());
    }
    let upstream = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let reader =
        tokio::spawn(read_from_relay(shared.clone(), upstream.clone(), client)).abort_handle();
    let mut clients = lock(&shared.clients);
    if clients.len() >= MAX_CLIENT_MAPPINGS {
        let idlest = clients
            .iter()
            .min_by_key(|(_, mapping)| mapping.last_active)
            .map(|(address, _)| *address);
        if let Some(mapping) = idlest.and_then(|address| clients.remove(&address)) {
            mapping.reader.abort();
        }
    }
    clients.insert(
        client,
        ClientMapping {
            upstream: upstream.clone(),
            reader,
            last_active: Instant::now(),
        },
    );
    Ok(upstream)
}

/// Receives the relay's datagrams for one client and forwards them back to it.
async fn read_from_relay(shared: Arc<Shared>, upstream: Arc<UdpSocket>, client: SocketAddr) {
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    loop {
        let length = match upstream.recv_from(&mut buffer).await {
            Ok((length, _from)) => length,
            // As above: an ICMP error from a relay that is down says nothing about this socket.
            Err(_) => continue,
        };
        forward(
            &shared,
            Direction::RelayToNode,
            &buffer[..length],
            Route::ToNode {
                listen: shared.listen.clone(),
                client,
            },
        )
        .await;
    }
}

/// Where a datagram goes once it passes the faults.
#[derive(Debug, Clone)]
enum Route {
    ToRelay {
        upstream: Arc<UdpSocket>,
        relay: SocketAddr,
    },
    ToNode {
        listen: Arc<UdpSocket>,
        client: SocketAddr,
    },
}

impl Route {
    /// Sends one datagram. An error (a relay that is down answers with ICMP "port unreachable")
    /// is loss, as it would be on a real link. The send awaits socket readiness: `try_send_to`
    /// refuses on a socket whose readiness the reactor has not yet observed, which would lose every
    /// new client's first datagram.
    async fn send(&self, datagram: &[u8]) {
        let _ = match self {
            Route::ToRelay { upstream, relay } => upstream.send_to(datagram, *relay).await,
            Route::ToNode { listen, client } => listen.send_to(datagram, *client).await,
        };
    }
}

/// Applies `direction`'s profile to one datagram: drop it, or send it (and maybe a copy), each
/// copy at once or after its delay.
async fn forward(shared: &Arc<Shared>, direction: Direction, datagram: &[u8], route: Route) {
    let state = shared.direction(direction);
    let counters = &state.counters;
    counters.received.fetch_add(1, Ordering::Relaxed);
    if datagram.len() > MAX_DATAGRAM_BYTES {
        counters.oversized.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let profile = *lock(&state.profile);
    // Every draw happens whatever the profile, so that a seed meets the same sequence of decisions
    // however the profiles were changed in between.
    let (dropped, duplicated, waits) = {
        let mut random = lock(&state.random);
        let dropped = random.random_bool(profile.drop_probability);
        let duplicated = random.random_bool(profile.duplicate_probability);
        let mut wait = || {
            let jitter_micros = profile.jitter.as_micros() as u64;
            let extra = if jitter_micros == 0 {
                0
            } else {
                random.random_range(0..=jitter_micros)
            };
            profile.delay + Duration::from_micros(extra)
        };
        (dropped, duplicated, [wait(), wait()])
    };
    if profile.cut || dropped {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let copies = if duplicated {
        counters.duplicated.fetch_add(1, Ordering::Relaxed);
        2
    } else {
        1
    };
    for wait in waits.into_iter().take(copies) {
        if wait.is_zero() {
            // Counted before sending, so that a test that saw the datagram arrive sees it counted.
            counters.forwarded.fetch_add(1, Ordering::Relaxed);
            route.send(datagram).await;
            continue;
        }
        let Ok(slot) = shared.delay_slots.clone().try_acquire_owned() else {
            counters.overflowed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        counters.delayed.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let route = route.clone();
        let datagram = datagram.to_vec();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let state = shared.direction(direction);
            // A cut that began while the datagram waited takes it too: it was still on the wire.
            if lock(&state.profile).cut {
                state.counters.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                state.counters.forwarded.fetch_add(1, Ordering::Relaxed);
                route.send(&datagram).await;
            }
            drop(slot);
        });
    }
}
