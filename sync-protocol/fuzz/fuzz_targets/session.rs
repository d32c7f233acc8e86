//! Feeds arbitrary frame payloads into a live session over an in-memory store: whatever a peer sends,
//! the session must not panic, must keep every outbound frame within the frame bound, and must leave
//! the store readable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_protocol::ids::Scope;
use sync_protocol::memory::MemoryStore;
use sync_protocol::session::{Session, SessionConfig};
use sync_protocol::store::ReplicaStore;
use sync_protocol::wire::{FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES};

fuzz_target!(|data: &[u8]| {
    let school: Scope = "school:30076".parse().expect("valid");
    let national = Scope::National;
    let mut store = MemoryStore::new(1);
    let config = SessionConfig::new(
        "relay".parse().expect("valid"),
        "node-30076-a".parse().expect("valid"),
        vec![school.clone(), national],
        vec![school.clone()],
    );
    let mut session = Session::new(config, &store, 0);
    // The input is a sequence of payloads, each prefixed by a one-byte length class: this lets the
    // fuzzer build several messages in one session without fighting a 4-byte length field.
    let mut rest = data;
    let mut now = 0;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        now += 1_000;
        session.handle_payload(&mut store, payload, now);
        session.handle_timeout(&mut store, now);
        store.flush().expect("memory flush");
        session.handle_durable(&mut store);
        while let Some(frame) = session.poll_transmit(&mut store) {
            assert!(frame.len() <= FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD_BYTES);
        }
        while session.poll_event().is_some() {}
        rest = tail;
    }
    store.scope_summary(&school).expect("the store stays readable");
});
