//! The engine's decisions as a pure function: no I/O, no clock, no randomness.
//!
//! [`decide`] takes what the store holds under the receipt's key (with its version), the
//! receipt, the settings and the time, and returns a [`Plan`]: the record to write (always a
//! conditional write over the version it was read at, or a create), and whether hooks run. The
//! engine's async shell ([`RetryEngine`](super::RetryEngine)) loads, calls [`decide`], writes,
//! and on a conflict ([`StoreError::is_conflict`](crate::store::StoreError::is_conflict)) loads
//! and decides again — so of several nodes deciding on one message at once, only the one whose
//! write won runs a hook.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{EngineSettings, MAX_PARTS, ReceiptEvent};
use crate::config::ScopeContext;
use crate::message::{
    Channel, Envelope, HistoryEvent, META_CLAIM, META_DUE, META_FINAL, META_PARKED_PREFIX,
    META_PART_PREFIX, META_PLACEHOLDER, META_PRIMARY, META_RECHECK, MsgId, ReceiptClass,
    StoredMessage, epoch_millis,
};
use crate::store::{PutMode, Versioned};

const META_PART0_KEY: &str = "redeliver.part.0.key";

/// What the engine will do with one receipt, given what the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Plan {
    /// Nothing (or only earlier parked receipts) is stored under the key: write `record`, which
    /// parks the receipt (`mode` is [`PutMode::Create`] for a new placeholder, or
    /// [`PutMode::Update`] of the placeholder that is there).
    Park {
        /// The placeholder to write.
        record: StoredMessage,
        /// How to write it.
        mode: PutMode,
        /// The id the receipt is parked under (`redeliver.parked.<id>`).
        entry: String,
    },
    /// The key already holds as many parked receipts (or bytes of them) as the settings allow.
    ParkFull,
    /// The key holds a copy of one part of a multipart message: decide again on the message
    /// stored under this msgid.
    FollowPrimary(MsgId),
    /// The message already reached a final state; nothing to write.
    Duplicate,
    /// The receipt came out of parking, and its entry is no longer in the record: another node
    /// applied it. Nothing to do.
    AlreadyApplied,
    /// The receipt came out of parking, and its submission is still not stored: it stays
    /// parked.
    Waiting,
    /// Write `record` over the version read; no hook runs (an intermediate receipt, or a part
    /// of a multipart message that does not decide the whole yet).
    Record {
        /// The record to write.
        record: StoredMessage,
        /// [`PutMode::Update`] of the version read.
        mode: PutMode,
        /// For a multipart message, which part the receipt was for.
        part: Option<usize>,
    },
    /// The message reaches its final state: write `record` (which carries the final state) over
    /// the version read — the claim — and only if that write wins, run the hooks for `class`
    /// and then the default.
    Final {
        /// The record to write, with [`META_FINAL`] set.
        record: StoredMessage,
        /// [`PutMode::Update`] of the version read.
        mode: PutMode,
        /// Positive or negative.
        class: ReceiptClass,
        /// For a multipart message, which part's receipt decided it.
        part: Option<usize>,
    },
    /// The message is final by this receipt's own earlier claim, whose write was answered
    /// ambiguously (a timeout or a 503 after it landed): run the hooks and the default now.
    Claimed {
        /// Positive or negative.
        class: ReceiptClass,
    },
    /// The stored record cannot be used (its engine metadata is damaged).
    Corrupt(String),
}

/// A receipt kept in the store until its submission is stored (see [`Plan::Park`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParkedReceipt {
    pub channel: Channel,
    #[serde(default)]
    pub scope: ScopeContext,
    pub message_id: String,
    pub class: ReceiptClass,
    pub state: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub raw: Option<String>,
    pub parked_at: SystemTime,
    pub deadline: SystemTime,
}

impl ParkedReceipt {
    pub(crate) fn from_event(
        ev: &ReceiptEvent,
        now: SystemTime,
        settings: &EngineSettings,
    ) -> Self {
        Self {
            channel: ev.channel,
            scope: ev.scope.clone(),
            message_id: ev.message_id.clone(),
            class: ev.class,
            state: ev.state.clone(),
            error: ev.error.clone(),
            raw: ev.raw.clone(),
            parked_at: now,
            deadline: now
                .checked_add(settings.park_window)
                .or_else(|| now.checked_add(std::time::Duration::from_secs(365 * 24 * 3600)))
                .unwrap_or(now),
        }
    }

    pub(crate) fn into_event(self, bucket: crate::message::Bucket) -> ReceiptEvent {
        // The typed SMPP receipt is read again from its text; a receipt parked without one
        // (MM7, or text that no longer reads) goes on without it.
        let smpp = match (self.channel, &self.raw) {
            (Channel::Smpp, Some(raw)) => {
                crate::smpp::receipt::DeliveryReceipt::parse(raw.as_bytes())
                    .ok()
                    .map(std::sync::Arc::new)
            }
            _ => None,
        };
        ReceiptEvent {
            smpp,
            channel: self.channel,
            scope: self.scope,
            bucket,
            message_id: self.message_id,
            class: self.class,
            state: self.state,
            error: self.error,
            raw: self.raw,
            #[cfg(feature = "mm7")]
            mm7_report: None,
        }
    }
}

/// The parked receipts of a record, oldest first: `(entry id, receipt)`. Entries that do not
/// decode are skipped (they are reported by [`parked_entries_checked`]).
pub(crate) fn parked_entries(msg: &StoredMessage) -> Vec<(String, ParkedReceipt)> {
    parked_entries_checked(msg).0
}

/// As [`parked_entries`], and the ids of entries that do not decode.
pub(crate) fn parked_entries_checked(
    msg: &StoredMessage,
) -> (Vec<(String, ParkedReceipt)>, Vec<String>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (key, value) in msg.metadata.range::<str, _>(parked_range()) {
        let Some(id) = key.strip_prefix(META_PARKED_PREFIX) else {
            break;
        };
        match serde_json::from_str::<ParkedReceipt>(value) {
            Ok(p) => good.push((id.to_owned(), p)),
            Err(_) => bad.push(id.to_owned()),
        }
    }
    (good, bad)
}

/// The metadata keys from the first parked receipt's on, without allocating a bound.
pub(crate) fn parked_range() -> (std::ops::Bound<&'static str>, std::ops::Bound<&'static str>) {
    (
        std::ops::Bound::Included(META_PARKED_PREFIX),
        std::ops::Bound::Unbounded,
    )
}

/// Whether the record holds parked receipts.
pub(crate) fn has_parked(msg: &StoredMessage) -> bool {
    msg.metadata
        .range::<str, _>(parked_range())
        .next()
        .is_some_and(|(k, _)| k.starts_with(META_PARKED_PREFIX))
}

fn parked_bytes(msg: &StoredMessage) -> (usize, usize) {
    let mut count = 0;
    let mut bytes = 0;
    for (key, value) in msg.metadata.range::<str, _>(parked_range()) {
        if !key.starts_with(META_PARKED_PREFIX) {
            break;
        }
        count += 1;
        bytes += key.len() + value.len();
    }
    (count, bytes)
}

/// The entry id of a parked receipt: its arrival time (so ids sort in arrival order) and a
/// digest of its content (so the same receipt parked twice at the same instant is one entry).
fn entry_id(parked: &ParkedReceipt, json: &str) -> String {
    let nanos = parked
        .parked_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // FNV-1a: an id only has to tell entries of one key apart.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in json.as_bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{nanos:020}.{hash:016x}")
}

/// The metadata key of part `i`'s msgid.
pub(crate) fn part_key(i: usize) -> String {
    format!("{META_PART_PREFIX}{i}.key")
}

/// The metadata key of part `i`'s final state.
pub(crate) fn part_state(i: usize) -> String {
    format!("{META_PART_PREFIX}{i}.state")
}

/// The final states recorded for parts `0..parts` (`None` where a part has none yet).
fn part_states(record: &StoredMessage, parts: usize) -> Vec<Option<ReceiptClass>> {
    (0..parts)
        .map(|i| {
            record
                .metadata
                .get(&part_state(i))
                .and_then(|s| parse_class(s))
        })
        .collect()
}

/// The msgids of a multipart message's parts, from its metadata (empty for a single message).
pub(crate) fn part_keys(msg: &StoredMessage) -> Vec<String> {
    if !msg.metadata.contains_key(META_PART0_KEY) {
        return Vec::new();
    }
    (0..MAX_PARTS)
        .map_while(|i| msg.metadata.get(&part_key(i)).cloned())
        .collect()
}

pub(crate) fn class_name(c: ReceiptClass) -> &'static str {
    match c {
        ReceiptClass::Positive => "positive",
        ReceiptClass::Negative => "negative",
        ReceiptClass::Intermediate => "intermediate",
    }
}

fn parse_class(s: &str) -> Option<ReceiptClass> {
    match s {
        "positive" => Some(ReceiptClass::Positive),
        "negative" => Some(ReceiptClass::Negative),
        _ => None,
    }
}

/// A new placeholder holding one parked receipt.
fn placeholder(channel: Channel, now: SystemTime) -> StoredMessage {
    let mut msg = StoredMessage::new(channel, Envelope::default(), bytes::Bytes::new());
    msg.submitted_at = now;
    msg.expires_at = now;
    msg.metadata
        .insert(META_PLACEHOLDER.to_owned(), "1".to_owned());
    msg
}

/// Decides what `receipt` does, given what the store holds under `key` (the receipt's
/// normalised msgid) — or, after [`Plan::FollowPrimary`], under the primary msgid.
///
/// `from_parking` is the id of the receipt's parked entry when it is being applied out of
/// parking and `stored` is the record that holds the entry: the plan's record then no longer
/// holds it, and if it is already gone the plan is [`Plan::AlreadyApplied`]. (When the entry sits
/// in a multipart copy, the decision on the primary is made with `None`, and the entry is
/// removed from the copy afterwards.)
///
/// `claim` identifies this receipt's claim of a final state; the caller keeps it while it tries
/// the same receipt again, so a claim of its own that landed although its write was not
/// acknowledged gives [`Plan::Claimed`] instead of [`Plan::Duplicate`].
pub fn decide(
    stored: Option<Versioned>,
    key: &MsgId,
    receipt: &ReceiptEvent,
    from_parking: Option<&str>,
    claim: &str,
    settings: &EngineSettings,
    now: SystemTime,
) -> Plan {
    let Some(stored) = stored else {
        if from_parking.is_some() {
            return Plan::AlreadyApplied;
        }
        return park(
            placeholder(receipt.channel, now),
            PutMode::Create,
            receipt,
            settings,
            now,
        );
    };
    let Versioned {
        message: msg,
        version,
    } = stored;
    let version = PutMode::Update(version);
    match inspect(&msg, key, from_parking, claim) {
        Inspected::Done(plan) => *plan,
        Inspected::Park => park(msg, version, receipt, settings, now),
        Inspected::Apply => {
            let mut record = msg;
            match apply(
                &mut record,
                key,
                receipt,
                from_parking,
                claim,
                settings,
                now,
            ) {
                Some(Applied::Record { part }) => Plan::Record {
                    record,
                    mode: version,
                    part,
                },
                Some(Applied::Final { class, part }) => Plan::Final {
                    record,
                    mode: version,
                    class,
                    part,
                },
                // `inspect` found the key among the parts; `apply` looks at the same record.
                None => Plan::Corrupt(format!("{key} is not one of the message's parts")),
            }
        }
    }
}

/// What [`inspect`] found in a stored record.
#[derive(Debug)]
pub(crate) enum Inspected {
    /// The plan, which writes nothing of this record (boxed: it never holds one).
    Done(Box<Plan>),
    /// A placeholder: the receipt is parked in it.
    Park,
    /// A submission the receipt changes: [`apply`] it to the record and write it.
    Apply,
}

/// The part of [`decide`] that only reads the stored record: whether the receipt changes it, or
/// what happens instead. [`Inspected::Apply`] means [`apply`] does not fail on this record.
pub(crate) fn inspect(
    msg: &StoredMessage,
    key: &MsgId,
    from_parking: Option<&str>,
    claim: &str,
) -> Inspected {
    if let Some(entry) = from_parking
        && !msg
            .metadata
            .contains_key(&format!("{META_PARKED_PREFIX}{entry}"))
    {
        return Inspected::Done(Box::new(Plan::AlreadyApplied));
    }
    if msg.is_placeholder() {
        if from_parking.is_some() {
            return Inspected::Done(Box::new(Plan::Waiting));
        }
        return Inspected::Park;
    }
    if let Some(primary) = msg.metadata.get(META_PRIMARY) {
        return Inspected::Done(Box::new(match MsgId::new(primary.clone()) {
            Ok(p) if p == *key => Plan::Corrupt(format!("{META_PRIMARY} points to itself")),
            Ok(p) => Plan::FollowPrimary(p),
            Err(e) => Plan::Corrupt(format!("{META_PRIMARY} is not a msgid: {e}")),
        }));
    }
    // (The parked entry the receipt came from does not bear on what follows.)
    if let Some(fin) = msg.metadata.get(META_FINAL) {
        if !claim.is_empty() && msg.metadata.get(META_CLAIM).map(String::as_str) == Some(claim) {
            return Inspected::Done(Box::new(match parse_class(fin) {
                Some(class) => Plan::Claimed { class },
                None => Plan::Corrupt(format!("{META_FINAL} is {fin:?}")),
            }));
        }
        return Inspected::Done(Box::new(Plan::Duplicate));
    }
    let parts = part_keys(msg);
    if parts.len() > 1 && !parts.iter().any(|k| k == key.as_str()) {
        return Inspected::Done(Box::new(Plan::Corrupt(format!(
            "{key} is not one of the message's parts"
        ))));
    }
    Inspected::Apply
}

/// What [`apply`] made of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// The receipt is recorded; no hook runs (see [`Plan::Record`]).
    Record {
        /// For a multipart message, which part the receipt was for.
        part: Option<usize>,
    },
    /// The record now carries the claim of a final state (see [`Plan::Final`]).
    Final {
        /// Positive or negative.
        class: ReceiptClass,
        /// For a multipart message, which part's receipt decided it.
        part: Option<usize>,
    },
}

/// The part of [`decide`] that changes a record [`inspect`] answered [`Inspected::Apply`] for:
/// takes the receipt's parked entry out, records the receipt, and sets the part state, the
/// claim or the due time. Returns `None`, having changed nothing, only for a record `inspect`
/// would not have let through (a multipart message without the key among its parts).
pub(crate) fn apply(
    record: &mut StoredMessage,
    key: &MsgId,
    receipt: &ReceiptEvent,
    from_parking: Option<&str>,
    claim: &str,
    settings: &EngineSettings,
    now: SystemTime,
) -> Option<Applied> {
    let parts = part_keys(record);
    let part = if parts.len() <= 1 {
        None
    } else {
        Some(parts.iter().position(|k| k == key.as_str())?)
    };
    if let Some(entry) = from_parking {
        record
            .metadata
            .remove(&format!("{META_PARKED_PREFIX}{entry}"));
    }
    let decided = match part {
        None => (receipt.class != ReceiptClass::Intermediate).then_some(receipt.class),
        Some(part) => {
            if receipt.class != ReceiptClass::Intermediate {
                let slot = part_state(part);
                // A part's final state is final: a later receipt for the same part does not
                // change it.
                record
                    .metadata
                    .entry(slot)
                    .or_insert_with(|| class_name(receipt.class).to_owned());
            }
            settings.multipart.decide(&part_states(record, parts.len()))
        }
    };
    record.history.push(crate::message::HistoryEntry {
        at: now,
        event: HistoryEvent::Receipt {
            message_id: receipt.message_id.clone(),
            state: receipt.state.clone(),
            error: receipt.error.clone(),
        },
    });
    Some(match decided {
        None => {
            if part.is_some()
                && receipt.class != ReceiptClass::Intermediate
                && let Some(wait) = settings.part_recheck
            {
                record
                    .metadata
                    .insert(META_RECHECK.to_owned(), decimal(millis_after(now, wait)));
            }
            refresh_due(record, now);
            Applied::Record {
                part: if receipt.class == ReceiptClass::Intermediate {
                    None
                } else {
                    part
                },
            }
        }
        Some(class) => {
            claim_final(record, class, claim, settings, now);
            Applied::Final { class, part }
        }
    })
}

/// Writes the claim of final state `class` into `record`: the state, who claims it, and the end
/// of the claim's lease ([`META_DUE`]), until which no other node takes it over.
fn claim_final(
    record: &mut StoredMessage,
    class: ReceiptClass,
    claim: &str,
    settings: &EngineSettings,
    now: SystemTime,
) {
    let mut due = [0u8; 20];
    let due = write_decimal(&mut due, millis_after(now, settings.claim_lease));
    if record.metadata.contains_key(META_FINAL) {
        // A claim taken over: the keys are there, and only the claim and its lease change.
        set_meta(record, META_FINAL, class_name(class));
        set_meta(record, META_CLAIM, claim);
        set_meta(record, META_DUE, due);
    } else {
        // A first claim: the keys are new (but for a due time, which is replaced).
        let meta = &mut record.metadata;
        meta.insert(META_FINAL.to_owned(), class_name(class).to_owned());
        meta.insert(META_CLAIM.to_owned(), claim.to_owned());
        meta.insert(META_DUE.to_owned(), due.to_owned());
    }
    record.metadata.remove(META_RECHECK);
}

/// Sets metadata `key` to `value`, reusing the key and the value's buffer where the key is
/// there already.
fn set_meta(record: &mut StoredMessage, key: &str, value: &str) {
    match record.metadata.get_mut(key) {
        Some(v) => {
            if v != value {
                v.clear();
                v.push_str(value);
            }
        }
        None => {
            record.metadata.insert(key.to_owned(), value.to_owned());
        }
    }
}

/// `n` in decimal, written into `buf`.
fn write_decimal(buf: &mut [u8; 20], n: u64) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written, so this is always text.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(s: &mut String, n: u64) {
    s.push_str(write_decimal(&mut [0u8; 20], n));
}

/// `n` in decimal, as `n.to_string()` writes it.
fn decimal(n: u64) -> String {
    let mut s = String::with_capacity(20);
    push_decimal(&mut s, n);
    s
}

/// `now + wait` in milliseconds since the epoch, saturating instead of overflowing.
fn millis_after(now: SystemTime, wait: std::time::Duration) -> u64 {
    epoch_millis(now).saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
}

/// Sets the due time ([`META_DUE`]) of a record that is not final from what it holds: a
/// placeholder is due when its first parked receipt's window ends, a submission that holds
/// parked receipts is due now (they are to be applied), and a multipart message whose part
/// states wait to be decided again is due then ([`META_RECHECK`]). A final record's due time
/// is its claim's lease, which only the claim and its end change.
pub(crate) fn refresh_due(record: &mut StoredMessage, now: SystemTime) {
    if record.metadata.contains_key(META_FINAL) {
        return;
    }
    let mut due: Option<u64> = record
        .metadata
        .get(META_RECHECK)
        .map(|v| v.parse().unwrap_or(0));
    if has_parked(record) {
        let parked = if record.is_placeholder() {
            parked_entries(record)
                .iter()
                .map(|(_, p)| epoch_millis(p.deadline))
                .min()
                // Entries that do not decode are dropped by the next look.
                .or(Some(epoch_millis(now)))
        } else {
            Some(epoch_millis(now))
        };
        due = match (due, parked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    match due {
        Some(at) => set_meta(record, META_DUE, write_decimal(&mut [0u8; 20], at)),
        None => {
            record.metadata.remove(META_DUE);
        }
    }
}

/// What a timer's look at a record found by its due time does (see [`decide_due`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DuePlan {
    /// Not due (any more): another node got there first, or the index lagged a later write.
    NotDue,
    /// A final state claimed by a node that did not finish its hooks and default within the
    /// lease: write `record` (this node's claim, a new lease) over the version read, and only
    /// if that write wins, run the hooks for `class` and then the default.
    TakeOver {
        /// The record with this node's claim.
        record: StoredMessage,
        /// [`PutMode::Update`] of the version read.
        mode: PutMode,
        /// Positive or negative.
        class: ReceiptClass,
    },
    /// A multipart message whose stored part states (merged from concurrent writes) now decide
    /// it: write `record` (the claim) and, if it wins, run the hooks for `class`.
    Decided {
        /// The record with the final state and this node's claim.
        record: StoredMessage,
        /// [`PutMode::Update`] of the version read.
        mode: PutMode,
        /// Positive or negative.
        class: ReceiptClass,
    },
    /// A placeholder whose first parked receipt's window ended: give up on what expired.
    ExpireParked,
    /// A submission holding parked receipts: apply them.
    ApplyParked,
    /// Nothing to do any more: write `record` (without the reason it was due).
    Clear {
        /// The record with its due time brought up to date.
        record: StoredMessage,
        /// [`PutMode::Update`] of the version read.
        mode: PutMode,
    },
}

/// Decides what a timer does with a record the store's due index named
/// ([`MessageStore::due`](crate::store::MessageStore::due)), at `now`; `claim` is the claim id
/// a new claim of this node carries.
pub fn decide_due(
    stored: Versioned,
    claim: &str,
    settings: &EngineSettings,
    now: SystemTime,
) -> DuePlan {
    let Versioned {
        message: mut record,
        version,
    } = stored;
    match record.due_millis() {
        Some(at) if at <= epoch_millis(now) => {}
        // A due time that does not read is cleared like one with nothing behind it.
        None if record.metadata.contains_key(META_DUE) => {}
        _ => return DuePlan::NotDue,
    }
    let mode = PutMode::Update(version);
    if let Some(fin) = record.metadata.get(META_FINAL) {
        return match parse_class(fin) {
            Some(class) => {
                claim_final(&mut record, class, claim, settings, now);
                DuePlan::TakeOver {
                    record,
                    mode,
                    class,
                }
            }
            None => {
                // Damaged: no hook can be run for it; it is left for an operator, not looked at
                // again on every tick.
                record.metadata.remove(META_DUE);
                DuePlan::Clear { record, mode }
            }
        };
    }
    if record.is_placeholder() {
        return DuePlan::ExpireParked;
    }
    if has_parked(&record) {
        return DuePlan::ApplyParked;
    }
    if record.metadata.remove(META_RECHECK).is_some() {
        let parts = part_keys(&record);
        if parts.len() > 1
            && let Some(class) = settings
                .multipart
                .decide(&part_states(&record, parts.len()))
        {
            claim_final(&mut record, class, claim, settings, now);
            return DuePlan::Decided {
                record,
                mode,
                class,
            };
        }
    }
    refresh_due(&mut record, now);
    DuePlan::Clear { record, mode }
}

/// The receipt a node that takes over or decides a claim runs the hooks with, rebuilt from the
/// record: the last receipt in its history (the one that decided it), the scopes it was sent
/// through, and `class`. It carries no raw text or typed receipt.
pub(crate) fn recovered_event(
    record: &StoredMessage,
    bucket: crate::message::Bucket,
    key: &MsgId,
    class: ReceiptClass,
) -> ReceiptEvent {
    let last = record.history.iter().rev().find_map(|h| match &h.event {
        HistoryEvent::Receipt {
            message_id,
            state,
            error,
        } => Some((message_id.clone(), state.clone(), error.clone())),
        _ => None,
    });
    let (message_id, state, error) = last.unwrap_or_else(|| {
        (
            record
                .resource
                .message_id
                .clone()
                .unwrap_or_else(|| key.to_string()),
            class_name(class).to_owned(),
            None,
        )
    });
    ReceiptEvent {
        channel: record.channel,
        scope: ScopeContext {
            binding: record.resource.binding.clone(),
            binding_group: record.resource.binding_group.clone(),
            domain: record.resource.domain.clone(),
        },
        bucket,
        message_id,
        class,
        state,
        error,
        raw: None,
        smpp: None,
        #[cfg(feature = "mm7")]
        mm7_report: None,
    }
}

fn park(
    mut record: StoredMessage,
    mode: PutMode,
    receipt: &ReceiptEvent,
    settings: &EngineSettings,
    now: SystemTime,
) -> Plan {
    let parked = ParkedReceipt::from_event(receipt, now, settings);
    let Ok(json) = serde_json::to_string(&parked) else {
        return Plan::Corrupt("the receipt cannot be serialised for parking".to_owned());
    };
    let entry = entry_id(&parked, &json);
    let key = format!("{META_PARKED_PREFIX}{entry}");
    let (count, bytes) = parked_bytes(&record);
    if count + 1 > settings.max_parked_per_key
        || bytes + key.len() + json.len() > settings.max_parked_bytes_per_key
    {
        return Plan::ParkFull;
    }
    record.expires_at = record.expires_at.max(parked.deadline);
    record.metadata.insert(key, json);
    refresh_due(&mut record, now);
    Plan::Park {
        record,
        mode,
        entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Bucket;
    use crate::retry::MultipartRule;
    use crate::store::Version;

    const NOW: std::time::Duration = std::time::Duration::from_secs(1_800_000_000);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + NOW
    }

    fn id(s: &str) -> MsgId {
        MsgId::new(s).unwrap()
    }

    fn receipt(class: ReceiptClass) -> ReceiptEvent {
        ReceiptEvent {
            channel: Channel::Smpp,
            scope: ScopeContext::default(),
            bucket: Bucket::new("MADR-1").unwrap(),
            message_id: "m".into(),
            class,
            state: match class {
                ReceiptClass::Positive => "DELIVRD",
                ReceiptClass::Negative => "UNDELIV",
                ReceiptClass::Intermediate => "ENROUTE",
            }
            .into(),
            error: None,
            raw: None,
            smpp: None,
            #[cfg(feature = "mm7")]
            mm7_report: None,
        }
    }

    fn versioned(msg: StoredMessage) -> Versioned {
        Versioned {
            message: msg,
            version: Version::new("v1"),
        }
    }

    fn message() -> StoredMessage {
        StoredMessage::new(Channel::Smpp, Envelope::default(), &b"x"[..])
    }

    fn multipart(n: usize, states: &[Option<ReceiptClass>]) -> StoredMessage {
        let mut msg = message();
        for i in 0..n {
            msg.metadata.insert(part_key(i), format!("p{i}"));
            if let Some(Some(c)) = states.get(i) {
                msg.metadata
                    .insert(part_state(i), class_name(*c).to_owned());
            }
        }
        msg
    }

    fn settings() -> EngineSettings {
        EngineSettings::default()
    }

    const CLASSES: [ReceiptClass; 3] = [
        ReceiptClass::Positive,
        ReceiptClass::Negative,
        ReceiptClass::Intermediate,
    ];

    #[test]
    fn nothing_stored_parks_in_a_new_placeholder() {
        let plan = decide(
            None,
            &id("m"),
            &receipt(ReceiptClass::Negative),
            None,
            "c1",
            &settings(),
            now(),
        );
        let Plan::Park {
            record,
            mode,
            entry,
        } = plan
        else {
            panic!("{plan:?}");
        };
        assert_eq!(mode, PutMode::Create);
        assert!(record.is_placeholder());
        let entries = parked_entries(&record);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, entry);
        assert_eq!(entries[0].1.state, "UNDELIV");
        assert_eq!(entries[0].1.deadline, now() + settings().park_window);
        assert_eq!(record.expires_at, entries[0].1.deadline);
        // Out of parking, an absent record means it was applied (and deleted) already.
        let plan = decide(
            None,
            &id("m"),
            &receipt(ReceiptClass::Negative),
            Some(&entry),
            "c1",
            &settings(),
            now(),
        );
        assert_eq!(plan, Plan::AlreadyApplied);
    }

    #[test]
    fn a_placeholder_gathers_receipts_up_to_its_limits() {
        let mut s = settings();
        s.max_parked_per_key = 2;
        let Plan::Park { record, .. } = decide(
            None,
            &id("m"),
            &receipt(ReceiptClass::Intermediate),
            None,
            "c1",
            &s,
            now(),
        ) else {
            panic!()
        };
        let later = now() + std::time::Duration::from_secs(1);
        let plan = decide(
            Some(versioned(record)),
            &id("m"),
            &receipt(ReceiptClass::Positive),
            None,
            "c1",
            &s,
            later,
        );
        let Plan::Park {
            record,
            mode,
            entry,
        } = plan
        else {
            panic!("{plan:?}");
        };
        assert_eq!(mode, PutMode::Update(Version::new("v1")));
        let entries = parked_entries(&record);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].0, entry, "entries sort in arrival order");
        let full = decide(
            Some(versioned(record.clone())),
            &id("m"),
            &receipt(ReceiptClass::Negative),
            None,
            "c1",
            &s,
            later,
        );
        assert_eq!(full, Plan::ParkFull);
        // A waiting placeholder stays as it is when the timer asks.
        let waiting = decide(
            Some(versioned(record)),
            &id("m"),
            &receipt(ReceiptClass::Positive),
            Some(&entry),
            "c1",
            &s,
            later,
        );
        assert_eq!(waiting, Plan::Waiting);

        let mut s = settings();
        s.max_parked_bytes_per_key = 300;
        let mut big = receipt(ReceiptClass::Negative);
        big.raw = Some("r".repeat(400));
        assert_eq!(
            decide(None, &id("m"), &big, None, "c1", &s, now()),
            Plan::ParkFull
        );
    }

    #[test]
    fn a_copy_points_to_its_message() {
        let mut copy = message();
        copy.metadata
            .insert(META_PRIMARY.to_owned(), "p0".to_owned());
        let plan = decide(
            Some(versioned(copy.clone())),
            &id("p1"),
            &receipt(ReceiptClass::Positive),
            None,
            "c1",
            &settings(),
            now(),
        );
        assert_eq!(plan, Plan::FollowPrimary(id("p0")));
        let plan = decide(
            Some(versioned(copy)),
            &id("p0"),
            &receipt(ReceiptClass::Positive),
            None,
            "c1",
            &settings(),
            now(),
        );
        assert!(matches!(plan, Plan::Corrupt(_)), "{plan:?}");
    }

    #[test]
    fn a_single_message_and_every_class() {
        for class in CLASSES {
            let plan = decide(
                Some(versioned(message())),
                &id("m"),
                &receipt(class),
                None,
                "c1",
                &settings(),
                now(),
            );
            match (class, plan) {
                (ReceiptClass::Intermediate, Plan::Record { record, mode, part }) => {
                    assert_eq!((mode, part), (PutMode::Update(Version::new("v1")), None));
                    assert!(!record.metadata.contains_key(META_FINAL));
                    assert_eq!(record.history.len(), 1);
                }
                (
                    c,
                    Plan::Final {
                        record,
                        mode,
                        class,
                        part,
                    },
                ) => {
                    assert_eq!((class, part), (c, None));
                    assert_eq!(mode, PutMode::Update(Version::new("v1")));
                    assert_eq!(record.metadata[META_FINAL], class_name(c));
                    assert!(matches!(
                        &record.history[0].event,
                        HistoryEvent::Receipt { state, .. } if *state == receipt(c).state
                    ));
                }
                (c, plan) => panic!("{c:?}: {plan:?}"),
            }
            // Once final, every receipt is a duplicate.
            let mut fin = message();
            fin.metadata
                .insert(META_FINAL.to_owned(), "negative".to_owned());
            for later in CLASSES {
                let plan = decide(
                    Some(versioned(fin.clone())),
                    &id("m"),
                    &receipt(later),
                    None,
                    "c1",
                    &settings(),
                    now(),
                );
                assert_eq!(plan, Plan::Duplicate);
            }
        }
    }

    #[test]
    fn applying_a_parked_receipt_removes_its_entry() {
        let Plan::Park { record, entry, .. } = decide(
            None,
            &id("m"),
            &receipt(ReceiptClass::Negative),
            None,
            "c1",
            &settings(),
            now(),
        ) else {
            panic!()
        };
        // The submission was merged over the placeholder, keeping the entry.
        let stored = message().merge(record);
        assert!(has_parked(&stored));
        let plan = decide(
            Some(versioned(stored.clone())),
            &id("m"),
            &receipt(ReceiptClass::Negative),
            Some(&entry),
            "c1",
            &settings(),
            now(),
        );
        let Plan::Final { record, .. } = plan else {
            panic!("{plan:?}")
        };
        assert!(!has_parked(&record));
        let plan = decide(
            Some(versioned(record)),
            &id("m"),
            &receipt(ReceiptClass::Negative),
            Some(&entry),
            "c1",
            &settings(),
            now(),
        );
        assert_eq!(plan, Plan::AlreadyApplied);
    }

    /// Every rule, every earlier state of three parts, every part, every class.
    #[test]
    fn multipart_decisions_exhaustively() {
        let states = [
            None,
            Some(ReceiptClass::Positive),
            Some(ReceiptClass::Negative),
        ];
        for rule in [
            MultipartRule::AllParts,
            MultipartRule::AnyPart,
            MultipartRule::FirstPart,
        ] {
            let mut s = settings();
            s.multipart = rule;
            for a in states {
                for b in states {
                    for c in states {
                        let before = [a, b, c];
                        for part in 0..3 {
                            for class in CLASSES {
                                let stored = versioned(multipart(3, &before));
                                let key = id(&format!("p{part}"));
                                let plan = decide(
                                    Some(stored.clone()),
                                    &key,
                                    &receipt(class),
                                    None,
                                    "c1",
                                    &s,
                                    now(),
                                );
                                let mut after = before;
                                if class != ReceiptClass::Intermediate && after[part].is_none() {
                                    after[part] = Some(class);
                                }
                                let whole = rule.decide(&after);
                                let case = format!("{rule:?} {before:?} part {part} {class:?}");
                                match (whole, plan) {
                                    (
                                        Some(w),
                                        Plan::Final {
                                            record,
                                            class: got,
                                            part: p,
                                            ..
                                        },
                                    ) => {
                                        assert_eq!((got, p), (w, Some(part)), "{case}");
                                        assert_eq!(
                                            record.metadata[META_FINAL],
                                            class_name(w),
                                            "{case}"
                                        );
                                    }
                                    (
                                        None,
                                        Plan::Record {
                                            record, part: p, ..
                                        },
                                    ) => {
                                        let want =
                                            (class != ReceiptClass::Intermediate).then_some(part);
                                        assert_eq!(p, want, "{case}");
                                        for (i, st) in after.iter().enumerate() {
                                            assert_eq!(
                                                record
                                                    .metadata
                                                    .get(&part_state(i))
                                                    .map(String::as_str),
                                                st.map(class_name),
                                                "{case}: part {i}"
                                            );
                                        }
                                    }
                                    (w, plan) => panic!("{case}: expected {w:?}, got {plan:?}"),
                                }
                            }
                        }
                    }
                }
            }
        }
        // A key that is none of the parts is damage, not a guess.
        let plan = decide(
            Some(versioned(multipart(3, &[]))),
            &id("p9"),
            &receipt(ReceiptClass::Positive),
            None,
            "c1",
            &settings(),
            now(),
        );
        assert!(matches!(plan, Plan::Corrupt(_)), "{plan:?}");
    }

    fn due_now(mut msg: StoredMessage, at: u64) -> Versioned {
        msg.metadata.insert(META_DUE.to_owned(), at.to_string());
        versioned(msg)
    }

    #[test]
    fn a_claim_carries_its_lease_and_a_finished_part_its_recheck() {
        let plan = decide(
            Some(versioned(message())),
            &id("m"),
            &receipt(ReceiptClass::Negative),
            None,
            "c1",
            &settings(),
            now(),
        );
        let Plan::Final { record, .. } = plan else {
            panic!("{plan:?}");
        };
        let lease = epoch_millis(now() + settings().claim_lease);
        assert_eq!(record.due_millis(), Some(lease));
        assert_eq!(record.metadata[META_CLAIM], "c1");

        let plan = decide(
            Some(versioned(multipart(2, &[]))),
            &id("p0"),
            &receipt(ReceiptClass::Positive),
            None,
            "c1",
            &settings(),
            now(),
        );
        let Plan::Record { record, .. } = plan else {
            panic!("{plan:?}");
        };
        let recheck = epoch_millis(now() + settings().part_recheck.unwrap());
        assert_eq!(record.metadata[META_RECHECK], recheck.to_string());
        assert_eq!(record.due_millis(), Some(recheck));

        let without = EngineSettings {
            part_recheck: None,
            ..settings()
        };
        let plan = decide(
            Some(versioned(multipart(2, &[]))),
            &id("p0"),
            &receipt(ReceiptClass::Positive),
            None,
            "c1",
            &without,
            now(),
        );
        let Plan::Record { record, .. } = plan else {
            panic!("{plan:?}");
        };
        assert!(!record.metadata.contains_key(META_RECHECK));
        assert_eq!(record.due_millis(), None);
    }

    #[test]
    fn a_placeholder_is_due_when_its_first_window_ends() {
        let plan = decide(
            None,
            &id("m"),
            &receipt(ReceiptClass::Negative),
            None,
            "c1",
            &settings(),
            now(),
        );
        let Plan::Park { record, .. } = plan else {
            panic!("{plan:?}");
        };
        let window = epoch_millis(now() + settings().park_window);
        assert_eq!(record.due_millis(), Some(window));
    }

    #[test]
    fn due_records_are_taken_over_applied_expired_decided_or_cleared() {
        let t = epoch_millis(now());
        // Not due yet, or no due time: nothing.
        let mut fin = message();
        fin.metadata
            .insert(META_FINAL.to_owned(), "negative".into());
        fin.metadata.insert(META_CLAIM.to_owned(), "old".into());
        let plan = decide_due(due_now(fin.clone(), t + 1), "c2", &settings(), now());
        assert_eq!(plan, DuePlan::NotDue);
        let plan = decide_due(versioned(fin.clone()), "c2", &settings(), now());
        assert_eq!(plan, DuePlan::NotDue);
        // A claim whose lease ended: this node's claim, a new lease.
        let plan = decide_due(due_now(fin.clone(), t), "c2", &settings(), now());
        let DuePlan::TakeOver {
            record,
            mode,
            class,
        } = plan
        else {
            panic!("{plan:?}");
        };
        assert_eq!(class, ReceiptClass::Negative);
        assert_eq!(mode, PutMode::Update(Version::new("v1")));
        assert_eq!(record.metadata[META_CLAIM], "c2");
        assert_eq!(
            record.due_millis(),
            Some(epoch_millis(now() + settings().claim_lease))
        );
        // A damaged final state: cleared, no hook.
        fin.metadata.insert(META_FINAL.to_owned(), "maybe".into());
        let plan = decide_due(due_now(fin, t), "c2", &settings(), now());
        let DuePlan::Clear { record, .. } = plan else {
            panic!("{plan:?}");
        };
        assert_eq!(record.due_millis(), None);
        // Parked receipts: in a placeholder they expire, in a submission they are applied.
        let mut held = placeholder(Channel::Smpp, now());
        held.metadata
            .insert(format!("{META_PARKED_PREFIX}1"), "{}".into());
        let plan = decide_due(due_now(held.clone(), t), "c2", &settings(), now());
        assert_eq!(plan, DuePlan::ExpireParked);
        held.metadata.remove(META_PLACEHOLDER);
        let plan = decide_due(due_now(held, t), "c2", &settings(), now());
        assert_eq!(plan, DuePlan::ApplyParked);
        // Part states to decide again: decided when they decide the whole, cleared otherwise.
        for (states, want) in [
            (
                vec![Some(ReceiptClass::Positive), Some(ReceiptClass::Positive)],
                Some(ReceiptClass::Positive),
            ),
            (vec![Some(ReceiptClass::Positive), None], None),
        ] {
            let mut msg = multipart(2, &states);
            msg.metadata.insert(META_RECHECK.to_owned(), t.to_string());
            let plan = decide_due(due_now(msg, t), "c2", &settings(), now());
            match (want, plan) {
                (
                    Some(want),
                    DuePlan::Decided {
                        record,
                        class,
                        mode: _,
                    },
                ) => {
                    assert_eq!(class, want);
                    assert_eq!(record.metadata[META_FINAL], class_name(want));
                    assert_eq!(record.metadata[META_CLAIM], "c2");
                    assert!(!record.metadata.contains_key(META_RECHECK));
                }
                (None, DuePlan::Clear { record, .. }) => {
                    assert!(!record.metadata.contains_key(META_RECHECK));
                    assert_eq!(record.due_millis(), None);
                }
                (want, plan) => panic!("expected {want:?}, got {plan:?}"),
            }
        }
    }

    #[test]
    fn a_recovered_receipt_is_the_last_one_recorded() {
        let mut msg = message();
        msg.resource.binding = Some("smsc-1".into());
        msg.record(HistoryEvent::Receipt {
            message_id: "m".into(),
            state: "ENROUTE".into(),
            error: None,
        });
        msg.record(HistoryEvent::Receipt {
            message_id: "m".into(),
            state: "UNDELIV".into(),
            error: Some("034".into()),
        });
        let ev = recovered_event(
            &msg,
            Bucket::new("MADR-1").unwrap(),
            &id("m"),
            ReceiptClass::Negative,
        );
        assert_eq!(ev.state, "UNDELIV");
        assert_eq!(ev.error.as_deref(), Some("034"));
        assert_eq!(ev.scope.binding.as_deref(), Some("smsc-1"));
        assert_eq!(ev.class, ReceiptClass::Negative);
        let bare = recovered_event(
            &message(),
            Bucket::new("MADR-1").unwrap(),
            &id("m"),
            ReceiptClass::Positive,
        );
        assert_eq!(bare.message_id, "m");
    }
}
