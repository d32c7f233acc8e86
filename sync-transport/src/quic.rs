//! QUIC tuned on purpose, and the sockets under it.
//!
//! The defaults here are chosen for a relay holding thousands of mostly idle connections to schools
//! behind NAT, and for schools whose uplink may be thin:
//! - keep-alive well below the idle timeout, so NAT bindings stay open and a dead peer is noticed;
//! - flow-control windows large enough for one maximum frame in flight plus the next, and no more,
//!   which bounds what a peer can make us buffer;
//! - socket buffers larger than the kernel default, so bursts of heartbeats from many schools are not
//!   dropped at the socket;
//! - few streams per connection: one for sync, a few for control requests.

use std::net::SocketAddr;
use std::time::Duration;

use quinn::{EndpointConfig, IdleTimeout, TransportConfig, VarInt};
use socket2::{Domain, Protocol, Socket, Type};
use sync_protocol::wire::MAX_FRAME_PAYLOAD_BYTES;

/// Application error codes used when a connection is closed; the reason text says more.
pub mod close_code {
    /// The session ended normally, or the process is shutting down.
    pub const NORMAL: u32 = 0;
    /// The peer broke the protocol (malformed or oversized frame, unexpected message).
    pub const PROTOCOL_ERROR: u32 = 1;
    /// The peer's certificate has been revoked.
    pub const REVOKED: u32 = 2;
    /// A sync connection arrived without a client certificate.
    pub const CERTIFICATE_REQUIRED: u32 = 3;
    /// The relay is at its connection limit.
    pub const TOO_MANY_CONNECTIONS: u32 = 4;
    /// The same node connected again; the older connection is closed.
    pub const SUPERSEDED: u32 = 5;
    /// The peer stopped reading what we send for longer than the stall timeout.
    pub const STALLED: u32 = 6;
    /// The peer fell silent for three heartbeat intervals.
    pub const TIMEOUT: u32 = 7;
    /// Too many requests (enrolments, renewals) from this peer or in total.
    pub const RATE_LIMITED: u32 = 8;
    /// The local store failed.
    pub const STORE_FAILURE: u32 = 9;
}

/// How QUIC is configured on both sides. See the module documentation for why.
#[derive(Debug, Clone)]
pub struct QuicTuning {
    pub keep_alive: Duration,
    pub idle_timeout: Duration,
    pub socket_buffer_bytes: usize,
    /// Bidirectional streams a peer may have open at once on one connection.
    pub max_streams_per_connection: u32,
}

impl Default for QuicTuning {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            socket_buffer_bytes: 4 * 1024 * 1024,
            max_streams_per_connection: 4,
        }
    }
}

/// The receive window of one stream: a maximum frame and its header twice over, so the next frame can
/// arrive while the session works on the current one.
pub const STREAM_RECEIVE_WINDOW_BYTES: u32 = 2 * (MAX_FRAME_PAYLOAD_BYTES as u32 + 4);

/// The receive window of a connection, across its streams.
pub const CONNECTION_RECEIVE_WINDOW_BYTES: u32 = STREAM_RECEIVE_WINDOW_BYTES + 256 * 1024;

/// Unacknowledged bytes we keep for retransmission per connection.
pub const SEND_WINDOW_BYTES: u64 = 2 * 1024 * 1024;

impl QuicTuning {
    pub fn transport_config(&self) -> TransportConfig {
        let mut transport = TransportConfig::default();
        transport.keep_alive_interval(Some(self.keep_alive));
        // An idle timeout that does not fit QUIC's varint is clamped to the largest that does.
        let idle = IdleTimeout::try_from(self.idle_timeout)
            .unwrap_or_else(|_| IdleTimeout::from(VarInt::MAX));
        transport.max_idle_timeout(Some(idle));
        transport.max_concurrent_bidi_streams(VarInt::from_u32(self.max_streams_per_connection));
        transport.max_concurrent_uni_streams(VarInt::from_u32(0));
        transport.stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW_BYTES));
        transport.receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW_BYTES));
        transport.send_window(SEND_WINDOW_BYTES);
        // Datagrams are not used; refusing them means no buffer is kept for them.
        transport.datagram_receive_buffer_size(None);
        transport
    }
}

/// A UDP socket with the configured buffer sizes. The kernel may grant less than asked (Linux caps
/// at `net.core.rmem_max`); that is logged, not fatal.
pub fn bind_socket(
    address: SocketAddr,
    buffer_bytes: usize,
) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if address.is_ipv6() {
        // Accept IPv4 too where the system allows it, as operators expect from `[::]`.
        let _ = socket.set_only_v6(false);
    }
    if let Err(error) = socket.set_recv_buffer_size(buffer_bytes) {
        tracing::warn!(%error, buffer_bytes, "could not enlarge the UDP receive buffer");
    }
    if let Err(error) = socket.set_send_buffer_size(buffer_bytes) {
        tracing::warn!(%error, buffer_bytes, "could not enlarge the UDP send buffer");
    }
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// A QUIC endpoint on `address`; a server when `server_config` is given.
pub fn endpoint(
    address: SocketAddr,
    server_config: Option<quinn::ServerConfig>,
    tuning: &QuicTuning,
) -> std::io::Result<quinn::Endpoint> {
    let socket = bind_socket(address, tuning.socket_buffer_bytes)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| std::io::Error::other("no async runtime for QUIC (not inside tokio)"))?;
    quinn::Endpoint::new(EndpointConfig::default(), server_config, socket, runtime)
}
