//! Fuzzes the MM7 decoder with bare SOAP bodies and multipart/related bodies: decoding must
//! never panic, and whatever decodes with a TransactionID must encode and decode again.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run mm7_decode` (stable toolchain)
#![no_main]

use libfuzzer_sys::fuzz_target;
use redeliver::mm7::{DefaultMm7Codec, Mm7Codec};

/// Content types the first input byte picks from; the multipart ones use boundaries short
/// enough for the fuzzer to find.
const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("text/xml"),
    Some("multipart/related; boundary=b"),
    Some("multipart/related; boundary=b; start=\"<s>\""),
    Some("multipart/related; boundary=\"=_x\"; type=\"text/xml\""),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    let codec = DefaultMm7Codec::default();
    let Ok(message) = codec.decode(content_type, body) else {
        return;
    };
    if message.transaction_id().is_none() {
        return;
    }
    let encoded = match codec.encode(&message, message.release()) {
        Ok(e) => e,
        Err(e) => panic!("decoded {} does not encode: {e}", message.kind()),
    };
    if let Err(e) = codec.decode(Some(&encoded.content_type), &encoded.body) {
        panic!("re-encoded {} does not decode: {e}", message.kind());
    }
});
