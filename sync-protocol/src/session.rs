//! One sync session with one peer, as a state machine without IO.
//!
//! The driver owns the transport and the clock. It feeds the session through the `handle_*` methods
//! and drains it through the `poll_*` methods, in the manner of quinn-proto:
//!
//! * [`Session::handle_payload`]: a frame payload arrived from the peer;
//! * [`Session::handle_local_change`] / [`Session::handle_local_blob`]: a document or blob changed in
//!   our store, by a local write or through another session;
//! * [`Session::handle_timeout`]: the time given by [`Session::poll_timeout`] has come;
//! * [`Session::handle_durable`]: the store has been flushed since the last call;
//! * [`Session::poll_transmit`]: the next frame to send, made lazily so that a large catch-up never
//!   sits in memory or in one message;
//! * [`Session::poll_event`]: what happened that the driver must act on.
//!
//! How a session converges (the protocol is specified in `PROTOCOL.md`):
//!
//! 1. Each side sends `Hello` and, for every scope it receives, a `SyncRequest` carrying its digest of
//!    the scope and its cursor into the peer's change log. Both go out at once, without waiting.
//! 2. The responder answers with an `Offer`: "equal" when the digests match, otherwise the documents
//!    and blobs in its log after the cursor with their current heads. Before each offer frame it pushes
//!    the changes of those documents that the requester lacks, judged by the shared heads persisted
//!    from earlier sessions, so a reconnect costs the changes and nothing per unchanged document.
//! 3. The requester checks every entry against its store. Entries it already satisfies cost nothing;
//!    for a document it still lacks it sends its heads (`Heads`), and the responder sends the rest.
//!    When every entry is satisfied and durable the requester moves its cursor to the end of the offer.
//! 4. While connected, each change is pushed as it happens, and every push is acknowledged with the
//!    receiver's heads once durable; both sides then record those heads as shared.
//! 5. Heartbeats carry each scope's digest; a mismatch that outlives the changes in flight triggers a
//!    new `SyncRequest`. This anti-entropy is what makes the protocol correct when frames are lost,
//!    duplicated or reordered, and when either side crashes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use automerge::ChangeHash;

use crate::ids::{BlobId, DocId, NodeId, Scope};
use crate::store::{
    BlobWriteOutcome, LogItem, ReplicaStore, Seq, StoreError, changes_of_saved_document,
    heads_ack_fingerprint, sorted_heads,
};
use crate::wire::{
    BLOB_CHUNK_BYTES, BlobAck, BlobChunk, BlobRequest, Changes, Cursor, DecodeError, DocAck,
    DocHeads, Documents, DocumentsAck, ErrorCode, ErrorMessage, FRAME_HEADER_BYTES, Heartbeat,
    Hello, LogHead, MAX_CHANGES_PER_FRAME, MAX_DOCUMENTS_BATCH_BYTES, MAX_FRAME_PAYLOAD_BYTES,
    MAX_HEADS, MAX_OFFER_ENTRIES, MAX_TEXT_BYTES, Message, NodeHealth, Offer, OfferEntry,
    PROTOCOL_VERSION, SavedDocument, ScopeDigest, ScopeState, SyncRequest, SyncStatus,
};

/// The longest heartbeat interval allowed, in milliseconds. The fleet view calls a node stale after
/// three missed heartbeats, so this bounds how long a dead link goes unnoticed.
pub const MAX_HEARTBEAT_INTERVAL_MILLIS: u64 = 30_000;

/// How many missed heartbeat intervals end a session as timed out.
pub const MISSED_HEARTBEATS_BEFORE_TIMEOUT: u64 = 3;

/// Outbound frames the session queues before it stops generating catch-up work and asks the driver
/// to stop reading from the peer ([`Session::wants_input`]). Bounds memory per session.
pub const MAX_QUEUED_FRAMES: usize = 64;

/// Heartbeats in a row with a differing digest, while the peer reports nothing waiting, before the
/// session stops trusting its cursor and asks for the whole scope.
pub const MISMATCHES_BEFORE_FULL_RESYNC: u32 = 3;

/// Blob downloads in progress at once per session; further wanted blobs wait their turn. A download
/// is of one blob into one scope: a scope receives a blob only by receiving all of its bytes.
pub const MAX_CONCURRENT_BLOB_DOWNLOADS: usize = 4;

/// Wanted blobs (per scope) remembered per session, and blob sizes kept for progress reports.
/// Beyond this, blobs are found again by a later sync request.
pub const MAX_WANTED_BLOBS: usize = 4096;

/// Documents remembered as waiting for a push per session. Beyond this the documents are found again
/// by the next anti-entropy round instead of being queued.
pub const MAX_QUEUED_PUSHES: usize = 100_000;

/// Documents remembered per session in each map of heads (what the peer told us it has, what we
/// pushed, what we told it). These maps are hints that spare frames, and anti-entropy makes up for
/// anything they forget, so a map that reaches this size is emptied and starts again: a peer that
/// names endless documents (ids it made up, in scopes it may read) costs the relay a bounded amount
/// of memory, and an honest session, which touches the few thousand documents of its scopes,
/// never reaches it.
pub const MAX_REMEMBERED_HEADS_PER_SESSION: usize = 16_384;

/// Offer entries one sync request waits on at most. Beyond this the request is not satisfied by this
/// answer and is asked again when its retry time comes, by which time the entries it did hold have
/// arrived: a hostile offer cannot grow the map, and an honest full reconciliation of a large scope
/// merely takes a second round.
pub const MAX_WAITING_ENTRIES_PER_REQUEST: usize = 16_384;

/// Room left in a `Changes` frame for everything but the change bytes.
const CHANGES_FRAME_OVERHEAD_BYTES: usize = 4 * 1024;

/// What one [`Documents`] batch may hold before compression: the inflated bound less room for the
/// list's own encoding, so that a packed batch always unpacks on the other side. Compressed, a
/// batch is never larger than this plus DEFLATE's few bytes per block, well inside a frame.
const DOCUMENTS_BATCH_BUDGET_BYTES: usize = MAX_DOCUMENTS_BATCH_BYTES - 64 * 1024;

/// A document new to the peer whose changes add up to at most this many bytes is pushed as changes
/// rather than in saved form: the usual case of a document just written, fanned out by the relay to
/// every reader, where saving it anew for each session would cost more than it saves.
const SMALL_HISTORY_BYTES: usize = 16 * 1024;

/// Batches of whole documents sent and not yet acknowledged, remembered per session with the heads
/// each document had. Beyond this the oldest is forgotten: its documents are then confirmed by the
/// next anti-entropy round instead of by its acknowledgement.
pub const MAX_UNACKNOWLEDGED_BATCHES: usize = 64;

/// Received batch ids remembered per session, so that the offer entry naming a batch can be
/// checked. An offer names the batch sent just before it, so a short window is plenty.
pub const MAX_REMEMBERED_RECEIVED_BATCHES: usize = 1024;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub local_node: NodeId,
    /// The peer as authenticated by the transport (the certificate); its `Hello` must agree.
    pub peer_node: NodeId,
    pub software_version: String,
    /// Scopes whose documents and blobs this side offers and pushes to the peer.
    pub send_scopes: Vec<Scope>,
    /// Scopes whose documents and blobs this side accepts from the peer and asks it for.
    pub receive_scopes: Vec<Scope>,
    /// Received scopes in which the peer may write only some documents: those whose name starts
    /// with the prefix given. A scope of `receive_scopes` not named here is accepted whole. This is
    /// how a school's node writes its own documents in its municipality's scope, and not the
    /// documents every school shows as the municipality's (its announcements).
    pub receive_name_prefixes: Vec<(Scope, String)>,
    /// Bounds on what the peer may make each received scope hold here; `None` for no bounds.
    pub receive_quota: Option<ScopeQuota>,
    /// Milliseconds between heartbeats; at most [`MAX_HEARTBEAT_INTERVAL_MILLIS`].
    pub heartbeat_interval_millis: u64,
    /// A sync request not answered completely within this many milliseconds is sent again.
    pub request_retry_millis: u64,
}

impl SessionConfig {
    pub fn new(
        local_node: NodeId,
        peer_node: NodeId,
        send_scopes: Vec<Scope>,
        receive_scopes: Vec<Scope>,
    ) -> Self {
        Self {
            local_node,
            peer_node,
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            send_scopes,
            receive_scopes,
            receive_name_prefixes: Vec::new(),
            receive_quota: None,
            heartbeat_interval_millis: 15_000,
            request_retry_millis: 30_000,
        }
    }

    /// True when the peer may write `doc`: its scope is received from the peer, and where that scope
    /// is received only in part, the document's name is in the part.
    pub fn peer_may_write(&self, doc: &DocId) -> bool {
        if !self.receive_scopes.contains(doc.scope()) {
            return false;
        }
        let mut prefixes = self
            .receive_name_prefixes
            .iter()
            .filter(|(scope, _)| scope == doc.scope())
            .peekable();
        prefixes.peek().is_none()
            || prefixes.any(|(_, prefix)| doc.name().starts_with(prefix.as_str()))
    }
}

/// Bounds on what a peer may make one scope hold in our store. The relay sets them for nodes, so that
/// whoever controls one school's node cannot fill the disk that holds every school's off-site copy.
/// A write past a bound is refused with [`ErrorCode::TooLarge`] and a message naming the scope and
/// the bound, and reported as [`Event::QuotaReached`]; what was stored before stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeQuota {
    /// Documents in the scope; a write that would create one more is refused.
    pub max_documents: u64,
    /// Bytes the scope's documents take in the store; once reached, every write to the scope's
    /// documents is refused.
    pub max_document_bytes: u64,
    /// Bytes of the files recorded in the scope; a file that would pass it is refused.
    pub max_blob_bytes: u64,
    /// Uploads of files into the scope under way at once (some bytes received, not all); a chunk
    /// that would start one more is refused, so unfinished uploads cannot fill the disk either.
    pub max_unfinished_blobs: u64,
}

/// Which bound of a [`ScopeQuota`] a refused write met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    Documents,
    DocumentBytes,
    BlobBytes,
    UnfinishedBlobs,
}

impl QuotaKind {
    /// The name used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::Documents => "documents",
            QuotaKind::DocumentBytes => "document_bytes",
            QuotaKind::BlobBytes => "blob_bytes",
            QuotaKind::UnfinishedBlobs => "unfinished_blobs",
        }
    }
}

/// What the driver must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer introduced itself.
    PeerHello {
        node: NodeId,
        software_version: String,
        protocol_version: u32,
    },
    /// Changes from the peer were applied to a document; other sessions should be told.
    DocumentUpdated { doc: DocId, heads: Vec<ChangeHash> },
    /// A blob from the peer is complete and verified.
    BlobStored { scope: Scope, blob: BlobId },
    /// Every scope received from the peer is reconciled and nothing waits to be sent.
    InSync,
    /// The peer's heartbeat digest of `scope` equals ours, read when our log of the scope ended at
    /// `log_head`: the peer holds every write of that scope up to that sequence number. This
    /// confirms writes whose acknowledgement was lost (a peer that restarted between storing them
    /// and answering), without a message per document.
    ScopeMatched { scope: Scope, log_head: Seq },
    /// The peer holds `blob` whole and durably (its `BlobAck`): an upload of ours is done.
    BlobAcknowledged { blob: BlobId },
    /// The peer's store is not the one our remembered state about it describes (replaced, wiped,
    /// restored from an older copy, or unknown): that state was dropped and every scope is being
    /// reconciled in full. Worth a line in the log.
    PeerStoreNotRecognised { reason: String },
    /// The peer reported an error.
    PeerError {
        code: ErrorCode,
        message: String,
        doc: Option<DocId>,
    },
    /// Something about one document or blob failed here; the session goes on.
    LocalError { message: String, doc: Option<DocId> },
    /// A write from the peer was refused because `scope` holds what its quota allows.
    QuotaReached { scope: Scope, quota: QuotaKind },
    /// The session is over; the driver should send what remains and close the transport.
    Closed { reason: CloseReason },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer speaks another protocol version.
    UnsupportedVersion { theirs: u32 },
    /// The peer sent a frame that is not valid protocol.
    ProtocolViolation(String),
    /// The peer was silent for too long.
    Timeout,
    /// The peer reported a fatal error.
    PeerClosed { code: ErrorCode, message: String },
    /// Our own store failed.
    StoreFailure(String),
    /// The driver asked the session to close.
    Local,
}

/// Counters for the operations view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub frames_sent: u64,
    pub frames_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub changes_applied: u64,
    /// Round-trip time measured from the peer echoing nothing: the time between sending a sync
    /// request and its first answer, milliseconds.
    pub last_rtt_millis: Option<u64>,
}

/// How far the two sides are from holding the same content, for status displays: the node's sync
/// status and the relay's fleet view say "in sync" only when `scopes_differing` is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileProgress {
    /// Scopes received from the peer whose digest was last seen to differ from ours, or has not been
    /// compared yet in this session.
    pub scopes_differing: Vec<Scope>,
    /// Documents this side still expects from the peer: entries of its offers not yet satisfied,
    /// plus what the peer reported it still has to send.
    pub documents_to_receive: u64,
    /// Bytes still expected: the rest of the files being fetched, plus what the peer reported queued.
    pub bytes_to_receive: u64,
}

impl ReconcileProgress {
    pub fn in_sync(&self) -> bool {
        self.scopes_differing.is_empty()
    }
}

/// Outbound work, done in order, each item producing at most a few frames when polled.
#[derive(Debug)]
enum Work {
    /// Push a document's changes that the peer lacks.
    Push(DocId),
    /// A push being sent in several frames: the changes still to go.
    PushRemainder {
        doc: DocId,
        remaining: VecDeque<Vec<u8>>,
        sender_heads: Vec<ChangeHash>,
    },
    /// Answer a sync request, from `after_seq` on.
    Offer(OfferJob),
    /// Send a blob from `offset`.
    BlobUpload {
        scope: Scope,
        blob: BlobId,
        offset: u64,
    },
    /// Send a message once the work before it is done.
    Send(Box<Message>),
}

#[derive(Debug)]
struct OfferJob {
    request_id: u64,
    scope: Scope,
    after_seq: u64,
    up_to_seq: u64,
    digest: crate::wire::ScopeDigest,
}

/// Whether a document joins the batch being built.
#[derive(Debug)]
enum BatchFit {
    /// It did, with this many bytes.
    Added(usize),
    /// It would fit an empty batch but not this one: the offer frame ends before it.
    BatchFull,
    /// Its saved form alone is larger than a batch may be: its changes are pushed instead.
    TooLargeForAnyBatch,
}

/// Our own outstanding sync request for one scope.
#[derive(Debug)]
struct RequestProgress {
    request_id: u64,
    sent_at_millis: u64,
    /// Where the offer must start: our cursor, or 0 when the responder starts afresh.
    cursor: Option<Cursor>,
    /// The end of the offer frames received so far in order; `None` before the first.
    covered_up_to: Option<u64>,
    epoch: Option<u64>,
    complete: bool,
    /// Entries not yet satisfied, with the heads they need; `None` for a pushed document, which needs
    /// the `sender_heads` of its push.
    waiting_docs: HashMap<DocId, Option<Vec<ChangeHash>>>,
    waiting_blobs: HashSet<BlobId>,
    answered: bool,
    /// Asked without a cursor because the remembered state could not be trusted.
    full: bool,
    /// An offer entry named a batch of documents that never arrived whole, or the answer named more
    /// entries than one request waits on ([`MAX_WAITING_ENTRIES_PER_REQUEST`]): the request cannot
    /// be satisfied and is asked again when its retry time comes.
    missing_batch: bool,
    /// The responder's digest of the scope when it answered.
    peer_digest: Option<ScopeDigest>,
}

impl RequestProgress {
    /// Every frame of the answer arrived and every entry is in our store.
    fn satisfied(&self) -> bool {
        self.complete
            && !self.missing_batch
            && self.waiting_docs.is_empty()
            && self.waiting_blobs.is_empty()
    }

    /// Asked again when its retry time comes: unanswered, or answered with a batch that was lost.
    fn needs_retry(&self) -> bool {
        !self.complete || self.missing_batch
    }

    /// Records an offer entry that is not in our store yet, within the request's bound.
    fn wait_for_document(&mut self, doc: DocId, heads: Option<Vec<ChangeHash>>) {
        if self.waiting_docs.len() >= MAX_WAITING_ENTRIES_PER_REQUEST
            && !self.waiting_docs.contains_key(&doc)
        {
            self.missing_batch = true;
            return;
        }
        self.waiting_docs.insert(doc, heads);
    }
}

/// Inserts into one of a session's maps of heads, emptying it first when it is full (see
/// [`MAX_REMEMBERED_HEADS_PER_SESSION`]). Emptying rather than evicting one entry keeps the session
/// deterministic, which the simulator's replays rely on.
fn remember_heads(map: &mut HashMap<DocId, Vec<ChangeHash>>, doc: DocId, heads: Vec<ChangeHash>) {
    if map.len() >= MAX_REMEMBERED_HEADS_PER_SESSION && !map.contains_key(&doc) {
        map.clear();
    }
    map.insert(doc, heads);
}

/// See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    now_millis: u64,
    closed: bool,
    peer_hello: Option<Hello>,
    outbound: VecDeque<Vec<u8>>,
    /// Frames that acknowledge writes, released once the store has been flushed.
    held_until_durable: Vec<Message>,
    /// Cursor moves, written once the writes they vouch for are durable.
    cursors_until_durable: Vec<(Scope, Cursor)>,
    wrote_since_flush: bool,
    events: VecDeque<Event>,
    work: VecDeque<Work>,
    queued_pushes: HashSet<DocId>,
    /// Ordered maps wherever the session iterates, so that a simulation replays exactly.
    requests: BTreeMap<Scope, RequestProgress>,
    /// Heartbeats in a row whose digest differed from ours while the peer had nothing left to send.
    mismatch_streaks: BTreeMap<Scope, u32>,
    next_request_id: u64,
    /// The heads the peer last told us it has, per document, this session.
    peer_heads: HashMap<DocId, Vec<ChangeHash>>,
    /// The heads we pushed and assume the peer will have, per document, until it says otherwise.
    pushed_heads: HashMap<DocId, Vec<ChangeHash>>,
    /// The heads we last told the peer, per document, so that we do not repeat ourselves.
    told_heads: HashMap<DocId, Vec<ChangeHash>>,
    next_batch_id: u64,
    /// Batches of whole documents sent and not yet acknowledged, with each document's heads.
    batches_unacknowledged: BTreeMap<u64, Vec<(DocId, Vec<ChangeHash>)>>,
    /// Batches received whole and applied in this session.
    batches_received: BTreeSet<u64>,
    /// Per received scope, whether the peer's digest differed from ours when last compared; a
    /// scope not yet compared in this session counts as differing.
    scope_differs: BTreeMap<Scope, bool>,
    /// Per received scope, the peer's digest at which a full reconciliation last finished with
    /// every entry satisfied: while the peer still reports that digest, asking again gains nothing.
    fully_reconciled_at: BTreeMap<Scope, ScopeDigest>,
    /// Sizes of the files being fetched, per scope, from the offers that named them, for progress
    /// reports; at most [`MAX_WANTED_BLOBS`].
    blob_lengths: BTreeMap<(Scope, BlobId), u64>,
    /// Scopes being reconciled in full in this session (the peer asked without a cursor, or we did):
    /// the shared heads remembered from earlier sessions are not trusted for them until the peer
    /// confirms them again.
    distrusted_scopes: BTreeSet<Scope>,
    /// Downloads in progress, of a blob into a scope, with the offset last asked for; at most
    /// [`MAX_CONCURRENT_BLOB_DOWNLOADS`]. Keyed by scope too, because a blob the store holds for one
    /// scope is still downloaded whole for another.
    blob_downloads: BTreeMap<(Scope, BlobId), u64>,
    /// Downloads waiting their turn; at most [`MAX_WANTED_BLOBS`].
    blobs_wanted: VecDeque<(Scope, BlobId)>,
    last_received_millis: u64,
    last_heartbeat_sent_millis: Option<u64>,
    in_sync_reported: bool,
    last_complete_sync_millis: Option<u64>,
    health: Option<NodeHealth>,
    /// What the peer last reported in a heartbeat: its own backlog and, for nodes, its health.
    peer_status: Option<SyncStatus>,
    peer_health: Option<NodeHealth>,
    stats: SessionStats,
}

impl Session {
    /// Starts a session: the `Hello` and a sync request per received scope are queued at once.
    pub fn new<S: ReplicaStore + ?Sized>(
        mut config: SessionConfig,
        store: &S,
        now_millis: u64,
    ) -> Self {
        config.heartbeat_interval_millis = config
            .heartbeat_interval_millis
            .clamp(1, MAX_HEARTBEAT_INTERVAL_MILLIS);
        config.software_version.truncate(MAX_TEXT_BYTES);
        let mut session = Self {
            config,
            now_millis,
            closed: false,
            peer_hello: None,
            outbound: VecDeque::new(),
            held_until_durable: Vec::new(),
            cursors_until_durable: Vec::new(),
            wrote_since_flush: false,
            events: VecDeque::new(),
            work: VecDeque::new(),
            queued_pushes: HashSet::new(),
            requests: BTreeMap::new(),
            mismatch_streaks: BTreeMap::new(),
            next_request_id: 1,
            peer_heads: HashMap::new(),
            pushed_heads: HashMap::new(),
            told_heads: HashMap::new(),
            next_batch_id: 1,
            batches_unacknowledged: BTreeMap::new(),
            batches_received: BTreeSet::new(),
            scope_differs: BTreeMap::new(),
            fully_reconciled_at: BTreeMap::new(),
            blob_lengths: BTreeMap::new(),
            distrusted_scopes: BTreeSet::new(),
            blob_downloads: BTreeMap::new(),
            blobs_wanted: VecDeque::new(),
            last_received_millis: now_millis,
            last_heartbeat_sent_millis: None,
            in_sync_reported: false,
            last_complete_sync_millis: None,
            health: None,
            peer_status: None,
            peer_health: None,
            stats: SessionStats::default(),
        };
        for scope in &session.config.receive_scopes {
            session.scope_differs.insert(scope.clone(), true);
        }
        let mut log_heads = Vec::new();
        for scope in session.shared_scopes() {
            match store.scope_summary(&scope) {
                Ok(summary) => log_heads.push(LogHead {
                    scope,
                    seq: summary.log_head,
                }),
                Err(error) => {
                    session.fail_store(error);
                    return session;
                }
            }
        }
        session.send(Message::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            node_id: session.config.local_node.clone(),
            software_version: session.config.software_version.clone(),
            store_epoch: store.epoch(),
            log_heads,
        }));
        for scope in session.config.receive_scopes.clone() {
            if let Err(error) = session.request_scope(store, &scope) {
                session.fail_store(error);
            }
        }
        session
    }

    pub fn peer(&self) -> &NodeId {
        &self.config.peer_node
    }

    /// Every scope the session shares with the peer, in either direction, in order.
    fn shared_scopes(&self) -> Vec<Scope> {
        let scopes: BTreeSet<Scope> = self
            .config
            .send_scopes
            .iter()
            .chain(&self.config.receive_scopes)
            .cloned()
            .collect();
        scopes.into_iter().collect()
    }

    /// How far the two sides are from holding the same content.
    pub fn reconcile_progress(&self) -> ReconcileProgress {
        let scopes_differing = self
            .scope_differs
            .iter()
            .filter(|(_, differs)| **differs)
            .map(|(scope, _)| scope.clone())
            .collect();
        let offered_documents: usize = self
            .requests
            .values()
            .map(|request| request.waiting_docs.len())
            .sum();
        let blob_bytes: u64 = self
            .blob_lengths
            .iter()
            .map(|(download, len)| {
                let received = self.blob_downloads.get(download).copied().unwrap_or(0);
                len.saturating_sub(received)
            })
            .sum();
        let peer = self.peer_status.unwrap_or_default();
        ReconcileProgress {
            scopes_differing,
            documents_to_receive: offered_documents as u64 + peer.docs_waiting,
            bytes_to_receive: blob_bytes.saturating_add(peer.bytes_waiting),
        }
    }

    /// The peer's `Hello`, once it has arrived.
    pub fn peer_hello(&self) -> Option<&Hello> {
        self.peer_hello.as_ref()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Entries in the session's maps and queues keyed by what the peer names (documents, blobs,
    /// batches), all together. Each is bounded, so this is too, whatever the peer sends; the relay's
    /// tests hold it to that.
    pub fn remembered_entries(&self) -> usize {
        let waiting: usize = self
            .requests
            .values()
            .map(|request| request.waiting_docs.len() + request.waiting_blobs.len())
            .sum();
        waiting
            + self.peer_heads.len()
            + self.pushed_heads.len()
            + self.told_heads.len()
            + self.queued_pushes.len()
            + self.work.len()
            + self.batches_unacknowledged.len()
            + self.batches_received.len()
            + self.blob_lengths.len()
            + self.blob_downloads.len()
            + self.blobs_wanted.len()
    }

    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Health figures to report in heartbeats (nodes only).
    pub fn set_health(&mut self, health: NodeHealth) {
        self.health = Some(health);
    }

    /// False when the outbound queue is full: the driver should stop reading from the peer until the
    /// queue drains, which bounds what one peer can make us buffer.
    pub fn wants_input(&self) -> bool {
        self.outbound.len() < MAX_QUEUED_FRAMES
    }

    /// True when frames are held back until the store is flushed; the driver should flush and then
    /// call [`Self::handle_durable`].
    pub fn needs_flush(&self) -> bool {
        self.wrote_since_flush
            || !self.held_until_durable.is_empty()
            || !self.cursors_until_durable.is_empty()
    }

    /// True when nothing waits to be sent or acknowledged.
    pub fn is_idle(&self) -> bool {
        self.work.is_empty() && self.outbound.is_empty() && self.held_until_durable.is_empty()
    }

    /// What this side still has to send, as reported in heartbeats.
    pub fn status(&self) -> SyncStatus {
        let blobs_waiting = self
            .work
            .iter()
            .filter(|work| matches!(work, Work::BlobUpload { .. }))
            .count();
        SyncStatus {
            docs_waiting: self.queued_pushes.len() as u64,
            blobs_waiting: blobs_waiting as u64,
            bytes_waiting: self.outbound.iter().map(|frame| frame.len() as u64).sum(),
            last_complete_sync_millis: self.last_complete_sync_millis,
        }
    }

    /// The backlog the peer reported in its last heartbeat (what it still has to send us).
    pub fn peer_status(&self) -> Option<SyncStatus> {
        self.peer_status
    }

    /// The health the peer reported in its last heartbeat; nodes report it, the relay does not.
    pub fn peer_health(&self) -> Option<&NodeHealth> {
        self.peer_health.as_ref()
    }

    /// True from the moment [`Event::InSync`] was reported until new work arrives.
    pub fn is_in_sync(&self) -> bool {
        self.in_sync_reported
    }

    /// Ends the session from our side: a closing error frame is queued for the peer.
    pub fn close(&mut self) {
        if !self.closed {
            self.send_error(ErrorCode::Closing, true, "closing".into(), None);
            self.closed = true;
            self.events.push_back(Event::Closed {
                reason: CloseReason::Local,
            });
        }
    }

    /// A document changed in our store; the peer gets the changes if it may read them.
    pub fn handle_local_change(&mut self, doc: &DocId) {
        if self.config.send_scopes.contains(doc.scope()) {
            self.queue_push(doc.clone());
        }
    }

    /// A blob was added to our store in `scope`; the peer is told so that it can fetch it.
    pub fn handle_local_blob<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &S,
        scope: &Scope,
        blob: &BlobId,
    ) {
        if !self.config.send_scopes.contains(scope) {
            return;
        }
        match store.blob_len(blob) {
            Ok(Some(len)) => {
                // An unsolicited offer (request 0) that the peer handles entry by entry.
                let summary = store.scope_summary(scope);
                self.send(Message::Offer(Offer {
                    request_id: 0,
                    scope: scope.clone(),
                    epoch: store.epoch(),
                    after_seq: 0,
                    up_to_seq: 0,
                    complete: false,
                    digest: summary.map(|summary| summary.digest).unwrap_or_default(),
                    entries: vec![OfferEntry::Blob { blob: *blob, len }],
                }));
            }
            Ok(None) => {}
            Err(error) => self.fail_store(error),
        }
    }

    /// The store has been flushed: held acknowledgements go out and cursors move.
    pub fn handle_durable<S: ReplicaStore + ?Sized>(&mut self, store: &mut S) {
        self.wrote_since_flush = false;
        for message in std::mem::take(&mut self.held_until_durable) {
            self.send(message);
        }
        let cursors = std::mem::take(&mut self.cursors_until_durable);
        for (scope, cursor) in &cursors {
            if let Err(error) = store.put_cursor(&self.config.peer_node, scope, *cursor) {
                self.fail_store(error);
                return;
            }
        }
        // The cursor writes themselves become durable with the next flush; losing them only costs a
        // larger offer next time.
        self.check_in_sync();
    }

    /// When the driver should call [`Self::handle_timeout`] next, in milliseconds.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.closed {
            return None;
        }
        let interval = self.config.heartbeat_interval_millis;
        let heartbeat_due = self
            .last_heartbeat_sent_millis
            .map_or(self.now_millis, |sent| sent + interval);
        let silence_deadline =
            self.last_received_millis + interval * MISSED_HEARTBEATS_BEFORE_TIMEOUT;
        let retry_deadline = self
            .requests
            .values()
            .filter(|request| request.needs_retry())
            .map(|request| request.sent_at_millis + self.config.request_retry_millis);
        retry_deadline
            .chain([heartbeat_due, silence_deadline])
            .min()
    }

    pub fn handle_timeout<S: ReplicaStore + ?Sized>(&mut self, store: &mut S, now_millis: u64) {
        self.now_millis = self.now_millis.max(now_millis);
        if self.closed {
            return;
        }
        let interval = self.config.heartbeat_interval_millis;
        if self.now_millis
            >= self.last_received_millis + interval * MISSED_HEARTBEATS_BEFORE_TIMEOUT
        {
            self.send_error(
                ErrorCode::Timeout,
                true,
                "no frame from the peer for three heartbeat intervals".into(),
                None,
            );
            self.close_with(CloseReason::Timeout);
            return;
        }
        let heartbeat_due = self
            .last_heartbeat_sent_millis
            .is_none_or(|sent| self.now_millis >= sent + interval);
        if heartbeat_due {
            self.send_heartbeat(store);
            self.retry_stalled_blob_downloads(store);
        }
        let retry_after = self.config.request_retry_millis;
        let stale: Vec<Scope> = self
            .requests
            .iter()
            .filter(|(_, request)| {
                request.needs_retry() && self.now_millis >= request.sent_at_millis + retry_after
            })
            .map(|(scope, _)| scope.clone())
            .collect();
        for scope in stale {
            if let Err(error) = self.request_scope(store, &scope) {
                self.fail_store(error);
                return;
            }
        }
    }

    /// The next frame to send, header included. Catch-up work is turned into frames here, lazily.
    pub fn poll_transmit<S: ReplicaStore + ?Sized>(&mut self, store: &mut S) -> Option<Vec<u8>> {
        while self.outbound.is_empty() && !self.closed {
            let Some(work) = self.work.pop_front() else {
                break;
            };
            if let Err(error) = self.do_work(store, work) {
                self.report_store_error(error);
            }
        }
        let frame = self.outbound.pop_front()?;
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += frame.len() as u64;
        if self.outbound.is_empty() && self.work.is_empty() {
            self.check_in_sync();
        }
        Some(frame)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// One frame payload from the peer (the bytes after the length prefix).
    pub fn handle_payload<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        payload: &[u8],
        now_millis: u64,
    ) {
        if self.closed {
            return;
        }
        self.now_millis = self.now_millis.max(now_millis);
        self.last_received_millis = self.now_millis;
        self.stats.frames_received += 1;
        self.stats.bytes_received += (payload.len() + FRAME_HEADER_BYTES) as u64;
        let message = match Message::decode_payload(payload) {
            Ok(message) => message,
            Err(DecodeError::UnsupportedVersion { theirs }) => {
                self.send_error(
                    ErrorCode::UnsupportedVersion,
                    true,
                    format!("this side speaks protocol version {PROTOCOL_VERSION}, the peer announced {theirs}"),
                    None,
                );
                self.close_with(CloseReason::UnsupportedVersion { theirs });
                return;
            }
            Err(error) => {
                self.send_error(ErrorCode::MalformedFrame, true, error.to_string(), None);
                self.close_with(CloseReason::ProtocolViolation(error.to_string()));
                return;
            }
        };
        let result = match message {
            Message::Hello(hello) => self.handle_hello(store, hello),
            Message::SyncRequest(request) => self.handle_sync_request(store, request),
            Message::Offer(offer) => self.handle_offer(store, offer),
            Message::Changes(changes) => self.handle_changes(store, changes),
            Message::Heads(heads) => self.handle_heads(store, heads),
            Message::BlobRequest(request) => self.handle_blob_request(store, request),
            Message::BlobChunk(chunk) => self.handle_blob_chunk(store, chunk),
            Message::BlobAck(ack) => {
                self.events
                    .push_back(Event::BlobAcknowledged { blob: ack.blob });
                Ok(())
            }
            Message::Ack(ack) => self.handle_ack(store, ack),
            Message::Documents(documents) => self.handle_documents(store, documents),
            Message::DocumentsAck(ack) => self.handle_documents_ack(store, ack),
            Message::Heartbeat(heartbeat) => self.handle_heartbeat(store, heartbeat),
            Message::Error(error) => {
                self.handle_peer_error(error);
                Ok(())
            }
        };
        if let Err(error) = result {
            self.report_store_error(error);
        }
    }

    fn handle_hello<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        hello: Hello,
    ) -> Result<(), StoreError> {
        if hello.node_id != self.config.peer_node {
            let message = format!(
                "hello names node {} but the connection belongs to {}",
                hello.node_id, self.config.peer_node
            );
            self.send_error(ErrorCode::UnexpectedMessage, true, message.clone(), None);
            self.close_with(CloseReason::ProtocolViolation(message));
            return Ok(());
        }
        let first = self.peer_hello.is_none();
        if first {
            self.events.push_back(Event::PeerHello {
                node: hello.node_id.clone(),
                software_version: hello.software_version.clone(),
                protocol_version: hello.protocol_version,
            });
            // The peer is authenticated by the transport and its Hello names it, so its word about its
            // own store may reset what we remember about that store, and nothing else may.
            if let Some(reason) = self.peer_store_mismatch(store, &hello)? {
                self.forget_peer_store(store, &hello, reason)?;
            }
        }
        self.peer_hello = Some(hello);
        Ok(())
    }

    /// Why the remembered state about the peer cannot describe the store it announced, if it cannot:
    /// another epoch (a store created anew: replaced or wiped under the same identity), no record of
    /// the epoch (never seen, or remembered by an older version), a log head below our cursor into it
    /// (the store went back in time: restored from an older copy), or a scope whose head it does not
    /// state (a claim that cannot be checked counts as unknown).
    fn peer_store_mismatch<S: ReplicaStore + ?Sized>(
        &self,
        store: &S,
        hello: &Hello,
    ) -> Result<Option<String>, StoreError> {
        let peer = &self.config.peer_node;
        let Some(remembered_epoch) = store.peer_epoch(peer)? else {
            return Ok(Some(format!(
                "no record of the epoch of {peer}'s store: reconciling from nothing"
            )));
        };
        if remembered_epoch != hello.store_epoch {
            return Ok(Some(format!(
                "{peer}'s store has epoch {}, not the {remembered_epoch} synced with before: it was created anew",
                hello.store_epoch
            )));
        }
        for scope in &self.config.receive_scopes {
            let Some(cursor) = store.cursor(peer, scope)? else {
                continue;
            };
            if cursor.epoch != hello.store_epoch {
                continue;
            }
            let mut stated = hello.log_heads.iter().filter(|head| &head.scope == scope);
            let head = match (stated.next(), stated.next()) {
                (Some(head), None) => head.seq,
                _ => {
                    return Ok(Some(format!(
                        "{peer} does not state the head of its log of {scope} once: its store cannot be checked"
                    )));
                }
            };
            if head < cursor.seq {
                return Ok(Some(format!(
                    "{peer}'s log of {scope} ends at {head}, before the {} already received from it: its store went back in time",
                    cursor.seq
                )));
            }
        }
        Ok(None)
    }

    /// Drops what we remember about the peer's store, records the epoch it has now, and asks again
    /// for every scope whose request relied on a cursor into the store it no longer is.
    fn forget_peer_store<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        hello: &Hello,
        reason: String,
    ) -> Result<(), StoreError> {
        let peer = self.config.peer_node.clone();
        store.forget_peer(&peer)?;
        store.put_peer_epoch(&peer, hello.store_epoch)?;
        self.wrote_since_flush = true;
        self.peer_heads.clear();
        self.pushed_heads.clear();
        self.fully_reconciled_at.clear();
        let relied_on_a_cursor: Vec<Scope> = self
            .requests
            .iter()
            .filter(|(_, request)| request.cursor.is_some())
            .map(|(scope, _)| scope.clone())
            .collect();
        for scope in relied_on_a_cursor {
            self.request_scope_from(store, &scope, true)?;
        }
        self.events
            .push_back(Event::PeerStoreNotRecognised { reason });
        Ok(())
    }

    fn handle_sync_request<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        request: SyncRequest,
    ) -> Result<(), StoreError> {
        if !self.config.send_scopes.contains(&request.scope) {
            self.send_error(
                ErrorCode::ScopeDenied,
                false,
                format!("scope {} is not shared with you", request.scope),
                None,
            );
            return Ok(());
        }
        if request.cursor.is_none() {
            // The peer asks for everything: it is new, or it no longer trusts its cursor because the
            // digests kept differing. Either way what we remember about its holdings may be wrong.
            self.distrusted_scopes.insert(request.scope.clone());
        }
        let summary = store.scope_summary(&request.scope)?;
        let after_seq = match request.cursor {
            Some(cursor) if cursor.epoch == store.epoch() && cursor.seq <= summary.log_head => {
                cursor.seq
            }
            _ => 0,
        };
        // A repeated request supersedes an unfinished answer to an older one for the same scope.
        self.work
            .retain(|work| !matches!(work, Work::Offer(job) if job.scope == request.scope));
        if summary.digest == request.digest {
            self.send(Message::Offer(Offer {
                request_id: request.request_id,
                scope: request.scope,
                epoch: store.epoch(),
                after_seq,
                up_to_seq: summary.log_head,
                complete: true,
                digest: summary.digest,
                entries: Vec::new(),
            }));
        } else {
            self.work.push_back(Work::Offer(OfferJob {
                request_id: request.request_id,
                scope: request.scope,
                after_seq,
                up_to_seq: summary.log_head,
                digest: summary.digest,
            }));
        }
        Ok(())
    }

    fn handle_offer<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        offer: Offer,
    ) -> Result<(), StoreError> {
        if !self.config.receive_scopes.contains(&offer.scope) {
            self.send_error(
                ErrorCode::ScopeDenied,
                false,
                format!("scope {} is not received from you", offer.scope),
                None,
            );
            return Ok(());
        }
        let names_other_scope = |entry: &OfferEntry| match entry {
            OfferEntry::Document { doc, .. } | OfferEntry::Pushed { doc, .. } => {
                doc.scope() != &offer.scope
            }
            OfferEntry::Blob { .. } | OfferEntry::Documents { .. } => false,
        };
        if offer.entries.iter().any(names_other_scope) {
            let message = format!(
                "an offer for {} names a document of another scope",
                offer.scope
            );
            self.send_error(ErrorCode::MalformedFrame, true, message.clone(), None);
            self.close_with(CloseReason::ProtocolViolation(message));
            return Ok(());
        }
        let solicited = offer.request_id != 0;
        if solicited {
            let Some(request) = self.requests.get_mut(&offer.scope) else {
                return Ok(());
            };
            if request.request_id != offer.request_id || request.complete {
                return Ok(()); // An answer to an older request, or a duplicate.
            }
            let expected_start = match request.covered_up_to {
                Some(covered) => covered == offer.after_seq,
                None => {
                    offer.after_seq == 0
                        || request
                            .cursor
                            .is_some_and(|cursor| cursor.seq == offer.after_seq)
                }
            };
            if !expected_start {
                return Ok(()); // Out of order: the request is retried later as a whole.
            }
            if !request.answered {
                request.answered = true;
                self.stats.last_rtt_millis =
                    Some(self.now_millis.saturating_sub(request.sent_at_millis));
            }
            request.covered_up_to = Some(offer.up_to_seq);
            request.epoch = Some(offer.epoch);
            request.complete = offer.complete;
            request.peer_digest.get_or_insert(offer.digest);
        }
        for entry in offer.entries {
            match entry {
                OfferEntry::Document { doc, heads } => {
                    let satisfied = self.learn_peer_heads(store, &doc, heads.clone())?;
                    // What the peer may not write is never asked for, nor waited on: the request
                    // would otherwise wait for changes that would be refused.
                    if !satisfied && self.config.peer_may_write(&doc) {
                        let our_heads = store.doc_heads(&doc)?.unwrap_or_default();
                        self.tell_heads(doc.clone(), our_heads, true);
                        if let Some(request) =
                            self.requests.get_mut(&offer.scope).filter(|_| solicited)
                        {
                            request.wait_for_document(doc, Some(heads));
                        }
                    }
                }
                OfferEntry::Pushed {
                    doc,
                    heads_fingerprint,
                } => {
                    // The push came just before this frame; if it was lost, say what we have.
                    let pushed_heads = self.peer_heads.get(&doc).cloned();
                    let satisfied = match &pushed_heads {
                        Some(heads) if heads_ack_fingerprint(&doc, heads) == heads_fingerprint => {
                            store.contains_changes(&doc, heads)?
                        }
                        _ => false,
                    };
                    if !satisfied && self.config.peer_may_write(&doc) {
                        let our_heads = store.doc_heads(&doc)?.unwrap_or_default();
                        self.tell_heads(doc.clone(), our_heads, true);
                        if let Some(request) =
                            self.requests.get_mut(&offer.scope).filter(|_| solicited)
                        {
                            request.wait_for_document(doc, None);
                        }
                    }
                }
                OfferEntry::Documents { batch, .. } => {
                    if !self.batches_received.contains(&batch)
                        && let Some(request) =
                            self.requests.get_mut(&offer.scope).filter(|_| solicited)
                    {
                        // The batch came before this frame or not at all; without it the entries it
                        // stands for are unknown, so the request is asked again when it times out.
                        request.missing_batch = true;
                    }
                }
                OfferEntry::Blob { blob, len } => {
                    // Wanted unless the offer's scope holds it: holding the bytes for another scope
                    // does not record it in this one, only receiving them all does (10.9).
                    if !store.blob_in_scope(&offer.scope, &blob)? {
                        if self.blob_lengths.len() < MAX_WANTED_BLOBS {
                            self.blob_lengths.insert((offer.scope.clone(), blob), len);
                        }
                        self.want_blob(store, offer.scope.clone(), blob)?;
                        if let Some(request) =
                            self.requests.get_mut(&offer.scope).filter(|_| solicited)
                        {
                            request.waiting_blobs.insert(blob);
                        }
                    }
                }
            }
        }
        if solicited {
            self.finish_request_if_satisfied(&offer.scope);
        }
        Ok(())
    }

    fn handle_changes<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        changes: Changes,
    ) -> Result<(), StoreError> {
        let doc = changes.doc;
        if !self.config.peer_may_write(&doc) {
            self.refuse_unauthorised_write(doc);
            return Ok(());
        }
        if let Some(quota) = self.document_quota_reached(store, &doc)? {
            self.refuse_over_quota(doc.scope().clone(), Some(doc), quota);
            return Ok(());
        }
        let outcome = match store.apply_changes(&doc, changes.changes) {
            Ok(outcome) => outcome,
            Err(StoreError::Io(reason)) => return Err(StoreError::Io(reason)),
            Err(error) => {
                self.refuse_document_write(doc, &error);
                return Ok(());
            }
        };
        if outcome.applied > 0 {
            self.wrote_since_flush = true;
            self.stats.changes_applied += outcome.applied as u64;
            self.events.push_back(Event::DocumentUpdated {
                doc: doc.clone(),
                heads: outcome.heads.clone(),
            });
        }
        if outcome.missing_dependencies {
            // Our shared heads were wrong (the peer lost data, or frames were lost): say what we have.
            self.tell_heads(doc.clone(), outcome.heads.clone(), true);
        } else if !changes.sender_heads.is_empty() {
            self.learn_peer_heads(store, &doc, changes.sender_heads)?;
            // The acknowledgement: our heads, once what we stored is durable.
            remember_heads(&mut self.told_heads, doc.clone(), outcome.heads.clone());
            self.held_until_durable.push(Message::Heads(DocHeads {
                doc: doc.clone(),
                heads: outcome.heads,
            }));
        }
        self.doc_progressed(store, &doc)
    }

    fn handle_heads<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        heads: DocHeads,
    ) -> Result<(), StoreError> {
        let doc = heads.doc;
        let readable = self.config.send_scopes.contains(doc.scope());
        if !readable && !self.config.receive_scopes.contains(doc.scope()) {
            self.send_error(
                ErrorCode::ScopeDenied,
                false,
                format!("scope {} is not shared with you", doc.scope()),
                Some(doc),
            );
            return Ok(());
        }
        // The peer told us exactly what it has, which replaces our guess about what we pushed.
        self.pushed_heads.remove(&doc);
        let satisfied = self.learn_peer_heads(store, &doc, heads.heads)?;
        if !satisfied && self.config.peer_may_write(&doc) {
            let our_heads = store.doc_heads(&doc)?.unwrap_or_default();
            self.tell_heads(doc, our_heads, false);
        }
        Ok(())
    }

    fn handle_ack<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        ack: DocAck,
    ) -> Result<(), StoreError> {
        // Only an acknowledgement of our latest push counts; one for an older push is ignored, and
        // anti-entropy covers whatever that leaves out.
        let Some(pushed) = self.pushed_heads.get(&ack.doc).cloned() else {
            return Ok(());
        };
        if heads_ack_fingerprint(&ack.doc, &pushed) == ack.heads_fingerprint {
            self.learn_peer_heads(store, &ack.doc, pushed)?;
        }
        Ok(())
    }

    /// Whole documents in saved form: each is applied through the store's ordinary dependency
    /// checks, and the batch is acknowledged once every one of them is in and durable.
    fn handle_documents<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        documents: Documents,
    ) -> Result<(), StoreError> {
        let unpacked = match documents.unpack() {
            Ok(unpacked) => unpacked,
            Err(error) => {
                self.send_error(ErrorCode::MalformedFrame, true, error.to_string(), None);
                self.close_with(CloseReason::ProtocolViolation(error.to_string()));
                return Ok(());
            }
        };
        let mut all_applied = true;
        for SavedDocument { doc, saved } in unpacked {
            if !self.config.peer_may_write(&doc) {
                self.refuse_unauthorised_write(doc);
                all_applied = false;
                continue;
            }
            if let Some(quota) = self.document_quota_reached(store, &doc)? {
                self.refuse_over_quota(doc.scope().clone(), Some(doc), quota);
                all_applied = false;
                continue;
            }
            let applied = changes_of_saved_document(&doc, &saved)
                .and_then(|(changes, heads)| Ok((store.apply_changes(&doc, changes)?, heads)));
            let (outcome, saved_heads) = match applied {
                Ok(applied) => applied,
                Err(StoreError::Io(reason)) => return Err(StoreError::Io(reason)),
                Err(error) => {
                    self.refuse_document_write(doc, &error);
                    all_applied = false;
                    continue;
                }
            };
            if outcome.applied > 0 {
                self.wrote_since_flush = true;
                self.stats.changes_applied += outcome.applied as u64;
                self.events.push_back(Event::DocumentUpdated {
                    doc: doc.clone(),
                    heads: outcome.heads.clone(),
                });
            }
            // A saved document carries its whole history, so nothing can be missing; the peer holds
            // at least these heads, which an offer entry for the document may name.
            self.learn_peer_heads(store, &doc, saved_heads)?;
            self.doc_progressed(store, &doc)?;
        }
        if all_applied {
            self.batches_received.insert(documents.batch);
            while self.batches_received.len() > MAX_REMEMBERED_RECEIVED_BATCHES {
                self.batches_received.pop_first();
            }
            self.held_until_durable
                .push(Message::DocumentsAck(DocumentsAck {
                    batch: documents.batch,
                }));
        }
        Ok(())
    }

    /// The bound of the quota that a write to `doc` from the peer would pass, if any: one document
    /// too many when `doc` is new to the store, or the scope's document bytes already spent.
    fn document_quota_reached<S: ReplicaStore + ?Sized>(
        &self,
        store: &S,
        doc: &DocId,
    ) -> Result<Option<QuotaKind>, StoreError> {
        let Some(quota) = self.config.receive_quota else {
            return Ok(None);
        };
        let usage = store.scope_usage(doc.scope())?;
        if usage.document_bytes >= quota.max_document_bytes {
            return Ok(Some(QuotaKind::DocumentBytes));
        }
        if usage.documents >= quota.max_documents && store.doc_heads(doc)?.is_none() {
            return Ok(Some(QuotaKind::Documents));
        }
        Ok(None)
    }

    /// Tells the peer that a write was refused because its scope holds what its quota allows.
    fn refuse_over_quota(&mut self, scope: Scope, doc: Option<DocId>, quota: QuotaKind) {
        let bound = match (quota, self.config.receive_quota) {
            (QuotaKind::Documents, Some(limits)) => format!("{} documents", limits.max_documents),
            (QuotaKind::DocumentBytes, Some(limits)) => {
                format!("{} bytes of documents", limits.max_document_bytes)
            }
            (QuotaKind::BlobBytes, Some(limits)) => {
                format!("{} bytes of files", limits.max_blob_bytes)
            }
            (QuotaKind::UnfinishedBlobs, Some(limits)) => {
                format!("{} unfinished file uploads", limits.max_unfinished_blobs)
            }
            (_, None) => "its quota".to_owned(),
        };
        let message = format!(
            "scope {scope} holds what its quota allows ({bound}); nothing was stored. Ask the \
             relay's operators to raise the quota"
        );
        self.send_error(ErrorCode::TooLarge, false, message, doc);
        self.events.push_back(Event::QuotaReached { scope, quota });
    }

    /// Tells the peer that it may not write `doc` at all, so nothing it sent for it was stored.
    fn refuse_unauthorised_write(&mut self, doc: DocId) {
        let message = if self.config.receive_scopes.contains(doc.scope()) {
            format!(
                "you may not write document {doc}: in scope {} only some documents are yours to \
                 write; nothing was stored",
                doc.scope()
            )
        } else {
            format!(
                "you may not write to scope {}; nothing was stored",
                doc.scope()
            )
        };
        self.send_error(ErrorCode::ScopeDenied, false, message, Some(doc));
    }

    /// Tells the peer, and the driver, that a write to `doc` it sent was not stored, and why. The
    /// session goes on: the error concerns that document only.
    fn refuse_document_write(&mut self, doc: DocId, error: &StoreError) {
        let code = match error {
            StoreError::DocumentTooLarge { .. } => ErrorCode::TooLarge,
            StoreError::CorruptDocument { .. } => ErrorCode::StoreFailure,
            _ => ErrorCode::BadChange,
        };
        self.send_error(code, false, error.to_string(), Some(doc.clone()));
        self.events.push_back(Event::LocalError {
            message: error.to_string(),
            doc: Some(doc),
        });
    }

    /// Every document of one of our batches is in the peer's store, durably: it holds their heads.
    fn handle_documents_ack<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        ack: DocumentsAck,
    ) -> Result<(), StoreError> {
        let Some(documents) = self.batches_unacknowledged.remove(&ack.batch) else {
            return Ok(());
        };
        for (doc, heads) in documents {
            if self.pushed_heads.get(&doc) == Some(&heads) {
                self.pushed_heads.remove(&doc);
            }
            self.learn_peer_heads(store, &doc, heads)?;
        }
        Ok(())
    }

    fn handle_blob_request<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        request: BlobRequest,
    ) -> Result<(), StoreError> {
        if !self.config.send_scopes.contains(&request.scope)
            || !store.blob_in_scope(&request.scope, &request.blob)?
        {
            self.send_error(
                ErrorCode::ScopeDenied,
                false,
                format!(
                    "blob {} is not available to you in scope {}",
                    request.blob, request.scope
                ),
                None,
            );
            return Ok(());
        }
        // A repeated request (after a lost piece) restarts the upload where the peer stands. Only
        // the upload into the same scope is replaced: the peer may be fetching the blob for two.
        self.work.retain(|work| {
            !matches!(work, Work::BlobUpload { scope, blob, .. }
                if *blob == request.blob && *scope == request.scope)
        });
        self.work.push_back(Work::BlobUpload {
            scope: request.scope,
            blob: request.blob,
            offset: request.offset,
        });
        Ok(())
    }

    fn handle_blob_chunk<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        chunk: BlobChunk,
    ) -> Result<(), StoreError> {
        if !self.config.receive_scopes.contains(&chunk.scope) {
            self.send_error(
                ErrorCode::ScopeDenied,
                false,
                format!("you may not write to scope {}", chunk.scope),
                None,
            );
            return Ok(());
        }
        // The store keeps each scope's upload apart and records the blob in the scope only when all
        // of its bytes arrived and hash to its id, so a chunk, asked for or not, can only ever add
        // to the sender's own upload into `chunk.scope`.
        if let Some(quota) = self.config.receive_quota
            && !store.blob_in_scope(&chunk.scope, &chunk.blob)?
            && store
                .scope_usage(&chunk.scope)?
                .blob_bytes
                .saturating_add(chunk.total_len)
                > quota.max_blob_bytes
        {
            self.blob_downloads
                .remove(&(chunk.scope.clone(), chunk.blob));
            self.refuse_over_quota(chunk.scope, None, QuotaKind::BlobBytes);
            return self.start_blob_downloads(store);
        }
        if let Some(quota) = self.config.receive_quota
            && !chunk.bytes.is_empty()
            && chunk.bytes.len() as u64 != chunk.total_len
            && !store.blob_in_scope(&chunk.scope, &chunk.blob)?
            && store.blob_received_len(&chunk.scope, &chunk.blob)? == 0
            && store.unfinished_uploads(&chunk.scope)? >= quota.max_unfinished_blobs
        {
            // This chunk would start one more unfinished upload (a file sent whole in one chunk
            // never is one).
            self.blob_downloads
                .remove(&(chunk.scope.clone(), chunk.blob));
            self.refuse_over_quota(chunk.scope, None, QuotaKind::UnfinishedBlobs);
            return self.start_blob_downloads(store);
        }
        let outcome = store.write_blob_chunk(
            &chunk.scope,
            &chunk.blob,
            chunk.offset,
            chunk.total_len,
            &chunk.bytes,
        );
        let download = (chunk.scope.clone(), chunk.blob);
        match outcome {
            Ok(BlobWriteOutcome::Incomplete { received }) => {
                self.wrote_since_flush = true;
                if let Some(asked) = self.blob_downloads.get_mut(&download) {
                    *asked = received;
                }
                Ok(())
            }
            Ok(BlobWriteOutcome::Complete) => {
                self.wrote_since_flush = true;
                self.blob_downloads.remove(&download);
                self.blob_lengths.remove(&download);
                self.held_until_durable
                    .push(Message::BlobAck(BlobAck { blob: chunk.blob }));
                self.events.push_back(Event::BlobStored {
                    scope: chunk.scope.clone(),
                    blob: chunk.blob,
                });
                if let Some(request) = self.requests.get_mut(&chunk.scope) {
                    request.waiting_blobs.remove(&chunk.blob);
                }
                self.finish_request_if_satisfied(&chunk.scope);
                self.start_blob_downloads(store)
            }
            Err(StoreError::BlobOutOfOrder { received, .. }) => {
                // A piece of one of our downloads was lost or duplicated: ask again from where we
                // stand, once per gap. A piece that belongs to no download of ours (unsolicited, or
                // late after the download failed) is dropped without a word: it stored nothing,
                // and answering it would let a peer start downloads without bound.
                if let Some(asked) = self.blob_downloads.get_mut(&download)
                    && chunk.offset > received
                    && *asked != received
                {
                    *asked = received;
                    self.send(Message::BlobRequest(BlobRequest {
                        scope: chunk.scope,
                        blob: chunk.blob,
                        offset: received,
                    }));
                }
                Ok(())
            }
            Err(StoreError::Io(reason)) => Err(StoreError::Io(reason)),
            Err(error) => {
                // Only this scope's upload failed; the store dropped it on a mismatch, and the blob
                // is asked for again by the next sync request that finds it missing.
                self.blob_downloads.remove(&download);
                self.blob_lengths.remove(&download);
                let code = match error {
                    StoreError::BlobMismatch { .. } => ErrorCode::BlobMismatch,
                    _ => ErrorCode::TooLarge,
                };
                self.send_error(code, false, error.to_string(), None);
                self.events.push_back(Event::LocalError {
                    message: error.to_string(),
                    doc: None,
                });
                self.start_blob_downloads(store)
            }
        }
    }

    fn handle_heartbeat<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        heartbeat: Heartbeat,
    ) -> Result<(), StoreError> {
        self.peer_status = Some(heartbeat.status);
        if heartbeat.health.is_some() {
            self.peer_health = heartbeat.health;
        }
        for state in heartbeat.scopes {
            if !self.config.receive_scopes.contains(&state.scope) {
                continue;
            }
            let ours = store.scope_summary(&state.scope)?;
            let request_open = self
                .requests
                .get(&state.scope)
                .is_some_and(RequestProgress::needs_retry);
            self.scope_differs
                .insert(state.scope.clone(), ours.digest != state.digest);
            if ours.digest == state.digest {
                self.mismatch_streaks.remove(&state.scope);
                self.fully_reconciled_at.remove(&state.scope);
                self.events.push_back(Event::ScopeMatched {
                    scope: state.scope.clone(),
                    log_head: ours.log_head,
                });
                // Equal content means we hold everything in the peer's log up to its head.
                if !request_open {
                    self.cursors_until_durable.push((
                        state.scope.clone(),
                        Cursor {
                            epoch: state.epoch,
                            seq: state.log_head,
                        },
                    ));
                }
            } else if self.fully_reconciled_at.get(&state.scope) == Some(&state.digest) {
                // A full reconciliation at this very digest of the peer's found nothing we lack: we
                // hold more than the peer, in a scope it may not receive from us. Asking again would
                // cost a full offer every few heartbeats and change nothing; the scope still counts
                // as differing in the progress report, because it does.
            } else if !request_open && self.work.is_empty() && self.held_until_durable.is_empty() {
                // Anti-entropy: the difference outlived everything in flight, so ask again. When it
                // persists while neither side has anything left to send, neither our cursor nor what
                // either side remembers about the other can be trusted (a lost frame, a replaced or
                // restored store): ask for the whole scope, which also makes both sides check every
                // document against what the other says it holds.
                let streak = self
                    .mismatch_streaks
                    .entry(state.scope.clone())
                    .or_default();
                if heartbeat.status.docs_waiting == 0 {
                    *streak += 1;
                }
                let full = *streak >= MISMATCHES_BEFORE_FULL_RESYNC;
                if full {
                    *streak = 0;
                }
                self.request_scope_from(store, &state.scope, full)?;
            }
        }
        Ok(())
    }

    fn handle_peer_error(&mut self, error: ErrorMessage) {
        self.events.push_back(Event::PeerError {
            code: error.code,
            message: error.message.clone(),
            doc: error.doc,
        });
        if error.fatal {
            self.close_with(CloseReason::PeerClosed {
                code: error.code,
                message: error.message,
            });
        }
    }

    /// Records that the peer has `heads` of `doc` and decides what follows. Returns true when we hold
    /// every one of those heads (the peer has nothing we lack, as far as it told us).
    ///
    /// What the peer says it holds outranks what we remembered about it. When we hold all of its
    /// heads, the shared heads become exactly those, even when that is less than we remembered, or
    /// nothing at all: a peer whose store was replaced or restored says less than it used to hold,
    /// and only believing it gets it what it lost. When the peer holds changes we lack, we cannot
    /// tell how much of our history it has, so the remembered heads stay, unless the scope is being
    /// reconciled in full because they failed already: then only the heads both hold count.
    fn learn_peer_heads<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        doc: &DocId,
        heads: Vec<ChangeHash>,
    ) -> Result<bool, StoreError> {
        let heads = sorted_heads(heads);
        let we_have_all = store.contains_changes(doc, &heads)?;
        let distrusted = self.distrusted_scopes.contains(doc.scope());
        let shared = if we_have_all {
            Some(heads.clone())
        } else if distrusted {
            let mut held = Vec::with_capacity(heads.len());
            for head in &heads {
                if store.contains_changes(doc, std::slice::from_ref(head))? {
                    held.push(*head);
                }
            }
            Some(held)
        } else {
            None
        };
        if let Some(shared) = shared {
            let persisted = store.shared_heads(&self.config.peer_node, doc)?;
            let unchanged = match &persisted {
                Some(persisted) => persisted == &shared,
                None => shared.is_empty(),
            };
            if !unchanged {
                store.put_shared_heads(&self.config.peer_node, doc, &shared)?;
                self.wrote_since_flush = true;
            }
        }
        let our_heads = store.doc_heads(doc)?.unwrap_or_default();
        remember_heads(&mut self.peer_heads, doc.clone(), heads.clone());
        if (we_have_all || distrusted)
            && !our_heads.is_empty()
            && our_heads != heads
            && self.config.send_scopes.contains(doc.scope())
        {
            self.queue_push(doc.clone());
        }
        Ok(we_have_all)
    }

    /// Sends our heads for a document, unless the peer already heard exactly these from us.
    fn tell_heads(&mut self, doc: DocId, heads: Vec<ChangeHash>, even_if_told: bool) {
        if heads.len() > MAX_HEADS {
            return;
        }
        if !even_if_told && self.told_heads.get(&doc) == Some(&heads) {
            return;
        }
        remember_heads(&mut self.told_heads, doc.clone(), heads.clone());
        self.send(Message::Heads(DocHeads { doc, heads }));
    }

    /// A document gained changes: offers waiting on it may now be satisfied.
    fn doc_progressed<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        doc: &DocId,
    ) -> Result<(), StoreError> {
        let Some(request) = self.requests.get(doc.scope()) else {
            return Ok(());
        };
        let Some(wanted) = request.waiting_docs.get(doc) else {
            return Ok(());
        };
        let wanted = match wanted {
            Some(heads) => heads.clone(),
            None => match self.peer_heads.get(doc) {
                Some(heads) => heads.clone(),
                None => return Ok(()),
            },
        };
        if store.contains_changes(doc, &wanted)? {
            if let Some(request) = self.requests.get_mut(doc.scope()) {
                request.waiting_docs.remove(doc);
            }
            self.finish_request_if_satisfied(&doc.scope().clone());
        }
        Ok(())
    }

    fn finish_request_if_satisfied(&mut self, scope: &Scope) {
        let Some(request) = self.requests.get(scope) else {
            return;
        };
        if !request.satisfied() {
            return;
        }
        if let (Some(epoch), Some(seq)) = (request.epoch, request.covered_up_to) {
            self.cursors_until_durable
                .push((scope.clone(), Cursor { epoch, seq }));
        }
        if request.full
            && let Some(digest) = request.peer_digest
        {
            self.fully_reconciled_at.insert(scope.clone(), digest);
        }
        self.check_in_sync();
    }

    fn check_in_sync(&mut self) {
        let all_reconciled = self.config.receive_scopes.iter().all(|scope| {
            self.requests
                .get(scope)
                .is_some_and(RequestProgress::satisfied)
        });
        let idle = self.work.is_empty()
            && self.outbound.is_empty()
            && self.held_until_durable.is_empty()
            && self.blob_downloads.is_empty();
        if all_reconciled && idle {
            if !self.in_sync_reported {
                self.in_sync_reported = true;
                self.last_complete_sync_millis = Some(self.now_millis);
                self.events.push_back(Event::InSync);
            }
        } else if !all_reconciled {
            self.in_sync_reported = false;
        }
    }

    fn request_scope<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &S,
        scope: &Scope,
    ) -> Result<(), StoreError> {
        self.request_scope_from(store, scope, false)
    }

    /// Asks the peer for what changed in `scope` since our cursor, or for everything when `full`.
    fn request_scope_from<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &S,
        scope: &Scope,
        full: bool,
    ) -> Result<(), StoreError> {
        let summary = store.scope_summary(scope)?;
        let cursor = if full {
            // Asking for everything because the cursor failed means what we remember about the
            // peer's holdings failed too: trust it no more in this session for this scope.
            self.distrusted_scopes.insert(scope.clone());
            None
        } else {
            store.cursor(&self.config.peer_node, scope)?
        };
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.requests.insert(
            scope.clone(),
            RequestProgress {
                request_id,
                sent_at_millis: self.now_millis,
                cursor,
                covered_up_to: None,
                epoch: None,
                complete: false,
                waiting_docs: HashMap::new(),
                waiting_blobs: HashSet::new(),
                answered: false,
                full,
                missing_batch: false,
                peer_digest: None,
            },
        );
        self.in_sync_reported = false;
        self.send(Message::SyncRequest(SyncRequest {
            request_id,
            scope: scope.clone(),
            digest: summary.digest,
            cursor,
        }));
        Ok(())
    }

    fn want_blob<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &S,
        scope: Scope,
        blob: BlobId,
    ) -> Result<(), StoreError> {
        let download = (scope, blob);
        let already =
            self.blob_downloads.contains_key(&download) || self.blobs_wanted.contains(&download);
        if !already && self.blobs_wanted.len() < MAX_WANTED_BLOBS {
            self.blobs_wanted.push_back(download);
        }
        self.start_blob_downloads(store)
    }

    fn start_blob_downloads<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &S,
    ) -> Result<(), StoreError> {
        while self.blob_downloads.len() < MAX_CONCURRENT_BLOB_DOWNLOADS {
            let Some((scope, blob)) = self.blobs_wanted.pop_front() else {
                break;
            };
            if store.blob_in_scope(&scope, &blob)? {
                continue;
            }
            // Resumes this scope's own upload; bytes received for other scopes do not count.
            let offset = store.blob_received_len(&scope, &blob)?;
            self.blob_downloads.insert((scope.clone(), blob), offset);
            self.send(Message::BlobRequest(BlobRequest {
                scope,
                blob,
                offset,
            }));
        }
        Ok(())
    }

    /// Downloads that made no progress since the last heartbeat are asked for again.
    fn retry_stalled_blob_downloads<S: ReplicaStore + ?Sized>(&mut self, store: &S) {
        let downloads: Vec<((Scope, BlobId), u64)> = self
            .blob_downloads
            .iter()
            .map(|(download, asked)| (download.clone(), *asked))
            .collect();
        for ((scope, blob), asked) in downloads {
            let Ok(received) = store.blob_received_len(&scope, &blob) else {
                continue;
            };
            if received == asked {
                self.send(Message::BlobRequest(BlobRequest {
                    scope: scope.clone(),
                    blob,
                    offset: received,
                }));
            }
            self.blob_downloads.insert((scope, blob), received);
        }
    }

    fn send_heartbeat<S: ReplicaStore + ?Sized>(&mut self, store: &S) {
        let mut scopes = Vec::new();
        for scope in &self.config.send_scopes {
            match store.scope_summary(scope) {
                Ok(summary) => scopes.push(ScopeState {
                    scope: scope.clone(),
                    digest: summary.digest,
                    log_head: summary.log_head,
                    epoch: store.epoch(),
                }),
                Err(error) => {
                    self.fail_store(error);
                    return;
                }
            }
        }
        self.last_heartbeat_sent_millis = Some(self.now_millis);
        self.send(Message::Heartbeat(Heartbeat {
            sent_at_millis: self.now_millis,
            status: self.status(),
            scopes,
            health: self.health,
        }));
    }

    fn queue_push(&mut self, doc: DocId) {
        if self.queued_pushes.len() < MAX_QUEUED_PUSHES && self.queued_pushes.insert(doc.clone()) {
            self.work.push_back(Work::Push(doc));
        }
    }

    fn do_work<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        work: Work,
    ) -> Result<(), StoreError> {
        match work {
            Work::Push(doc) => {
                self.queued_pushes.remove(&doc);
                self.push_document(store, doc)
            }
            Work::PushRemainder {
                doc,
                remaining,
                sender_heads,
            } => {
                self.send_changes_frames(doc, remaining, sender_heads);
                Ok(())
            }
            Work::Offer(job) => self.send_offer_chunk(store, job),
            Work::Send(message) => {
                self.send(*message);
                Ok(())
            }
            Work::BlobUpload {
                scope,
                blob,
                offset,
            } => {
                let Some(total_len) = store.blob_len(&blob)? else {
                    return Ok(());
                };
                let bytes = store.read_blob(&blob, offset, BLOB_CHUNK_BYTES)?;
                let next_offset = offset + bytes.len() as u64;
                self.send(Message::BlobChunk(BlobChunk {
                    scope: scope.clone(),
                    blob,
                    offset,
                    total_len,
                    bytes,
                }));
                if next_offset < total_len {
                    self.work.push_front(Work::BlobUpload {
                        scope,
                        blob,
                        offset: next_offset,
                    });
                }
                Ok(())
            }
        }
    }

    /// Sends the changes of `doc` the peer lacks, judged by everything we know it has: the shared heads
    /// persisted from earlier sessions, the heads it told us, and what we already pushed.
    fn push_document<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        doc: DocId,
    ) -> Result<(), StoreError> {
        let Some(our_heads) = store.doc_heads(&doc)? else {
            return Ok(());
        };
        let peer_has = self.peer_known_heads(store, &doc)?;
        if peer_has == our_heads {
            return Ok(());
        }
        let changes = store.changes_since(&doc, &peer_has)?;
        if changes.is_empty() {
            return Ok(());
        }
        let change_bytes: usize = changes.iter().map(Vec::len).sum();
        if peer_has.is_empty() && change_bytes > SMALL_HISTORY_BYTES {
            // The peer holds none of it, as far as we know, and its history is long: the saved form
            // costs less than the history change by change.
            let mut batch = Vec::new();
            if let BatchFit::Added(_) = self.add_to_batch(store, &doc, &our_heads, &mut batch, 0)?
                && let Some((_, message)) = self.pack_batch(batch)
            {
                self.send(message);
                return Ok(());
            }
        }
        remember_heads(&mut self.pushed_heads, doc.clone(), our_heads.clone());
        self.send_changes_frames(doc, changes.into(), our_heads);
        Ok(())
    }

    /// Everything we know the peer has of `doc`: the shared heads persisted from earlier sessions, the
    /// heads it told us in this one, and what we already pushed to it.
    fn peer_known_heads<S: ReplicaStore + ?Sized>(
        &self,
        store: &S,
        doc: &DocId,
    ) -> Result<Vec<ChangeHash>, StoreError> {
        let mut peer_has: Vec<ChangeHash> = store
            .shared_heads(&self.config.peer_node, doc)?
            .unwrap_or_default();
        peer_has.extend(self.peer_heads.get(doc).into_iter().flatten().copied());
        peer_has.extend(self.pushed_heads.get(doc).into_iter().flatten().copied());
        Ok(sorted_heads(peer_has))
    }

    /// Packs changes into frames below the size limit. One frame goes to the queue now; the rest wait
    /// at the front of the work queue so that memory per session stays bounded by one document.
    fn send_changes_frames(
        &mut self,
        doc: DocId,
        mut remaining: VecDeque<Vec<u8>>,
        sender_heads: Vec<ChangeHash>,
    ) {
        let budget = MAX_FRAME_PAYLOAD_BYTES - CHANGES_FRAME_OVERHEAD_BYTES;
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        while let Some(change) = remaining.front() {
            if !batch.is_empty()
                && (batch_bytes + change.len() + 8 > budget || batch.len() == MAX_CHANGES_PER_FRAME)
            {
                break;
            }
            batch_bytes += change.len() + 8;
            batch.extend(remaining.pop_front());
        }
        let last = remaining.is_empty();
        let heads = if last {
            sender_heads.clone()
        } else {
            Vec::new()
        };
        self.send(Message::Changes(Changes {
            doc: doc.clone(),
            changes: batch,
            sender_heads: heads,
        }));
        if !last {
            self.work.push_front(Work::PushRemainder {
                doc,
                remaining,
                sender_heads,
            });
        }
    }

    /// One frame of an offer. The pushes of its documents go first, so that by the time the requester
    /// checks an entry it usually holds the changes already and answers nothing. Documents the peer
    /// holds none of (as far as we know) go whole, in one compressed [`Documents`] batch per offer
    /// frame, which ends the frame early when the batch is full.
    fn send_offer_chunk<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &mut S,
        job: OfferJob,
    ) -> Result<(), StoreError> {
        let items = store.log_after(&job.scope, job.after_seq, MAX_OFFER_ENTRIES)?;
        let mut entries = Vec::new();
        let mut chunk_end = job.after_seq;
        let mut budget = MAX_FRAME_PAYLOAD_BYTES - CHANGES_FRAME_OVERHEAD_BYTES;
        let mut pushes = Vec::new();
        let mut batch: Vec<(SavedDocument, Vec<ChangeHash>)> = Vec::new();
        let mut batch_bytes = 0usize;
        let distrusted = self.distrusted_scopes.contains(&job.scope);
        for (seq, item) in items {
            if seq > job.up_to_seq || entries.len() + 1 >= MAX_OFFER_ENTRIES {
                break;
            }
            let entry = match item {
                LogItem::Document(doc) => {
                    let heads = store.doc_heads(&doc)?.unwrap_or_default();
                    if heads.len() > MAX_HEADS {
                        // Only a hostile or broken writer makes this many concurrent branches; the
                        // document cannot be described on the wire, so say so rather than skip it quietly.
                        self.events.push_back(Event::LocalError {
                            message: format!("{doc} has {} heads, over the protocol bound of {MAX_HEADS}; not offered", heads.len()),
                            doc: Some(doc),
                        });
                        chunk_end = seq;
                        continue;
                    }
                    let remembered = store.shared_heads(&self.config.peer_node, &doc)?;
                    let learned_this_session =
                        self.peer_heads.contains_key(&doc) || self.pushed_heads.contains_key(&doc);
                    let known = self.peer_known_heads(store, &doc)?;
                    if distrusted && remembered.is_some() && !learned_this_session {
                        // What we remember failed to explain a differing digest: list the document
                        // with its heads and let the peer say what it holds.
                        OfferEntry::Document { doc, heads }
                    } else if known.is_empty() {
                        match self.add_to_batch(store, &doc, &heads, &mut batch, batch_bytes)? {
                            BatchFit::Added(bytes) => {
                                batch_bytes += bytes;
                                chunk_end = seq;
                                continue;
                            }
                            BatchFit::BatchFull => break,
                            BatchFit::TooLargeForAnyBatch => {
                                pushes.push(doc.clone());
                                let heads_fingerprint = heads_ack_fingerprint(&doc, &heads);
                                OfferEntry::Pushed {
                                    doc,
                                    heads_fingerprint,
                                }
                            }
                        }
                    } else if known != heads {
                        pushes.push(doc.clone());
                        let heads_fingerprint = heads_ack_fingerprint(&doc, &heads);
                        OfferEntry::Pushed {
                            doc,
                            heads_fingerprint,
                        }
                    } else {
                        OfferEntry::Document { doc, heads }
                    }
                }
                LogItem::Blob(blob) => match store.blob_len(&blob)? {
                    Some(len) => OfferEntry::Blob { blob, len },
                    None => {
                        chunk_end = seq;
                        continue;
                    }
                },
            };
            let entry_bytes = postcard::experimental::serialized_size(&entry).unwrap_or(usize::MAX);
            if entry_bytes > budget {
                break;
            }
            budget -= entry_bytes;
            entries.push(entry);
            chunk_end = seq;
        }
        let mut follow_ups: Vec<Work> = pushes
            .into_iter()
            .map(|doc| {
                self.queued_pushes.insert(doc.clone());
                Work::Push(doc)
            })
            .collect();
        if !batch.is_empty() {
            let count = batch.len() as u32;
            match self.pack_batch(batch) {
                Some((batch_id, message)) => {
                    follow_ups.push(Work::Send(Box::new(message)));
                    entries.push(OfferEntry::Documents {
                        batch: batch_id,
                        count,
                    });
                }
                None => {
                    // Packing can only fail on a bound we already kept; the documents are found again
                    // by the next request, so the offer ends before them rather than lying.
                    return Ok(());
                }
            }
        }
        let complete =
            chunk_end >= job.up_to_seq || entries.is_empty() && chunk_end == job.after_seq;
        let chunk_end = if complete { job.up_to_seq } else { chunk_end };
        let offer = Message::Offer(Offer {
            request_id: job.request_id,
            scope: job.scope.clone(),
            epoch: store.epoch(),
            after_seq: job.after_seq,
            up_to_seq: chunk_end,
            complete,
            digest: job.digest,
            entries,
        });
        // The pushes go first, then the batch, then the offer frame, then the rest of the offer.
        follow_ups.push(Work::Send(Box::new(offer)));
        if !complete {
            follow_ups.push(Work::Offer(OfferJob {
                after_seq: chunk_end,
                ..job
            }));
        }
        for item in follow_ups.into_iter().rev() {
            self.work.push_front(item);
        }
        Ok(())
    }

    /// Adds a document in saved form to the batch being built, if it fits.
    fn add_to_batch<S: ReplicaStore + ?Sized>(
        &mut self,
        store: &S,
        doc: &DocId,
        heads: &[ChangeHash],
        batch: &mut Vec<(SavedDocument, Vec<ChangeHash>)>,
        batch_bytes: usize,
    ) -> Result<BatchFit, StoreError> {
        let Some(saved) = store.saved_document(doc)? else {
            return Ok(BatchFit::TooLargeForAnyBatch);
        };
        // The document id and two length prefixes are what the list adds around the saved bytes.
        let bytes = saved.len() + doc.to_string().len() + 8;
        if bytes > DOCUMENTS_BATCH_BUDGET_BYTES {
            return Ok(BatchFit::TooLargeForAnyBatch);
        }
        if batch_bytes + bytes > DOCUMENTS_BATCH_BUDGET_BYTES {
            return Ok(BatchFit::BatchFull);
        }
        batch.push((
            SavedDocument {
                doc: doc.clone(),
                saved,
            },
            heads.to_vec(),
        ));
        Ok(BatchFit::Added(bytes))
    }

    /// Compresses a batch, numbers it and remembers its documents' heads until the peer
    /// acknowledges it. `None` when it cannot be packed.
    fn pack_batch(
        &mut self,
        batch: Vec<(SavedDocument, Vec<ChangeHash>)>,
    ) -> Option<(u64, Message)> {
        let batch_id = self.next_batch_id;
        let (documents, heads): (Vec<SavedDocument>, Vec<Vec<ChangeHash>>) =
            batch.into_iter().unzip();
        let packed = match Documents::pack(batch_id, &documents) {
            Ok(packed) => packed,
            Err(error) => {
                self.events.push_back(Event::LocalError {
                    message: format!("could not pack a batch of documents: {error}"),
                    doc: None,
                });
                return None;
            }
        };
        self.next_batch_id += 1;
        let remembered: Vec<(DocId, Vec<ChangeHash>)> = documents
            .into_iter()
            .map(|document| document.doc)
            .zip(heads)
            .collect();
        for (doc, heads) in &remembered {
            // Until the batch is acknowledged, assume it arrives, as for any push.
            remember_heads(&mut self.pushed_heads, doc.clone(), heads.clone());
        }
        self.batches_unacknowledged.insert(batch_id, remembered);
        while self.batches_unacknowledged.len() > MAX_UNACKNOWLEDGED_BATCHES {
            self.batches_unacknowledged.pop_first();
        }
        Some((batch_id, Message::Documents(packed)))
    }

    fn send(&mut self, message: Message) {
        match message.encode_frame() {
            Ok(frame) => self.outbound.push_back(frame),
            Err(error) => self.events.push_back(Event::LocalError {
                message: format!("could not encode a frame: {error}"),
                doc: None,
            }),
        }
    }

    fn send_error(
        &mut self,
        code: ErrorCode,
        fatal: bool,
        mut message: String,
        doc: Option<DocId>,
    ) {
        if message.len() > MAX_TEXT_BYTES {
            let mut end = MAX_TEXT_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        self.send(Message::Error(ErrorMessage {
            code,
            fatal,
            message,
            doc,
        }));
    }

    fn report_store_error(&mut self, error: StoreError) {
        match error {
            StoreError::Io(reason) => self.fail_store(StoreError::Io(reason)),
            other => {
                let doc = match &other {
                    StoreError::CorruptDocument { doc, .. }
                    | StoreError::BadChange { doc, .. }
                    | StoreError::DocumentTooLarge { doc, .. } => Some(doc.clone()),
                    _ => None,
                };
                self.events.push_back(Event::LocalError {
                    message: other.to_string(),
                    doc,
                });
            }
        }
    }

    fn fail_store(&mut self, error: StoreError) {
        self.send_error(
            ErrorCode::StoreFailure,
            true,
            "the peer's store failed".into(),
            None,
        );
        self.close_with(CloseReason::StoreFailure(error.to_string()));
    }

    fn close_with(&mut self, reason: CloseReason) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(Event::Closed { reason });
        }
    }
}
