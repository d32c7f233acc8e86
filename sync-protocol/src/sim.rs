//! A deterministic in-memory simulator of one relay and N school nodes.
//!
//! Everything a fault schedule needs comes from one seed: which frames are lost, duplicated or
//! delayed past later ones (reordering), when links are cut and healed, when a peer crashes and
//! restarts from what its store had made durable, and what pupils, teachers and operators edit. The
//! simulator drives the real [`Session`] state machines over [`MemoryStore`]s in simulated
//! milliseconds, so a failing seed replays exactly.
//!
//! The clock skips from one event to the next instead of ticking: each step jumps to the earliest of
//! every session's [`Session::poll_timeout`], the next frame delivery, the next scheduled action
//! (an edit, a link cut or heal, a crash or restart, the start or end of a lossy period) and the next
//! reconnection. A quiet night costs a few heartbeats, not millions of ticks, so a run can cover
//! simulated days; its work is proportional to what happens, and [`MAX_STEPS_PER_RUN`] bounds it.
//!
//! A run has two phases: `fault_millis` of edits under faults, then a healing phase with a clean
//! network in which everything must converge. [`Simulation::check`] then asserts the invariants:
//! every replica of every document has the same heads, and every acknowledged edit and blob is at
//! every replica whose scopes include it.
//!
//! Two scenarios come ready-made: [`SimConfig::with_faults`], twenty seconds of dense edits under
//! constant faults, and [`SimConfig::school_days`], a school week of lessons with day-long outages,
//! relay partitions, crashes of nodes and of the relay, and lossy periods.
//!
//! Both also have faults in which a replica's store goes back in time: a node's disk is lost and the
//! node is rebuilt empty under its old identity (a new epoch), a node is restored from an older
//! snapshot of its own durable state, and the relay is restored from one of its snapshots (both with
//! the epoch the snapshot had, as a restored backup would). Writes that only the replaced store held
//! durably are gone with it, and no protocol could bring them back; so at each replacement the
//! simulator drops exactly those from its ledger of acknowledged writes, counts them in the report
//! (`edits_lost_with_store`, `blobs_lost_with_store`), and still demands every other acknowledged
//! write at every replica of its scope at the end.
//!
//! A run that cannot converge fails as soon as that is plain rather than at [`MAX_STEPS_PER_RUN`]:
//! when sessions keep exchanging frames that make no replica store anything
//! ([`MOST_FRAMES_WITHOUT_PROGRESS`]), or when healing has stored nothing for
//! [`HEAL_STALL_HEARTBEAT_INTERVALS`] heartbeat intervals while digests still differ. Either way the
//! failure names the seed, the scope and the two replicas that differ, and what is in flight.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::{ActorId, Automerge, ChangeHash, ROOT, transaction::Transactable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::ids::{BlobId, DocId, MunicipalityCode, NodeId, SchoolCode, Scope};
use crate::memory::MemoryStore;
use crate::session::{Event, Session, SessionConfig};
use crate::store::{LogItem, ReplicaStore};
use crate::wire::FRAME_HEADER_BYTES;

/// The most steps (distinct instants of simulated time at which something happened) one run may
/// take, both phases together. A run that reaches it stops and fails its check: either the clock
/// stopped skipping (a timer that keeps firing without moving its deadline) or the scenario is far
/// larger than any the tests use. A school week of the `school_days` scenario takes about 150 000.
pub const MAX_STEPS_PER_RUN: u64 = 5_000_000;

/// The most scheduled actions (edits, blobs, cuts, heals, crashes, restarts, lossy periods) one run
/// may plan. The schedule is made whole before the run starts, so this bounds its memory.
pub const MAX_SCHEDULED_ACTIONS: usize = 200_000;

/// Simulated milliseconds in an hour and in a day, for scenarios measured in school days.
pub const HOUR_MILLIS: u64 = 60 * 60 * 1_000;
pub const DAY_MILLIS: u64 = 24 * HOUR_MILLIS;

/// Lessons happen between these hours of a weekday; day 0 of a run is a Monday starting at midnight.
const SCHOOL_DAY_START_HOUR: u64 = 8;
const SCHOOL_DAY_END_HOUR: u64 = 15;
const SCHOOL_DAYS_PER_WEEK: u64 = 5;
const DAYS_PER_WEEK: u64 = 7;

/// How many snapshots of its durable state each replica keeps for a later restore; a new one pushes
/// out the oldest, as a backup rotation would, so that a long run holds a bounded number of copies.
pub const MAX_SNAPSHOTS_KEPT_PER_REPLICA: usize = 3;

/// Mixed into the seed for the generator that plans and carries out the faults in which a store goes
/// back in time. A generator of their own leaves every other decision of a seed (the workload, the
/// cuts, the crashes, which frames are lost) as it would be without them, so a failing seed can be
/// compared with the same seed with those faults turned off.
const STORE_FAULT_SEED_SALT: u64 = 0x5354_4f52_4546_4c54;

/// Healing ends early, as not converged, when the replicas still differ and no replica has stored
/// anything for this many heartbeat intervals. Anti-entropy notices a difference within one interval
/// and a full resync within a few more (a request is retried after three), so an engine that can
/// repair a difference has long started to by then; one that cannot would otherwise spend the rest
/// of `max_heal_millis` exchanging heartbeats.
pub const HEAL_STALL_HEARTBEAT_INTERVALS: u64 = 20;

/// A run stops, as failed, when this many frames other than heartbeats have been delivered since
/// any replica last stored anything (a document change, a whole blob, or bytes of one). Every
/// such frame of a working engine leads to a write within a few round trips, or is one of the few
/// requests and offers that find nothing to do after a reconnect; fifty thousand in a row is two
/// sessions answering each other for ever, which the clock would otherwise follow millisecond by
/// millisecond until [`MAX_STEPS_PER_RUN`].
pub const MOST_FRAMES_WITHOUT_PROGRESS: u64 = 50_000;

/// The message tag of a `Heartbeat` (`PROTOCOL.md`, section 6.9): heartbeats flow whether or not
/// anything needs repair, so they do not count towards [`MOST_FRAMES_WITHOUT_PROGRESS`].
const HEARTBEAT_TAG: u8 = 8;

/// Message names by tag (`PROTOCOL.md`, section 6), for describing what a stuck link exchanges.
const MESSAGE_NAMES: [&str; 13] = [
    "Hello",
    "SyncRequest",
    "Offer",
    "Changes",
    "Heads",
    "BlobRequest",
    "BlobChunk",
    "BlobAck",
    "Heartbeat",
    "Error",
    "Ack",
    "Documents",
    "DocumentsAck",
];

/// The most broken invariants one run records; the first few say what went wrong.
const MAX_PROBLEMS_REPORTED: usize = 5;

const BASE_LATENCY_MILLIS: u64 = 5;
const RECONNECT_DELAY_MILLIS: u64 = 500;
const DOCS_PER_SCOPE: usize = 3;
/// Municipality codes the schools are spread over, in order: Vantaa, Helsinki, Espoo, Turku.
const MUNICIPALITY_CODES: [&str; 4] = ["092", "091", "049", "853"];

/// The fault schedule and workload of one simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// How many municipalities the schools belong to, at most four: the nodes are split into that
    /// many consecutive groups, each sharing one municipality scope.
    pub municipalities: usize,
    /// How long edits and faults go on, in simulated milliseconds.
    pub fault_millis: u64,
    /// The longest the healing phase may take before the run counts as not converging.
    pub max_heal_millis: u64,
    /// The sessions' heartbeat interval; a sync request is retried after three of them.
    pub heartbeat_interval_millis: u64,
    /// What a lossy period does to each frame.
    pub network_faults: NetworkFaults,
    pub lossy_periods: LossyPeriods,
    /// Each school's own link to the relay is cut now and then, for a time drawn from the range.
    pub link_cuts: Vec<Occurrences>,
    /// Times a randomly chosen school is cut off from the start of a school day until the next
    /// morning: a school day offline, guaranteed rather than left to chance.
    pub whole_day_outages: usize,
    /// The relay is cut off from several schools at once (a network fault at the data centre).
    pub relay_partitions: Occurrences,
    /// At most this many schools are behind one relay partition.
    pub relay_partition_most_nodes: usize,
    /// Per node: each crash loses the unflushed writes; the node is down for a time from the range.
    pub node_crashes: Occurrences,
    /// The relay's crashes, with the same meaning.
    pub relay_crashes: Occurrences,
    /// Per node: its disk is lost and it is rebuilt with an empty store under its old identity (the
    /// same node id and scopes, a new epoch); it is down for a time from the range while rebuilt.
    pub node_disk_losses: Occurrences,
    /// Per node: its store is replaced by one of its own earlier snapshots, with the snapshot's
    /// epoch; it is down for a time from the range while restored. Each restore also plans a
    /// snapshot of that node at a random earlier moment, so there is always one to restore.
    pub node_snapshot_restores: Occurrences,
    /// The relay restored from one of its earlier snapshots in the same way; every relay session
    /// starts again when it is back.
    pub relay_snapshot_restores: Occurrences,
    /// How often each replica's durable state is copied, at random moments, as a backup would be;
    /// the newest [`MAX_SNAPSHOTS_KEPT_PER_REPLICA`] are kept.
    pub snapshots_per_replica_per_hour: f64,
    /// Store faults at fixed moments, besides the random ones: for tests that need one to happen.
    pub planned_store_faults: Vec<PlannedStoreFault>,
    pub workload: Workload,
    /// The largest file a pupil or teacher uploads; every replica of its scope keeps a copy.
    pub max_blob_bytes: usize,
}

/// How a lossy period treats each frame.
#[derive(Debug, Clone, Copy)]
pub struct NetworkFaults {
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// Extra random delay that lets later frames overtake earlier ones, in milliseconds.
    pub reorder_jitter_millis: u64,
}

/// When frames suffer [`NetworkFaults`].
#[derive(Debug, Clone, Copy)]
pub enum LossyPeriods {
    /// Throughout the fault phase.
    Always,
    /// In periods that start at random and last a time from the range.
    Sometimes(Occurrences),
}

/// Something that happens at random moments at a steady average rate (a Poisson process), and lasts
/// a time drawn uniformly from `shortest_millis..=longest_millis` (zero for an instant restart).
#[derive(Debug, Clone, Copy)]
pub struct Occurrences {
    pub per_hour: f64,
    pub shortest_millis: u64,
    pub longest_millis: u64,
}

impl Occurrences {
    pub const NEVER: Self = Self {
        per_hour: 0.0,
        shortest_millis: 0,
        longest_millis: 0,
    };
}

/// A fault in which a replica's store goes back in time, at a moment chosen by the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedStoreFault {
    pub at_millis: u64,
    pub kind: StoreFault,
    /// How long the replica is down while it is rebuilt or restored; its sessions start again after.
    pub down_millis: u64,
}

/// Which store goes back in time, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// The node's disk is lost; it comes back with an empty store and a new epoch under its old id.
    NodeDiskLost { node: usize },
    /// A snapshot of the node's durable state is taken at `snapshot_at_millis` (before the fault)
    /// and the node's store is later replaced by one of its kept snapshots, epoch and all.
    NodeRestoredFromSnapshot {
        node: usize,
        snapshot_at_millis: u64,
    },
    /// The same for the relay.
    RelayRestoredFromSnapshot { snapshot_at_millis: u64 },
}

/// What pupils, teachers and operators edit and upload.
#[derive(Debug, Clone, Copy)]
pub enum Workload {
    /// Edits and uploads at steady rates throughout the fault phase.
    Steady {
        edits_per_node_per_hour: f64,
        blobs_per_node_per_hour: f64,
        /// National documents edited on the relay by an operator.
        operator_edits_per_hour: f64,
    },
    /// Lessons: on weekdays between 08:00 and 15:00, each school has bursts of edits (a class
    /// handing in work, a teacher marking), sometimes with a file; operators write municipal and
    /// national announcements in the same hours.
    SchoolDays {
        bursts_per_node_per_school_day: u32,
        fewest_edits_per_burst: u32,
        most_edits_per_burst: u32,
        /// The average time between two edits of one burst.
        mean_edit_gap_millis: u64,
        blob_probability_per_burst: f64,
        operator_edits_per_school_day: u32,
    },
}

impl SimConfig {
    /// Twenty seconds of dense edits and uploads under constant loss, duplication and reordering,
    /// with cut links and crashes, sized for CI.
    pub fn with_faults(seed: u64) -> Self {
        Self {
            seed,
            nodes: 5,
            municipalities: 1,
            fault_millis: 20_000,
            max_heal_millis: 120_000,
            heartbeat_interval_millis: 1_000,
            network_faults: NetworkFaults {
                loss_probability: 0.05,
                duplicate_probability: 0.05,
                reorder_jitter_millis: 40,
            },
            lossy_periods: LossyPeriods::Always,
            link_cuts: vec![Occurrences {
                per_hour: 0.05 * 3_600.0,
                shortest_millis: 500,
                longest_millis: 8_000,
            }],
            whole_day_outages: 0,
            relay_partitions: Occurrences::NEVER,
            relay_partition_most_nodes: 0,
            node_crashes: Occurrences {
                per_hour: 0.03 * 3_600.0,
                ..Occurrences::NEVER
            },
            relay_crashes: Occurrences {
                per_hour: 0.015 * 3_600.0,
                ..Occurrences::NEVER
            },
            // Each kind of store fault happens in about two runs of five, so the default eight seeds
            // of CI see every kind most of the time; the focused tests make each one certain.
            node_disk_losses: Occurrences {
                per_hour: 0.004 * 3_600.0,
                shortest_millis: 500,
                longest_millis: 3_000,
            },
            node_snapshot_restores: Occurrences {
                per_hour: 0.004 * 3_600.0,
                shortest_millis: 500,
                longest_millis: 3_000,
            },
            relay_snapshot_restores: Occurrences {
                per_hour: 0.02 * 3_600.0,
                shortest_millis: 500,
                longest_millis: 3_000,
            },
            snapshots_per_replica_per_hour: 0.1 * 3_600.0,
            planned_store_faults: Vec::new(),
            workload: Workload::Steady {
                edits_per_node_per_hour: 5.0 * 3_600.0,
                blobs_per_node_per_hour: 0.3 * 3_600.0,
                operator_edits_per_hour: 1.25 * 3_600.0,
            },
            max_blob_bytes: 600_000,
        }
    }

    /// A school week: six schools of two municipalities from Monday midnight to Friday afternoon,
    /// with lessons in bursts, a school offline for a whole day, shorter cuts, the relay
    /// partitioned from several schools for hours, crash-restarts of nodes and of the relay, and
    /// lossy periods of 10% loss, duplication and reordering.
    pub fn school_days(seed: u64) -> Self {
        Self {
            seed,
            nodes: 6,
            municipalities: 2,
            // Faults end on Friday at 16:00, so that the healing phase has outages to mend.
            fault_millis: 4 * DAY_MILLIS + 16 * HOUR_MILLIS,
            max_heal_millis: 2 * HOUR_MILLIS,
            // The longest interval the protocol allows: heartbeats are most of a week's work, and
            // the anti-entropy they carry finds the same differences at any interval.
            heartbeat_interval_millis: 30_000,
            network_faults: NetworkFaults {
                loss_probability: 0.10,
                duplicate_probability: 0.10,
                reorder_jitter_millis: 300,
            },
            lossy_periods: LossyPeriods::Sometimes(Occurrences {
                per_hour: 4.0 / 24.0,
                shortest_millis: 5 * 60_000,
                longest_millis: 2 * HOUR_MILLIS,
            }),
            link_cuts: vec![
                // A flaky school connection: minutes.
                Occurrences {
                    per_hour: 2.0 / 24.0,
                    shortest_millis: 10_000,
                    longest_millis: 30 * 60_000,
                },
                // A broken router or a cut fibre: hours to a day and a half.
                Occurrences {
                    per_hour: 0.1 / 24.0,
                    shortest_millis: 2 * HOUR_MILLIS,
                    longest_millis: 36 * HOUR_MILLIS,
                },
            ],
            whole_day_outages: 1,
            relay_partitions: Occurrences {
                per_hour: 0.5 / 24.0,
                shortest_millis: 10 * 60_000,
                longest_millis: 6 * HOUR_MILLIS,
            },
            relay_partition_most_nodes: 4,
            node_crashes: Occurrences {
                per_hour: 0.5 / 24.0,
                shortest_millis: 30_000,
                longest_millis: 20 * 60_000,
            },
            relay_crashes: Occurrences {
                per_hour: 1.0 / 24.0,
                shortest_millis: 10_000,
                longest_millis: 5 * 60_000,
            },
            // About one of each kind of store fault a week (far more than a real fleet would see),
            // so that the two weeks CI runs almost always have some. A rebuilt school server takes
            // hours to come back; a restore from a backup less.
            node_disk_losses: Occurrences {
                per_hour: 0.04 / 24.0,
                shortest_millis: 30 * 60_000,
                longest_millis: 4 * HOUR_MILLIS,
            },
            node_snapshot_restores: Occurrences {
                per_hour: 0.04 / 24.0,
                shortest_millis: 10 * 60_000,
                longest_millis: 2 * HOUR_MILLIS,
            },
            relay_snapshot_restores: Occurrences {
                per_hour: 0.2 / 24.0,
                shortest_millis: 10 * 60_000,
                longest_millis: HOUR_MILLIS,
            },
            // About a backup a day per replica, at no fixed hour.
            snapshots_per_replica_per_hour: 1.0 / 24.0,
            planned_store_faults: Vec::new(),
            workload: Workload::SchoolDays {
                bursts_per_node_per_school_day: 6,
                fewest_edits_per_burst: 3,
                most_edits_per_burst: 25,
                mean_edit_gap_millis: 20_000,
                blob_probability_per_burst: 0.3,
                operator_edits_per_school_day: 4,
            },
            max_blob_bytes: 300_000,
        }
    }
}

/// What a run did, for the test's failure message and the JSON lines of the `simulate` example.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimReport {
    pub seed: u64,
    /// Simulated time at the end of the run, both phases.
    pub simulated_millis: u64,
    pub heal_millis: u64,
    /// Whether the healing phase ended with every replica equal and nothing in flight.
    pub converged: bool,
    /// Whether healing ended early because the replicas differed and nothing had been stored for
    /// [`HEAL_STALL_HEARTBEAT_INTERVALS`] heartbeat intervals.
    pub heal_stalled: bool,
    /// Distinct instants of simulated time the clock stopped at.
    pub steps: u64,
    /// Steps at which nothing was due: zero unless the clock computes its next stop wrongly.
    pub idle_steps: u64,
    /// What the steps processed: scheduled actions run, frames delivered, session timers fired,
    /// sessions started. Every step processes at least one, so `steps <= events_processed`.
    pub events_processed: u64,
    pub actions_run: u64,
    pub timeouts_handled: u64,
    /// Flushes that copied the store's state (see `flushes_of_bookkeeping_only`).
    pub flushes: u64,
    /// Flushes asked for when only cursors and shared heads had changed; see `Peer::flush_if_waiting`.
    pub flushes_of_bookkeeping_only: u64,
    pub frames_sent: u64,
    pub frames_delivered: u64,
    /// Frames dropped by a lossy period.
    pub frames_lost: u64,
    /// Frames sent into a cut link.
    pub frames_cut: u64,
    pub frames_duplicated: u64,
    pub edits_made: usize,
    /// Every edit and blob acknowledged during the run, including those later lost with a store.
    pub edits_acknowledged: usize,
    pub blobs_acknowledged: usize,
    /// Acknowledged edits and blobs that only a replaced store held durably when it was replaced:
    /// gone with it, so dropped from the ledger the final check holds every replica to. Each of them
    /// was checked to have been in the replaced store's durable state.
    pub edits_lost_with_store: usize,
    pub blobs_lost_with_store: usize,
    /// Partly received blobs, at the end, of which no replica holds the whole any more (the only
    /// whole copy was lost with a replaced store), so that their download can never finish. They
    /// are left behind in the stores; convergence does not wait for them.
    pub partial_blobs_orphaned: usize,
    /// Edits and uploads that were due at a node (or at the relay) while it was down.
    pub writes_skipped_while_down: usize,
    pub node_crashes: usize,
    pub relay_crashes: usize,
    /// Store faults that happened (a fault planned after the end of the fault phase does not).
    pub node_disk_losses: usize,
    pub node_snapshot_restores: usize,
    pub relay_snapshot_restores: usize,
    /// Snapshots of a replica's durable state taken, of which each replica keeps the newest few.
    pub snapshots_taken: usize,
    /// How far back in time the restores went: the ages of the restored snapshots, summed.
    pub restored_snapshots_age_millis: u64,
    /// National changes the operators wrote again into a relay restored from a snapshot, since no
    /// node may send them back; see `Simulation::operators_write_national_documents_again`.
    pub operator_changes_written_again: usize,
    pub partitions: usize,
    pub relay_partitions: usize,
    pub lossy_periods: usize,
    pub sessions_started: u64,
}

/// Who makes an edit or uploads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    Node(usize),
    /// An operator, on the relay.
    Operator,
}

/// Something the schedule makes happen at a planned moment.
#[derive(Debug, Clone)]
enum Action {
    Edit {
        writer: Writer,
        scope: Scope,
    },
    Blob {
        writer: Writer,
        scope: Scope,
    },
    /// Cuts take effect by counting, so overlapping cuts of one link heal only when all have ended.
    CutLink(usize),
    HealLink(usize),
    CrashNode(usize),
    RestartNode(usize),
    CrashRelay,
    RestartRelay,
    /// A copy of the replica's durable state is kept for a later restore.
    SnapshotNode(usize),
    SnapshotRelay,
    /// The replica's store is replaced and the replica stays down until its planned restart.
    LoseNodeDisk(usize),
    RestoreNodeFromSnapshot(usize),
    RestoreRelayFromSnapshot,
    StartLossyPeriod,
    EndLossyPeriod,
}

/// The planned actions of a run, by time and then by the order in which they were planned.
type Schedule = BTreeMap<(u64, u64), Action>;

/// Frames in flight on one direction of a link, by delivery time and then by order of sending.
type InFlight = BTreeMap<(u64, u64), Vec<u8>>;

struct Peer {
    id: NodeId,
    store: MemoryStore,
    /// Crashed and not yet restarted: it neither edits nor connects.
    down: bool,
    /// Bumped at every restart: each process start writes with a fresh automerge actor, so that a
    /// change lost in a crash can never collide with a new change of the same sequence number.
    incarnation: u64,
    /// Local edits and blobs written but not yet flushed: acknowledged at the next flush.
    unflushed_edits: Vec<(DocId, ChangeHash)>,
    unflushed_blobs: Vec<(Scope, BlobId)>,
    /// The store's [`content_stamp`] at its last flush.
    flushed_stamp: Vec<u64>,
    /// Copies of the store's durable state taken earlier, oldest first, at most
    /// [`MAX_SNAPSHOTS_KEPT_PER_REPLICA`].
    snapshots: VecDeque<Snapshot>,
}

/// A copy of a replica's durable state, as a backup taken at `taken_at_millis` would hold it.
#[derive(Debug)]
struct Snapshot {
    taken_at_millis: u64,
    store: MemoryStore,
}

/// One of the replicas whose store a fault can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replica {
    Node(usize),
    Relay,
}

impl Peer {
    fn new(id: NodeId, epoch: u64) -> Self {
        Self {
            id,
            store: MemoryStore::with_crash_model(epoch),
            down: false,
            incarnation: 0,
            unflushed_edits: Vec::new(),
            unflushed_blobs: Vec::new(),
            flushed_stamp: Vec::new(),
            snapshots: VecDeque::new(),
        }
    }

    fn has_unflushed_writes(&self) -> bool {
        !self.unflushed_edits.is_empty() || !self.unflushed_blobs.is_empty()
    }

    /// Flushes the store if anything waits for it, and returns whether it did; the caller then tells
    /// the sessions on this store that their writes are durable.
    ///
    /// A flush of the crash-modelling store copies its whole state, and heartbeats alone ask for
    /// one every few seconds on every connection (each matching digest moves a cursor), which over
    /// simulated days would cost more than everything else together. So the copy is made only when
    /// the documents or blobs changed since the last one ([`content_stamp`]); otherwise the only
    /// writes waiting are a session's own bookkeeping (cursors, shared heads) about content that is
    /// already durable. Those become durable with the next copy, and a crash before it loses them,
    /// which costs a larger offer or push after the restart, never data: the session says as much of
    /// its cursor writes. Every crash still loses a suffix of the writes, as a real store's would.
    fn flush_if_waiting(
        &mut self,
        sessions_waiting: bool,
        fleet_scopes: &[Scope],
        report: &mut SimReport,
    ) -> bool {
        if self.down || !(sessions_waiting || self.has_unflushed_writes()) {
            return false;
        }
        let stamp = content_stamp(&self.store, fleet_scopes);
        if stamp != self.flushed_stamp || self.has_unflushed_writes() {
            if self.store.flush().is_err() {
                return false;
            }
            self.flushed_stamp = stamp;
            report.flushes += 1;
        } else {
            report.flushes_of_bookkeeping_only += 1;
        }
        true
    }
}

/// What a flush must make durable, in brief: where each scope's change log ends, and how many blobs
/// are half received. Every write of a document or of a whole blob moves the end of its scope's log.
fn content_stamp(store: &MemoryStore, fleet_scopes: &[Scope]) -> Vec<u64> {
    fleet_scopes
        .iter()
        .map(|scope| {
            store
                .scope_summary(scope)
                .map_or(u64::MAX, |summary| summary.log_head)
        })
        .chain([store.blob_count_partial() as u64])
        .collect()
}

struct Link {
    /// How many cuts are in force; the link carries frames only at zero.
    cuts_in_force: u32,
    to_relay: InFlight,
    to_node: InFlight,
    /// The two ends of the current connection, if any.
    node_session: Option<Session>,
    relay_session: Option<Session>,
    reconnect_at: u64,
}

impl Link {
    fn is_up(&self) -> bool {
        self.cuts_in_force == 0
    }

    fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.node_session.iter().chain(self.relay_session.iter())
    }
}

/// True when a session has something to do at once: frames or work queued, or writes to flush.
fn session_has_pending_work(session: &Session) -> bool {
    !session.is_closed() && (!session.is_idle() || session.needs_flush())
}

/// See the module documentation.
pub struct Simulation {
    config: SimConfig,
    rng: StdRng,
    /// Plans and carries out the faults in which a store goes back in time; see
    /// [`STORE_FAULT_SEED_SALT`].
    store_fault_rng: StdRng,
    now: u64,
    /// Grows with every planned action and every frame put on a link, so that two of them due at
    /// the same millisecond happen in the order they were planned or sent.
    order: u64,
    relay: Peer,
    nodes: Vec<Peer>,
    /// Which of [`MUNICIPALITY_CODES`] each node's school belongs to.
    municipality_of_node: Vec<usize>,
    /// Every scope of the fleet: each school's, each municipality's, and the national one.
    fleet_scopes: Vec<Scope>,
    links: Vec<Link>,
    schedule: Schedule,
    /// How many lossy periods are in force; frames suffer faults while it is above zero.
    lossy_periods_in_force: u32,
    /// The ledger: every acknowledged edit and blob that must be at every replica of its scope at
    /// the end, less those lost with a replaced store (see [`Self::replace_store`]).
    acknowledged_edits: Vec<(DocId, ChangeHash)>,
    acknowledged_blobs: Vec<(Scope, BlobId)>,
    /// Why the run could not be planned or had to stop; [`Self::check`] reports it.
    aborted: Option<String>,
    /// Invariants found broken during the run (an acknowledged write that no replica held durably
    /// any more); [`Self::check`] reports them.
    problems: Vec<String>,
    progress_watch: ProgressWatch,
    report: SimReport,
}

/// What was delivered since any replica last stored anything; see [`MOST_FRAMES_WITHOUT_PROGRESS`].
#[derive(Debug, Default)]
struct ProgressWatch {
    /// [`Simulation::progress_stamp`] when it last changed, and when that was.
    stamp: Vec<u64>,
    since_millis: u64,
    frames: u64,
    /// The same frames by link (node index) and message tag.
    frames_by_link_and_tag: BTreeMap<(usize, u8), u64>,
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

fn snapshot_action(replica: Replica) -> Action {
    match replica {
        Replica::Node(index) => Action::SnapshotNode(index),
        Replica::Relay => Action::SnapshotRelay,
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

fn municipality_scope(municipality: usize) -> Scope {
    let code: MunicipalityCode = MUNICIPALITY_CODES[municipality % MUNICIPALITY_CODES.len()]
        .parse()
        .unwrap_or_else(|_| unreachable!("three digits"));
    Scope::Municipality(code)
}

fn doc_in(scope: &Scope, number: usize) -> DocId {
    DocId::new(scope.clone(), &format!("doc-{number}"))
        .unwrap_or_else(|_| unreachable!("valid name"))
}

impl Simulation {
    pub fn new(config: SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let store_fault_rng = StdRng::seed_from_u64(config.seed ^ STORE_FAULT_SEED_SALT);
        let relay = Peer::new(
            "relay".parse().unwrap_or_else(|_| unreachable!("valid")),
            rng.random(),
        );
        let nodes = (0..config.nodes)
            .map(|index| Peer::new(node_id(index), rng.random()))
            .collect();
        let municipalities = config.municipalities.clamp(1, MUNICIPALITY_CODES.len());
        let municipality_of_node: Vec<usize> = (0..config.nodes)
            .map(|index| index * municipalities / config.nodes.max(1))
            .collect();
        let fleet_scopes = (0..config.nodes)
            .map(school_scope)
            .chain((0..municipalities).map(municipality_scope))
            .chain([Scope::National])
            .collect();
        let links = (0..config.nodes)
            .map(|_| Link {
                cuts_in_force: 0,
                to_relay: InFlight::new(),
                to_node: InFlight::new(),
                node_session: None,
                relay_session: None,
                reconnect_at: 0,
            })
            .collect();
        let mut simulation = Self {
            report: SimReport {
                seed: config.seed,
                ..SimReport::default()
            },
            rng,
            store_fault_rng,
            now: 0,
            order: 0,
            relay,
            nodes,
            municipality_of_node,
            fleet_scopes,
            links,
            schedule: Schedule::new(),
            lossy_periods_in_force: u32::from(matches!(config.lossy_periods, LossyPeriods::Always)),
            acknowledged_edits: Vec::new(),
            acknowledged_blobs: Vec::new(),
            aborted: None,
            problems: Vec::new(),
            progress_watch: ProgressWatch::default(),
            config,
        };
        if let Err(problem) = simulation.plan() {
            simulation.aborted = Some(problem);
        }
        simulation
    }

    /// Runs both phases and returns what happened; call [`Self::check`] afterwards.
    pub fn run(&mut self) -> SimReport {
        if self.aborted.is_none() {
            self.run_phases();
        }
        self.report.simulated_millis = self.now;
        self.report.edits_acknowledged =
            self.acknowledged_edits.len() + self.report.edits_lost_with_store;
        self.report.blobs_acknowledged =
            self.acknowledged_blobs.len() + self.report.blobs_lost_with_store;
        self.report.events_processed = self.events_so_far();
        self.report.partial_blobs_orphaned = self.orphaned_partial_blobs();
        self.report.clone()
    }

    fn run_phases(&mut self) {
        let fault_end = self.config.fault_millis;
        while let Some(next) = self.next_wakeup() {
            if next >= fault_end {
                break;
            }
            if !self.step(next) {
                return;
            }
        }
        self.now = self.now.max(fault_end);
        self.begin_healing();
        let heal_started = self.now;
        let heal_deadline = heal_started + self.config.max_heal_millis;
        let stall_millis = HEAL_STALL_HEARTBEAT_INTERVALS * self.config.heartbeat_interval_millis;
        let mut last_progress = (self.progress_stamp(), self.now);
        loop {
            if self.converged() {
                self.report.converged = true;
                break;
            }
            let stamp = self.progress_stamp();
            if stamp != last_progress.0 {
                last_progress = (stamp, self.now);
            } else if self.now - last_progress.1 >= stall_millis && !self.digests_equal() {
                // Nothing was written anywhere for many heartbeat intervals and the replicas still
                // differ: the sessions have stopped repairing it, and waiting for the deadline would
                // only spend time on heartbeats (or on frames that change nothing).
                self.report.heal_stalled = true;
                break;
            }
            match self.next_wakeup() {
                Some(next) if next <= heal_deadline => {
                    if !self.step(next) {
                        return;
                    }
                }
                _ => break,
            }
        }
        self.report.heal_millis = self.now - heal_started;
    }

    /// Where every replica's change logs end and how many blob bytes it has half received: it
    /// changes whenever any replica stores anything, so healing that leaves it alone makes no
    /// progress.
    fn progress_stamp(&self) -> Vec<u64> {
        std::iter::once(&self.relay)
            .chain(&self.nodes)
            .flat_map(|peer| {
                content_stamp(&peer.store, &self.fleet_scopes)
                    .into_iter()
                    .chain([peer.store.partial_blob_bytes()])
            })
            .collect()
    }

    /// True when the relay and every node agree on the digest of every scope the node receives.
    fn digests_equal(&self) -> bool {
        self.nodes.iter().enumerate().all(|(index, node)| {
            self.node_receive_scopes(index).iter().all(|scope| {
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
    }

    /// Asserts that the run finished, broke no invariant on the way, converged (the relay and every
    /// node agree on the digest of every scope the node receives), and lost nothing acknowledged
    /// that was not lost with a replaced store; the error says what differs.
    pub fn check(&mut self) -> Result<(), String> {
        let seed = self.config.seed;
        if let Some(problem) = &self.aborted {
            return Err(format!("seed {seed}: {problem}"));
        }
        if self.report.idle_steps > 0 {
            return Err(format!(
                "seed {seed}: the clock stopped {} times at a moment when nothing was due",
                self.report.idle_steps
            ));
        }
        if !self.problems.is_empty() {
            return Err(format!("seed {seed}: {}", self.problems.join("; ")));
        }
        // The relay is connected to every node and to nothing else, so these are all the pairs of
        // connected replicas; equal digests mean equal content, and a pair that still differs after
        // healing is a replica that never got back what it lacks.
        for index in 0..self.nodes.len() {
            for scope in self.node_receive_scopes(index) {
                if let Some(difference) = self.describe_scope_difference(index, &scope)? {
                    let stalled = if self.report.heal_stalled {
                        format!(
                            " (no replica stored anything in the last \
                             {HEAL_STALL_HEARTBEAT_INTERVALS} heartbeat intervals)"
                        )
                    } else {
                        String::new()
                    };
                    return Err(format!(
                        "seed {seed}: after {} ms of healing{stalled}, {difference}",
                        self.report.heal_millis
                    ));
                }
            }
        }
        for (doc, hash) in &self.acknowledged_edits {
            for holder in self.holders_of(doc.scope()) {
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
            for holder in self.holders_of(scope) {
                if !holder.store.holds_blob_in_scope(scope, blob) {
                    return Err(format!(
                        "seed {seed}: acknowledged blob {blob} of {scope} is missing at {}",
                        holder.id
                    ));
                }
            }
        }
        if !self.report.converged {
            return Err(format!(
                "seed {seed}: the replicas hold the same content but did not settle (frames still \
                 in flight or blobs half received) within {} ms of healing",
                self.config.max_heal_millis
            ));
        }
        Ok(())
    }

    /// The relay and every node that receives `scope`: every replica that must hold its writes.
    fn holders_of<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a Peer> + 'a {
        std::iter::once(&self.relay).chain(
            self.nodes
                .iter()
                .enumerate()
                .filter(move |(index, _)| self.node_receive_scopes(*index).contains(scope))
                .map(|(_, node)| node),
        )
    }

    /// `None` when the relay's and a node's digests of `scope` are equal; otherwise what differs,
    /// naming the scope, both replicas with their epochs and digests, whether anything was still
    /// queued between them (nothing queued means the sessions believe they are in sync and will
    /// never repair it), and the documents and blobs that differ.
    fn describe_scope_difference(
        &self,
        index: usize,
        scope: &Scope,
    ) -> Result<Option<String>, String> {
        let node = &self.nodes[index];
        let relay_summary = self
            .relay
            .store
            .scope_summary(scope)
            .map_err(|error| error.to_string())?;
        let node_summary = node
            .store
            .scope_summary(scope)
            .map_err(|error| error.to_string())?;
        if relay_summary.digest == node_summary.digest {
            return Ok(None);
        }
        let mut differing = Vec::new();
        for doc in (0..DOCS_PER_SCOPE).map(|number| doc_in(scope, number)) {
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
                    "{doc}: relay {} vs node {}",
                    describe_heads(relay_heads.as_deref()),
                    describe_heads(node_heads.as_deref())
                ));
            }
        }
        let relay_blobs = blobs_in_scope(&self.relay.store, scope)?;
        let node_blobs = blobs_in_scope(&node.store, scope)?;
        let blobs_only_at_relay = relay_blobs.difference(&node_blobs).count();
        let blobs_only_at_node = node_blobs.difference(&relay_blobs).count();
        if blobs_only_at_relay + blobs_only_at_node > 0 {
            differing.push(format!(
                "{blobs_only_at_relay} blobs only at the relay, {blobs_only_at_node} only at the node"
            ));
        }
        let link = &self.links[index];
        let frames_in_flight = link.to_node.len() + link.to_relay.len();
        let queued = if frames_in_flight == 0 && !link.sessions().any(session_has_pending_work) {
            "with nothing queued or in flight between them".to_string()
        } else {
            format!(
                "with {frames_in_flight} frames in flight and sessions {}",
                if link.node_session.is_some() {
                    "connected"
                } else {
                    "not connected"
                }
            )
        };
        Ok(Some(format!(
            "scope {scope} differs between the relay (epoch {}, digest {}) and {} (epoch {}, \
             digest {}), {queued}: {}",
            self.relay.store.epoch(),
            hex_of(&relay_summary.digest.0),
            node.id,
            node.store.epoch(),
            hex_of(&node_summary.digest.0),
            differing.join("; ")
        )))
    }

    /// The scopes a node receives, as its certificate would grant them.
    fn node_receive_scopes(&self, index: usize) -> Vec<Scope> {
        vec![
            school_scope(index),
            municipality_scope(self.municipality_of_node[index]),
            Scope::National,
        ]
    }

    /// The scopes a node sends: its school's and its municipality's.
    fn node_send_scopes(&self, index: usize) -> Vec<Scope> {
        vec![
            school_scope(index),
            municipality_scope(self.municipality_of_node[index]),
        ]
    }

    fn converged(&self) -> bool {
        self.links
            .iter()
            .all(|link| link.to_node.is_empty() && link.to_relay.is_empty())
            && self.digests_equal()
            && self.nodes.iter().all(|node| {
                node.store
                    .partial_blob_ids()
                    .iter()
                    .all(|(scope, blob)| !self.held_whole_anywhere(scope, blob))
            })
    }

    /// True when some replica holds the whole blob in `scope`, so that a partial download of it
    /// into that scope can finish (a replica serves a blob only through a scope that holds it).
    /// When none does, its only whole copy was lost with a replaced store, and the download can
    /// never finish whatever the engine does: such a partial blob is counted in the report
    /// (`partial_blobs_orphaned`) rather than waited for.
    fn held_whole_anywhere(&self, scope: &Scope, blob: &BlobId) -> bool {
        std::iter::once(&self.relay)
            .chain(&self.nodes)
            .any(|peer| peer.store.holds_blob_in_scope(scope, blob))
    }

    fn orphaned_partial_blobs(&self) -> usize {
        std::iter::once(&self.relay)
            .chain(&self.nodes)
            .flat_map(|peer| peer.store.partial_blob_ids())
            .filter(|(scope, blob)| !self.held_whole_anywhere(scope, blob))
            .count()
    }

    // Planning: the whole fault schedule is drawn from the seed before the run starts.

    fn plan(&mut self) -> Result<(), String> {
        let fault_end = self.config.fault_millis;
        match self.config.workload {
            Workload::Steady {
                edits_per_node_per_hour,
                blobs_per_node_per_hour,
                operator_edits_per_hour,
            } => {
                for index in 0..self.config.nodes {
                    for at in self.poisson_moments(edits_per_node_per_hour, 0, fault_end) {
                        let scope = self.node_write_scope(index, 0.6);
                        self.plan_action(
                            at,
                            Action::Edit {
                                writer: Writer::Node(index),
                                scope,
                            },
                        )?;
                    }
                    for at in self.poisson_moments(blobs_per_node_per_hour, 0, fault_end) {
                        let scope = self.node_write_scope(index, 0.5);
                        self.plan_action(
                            at,
                            Action::Blob {
                                writer: Writer::Node(index),
                                scope,
                            },
                        )?;
                    }
                }
                for at in self.poisson_moments(operator_edits_per_hour, 0, fault_end) {
                    let action = Action::Edit {
                        writer: Writer::Operator,
                        scope: Scope::National,
                    };
                    self.plan_action(at, action)?;
                }
            }
            Workload::SchoolDays { .. } => self.plan_school_days()?,
        }
        for index in 0..self.config.nodes {
            for cuts in self.config.link_cuts.clone() {
                for at in self.poisson_moments(cuts.per_hour, 0, fault_end) {
                    let lasts = self.duration_of(cuts);
                    self.plan_cut(&[index], at, lasts)?;
                }
            }
            let crashes = self.config.node_crashes;
            for at in self.poisson_moments(crashes.per_hour, 0, fault_end) {
                let down_for = self.duration_of(crashes);
                self.plan_action(at, Action::CrashNode(index))?;
                self.plan_action(at + down_for, Action::RestartNode(index))?;
            }
        }
        self.plan_whole_day_outages()?;
        let partitions = self.config.relay_partitions;
        for at in self.poisson_moments(partitions.per_hour, 0, fault_end) {
            let most = self
                .config
                .relay_partition_most_nodes
                .clamp(1, self.config.nodes.max(1));
            let count = self.rng.random_range(most.min(2)..=most);
            let mut cut_off: Vec<usize> = (0..self.config.nodes).collect();
            // A seeded partial shuffle: the first `count` entries are the schools cut off.
            for position in 0..count.min(cut_off.len()) {
                let other = self.rng.random_range(position..cut_off.len());
                cut_off.swap(position, other);
            }
            cut_off.truncate(count);
            let lasts = self.duration_of(partitions);
            self.plan_cut(&cut_off, at, lasts)?;
            self.report.relay_partitions += 1;
        }
        let crashes = self.config.relay_crashes;
        for at in self.poisson_moments(crashes.per_hour, 0, fault_end) {
            let down_for = self.duration_of(crashes);
            self.plan_action(at, Action::CrashRelay)?;
            self.plan_action(at + down_for, Action::RestartRelay)?;
        }
        if let LossyPeriods::Sometimes(periods) = self.config.lossy_periods {
            for at in self.poisson_moments(periods.per_hour, 0, fault_end) {
                let lasts = self.duration_of(periods);
                self.plan_action(at, Action::StartLossyPeriod)?;
                self.plan_action(at + lasts, Action::EndLossyPeriod)?;
                self.report.lossy_periods += 1;
            }
        }
        self.plan_store_faults()
    }

    /// Snapshots, disk losses and restores from snapshots, at random moments drawn from their own
    /// generator, and those the scenario fixed.
    fn plan_store_faults(&mut self) -> Result<(), String> {
        let fault_end = self.config.fault_millis;
        let snapshots_per_hour = self.config.snapshots_per_replica_per_hour;
        let replicas = (0..self.config.nodes)
            .map(Replica::Node)
            .chain([Replica::Relay]);
        for replica in replicas {
            let (disk_losses, restores) = match replica {
                Replica::Node(_) => (
                    self.config.node_disk_losses,
                    self.config.node_snapshot_restores,
                ),
                Replica::Relay => (Occurrences::NEVER, self.config.relay_snapshot_restores),
            };
            for at in poisson_moments(&mut self.store_fault_rng, snapshots_per_hour, 0, fault_end) {
                self.plan_action(at, snapshot_action(replica))?;
            }
            for at in poisson_moments(
                &mut self.store_fault_rng,
                disk_losses.per_hour,
                0,
                fault_end,
            ) {
                let down_for = duration_of(&mut self.store_fault_rng, disk_losses);
                if let Replica::Node(node) = replica {
                    self.plan_store_fault(PlannedStoreFault {
                        at_millis: at,
                        kind: StoreFault::NodeDiskLost { node },
                        down_millis: down_for,
                    })?;
                }
            }
            for at in poisson_moments(&mut self.store_fault_rng, restores.per_hour, 0, fault_end) {
                let down_for = duration_of(&mut self.store_fault_rng, restores);
                // A backup taken at a random earlier moment, so that the restore always has one; it
                // may be from before the replica held anything, which restores an empty store that
                // keeps its epoch.
                let snapshot_at_millis = self.store_fault_rng.random_range(0..at);
                let kind = match replica {
                    Replica::Node(node) => StoreFault::NodeRestoredFromSnapshot {
                        node,
                        snapshot_at_millis,
                    },
                    Replica::Relay => StoreFault::RelayRestoredFromSnapshot { snapshot_at_millis },
                };
                self.plan_store_fault(PlannedStoreFault {
                    at_millis: at,
                    kind,
                    down_millis: down_for,
                })?;
            }
        }
        for fault in self.config.planned_store_faults.clone() {
            self.plan_store_fault(fault)?;
        }
        Ok(())
    }

    /// Plans one store fault: the snapshot it restores (if any), the replacement, and the restart.
    fn plan_store_fault(&mut self, fault: PlannedStoreFault) -> Result<(), String> {
        let restart_at = fault.at_millis + fault.down_millis;
        let snapshot_at = |snapshot_at_millis: u64| {
            if snapshot_at_millis < fault.at_millis {
                Ok(snapshot_at_millis)
            } else {
                Err(format!(
                    "a planned restore at {} ms restores a snapshot taken at {snapshot_at_millis} \
                     ms, which is not earlier",
                    fault.at_millis
                ))
            }
        };
        match fault.kind {
            StoreFault::NodeDiskLost { node } => {
                self.check_node_index(node)?;
                self.plan_action(fault.at_millis, Action::LoseNodeDisk(node))?;
                self.plan_action(restart_at, Action::RestartNode(node))
            }
            StoreFault::NodeRestoredFromSnapshot {
                node,
                snapshot_at_millis,
            } => {
                self.check_node_index(node)?;
                self.plan_action(snapshot_at(snapshot_at_millis)?, Action::SnapshotNode(node))?;
                self.plan_action(fault.at_millis, Action::RestoreNodeFromSnapshot(node))?;
                self.plan_action(restart_at, Action::RestartNode(node))
            }
            StoreFault::RelayRestoredFromSnapshot { snapshot_at_millis } => {
                self.plan_action(snapshot_at(snapshot_at_millis)?, Action::SnapshotRelay)?;
                self.plan_action(fault.at_millis, Action::RestoreRelayFromSnapshot)?;
                self.plan_action(restart_at, Action::RestartRelay)
            }
        }
    }

    fn check_node_index(&self, node: usize) -> Result<(), String> {
        if node < self.config.nodes {
            Ok(())
        } else {
            Err(format!(
                "a planned store fault names node {node}, but the scenario has {} nodes",
                self.config.nodes
            ))
        }
    }

    fn plan_school_days(&mut self) -> Result<(), String> {
        let Workload::SchoolDays {
            bursts_per_node_per_school_day,
            fewest_edits_per_burst,
            most_edits_per_burst,
            mean_edit_gap_millis,
            blob_probability_per_burst,
            operator_edits_per_school_day,
        } = self.config.workload
        else {
            return Ok(());
        };
        for day in self.school_days() {
            let (lessons_start, lessons_end) = school_hours(day);
            for index in 0..self.config.nodes {
                for _ in 0..bursts_per_node_per_school_day {
                    let mut at = self.rng.random_range(lessons_start..lessons_end);
                    let edits = self.rng.random_range(
                        fewest_edits_per_burst..=most_edits_per_burst.max(fewest_edits_per_burst),
                    );
                    let burst_start = at;
                    for _ in 0..edits {
                        let scope = self.node_write_scope(index, 0.7);
                        self.plan_action(
                            at,
                            Action::Edit {
                                writer: Writer::Node(index),
                                scope,
                            },
                        )?;
                        at += self.exponential_gap_millis(mean_edit_gap_millis);
                    }
                    if self.rng.random_bool(blob_probability_per_burst) {
                        let upload_at = self.rng.random_range(burst_start..=at);
                        let scope = self.node_write_scope(index, 0.8);
                        self.plan_action(
                            upload_at,
                            Action::Blob {
                                writer: Writer::Node(index),
                                scope,
                            },
                        )?;
                    }
                }
            }
            for _ in 0..operator_edits_per_school_day {
                let at = self.rng.random_range(lessons_start..lessons_end);
                let scope = if self.rng.random_bool(0.5) {
                    Scope::National
                } else {
                    let municipalities = self
                        .config
                        .municipalities
                        .clamp(1, MUNICIPALITY_CODES.len());
                    municipality_scope(self.rng.random_range(0..municipalities))
                };
                self.plan_action(
                    at,
                    Action::Edit {
                        writer: Writer::Operator,
                        scope,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// A school offline from the morning of a random school day until the next morning, whatever
    /// else the schedule does.
    fn plan_whole_day_outages(&mut self) -> Result<(), String> {
        let days: Vec<u64> = self.school_days().collect();
        if days.is_empty() || self.config.nodes == 0 {
            return Ok(());
        }
        for _ in 0..self.config.whole_day_outages {
            let day = days[self.rng.random_range(0..days.len())];
            let index = self.rng.random_range(0..self.config.nodes);
            let from =
                day * DAY_MILLIS + self.rng.random_range(0..SCHOOL_DAY_START_HOUR) * HOUR_MILLIS;
            let until = (day + 1) * DAY_MILLIS + SCHOOL_DAY_START_HOUR * HOUR_MILLIS;
            self.plan_cut(&[index], from, until - from)?;
        }
        Ok(())
    }

    /// The weekdays of the fault phase whose lessons fit in it, counted from day 0.
    fn school_days(&self) -> impl Iterator<Item = u64> + use<> {
        let fault_end = self.config.fault_millis;
        (0..fault_end.div_ceil(DAY_MILLIS)).filter(move |day| {
            day % DAYS_PER_WEEK < SCHOOL_DAYS_PER_WEEK && school_hours(*day).1 <= fault_end
        })
    }

    fn plan_cut(&mut self, indices: &[usize], at: u64, lasts: u64) -> Result<(), String> {
        for &index in indices {
            self.plan_action(at, Action::CutLink(index))?;
            self.plan_action(at + lasts, Action::HealLink(index))?;
            self.report.partitions += 1;
        }
        Ok(())
    }

    fn plan_action(&mut self, at: u64, action: Action) -> Result<(), String> {
        if self.schedule.len() >= MAX_SCHEDULED_ACTIONS {
            return Err(format!(
                "the scenario plans more than MAX_SCHEDULED_ACTIONS ({MAX_SCHEDULED_ACTIONS}) \
                 actions; make it smaller"
            ));
        }
        self.order += 1;
        self.schedule.insert((at, self.order), action);
        Ok(())
    }

    /// The moments in `from..until` at which something happening `per_hour` times an hour on
    /// average happens, drawn as exponential gaps.
    fn poisson_moments(&mut self, per_hour: f64, from: u64, until: u64) -> Vec<u64> {
        poisson_moments(&mut self.rng, per_hour, from, until)
    }

    fn exponential_gap_millis(&mut self, mean_millis: u64) -> u64 {
        let uniform: f64 = self.rng.random();
        (-(1.0 - uniform).ln() * mean_millis as f64).ceil().max(1.0) as u64
    }

    fn duration_of(&mut self, occurrences: Occurrences) -> u64 {
        duration_of(&mut self.rng, occurrences)
    }

    /// A node's own school's scope with probability `school_share`, otherwise its municipality's.
    fn node_write_scope(&mut self, index: usize, school_share: f64) -> Scope {
        if self.rng.random_bool(school_share) {
            school_scope(index)
        } else {
            municipality_scope(self.municipality_of_node[index])
        }
    }

    // Running: the clock skips from one moment at which something is due to the next.

    /// The next moment at which anything can happen, strictly after now; `None` when nothing ever
    /// will (every peer down and nothing scheduled).
    fn next_wakeup(&self) -> Option<u64> {
        let mut next: Option<u64> = self.schedule.keys().next().map(|(at, _)| *at);
        let mut consider = |at: u64| next = Some(next.map_or(at, |next| next.min(at)));
        for link in &self.links {
            for in_flight in [&link.to_relay, &link.to_node] {
                if let Some((at, _)) = in_flight.keys().next() {
                    consider(*at);
                }
            }
            for session in link.sessions() {
                if let Some(deadline) = session.poll_timeout() {
                    consider(deadline);
                }
            }
        }
        for (index, link) in self.links.iter().enumerate() {
            if self.can_connect(index) {
                consider(link.reconnect_at);
            }
        }
        if self.has_pending_work() {
            consider(self.now + 1);
        }
        // Time moves forward at every step, which is what bounds a run by MAX_STEPS_PER_RUN.
        next.map(|at| at.max(self.now + 1))
    }

    /// True when something must be done at once: a session with frames, work or writes to flush,
    /// or a local write not yet flushed.
    fn has_pending_work(&self) -> bool {
        self.links
            .iter()
            .any(|link| link.sessions().any(session_has_pending_work))
            || self
                .nodes
                .iter()
                .chain(std::iter::once(&self.relay))
                .any(Peer::has_unflushed_writes)
    }

    fn can_connect(&self, index: usize) -> bool {
        let link = &self.links[index];
        link.is_up() && link.node_session.is_none() && !self.nodes[index].down && !self.relay.down
    }

    /// One step at `at`: scheduled actions, connections, deliveries, timers, flushes, outputs.
    /// Returns false when the run must stop because it reached [`MAX_STEPS_PER_RUN`].
    fn step(&mut self, at: u64) -> bool {
        self.report.steps += 1;
        if self.report.steps > MAX_STEPS_PER_RUN {
            self.aborted = Some(format!(
                "the run reached MAX_STEPS_PER_RUN ({MAX_STEPS_PER_RUN}) at simulated millisecond \
                 {}; either the clock stopped skipping or the scenario is too large",
                self.now
            ));
            return false;
        }
        self.now = at;
        let events_before = self.events_so_far();
        let pending_before = self.has_pending_work();
        self.run_due_actions();
        for index in 0..self.links.len() {
            if self.can_connect(index) && self.now >= self.links[index].reconnect_at {
                self.connect(index);
            }
        }
        for index in 0..self.links.len() {
            self.deliver(index);
            self.run_timers(index);
        }
        self.flush_stores();
        for index in 0..self.links.len() {
            self.transmit(index);
            self.drain_events(index);
        }
        if self.events_so_far() == events_before && !pending_before {
            self.report.idle_steps += 1;
        }
        self.watch_progress()
    }

    /// Returns false, with the run aborted, when sessions have exchanged
    /// [`MOST_FRAMES_WITHOUT_PROGRESS`] frames since anything was stored.
    fn watch_progress(&mut self) -> bool {
        if self.progress_watch.frames == 0 {
            // Nothing but heartbeats since the last write, so no need to look at the stores.
            self.progress_watch.since_millis = self.now;
            return true;
        }
        let stamp = self.progress_stamp();
        if stamp != self.progress_watch.stamp {
            self.progress_watch = ProgressWatch {
                stamp,
                since_millis: self.now,
                ..ProgressWatch::default()
            };
            return true;
        }
        if self.progress_watch.frames < MOST_FRAMES_WITHOUT_PROGRESS {
            return true;
        }
        self.aborted = Some(self.describe_livelock());
        false
    }

    /// Which link kept exchanging frames without storing anything, what it exchanged, and how its
    /// replicas differ.
    fn describe_livelock(&self) -> String {
        let watch = &self.progress_watch;
        let mut frames_by_link: BTreeMap<usize, u64> = BTreeMap::new();
        for ((link, _), count) in &watch.frames_by_link_and_tag {
            *frames_by_link.entry(*link).or_default() += count;
        }
        let busiest = frames_by_link
            .iter()
            .max_by_key(|(link, count)| (**count, std::cmp::Reverse(**link)))
            .map(|(link, count)| (*link, *count));
        let Some((link, link_frames)) = busiest else {
            return "the sessions exchanged frames without storing anything".to_string();
        };
        let kinds: Vec<String> = watch
            .frames_by_link_and_tag
            .range((link, 0)..=(link, u8::MAX))
            .map(|((_, tag), count)| {
                let name = MESSAGE_NAMES
                    .get(usize::from(*tag))
                    .map_or_else(|| format!("tag {tag}"), |name| (*name).to_string());
                format!("{name} {count}")
            })
            .collect();
        let differences: Vec<String> = self
            .node_receive_scopes(link)
            .iter()
            .filter_map(|scope| self.describe_scope_difference(link, scope).transpose())
            .map(|difference| difference.unwrap_or_else(|error| error))
            .collect();
        let differences = if differences.is_empty() {
            "their digests are equal".to_string()
        } else {
            differences.join("; ")
        };
        format!(
            "the sessions delivered {} frames other than heartbeats from {} ms to {} ms without \
             any replica storing anything, {link_frames} of them between the relay and {} ({}): \
             {differences}",
            watch.frames,
            watch.since_millis,
            self.now,
            self.nodes[link].id,
            kinds.join(", ")
        )
    }

    fn events_so_far(&self) -> u64 {
        self.report.actions_run
            + self.report.frames_delivered
            + self.report.timeouts_handled
            + self.report.sessions_started
    }

    fn run_due_actions(&mut self) {
        while let Some(entry) = self.schedule.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let action = entry.remove();
            self.report.actions_run += 1;
            match action {
                Action::Edit { writer, scope } => self.edit(writer, &scope),
                Action::Blob { writer, scope } => self.add_blob(writer, &scope),
                Action::CutLink(index) => self.links[index].cuts_in_force += 1,
                Action::HealLink(index) => {
                    let link = &mut self.links[index];
                    link.cuts_in_force = link.cuts_in_force.saturating_sub(1);
                }
                Action::CrashNode(index) => self.crash_node(index),
                Action::RestartNode(index) => self.restart_node(index),
                Action::CrashRelay => self.crash_relay(),
                Action::RestartRelay => self.restart_relay(),
                Action::SnapshotNode(index) => self.take_snapshot(Replica::Node(index)),
                Action::SnapshotRelay => self.take_snapshot(Replica::Relay),
                Action::LoseNodeDisk(index) => self.lose_node_disk(index),
                Action::RestoreNodeFromSnapshot(index) => {
                    self.restore_from_snapshot(Replica::Node(index));
                }
                Action::RestoreRelayFromSnapshot => self.restore_from_snapshot(Replica::Relay),
                Action::StartLossyPeriod => self.lossy_periods_in_force += 1,
                Action::EndLossyPeriod => {
                    self.lossy_periods_in_force = self.lossy_periods_in_force.saturating_sub(1);
                }
            }
        }
    }

    /// The end of the fault phase: what was still planned is dropped, every link and every peer
    /// comes back, and the network stops losing frames.
    fn begin_healing(&mut self) {
        self.schedule.clear();
        self.lossy_periods_in_force = 0;
        for link in &mut self.links {
            link.cuts_in_force = 0;
        }
        for index in 0..self.nodes.len() {
            if self.nodes[index].down {
                self.restart_node(index);
            }
        }
        if self.relay.down {
            self.restart_relay();
        }
    }

    fn peer_mut(&mut self, writer: Writer) -> &mut Peer {
        match writer {
            Writer::Node(index) => &mut self.nodes[index],
            Writer::Operator => &mut self.relay,
        }
    }

    /// A pupil or teacher edits a document (an operator, on the relay, for [`Writer::Operator`]).
    fn edit(&mut self, writer: Writer, scope: &Scope) {
        if self.peer_mut(writer).down {
            self.report.writes_skipped_while_down += 1;
            return;
        }
        let doc = doc_in(scope, self.rng.random_range(0..DOCS_PER_SCOPE));
        let key = format!("k{}", self.rng.random_range(0..20));
        let value: i64 = self.rng.random();
        let peer = self.peer_mut(writer);
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
            self.report.edits_made += 1;
            self.notify_local_change(writer, &doc);
        }
    }

    fn add_blob(&mut self, writer: Writer, scope: &Scope) {
        if self.peer_mut(writer).down {
            self.report.writes_skipped_while_down += 1;
            return;
        }
        let len = self.rng.random_range(1..self.config.max_blob_bytes.max(2));
        let mut content = vec![0u8; len];
        self.rng.fill(&mut content[..]);
        let peer = self.peer_mut(writer);
        let Ok(blob) = peer.store.put_blob(scope, &content) else {
            return;
        };
        peer.unflushed_blobs.push((scope.clone(), blob));
        let sessions: Vec<&mut Session> = match writer {
            Writer::Node(index) => self.links[index].node_session.iter_mut().collect(),
            Writer::Operator => self
                .links
                .iter_mut()
                .filter_map(|link| link.relay_session.as_mut())
                .collect(),
        };
        let store = match writer {
            Writer::Node(index) => &self.nodes[index].store,
            Writer::Operator => &self.relay.store,
        };
        for session in sessions {
            session.handle_local_blob(store, scope, &blob);
        }
    }

    fn notify_local_change(&mut self, writer: Writer, doc: &DocId) {
        match writer {
            Writer::Node(index) => {
                if let Some(session) = self.links[index].node_session.as_mut() {
                    session.handle_local_change(doc);
                }
            }
            Writer::Operator => {
                for link in &mut self.links {
                    if let Some(session) = link.relay_session.as_mut() {
                        session.handle_local_change(doc);
                    }
                }
            }
        }
    }

    /// A power cut: the node loses what it had not flushed and its connection, and stays down
    /// until its restart.
    fn crash_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.store.crash_and_restart();
        node.incarnation += 1;
        node.unflushed_edits.clear();
        node.unflushed_blobs.clear();
        node.down = true;
        self.disconnect(index);
        self.report.node_crashes += 1;
    }

    fn restart_node(&mut self, index: usize) {
        self.nodes[index].down = false;
        self.links[index].reconnect_at = self.now + RECONNECT_DELAY_MILLIS;
    }

    fn crash_relay(&mut self) {
        self.relay.store.crash_and_restart();
        self.relay.incarnation += 1;
        self.relay.unflushed_edits.clear();
        self.relay.unflushed_blobs.clear();
        self.relay.down = true;
        for index in 0..self.links.len() {
            self.disconnect(index);
        }
        self.report.relay_crashes += 1;
    }

    fn restart_relay(&mut self) {
        self.relay.down = false;
        for link in &mut self.links {
            link.reconnect_at = link.reconnect_at.max(self.now + RECONNECT_DELAY_MILLIS);
        }
    }

    fn replica(&self, replica: Replica) -> &Peer {
        match replica {
            Replica::Node(index) => &self.nodes[index],
            Replica::Relay => &self.relay,
        }
    }

    fn replica_mut(&mut self, replica: Replica) -> &mut Peer {
        match replica {
            Replica::Node(index) => &mut self.nodes[index],
            Replica::Relay => &mut self.relay,
        }
    }

    /// A backup: a copy of what the replica's disk holds now, kept for a later restore.
    fn take_snapshot(&mut self, replica: Replica) {
        let now = self.now;
        let peer = self.replica_mut(replica);
        let store = peer.store.durable_copy();
        peer.snapshots.push_back(Snapshot {
            taken_at_millis: now,
            store,
        });
        while peer.snapshots.len() > MAX_SNAPSHOTS_KEPT_PER_REPLICA {
            peer.snapshots.pop_front();
        }
        self.report.snapshots_taken += 1;
    }

    /// The node's disk is gone: it is rebuilt with an empty store and re-enrolled under its old id,
    /// which keeps its scopes. The new store has a new epoch, as any newly created store does.
    fn lose_node_disk(&mut self, index: usize) {
        let epoch = self.store_fault_rng.random();
        self.replace_store(Replica::Node(index), MemoryStore::with_crash_model(epoch));
        self.report.node_disk_losses += 1;
    }

    /// The replica's store is replaced by one of its kept snapshots, chosen at random. A restored
    /// backup carries the epoch it was taken with, so its peers cannot tell it from the store that
    /// made their cursors and shared heads, except by what it holds.
    fn restore_from_snapshot(&mut self, replica: Replica) {
        let kept = self.replica(replica).snapshots.len();
        if kept == 0 {
            // Every planned restore plans a snapshot before it, so this does not happen; a restore
            // without a backup would be a disk loss, which is a fault of its own.
            return;
        }
        let chosen = self.store_fault_rng.random_range(0..kept);
        let snapshot = &self.replica(replica).snapshots[chosen];
        let age_millis = self.now - snapshot.taken_at_millis;
        let mut restored = snapshot.store.durable_copy();
        if replica == Replica::Relay {
            self.operators_write_national_documents_again(&mut restored);
        }
        self.replace_store(replica, restored);
        self.report.restored_snapshots_age_millis += age_millis;
        match replica {
            Replica::Node(_) => self.report.node_snapshot_restores += 1,
            Replica::Relay => self.report.relay_snapshot_restores += 1,
        }
    }

    /// The national documents are written only by operators, and no node may send them (a node's
    /// certificate does not let it write the national scope, and the relay cannot tell a node's
    /// forgery from an operator's change). So after the relay goes back in time, nothing the nodes
    /// hold can return the national changes made since the snapshot, and the national digests would
    /// differ for ever whatever the engine did. In the fleet the operator tool keeps its own replica
    /// of what it wrote (`operator/src/connection.rs`) and sends it again when it reconnects; the
    /// simulator writes operators' edits straight into the relay's store, so it does the same
    /// straight into the restored store: every national change the relay had made durable is
    /// applied again. Municipal documents are left to come back from the nodes, which send them:
    /// that is what this fault tests.
    fn operators_write_national_documents_again(&mut self, restored: &mut MemoryStore) {
        let operator_replica = self.relay.store.durable_copy();
        let national_documents: Vec<DocId> = operator_replica
            .document_ids()
            .into_iter()
            .filter(|doc| *doc.scope() == Scope::National)
            .collect();
        for doc in national_documents {
            let restored_heads = match restored.doc_heads(&doc) {
                Ok(heads) => heads.unwrap_or_default(),
                Err(error) => {
                    self.problems
                        .push(format!("the restored relay store: {error}"));
                    continue;
                }
            };
            let missing = match operator_replica.changes_since(&doc, &restored_heads) {
                Ok(missing) => missing,
                Err(error) => {
                    self.problems
                        .push(format!("the operators' replica: {error}"));
                    continue;
                }
            };
            if missing.is_empty() {
                continue;
            }
            match restored.apply_changes(&doc, missing) {
                Ok(outcome) => self.report.operator_changes_written_again += outcome.applied,
                Err(error) => self
                    .problems
                    .push(format!("the restored relay store, {doc}: {error}")),
            }
        }
        // The operator tool's writes count as done only once the relay made them durable.
        if let Err(error) = restored.flush() {
            self.problems
                .push(format!("the restored relay store: {error}"));
        }
    }

    /// Puts `replacement` in place of the replica's store, applies the ledger rule, and takes the
    /// replica down: its sessions end, and it comes back at its planned restart (or when healing
    /// begins) with sessions that start from scratch. Its next process writes with a fresh automerge
    /// actor, because the replacement may lack changes its old actor already made.
    fn replace_store(&mut self, replica: Replica, replacement: MemoryStore) {
        self.drop_writes_lost_with_store(replica, &replacement);
        let fleet_scopes = self.fleet_scopes.clone();
        let peer = self.replica_mut(replica);
        peer.store = replacement;
        peer.flushed_stamp = content_stamp(&peer.store, &fleet_scopes);
        peer.incarnation += 1;
        // Writes not yet flushed were never acknowledged, and the old store is gone.
        peer.unflushed_edits.clear();
        peer.unflushed_blobs.clear();
        peer.down = true;
        match replica {
            Replica::Node(index) => self.disconnect(index),
            Replica::Relay => {
                for index in 0..self.links.len() {
                    self.disconnect(index);
                }
            }
        }
    }

    /// The ledger rule: an acknowledged edit or blob stays in the ledger if any replica other than
    /// the one being replaced holds it durably now, or the replacement store itself holds it (a
    /// snapshot may well contain it); otherwise nothing holds it any more and no protocol could
    /// bring it back, so it leaves the ledger and is counted as lost with the store. Only writes of
    /// scopes the replaced replica holds can be affected. Each write so dropped must have been in
    /// the replaced store's durable state: a write that was durable nowhere before the replacement
    /// was lost earlier, which is a failure of its own, recorded for [`Self::check`].
    fn drop_writes_lost_with_store(&mut self, replica: Replica, replacement: &MemoryStore) {
        let scopes_held: BTreeSet<Scope> = match replica {
            Replica::Node(index) => self.node_receive_scopes(index).into_iter().collect(),
            Replica::Relay => self.fleet_scopes.iter().cloned().collect(),
        };
        let affected_edits = self
            .acknowledged_edits
            .iter()
            .any(|(doc, _)| scopes_held.contains(doc.scope()));
        let affected_blobs = self
            .acknowledged_blobs
            .iter()
            .any(|(scope, _)| scopes_held.contains(scope));
        if !affected_edits && !affected_blobs {
            return;
        }
        let replaced_id = self.replica(replica).id.clone();
        let mut replaced_durable = self.replica(replica).store.durable_copy();
        // What survives: the replacement and the durable state of every other replica, whether
        // up or down (a crashed replica comes back with its durable state).
        let mut survivors: Vec<MemoryStore> = std::iter::once(replacement.durable_copy())
            .chain(
                std::iter::once(Replica::Relay)
                    .chain((0..self.nodes.len()).map(Replica::Node))
                    .filter(|other| *other != replica)
                    .map(|other| self.replica(other).store.durable_copy()),
            )
            .collect();
        let mut problems = Vec::new();
        let mut edits_lost = 0;
        let mut edits_kept = Vec::with_capacity(self.acknowledged_edits.len());
        for (doc, hash) in std::mem::take(&mut self.acknowledged_edits) {
            if !scopes_held.contains(doc.scope()) {
                edits_kept.push((doc, hash));
                continue;
            }
            let held_elsewhere = survivors
                .iter_mut()
                .map(|store| store.holds_change(&doc, &hash))
                .find(|held| !matches!(held, Ok(false)))
                .unwrap_or(Ok(false));
            match held_elsewhere {
                Ok(true) => edits_kept.push((doc, hash)),
                Ok(false) => match replaced_durable.holds_change(&doc, &hash) {
                    Ok(true) => edits_lost += 1,
                    Ok(false) => {
                        problems.push(format!(
                            "acknowledged edit {hash} of {doc} was durable at no replica when \
                             {replaced_id}'s store was replaced at {} ms: it had been lost before",
                            self.now
                        ));
                        edits_kept.push((doc, hash));
                    }
                    Err(error) => {
                        problems.push(format!("{replaced_id}'s store before replacement: {error}"));
                        edits_kept.push((doc, hash));
                    }
                },
                Err(error) => {
                    problems.push(format!("a store that survives {replaced_id}'s: {error}"));
                    edits_kept.push((doc, hash));
                }
            }
        }
        self.acknowledged_edits = edits_kept;
        let mut blobs_lost = 0;
        let blobs_before = std::mem::take(&mut self.acknowledged_blobs);
        for (scope, blob) in blobs_before {
            let kept = !scopes_held.contains(&scope)
                || survivors
                    .iter()
                    .any(|store| store.holds_blob_in_scope(&scope, &blob));
            if kept {
                self.acknowledged_blobs.push((scope, blob));
            } else if replaced_durable.holds_blob_in_scope(&scope, &blob) {
                blobs_lost += 1;
            } else {
                problems.push(format!(
                    "acknowledged blob {blob} of {scope} was durable at no replica when \
                     {replaced_id}'s store was replaced at {} ms: it had been lost before",
                    self.now
                ));
                self.acknowledged_blobs.push((scope, blob));
            }
        }
        self.report.edits_lost_with_store += edits_lost;
        self.report.blobs_lost_with_store += blobs_lost;
        // A handful says what went wrong; thousands would bury it.
        let room = MAX_PROBLEMS_REPORTED.saturating_sub(self.problems.len());
        self.problems.extend(problems.into_iter().take(room));
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
        let heartbeat_interval_millis = self.config.heartbeat_interval_millis;
        let request_retry_millis = 3 * heartbeat_interval_millis;
        let node_config = SessionConfig {
            heartbeat_interval_millis,
            request_retry_millis,
            ..SessionConfig::new(
                node_id(index),
                self.relay.id.clone(),
                self.node_send_scopes(index),
                self.node_receive_scopes(index),
            )
        };
        let relay_config = SessionConfig {
            heartbeat_interval_millis,
            request_retry_millis,
            ..SessionConfig::new(
                self.relay.id.clone(),
                node_id(index),
                self.node_receive_scopes(index),
                self.node_send_scopes(index),
            )
        };
        let node_session = Session::new(node_config, &self.nodes[index].store, self.now);
        let relay_session = Session::new(relay_config, &self.relay.store, self.now);
        let link = &mut self.links[index];
        link.node_session = Some(node_session);
        link.relay_session = Some(relay_session);
        self.report.sessions_started += 1;
    }

    fn deliver(&mut self, index: usize) {
        let now = self.now;
        let link = &mut self.links[index];
        let due_to_node = take_due(&mut link.to_node, now);
        let due_to_relay = take_due(&mut link.to_relay, now);
        self.report.frames_delivered += (due_to_node.len() + due_to_relay.len()) as u64;
        for frame in due_to_node.iter().chain(&due_to_relay) {
            let tag = frame.get(FRAME_HEADER_BYTES).copied().unwrap_or(u8::MAX);
            if tag != HEARTBEAT_TAG {
                self.progress_watch.frames += 1;
                *self
                    .progress_watch
                    .frames_by_link_and_tag
                    .entry((index, tag))
                    .or_default() += 1;
            }
        }
        for frame in &due_to_node {
            if let Some(session) = self.links[index].node_session.as_mut() {
                deliver_frame(session, &mut self.nodes[index].store, frame, now);
            }
        }
        for frame in &due_to_relay {
            if let Some(session) = self.links[index].relay_session.as_mut() {
                deliver_frame(session, &mut self.relay.store, frame, now);
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
            self.report.timeouts_handled += 1;
        }
        if let Some(session) = link.relay_session.as_mut()
            && session
                .poll_timeout()
                .is_some_and(|deadline| deadline <= now)
        {
            session.handle_timeout(&mut self.relay.store, now);
            self.report.timeouts_handled += 1;
        }
    }

    /// Group commit: a store flushes once per step when anything of it waits for durability, and
    /// only then are acknowledgements released.
    fn flush_stores(&mut self) {
        for index in 0..self.nodes.len() {
            let node = &mut self.nodes[index];
            let session = self.links[index].node_session.as_mut();
            let session_waiting = session
                .as_ref()
                .is_some_and(|session| session.needs_flush());
            if !node.flush_if_waiting(session_waiting, &self.fleet_scopes, &mut self.report) {
                continue;
            }
            self.acknowledged_edits.append(&mut node.unflushed_edits);
            self.acknowledged_blobs.append(&mut node.unflushed_blobs);
            if let Some(session) = session {
                session.handle_durable(&mut node.store);
            }
        }
        let sessions_waiting = self
            .links
            .iter()
            .filter_map(|link| link.relay_session.as_ref())
            .any(Session::needs_flush);
        if !self
            .relay
            .flush_if_waiting(sessions_waiting, &self.fleet_scopes, &mut self.report)
        {
            return;
        }
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

    fn transmit(&mut self, index: usize) {
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
            self.put_on_wire(index, frame, true);
        }
        for frame in outgoing_to_node {
            self.put_on_wire(index, frame, false);
        }
    }

    fn put_on_wire(&mut self, index: usize, frame: Vec<u8>, to_relay: bool) {
        self.report.frames_sent += 1;
        if !self.links[index].is_up() {
            self.report.frames_cut += 1;
            return;
        }
        let faults = (self.lossy_periods_in_force > 0).then_some(self.config.network_faults);
        if let Some(faults) = faults
            && self.rng.random_bool(faults.loss_probability)
        {
            self.report.frames_lost += 1;
            return;
        }
        let copies = match faults {
            Some(faults) if self.rng.random_bool(faults.duplicate_probability) => {
                self.report.frames_duplicated += 1;
                2
            }
            _ => 1,
        };
        for _ in 0..copies {
            let jitter = match faults {
                Some(faults) => self.rng.random_range(0..=faults.reorder_jitter_millis),
                None => 0,
            };
            self.order += 1;
            let key = (self.now + BASE_LATENCY_MILLIS + jitter, self.order);
            let link = &mut self.links[index];
            let in_flight = if to_relay {
                &mut link.to_relay
            } else {
                &mut link.to_node
            };
            in_flight.insert(key, frame.clone());
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

/// The start and end of lessons on `day`, in simulated milliseconds.
fn school_hours(day: u64) -> (u64, u64) {
    (
        day * DAY_MILLIS + SCHOOL_DAY_START_HOUR * HOUR_MILLIS,
        day * DAY_MILLIS + SCHOOL_DAY_END_HOUR * HOUR_MILLIS,
    )
}

/// A document's heads in brief for a failure message: how many, and the start of each hash.
fn describe_heads(heads: Option<&[ChangeHash]>) -> String {
    match heads {
        None => "does not hold it".to_string(),
        Some(heads) => {
            let starts: Vec<String> = heads.iter().map(|hash| hex_of(&hash.0[..4])).collect();
            format!("at heads [{}]", starts.join(", "))
        }
    }
}

/// The blobs in a store's log of `scope`.
fn blobs_in_scope(store: &MemoryStore, scope: &Scope) -> Result<BTreeSet<BlobId>, String> {
    Ok(store
        .log_after(scope, 0, usize::MAX)
        .map_err(|error| error.to_string())?
        .into_iter()
        .filter_map(|(_, item)| match item {
            LogItem::Blob(blob) => Some(blob),
            LogItem::Document(_) => None,
        })
        .collect())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The moments in `from..until` at which something happening `per_hour` times an hour on average
/// happens, drawn as exponential gaps from `rng`.
fn poisson_moments(rng: &mut StdRng, per_hour: f64, from: u64, until: u64) -> Vec<u64> {
    let mut moments = Vec::new();
    if per_hour <= 0.0 {
        return moments;
    }
    let mean_gap_millis = HOUR_MILLIS as f64 / per_hour;
    let mut at = from;
    loop {
        let uniform: f64 = rng.random();
        let gap = (-(1.0 - uniform).ln() * mean_gap_millis).ceil().max(1.0);
        at = at.saturating_add(gap as u64);
        if at >= until || moments.len() > MAX_SCHEDULED_ACTIONS {
            return moments;
        }
        moments.push(at);
    }
}

/// How long one of `occurrences` lasts, drawn from `rng`.
fn duration_of(rng: &mut StdRng, occurrences: Occurrences) -> u64 {
    let longest = occurrences.longest_millis.max(occurrences.shortest_millis);
    rng.random_range(occurrences.shortest_millis..=longest)
}

/// The frames due by `now`, in order of delivery time and then of sending, taken off the link.
fn take_due(in_flight: &mut InFlight, now: u64) -> Vec<Vec<u8>> {
    let mut due = Vec::new();
    while let Some(entry) = in_flight.first_entry() {
        if entry.key().0 > now {
            break;
        }
        due.push(entry.remove());
    }
    due
}

fn deliver_frame(session: &mut Session, store: &mut MemoryStore, frame: &[u8], now: u64) {
    // Frames on a simulated link are whole, so the payload is everything after the length prefix.
    let payload = frame.get(FRAME_HEADER_BYTES..).unwrap_or_default();
    session.handle_payload(store, payload, now);
}

/// Which seeds a test runs: `DIGIONE_SIM_SEED` replays one, `DIGIONE_SIM_CASES` sets how many,
/// `DIGIONE_SIM_FIRST_SEED` where they start.
pub fn seeds_from_env(default_cases: u64) -> Vec<u64> {
    seeds_from_env_named("DIGIONE_SIM", default_cases)
}

/// Which seeds a test runs, from `{prefix}_SEED` (replays one), `{prefix}_CASES` (how many) and
/// `{prefix}_FIRST_SEED` (where they start, 1 by default).
pub fn seeds_from_env_named(prefix: &str, default_cases: u64) -> Vec<u64> {
    let number = |name: &str| -> Option<u64> {
        std::env::var(format!("{prefix}_{name}"))
            .ok()
            .and_then(|text| text.parse().ok())
    };
    if let Some(seed) = number("SEED") {
        return vec![seed];
    }
    let cases = number("CASES").unwrap_or(default_cases);
    let first = number("FIRST_SEED").unwrap_or(1);
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
    /// Why each side stopped trusting what it remembered about the other's store
    /// ([`Event::PeerStoreNotRecognised`]), in the order it happened.
    pub node_noticed: Vec<String>,
    pub relay_noticed: Vec<String>,
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
            node_noticed: Vec::new(),
            relay_noticed: Vec::new(),
        }
    }

    /// Starts a new session on both sides, as after a reconnect; the stores keep what they have.
    pub fn reconnect(&mut self) {
        self.node = Session::new(self.node_config.clone(), &self.node_store, 0);
        self.relay = Session::new(self.relay_config.clone(), &self.relay_store, 0);
    }

    /// Lets time pass for both sessions (heartbeats, retries, timeouts), without delivering anything;
    /// [`Self::run_until_idle`] then delivers what that made them send.
    pub fn advance_to(&mut self, now_millis: u64) {
        self.node.handle_timeout(&mut self.node_store, now_millis);
        self.relay.handle_timeout(&mut self.relay_store, now_millis);
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
            }
            for (session, noticed) in [
                (&mut self.node, &mut self.node_noticed),
                (&mut self.relay, &mut self.relay_noticed),
            ] {
                while let Some(event) = session.poll_event() {
                    match event {
                        Event::Closed { reason } => {
                            return Err(format!("session closed: {reason:?}"));
                        }
                        Event::PeerStoreNotRecognised { reason } => noticed.push(reason),
                        _ => {}
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
