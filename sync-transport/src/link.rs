//! Drives one [`Session`] over one QUIC stream against a [`SledStore`].
//!
//! Three tasks per link:
//! - the **reader** cuts the stream into frame payloads and hands them over through a channel of
//!   [`INBOUND_PAYLOADS_BUFFERED`], so at most that many frames plus one read buffer wait in memory;
//! - the **writer** writes frames, paced by the optional send-rate cap, and gives up on a peer that
//!   accepts nothing for the stall timeout;
//! - the **driver** (the caller's task) owns the session and the store handle and does everything
//!   else: it feeds payloads, local changes and timeouts in, frames and events out, and flushes.
//!
//! Reading and writing run concurrently because two peers that both only write would otherwise
//! deadlock on each other's flow control. Payloads are not fed in while a flush is in flight:
//! [`Session::handle_durable`] releases every acknowledgement held so far, so it may only follow a
//! flush that started after the writes those acknowledgements vouch for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sync_protocol::ids::{BlobId, DocId, Scope};
use sync_protocol::session::{CloseReason, Event, ReconcileProgress, Session, SessionConfig};
use sync_protocol::store::StoreError;
use sync_protocol::wire::{ErrorCode, ErrorMessage, FrameDecoder, Message, NodeHealth, SyncStatus};
use sync_store::SledStore;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::quic::close_code;

/// Frame payloads read ahead of the session. Each is at most one maximum frame (1 MiB).
pub const INBOUND_PAYLOADS_BUFFERED: usize = 2;

/// Bytes asked of the stream per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// How long the last frames (a closing error) may take to leave before the connection is closed
/// anyway.
const CLOSING_WRITE_GRACE: Duration = Duration::from_secs(2);

/// How often, at most, the driver reports link activity to its observer.
pub const ACTIVITY_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Something in our own store changed that the peer may need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalNotice {
    Document(DocId),
    Blob { scope: Scope, blob: BlobId },
}

/// How one link behaves beyond the session's own configuration.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub session: SessionConfig,
    /// Bytes per second this link may send; 0 for no cap. For schools behind thin uplinks.
    pub send_rate_limit_bytes_per_sec: u64,
    /// A peer that accepts none of our bytes for this long is disconnected.
    pub write_stall_timeout: Duration,
    /// Frames buffered between the session and the writer. With the session's own queue
    /// ([`sync_protocol::session::MAX_QUEUED_FRAMES`]) this bounds what waits for one slow peer.
    pub max_queued_frames: usize,
    /// Health to report in heartbeats (nodes only), refreshed by the caller through `health`.
    pub report_health: bool,
    /// How much of the driver's time the peer may take; `None` for no bound (a node trusts its
    /// relay).
    pub handling_budget: Option<HandlingBudget>,
}

/// A bound on the time a link's driver spends on work its peer causes: handling the peer's frames,
/// producing the answers it asked for, and the session's timers. The relay gives one to every
/// node's link, so that a node that floods it with cheap frames that cost dear to answer (heads
/// naming large documents, requests without a cursor) takes its budget's share of a core and no
/// more, and the other schools' links keep their share.
///
/// It is a bucket of milliseconds: it holds at most `burst_millis` and refills at `millis_per_sec`.
/// Work is measured as it happens and taken from the bucket; while the bucket is empty the driver
/// reads nothing from the peer and sends it nothing new, so QUIC's flow control holds the peer back.
/// An honest node's catch-up after a rebuild fits in the burst; what it asks for afterwards is far
/// below the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlingBudget {
    pub millis_per_sec: u64,
    pub burst_millis: u64,
}

/// What each frame from the peer takes from its handling budget at the least. Receiving a frame
/// costs the relay more than the driver's part that is measured (QUIC decryption and
/// acknowledgement, the reader task, decoding), and a flood of tiny frames that each take the
/// driver a microsecond would otherwise never spend the budget. At 50 µs, the default budget of
/// 250 ms a second admits 5,000 frames a second from one node, and its burst 100,000 at once: far
/// above what a school's catch-up sends, far below a flood.
pub const MIN_HANDLING_CHARGE_PER_FRAME: Duration = Duration::from_micros(50);

/// The state of a [`HandlingBudget`] on one link.
#[derive(Debug)]
struct HandlingBucket {
    budget: HandlingBudget,
    /// Microseconds left, negative once work overran what was left.
    available_micros: i64,
    refilled_at: tokio::time::Instant,
    /// Time spent waiting for the bucket to refill, for the observer.
    waited: Duration,
}

impl HandlingBucket {
    fn new(budget: HandlingBudget) -> Self {
        Self {
            budget,
            available_micros: micros(budget.burst_millis),
            refilled_at: tokio::time::Instant::now(),
            waited: Duration::ZERO,
        }
    }

    fn refill(&mut self) {
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(self.refilled_at);
        self.refilled_at = now;
        let earned = elapsed
            .as_micros()
            .saturating_mul(u128::from(self.budget.millis_per_sec))
            / 1000;
        self.available_micros = self
            .available_micros
            .saturating_add(i64::try_from(earned).unwrap_or(i64::MAX))
            .min(micros(self.budget.burst_millis));
    }

    fn charge(&mut self, spent: Duration) {
        self.available_micros = self
            .available_micros
            .saturating_sub(i64::try_from(spent.as_micros()).unwrap_or(i64::MAX));
    }

    /// How long until the bucket holds a little again, or `None` when it does now.
    fn wait_needed(&mut self) -> Option<Duration> {
        self.refill();
        if self.available_micros > 0 || self.budget.millis_per_sec == 0 {
            return None;
        }
        // Wait until the bucket is back above zero by a millisecond's work, so that the link
        // does not wake for every microsecond.
        let owed = self.available_micros.unsigned_abs().saturating_add(1000);
        Some(Duration::from_micros(
            owed.saturating_mul(1000) / self.budget.millis_per_sec,
        ))
    }
}

fn micros(millis: u64) -> i64 {
    i64::try_from(millis.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// What the link tells its owner while it runs.
#[derive(Debug, Clone)]
pub enum LinkOutput {
    /// A session event: documents and blobs from the peer, hello, in-sync, errors.
    Event(Event),
    /// Figures for status displays: at once whenever [`LinkActivity::in_sync`] changes either way,
    /// otherwise at most once per [`ACTIVITY_REPORT_INTERVAL`], and once more after the last change
    /// of a busy spell, so that a display never keeps showing figures the link has left behind.
    Activity(LinkActivity),
}

/// The state of a link at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkActivity {
    pub rtt_millis: Option<u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// What this side still has to send the peer.
    pub to_peer: SyncStatus,
    /// What the peer reported it still has to send us.
    pub from_peer: Option<SyncStatus>,
    pub peer_health: Option<NodeHealth>,
    /// How far the two sides are from holding the same content in the scopes this side receives:
    /// the scopes whose digests differ (or were not compared yet on this link), and what is still
    /// expected from the peer.
    pub reconcile: ReconcileProgress,
    /// True only when the session reports itself in sync (every request answered and satisfied)
    /// and every received scope's digest was last seen equal to the peer's. The session alone can
    /// call itself in sync while the digests still differ, for example right after the peer's store
    /// was replaced, so status displays must not trust it without the digests.
    pub in_sync: bool,
    /// Milliseconds the link has waited so far because the peer spent its handling budget.
    pub throttled_millis: u64,
}

/// How a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEnd {
    /// The application close code sent to the peer (see [`close_code`]), or `None` when the peer or
    /// the network closed the connection first.
    pub code: Option<u32>,
    pub reason: String,
}

/// The wall clock in milliseconds since the Unix epoch; sessions need only a clock that does not go
/// backwards by much, and they take the maximum of what they have seen.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// The channels a link is driven by, besides its streams.
#[derive(Debug)]
pub struct LinkInputs<'owner> {
    /// Changes in our store that the peer may need. Borrowed, so that a node's client keeps its
    /// receiver across reconnects.
    pub notices: &'owner mut mpsc::Receiver<LocalNotice>,
    /// Becomes true when the link should close (shutdown, revocation, a newer connection).
    pub close: watch::Receiver<Option<(u32, String)>>,
    /// The health to report in heartbeats (nodes), as the caller last measured it.
    pub health: Option<watch::Receiver<NodeHealth>>,
}

/// Runs the session until it ends, the peer goes away or `inputs.close` fires. The connection is
/// closed with an application code before this returns.
pub async fn run_link(
    connection: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    mut store: SledStore,
    config: LinkConfig,
    mut inputs: LinkInputs<'_>,
    mut observe: impl FnMut(LinkOutput) + Send,
) -> LinkEnd {
    let (payload_sender, mut payloads) = mpsc::channel(INBOUND_PAYLOADS_BUFFERED);
    let reader = tokio::spawn(read_frames(recv, payload_sender));
    let (frame_sender, frames) = mpsc::channel::<Vec<u8>>(config.max_queued_frames.max(1));
    let mut writer_finished = false;
    let mut writer = tokio::spawn(write_frames(
        send,
        frames,
        config.send_rate_limit_bytes_per_sec,
        config.write_stall_timeout,
    ));

    let mut bucket = config.handling_budget.map(HandlingBucket::new);
    let mut session = Session::new(config.session.clone(), &store, now_millis());
    if let Some(health) = &inputs.health {
        session.set_health(*health.borrow());
    }
    let mut pending_frame: Option<Vec<u8>> = None;
    let mut flush: Option<JoinHandle<Result<(), StoreError>>> = None;
    let mut last_report = tokio::time::Instant::now() - ACTIVITY_REPORT_INTERVAL;
    // What the last report said about being in sync, so that a change is reported at once rather
    // than at the next report interval.
    let mut reported_in_sync: Option<bool> = None;
    // Something happened since the last report: the report interval may have held it back, and a
    // quiet link wakes only at its next heartbeat, so a trailing report is scheduled for it.
    let mut unreported_activity = true;
    let mut end: Option<LinkEnd> = None;

    loop {
        while let Some(event) = session.poll_event() {
            if let Event::Closed { reason } = &event {
                end = Some(end_for(reason));
            }
            observe(LinkOutput::Event(event));
        }
        let in_sync_changed = reported_in_sync != Some(link_in_sync(&session));
        if in_sync_changed
            || (unreported_activity && last_report.elapsed() >= ACTIVITY_REPORT_INTERVAL)
        {
            let report = activity(&session, &connection, bucket.as_ref());
            reported_in_sync = Some(report.in_sync);
            observe(LinkOutput::Activity(report));
            last_report = tokio::time::Instant::now();
            unreported_activity = false;
        }
        if session.is_closed() {
            break;
        }
        if flush.is_none() && session.needs_flush() {
            let store = store.clone();
            flush = Some(tokio::task::spawn_blocking(move || store.wait_durable()));
        }
        // While the peer's budget is spent, nothing of its is read and nothing new is produced
        // for it (an answer to what it asked is its work too); frames already made still leave.
        let throttle = bucket.as_mut().and_then(HandlingBucket::wait_needed);
        if pending_frame.is_none() && throttle.is_none() {
            let started = std::time::Instant::now();
            pending_frame = session.poll_transmit(&mut store);
            charge(&mut bucket, started);
        }
        let deadline = session
            .poll_timeout()
            .map(|at| at.saturating_sub(now_millis()))
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(3600));
        let report_due = last_report + ACTIVITY_REPORT_INTERVAL;

        tokio::select! {
            // Wakes a quiet link for the report the interval held back; the loop's top sends it.
            () = tokio::time::sleep_until(report_due), if unreported_activity => {}
            permit = frame_sender.reserve(), if pending_frame.is_some() => {
                match permit {
                    Ok(permit) => {
                        if let Some(frame) = pending_frame.take() {
                            permit.send(frame);
                        }
                    }
                    Err(_) => {
                        end = Some(writer_end(&mut writer).await);
                        writer_finished = true;
                        break;
                    }
                }
            }
            () = tokio::time::sleep(throttle.unwrap_or_default()), if throttle.is_some() => {
                if let Some(bucket) = bucket.as_mut() {
                    bucket.waited += throttle.unwrap_or_default();
                }
            }
            payload = payloads.recv(), if flush.is_none() && session.wants_input() && throttle.is_none() => {
                match payload {
                    Some(Ok(payload)) => {
                        let started = std::time::Instant::now();
                        session.handle_payload(&mut store, &payload, now_millis());
                        if let Some(bucket) = bucket.as_mut() {
                            bucket.charge(started.elapsed().max(MIN_HANDLING_CHARGE_PER_FRAME));
                        }
                    }
                    Some(Err(ReadFailure::Malformed(message))) => {
                        refuse_malformed(&frame_sender, &message).await;
                        end = Some(LinkEnd { code: Some(close_code::PROTOCOL_ERROR), reason: message });
                        break;
                    }
                    Some(Err(ReadFailure::Stream(message))) => {
                        let reason = connection
                            .close_reason()
                            .map(|reason| reason.to_string())
                            .unwrap_or(message);
                        end = Some(LinkEnd { code: None, reason });
                        break;
                    }
                    None => {
                        end = Some(LinkEnd { code: None, reason: "the reader stopped".into() });
                        break;
                    }
                }
            }
            flushed = async {
                match flush.as_mut() {
                    Some(handle) => handle.await,
                    None => std::future::pending().await,
                }
            }, if flush.is_some() => {
                flush = None;
                match flushed {
                    Ok(Ok(())) => session.handle_durable(&mut store),
                    Ok(Err(error)) => {
                        end = Some(LinkEnd { code: Some(close_code::STORE_FAILURE), reason: error.to_string() });
                        break;
                    }
                    Err(error) => {
                        end = Some(LinkEnd { code: Some(close_code::STORE_FAILURE), reason: error.to_string() });
                        break;
                    }
                }
            }
            notice = inputs.notices.recv() => {
                match notice {
                    Some(LocalNotice::Document(doc)) => session.handle_local_change(&doc),
                    Some(LocalNotice::Blob { scope, blob }) => {
                        session.handle_local_blob(&store, &scope, &blob)
                    }
                    // The owner dropped its sender: it is going away, and so do we.
                    None => {
                        session.close();
                    }
                }
            }
            changed = inputs.close.changed() => {
                let request = match changed {
                    Ok(()) => inputs.close.borrow().clone(),
                    Err(_) => Some((close_code::NORMAL, "shutting down".to_owned())),
                };
                if let Some((code, reason)) = request {
                    session.close();
                    end = Some(LinkEnd { code: Some(code), reason });
                }
            }
            health = async {
                match inputs.health.as_mut() {
                    Some(health) => health.changed().await.map(|()| *health.borrow()),
                    None => std::future::pending().await,
                }
            } => {
                match health {
                    Ok(health) => session.set_health(health),
                    Err(_) => inputs.health = None,
                }
            }
            () = tokio::time::sleep(deadline) => {
                let started = std::time::Instant::now();
                session.handle_timeout(&mut store, now_millis());
                charge(&mut bucket, started);
            }
        }
        // Whatever woke the loop may have changed what a report would say.
        unreported_activity = true;
    }

    // Let the last frames (normally the closing error) leave, within a grace period.
    reader.abort();
    let end = end.unwrap_or_else(|| LinkEnd {
        code: Some(close_code::NORMAL),
        reason: "session closed".into(),
    });
    if let Some(frame) = pending_frame.take() {
        let _ = frame_sender.try_send(frame);
    }
    while let Some(frame) = session.poll_transmit(&mut store) {
        if frame_sender.try_send(frame).is_err() {
            break;
        }
    }
    drop(frame_sender);
    if end.code.is_some() && !writer_finished {
        let _ = tokio::time::timeout(CLOSING_WRITE_GRACE, writer).await;
    } else {
        writer.abort();
    }
    // Always close: a peer that only finished its stream would otherwise keep a connection (and
    // the relay's connection slot) that nobody serves.
    let code = end.code.unwrap_or(close_code::NORMAL);
    connection.close(quinn::VarInt::from_u32(code), end.reason.as_bytes());
    observe(LinkOutput::Activity(activity(
        &session,
        &connection,
        bucket.as_ref(),
    )));
    end
}

/// Takes the time since `started` from the link's handling budget, if it has one.
fn charge(bucket: &mut Option<HandlingBucket>, started: std::time::Instant) {
    if let Some(bucket) = bucket.as_mut() {
        bucket.charge(started.elapsed());
    }
}

fn end_for(reason: &CloseReason) -> LinkEnd {
    let code = match reason {
        CloseReason::Local => close_code::NORMAL,
        CloseReason::Timeout => close_code::TIMEOUT,
        CloseReason::StoreFailure(_) => close_code::STORE_FAILURE,
        CloseReason::PeerClosed { .. } => close_code::NORMAL,
        CloseReason::UnsupportedVersion { .. } | CloseReason::ProtocolViolation(_) => {
            close_code::PROTOCOL_ERROR
        }
    };
    LinkEnd {
        code: Some(code),
        reason: format!("{reason:?}"),
    }
}

/// Whether the link is in sync as status displays must understand it: the session says so, and no
/// received scope's digest differs from the peer's (or is still uncompared).
fn link_in_sync(session: &Session) -> bool {
    session.is_in_sync() && session.reconcile_progress().in_sync()
}

fn activity(
    session: &Session,
    connection: &quinn::Connection,
    bucket: Option<&HandlingBucket>,
) -> LinkActivity {
    let stats = session.stats();
    let reconcile = session.reconcile_progress();
    let in_sync = session.is_in_sync() && reconcile.in_sync();
    LinkActivity {
        rtt_millis: Some(connection.rtt().as_millis() as u64),
        bytes_sent: stats.bytes_sent,
        bytes_received: stats.bytes_received,
        to_peer: session.status(),
        from_peer: session.peer_status(),
        peer_health: session.peer_health().copied(),
        reconcile,
        in_sync,
        throttled_millis: bucket.map_or(0, |bucket| bucket.waited.as_millis() as u64),
    }
}

/// Why the reader stopped.
#[derive(Debug)]
enum ReadFailure {
    /// The peer sent something that is not a frame (an oversized length prefix).
    Malformed(String),
    /// The stream ended or failed.
    Stream(String),
}

async fn read_frames(
    mut recv: quinn::RecvStream,
    payloads: mpsc::Sender<Result<Vec<u8>, ReadFailure>>,
) {
    let mut decoder = FrameDecoder::new();
    let mut buffer = vec![0u8; READ_CHUNK_BYTES];
    loop {
        let read = match recv.read(&mut buffer).await {
            Ok(Some(read)) => read,
            Ok(None) => {
                let _ = payloads
                    .send(Err(ReadFailure::Stream(
                        "the peer finished the stream".into(),
                    )))
                    .await;
                return;
            }
            Err(error) => {
                let _ = payloads
                    .send(Err(ReadFailure::Stream(error.to_string())))
                    .await;
                return;
            }
        };
        decoder.extend(&buffer[..read]);
        loop {
            match decoder.next_payload() {
                Ok(Some(payload)) => {
                    if payloads.send(Ok(payload)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    let _ = payloads
                        .send(Err(ReadFailure::Malformed(error.to_string())))
                        .await;
                    return;
                }
            }
        }
    }
}

/// Tells the peer why we stop reading it; the session never saw the bad bytes, so the error frame is
/// made here.
async fn refuse_malformed(frames: &mpsc::Sender<Vec<u8>>, message: &str) {
    let mut text = message.to_owned();
    text.truncate(sync_protocol::wire::MAX_TEXT_BYTES);
    let error = Message::Error(ErrorMessage {
        code: ErrorCode::MalformedFrame,
        fatal: true,
        message: text,
        doc: None,
    });
    if let Ok(frame) = error.encode_frame() {
        let _ = frames.try_send(frame);
    }
}

/// Why the writer stopped.
#[derive(Debug)]
enum WriteFailure {
    Stalled,
    Stream(String),
}

async fn write_frames(
    mut send: quinn::SendStream,
    mut frames: mpsc::Receiver<Vec<u8>>,
    rate_limit_bytes_per_sec: u64,
    stall_timeout: Duration,
) -> Result<(), WriteFailure> {
    let mut pacer = Pacer::new(rate_limit_bytes_per_sec);
    while let Some(frame) = frames.recv().await {
        pacer.wait(frame.len()).await;
        match tokio::time::timeout(stall_timeout, send.write_all(&frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(WriteFailure::Stream(error.to_string())),
            Err(_) => return Err(WriteFailure::Stalled),
        }
    }
    // Finishing and waiting for the peer to acknowledge everything makes sure the last frames (a
    // closing error) arrive before the connection is closed; the caller bounds the wait.
    let _ = send.finish();
    let _ = send.stopped().await;
    Ok(())
}

async fn writer_end(writer: &mut JoinHandle<Result<(), WriteFailure>>) -> LinkEnd {
    match writer.await {
        Ok(Err(WriteFailure::Stalled)) => LinkEnd {
            code: Some(close_code::STALLED),
            reason: "the peer accepted nothing for the write stall timeout".into(),
        },
        Ok(Err(WriteFailure::Stream(reason))) => LinkEnd { code: None, reason },
        Ok(Ok(())) => LinkEnd {
            code: Some(close_code::NORMAL),
            reason: "writer finished".into(),
        },
        Err(error) => LinkEnd {
            code: Some(close_code::NORMAL),
            reason: error.to_string(),
        },
    }
}

/// Spaces writes so that on average at most `rate` bytes per second leave. A burst of one frame is
/// always allowed; the debt it creates is paid before the next.
#[derive(Debug)]
struct Pacer {
    bytes_per_sec: u64,
    next_send: tokio::time::Instant,
}

impl Pacer {
    fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec,
            next_send: tokio::time::Instant::now(),
        }
    }

    async fn wait(&mut self, frame_len: usize) {
        if self.bytes_per_sec == 0 {
            return;
        }
        let now = tokio::time::Instant::now();
        if self.next_send > now {
            tokio::time::sleep_until(self.next_send).await;
        }
        let cost = Duration::from_secs_f64(frame_len as f64 / self.bytes_per_sec as f64);
        self.next_send = self.next_send.max(now) + cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Time is paused, so the measured durations are the pacer's own decisions, not the machine's.
    #[tokio::test(start_paused = true)]
    async fn the_pacer_holds_a_link_to_its_send_rate() {
        let rate = 64 * 1024;
        let mut pacer = Pacer::new(rate);
        let started = tokio::time::Instant::now();
        for _ in 0..10 {
            pacer.wait(rate as usize).await;
        }
        // The first frame goes at once; each of the other nine waits for the one before it.
        assert_eq!(started.elapsed(), Duration::from_secs(9));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_cap_the_pacer_never_waits() {
        let mut pacer = Pacer::new(0);
        let started = tokio::time::Instant::now();
        for _ in 0..100 {
            pacer.wait(1 << 20).await;
        }
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
