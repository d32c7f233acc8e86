//! Feeds arbitrary frame payloads into a live session over an in-memory store: whatever a peer sends,
//! the session must not panic, must keep every outbound frame within the frame bound, and must leave
//! the store readable, and must keep what it remembers about the peer within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_protocol::ids::Scope;
use sync_protocol::memory::MemoryStore;
use sync_protocol::session::{
    MAX_QUEUED_PUSHES, MAX_REMEMBERED_HEADS_PER_SESSION, MAX_WAITING_ENTRIES_PER_REQUEST,
    MAX_WANTED_BLOBS, ScopeQuota, Session, SessionConfig,
};
use sync_protocol::store::ReplicaStore;
use sync_protocol::wire::{FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD_BYTES};

fuzz_target!(|data: &[u8]| {
    let school: Scope = "school:30076".parse().expect("valid");
    let municipality: Scope = "municipality:092".parse().expect("valid");
    let national = Scope::National;
    let mut store = MemoryStore::new(1);
    // As the relay runs a school node's session: its municipality written only in part, and small
    // quotas, so that the refusals are reached as often as the acceptances.
    let mut config = SessionConfig::new(
        "relay".parse().expect("valid"),
        "node-30076-a".parse().expect("valid"),
        vec![school.clone(), municipality.clone(), national],
        vec![school.clone(), municipality.clone()],
    );
    config.receive_name_prefixes = vec![(municipality, "school-30076.".to_owned())];
    config.receive_quota = Some(ScopeQuota {
        max_documents: 4,
        max_document_bytes: 64 * 1024,
        max_blob_bytes: 1024 * 1024,
        max_unfinished_blobs: 2,
    });
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
        assert!(
            session.remembered_entries()
                <= 3 * MAX_REMEMBERED_HEADS_PER_SESSION + MAX_WAITING_ENTRIES_PER_REQUEST
                    + MAX_QUEUED_PUSHES
                    + 2 * MAX_WANTED_BLOBS
                    + 4096,
            "the session's memory stays bounded"
        );
        rest = tail;
    }
    store.scope_summary(&school).expect("the store stays readable");
});
