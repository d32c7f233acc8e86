//! A deterministic in-memory simulator of one relay and N school nodes.
//!
//! Everything a fault schedule needs comes from one seed: which frames are lost, duplicated or
//! delayed past later ones (reordering), when links are cut and healed, when a peer crashes and
//! restarts from what its store had made durable, and what pupils and teachers edit. The simulator
//! drives the real [`Session`] state machines over [`MemoryStore`]s in simulated milliseconds, so a
//! failing seed replays exactly.
//!
//! A run has two phases: `fault_millis` of edits under faults, then a healing phase with a clean
//! network in which everything must converge. [`Simulation::check`] then asserts the invariants:
//! every replica of every document has the same heads, and every acknowledged edit and blob is at
//! every replica whose scopes include it.

use std::collections::BTreeSet;

use automerge::{ActorId, Automerge, ChangeHash, ROOT, transaction::Transactable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::ids::{BlobId, DocId, MunicipalityCode, NodeId, SchoolCode, Scope};
use crate::memory::MemoryStore;
use crate::session::{Event, Session, SessionConfig};
use crate::store::ReplicaStore;
use crate::wire::FRAME_HEADER_BYTES;

/// The fault schedule and workload of one simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// How long edits and faults go on, in simulated milliseconds.
    pub fault_millis: u64,
    /// The longest the healing phase may take before the run counts as not converging.
    pub max_heal_millis: u64,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// Extra random delay that lets later frames overtake earlier ones, in milliseconds.
    pub reorder_jitter_millis: u64,
    /// Per node and per second of simulated time.
    pub partition_probability_per_second: f64,
    pub crash_probability_per_second: f64,
    pub edit_probability_per_step: f64,
    pub blob_probability_per_step: f64,
}

impl SimConfig {
    /// A schedule with every kind of fault, sized for CI.
    pub fn with_faults(seed: u64) -> Self {
        Self {
            seed,
            nodes: 5,
            fault_millis: 20_000,
            max_heal_millis: 120_000,
            loss_probability: 0.05,
            duplicate_probability: 0.05,
            reorder_jitter_millis: 40,
            partition_probability_per_second: 0.05,
            crash_probability_per_second: 0.03,
            edit_probability_per_step: 0.05,
            blob_probability_per_step: 0.003,
        }
    }
}

/// What a run did, for the test's failure message and for curiosity.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    pub seed: u64,
    pub edits_acknowledged: usize,
    pub blobs_acknowledged: usize,
    pub crashes: usize,
    pub partitions: usize,
    pub frames_sent: u64,
    pub frames_lost: u64,
    pub frames_duplicated: u64,
    pub sessions_started: u64,
    pub heal_millis: u64,
}

const STEP_MILLIS: u64 = 10;
const HEARTBEAT_MILLIS: u64 = 1_000;
const BASE_LATENCY_MILLIS: u64 = 5;
const RECONNECT_DELAY_MILLIS: u64 = 500;
const MUNICIPALITY: &str = "092";
const DOCS_PER_SCOPE: usize = 3;

struct Peer {
    id: NodeId,
    store: MemoryStore,
    /// Bumped at every restart: each process start writes with a fresh automerge actor, so that a
    /// change lost in a crash can never collide with a new change of the same sequence number.
    incarnation: u64,
    /// Local edits and blobs written but not yet flushed: acknowledged at the next flush.
    unflushed_edits: Vec<(DocId, ChangeHash)>,
    unflushed_blobs: Vec<(Scope, BlobId)>,
}

struct Link {
    up: bool,
    /// Frames in flight to the relay and to the node: (delivery time, order of sending, bytes).
    to_relay: Vec<(u64, u64, Vec<u8>)>,
    to_node: Vec<(u64, u64, Vec<u8>)>,
    /// The two ends of the current connection, if any.
    node_session: Option<Session>,
    relay_session: Option<Session>,
    reconnect_at: u64,
    heal_at: u64,
}

pub struct Simulation {
    config: SimConfig,
    rng: StdRng,
    now: u64,
    send_order: u64,
    relay: Peer,
    nodes: Vec<Peer>,
    links: Vec<Link>,
    acknowledged_edits: Vec<(DocId, ChangeHash)>,
    acknowledged_blobs: Vec<(Scope, BlobId)>,
    report: SimReport,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Simulation")
            .field("seed", &self.config.seed)
            .field("now", &self.now)
            .finish()
    }
}

fn node_id(index: usize) -> NodeId {
    format!("node-{index}")
        .parse()
        .unwrap_or_else(|_| unreachable!("node ids are valid"))
}

fn school_scope(index: usize) -> Scope {
    let code: SchoolCode = format!("{:05}", 10_000 + index)
        .parse()
        .unwrap_or_else(|_| unreachable!("five digits"));
    Scope::School(code)
}

fn municipality_scope() -> Scope {
    let code: MunicipalityCode = MUNICIPALITY
        .parse()
        .unwrap_or_else(|_| unreachable!("three digits"));
    Scope::Municipality(code)
}

fn doc_in(scope: &Scope, number: usize) -> DocId {
    DocId::new(scope.clone(), &format!("doc-{number}"))
        .unwrap_or_else(|_| unreachable!("valid name"))
}

/// The scopes a node receives and sends, as its certificate would grant them.
fn node_receive_scopes(index: usize) -> Vec<Scope> {
    vec![school_scope(index), municipality_scope(), Scope::National]
}

fn node_send_scopes(index: usize) -> Vec<Scope> {
    vec![school_scope(index), municipality_scope()]
}

impl Simulation {
    pub fn new(config: SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let relay = Peer {
            id: "relay".parse().unwrap_or_else(|_| unreachable!("valid")),
            store: MemoryStore::with_crash_model(rng.random()),
            incarnation: 0,
            unflushed_edits: Vec::new(),
            unflushed_blobs: Vec::new(),
        };
        let nodes = (0..config.nodes)
            .map(|index| Peer {
                id: node_id(index),
                store: MemoryStore::with_crash_model(rng.random()),
                incarnation: 0,
                unflushed_edits: Vec::new(),
                unflushed_blobs: Vec::new(),
            })
            .collect();
        let links = (0..config.nodes)
            .map(|_| Link {
                up: true,
                to_relay: Vec::new(),
                to_node: Vec::new(),
                node_session: None,
                relay_session: None,
                reconnect_at: 0,
                heal_at: 0,
            })
            .collect();
        Self {
            report: SimReport {
                seed: config.seed,
                ..SimReport::default()
            },
            config,
            rng,
            now: 0,
            send_order: 0,
            relay,
            nodes,
            links,
            acknowledged_edits: Vec::new(),
            acknowledged_blobs: Vec::new(),
        }
    }

    /// Runs both phases and returns what happened; call [`Self::check`] afterwards.
    pub fn run(&mut self) -> SimReport {
        while self.now < self.config.fault_millis {
            self.inject_faults_and_edits();
            self.step(true);
        }
        for link in &mut self.links {
            link.up = true;
        }
        let heal_started = self.now;
        while self.now < heal_started + self.config.max_heal_millis {
            self.step(false);
            if self.now.is_multiple_of(HEARTBEAT_MILLIS) && self.converged() {
                break;
            }
        }
        self.report.heal_millis = self.now - heal_started;
        self.report.edits_acknowledged = self.acknowledged_edits.len();
        self.report.blobs_acknowledged = self.acknowledged_blobs.len();
        self.report.clone()
    }

    /// Asserts convergence and that nothing acknowledged was lost; the error says what differs.
    pub fn check(&mut self) -> Result<(), String> {
        let seed = self.config.seed;
        for (index, node) in self.nodes.iter().enumerate() {
            for scope in node_receive_scopes(index) {
                let relay_summary = self
                    .relay
                    .store
                    .scope_summary(&scope)
                    .map_err(|error| error.to_string())?;
                let node_summary = node
                    .store
                    .scope_summary(&scope)
                    .map_err(|error| error.to_string())?;
                if relay_summary.digest != node_summary.digest {
                    let mut differing = Vec::new();
                    for doc in (0..DOCS_PER_SCOPE).map(|number| doc_in(&scope, number)) {
                        let relay_heads = self
                            .relay
                            .store
                            .doc_heads(&doc)
                            .map_err(|error| error.to_string())?;
                        let node_heads = node
                            .store
                            .doc_heads(&doc)
                            .map_err(|error| error.to_string())?;
                        if relay_heads != node_heads {
                            differing.push(format!(
                                "{doc}: relay {relay_heads:?} vs node {node_heads:?}"
                            ));
                        }
                    }
                    return Err(format!(
                        "seed {seed}: scope {scope} differs between the relay and {}: {differing:?}",
                        node.id
                    ));
                }
            }
        }
        for (doc, hash) in &self.acknowledged_edits {
            let holders = std::iter::once(&self.relay).chain(
                self.nodes
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| node_receive_scopes(*index).contains(doc.scope()))
                    .map(|(_, node)| node),
            );
            for holder in holders {
                if !holder
                    .store
                    .contains_changes(doc, &[*hash])
                    .map_err(|error| error.to_string())?
                {
                    return Err(format!(
                        "seed {seed}: acknowledged edit {hash} of {doc} is missing at {}",
                        holder.id
                    ));
                }
            }
        }
        for (scope, blob) in &self.acknowledged_blobs {
            let holders = std::iter::once(&self.relay).chain(
                self.nodes
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| node_receive_scopes(*index).contains(scope))
                    .map(|(_, node)| node),
            );
            for holder in holders {
                if holder
                    .store
                    .blob_len(blob)
                    .map_err(|error| error.to_string())?
                    .is_none()
                {
                    return Err(format!(
                        "seed {seed}: acknowledged blob {blob} of {scope} is missing at {}",
                        holder.id
                    ));
                }
            }
        }
        Ok(())
    }

    fn converged(&self) -> bool {
        self.links
            .iter()
            .all(|link| link.to_node.is_empty() && link.to_relay.is_empty())
            && self.nodes.iter().enumerate().all(|(index, node)| {
                node_receive_scopes(index).iter().all(|scope| {
                    let relay = self
                        .relay
                        .store
                        .scope_summary(scope)
                        .map(|summary| summary.digest);
                    let local = node
                        .store
                        .scope_summary(scope)
                        .map(|summary| summary.digest);
                    relay.is_ok() && relay == local
                })
            })
            && self
                .nodes
                .iter()
                .all(|node| node.store.blob_count_partial() == 0)
    }

    fn inject_faults_and_edits(&mut self) {
        let per_step = STEP_MILLIS as f64 / 1000.0;
        for index in 0..self.nodes.len() {
            if self.links[index].up
                && self
                    .rng
                    .random_bool(self.config.partition_probability_per_second * per_step)
            {
                self.links[index].up = false;
                self.links[index].heal_at = self.now + self.rng.random_range(500..8_000);
                self.report.partitions += 1;
            } else if !self.links[index].up && self.now >= self.links[index].heal_at {
                self.links[index].up = true;
            }
            if self
                .rng
                .random_bool(self.config.crash_probability_per_second * per_step)
            {
                self.crash_node(index);
            }
            if self.rng.random_bool(self.config.edit_probability_per_step) {
                let scope = if self.rng.random_bool(0.6) {
                    school_scope(index)
                } else {
                    municipality_scope()
                };
                self.edit(Some(index), &scope);
            }
            if self.rng.random_bool(self.config.blob_probability_per_step) {
                let scope = if self.rng.random_bool(0.5) {
                    school_scope(index)
                } else {
                    municipality_scope()
                };
                self.add_blob(Some(index), &scope);
            }
        }
        if self
            .rng
            .random_bool(self.config.crash_probability_per_second * per_step / 2.0)
        {
            self.crash_relay();
        }
        if self
            .rng
            .random_bool(self.config.edit_probability_per_step / 4.0)
        {
            self.edit(None, &Scope::National);
        }
    }

    fn peer_mut(&mut self, node: Option<usize>) -> &mut Peer {
        match node {
            Some(index) => &mut self.nodes[index],
            None => &mut self.relay,
        }
    }

    /// A pupil or teacher edits a document (an operator, on the relay, when `node` is `None`).
    fn edit(&mut self, node: Option<usize>, scope: &Scope) {
        let doc = doc_in(scope, self.rng.random_range(0..DOCS_PER_SCOPE));
        let key = format!("k{}", self.rng.random_range(0..20));
        let value: i64 = self.rng.random();
        let peer = self.peer_mut(node);
        let actor = ActorId::from(format!("{}-{}", peer.id, peer.incarnation).into_bytes());
        let mut automerge = match peer.store.document(&doc) {
            Ok(Some(existing)) => existing.clone(),
            Ok(None) => Automerge::new(),
            Err(_) => return,
        };
        let before = automerge.get_heads();
        automerge.set_actor(actor);
        let mut transaction = automerge.transaction();
        if transaction.put(ROOT, key, value).is_err() {
            return;
        }
        transaction.commit();
        let changes: Vec<Vec<u8>> = automerge
            .get_changes(&before)
            .into_iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect();
        let hashes: Vec<ChangeHash> = automerge
            .get_changes(&before)
            .iter()
            .map(|change| change.hash())
            .collect();
        if peer.store.apply_changes(&doc, changes).is_ok() {
            peer.unflushed_edits
                .extend(hashes.into_iter().map(|hash| (doc.clone(), hash)));
            self.notify_local_change(node, &doc);
        }
    }

    fn add_blob(&mut self, node: Option<usize>, scope: &Scope) {
        let len = self.rng.random_range(1..600_000);
        let mut content = vec![0u8; len];
        self.rng.fill(&mut content[..]);
        let peer = self.peer_mut(node);
        let Ok(blob) = peer.store.put_blob(scope, &content) else {
            return;
        };
        peer.unflushed_blobs.push((scope.clone(), blob));
        let sessions: Vec<&mut Session> = match node {
            Some(index) => self.links[index].node_session.iter_mut().collect(),
            None => self
                .links
                .iter_mut()
                .filter_map(|link| link.relay_session.as_mut())
                .collect(),
        };
        let store = match node {
            Some(index) => &self.nodes[index].store,
            None => &self.relay.store,
        };
        for session in sessions {
            session.handle_local_blob(store, scope, &blob);
        }
    }

    fn notify_local_change(&mut self, node: Option<usize>, doc: &DocId) {
        match node {
            Some(index) => {
                if let Some(session) = self.links[index].node_session.as_mut() {
                    session.handle_local_change(doc);
                }
            }
            None => {
                for link in &mut self.links {
                    if let Some(session) = link.relay_session.as_mut() {
                        session.handle_local_change(doc);
                    }
                }
            }
        }
    }

    fn crash_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.store.crash_and_restart();
        node.incarnation += 1;
        node.unflushed_edits.clear();
        node.unflushed_blobs.clear();
        self.disconnect(index);
        self.report.crashes += 1;
    }

    fn crash_relay(&mut self) {
        self.relay.store.crash_and_restart();
        self.relay.incarnation += 1;
        self.relay.unflushed_edits.clear();
        self.relay.unflushed_blobs.clear();
        for index in 0..self.links.len() {
            self.disconnect(index);
        }
        self.report.crashes += 1;
    }

    fn disconnect(&mut self, index: usize) {
        let link = &mut self.links[index];
        link.node_session = None;
        link.relay_session = None;
        link.to_node.clear();
        link.to_relay.clear();
        link.reconnect_at = self.now + RECONNECT_DELAY_MILLIS;
    }

    fn connect(&mut self, index: usize) {
        let node_config = SessionConfig {
            heartbeat_interval_millis: HEARTBEAT_MILLIS,
            request_retry_millis: 3 * HEARTBEAT_MILLIS,
            ..SessionConfig::new(
                node_id(index),
                self.relay.id.clone(),
                node_send_scopes(index),
                node_receive_scopes(index),
            )
        };
        let relay_config = SessionConfig {
            heartbeat_interval_millis: HEARTBEAT_MILLIS,
            request_retry_millis: 3 * HEARTBEAT_MILLIS,
            ..SessionConfig::new(
                self.relay.id.clone(),
                node_id(index),
                node_receive_scopes(index),
                node_send_scopes(index),
            )
        };
        let node_session = Session::new(node_config, &self.nodes[index].store, self.now);
        let relay_session = Session::new(relay_config, &self.relay.store, self.now);
        let link = &mut self.links[index];
        link.node_session = Some(node_session);
        link.relay_session = Some(relay_session);
        self.report.sessions_started += 1;
    }

    /// One step of simulated time: timers, deliveries, outputs, flushes.
    fn step(&mut self, faulty: bool) {
        self.now += STEP_MILLIS;
        for index in 0..self.links.len() {
            let link = &self.links[index];
            if link.up && link.node_session.is_none() && self.now >= link.reconnect_at {
                self.connect(index);
            }
        }
        for index in 0..self.links.len() {
            self.deliver(index);
            self.run_timers(index);
        }
        self.flush_stores();
        for index in 0..self.links.len() {
            self.transmit(index, faulty);
            self.drain_events(index);
        }
    }

    fn deliver(&mut self, index: usize) {
        let now = self.now;
        let link = &mut self.links[index];
        let mut due_to_node: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        let mut due_to_relay: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        link.to_node.retain(|frame| {
            if frame.0 <= now {
                due_to_node.push(frame.clone());
                false
            } else {
                true
            }
        });
        link.to_relay.retain(|frame| {
            if frame.0 <= now {
                due_to_relay.push(frame.clone());
                false
            } else {
                true
            }
        });
        due_to_node.sort_by_key(|(at, order, _)| (*at, *order));
        due_to_relay.sort_by_key(|(at, order, _)| (*at, *order));
        for (_, _, frame) in due_to_node {
            if let Some(session) = self.links[index].node_session.as_mut() {
                deliver_frame(session, &mut self.nodes[index].store, &frame, now);
            }
        }
        for (_, _, frame) in due_to_relay {
            if let Some(session) = self.links[index].relay_session.as_mut() {
                deliver_frame(session, &mut self.relay.store, &frame, now);
            }
        }
    }

    fn run_timers(&mut self, index: usize) {
        let now = self.now;
        let link = &mut self.links[index];
        if let Some(session) = link.node_session.as_mut()
            && session
                .poll_timeout()
                .is_some_and(|deadline| deadline <= now)
        {
            session.handle_timeout(&mut self.nodes[index].store, now);
        }
        if let Some(session) = link.relay_session.as_mut()
            && session
                .poll_timeout()
                .is_some_and(|deadline| deadline <= now)
        {
            session.handle_timeout(&mut self.relay.store, now);
        }
    }

    /// Group commit: each store flushes once per step, and only then are acknowledgements released.
    fn flush_stores(&mut self) {
        for index in 0..self.nodes.len() {
            let node = &mut self.nodes[index];
            if node.store.flush().is_ok() {
                self.acknowledged_edits.append(&mut node.unflushed_edits);
                self.acknowledged_blobs.append(&mut node.unflushed_blobs);
                if let Some(session) = self.links[index].node_session.as_mut() {
                    session.handle_durable(&mut node.store);
                }
            }
        }
        if self.relay.store.flush().is_ok() {
            self.acknowledged_edits
                .append(&mut self.relay.unflushed_edits);
            self.acknowledged_blobs
                .append(&mut self.relay.unflushed_blobs);
            for link in &mut self.links {
                if let Some(session) = link.relay_session.as_mut() {
                    session.handle_durable(&mut self.relay.store);
                }
            }
        }
    }

    fn transmit(&mut self, index: usize, faulty: bool) {
        let now = self.now;
        let mut outgoing_to_relay = Vec::new();
        let mut outgoing_to_node = Vec::new();
        {
            let link = &mut self.links[index];
            if let Some(session) = link.node_session.as_mut() {
                while let Some(frame) = session.poll_transmit(&mut self.nodes[index].store) {
                    outgoing_to_relay.push(frame);
                }
            }
            if let Some(session) = link.relay_session.as_mut() {
                while let Some(frame) = session.poll_transmit(&mut self.relay.store) {
                    outgoing_to_node.push(frame);
                }
            }
        }
        for frame in outgoing_to_relay {
            self.put_on_wire(index, frame, true, faulty, now);
        }
        for frame in outgoing_to_node {
            self.put_on_wire(index, frame, false, faulty, now);
        }
    }

    fn put_on_wire(
        &mut self,
        index: usize,
        frame: Vec<u8>,
        to_relay: bool,
        faulty: bool,
        now: u64,
    ) {
        self.report.frames_sent += 1;
        if !self.links[index].up || (faulty && self.rng.random_bool(self.config.loss_probability)) {
            self.report.frames_lost += 1;
            return;
        }
        let copies = if faulty && self.rng.random_bool(self.config.duplicate_probability) {
            self.report.frames_duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if faulty {
                self.rng.random_range(0..=self.config.reorder_jitter_millis)
            } else {
                0
            };
            self.send_order += 1;
            let entry = (
                now + BASE_LATENCY_MILLIS + jitter,
                self.send_order,
                frame.clone(),
            );
            let link = &mut self.links[index];
            if to_relay {
                link.to_relay.push(entry);
            } else {
                link.to_node.push(entry);
            }
        }
    }

    fn drain_events(&mut self, index: usize) {
        let mut closed = false;
        if let Some(session) = self.links[index].node_session.as_mut() {
            while let Some(event) = session.poll_event() {
                closed |= matches!(event, Event::Closed { .. });
            }
        }
        let mut relay_updates = BTreeSet::new();
        let mut relay_blobs = Vec::new();
        if let Some(session) = self.links[index].relay_session.as_mut() {
            while let Some(event) = session.poll_event() {
                match event {
                    Event::Closed { .. } => closed = true,
                    Event::DocumentUpdated { doc, .. } => {
                        relay_updates.insert(doc);
                    }
                    Event::BlobStored { scope, blob } => relay_blobs.push((scope, blob)),
                    _ => {}
                }
            }
        }
        // The relay routes what one node sent to every other connected node of those scopes.
        for (other, link) in self.links.iter_mut().enumerate() {
            if other == index {
                continue;
            }
            if let Some(session) = link.relay_session.as_mut() {
                for doc in &relay_updates {
                    session.handle_local_change(doc);
                }
                for (scope, blob) in &relay_blobs {
                    session.handle_local_blob(&self.relay.store, scope, blob);
                }
            }
        }
        if closed {
            self.disconnect(index);
        }
    }
}

fn deliver_frame(session: &mut Session, store: &mut MemoryStore, frame: &[u8], now: u64) {
    // Frames on a simulated link are whole, so the payload is everything after the length prefix.
    let payload = frame.get(FRAME_HEADER_BYTES..).unwrap_or_default();
    session.handle_payload(store, payload, now);
}

/// Which seeds a test runs: `DIGIONE_SIM_SEED` replays one, `DIGIONE_SIM_CASES` sets how many.
pub fn seeds_from_env(default_cases: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("DIGIONE_SIM_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
    {
        return vec![seed];
    }
    let cases = std::env::var("DIGIONE_SIM_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default_cases);
    let first = std::env::var("DIGIONE_SIM_FIRST_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1);
    (first..first + cases).collect()
}

/// Two peers with a perfect link, stepped in lockstep rounds: in each round every frame either side
/// has queued is delivered to the other. The benchmarks and session tests measure with it.
#[derive(Debug)]
pub struct Pair {
    pub node_store: MemoryStore,
    pub relay_store: MemoryStore,
    pub node: Session,
    pub relay: Session,
    node_config: SessionConfig,
    relay_config: SessionConfig,
}

/// What one [`Pair::run_until_idle`] cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairTraffic {
    pub bytes_node_to_relay: u64,
    pub bytes_relay_to_node: u64,
    pub frames: u64,
    /// Rounds in which anything was delivered. Both sides send in the same round, so one round is
    /// one one-way trip and two rounds make one round trip.
    pub rounds: u64,
}

impl PairTraffic {
    pub fn bytes(&self) -> u64 {
        self.bytes_node_to_relay + self.bytes_relay_to_node
    }

    pub fn round_trips(&self) -> u64 {
        self.rounds.div_ceil(2)
    }
}

/// The most rounds [`Pair::run_until_idle`] runs before it reports the pair as stuck.
pub const MAX_PAIR_ROUNDS: u64 = 100_000;

impl Pair {
    /// A node that sends `node_send` and receives `node_receive`, and the relay with the mirror image.
    pub fn new(
        node_store: MemoryStore,
        relay_store: MemoryStore,
        node_send: Vec<Scope>,
        node_receive: Vec<Scope>,
    ) -> Self {
        let node_id: NodeId = "node-a".parse().unwrap_or_else(|_| unreachable!("valid"));
        let relay_id: NodeId = "relay".parse().unwrap_or_else(|_| unreachable!("valid"));
        let node_config = SessionConfig::new(
            node_id.clone(),
            relay_id.clone(),
            node_send.clone(),
            node_receive.clone(),
        );
        let relay_config = SessionConfig::new(relay_id, node_id, node_receive, node_send);
        let node = Session::new(node_config.clone(), &node_store, 0);
        let relay = Session::new(relay_config.clone(), &relay_store, 0);
        Self {
            node_store,
            relay_store,
            node,
            relay,
            node_config,
            relay_config,
        }
    }

    /// Starts a new session on both sides, as after a reconnect; the stores keep what they have.
    pub fn reconnect(&mut self) {
        self.node = Session::new(self.node_config.clone(), &self.node_store, 0);
        self.relay = Session::new(self.relay_config.clone(), &self.relay_store, 0);
    }

    /// Delivers rounds until neither side has anything to send.
    pub fn run_until_idle(&mut self) -> Result<PairTraffic, String> {
        let mut traffic = PairTraffic::default();
        for _ in 0..MAX_PAIR_ROUNDS {
            let to_relay = drain(&mut self.node, &mut self.node_store);
            let to_node = drain(&mut self.relay, &mut self.relay_store);
            if to_relay.is_empty() && to_node.is_empty() {
                return Ok(traffic);
            }
            traffic.rounds += 1;
            for frame in &to_relay {
                traffic.frames += 1;
                traffic.bytes_node_to_relay += frame.len() as u64;
                deliver_frame(&mut self.relay, &mut self.relay_store, frame, 0);
            }
            for frame in &to_node {
                traffic.frames += 1;
                traffic.bytes_relay_to_node += frame.len() as u64;
                deliver_frame(&mut self.node, &mut self.node_store, frame, 0);
            }
            for (session, store) in [
                (&mut self.node, &mut self.node_store),
                (&mut self.relay, &mut self.relay_store),
            ] {
                store.flush().map_err(|error| error.to_string())?;
                session.handle_durable(store);
                while let Some(event) = session.poll_event() {
                    if let Event::Closed { reason } = event {
                        return Err(format!("session closed: {reason:?}"));
                    }
                }
            }
        }
        Err(format!("no quiet after {MAX_PAIR_ROUNDS} rounds"))
    }
}

fn drain(session: &mut Session, store: &mut MemoryStore) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| session.poll_transmit(store)).collect()
}
