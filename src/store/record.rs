//! The byte layout a [`StoredMessage`] is kept in by stores that hold one opaque value per key
//! (the embedded store).
//!
//! `RDV1` · big-endian `u32` length of the head · the head as JSON (every part but the body) ·
//! the body's raw bytes. Keeping the body out of the JSON keeps binary bodies at their size (no
//! base64) and makes the body a plain slice of the stored value.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::message::{Channel, Envelope, HistoryEntry, Resource, StoredMessage};

const MAGIC: &[u8; 4] = b"RDV1";

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

/// Encodes `msg` as one value.
pub(crate) fn encode(msg: &StoredMessage) -> Result<Vec<u8>, String> {
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
    let mut out = Vec::with_capacity(8 + head.len() + msg.body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&head_len.to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&msg.body);
    Ok(out)
}

/// Decodes a value written by [`encode`]; the error says what was wrong with it.
pub(crate) fn decode(raw: &[u8]) -> Result<StoredMessage, String> {
    let rest = raw
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| format!("value does not start with {MAGIC:?} ({} bytes)", raw.len()))?;
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

    proptest! {
        #[test]
        fn round_trips(body in proptest::collection::vec(any::<u8>(), 0..2048),
                       meta in proptest::collection::btree_map(".{0,12}", ".{0,40}", 0..6)) {
            let msg = message(body, meta);
            let raw = encode(&msg).unwrap();
            prop_assert_eq!(decode(&raw).unwrap(), msg);
        }

        #[test]
        fn hostile_bytes_give_an_error_not_a_panic(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&raw);
            let mut framed = MAGIC.to_vec();
            framed.extend_from_slice(&raw);
            let _ = decode(&framed);
        }
    }

    #[test]
    fn truncated_and_oversized_heads_are_refused() {
        let raw = encode(&message(vec![1, 2, 3], BTreeMap::new())).unwrap();
        assert!(decode(&raw[..6]).unwrap_err().contains("head length"));
        let mut lying = raw.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&lying).unwrap_err().contains("exceeds"));
        assert!(decode(b"nope").unwrap_err().contains("does not start"));
    }
}
