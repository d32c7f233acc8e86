//! The sync protocol over QUIC with mutual TLS, shared by the school node and the relay.
//!
//! - [`identity`]: what a fleet certificate names (node, role, school, municipality) and the scopes
//!   that identity may read and write.
//! - [`control`]: enrolment and renewal messages, on their own streams.
//! - [`tls`]: rustls configurations for both sides, pinned to the fleet CA.
//! - [`quic`]: QUIC transport tuning and socket setup.
//! - [`link`]: drives one [`sync_protocol::session::Session`] over one QUIC stream against a
//!   [`sync_store::SledStore`].
//! - [`client`]: what a node does: enrol, connect, renew, reconnect with backoff.

pub mod client;
pub mod control;
pub mod identity;
pub mod link;
pub mod quic;
pub mod tls;

/// ALPN of a sync connection: the client must present a fleet certificate.
pub const ALPN_SYNC: &[u8] = b"digione-sync/1";
/// ALPN of an enrolment connection: the client has no certificate yet and presents a token.
pub const ALPN_ENROL: &[u8] = b"digione-enrol/1";
