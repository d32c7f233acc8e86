//! `relay_load`: how many nodes one relay holds, what each costs it, and how fast a change fans out.
//!
//! ```text
//! cargo run --release -p cloud-relay --bin relay_load -- --nodes 1000
//! ```
//!
//! The relay runs as a child process (this binary again, with `--serve-relay`), so that its resident
//! memory is measured alone. This process enrols N simulated nodes with the relay's own authority,
//! opens one mTLS QUIC connection per node over one UDP socket, and keeps each heartbeating like a
//! real node. Simulated nodes speak the wire protocol directly instead of running a store: they say
//! hello, send heartbeats, and watch for `Changes` and `Documents` frames. Then:
//! - memory: the relay's resident set before any node and after all are connected and idle;
//! - fan-out: one node of the first municipality (groups of `--group-size` nodes) writes a new small
//!   document in the municipality's scope; the time until each other node of that municipality has
//!   received it is one sample. Percentiles over all samples of all rounds.
//! - with `--flooders N`, N more nodes flood the relay with costly frames while fan-out is measured.
//!
//! Prints one JSON object.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};
use clap::Parser;
use cloud_relay::authority::Authority;
use cloud_relay::config::RelayConfig;
use std::io::Write;
use sync_protocol::ids::{DocId, NodeId};
use sync_protocol::wire::{
    Changes, FrameDecoder, Heartbeat, Hello, Message, PROTOCOL_VERSION, SyncStatus,
};
use sync_transport::identity::FleetIdentity;
use sync_transport::quic::QuicTuning;
use sync_transport::tls::NodeCredentials;
use tokio::sync::{Semaphore, mpsc};

#[derive(Debug, Parser)]
#[command(about = "Load a relay with simulated nodes and measure memory and fan-out latency")]
struct Arguments {
    /// Simulated nodes to connect.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Nodes per municipality; fan-out is measured within the first municipality.
    #[arg(long, default_value_t = 1000)]
    group_size: usize,
    /// Changes written to measure fan-out.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Seconds to let the connected fleet settle (heartbeats, initial sync) before measuring.
    #[arg(long, default_value_t = 20)]
    settle_secs: u64,
    /// Seconds between heartbeats of simulated nodes (as a real node's default).
    #[arg(long, default_value_t = 15)]
    heartbeat_secs: u64,
    /// Handshakes in flight at once while the fleet connects.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Hostile nodes that flood the relay while fan-out is measured: each, with its own real
    /// certificate, sends heads for made-up documents and requests for its whole scope without a
    /// cursor as fast as the connection takes them, and reads what it is sent. Fan-out among the
    /// other schools is then measured under that flood (issue 18: the relay's per-connection
    /// handling budget must keep it within its goal).
    #[arg(long, default_value_t = 0)]
    flooders: usize,
    /// The relay's `quotas.handling_millis_per_sec`, each node connection's handling budget
    /// (default: the relay's default); 1000, a whole core per connection, takes the budget away,
    /// for comparing a flood with and without it.
    #[arg(long)]
    handling_millis_per_sec: Option<u64>,
    /// Seconds the flood runs before fan-out is measured, so that what is measured is a sustained
    /// flood, past the burst the relay's handling budget allows a connection at first.
    #[arg(long, default_value_t = 10)]
    flood_warmup_secs: u64,
    /// Internal: run the relay in this process with this data directory.
    #[arg(long, hide = true)]
    serve_relay: Option<PathBuf>,
}

fn main() -> Result<(), String> {
    let arguments = Arguments::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    if let Some(data_dir) = &arguments.serve_relay {
        return runtime.block_on(serve_relay(data_dir, arguments.handling_millis_per_sec));
    }
    runtime.block_on(measure(arguments))
}

fn relay_config(data_dir: &Path, handling_millis_per_sec: Option<u64>) -> RelayConfig {
    let mut config = RelayConfig {
        data_dir: data_dir.to_owned(),
        ..RelayConfig::default()
    };
    if let Some(millis_per_sec) = handling_millis_per_sec {
        config.quotas.handling_millis_per_sec = millis_per_sec;
        config.quotas.handling_burst_millis =
            config.quotas.handling_burst_millis.max(millis_per_sec);
    }
    config.sync.listen = ([127, 0, 0, 1], 0).into();
    config.operations.listen = ([127, 0, 0, 1], 0).into();
    config.operations.operator_token = Some("relay-load-operator-token".into());
    config
}

/// The child: a relay with the default configuration on loopback, its sync address on stdout.
async fn serve_relay(data_dir: &Path, handling_millis_per_sec: Option<u64>) -> Result<(), String> {
    let config = relay_config(data_dir, handling_millis_per_sec);
    let authority = Authority::open(&config.authority_dir()).map_err(|error| error.to_string())?;
    let relay = cloud_relay::server::start(config, authority).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", relay.sync_address).map_err(|error| error.to_string())?;
    stdout.flush().map_err(|error| error.to_string())?;
    // Runs until the parent kills it.
    std::future::pending::<()>().await;
    Ok(())
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

struct RelayChild {
    child: Child,
    address: std::net::SocketAddr,
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_relay_child(
    data_dir: &Path,
    handling_millis_per_sec: Option<u64>,
) -> Result<RelayChild, String> {
    let executable = std::env::current_exe().map_err(|error| error.to_string())?;
    let mut command = Command::new(executable);
    command.arg("--serve-relay").arg(data_dir);
    if let Some(millis_per_sec) = handling_millis_per_sec {
        command
            .arg("--handling-millis-per-sec")
            .arg(millis_per_sec.to_string());
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| error.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout from the relay")?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .map_err(|error| error.to_string())?;
    let address = line
        .trim()
        .parse()
        .map_err(|_| format!("the relay printed {line:?} instead of its address"))?;
    Ok(RelayChild { child, address })
}

/// What one simulated node saw: when each probe document first arrived.
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

struct SimulatedNode {
    node: NodeId,
    writes: mpsc::Sender<Vec<u8>>,
}

async fn measure(arguments: Arguments) -> Result<(), String> {
    let data_dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let config = relay_config(data_dir.path(), arguments.handling_millis_per_sec);
    let authority = Authority::init(&config.authority_dir(), SystemTime::now())
        .map_err(|error| error.to_string())?;
    let relay = start_relay_child(data_dir.path(), arguments.handling_millis_per_sec)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = resident_bytes(relay.child.id());

    let tuning = QuicTuning::default();
    let endpoint = sync_transport::quic::endpoint(([127, 0, 0, 1], 0).into(), None, &tuning)
        .map_err(|error| error.to_string())?;
    let arrivals: Arrivals = Arc::default();
    let handshakes = Arc::new(Semaphore::new(arguments.connect_concurrency.max(1)));
    let connect_started = Instant::now();
    let mut joins = tokio::task::JoinSet::new();
    for index in 0..arguments.nodes {
        let group = index / arguments.group_size.max(1);
        let identity = FleetIdentity::node(
            format!("n-load-{index}")
                .parse()
                .map_err(|error| format!("{error}"))?,
            format!("{:05}", 10_000 + index)
                .parse()
                .map_err(|error| format!("{error}"))?,
            format!("{:03}", 100 + group % 900)
                .parse()
                .map_err(|error| format!("{error}"))?,
        );
        let client_config = client_config_for(&authority, &identity, &tuning)?;
        let permit = handshakes
            .clone()
            .acquire_owned()
            .await
            .map_err(|error| error.to_string())?;
        let endpoint = endpoint.clone();
        let arrivals = arrivals.clone();
        let address = relay.address;
        let heartbeat = Duration::from_secs(arguments.heartbeat_secs);
        joins.spawn(async move {
            let connected = endpoint
                .connect_with(client_config, address, "localhost")
                .map_err(|error| error.to_string())?
                .await
                .map_err(|error| error.to_string());
            drop(permit);
            let connection = connected?;
            let node = identity.node.clone();
            let writes = run_simulated_node(connection, node.clone(), heartbeat, arrivals).await?;
            Ok::<_, String>(SimulatedNode { node, writes })
        });
    }
    let mut nodes = Vec::new();
    let mut failures = 0usize;
    let mut first_failure = None;
    while let Some(joined) = joins.join_next().await {
        match joined {
            Ok(Ok(node)) => nodes.push(node),
            Ok(Err(error)) => {
                failures += 1;
                first_failure.get_or_insert(error);
            }
            Err(error) => {
                failures += 1;
                first_failure.get_or_insert(error.to_string());
            }
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(arguments.settle_secs)).await;
    let rss_idle = resident_bytes(relay.child.id());

    let flood_frames = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut flooders = tokio::task::JoinSet::new();
    for index in 0..arguments.flooders {
        let identity = FleetIdentity::node(
            format!("n-flood-{index}")
                .parse()
                .map_err(|error| format!("{error}"))?,
            format!("{:05}", 90_000 + index)
                .parse()
                .map_err(|error| format!("{error}"))?,
            "100".parse().map_err(|error| format!("{error}"))?,
        );
        let client_config = client_config_for(&authority, &identity, &tuning)?;
        let connection = endpoint
            .connect_with(client_config, relay.address, "localhost")
            .map_err(|error| error.to_string())?
            .await
            .map_err(|error| error.to_string())?;
        flooders.spawn(flood(connection, identity, flood_frames.clone()));
    }
    let flood_started = Instant::now();
    if arguments.flooders > 0 {
        tokio::time::sleep(Duration::from_secs(arguments.flood_warmup_secs)).await;
    }

    // Fan-out within the first municipality.
    nodes.sort_by(|left, right| left.node.cmp(&right.node));
    let first_group: Vec<&SimulatedNode> = nodes
        .iter()
        .filter(|node| {
            node.node
                .as_str()
                .strip_prefix("n-load-")
                .and_then(|index| index.parse::<usize>().ok())
                .is_some_and(|index| index < arguments.group_size)
        })
        .collect();
    let mut samples_millis = Vec::new();
    let mut missing = 0usize;
    if let Some(writer) = first_group.first() {
        for round in 0..arguments.rounds {
            let name = format!("probe-{round}");
            // A node writes in its municipality's scope only documents named for its school.
            let writer_school = writer
                .node
                .as_str()
                .strip_prefix("n-load-")
                .and_then(|index| index.parse::<usize>().ok())
                .map(|index| 10_000 + index)
                .ok_or("the writer's node id names no index")?;
            let doc: DocId = format!("municipality:100/school-{writer_school:05}.{name}")
                .parse()
                .map_err(|error| format!("{error}"))?;
            let frame = probe_changes(&doc)?;
            let sent_at = Instant::now();
            writer
                .writes
                .send(frame)
                .await
                .map_err(|error| error.to_string())?;
            let expected = first_group.len() - 1;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let received = arrivals
                    .lock()
                    .map(|arrivals| arrivals.get(&name).map_or(0, Vec::len))
                    .unwrap_or(0);
                if received >= expected || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let times = arrivals
                .lock()
                .map(|arrivals| arrivals.get(&name).cloned().unwrap_or_default())
                .unwrap_or_default();
            missing += expected.saturating_sub(times.len());
            samples_millis.extend(
                times
                    .iter()
                    .map(|at| at.saturating_duration_since(sent_at).as_secs_f64() * 1000.0),
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let flood_secs = flood_started.elapsed().as_secs_f64();
    flooders.abort_all();
    let flood_frames_sent = flood_frames.load(std::sync::atomic::Ordering::Relaxed);
    samples_millis.sort_by(f64::total_cmp);
    let percentile = |fraction: f64| -> Option<f64> {
        if samples_millis.is_empty() {
            return None;
        }
        let rank = ((samples_millis.len() as f64 - 1.0) * fraction).round() as usize;
        samples_millis.get(rank).copied()
    };
    let connected = nodes.len();
    let report = serde_json::json!({
        "machine": {
            "cores": std::thread::available_parallelism().map(|cores| cores.get()).unwrap_or(1),
        },
        "nodes_requested": arguments.nodes,
        "nodes_connected": connected,
        "connect_failures": failures,
        "first_connect_failure": first_failure,
        "connect_secs": connect_secs,
        "relay_resident_bytes_empty": rss_before,
        "relay_resident_bytes_idle": rss_idle,
        "relay_bytes_per_idle_node": if connected > 0 { (rss_idle.saturating_sub(rss_before)) / connected as u64 } else { 0 },
        "flood": {
            "flooders": arguments.flooders,
            "frames_sent": flood_frames_sent,
            "frames_per_sec": if flood_secs > 0.0 { flood_frames_sent as f64 / flood_secs } else { 0.0 },
        },
        "fanout": {
            "group_size": first_group.len(),
            "rounds": arguments.rounds,
            "samples": samples_millis.len(),
            "missing": missing,
            "p50_ms": percentile(0.50),
            "p99_ms": percentile(0.99),
            "max_ms": samples_millis.last(),
        },
    });
    // A closed stdout (piped into `head`) is not worth a panic.
    let _ = writeln!(std::io::stdout(), "{report:#}");
    drop(relay);
    // The JSON comes first either way; an incomplete run is also a failed one, so CI notices.
    if failures > 0 || missing > 0 {
        return Err(format!(
            "{failures} nodes failed to connect and {missing} fan-out deliveries were missing"
        ));
    }
    Ok(())
}

/// A certificate for `identity` from the relay's own authority, as a QUIC client configuration.
fn client_config_for(
    authority: &Authority,
    identity: &FleetIdentity,
    tuning: &QuicTuning,
) -> Result<quinn::ClientConfig, String> {
    let (certificate_der, key_pem) = authority
        .issue_local(identity, SystemTime::now())
        .map_err(|error| error.to_string())?;
    NodeCredentials {
        certificate_der,
        key_pem,
        ca_der: authority.ca_certificate_der().to_vec(),
    }
    .sync_client_config(tuning)
    .map_err(|error| error.to_string())
}

/// A hostile node: hello, then heads for made-up documents of its school, with a request for its
/// whole scope without a cursor every fiftieth frame, as fast as the connection takes them, while
/// everything it is sent is read and dropped (so that no stall timeout ends it).
async fn flood(
    connection: quinn::Connection,
    identity: FleetIdentity,
    frames_sent: Arc<std::sync::atomic::AtomicU64>,
) {
    let Ok((mut send, mut recv)) = connection.open_bi().await else {
        return;
    };
    let Some(school) = identity.school.clone() else {
        return;
    };
    let hello = Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: identity.node.clone(),
        software_version: "relay_load flooder".into(),
        store_epoch: 1,
        log_heads: Vec::new(),
    });
    let Ok(hello) = hello.encode_frame() else {
        return;
    };
    if send.write_all(&hello).await.is_err() {
        return;
    }
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(Some(_)) = recv.read(&mut buffer).await {}
    });
    let scope = sync_protocol::ids::Scope::School(school);
    for index in 0u64.. {
        let message = if index % 50 == 0 {
            Message::SyncRequest(sync_protocol::wire::SyncRequest {
                request_id: index + 1,
                scope: scope.clone(),
                digest: Default::default(),
                cursor: None,
            })
        } else {
            let Ok(doc) = DocId::new(scope.clone(), &format!("made-up-{index}")) else {
                return;
            };
            Message::Heads(sync_protocol::wire::DocHeads {
                doc,
                heads: vec![automerge::ChangeHash([(index % 251) as u8; 32])],
            })
        };
        let Ok(frame) = message.encode_frame() else {
            return;
        };
        if send.write_all(&frame).await.is_err() {
            return;
        }
        frames_sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A `Changes` frame creating `doc` with one small field.
fn probe_changes(doc: &DocId) -> Result<Vec<u8>, String> {
    let mut document = Automerge::new();
    document.set_actor(ActorId::random());
    let mut transaction = document.transaction();
    transaction
        .put(ROOT, "probe", 1)
        .map_err(|error| error.to_string())?;
    transaction.commit();
    let changes: Vec<Vec<u8>> = document
        .get_changes(&[])
        .into_iter()
        .map(|change| change.raw_bytes().to_vec())
        .collect();
    Message::Changes(Changes {
        doc: doc.clone(),
        changes,
        sender_heads: document.get_heads(),
    })
    .encode_frame()
    .map_err(|error| error.to_string())
}

/// Says hello, then heartbeats and records probe arrivals until the connection ends. Returns a
/// channel for frames to write (the fan-out writer uses it).
async fn run_simulated_node(
    connection: quinn::Connection,
    node: NodeId,
    heartbeat: Duration,
    arrivals: Arrivals,
) -> Result<mpsc::Sender<Vec<u8>>, String> {
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .map_err(|error| error.to_string())?;
    let hello = Message::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        node_id: node,
        software_version: "relay_load".into(),
        store_epoch: 1,
        // A simulated node writes nothing, so it has no log whose head it could state.
        log_heads: Vec::new(),
    })
    .encode_frame()
    .map_err(|error| error.to_string())?;
    send.write_all(&hello)
        .await
        .map_err(|error| error.to_string())?;
    let (writes, mut to_write) = mpsc::channel::<Vec<u8>>(4);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(heartbeat);
        loop {
            let frame = tokio::select! {
                _ = ticker.tick() => Message::Heartbeat(Heartbeat {
                    sent_at_millis: 0,
                    status: SyncStatus::default(),
                    scopes: Vec::new(),
                    health: None,
                })
                .encode_frame()
                .ok(),
                frame = to_write.recv() => frame,
            };
            let Some(frame) = frame else { break };
            if send.write_all(&frame).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut decoder = FrameDecoder::new();
        let mut buffer = vec![0u8; 16 * 1024];
        // Only the first arrival of each probe counts; a later push of the same document is not
        // a new sample.
        let mut seen = std::collections::HashSet::new();
        while let Ok(Some(read)) = recv.read(&mut buffer).await {
            decoder.extend(&buffer[..read]);
            while let Ok(Some(payload)) = decoder.next_payload() {
                // A probe arrives as changes, or whole in a batch of documents (protocol 2).
                let docs = match Message::decode_payload(&payload) {
                    Ok(Message::Changes(changes)) => vec![changes.doc],
                    Ok(Message::Documents(documents)) => documents
                        .unpack()
                        .map(|unpacked| unpacked.into_iter().map(|saved| saved.doc).collect())
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                for doc in docs {
                    // Probes are named `school-<writer>.probe-<round>`; arrivals go by the round.
                    let probe = doc.name().split_once('.').map_or("", |(_, probe)| probe);
                    if probe.starts_with("probe-")
                        && seen.insert(probe.to_owned())
                        && let Ok(mut arrivals) = arrivals.lock()
                    {
                        arrivals
                            .entry(probe.to_owned())
                            .or_default()
                            .push(Instant::now());
                    }
                }
            }
        }
    });
    Ok(writes)
}
