//! The DigiOne Edge sync protocol: identities, the wire format, and an IO-free sync engine.
//!
//! Nothing in this crate touches a socket, a file, a runtime or the system clock. A driver (the node's
//! or the relay's QUIC task, or the in-memory simulator in [`sim`]) feeds a [`session::Session`] with
//! inbound frames, local document changes and the current time, and drains outbound frames and
//! events from it. Storage is reached through the [`store::ReplicaStore`] trait; the sled
//! implementation lives in the `sync-store` crate and an in-memory one in [`memory`].

pub mod ids;
pub mod memory;
pub mod session;
pub mod sim;
pub mod store;
pub mod wire;
