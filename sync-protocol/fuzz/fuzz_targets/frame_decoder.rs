//! Fuzzes every decoder of untrusted bytes in the wire format: the stream splitter ([`FrameDecoder`])
//! and the payload decoder ([`Message::decode_payload`]).
//!
//! Properties checked: nothing panics; every decoded message keeps the protocol bounds, re-encodes,
//! and decodes back to itself; and the re-encoding is never longer than the bytes it came from
//! (equal length means identical bytes), because postcard's canonical form is the shortest one. A
//! batch of documents (`Documents`) is also unpacked, as a receiver does before applying it: the
//! inflater reads untrusted bytes too, and what unpacks must pack again to the same documents.
//! `tests/decoder_robustness.rs` replays `regressions/` through the same checks on stable Rust, so
//! keep the two copies of `check_input` in step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_protocol::wire::{
    Documents, FRAME_HEADER_BYTES, FrameDecoder, MAX_FRAME_PAYLOAD_BYTES, Message,
};

fuzz_target!(|data: &[u8]| check_input(data));

/// The whole input as one payload, then the input after its first byte as a transport stream, fed
/// in pieces of the size that first byte names.
fn check_input(data: &[u8]) {
    check_payload(data);
    let Some((&piece_len, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new();
    for piece in stream.chunks(usize::from(piece_len).max(1)) {
        decoder.extend(piece);
        loop {
            match decoder.next_payload() {
                Ok(Some(payload)) => check_payload(&payload),
                Ok(None) => break,
                // A session ends at the first framing error; nothing after it is read.
                Err(_) => return,
            }
        }
        assert!(decoder.buffered_len() < FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD_BYTES);
    }
}

fn check_payload(payload: &[u8]) {
    let Ok(message) = Message::decode_payload(payload) else {
        return;
    };
    assert_eq!(message.check_bounds(), Ok(()));
    let frame = message
        .encode_frame()
        .expect("a decoded message re-encodes");
    let reencoded = &frame[FRAME_HEADER_BYTES..];
    assert!(reencoded.len() <= payload.len());
    if reencoded.len() == payload.len() {
        assert_eq!(reencoded, payload);
    }
    assert_eq!(Message::decode_payload(reencoded).as_ref(), Ok(&message));
    if let Message::Documents(documents) = &message {
        check_batch(documents);
    }
}

/// Unpacking never panics, and a batch that unpacks packs again into one that unpacks to the same
/// documents (the compressed bytes are not canonical, so they are not compared).
fn check_batch(documents: &Documents) {
    let Ok(unpacked) = documents.unpack() else {
        return;
    };
    let repacked =
        Documents::pack(documents.batch, &unpacked).expect("an unpacked batch packs again");
    assert_eq!(repacked.unpack().as_ref(), Ok(&unpacked));
}
