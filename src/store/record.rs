//! The byte layout a [`StoredMessage`] is kept in by stores that hold one opaque value per key
//! (the embedded store).
//!
//! `RDV2` · big-endian `u32` length of the head · the head as JSON (every part but the body) ·
//! the body's raw bytes · big-endian `u32` CRC-32 (IEEE). Keeping the body out of the JSON keeps
//! binary bodies at their size (no base64) and makes the body a plain slice of the stored value.
//!
//! The checksum covers the record's key (bucket and msgid, each preceded by its length as a
//! big-endian `u32`) and every byte of the record before it, so a damaged record, or a record
//! found under another key than the one it was written for, is refused rather than returned
//! with wrong content. CRC-32 detects every error of up to 3 bits in a record of this size and
//! every burst of up to 32 bits.
//!
//! `RDV1` records (the same layout without the checksum, written before it was added) are still
//! read; they cannot be checked.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::message::{Channel, Envelope, HistoryEntry, Resource, StoredMessage};

const MAGIC: &[u8; 4] = b"RDV2";
const MAGIC_V1: &[u8; 4] = b"RDV1";

/// Which layout a record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `RDV2`: checksum verified.
    Checked,
    /// `RDV1`: no checksum to verify.
    Unchecked,
}

/// The CRC-32 of the key and `bytes` (the record up to its checksum).
fn checksum(bucket: &str, msgid: &str, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for part in [bucket, msgid] {
        // Key parts are short (validated `Bucket` and `MsgId`); a longer one still hashes.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        h.update(&len.to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(bytes);
    h.finalize()
}

#[derive(Serialize)]
struct HeadRef<'a> {
    channel: Channel,
    envelope: &'a Envelope,
    content_type: &'a str,
    metadata: &'a BTreeMap<String, String>,
    resource: &'a Resource,
    submitted_at: SystemTime,
    expires_at: SystemTime,
    history: &'a [HistoryEntry],
}

#[derive(Deserialize)]
struct Head {
    channel: Channel,
    envelope: Envelope,
    content_type: String,
    metadata: BTreeMap<String, String>,
    resource: Resource,
    submitted_at: SystemTime,
    expires_at: SystemTime,
    history: Vec<HistoryEntry>,
}

/// Encodes `msg`, stored under `bucket`/`msgid`, as one value.
pub(crate) fn encode(bucket: &str, msgid: &str, msg: &StoredMessage) -> Result<Vec<u8>, String> {
    let head = serde_json::to_vec(&HeadRef {
        channel: msg.channel,
        envelope: &msg.envelope,
        content_type: &msg.content_type,
        metadata: &msg.metadata,
        resource: &msg.resource,
        submitted_at: msg.submitted_at,
        expires_at: msg.expires_at,
        history: &msg.history,
    })
    .map_err(|e| format!("cannot encode the message head: {e}"))?;
    let head_len = u32::try_from(head.len())
        .map_err(|_| format!("message head is {} bytes, over 4 GiB", head.len()))?;
    let mut out = Vec::with_capacity(12 + head.len() + msg.body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&head_len.to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&msg.body);
    let sum = checksum(bucket, msgid, &out);
    out.extend_from_slice(&sum.to_be_bytes());
    Ok(out)
}

/// Decodes a value written by [`encode`] for `bucket`/`msgid`, after checking its checksum;
/// the error says what was wrong with it.
pub(crate) fn decode(bucket: &str, msgid: &str, raw: &[u8]) -> Result<StoredMessage, String> {
    decode_layout(bucket, msgid, raw).map(|(msg, _)| msg)
}

/// [`decode`], also telling which layout the record was in.
pub(crate) fn decode_layout(
    bucket: &str,
    msgid: &str,
    raw: &[u8],
) -> Result<(StoredMessage, Layout), String> {
    if let Some(rest) = raw.strip_prefix(MAGIC_V1.as_slice()) {
        return decode_fields(rest).map(|msg| (msg, Layout::Unchecked));
    }
    if !raw.starts_with(MAGIC) {
        return Err(format!(
            "value does not start with {MAGIC:?} or {MAGIC_V1:?} ({} bytes)",
            raw.len()
        ));
    }
    let (covered, stored) = raw
        .split_last_chunk::<4>()
        .filter(|(covered, _)| covered.len() >= MAGIC.len())
        .ok_or("value ends before its checksum")?;
    let stored = u32::from_be_bytes(*stored);
    let computed = checksum(bucket, msgid, covered);
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the record is \
             damaged or was not written for this key"
        ));
    }
    decode_fields(&covered[MAGIC.len()..]).map(|msg| (msg, Layout::Checked))
}

/// Decodes what follows the magic: head length, head and body.
fn decode_fields(rest: &[u8]) -> Result<StoredMessage, String> {
    let (len_bytes, rest) = rest
        .split_first_chunk::<4>()
        .ok_or("value ends inside the head length")?;
    let head_len = u32::from_be_bytes(*len_bytes) as usize;
    if head_len > rest.len() {
        return Err(format!(
            "head length {head_len} exceeds the {} bytes left",
            rest.len()
        ));
    }
    let (head, body) = rest.split_at(head_len);
    let head: Head =
        serde_json::from_slice(head).map_err(|e| format!("message head is not valid: {e}"))?;
    Ok(StoredMessage {
        channel: head.channel,
        envelope: head.envelope,
        body: Bytes::copy_from_slice(body),
        content_type: head.content_type,
        metadata: head.metadata,
        resource: head.resource,
        submitted_at: head.submitted_at,
        expires_at: head.expires_at,
        history: head.history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HistoryEvent;
    use proptest::prelude::*;

    fn message(body: Vec<u8>, meta: BTreeMap<String, String>) -> StoredMessage {
        let mut msg = StoredMessage::new(
            Channel::Mm7,
            Envelope {
                mailfrom: "a@example.com".into(),
                rcptto: "b@example.com".into(),
            },
            body,
        );
        msg.metadata = meta;
        msg.record(HistoryEvent::Note { text: "x".into() });
        msg
    }

    /// The record as the `RDV1` layout wrote it: no checksum.
    fn encode_v1(msg: &StoredMessage) -> Vec<u8> {
        let raw = encode("b", "m", msg).unwrap();
        let mut v1 = raw[..raw.len() - 4].to_vec();
        v1[..4].copy_from_slice(MAGIC_V1);
        v1
    }

    proptest! {
        #[test]
        fn round_trips(body in proptest::collection::vec(any::<u8>(), 0..2048),
                       meta in proptest::collection::btree_map(".{0,12}", ".{0,40}", 0..6)) {
            let msg = message(body, meta);
            let raw = encode("MADR-1", "id", &msg).unwrap();
            prop_assert_eq!(decode_layout("MADR-1", "id", &raw).unwrap(), (msg.clone(), Layout::Checked));
            prop_assert_eq!(decode_layout("x", "y", &encode_v1(&msg)).unwrap(), (msg, Layout::Unchecked));
        }

        #[test]
        fn hostile_bytes_give_an_error_not_a_panic(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode("b", "m", &raw);
            for magic in [MAGIC, MAGIC_V1] {
                let mut framed = magic.to_vec();
                framed.extend_from_slice(&raw);
                let _ = decode("b", "m", &framed);
            }
        }

        #[test]
        fn any_flipped_bit_is_refused(body in proptest::collection::vec(any::<u8>(), 0..512),
                                      bit in any::<proptest::sample::Index>()) {
            let raw = encode("MADR-1", "id", &message(body, BTreeMap::new())).unwrap();
            let bit = bit.index(raw.len() * 8);
            let mut flipped = raw.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode("MADR-1", "id", &flipped).is_err(), "bit {} accepted", bit);
        }
    }

    #[test]
    fn truncated_and_oversized_heads_are_refused() {
        let raw = encode_v1(&message(vec![1, 2, 3], BTreeMap::new()));
        assert!(
            decode("b", "m", &raw[..6])
                .unwrap_err()
                .contains("head length")
        );
        let mut lying = raw.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode("b", "m", &lying).unwrap_err().contains("exceeds"));
        assert!(
            decode("b", "m", b"nope")
                .unwrap_err()
                .contains("does not start")
        );
        assert!(
            decode("b", "m", b"RDV2abc")
                .unwrap_err()
                .contains("before its checksum")
        );
    }

    #[test]
    fn a_record_under_another_key_is_refused() {
        let msg = message(b"body".to_vec(), BTreeMap::new());
        let raw = encode("MADR-1", "id-1", &msg).unwrap();
        assert_eq!(decode("MADR-1", "id-1", &raw).unwrap(), msg);
        for (bucket, msgid) in [("MADR-1", "id-2"), ("MADR-2", "id-1"), ("MADR-1i", "d-1")] {
            let err = decode(bucket, msgid, &raw).unwrap_err();
            assert!(err.contains("checksum mismatch"), "{err}");
        }
    }
}
