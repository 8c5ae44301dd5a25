//! The stored message and its address in the store.
//!
//! Implements the addressing rules of Momentum's mstore module
//! (`seeds/momentum-mstore-retrying-messages.md`, "Runtime Usage: Lua"): a message is kept under a
//! **bucket** (`MADR-<shortcode>`, or `MADR-MM7` when there is no shortcode or
//! `mm7_mstore_bucket_use_shortcode` is false) and a **msgid** (the message id the SMSC or MMSC
//! returned for the submission).
//!
//! A [`StoredMessage`] keeps the parts that `mstore display … body|full|resource` shows apart:
//! the envelope, the body (raw bytes, binary-safe), the metadata (the submission's protocol
//! fields), the resource (where it was sent and what id came back) and the attempt history.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use crate::receipt_class::ReceiptClass;

/// The prefix of every mstore bucket.
pub const BUCKET_PREFIX: &str = "MADR-";

/// The bucket used for MM7 submissions without a shortcode, or for every submission when
/// `mm7_mstore_bucket_use_shortcode` is false.
pub const MM7_BUCKET: &str = "MADR-MM7";

/// Longest bucket name accepted, in bytes.
pub const MAX_BUCKET_LEN: usize = 255;

/// Longest msgid accepted, in bytes. Riak's request line is limited to 8190 bytes and a
/// percent-encoded key can triple in size, so ids are kept well below that.
pub const MAX_MSGID_LEN: usize = 1024;

/// Default retention of a stored message (14 days, what Momentum configures for mstore).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// Metadata key: the final state the retry engine claimed (`positive` / `negative`).
pub const META_FINAL: &str = "redeliver.final";
/// Metadata key: who claimed the final state (an id the claiming receipt keeps while it is
/// retried), so a claim whose write was answered ambiguously (a timeout, a 503) is recognised as
/// its own when the receipt is tried again.
pub const META_CLAIM: &str = "redeliver.claim";
/// Metadata key on a multipart copy: the msgid of the message it belongs to.
pub const META_PRIMARY: &str = "redeliver.primary";
/// Metadata key on a record that holds only receipts parked before their submission was stored.
pub const META_PLACEHOLDER: &str = "redeliver.placeholder";
/// Prefix of the metadata keys that hold parked receipts (`redeliver.parked.<id>`).
pub const META_PARKED_PREFIX: &str = "redeliver.parked.";
/// Metadata key: when some node's timer should next look at the record, in whole milliseconds
/// since the Unix epoch, in decimal. Stores index records by it
/// (`MessageStore::due`), so a timer finds what needs it without scanning: a claim whose lease
/// ends then, receipts parked in the record, or part states to decide again.
pub const META_DUE: &str = "redeliver.due";
/// Metadata key: when a multipart message whose part states were written without deciding the
/// whole should be decided again (milliseconds since the Unix epoch), for part states written
/// concurrently on a store that keeps both writes as siblings.
pub const META_RECHECK: &str = "redeliver.recheck";
/// Prefix of the engine's multipart keys (`redeliver.part.<n>.key`, `redeliver.part.<n>.state`).
pub const META_PART_PREFIX: &str = "redeliver.part.";

/// Why a bucket name or a msgid was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The bucket name was empty.
    #[error("bucket name is empty")]
    EmptyBucket,
    /// The bucket name was longer than [`MAX_BUCKET_LEN`].
    #[error("bucket name is {len} bytes, longer than the {max}-byte limit")]
    BucketTooLong {
        /// Length of the refused name.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bucket name contained a control character or a `/`.
    #[error("bucket name {name:?} contains {ch:?}, which is not allowed in a bucket name")]
    BadBucketChar {
        /// The refused name.
        name: String,
        /// The offending character.
        ch: char,
    },
    /// The msgid was empty.
    #[error("msgid is empty")]
    EmptyMsgId,
    /// The msgid was longer than [`MAX_MSGID_LEN`].
    #[error("msgid is {len} bytes, longer than the {max}-byte limit")]
    MsgIdTooLong {
        /// Length of the refused id.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The msgid contained a NUL byte.
    #[error("msgid contains a NUL byte")]
    NulInMsgId,
}

/// A validated mstore bucket name, such as `MADR-12345` or `MADR-MM7`.
///
/// Any non-empty name of at most [`MAX_BUCKET_LEN`] bytes without control characters or `/` is
/// accepted, so buckets written by other tools can still be read; [`Bucket::for_submission`]
/// builds the seed's names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bucket(String);

impl Bucket {
    /// Validates a bucket name.
    pub fn new(name: impl Into<String>) -> Result<Self, AddressError> {
        let name = name.into();
        if name.is_empty() {
            return Err(AddressError::EmptyBucket);
        }
        if name.len() > MAX_BUCKET_LEN {
            return Err(AddressError::BucketTooLong {
                len: name.len(),
                max: MAX_BUCKET_LEN,
            });
        }
        if let Some(ch) = name.chars().find(|c| c.is_control() || *c == '/') {
            return Err(AddressError::BadBucketChar { name, ch });
        }
        Ok(Self(name))
    }

    /// The seed's bucket rule: `MADR-<shortcode>`, or `MADR-MM7` when there is no shortcode
    /// (or it is blank) or `use_shortcode` (the `mm7_mstore_bucket_use_shortcode` option) is false.
    pub fn for_submission(
        shortcode: Option<&str>,
        use_shortcode: bool,
    ) -> Result<Self, AddressError> {
        match shortcode.map(str::trim) {
            Some(code) if use_shortcode && !code.is_empty() => {
                let mut name = String::with_capacity(BUCKET_PREFIX.len() + code.len());
                name.push_str(BUCKET_PREFIX);
                name.push_str(code);
                Self::new(name)
            }
            _ => Ok(Self::mm7()),
        }
    }

    /// The `MADR-MM7` bucket.
    pub fn mm7() -> Self {
        Self(MM7_BUCKET.to_owned())
    }

    /// The shortcode part of a `MADR-<shortcode>` bucket, if it is one (`None` for `MADR-MM7`).
    pub fn shortcode(&self) -> Option<&str> {
        self.0
            .strip_prefix(BUCKET_PREFIX)
            .filter(|code| *code != "MM7" && !code.is_empty())
    }

    /// The bucket name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Bucket {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Bucket> for String {
    fn from(value: Bucket) -> Self {
        value.0
    }
}

impl std::str::FromStr for Bucket {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A validated message id: the key of a stored message within its bucket.
///
/// Any non-empty string without NUL of at most [`MAX_MSGID_LEN`] bytes is a valid msgid,
/// including ids with `/`, `?`, `%`, `+`, spaces and non-ASCII characters; every store must
/// round-trip them unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MsgId(String);

impl MsgId {
    /// Validates a message id.
    pub fn new(id: impl Into<String>) -> Result<Self, AddressError> {
        let id = id.into();
        if id.is_empty() {
            return Err(AddressError::EmptyMsgId);
        }
        if id.len() > MAX_MSGID_LEN {
            return Err(AddressError::MsgIdTooLong {
                len: id.len(),
                max: MAX_MSGID_LEN,
            });
        }
        if id.contains('\0') {
            return Err(AddressError::NulInMsgId);
        }
        Ok(Self(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MsgId {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<MsgId> for String {
    fn from(value: MsgId) -> Self {
        value.0
    }
}

impl std::str::FromStr for MsgId {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// The protocol a message was submitted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// SMPP `submit_sm` / `data_sm` to an SMSC.
    Smpp,
    /// MM7 `SubmitReq` to an MMSC.
    Mm7,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Smpp => "smpp",
            Channel::Mm7 => "mm7",
        })
    }
}

/// The message's envelope: who sent it and to whom, as the spool knows it
/// (`msg:mailfrom()` and the recipient in the seed's Lua API).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// The original sender (where a bounce goes).
    pub mailfrom: String,
    /// The recipient, e.g. `12405678910@smpp.example.com`.
    pub rcptto: String,
}

/// Where the message went and what came back: the "resource" that
/// `mstore display <bucket> <msgid> resource` shows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resource {
    /// The binding the message was sent on.
    pub binding: Option<String>,
    /// The binding group of that binding.
    pub binding_group: Option<String>,
    /// The destination domain.
    pub domain: Option<String>,
    /// The message id the SMSC (submit_sm_resp) or MMSC (SubmitRsp) returned.
    pub message_id: Option<String>,
    /// For a concatenated SMS: the SMSC's id of every part, in part order. Receipts for any
    /// part find the stored message.
    pub part_ids: Vec<String>,
}

/// One event in a stored message's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HistoryEvent {
    /// A submission and the status it got.
    Submitted {
        /// Message id returned by the SMSC/MMSC, if any.
        message_id: Option<String>,
        /// The response status (e.g. `ESME_ROK`, `1000`).
        status: String,
    },
    /// A delivery receipt or report.
    Receipt {
        /// Message id the receipt referred to.
        message_id: String,
        /// The final or intermediate state it reported (e.g. `DELIVRD`, `Expired`).
        state: String,
        /// Network or SMSC error code, if given.
        error: Option<String>,
    },
    /// The message was injected again (same route or rerouted).
    Injected {
        /// Sender used for the injection.
        from: String,
        /// Recipient used for the injection.
        to: String,
    },
    /// A free-form note from a hook or the host.
    Note {
        /// The text.
        text: String,
    },
}

/// An entry in a stored message's attempt history.
///
/// Stored flat, as `{"at": …, "event": "<kind>", <the event's fields>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When it happened.
    pub at: SystemTime,
    /// What happened.
    #[serde(flatten)]
    pub event: HistoryEvent,
}

impl<'de> Deserialize<'de> for HistoryEntry {
    /// Reads the flat form in one pass (a derived `#[serde(flatten)]` would first buffer every
    /// field of every entry, which made history the costliest part of loading a message).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;

        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Submitted,
            Receipt,
            Injected,
            Note,
        }

        #[derive(Deserialize)]
        struct Flat {
            at: SystemTime,
            event: Kind,
            #[serde(default)]
            message_id: Option<String>,
            #[serde(default)]
            status: Option<String>,
            #[serde(default)]
            state: Option<String>,
            #[serde(default)]
            error: Option<String>,
            #[serde(default)]
            from: Option<String>,
            #[serde(default)]
            to: Option<String>,
            #[serde(default)]
            text: Option<String>,
        }

        let flat = Flat::deserialize(deserializer)?;
        let need = |value: Option<String>, field: &'static str| {
            value.ok_or_else(|| D::Error::missing_field(field))
        };
        let event = match flat.event {
            Kind::Submitted => HistoryEvent::Submitted {
                message_id: flat.message_id,
                status: need(flat.status, "status")?,
            },
            Kind::Receipt => HistoryEvent::Receipt {
                message_id: need(flat.message_id, "message_id")?,
                state: need(flat.state, "state")?,
                error: flat.error,
            },
            Kind::Injected => HistoryEvent::Injected {
                from: need(flat.from, "from")?,
                to: need(flat.to, "to")?,
            },
            Kind::Note => HistoryEvent::Note {
                text: need(flat.text, "text")?,
            },
        };
        Ok(HistoryEntry { at: flat.at, event })
    }
}

/// A submitted message, kept until its delivery receipt decides what becomes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// SMPP or MM7.
    pub channel: Channel,
    /// Sender and recipient.
    pub envelope: Envelope,
    /// The message body exactly as submitted: the short message or message_payload for SMPP
    /// (in its data_coding), the MIME content for MM7. Binary-safe.
    #[serde(with = "body_serde")]
    pub body: Bytes,
    /// Content type of the body (`application/octet-stream` for SMPP short messages, the MIME
    /// type of the MM7 content).
    pub content_type: String,
    /// The submission's protocol fields by their spec names: for SMPP `source_addr_ton`,
    /// `source_addr`, `dest_addr_ton`, `destination_addr`, `esm_class`, `data_coding`, … and TLVs
    /// as `tlv_0x<tag>` with hex values; for MM7 the SubmitReq element names (`SenderAddress`,
    /// `To`, `Subject`, `ServiceCode`, …).
    pub metadata: BTreeMap<String, String>,
    /// Where it went and what id came back.
    pub resource: Resource,
    /// When the message was submitted.
    pub submitted_at: SystemTime,
    /// When the store may forget it (see `MessageStore::sweep_expired`).
    pub expires_at: SystemTime,
    /// Every submission and receipt seen, oldest first.
    pub history: Vec<HistoryEntry>,
}

impl StoredMessage {
    /// A new message submitted now, kept for [`DEFAULT_RETENTION`], with empty metadata,
    /// resource and history.
    pub fn new(channel: Channel, envelope: Envelope, body: impl Into<Bytes>) -> Self {
        let now = SystemTime::now();
        Self {
            channel,
            envelope,
            body: body.into(),
            content_type: "application/octet-stream".to_owned(),
            metadata: BTreeMap::new(),
            resource: Resource::default(),
            submitted_at: now,
            expires_at: now.checked_add(DEFAULT_RETENTION).unwrap_or(now),
            history: Vec::new(),
        }
    }

    /// Appends an event to the history, stamped now.
    pub fn record(&mut self, event: HistoryEvent) {
        self.history.push(HistoryEntry {
            at: SystemTime::now(),
            event,
        });
    }

    /// When the record is due for a look ([`META_DUE`]), in milliseconds since the Unix epoch;
    /// `None` when it is not due or the value is not a number.
    pub fn due_millis(&self) -> Option<u64> {
        self.metadata.get(META_DUE)?.parse().ok()
    }

    /// Whether the message's retention has passed at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }

    /// Whether this record only holds receipts parked before their submission was stored
    /// ([`META_PLACEHOLDER`]).
    pub fn is_placeholder(&self) -> bool {
        self.metadata.contains_key(META_PLACEHOLDER)
    }

    /// Merges two versions of one record written concurrently (Riak siblings), losing nothing
    /// the engine relies on. The rule is fixed, so every reader merges the same siblings the
    /// same way, in any order:
    ///
    /// * A submission wins over a placeholder: its channel, envelope, body, content type,
    ///   resource and times are kept, and the placeholder contributes its parked receipts.
    ///   Between two submissions (or two placeholders) the one with the later `submitted_at`
    ///   gives those fields, ties going to the greater body, then the greater envelope.
    /// * Metadata is the union of both. Where both have a key: a final state
    ///   ([`META_FINAL`], `redeliver.part.<n>.state`) keeps `negative` over `positive` (a
    ///   failure is never forgotten; it is also the outcome that bounces, which the failed side
    ///   already did); [`META_DUE`] keeps the earlier time (a look either side asked for is not
    ///   put off); any other key keeps the winner's value. [`META_PLACEHOLDER`] survives only
    ///   if both are placeholders.
    /// * History is the union of both, oldest first, each entry once; `expires_at` is the later
    ///   of the two.
    pub fn merge(self, other: StoredMessage) -> StoredMessage {
        let (mut win, lose) = if Self::outranks(&self, &other) {
            (self, other)
        } else {
            (other, self)
        };
        let both_placeholders = win.is_placeholder() && lose.is_placeholder();
        // Retention only grows: a parked receipt's window and the submission's retention both
        // hold.
        win.expires_at = win.expires_at.max(lose.expires_at);
        for (key, value) in lose.metadata {
            match win.metadata.get_mut(&key) {
                None => {
                    win.metadata.insert(key, value);
                }
                Some(mine) if is_state_key(&key) => {
                    if value == "negative" {
                        *mine = value;
                    }
                }
                Some(mine) if key == META_DUE => {
                    if earlier_due(&value, mine) {
                        *mine = value;
                    }
                }
                Some(_) => {}
            }
        }
        if !both_placeholders {
            win.metadata.remove(META_PLACEHOLDER);
        }
        for entry in lose.history {
            if !win.history.contains(&entry) {
                win.history.push(entry);
            }
        }
        // Oldest first; entries stamped alike in a fixed order, so the merge is symmetric.
        win.history.sort_by(|x, y| {
            x.at.cmp(&y.at)
                .then_with(|| format!("{:?}", x.event).cmp(&format!("{:?}", y.event)))
        });
        win
    }

    /// Which of two siblings gives the record's fields in [`merge`](Self::merge).
    fn outranks(a: &StoredMessage, b: &StoredMessage) -> bool {
        use std::cmp::Ordering;
        let rank = |m: &StoredMessage| !m.is_placeholder();
        match rank(a).cmp(&rank(b)) {
            Ordering::Equal => {}
            o => return o == Ordering::Greater,
        }
        a.submitted_at
            .cmp(&b.submitted_at)
            .then_with(|| a.body.cmp(&b.body))
            .then_with(|| a.envelope.mailfrom.cmp(&b.envelope.mailfrom))
            .then_with(|| a.envelope.rcptto.cmp(&b.envelope.rcptto))
            .then_with(|| a.metadata.cmp(&b.metadata))
            .then_with(|| {
                let rest =
                    |m: &StoredMessage| format!("{:?}", (m.channel, &m.content_type, &m.resource));
                rest(a).cmp(&rest(b))
            })
            != Ordering::Less
    }
}

/// Whether due time `a` comes before `b` (a value that is not a number comes last; two such
/// values compare as text, so the merge stays symmetric).
fn earlier_due(a: &str, b: &str) -> bool {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x < y,
        (Ok(_), Err(_)) => true,
        (Err(_), Ok(_)) => false,
        (Err(_), Err(_)) => a < b,
    }
}

/// Whole milliseconds since the Unix epoch (0 before it, saturating far after), the unit of
/// [`META_DUE`].
pub fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn is_state_key(key: &str) -> bool {
    key == META_FINAL
        || key
            .strip_prefix(META_PART_PREFIX)
            .is_some_and(|rest| rest.ends_with(".state"))
}

/// Serializes the body as base64 in human-readable formats (JSON) and as bytes otherwise.
mod body_serde {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(body: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&STANDARD.encode(body))
        } else {
            s.serialize_bytes(body)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            STANDARD
                .decode(text.as_bytes())
                .map(Bytes::from)
                .map_err(|e| D::Error::custom(format!("body: {e}")))
        } else {
            let raw: Vec<u8> = serde::de::Deserialize::deserialize(d)?;
            Ok(Bytes::from(raw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn history_entries_read_back_what_they_write() {
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let events = [
            HistoryEvent::Submitted {
                message_id: Some("4f2a".into()),
                status: "ESME_ROK".into(),
            },
            HistoryEvent::Submitted {
                message_id: None,
                status: "ESME_RTHROTTLED".into(),
            },
            HistoryEvent::Receipt {
                message_id: "4f2a".into(),
                state: "UNDELIV".into(),
                error: Some("034".into()),
            },
            HistoryEvent::Receipt {
                message_id: "4f2a".into(),
                state: "DELIVRD".into(),
                error: None,
            },
            HistoryEvent::Injected {
                from: "a@example.com".into(),
                to: "b@example.com".into(),
            },
            HistoryEvent::Note {
                text: "rerouted \"by hand\"".into(),
            },
        ];
        // The Deserialize impl of HistoryEntry lists the event kinds by hand: adding a variant to
        // HistoryEvent breaks this match, and the check below wants an example of each kind.
        let kind = |event: &HistoryEvent| match event {
            HistoryEvent::Submitted { .. } => "submitted",
            HistoryEvent::Receipt { .. } => "receipt",
            HistoryEvent::Injected { .. } => "injected",
            HistoryEvent::Note { .. } => "note",
        };
        let mut kinds = std::collections::BTreeSet::new();
        for event in events {
            kinds.insert(kind(&event));
            let entry = HistoryEntry { at, event };
            let json = serde_json::to_string(&entry).unwrap();
            assert!(
                json.contains(&format!(r#""event":"{}""#, kind(&entry.event))),
                "{json}"
            );
            let back: HistoryEntry = serde_json::from_str(&json).unwrap();
            assert_eq!(back, entry, "{json}");
        }
        assert_eq!(kinds.len(), 4, "an example of every kind of event");
        let flat = r#"{"at":{"secs_since_epoch":1,"nanos_since_epoch":0},"event":"receipt","message_id":"x","state":"DELIVRD","error":null,"extra":1}"#;
        let entry: HistoryEntry = serde_json::from_str(flat).unwrap();
        assert!(matches!(
            entry.event,
            HistoryEvent::Receipt { error: None, .. }
        ));
        let missing = r#"{"at":{"secs_since_epoch":1,"nanos_since_epoch":0},"event":"receipt","message_id":"x"}"#;
        let err = serde_json::from_str::<HistoryEntry>(missing).unwrap_err();
        assert!(err.to_string().contains("missing field `state`"), "{err}");
        let unknown = r#"{"at":{"secs_since_epoch":1,"nanos_since_epoch":0},"event":"teleported"}"#;
        assert!(serde_json::from_str::<HistoryEntry>(unknown).is_err());
    }

    #[test]
    fn bucket_rule_follows_the_seed() {
        assert_eq!(
            Bucket::for_submission(Some("12345"), true)
                .unwrap()
                .as_str(),
            "MADR-12345"
        );
        assert_eq!(
            Bucket::for_submission(Some("12345"), false)
                .unwrap()
                .as_str(),
            "MADR-MM7"
        );
        assert_eq!(
            Bucket::for_submission(None, true).unwrap().as_str(),
            "MADR-MM7"
        );
        assert_eq!(
            Bucket::for_submission(Some("  "), true).unwrap().as_str(),
            "MADR-MM7"
        );
        assert_eq!(
            Bucket::new("MADR-12345").unwrap().shortcode(),
            Some("12345")
        );
        assert_eq!(Bucket::mm7().shortcode(), None);
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        assert_eq!(Bucket::new(""), Err(AddressError::EmptyBucket));
        assert!(matches!(
            Bucket::new("a/b"),
            Err(AddressError::BadBucketChar { ch: '/', .. })
        ));
        assert!(matches!(
            Bucket::new("x".repeat(300)),
            Err(AddressError::BucketTooLong { len: 300, .. })
        ));
        assert_eq!(MsgId::new(""), Err(AddressError::EmptyMsgId));
        assert_eq!(MsgId::new("a\0b"), Err(AddressError::NulInMsgId));
        for odd in ["a/b", "?q", "100%", "sp ace", "ümlaut", "+plus", ".."] {
            assert_eq!(MsgId::new(odd).unwrap().as_str(), odd);
        }
    }

    #[test]
    fn stored_message_round_trips_through_json() {
        let mut msg = StoredMessage::new(
            Channel::Smpp,
            Envelope {
                mailfrom: "alice@example.com".into(),
                rcptto: "12345@smpp.example.com".into(),
            },
            (0u8..=255).collect::<Vec<u8>>(),
        );
        msg.metadata.insert("data_coding".into(), "8".into());
        msg.record(HistoryEvent::Submitted {
            message_id: Some("abc".into()),
            status: "ESME_ROK".into(),
        });
        let json = serde_json::to_string(&msg).unwrap();
        let back: StoredMessage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg);
    }

    fn sibling(body: &[u8], meta: &[(&str, &str)]) -> StoredMessage {
        let mut m = StoredMessage::new(Channel::Smpp, Envelope::default(), body.to_vec());
        m.submitted_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        for (k, v) in meta {
            m.metadata.insert((*k).to_owned(), (*v).to_owned());
        }
        m
    }

    #[test]
    fn merge_keeps_the_submission_and_every_parked_receipt() {
        let placeholder = sibling(
            b"",
            &[
                (META_PLACEHOLDER, "1"),
                ("redeliver.parked.1", "a"),
                ("redeliver.parked.2", "b"),
            ],
        );
        let submission = sibling(b"hello", &[("source_addr", "12345")]);
        for merged in [
            submission.clone().merge(placeholder.clone()),
            placeholder.clone().merge(submission.clone()),
        ] {
            assert_eq!(merged.body.as_ref(), b"hello");
            assert!(!merged.is_placeholder());
            assert_eq!(merged.metadata["redeliver.parked.1"], "a");
            assert_eq!(merged.metadata["redeliver.parked.2"], "b");
            assert_eq!(merged.metadata["source_addr"], "12345");
        }
        let other = sibling(b"", &[(META_PLACEHOLDER, "1"), ("redeliver.parked.3", "c")]);
        let both = placeholder.merge(other);
        assert!(both.is_placeholder(), "two placeholders stay one");
        assert_eq!(both.metadata.len(), 4);
    }

    #[test]
    fn merge_keeps_the_earlier_due_time() {
        let a = sibling(b"x", &[(META_DUE, "2000")]);
        let b = sibling(b"y", &[(META_DUE, "1000")]);
        let odd = sibling(b"z", &[(META_DUE, "soon")]);
        for merged in [a.clone().merge(b.clone()), b.clone().merge(a.clone())] {
            assert_eq!(merged.due_millis(), Some(1000));
        }
        for merged in [a.clone().merge(odd.clone()), odd.merge(a)] {
            assert_eq!(merged.due_millis(), Some(2000));
        }
    }

    #[test]
    fn merge_keeps_a_failure_over_a_delivery() {
        let a = sibling(
            b"x",
            &[
                (META_FINAL, "positive"),
                ("redeliver.part.0.state", "positive"),
            ],
        );
        let b = sibling(
            b"x",
            &[
                (META_FINAL, "negative"),
                ("redeliver.part.1.state", "negative"),
            ],
        );
        for merged in [a.clone().merge(b.clone()), b.merge(a)] {
            assert_eq!(merged.metadata[META_FINAL], "negative");
            assert_eq!(merged.metadata["redeliver.part.0.state"], "positive");
            assert_eq!(merged.metadata["redeliver.part.1.state"], "negative");
        }
    }

    proptest! {
        /// Siblings merge to the same record in any order, and nothing either had is lost.
        #[test]
        fn merge_is_symmetric_and_loses_nothing(
            ma in proptest::collection::btree_map("[a-c]{1,2}", "positive|negative|x", 0..5),
            mb in proptest::collection::btree_map("[a-c]{1,2}", "positive|negative|y", 0..5),
            ba in proptest::collection::vec(any::<u8>(), 0..4),
            bb in proptest::collection::vec(any::<u8>(), 0..4),
            pa in any::<bool>(),
            pb in any::<bool>(),
            ha in 0u64..4,
            hb in 0u64..4,
        ) {
            let build = |meta: &BTreeMap<String, String>, body: &[u8], placeholder: bool, h: u64| {
                let mut m = sibling(body, &[]);
                for (k, v) in meta {
                    // Half the keys are engine states, half ordinary fields.
                    let key = if k.len() == 1 { format!("redeliver.part.{k}.state") } else { k.clone() };
                    m.metadata.insert(key, v.clone());
                }
                if placeholder {
                    m.metadata.insert(META_PLACEHOLDER.to_owned(), "1".to_owned());
                }
                m.history.push(HistoryEntry {
                    at: SystemTime::UNIX_EPOCH + Duration::from_secs(h),
                    event: HistoryEvent::Note { text: format!("n{h}") },
                });
                m
            };
            let a = build(&ma, &ba, pa, ha);
            let b = build(&mb, &bb, pb, hb);
            let ab = a.clone().merge(b.clone());
            let ba2 = b.clone().merge(a.clone());
            prop_assert_eq!(&ab, &ba2);
            for side in [&a, &b] {
                for (k, v) in &side.metadata {
                    if k == META_PLACEHOLDER {
                        continue;
                    }
                    prop_assert!(ab.metadata.contains_key(k), "lost {}", k);
                    if v == "negative" && k.starts_with(META_PART_PREFIX) {
                        prop_assert_eq!(&ab.metadata[k], "negative");
                    }
                }
                for h in &side.history {
                    prop_assert!(ab.history.contains(h));
                }
            }
            prop_assert_eq!(ab.is_placeholder(), a.is_placeholder() && b.is_placeholder());
        }
    }
}
