//! The retry engine: store on submit, decide on receipt, reroute or bounce.
//!
//! [`RetryEngine`] is the only place that knows the order of things in the mstore seed
//! (`seeds/momentum-mstore-retrying-messages.md`). The host calls it from its transport:
//!
//! * [`RetryEngine::on_submit`] after a successful submission. When the scope requests receipts
//!   (`smpp_registered_delivery = "SMSC_Delivery"` or `mm7_delivery_report = true`) and saving
//!   is on (`mm7_mstore_save_message`), it runs the `*_store_submit` hooks and, unless one
//!   answers `MSTORE_DONE`, saves the message under its bucket (`MADR-<shortcode>` /
//!   `MADR-MM7`) and the SMSC/MMSC message id.
//! * [`RetryEngine::on_receipt`] for a delivery receipt or report. It finds the stored message,
//!   runs `*_handle_DR_positive` or `*_handle_DR_negative`, then the default unless a hook took
//!   over: delete on positive, a bounce to the original sender on negative (the message is then
//!   kept until its retention ends, so an operator can still `mstore reinstate` it).
//!   Intermediate receipts only go into the message's history.
//!
//! The protocol adapters (`on_submit_sm_resp`, `on_deliver_sm`, `on_delivery_report`, …) turn
//! decoded PDUs into these two events.
//!
//! # Receipts as they really arrive
//!
//! * **Message-id formats.** Both ids are normalised with the scope's `submit_msgid_format` and
//!   `receipt_msgid_format` ([`crate::config::msgid_key`]):
//!   the message is stored under the normalised submit id, and a receipt's normalised id finds it.
//!   With the default `string` formats the key is the id exactly as the SMSC returned it.
//! * **Receipt before submit.** A receipt whose message is not stored yet is parked *in the
//!   store*, in a placeholder record under the msgid it names, for
//!   [`EngineSettings::park_window`]; whichever node stores the submission (its
//!   [`PutMode::Create`] finds the placeholder) keeps the parked receipts in the new record and
//!   applies them at once, in arrival order — so a receipt parked by a node that died is not
//!   lost. Parking is bounded per msgid by count and bytes
//!   ([`EngineSettings::max_parked_per_key`], [`EngineSettings::max_parked_bytes_per_key`]);
//!   a receipt that cannot be parked is answered [`Unmatched::ParkingFull`], never dropped
//!   silently. [`RetryEngine::retry_parked`] (call it on a timer, on every node) finds such
//!   records through the store's due-time index ([`MessageStore::due`]): a placeholder when its
//!   first receipt's window ends, whoever parked it (receipts still waiting then are reported as
//!   [`Unmatched::Expired`] on the node that looked), and a stored submission that still holds
//!   parked receipts at once (its node stopped before it applied them). A load that fails with a retryable store error
//!   ([`StoreError::is_retryable`]) is never taken for "not found": the receipt is held in
//!   memory (bounded by [`EngineSettings::max_parked`] and [`EngineSettings::max_parked_bytes`])
//!   for [`EngineSettings::unavailable_window`] and retried with a growing delay.
//! * **Multipart messages.** A submission with several part ids is one stored message: saved
//!   under the first part's id, with a copy under every other part's id that points to it, so a
//!   receipt for any part finds it. Each part's final state is kept, and
//!   [`MultipartRule`] decides when the whole counts as delivered or failed; the hooks then run
//!   once, with the first part's msgid, and the copies are deleted.
//! * **Several nodes, one store.** Every write the engine makes to a stored message is
//!   conditional ([`PutMode::Update`] of the version it read), decided by the pure function
//!   [`decide()`]; a write that loses to another writer is decided again on what won. The final
//!   state is claimed this way *before* any hook runs, so a message reaches one final state and
//!   its hook runs once, whichever nodes its receipts reach, and part states written on
//!   different nodes all count. This holds wherever the store's conditional writes are atomic:
//!   [`MemoryStore`](crate::store::MemoryStore), the embedded store, and Riak on a strongly
//!   consistent bucket type; on ordinary Riak buckets concurrent writes become siblings that
//!   merge without losing a part or a parked receipt, but two nodes may both claim a final
//!   state (see `store::riak`); part states written at once there are decided by the next
//!   timer after [`EngineSettings::part_recheck`].
//! * **A node that dies after its claim.** A claim carries a lease
//!   ([`EngineSettings::claim_lease`]); when the hooks and the default have run, the lease is
//!   taken off (or the message is gone). A claim still leased when its lease ends is taken over
//!   by [`RetryEngine::recover`] on any node (part of [`RetryEngine::retry_parked`]), with a
//!   conditional write, and its hooks and default run there. So a hook runs exactly once per
//!   final state, except that a node that finished the hook and died before it recorded that
//!   leaves it to run again elsewhere: at least once in that window.
//! * **Duplicates.** A later final receipt for a message that is final is counted as a
//!   duplicate and changes nothing. A delivered message is deleted after its hook; the engine
//!   remembers the last [`EngineSettings::recent_finals`] finished messages, so a duplicate
//!   reaching the same node afterwards is recognised too (on another node it is parked and
//!   expires unmatched).
//! * **Collisions.** A submission is saved with [`PutMode::Create`]: if a different message is
//!   stored under its msgid (two bindings whose SMSCs hand out the same ids, or ids that
//!   normalise alike), it is not stored and the answer is [`SubmitOutcome::Collision`] (for a
//!   part other than the first, `collided_parts`). Give such bindings different shortcodes or
//!   id formats. The same submission handed in twice is stored once.
//! * **Hooks that fail.** A hook that returns an error or panics is counted in `hook_errors`
//!   and treated as `*_CONTINUE`: the receipt is not lost.
//!
//! The engine keeps its bookkeeping in the stored message's metadata under keys starting with
//! `redeliver.` (`redeliver.final`, `redeliver.primary`, `redeliver.part.<n>.key`,
//! `redeliver.part.<n>.state`, `redeliver.placeholder`, `redeliver.parked.<id>`,
//! `redeliver.due`, `redeliver.recheck`); see
//! [`StoredMessage::merge`](crate::message::StoredMessage::merge) for how two versions of one
//! record written concurrently are merged.
//!
//! # Observability
//!
//! [`RetryEngine::counters`] returns a [`CounterSnapshot`]; every decision is also a `tracing`
//! event with the bucket and msgid as fields.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use redeliver::config::{MobilityConfig, ScopeContext};
//! use redeliver::hooks::{Injection, RecordingInjector};
//! use redeliver::message::{Bucket, Channel, Envelope, ReceiptClass, StoredMessage};
//! use redeliver::retry::{DefaultAction, ReceiptEvent, ReceiptOutcome, RetryEngine, SubmitEvent};
//! use redeliver::store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spool = Arc::new(RecordingInjector::new());
//! let engine = RetryEngine::builder(Arc::new(MemoryStore::new()), spool.clone())
//!     .options(MobilityConfig::from_toml_str(
//!         "[global]\nsmpp_registered_delivery = \"SMSC_Delivery\"\n",
//!     )?)
//!     .build();
//! let envelope = Envelope { mailfrom: "alice@example.com".into(), rcptto: "15551234567@sms.example.com".into() };
//! engine
//!     .on_submit(SubmitEvent {
//!         channel: Channel::Smpp,
//!         scope: ScopeContext::default(),
//!         shortcode: Some("12345".into()),
//!         message: StoredMessage::new(Channel::Smpp, envelope, &b"hello"[..]),
//!         part_ids: vec!["abc".into()],
//!         status: "ESME_ROK".into(),
//!     })
//!     .await?;
//! let outcome = engine
//!     .on_receipt(ReceiptEvent {
//!         channel: Channel::Smpp,
//!         scope: ScopeContext::default(),
//!         bucket: Bucket::new("MADR-12345")?,
//!         message_id: "abc".into(),
//!         class: ReceiptClass::Negative,
//!         state: "UNDELIV".into(),
//!         error: Some("001".into()),
//!         raw: None,
//!         smpp: None,
//!         mm7_report: None,
//!     })
//!     .await?;
//! // No hook registered: Momentum's default, a bounce to the original sender.
//! assert!(matches!(outcome, ReceiptOutcome::Handled { default_action: DefaultAction::Bounced, .. }));
//! assert!(matches!(spool.injections().as_slice(), [Injection::Bounce(_)]));
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use tracing::Instrument;

pub mod decide;
mod keylock;
#[cfg(feature = "mm7")]
mod mm7;
mod smpp;
pub use crate::event::{CounterSnapshot, ReceiptEvent};
pub(crate) use crate::event::{Counters, bump};
pub use decide::{DuePlan, Plan, decide, decide_due};

use tokio::time::Instant;

use crate::bounce::{Bouncer, DsnBouncer, FailureReport};
use crate::config::{MobilityConfig, ScopeContext, msgid_key};
#[cfg(feature = "mm7")]
use crate::hooks::Mm7DrDecision;
use crate::hooks::{
    DeliveryHooks, HookContext, HookError, Injector, SmppDrDecision, StoreDecision,
};
use crate::message::{
    AddressError, Bucket, Channel, HistoryEvent, MsgId, ReceiptClass, StoredMessage,
};
#[cfg(feature = "mm7")]
use crate::mm7::{Address, DeliveryReportReq, MmStatus, Release};
use crate::smpp::receipt::{ReceiptError, ReceiptRules};
use crate::store::{MessageStore, PutMode, StoreError};

use crate::message::{META_CLAIM, META_DUE, META_PARKED_PREFIX};
pub use crate::message::{META_FINAL, META_PRIMARY};
use decide::parked_range;

/// Most parts a multipart submission may have (the SMPP `sar_total_segments` limit).
pub const MAX_PARTS: usize = 255;

/// When a multipart (concatenated) message counts as delivered or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultipartRule {
    /// Delivered when every part was delivered; failed as soon as one part failed (the
    /// recipient cannot read a message with a part missing). The default.
    #[default]
    AllParts,
    /// Delivered as soon as one part was delivered; failed when every part failed.
    AnyPart,
    /// Only the first part's receipt counts; receipts for the other parts are recorded.
    FirstPart,
}

impl MultipartRule {
    /// The whole message's final state from each part's final state (`None`: no final receipt
    /// yet for that part), or `None` while it is still undecided.
    pub fn decide(self, parts: &[Option<ReceiptClass>]) -> Option<ReceiptClass> {
        let any = |c| parts.contains(&Some(c));
        let all = |c| !parts.is_empty() && parts.iter().all(|p| *p == Some(c));
        match self {
            MultipartRule::AllParts if any(ReceiptClass::Negative) => Some(ReceiptClass::Negative),
            MultipartRule::AllParts if all(ReceiptClass::Positive) => Some(ReceiptClass::Positive),
            MultipartRule::AnyPart if any(ReceiptClass::Positive) => Some(ReceiptClass::Positive),
            MultipartRule::AnyPart if all(ReceiptClass::Negative) => Some(ReceiptClass::Negative),
            MultipartRule::FirstPart => parts.first().copied().flatten(),
            _ => None,
        }
    }
}

/// How the engine behaves beyond the scoped options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// How long a receipt whose message is not stored yet waits for its submission.
    /// Default 2 minutes.
    pub park_window: Duration,
    /// How long a receipt that could not be matched because the store was unavailable keeps
    /// being retried. Default 15 minutes.
    pub unavailable_window: Duration,
    /// Most receipts held in this process at once while the store is unavailable; past it new
    /// ones are answered [`Unmatched::ParkingFull`]. Default 100 000.
    pub max_parked: usize,
    /// Most bytes of receipts held in this process at once (their text, raw receipt and MM7
    /// report, roughly); past it new ones are answered [`Unmatched::ParkingFull`]. Default
    /// 64 MiB.
    pub max_parked_bytes: usize,
    /// Most receipts parked in the store under one msgid before its submission is stored;
    /// past it the receipt is answered [`Unmatched::ParkingFull`]. Default 32.
    pub max_parked_per_key: usize,
    /// Most bytes of parked receipts in the store under one msgid (a receipt's raw text counts).
    /// Default 64 KiB.
    pub max_parked_bytes_per_key: usize,
    /// How many times one receipt or submission is decided again after losing a conditional
    /// write to another writer before it is held for later. Default 64.
    pub max_conflicts: usize,
    /// When a multipart message counts as delivered or failed.
    pub multipart: MultipartRule,
    /// How many finished messages are remembered (at least; up to twice as many) to recognise
    /// duplicate receipts after the message was deleted. Default 65 536.
    pub recent_finals: usize,
    /// How SMPP receipts are classified (SMPP 3.4 Appendix B by default: `DELIVRD` positive,
    /// `ENROUTE`/`ACCEPTD` intermediate, the rest negative).
    pub receipt_rules: ReceiptRules,
    /// How long a node's claim of a final state keeps others from taking it over: a claim
    /// whose hooks and default have not finished this long after it was written (its node
    /// died, or hangs) is taken over by the next [`RetryEngine::recover`] on any node, which
    /// runs the hooks and the default. Set it longer than the slowest hook. Default 2 minutes.
    pub claim_lease: Duration,
    /// After a part receipt that does not decide a multipart message, when any node's timer
    /// decides the message again from the stored part states (on Riak buckets with
    /// `allow_mult`, part states written at once on two nodes become siblings that only a later
    /// read merges). `None` skips that look: right for stores whose conditional writes are
    /// atomic (memory, embedded, Riak on a consistent type). Default 30 seconds.
    pub part_recheck: Option<Duration>,
    /// Most due records (claims to recover, parked receipts, part states to decide again) one
    /// timer pass looks at. Default 256.
    pub due_batch: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            park_window: Duration::from_secs(120),
            unavailable_window: Duration::from_secs(15 * 60),
            max_parked: 100_000,
            max_parked_bytes: 64 << 20,
            max_parked_per_key: 32,
            max_parked_bytes_per_key: 64 << 10,
            max_conflicts: 64,
            multipart: MultipartRule::AllParts,
            recent_finals: 65_536,
            receipt_rules: ReceiptRules::default(),
            claim_lease: Duration::from_secs(120),
            part_recheck: Some(Duration::from_secs(30)),
            due_batch: 256,
        }
    }
}

with_setters!(EngineSettings {
    with_park_window => park_window: Duration,
    with_unavailable_window => unavailable_window: Duration,
    with_max_parked => max_parked: usize,
    with_max_parked_bytes => max_parked_bytes: usize,
    with_max_parked_per_key => max_parked_per_key: usize,
    with_max_parked_bytes_per_key => max_parked_bytes_per_key: usize,
    with_max_conflicts => max_conflicts: usize,
    with_multipart => multipart: MultipartRule,
    with_recent_finals => recent_finals: usize,
    with_receipt_rules => receipt_rules: ReceiptRules,
    with_claim_lease => claim_lease: Duration,
    with_part_recheck => part_recheck: Option<Duration>,
    with_due_batch => due_batch: usize,
});

/// A successful submission, as the host's transport saw it.
#[derive(Debug, Clone)]
pub struct SubmitEvent {
    /// SMPP or MM7.
    pub channel: Channel,
    /// The scopes the message went through.
    pub scope: ScopeContext,
    /// The shortcode the message was sent from (`source_addr`, MM7 `SenderAddress`
    /// ShortCode); picks the bucket `MADR-<shortcode>`.
    pub shortcode: Option<String>,
    /// The message as it was submitted.
    pub message: StoredMessage,
    /// The SMSC/MMSC message id of every part, in part order (one for a single message).
    pub part_ids: Vec<String>,
    /// The response status, for the history (`ESME_ROK`, `1000`).
    pub status: String,
}

/// Why a submission was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotTracked {
    /// The scope does not request receipts (`smpp_registered_delivery` is `None`, or
    /// `mm7_delivery_report` is false).
    ReceiptsNotRequested,
    /// `mm7_mstore_save_message` is false in the scope.
    SavingDisabled,
    /// The submission itself failed (a non-zero `command_status`, an MM7 status other than
    /// 1xxx): there is nothing to wait for.
    SubmitRefused,
}

/// What [`RetryEngine::on_submit`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum SubmitOutcome {
    /// Saved under `bucket`/`msgid`; the receipts that were parked for it were applied.
    Stored {
        /// Its bucket.
        bucket: Bucket,
        /// Its msgid (the normalised id of the first part).
        msgid: MsgId,
        /// What became of each receipt that had arrived before the submission (parked by this
        /// node or any other).
        applied: Vec<Result<ReceiptOutcome, EngineError>>,
        /// Parts (other than the first) whose msgid already holds a different message: their
        /// receipts cannot find this one. Empty in the normal case.
        collided_parts: Vec<MsgId>,
    },
    /// A different message is already stored under the msgid (two bindings whose SMSCs hand
    /// out the same ids, or ids that normalise alike, such as decimal `007` and `7`). Nothing
    /// was written: a submission never replaces another live message.
    Collision {
        /// The bucket.
        bucket: Bucket,
        /// The msgid both messages have.
        msgid: MsgId,
        /// The message id the stored message was submitted with, as its SMSC/MMSC wrote it.
        existing_message_id: Option<String>,
    },
    /// A store hook answered `MSTORE_DONE`; nothing was saved.
    HookDone {
        /// The bucket it would have had.
        bucket: Bucket,
        /// The msgid it would have had.
        msgid: MsgId,
    },
    /// The scope's options say not to track it.
    NotTracked(NotTracked),
}

/// Why a receipt is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParkReason {
    /// Its message is not stored (yet): the receipt beat the submit response.
    NotYetStored,
    /// The store could not say whether its message exists.
    StoreUnavailable,
    /// Other writers kept changing the message faster than this receipt could be applied
    /// ([`EngineSettings::max_conflicts`]); it is held and tried again.
    Contended,
}

/// Why a receipt matched nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unmatched {
    /// It stayed parked longer than its window.
    Expired,
    /// Too many receipts were parked already.
    ParkingFull,
    /// It belongs to a multipart message whose first part is no longer stored.
    PrimaryMissing,
}

/// What the default action did after the hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultAction {
    /// A hook took over; no default ran.
    Skipped,
    /// The stored message was deleted (positive); `false` if a hook had already deleted it.
    Deleted(bool),
    /// A DSN went to the original sender (negative).
    Bounced,
    /// No bounce: the message has no sender, or the bouncer declined.
    NoBounce,
    /// The bounce could not be handed to the injector.
    BounceFailed(String),
}

/// What [`RetryEngine::on_receipt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptOutcome {
    /// A final receipt: the hooks ran, then the default unless a hook took over.
    Handled {
        /// The message's bucket.
        bucket: Bucket,
        /// The message's msgid (the first part's, for a multipart message).
        msgid: MsgId,
        /// The receipt that decided it, typed ([`ReceiptEvent::smpp`] /
        /// [`ReceiptEvent::mm7_report`]), and the msgid it matched (a part's, for a multipart
        /// message): what a host needs to build its DLR.
        receipt: Arc<ReceiptEvent>,
        /// The normalised msgid the receipt matched.
        matched: MsgId,
        /// Positive or negative.
        class: ReceiptClass,
        /// Whether a hook answered `*_DELIVERED`.
        took_over: bool,
        /// What the default did.
        default_action: DefaultAction,
    },
    /// An intermediate receipt, recorded in the history.
    Intermediate {
        /// The message's bucket.
        bucket: Bucket,
        /// The message's msgid.
        msgid: MsgId,
    },
    /// A receipt for one part of a multipart message that does not decide the whole yet.
    PartRecorded {
        /// The message's bucket.
        bucket: Bucket,
        /// The message's msgid.
        msgid: MsgId,
        /// Which part (0-based).
        part: usize,
    },
    /// The message already reached a final state; nothing changed.
    Duplicate {
        /// The message's bucket.
        bucket: Bucket,
        /// The msgid the receipt referred to.
        msgid: MsgId,
    },
    /// Parked until the message is stored or the store answers.
    Parked {
        /// The receipt's bucket.
        bucket: Bucket,
        /// The receipt's normalised msgid.
        msgid: MsgId,
        /// Why.
        reason: ParkReason,
    },
    /// Matched nothing; dropped.
    Unmatched {
        /// The receipt's bucket.
        bucket: Bucket,
        /// The receipt's normalised msgid.
        msgid: MsgId,
        /// Why.
        reason: Unmatched,
    },
}

/// What [`RetryEngine::retry_parked`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParkReport {
    /// Receipts that found their message.
    pub applied: usize,
    /// Receipts still parked.
    pub still_parked: usize,
    /// Receipts given up on (counted as `unmatched`).
    pub expired: usize,
    /// Receipts that failed with a store error that retrying will not fix.
    pub failed: usize,
    /// Final states finished on this node that another node had claimed and not finished
    /// within [`EngineSettings::claim_lease`], or that stored part states decided (see
    /// [`RetryEngine::recover`]).
    pub recovered: usize,
}

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A bucket or message id from the event is not valid.
    #[error("{what}: {source}")]
    Address {
        /// Which field.
        what: &'static str,
        /// Why it was refused.
        source: AddressError,
    },
    /// The event itself is not usable.
    #[error("{0}")]
    InvalidEvent(String),
    /// The submission could not be written in the form it is stored in (an MM7 SubmitReq that
    /// its own release cannot encode); the codec's error is the source.
    #[error("{what}: cannot be kept: {source}")]
    NotStorable {
        /// What was refused (`"SubmitReq"`).
        what: &'static str,
        /// Why.
        source: crate::BoxError,
    },
    /// The store failed in a way retrying will not fix, or a save failed (boxed: a store error
    /// is large, and this one is rare).
    #[error(transparent)]
    Store(Box<StoreError>),
    /// An SMPP delivery receipt could not be read.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// The PDU or report is not a delivery receipt.
    #[error("{0}")]
    NotAReceipt(String),
    /// Other writers kept changing the record faster than this operation could finish.
    #[error("{0}")]
    Contended(String),
}

impl std::convert::From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(Box::new(e))
    }
}

/// How a receipt reached [`RetryEngine::process`].
#[derive(Debug, Clone)]
enum From {
    /// From the transport.
    Fresh,
    /// Held in this process because the store could not be asked; retried on the timer.
    Held {
        since: Instant,
        attempts: u32,
        claim: String,
    },
    /// Out of the store's parking: entry `entry` of the record under `at`.
    Parked { entry: String, at: MsgId },
}

/// A receipt held in this process while the store cannot be asked.
#[derive(Debug)]
struct Held {
    event: ReceiptEvent,
    key: MsgId,
    since: Instant,
    attempts: u32,
    claim: String,
    bytes: usize,
}

/// What this process parked: receipts held in memory (store unavailable), and the keys under
/// which it parked receipts in the store, each by the time it is next looked at.
#[derive(Debug, Default)]
struct ParkingLot {
    held: BTreeMap<(Instant, u64), Held>,
    held_bytes: usize,
    stored: BTreeMap<(Instant, u64), Key>,
    stored_keys: HashSet<Key>,
    next_seq: u64,
    /// Outcomes of parked receipts applied while the engine handled something else, for
    /// [`RetryEngine::retry_parked_outcomes`].
    side: Vec<Result<ReceiptOutcome, EngineError>>,
}

impl ParkingLot {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn watch(&mut self, key: Key, due: Instant) {
        if self.stored_keys.insert(key.clone()) {
            let seq = self.seq();
            self.stored.insert((due, seq), key);
        }
    }

    /// Stops watching a key whose parked receipts were all applied.
    fn unwatch(&mut self, key: &Key) {
        self.stored_keys.remove(key);
        if self.stored_keys.is_empty() {
            self.stored.clear();
        }
    }
}

type Key = (Bucket, MsgId);

/// A claim this node's write won: its id and the version that write produced.
struct Claim<'a> {
    id: &'a str,
    version: crate::store::Version,
}

/// The finished messages an engine remembers, to recognise a duplicate receipt after its
/// message was deleted: fingerprints of (bucket, msgid) under the engine's random hash keys (a
/// collision needs a 64-bit match that nobody outside the process can aim for, and it would
/// only park-or-drop a receipt whose message is not stored anyway).
///
/// Two generations of at most `cap` fingerprints each: a finished message is appended to the
/// current one (a push at the end of a vector, which costs the hot path next to nothing), and
/// when it is full it becomes the previous one and the oldest generation is dropped whole. So
/// the last `cap` finished messages are always remembered (up to `2 × cap`). The fingerprints
/// are hashed for lookup only when a lookup comes (a receipt whose message is not stored), and
/// each only once.
#[derive(Debug, Default)]
struct RecentFinals {
    current: Generation,
    previous: Generation,
}

#[derive(Debug, Default)]
struct Generation {
    log: Vec<u64>,
    index: HashSet<u64, std::hash::BuildHasherDefault<FingerprintHasher>>,
    /// How much of `log` is in `index`.
    indexed: usize,
}

impl Generation {
    fn contains(&mut self, fp: u64) -> bool {
        if self.indexed < self.log.len() {
            self.index.extend(&self.log[self.indexed..]);
            self.indexed = self.log.len();
        }
        self.index.contains(&fp)
    }
}

impl RecentFinals {
    fn insert(&mut self, fp: u64, cap: usize) {
        if self.current.log.len() >= cap {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.log.push(fp);
    }

    fn contains(&mut self, fp: u64) -> bool {
        self.current.contains(fp) || self.previous.contains(fp)
    }
}

/// Hashes a fingerprint as itself: it is already a keyed hash, so hashing it again only costs.
#[derive(Debug, Default, Clone, Copy)]
struct FingerprintHasher(u64);

impl std::hash::Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; folds anything else in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Builds a [`RetryEngine`].
pub struct RetryEngineBuilder {
    store: Arc<dyn MessageStore>,
    injector: Arc<dyn Injector>,
    hooks: Vec<Arc<dyn DeliveryHooks>>,
    bouncer: Arc<dyn Bouncer>,
    options: MobilityConfig,
    settings: EngineSettings,
}

impl RetryEngineBuilder {
    /// Registers a hook implementation after those already registered (see
    /// [`hooks`](crate::hooks) for how several combine).
    pub fn hooks(mut self, hooks: Arc<dyn DeliveryHooks>) -> Self {
        self.hooks.push(hooks);
        self
    }

    /// Replaces the default [`DsnBouncer`].
    pub fn bouncer(mut self, bouncer: Arc<dyn Bouncer>) -> Self {
        self.bouncer = bouncer;
        self
    }

    /// The scoped options (default: [`MobilityConfig::default`]).
    pub fn options(mut self, options: MobilityConfig) -> Self {
        self.options = options;
        self
    }

    /// The engine's own settings.
    pub fn settings(mut self, settings: EngineSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The engine.
    pub fn build(self) -> RetryEngine {
        RetryEngine {
            inner: Arc::new(Inner {
                store: self.store,
                injector: self.injector,
                hooks: self.hooks,
                bouncer: self.bouncer,
                options: self.options,
                settings: self.settings,
                counters: Arc::new(Counters::default()),
                parked: Mutex::new(ParkingLot::default()),
                recent: Mutex::new(RecentFinals::default()),
                node: format!("{:016x}.", RandomState::new().hash_one(0u8)),
                hasher: RandomState::new(),
                claims: AtomicU64::new(0),
                key_locks: keylock::KeyLocks::new(1024),
                hook_seconds: HookSeconds::new(),
            }),
        }
    }
}

struct Inner {
    store: Arc<dyn MessageStore>,
    injector: Arc<dyn Injector>,
    hooks: Vec<Arc<dyn DeliveryHooks>>,
    bouncer: Arc<dyn Bouncer>,
    options: MobilityConfig,
    settings: EngineSettings,
    counters: Arc<Counters>,
    parked: Mutex<ParkingLot>,
    recent: Mutex<RecentFinals>,
    hasher: RandomState,
    /// This engine's random id and a dot, the first half of its claim ids.
    node: String,
    claims: AtomicU64,
    /// Serialises this node's load → decide → write steps per key (see `keylock`).
    key_locks: keylock::KeyLocks,
    hook_seconds: HookSeconds,
}

/// Store on submit, decide on receipt. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct RetryEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RetryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryEngine")
            .field("store", &self.inner.store.backend())
            .field("hooks", &self.inner.hooks.len())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a few map operations that leave the maps consistent even if
    // one panicked half way, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What became of one conditional create in [`RetryEngine::on_submit`].
enum Created {
    /// Written over nothing.
    Written,
    /// Written over a placeholder, whose parked receipts it keeps until they are applied.
    OverParked,
    /// The same submission was stored already (the host submitted the event twice).
    Same,
    /// A different message is stored under the key.
    Collision(Option<String>),
}

/// Whether `existing` is the submission `new` (the same event stored twice).
fn same_submission(existing: &StoredMessage, new: &StoredMessage) -> bool {
    existing.resource.message_id == new.resource.message_id
        && existing.envelope == new.envelope
        && existing.body == new.body
        && existing.metadata.get(META_PRIMARY) == new.metadata.get(META_PRIMARY)
}

/// `Instant::now() + wait`, or a year from now when a setting makes the sum unrepresentable.
fn instant_in(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// `redeliver_engine_hook_seconds` of each hook, registered once when the engine is built.
struct HookSeconds {
    smpp_store_submit: metrics::Histogram,
    mm7_store_submit: metrics::Histogram,
    smpp_handle_dr_positive: metrics::Histogram,
    smpp_handle_dr_negative: metrics::Histogram,
    #[cfg(feature = "mm7")]
    mm7_handle_dr_positive: metrics::Histogram,
    #[cfg(feature = "mm7")]
    mm7_handle_dr_negative: metrics::Histogram,
}

impl HookSeconds {
    fn new() -> Self {
        let h = |hook: &'static str| metrics::histogram!(crate::telemetry::ENGINE_HOOK_SECONDS, "hook" => hook);
        Self {
            smpp_store_submit: h("smpp_store_submit"),
            mm7_store_submit: h("mm7_store_submit"),
            smpp_handle_dr_positive: h("smpp_handle_dr_positive"),
            smpp_handle_dr_negative: h("smpp_handle_dr_negative"),
            #[cfg(feature = "mm7")]
            mm7_handle_dr_positive: h("mm7_handle_dr_positive"),
            #[cfg(feature = "mm7")]
            mm7_handle_dr_negative: h("mm7_handle_dr_negative"),
        }
    }
}

/// Runs a hook; a panic inside it becomes a hook error (counted and logged like any other), so
/// one faulty hook never loses the receipt it was called for.
async fn guarded<T>(
    seconds: &metrics::Histogram,
    hook: impl Future<Output = Result<T, HookError>>,
) -> Result<T, HookError> {
    let started = Instant::now();
    let answer = AssertUnwindSafe(hook).catch_unwind().await;
    seconds.record(started.elapsed().as_secs_f64());
    match answer {
        Ok(answer) => answer,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_owned());
            Err(HookError::Other(
                format!("the hook panicked: {what}").into(),
            ))
        }
    }
}

/// Reports how many receipts this process holds (`redeliver_engine_held_receipts`).
fn held_gauge(held: usize) {
    metrics::gauge!(crate::telemetry::ENGINE_HELD).set(held as f64);
}

/// Roughly what a held receipt costs in memory, for [`EngineSettings::max_parked_bytes`].
fn event_bytes(ev: &ReceiptEvent) -> usize {
    #[cfg(feature = "mm7")]
    let report = ev.mm7_report.as_ref().map_or(0, |r| {
        std::mem::size_of::<DeliveryReportReq>()
            + r.message_id.len()
            + r.status_text.as_ref().map_or(0, String::len)
            + r.date.len()
            + 64
    });
    #[cfg(not(feature = "mm7"))]
    let report = 0;
    std::mem::size_of::<Held>()
        + ev.message_id.len()
        + ev.state.len()
        + ev.error.as_ref().map_or(0, String::len)
        + ev.raw.as_ref().map_or(0, String::len)
        + ev.bucket.as_str().len()
        + report
}

impl RetryEngine {
    /// Starts building an engine over `store`, injecting through `injector`.
    pub fn builder(
        store: Arc<dyn MessageStore>,
        injector: Arc<dyn Injector>,
    ) -> RetryEngineBuilder {
        RetryEngineBuilder {
            store,
            injector,
            hooks: Vec::new(),
            bouncer: Arc::new(DsnBouncer::default()),
            options: MobilityConfig::default(),
            settings: EngineSettings::default(),
        }
    }

    /// The scoped options.
    pub fn options(&self) -> &MobilityConfig {
        &self.inner.options
    }

    /// The engine's settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn MessageStore> {
        &self.inner.store
    }

    /// The injector.
    pub fn injector(&self) -> &Arc<dyn Injector> {
        &self.inner.injector
    }

    /// A copy of the counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.inner.counters.snapshot()
    }

    /// How many receipts are parked.
    pub fn parked_len(&self) -> usize {
        let lot = lock(&self.inner.parked);
        lot.held.len() + lot.stored_keys.len()
    }

    /// The seed's bucket for a submission from `shortcode`, honouring
    /// `mm7_mstore_bucket_use_shortcode`.
    pub fn bucket_for(&self, shortcode: Option<&str>) -> Result<Bucket, EngineError> {
        Bucket::for_submission(
            shortcode,
            self.inner.options.mm7_mstore_bucket_use_shortcode,
        )
        .map_err(|source| EngineError::Address {
            what: "bucket from the shortcode",
            source,
        })
    }

    /// A hook context over this engine's store and injector, for the scopes in `scope`.
    pub fn hook_context(&self, scope: &ScopeContext) -> HookContext {
        HookContext::new(
            self.inner.store.clone(),
            self.inner.injector.clone(),
            self.inner.counters.clone(),
            scope.clone(),
        )
    }

    /// A new claim id: this engine's random id and a sequence number.
    fn new_claim(&self) -> String {
        let n = self.inner.claims.fetch_add(1, Ordering::Relaxed);
        let mut claim = String::with_capacity(self.inner.node.len() + 20);
        claim.push_str(&self.inner.node);
        decide::push_decimal(&mut claim, n);
        claim
    }

    fn fingerprint(&self, bucket: &Bucket, key: &MsgId) -> u64 {
        self.inner.hasher.hash_one((bucket, key))
    }

    /// A successful submission: store it if its scope tracks it (see the module documentation).
    pub async fn on_submit(&self, ev: SubmitEvent) -> Result<SubmitOutcome, EngineError> {
        let inner = &self.inner;
        let opts = inner.options.resolve(&ev.scope);
        let requested = match ev.channel {
            Channel::Smpp => opts.smpp_registered_delivery.requests_receipts(),
            Channel::Mm7 => opts.mm7_delivery_report,
        };
        let not_tracked = if !requested {
            Some(NotTracked::ReceiptsNotRequested)
        } else if !opts.mm7_mstore_save_message {
            Some(NotTracked::SavingDisabled)
        } else {
            None
        };
        if let Some(why) = not_tracked {
            bump(&inner.counters.not_tracked);
            tracing::debug!(channel = %ev.channel, reason = ?why, "mstore: submission not tracked");
            return Ok(SubmitOutcome::NotTracked(why));
        }
        if ev.part_ids.is_empty() {
            return Err(EngineError::InvalidEvent(
                "submit: no message id for the submission".to_owned(),
            ));
        }
        if ev.part_ids.len() > MAX_PARTS {
            return Err(EngineError::InvalidEvent(format!(
                "submit: {} part ids, more than the {MAX_PARTS} parts a message can have",
                ev.part_ids.len()
            )));
        }
        let bucket = self.bucket_for(ev.shortcode.as_deref())?;
        let mut keys = Vec::with_capacity(ev.part_ids.len());
        for id in &ev.part_ids {
            let key = MsgId::new(msgid_key(id, opts.submit_msgid_format).unwrap_or_default())
                .map_err(|source| EngineError::Address {
                    what: "submit message id",
                    source,
                })?;
            if keys.contains(&key) {
                return Err(EngineError::InvalidEvent(format!(
                    "submit: part id {id:?} appears twice in one multipart message"
                )));
            }
            keys.push(key);
        }
        let primary = keys[0].clone();

        let mut msg = ev.message;
        msg.channel = ev.channel;
        msg.resource.message_id = Some(ev.part_ids[0].clone());
        if ev.part_ids.len() > 1 {
            msg.resource.part_ids = ev.part_ids.clone();
            for (i, key) in keys.iter().enumerate() {
                msg.metadata.insert(decide::part_key(i), key.to_string());
            }
        }
        let fill = |slot: &mut Option<String>, from: &Option<String>| {
            if slot.is_none() {
                slot.clone_from(from);
            }
        };
        fill(&mut msg.resource.binding, &ev.scope.binding);
        fill(&mut msg.resource.binding_group, &ev.scope.binding_group);
        fill(&mut msg.resource.domain, &ev.scope.domain);
        msg.record(HistoryEvent::Submitted {
            message_id: Some(ev.part_ids[0].clone()),
            status: ev.status.clone(),
        });

        let cx = self.hook_context(&ev.scope);
        let mut decision = StoreDecision::Continue;
        for hook in &inner.hooks {
            let answer = match ev.channel {
                Channel::Smpp => {
                    guarded(
                        &self.inner.hook_seconds.smpp_store_submit,
                        hook.smpp_store_submit(&cx, &msg, &bucket, &primary),
                    )
                    .await
                }
                Channel::Mm7 => {
                    guarded(
                        &self.inner.hook_seconds.mm7_store_submit,
                        hook.mm7_store_submit(&cx, &msg, &bucket, &primary),
                    )
                    .await
                }
            };
            match answer {
                Ok(StoreDecision::Done) => {
                    decision = StoreDecision::Done;
                    break;
                }
                Ok(StoreDecision::Continue) => {}
                Err(e) => self.hook_failed("store_submit", &bucket, &primary, &e),
            }
        }
        if decision.took_over() {
            bump(&inner.counters.store_skipped);
            tracing::info!(%bucket, msgid = %primary, "mstore: store hook answered MSTORE_DONE; not stored");
            return Ok(SubmitOutcome::HookDone {
                bucket,
                msgid: primary,
            });
        }

        let mut collided_parts = Vec::new();
        // Keys that may hold parked receipts to apply now. A create that found nothing needs no
        // second look: anything parked later finds the submission itself.
        let mut to_drain = Vec::new();
        let first = self.create_or_merge(&bucket, &primary, &msg).await?;
        if !matches!(first, Created::Written) {
            to_drain.push(primary.clone());
        }
        match first {
            Created::Written | Created::OverParked | Created::Same => {}
            Created::Collision(existing) => {
                bump(&inner.counters.collisions);
                tracing::warn!(%bucket, msgid = %primary, existing = existing.as_deref().unwrap_or(""), "mstore: a different message is stored under this msgid; the submission is not stored");
                return Ok(SubmitOutcome::Collision {
                    bucket,
                    msgid: primary,
                    existing_message_id: existing,
                });
            }
        }
        if keys.len() > 1 {
            let mut copy = msg.clone();
            copy.metadata
                .insert(META_PRIMARY.to_owned(), primary.to_string());
            for key in &keys[1..] {
                if let Created::Collision(existing) =
                    self.create_or_merge(&bucket, key, &copy).await?
                {
                    bump(&inner.counters.collisions);
                    tracing::warn!(%bucket, msgid = %key, %primary, existing = existing.as_deref().unwrap_or(""), "mstore: a different message is stored under a part's msgid; that part's receipts will not find this message");
                    collided_parts.push(key.clone());
                }
            }
        }
        bump(&inner.counters.stored);
        tracing::info!(%bucket, msgid = %primary, parts = keys.len(), channel = %msg.channel, "mstore: submission stored");

        let mut applied = Vec::new();
        for key in &to_drain {
            lock(&inner.parked).unwatch(&(bucket.clone(), key.clone()));
            applied.extend(self.drain(&bucket, key).await);
        }
        Ok(SubmitOutcome::Stored {
            bucket,
            msgid: primary,
            applied,
            collided_parts,
        })
    }

    /// Writes a submission (or a part's copy) only where no other message is: over nothing, or
    /// over a placeholder of parked receipts, which the new record keeps until they are applied.
    async fn create_or_merge(
        &self,
        bucket: &Bucket,
        key: &MsgId,
        record: &StoredMessage,
    ) -> Result<Created, EngineError> {
        let store = &self.inner.store;
        let _key = self
            .inner
            .key_locks
            .lock(bucket.as_str(), key.as_str())
            .await;
        for _ in 0..self.inner.settings.max_conflicts.max(1) {
            match store.save(bucket, key, record, PutMode::Create).await {
                Ok(_) => return Ok(Created::Written),
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    tracing::warn!(%bucket, msgid = %key, error = %e, "mstore: saving the submission failed");
                    return Err(e.into());
                }
            }
            let existing = match store.load(bucket, key).await {
                Ok(Some(v)) => v,
                // Deleted meanwhile: create again.
                Ok(None) => continue,
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    return Err(e.into());
                }
            };
            if !existing.is_placeholder() {
                if same_submission(&existing, record) {
                    return Ok(Created::Same);
                }
                return Ok(Created::Collision(existing.resource.message_id.clone()));
            }
            let mut merged = record.clone();
            for (k, v) in existing
                .message
                .metadata
                .range::<str, _>(parked_range())
                .take_while(|(k, _)| k.starts_with(META_PARKED_PREFIX))
            {
                merged.metadata.insert(k.clone(), v.clone());
            }
            // Due now: if this node stops before it applies them, any node's timer does.
            decide::refresh_due(&mut merged, SystemTime::now());
            match store
                .save(bucket, key, &merged, PutMode::Update(existing.version))
                .await
            {
                Ok(_) => return Ok(Created::OverParked),
                Err(e) if e.is_conflict() => bump(&self.inner.counters.conflicts),
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    return Err(e.into());
                }
            }
        }
        Err(EngineError::Contended(format!(
            "submit {bucket}/{key}: {} conflicting writes in a row",
            self.inner.settings.max_conflicts
        )))
    }

    /// A delivery receipt or report (see the module documentation for what happens).
    pub async fn on_receipt(&self, ev: ReceiptEvent) -> Result<ReceiptOutcome, EngineError> {
        let opts = self.inner.options.resolve(&ev.scope);
        let key =
            MsgId::new(msgid_key(&ev.message_id, opts.receipt_msgid_format).unwrap_or_default())
                .map_err(|source| EngineError::Address {
                    what: "receipt message id",
                    source,
                })?;
        if ev.class == ReceiptClass::Intermediate {
            bump(&self.inner.counters.intermediate);
        }
        let bucket = ev.bucket.clone();
        let span =
            tracing::info_span!("receipt", bucket = %bucket, msgid = %key, class = ?ev.class);
        Ok(self
            .process_inner(ev, key.clone(), From::Fresh)
            .instrument(span)
            .await?
            .unwrap_or(ReceiptOutcome::Parked {
                bucket,
                msgid: key,
                reason: ParkReason::NotYetStored,
            }))
    }

    /// Looks at what is due; call it on a timer (every few seconds), on every node.
    ///
    /// Receipts held in memory because the store was unavailable are tried again (with a
    /// growing delay per receipt); keys under which this process parked receipts in the store
    /// are looked at once their receipts' window ends: receipts still waiting for their
    /// submission then are removed from the store and reported as
    /// [`Unmatched::Expired`]; receipts whose submission arrived (through any node) and were
    /// not applied yet are applied. Then [`recover`](Self::recover) looks at what the store's
    /// due-time index names, whichever node wrote it: claims left unfinished past their lease,
    /// receipts parked by other nodes, part states to decide again. Nothing that is not due is
    /// touched.
    pub async fn retry_parked(&self) -> ParkReport {
        self.retry_parked_outcomes().await.0
    }

    /// As [`retry_parked`](Self::retry_parked), and also what became of every receipt that left
    /// parking (applied, given up, or failed) since the last call — including receipts applied
    /// while the engine handled another receipt of the same message — for the host to act on
    /// as it acts on [`on_receipt`](Self::on_receipt)'s answers (a DLR to send, a message to
    /// mark done). Receipts still parked are not listed.
    pub async fn retry_parked_outcomes(
        &self,
    ) -> (ParkReport, Vec<Result<ReceiptOutcome, EngineError>>) {
        let now = Instant::now();
        let (held, stored) = {
            let mut lot = lock(&self.inner.parked);
            let later_held = lot.held.split_off(&(now, u64::MAX));
            let due_held = std::mem::replace(&mut lot.held, later_held);
            for h in due_held.values() {
                lot.held_bytes = lot.held_bytes.saturating_sub(h.bytes);
            }
            held_gauge(lot.held.len());
            let later_stored = lot.stored.split_off(&(now, u64::MAX));
            let mut due_stored = std::mem::replace(&mut lot.stored, later_stored);
            // Keys whose receipts were applied meanwhile are no longer watched.
            due_stored.retain(|_, k| lot.stored_keys.remove(k));
            (due_held, due_stored)
        };
        let mut report = ParkReport::default();
        let mut outcomes = Vec::new();
        let count = |outcome: &Result<ReceiptOutcome, EngineError>, report: &mut ParkReport| {
            match outcome {
                Ok(ReceiptOutcome::Parked { .. }) => {}
                Ok(ReceiptOutcome::Unmatched {
                    reason: Unmatched::Expired,
                    ..
                }) => report.expired += 1,
                Ok(_) => report.applied += 1,
                Err(_) => report.failed += 1,
            }
        };
        for (_, h) in held {
            let from = From::Held {
                since: h.since,
                attempts: h.attempts,
                claim: h.claim,
            };
            match self.process(h.event, h.key, from).await {
                Ok(None) | Ok(Some(ReceiptOutcome::Parked { .. })) => {}
                outcome => {
                    let outcome = outcome.map(|o| o.expect("not None"));
                    count(&outcome, &mut report);
                    outcomes.push(outcome);
                }
            }
        }
        for (_, (bucket, key)) in stored {
            for outcome in self.check_parked_key(&bucket, &key).await {
                count(&outcome, &mut report);
                outcomes.push(outcome);
            }
        }
        let (recovered, found) = self.recover_split().await;
        report.recovered += recovered.len();
        outcomes.extend(recovered);
        for outcome in found {
            count(&outcome, &mut report);
            outcomes.push(outcome);
        }
        let side = std::mem::take(&mut lock(&self.inner.parked).side);
        for outcome in side {
            count(&outcome, &mut report);
            outcomes.push(outcome);
        }
        report.still_parked = self.parked_len();
        (report, outcomes)
    }

    /// Looks at the records the store's due index names (at most
    /// [`EngineSettings::due_batch`]); [`retry_parked`](Self::retry_parked) does this on every
    /// call, so any node's timer does it. Whatever node wrote them:
    ///
    /// * a final state whose claim was not finished within its lease
    ///   ([`EngineSettings::claim_lease`]: the claiming node died or hangs between its claim
    ///   and the end of its hooks and default) is taken over with a conditional write of this
    ///   node's claim, and if that wins, the hooks and the default run here, with the receipt
    ///   rebuilt from the record's history. Claims stay exactly-once otherwise; but a node that
    ///   finished the hooks and died before it recorded that (the default's delete, or taking
    ///   the lease off) leaves a claim that is taken over, so in that window the hooks run
    ///   again: at least once, not exactly once;
    /// * receipts parked in a record whose submission is stored (by a node that stopped before
    ///   it applied them) are applied;
    /// * receipts parked in a placeholder whose window ended are given up
    ///   ([`Unmatched::Expired`]);
    /// * a multipart message whose part states were written without deciding it
    ///   ([`EngineSettings::part_recheck`]) is decided again from what is stored, which on a
    ///   Riak bucket with `allow_mult` includes part states written at once on other nodes.
    ///
    /// Returns what became of each.
    pub async fn recover(&self) -> Vec<Result<ReceiptOutcome, EngineError>> {
        let (mut recovered, other) = self.recover_split().await;
        recovered.extend(other);
        recovered
    }

    /// [`recover`](Self::recover), with the claims finished here apart from the rest.
    async fn recover_split(
        &self,
    ) -> (
        Vec<Result<ReceiptOutcome, EngineError>>,
        Vec<Result<ReceiptOutcome, EngineError>>,
    ) {
        let inner = &self.inner;
        let due = match inner
            .store
            .due(SystemTime::now(), inner.settings.due_batch)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                bump(&inner.counters.store_errors);
                tracing::warn!(error = %e, "mstore: the store could not list due records");
                return (Vec::new(), Vec::new());
            }
        };
        let (mut recovered, mut other) = (Vec::new(), Vec::new());
        for (bucket, key) in due {
            let (r, o) = self.check_due(&bucket, &key).await;
            recovered.extend(r);
            other.extend(o);
        }
        (recovered, other)
    }

    /// The timer's look at one due record (see [`recover`](Self::recover)).
    async fn check_due(
        &self,
        bucket: &Bucket,
        key: &MsgId,
    ) -> (
        Vec<Result<ReceiptOutcome, EngineError>>,
        Vec<Result<ReceiptOutcome, EngineError>>,
    ) {
        let inner = &self.inner;
        let store = &inner.store;
        let claim = self.new_claim();
        let mut guard = Some(inner.key_locks.lock(bucket.as_str(), key.as_str()).await);
        for _ in 0..inner.settings.max_conflicts.max(1) {
            if guard.is_none() {
                guard = Some(inner.key_locks.lock(bucket.as_str(), key.as_str()).await);
            }
            let loaded = match store.load(bucket, key).await {
                Ok(Some(v)) => v,
                Ok(None) => return (Vec::new(), Vec::new()),
                Err(e) => {
                    bump(&inner.counters.store_errors);
                    if e.is_retryable() {
                        // Still in the index: the next tick looks again.
                        return (Vec::new(), Vec::new());
                    }
                    return (Vec::new(), vec![Err(e.into())]);
                }
            };
            let now = SystemTime::now();
            match decide::decide_due(loaded, &claim, &inner.settings, now) {
                DuePlan::NotDue => return (Vec::new(), Vec::new()),
                DuePlan::ApplyParked => {
                    drop(guard.take());
                    return (Vec::new(), self.drain(bucket, key).await);
                }
                DuePlan::ExpireParked => {
                    drop(guard.take());
                    return (Vec::new(), self.check_parked_key(bucket, key).await);
                }
                DuePlan::Clear { record, mode } => {
                    match store.save_shared(bucket, key, Arc::new(record), mode).await {
                        Ok(_) => return (Vec::new(), Vec::new()),
                        Err(e) if e.is_conflict() => bump(&inner.counters.conflicts),
                        Err(e) => {
                            bump(&inner.counters.store_errors);
                            return (Vec::new(), vec![Err(e.into())]);
                        }
                    }
                }
                DuePlan::TakeOver {
                    record,
                    mode,
                    class,
                }
                | DuePlan::Decided {
                    record,
                    mode,
                    class,
                } => {
                    let record = Arc::new(record);
                    match store.save_shared(bucket, key, record.clone(), mode).await {
                        Ok(version) => {
                            drop(guard.take());
                            tracing::warn!(%bucket, msgid = %key, %class, "mstore: finishing a final state on this node (a claim not finished within its lease, or part states that decide the message)");
                            let ev = decide::recovered_event(&record, bucket.clone(), key, class);
                            let claimed = Claim {
                                id: &claim,
                                version,
                            };
                            let outcome = self
                                .finish(
                                    ev,
                                    bucket.clone(),
                                    key.clone(),
                                    key.clone(),
                                    record,
                                    class,
                                    claimed,
                                )
                                .await;
                            return (vec![Ok(outcome)], Vec::new());
                        }
                        Err(e) if e.is_conflict() => bump(&inner.counters.conflicts),
                        Err(e) => {
                            bump(&inner.counters.store_errors);
                            if e.is_retryable() {
                                return (Vec::new(), Vec::new());
                            }
                            return (Vec::new(), vec![Err(e.into())]);
                        }
                    }
                }
            }
        }
        (Vec::new(), Vec::new())
    }

    /// The timer's look at a key under which this process parked receipts in the store.
    async fn check_parked_key(
        &self,
        bucket: &Bucket,
        key: &MsgId,
    ) -> Vec<Result<ReceiptOutcome, EngineError>> {
        let store = &self.inner.store;
        let retry_soon = |engine: &Self| {
            lock(&engine.inner.parked).watch(
                (bucket.clone(), key.clone()),
                instant_in(Duration::from_secs(1)),
            );
        };
        for _ in 0..self.inner.settings.max_conflicts.max(1) {
            let loaded = match store.load(bucket, key).await {
                Ok(Some(v)) => v,
                // Applied and deleted, or swept: nothing is waiting any more.
                Ok(None) => return Vec::new(),
                Err(e) if e.is_retryable() => {
                    bump(&self.inner.counters.store_errors);
                    retry_soon(self);
                    return Vec::new();
                }
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    return vec![Err(e.into())];
                }
            };
            if !loaded.is_placeholder() {
                return self.drain(bucket, key).await;
            }
            let now = SystemTime::now();
            let (entries, bad) = decide::parked_entries_checked(&loaded);
            let (expired, waiting): (Vec<_>, Vec<_>) =
                entries.into_iter().partition(|(_, p)| p.deadline <= now);
            if expired.is_empty() && bad.is_empty() {
                if let Some(next) = waiting.iter().map(|(_, p)| p.deadline).min() {
                    let wait = next.duration_since(now).unwrap_or_default();
                    lock(&self.inner.parked).watch((bucket.clone(), key.clone()), instant_in(wait));
                }
                return Vec::new();
            }
            let mut record = loaded.message.clone();
            for (id, _) in &expired {
                record.metadata.remove(&format!("{META_PARKED_PREFIX}{id}"));
            }
            for id in &bad {
                record.metadata.remove(&format!("{META_PARKED_PREFIX}{id}"));
            }
            record.expires_at = waiting.iter().map(|(_, p)| p.deadline).max().unwrap_or(now);
            decide::refresh_due(&mut record, now);
            match store
                .save(bucket, key, &record, PutMode::Update(loaded.version))
                .await
            {
                Ok(_) => {
                    if let Some(next) = waiting.iter().map(|(_, p)| p.deadline).min() {
                        let wait = next.duration_since(now).unwrap_or_default();
                        lock(&self.inner.parked)
                            .watch((bucket.clone(), key.clone()), instant_in(wait));
                    }
                    let mut out = Vec::new();
                    for _ in &bad {
                        bump(&self.inner.counters.unmatched);
                        tracing::warn!(%bucket, msgid = %key, "mstore: a parked receipt that does not decode was dropped");
                    }
                    for (_, p) in expired {
                        bump(&self.inner.counters.unmatched);
                        tracing::warn!(%bucket, msgid = %key, state = %p.state, "mstore: receipt matched no stored message within its window; dropped");
                        out.push(Ok(ReceiptOutcome::Unmatched {
                            bucket: bucket.clone(),
                            msgid: key.clone(),
                            reason: Unmatched::Expired,
                        }));
                    }
                    return out;
                }
                Err(e) if e.is_conflict() => bump(&self.inner.counters.conflicts),
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    if e.is_retryable() {
                        retry_soon(self);
                        return Vec::new();
                    }
                    return vec![Err(e.into())];
                }
            }
        }
        retry_soon(self);
        Vec::new()
    }

    /// Applies the receipts parked in the store under `key`, oldest first, now that a
    /// submission is stored there.
    async fn drain(
        &self,
        bucket: &Bucket,
        key: &MsgId,
    ) -> Vec<Result<ReceiptOutcome, EngineError>> {
        let mut out = Vec::new();
        let mut tried = HashSet::new();
        // Each round applies or skips one entry; the bound only stops a store that keeps
        // answering with entries that cannot be applied.
        for _ in 0..=self.inner.settings.max_parked_per_key {
            let loaded = match self.inner.store.load(bucket, key).await {
                Ok(Some(v)) => v,
                Ok(None) => break,
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    if e.is_retryable() {
                        lock(&self.inner.parked).watch(
                            (bucket.clone(), key.clone()),
                            instant_in(Duration::from_secs(1)),
                        );
                    } else {
                        out.push(Err(e.into()));
                    }
                    break;
                }
            };
            if loaded.is_placeholder() {
                break;
            }
            let Some((entry, parked)) = decide::parked_entries(&loaded)
                .into_iter()
                .find(|(id, _)| !tried.contains(id))
            else {
                break;
            };
            tried.insert(entry.clone());
            tracing::info!(%bucket, msgid = %key, state = %parked.state, "mstore: applying a receipt that arrived before its submission");
            let from = From::Parked {
                entry,
                at: key.clone(),
            };
            match self
                .process(parked.into_event(bucket.clone()), key.clone(), from)
                .await
            {
                Ok(None) => {}
                Ok(Some(outcome)) => out.push(Ok(outcome)),
                Err(e) => out.push(Err(e)),
            }
        }
        out
    }

    /// Holds a receipt in this process because the store could not be asked.
    fn hold(
        &self,
        ev: ReceiptEvent,
        key: MsgId,
        from: From,
        claim: String,
        reason: ParkReason,
    ) -> Option<ReceiptOutcome> {
        let inner = &self.inner;
        let bucket = ev.bucket.clone();
        let (since, attempts) = match from {
            From::Fresh => (Instant::now(), 0),
            From::Held {
                since, attempts, ..
            } => (since, attempts),
            // Still in the store: the timer looks at the key again soon.
            From::Parked { at, .. } => {
                lock(&inner.parked).watch((bucket.clone(), at), instant_in(Duration::from_secs(1)));
                return None;
            }
        };
        if attempts > 0 && since.elapsed() >= inner.settings.unavailable_window {
            bump(&inner.counters.unmatched);
            tracing::warn!(%bucket, msgid = %key, state = %ev.state, ?reason, "mstore: receipt could not be matched within its window; dropped");
            return Some(ReceiptOutcome::Unmatched {
                bucket,
                msgid: key,
                reason: Unmatched::Expired,
            });
        }
        let bytes = event_bytes(&ev);
        let mut lot = lock(&inner.parked);
        if attempts == 0
            && (lot.held.len() >= inner.settings.max_parked
                || lot.held_bytes + bytes > inner.settings.max_parked_bytes)
        {
            drop(lot);
            bump(&inner.counters.unmatched);
            tracing::warn!(%bucket, msgid = %key, limit = inner.settings.max_parked, bytes = inner.settings.max_parked_bytes, "mstore: too many receipts held; receipt dropped");
            return Some(ReceiptOutcome::Unmatched {
                bucket,
                msgid: key,
                reason: Unmatched::ParkingFull,
            });
        }
        if attempts == 0 {
            bump(&inner.counters.parked);
            tracing::info!(%bucket, msgid = %key, ?reason, "mstore: receipt held until the store answers");
        }
        // The next timer tick first, then 1 s, 2 s, 4 s … up to a minute between tries.
        let delay = match attempts {
            0 => Duration::ZERO,
            n => Duration::from_secs(1u64 << (n - 1).min(6)).min(Duration::from_secs(60)),
        };
        let seq = lot.seq();
        lot.held_bytes += bytes;
        lot.held.insert(
            (instant_in(delay), seq),
            Held {
                event: ev,
                key: key.clone(),
                since,
                attempts: attempts.saturating_add(1),
                claim,
                bytes,
            },
        );
        held_gauge(lot.held.len());
        Some(ReceiptOutcome::Parked {
            bucket,
            msgid: key,
            reason,
        })
    }

    fn recently_final(&self, bucket: &Bucket, key: &MsgId) -> bool {
        if self.inner.settings.recent_finals == 0 {
            return false;
        }
        let fp = self.fingerprint(bucket, key);
        lock(&self.inner.recent).contains(fp)
    }

    fn remember_final(&self, bucket: &Bucket, primary: &MsgId, copies: &[MsgId]) {
        let cap = self.inner.settings.recent_finals;
        if cap == 0 {
            return;
        }
        let first = self.fingerprint(bucket, primary);
        let rest: Vec<u64> = copies.iter().map(|k| self.fingerprint(bucket, k)).collect();
        let mut recent = lock(&self.inner.recent);
        for fp in std::iter::once(first).chain(rest) {
            recent.insert(fp, cap);
        }
    }

    fn hook_failed(&self, hook: &str, bucket: &Bucket, msgid: &MsgId, e: &dyn std::error::Error) {
        bump(&self.inner.counters.hook_errors);
        tracing::warn!(%bucket, %msgid, hook, error = %e, "mstore: hook failed; treated as *_CONTINUE");
    }

    /// Loads, decides ([`decide::decide`]), writes conditionally, and on a conflict loads and
    /// decides again; runs the hooks only after its own claim won. `None`: nothing to report
    /// (a parked receipt that another node applied, or that still waits).
    fn process(
        &self,
        ev: ReceiptEvent,
        key: MsgId,
        from: From,
    ) -> futures::future::BoxFuture<'_, Result<Option<ReceiptOutcome>, EngineError>> {
        // Boxed: applying a parked receipt goes through `drain`, which calls this again.
        Box::pin(self.process_inner(ev, key, from))
    }

    async fn process_inner(
        &self,
        ev: ReceiptEvent,
        key: MsgId,
        from: From,
    ) -> Result<Option<ReceiptOutcome>, EngineError> {
        let inner = &self.inner;
        let store = &inner.store;
        let bucket = ev.bucket.clone();
        let fresh = !matches!(from, From::Parked { .. });
        // Kept while this receipt is retried, so a claim of its own that landed unacknowledged
        // is recognised (see `Plan::Claimed`).
        let claim = match &from {
            From::Fresh => self.new_claim(),
            From::Held { claim, .. } => claim.clone(),
            From::Parked { entry, .. } => format!("parked.{entry}"),
        };
        let mut drained = false;
        for _ in 0..inner.settings.max_conflicts.max(1) {
            // Held over this step's load, decision and write; released before hooks run and
            // before parked receipts of this key are applied (which take it themselves).
            let mut guard = Some(inner.key_locks.lock(bucket.as_str(), key.as_str()).await);
            // Shared: the usual receipt changes the record in the store's own hands
            // (`update_shared`), and only a decision that needs a copy of its own makes one.
            let loaded = match store.load_shared(&bucket, &key).await {
                Ok(v) => v,
                Err(e) => return self.store_failed(e, ev, key, from, claim),
            };
            if loaded.is_none() && fresh && self.recently_final(&bucket, &key) {
                bump(&inner.counters.duplicates);
                tracing::debug!(%bucket, msgid = %key, "mstore: receipt for a finished message; ignored");
                return Ok(Some(ReceiptOutcome::Duplicate { bucket, msgid: key }));
            }
            // Receipts parked here before the submission came go first.
            if fresh
                && !drained
                && let Some(v) = &loaded
                && !v.is_placeholder()
                && decide::has_parked(v)
            {
                drained = true;
                drop(guard.take());
                let outcomes = self.drain(&bucket, &key).await;
                lock(&inner.parked).side.extend(outcomes);
                continue;
            }
            let entry_here = match &from {
                From::Parked { entry, at } if *at == key => Some(entry.as_str()),
                _ => None,
            };
            let now = SystemTime::now();
            let loaded = match loaded {
                Some(v) => match decide::inspect(&v, &key, entry_here, &claim) {
                    decide::Inspected::Apply => {
                        // The receipt changes the record: `decide`'s write, made by the store.
                        let mut applied = None;
                        let written = store
                            .update_shared(&bucket, &key, v, &mut |record| {
                                applied = Some(decide::apply(
                                    record,
                                    &key,
                                    &ev,
                                    entry_here,
                                    &claim,
                                    &inner.settings,
                                    now,
                                ));
                            })
                            .await;
                        let (version, record) = match written {
                            Ok(w) => w,
                            Err(e) if e.is_conflict() => {
                                bump(&inner.counters.conflicts);
                                continue;
                            }
                            Err(e) => return self.store_failed(e, ev, key, from, claim),
                        };
                        match applied.flatten() {
                            Some(decide::Applied::Record { part }) => {
                                self.forget_entry_in(&bucket, &from, &key).await;
                                return Ok(Some(recorded(bucket, key, part, &ev)));
                            }
                            Some(decide::Applied::Final { class, .. }) => {
                                drop(guard.take());
                                self.forget_entry_in(&bucket, &from, &key).await;
                                let claimed = Claim {
                                    id: &claim,
                                    version,
                                };
                                let target = key.clone();
                                return Ok(Some(
                                    self.finish(ev, bucket, target, key, record, class, claimed)
                                        .await,
                                ));
                            }
                            None => {
                                // Not the record `inspect` looked at, although its version
                                // was: damage, as `decide` reports it.
                                bump(&inner.counters.store_errors);
                                return Err(StoreError::corrupt(
                                    store.backend(),
                                    bucket.as_str(),
                                    key.as_str(),
                                    format!("{key} is not one of the message's parts"),
                                )
                                .into());
                            }
                        }
                    }
                    _ => Some(v.into_versioned()),
                },
                None => None,
            };
            let mut plan =
                decide::decide(loaded, &key, &ev, entry_here, &claim, &inner.settings, now);
            let mut target = key.clone();
            if let Plan::FollowPrimary(primary) = plan {
                // The write goes to the primary: its stripe, not the part's.
                drop(guard.take());
                guard = Some(
                    inner
                        .key_locks
                        .lock(bucket.as_str(), primary.as_str())
                        .await,
                );
                let loaded = match store.load(&bucket, &primary).await {
                    Ok(Some(v)) => v,
                    Ok(None) => {
                        if self.recently_final(&bucket, &primary) {
                            bump(&inner.counters.duplicates);
                            self.forget_entry(&bucket, &from).await;
                            return Ok(Some(ReceiptOutcome::Duplicate { bucket, msgid: key }));
                        }
                        bump(&inner.counters.unmatched);
                        self.forget_entry(&bucket, &from).await;
                        tracing::warn!(%bucket, msgid = %key, %primary, "mstore: receipt for a part whose message is gone");
                        return Ok(Some(ReceiptOutcome::Unmatched {
                            bucket,
                            msgid: key,
                            reason: Unmatched::PrimaryMissing,
                        }));
                    }
                    Err(e) => return self.store_failed(e, ev, key, from, claim),
                };
                plan = match decide::decide(
                    Some(loaded),
                    &key,
                    &ev,
                    None,
                    &claim,
                    &inner.settings,
                    now,
                ) {
                    Plan::FollowPrimary(_) => {
                        Plan::Corrupt(format!("{primary} is itself a copy of another part"))
                    }
                    Plan::Park { .. } | Plan::ParkFull => {
                        Plan::Corrupt(format!("{primary} is a placeholder, not a message"))
                    }
                    plan => plan,
                };
                target = primary;
            }
            match plan {
                Plan::Park {
                    record,
                    mode,
                    entry: _,
                } => match store.save(&bucket, &target, &record, mode).await {
                    Ok(_) => {
                        bump(&inner.counters.parked);
                        let wait = inner.settings.park_window;
                        lock(&inner.parked)
                            .watch((bucket.clone(), target.clone()), instant_in(wait));
                        tracing::info!(%bucket, msgid = %key, state = %ev.state, "mstore: receipt parked until its submission is stored");
                        return Ok(Some(ReceiptOutcome::Parked {
                            bucket,
                            msgid: key,
                            reason: ParkReason::NotYetStored,
                        }));
                    }
                    Err(e) if e.is_conflict() => bump(&inner.counters.conflicts),
                    Err(e) => return self.store_failed(e, ev, key, from, claim),
                },
                Plan::ParkFull => {
                    bump(&inner.counters.unmatched);
                    tracing::warn!(%bucket, msgid = %key, per_key = inner.settings.max_parked_per_key, bytes = inner.settings.max_parked_bytes_per_key, "mstore: too many receipts parked for this msgid; receipt dropped");
                    return Ok(Some(ReceiptOutcome::Unmatched {
                        bucket,
                        msgid: key,
                        reason: Unmatched::ParkingFull,
                    }));
                }
                Plan::AlreadyApplied | Plan::Waiting => return Ok(None),
                Plan::Duplicate => {
                    bump(&inner.counters.duplicates);
                    self.forget_entry_in(&bucket, &from, &target).await;
                    tracing::debug!(%bucket, msgid = %target, state = %ev.state, "mstore: duplicate final receipt; ignored");
                    return Ok(Some(ReceiptOutcome::Duplicate {
                        bucket,
                        msgid: target,
                    }));
                }
                Plan::Corrupt(reason) => {
                    bump(&inner.counters.store_errors);
                    return Err(StoreError::Corrupt {
                        backend: store.backend(),
                        bucket: bucket.to_string(),
                        msgid: target.to_string(),
                        reason,
                        source: None,
                    }
                    .into());
                }
                Plan::FollowPrimary(_) => unreachable!("followed above"),
                Plan::Claimed { class } => {
                    let Some(v) = (match store.load(&bucket, &target).await {
                        Ok(v) => v,
                        Err(e) => return self.store_failed(e, ev, key, from, claim),
                    }) else {
                        continue;
                    };
                    drop(guard.take());
                    tracing::info!(%bucket, msgid = %target, "mstore: this receipt's earlier claim had landed; finishing it");
                    self.forget_entry(&bucket, &from).await;
                    let claimed = Claim {
                        id: &claim,
                        version: v.version,
                    };
                    return Ok(Some(
                        self.finish(ev, bucket, target, key, Arc::new(v.message), class, claimed)
                            .await,
                    ));
                }
                Plan::Record { record, mode, part } => {
                    // Shared with the store, which then keeps it without a copy.
                    match store
                        .save_shared(&bucket, &target, Arc::new(record), mode)
                        .await
                    {
                        Ok(_) => {
                            self.forget_entry_in(&bucket, &from, &target).await;
                            return Ok(Some(recorded(bucket, target, part, &ev)));
                        }
                        Err(e) if e.is_conflict() => bump(&inner.counters.conflicts),
                        Err(e) => return self.store_failed(e, ev, key, from, claim),
                    }
                }
                Plan::Final {
                    record,
                    mode,
                    class,
                    part: _,
                } => {
                    // The claim. Shared with the store, which keeps it without a copy while the
                    // hooks read it.
                    let record = Arc::new(record);
                    match store
                        .save_shared(&bucket, &target, record.clone(), mode)
                        .await
                    {
                        Ok(version) => {
                            drop(guard.take());
                            self.forget_entry_in(&bucket, &from, &target).await;
                            let claimed = Claim {
                                id: &claim,
                                version,
                            };
                            return Ok(Some(
                                self.finish(ev, bucket, target, key, record, class, claimed)
                                    .await,
                            ));
                        }
                        Err(e) if e.is_conflict() => bump(&inner.counters.conflicts),
                        Err(e) => return self.store_failed(e, ev, key, from, claim),
                    }
                }
            }
        }
        tracing::warn!(%bucket, msgid = %key, conflicts = inner.settings.max_conflicts, "mstore: too many conflicting writes for one receipt; held for later");
        Ok(self.hold(ev, key, from, claim, ParkReason::Contended))
    }

    /// After this node's claim of the final state won: the hooks, then the default, then the
    /// multipart copies go, and the claim is marked finished (its lease taken off the record),
    /// unless the record is gone.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        ev: ReceiptEvent,
        bucket: Bucket,
        primary: MsgId,
        matched: MsgId,
        msg: Arc<StoredMessage>,
        class: ReceiptClass,
        claim: Claim<'_>,
    ) -> ReceiptOutcome {
        let inner = &self.inner;
        bump(match class {
            ReceiptClass::Positive => &inner.counters.positive,
            _ => &inner.counters.negative,
        });
        tracing::info!(%bucket, msgid = %primary, %class, state = %ev.state, error = ev.error.as_deref().unwrap_or(""), "mstore: final receipt");
        let parts = decide::part_keys(&msg);
        let ev = Arc::new(ev);
        let cx = HookContext::for_receipt(
            inner.store.clone(),
            inner.injector.clone(),
            inner.counters.clone(),
            ev.clone(),
        );
        let took_over = self
            .run_receipt_hooks(&ev, &msg, &cx, class, &bucket, &primary)
            .await;
        let mut gone = false;
        let default_action = if took_over {
            tracing::info!(%bucket, msgid = %primary, "mstore: hook took over; default skipped");
            DefaultAction::Skipped
        } else if class == ReceiptClass::Positive && cx.hook_deleted(&bucket, &primary) {
            // A hook deleted it already (the seed's positive hook does): the default would find
            // nothing.
            DefaultAction::Deleted(false)
        } else if class == ReceiptClass::Positive {
            match inner.store.delete(&bucket, &primary).await {
                Ok(existed) => {
                    gone = true;
                    DefaultAction::Deleted(existed)
                }
                Err(e) => {
                    bump(&inner.counters.store_errors);
                    tracing::warn!(%bucket, msgid = %primary, error = %e, "mstore: deleting a delivered message failed; it stays until its retention ends");
                    DefaultAction::Deleted(false)
                }
            }
        } else {
            self.bounce(&msg, &ev, &bucket, &primary).await
        };
        if !gone && !cx.hook_deleted(&bucket, &primary) {
            self.mark_done(&bucket, &primary, &msg, claim).await;
        }
        let copies: Vec<MsgId> = parts
            .iter()
            .skip(1)
            .filter_map(|p| MsgId::new(p.clone()).ok())
            .collect();
        for copy in &copies {
            if let Err(e) = inner.store.delete(&bucket, copy).await {
                bump(&inner.counters.store_errors);
                tracing::warn!(%bucket, msgid = %copy, error = %e, "mstore: deleting a part copy failed");
            }
        }
        self.remember_final(&bucket, &primary, &copies);
        ReceiptOutcome::Handled {
            bucket,
            msgid: primary,
            receipt: ev,
            matched,
            class,
            took_over,
            default_action,
        }
    }

    /// Takes the lease off a claim whose hooks and default finished, so no node takes it over.
    /// The record stays final. Not done when another node took the claim over meanwhile.
    async fn mark_done(
        &self,
        bucket: &Bucket,
        primary: &MsgId,
        msg: &StoredMessage,
        claim: Claim<'_>,
    ) {
        let store = &self.inner.store;
        let mut next = Some((msg.clone(), claim.version));
        for _ in 0..self.inner.settings.max_conflicts.max(1) {
            let (mut record, version) = match next.take() {
                Some(known) => known,
                None => match store.load(bucket, primary).await {
                    Ok(Some(v)) => (v.message, v.version),
                    Ok(None) => return,
                    Err(e) => {
                        bump(&self.inner.counters.store_errors);
                        tracing::warn!(%bucket, msgid = %primary, error = %e, "mstore: could not mark a finished claim; another node may run its hooks again when the lease ends");
                        return;
                    }
                },
            };
            if record.metadata.get(META_CLAIM).map(String::as_str) != Some(claim.id)
                || record.metadata.remove(META_DUE).is_none()
            {
                return;
            }
            match store
                .save_shared(bucket, primary, Arc::new(record), PutMode::Update(version))
                .await
            {
                Ok(_) => return,
                Err(e) if e.is_conflict() => bump(&self.inner.counters.conflicts),
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    tracing::warn!(%bucket, msgid = %primary, error = %e, "mstore: could not mark a finished claim; another node may run its hooks again when the lease ends");
                    return;
                }
            }
        }
    }

    /// A store error while handling a receipt: retryable ones hold the receipt, others are the
    /// answer.
    fn store_failed(
        &self,
        e: StoreError,
        ev: ReceiptEvent,
        key: MsgId,
        from: From,
        claim: String,
    ) -> Result<Option<ReceiptOutcome>, EngineError> {
        bump(&self.inner.counters.store_errors);
        if e.is_retryable() {
            tracing::warn!(bucket = %ev.bucket, msgid = %key, error = %e, "mstore: store unavailable while matching a receipt");
            return Ok(self.hold(ev, key, from, claim, ParkReason::StoreUnavailable));
        }
        Err(e.into())
    }

    /// After a parked receipt that sat in another record than the one written (a multipart
    /// copy) was applied: removes its entry there.
    async fn forget_entry_in(&self, bucket: &Bucket, from: &From, written: &MsgId) {
        if let From::Parked { at, .. } = from
            && at != written
        {
            self.forget_entry(bucket, from).await;
        }
    }

    async fn forget_entry(&self, bucket: &Bucket, from: &From) {
        let From::Parked { entry, at } = from else {
            return;
        };
        let meta = format!("{META_PARKED_PREFIX}{entry}");
        let store = &self.inner.store;
        for _ in 0..self.inner.settings.max_conflicts.max(1) {
            let Ok(Some(v)) = store.load(bucket, at).await else {
                return;
            };
            if !v.metadata.contains_key(&meta) {
                return;
            }
            let mut record = v.message.clone();
            record.metadata.remove(&meta);
            decide::refresh_due(&mut record, SystemTime::now());
            match store
                .save(bucket, at, &record, PutMode::Update(v.version))
                .await
            {
                Err(e) if e.is_conflict() => bump(&self.inner.counters.conflicts),
                Err(e) => {
                    // Left in place: applying it again finds the message final or the part
                    // recorded, which changes nothing.
                    tracing::warn!(%bucket, msgid = %at, error = %e, "mstore: could not remove an applied parked receipt");
                    return;
                }
                Ok(_) => return,
            }
        }
    }

    /// Runs the receipt hooks in order; returns whether one took over.
    async fn run_receipt_hooks(
        &self,
        ev: &ReceiptEvent,
        msg: &StoredMessage,
        cx: &HookContext,
        class: ReceiptClass,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> bool {
        let positive = class == ReceiptClass::Positive;
        #[cfg(not(feature = "mm7"))]
        if ev.channel == Channel::Mm7 {
            // Without the MM7 codec there are no MM7 hooks: the default follows.
            let _ = msg;
            return false;
        }
        #[cfg(feature = "mm7")]
        if ev.channel == Channel::Mm7 {
            let trx = match &ev.mm7_report {
                Some(report) => report.clone(),
                None => Arc::new(synthesized_report(ev, msg, bucket)),
            };
            let name = if positive {
                "mm7_handle_DR_positive"
            } else {
                "mm7_handle_DR_negative"
            };
            for hook in &self.inner.hooks {
                let answer = if positive {
                    guarded(
                        &self.inner.hook_seconds.mm7_handle_dr_positive,
                        hook.mm7_handle_dr_positive(cx, &trx, bucket, msgid),
                    )
                    .await
                } else {
                    guarded(
                        &self.inner.hook_seconds.mm7_handle_dr_negative,
                        hook.mm7_handle_dr_negative(cx, &trx, bucket, msgid),
                    )
                    .await
                };
                match answer {
                    // The seed: the positive hook's return value is not used.
                    Ok(Mm7DrDecision::Delivered) if !positive => return true,
                    Ok(_) => {}
                    Err(e) => self.hook_failed(name, bucket, msgid, &e),
                }
            }
            return false;
        }
        let name = if positive {
            "smpp_handle_DR_positive"
        } else {
            "smpp_handle_DR_negative"
        };
        for hook in &self.inner.hooks {
            let answer = if positive {
                guarded(
                    &self.inner.hook_seconds.smpp_handle_dr_positive,
                    hook.smpp_handle_dr_positive(cx, bucket, msgid),
                )
                .await
            } else {
                guarded(
                    &self.inner.hook_seconds.smpp_handle_dr_negative,
                    hook.smpp_handle_dr_negative(cx, bucket, msgid),
                )
                .await
            };
            match answer {
                Ok(SmppDrDecision::Delivered) => return true,
                Ok(SmppDrDecision::Continue) => {}
                Err(e) => self.hook_failed(name, bucket, msgid, &e),
            }
        }
        false
    }

    async fn bounce(
        &self,
        msg: &StoredMessage,
        ev: &ReceiptEvent,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> DefaultAction {
        let failure = FailureReport {
            channel: ev.channel,
            bucket: bucket.clone(),
            msgid: msgid.clone(),
            receipt_message_id: ev.message_id.clone(),
            state: ev.state.clone(),
            error: ev.error.clone(),
            at: SystemTime::now(),
        };
        let Some(dsn) = self.inner.bouncer.bounce(msg, &failure) else {
            tracing::info!(%bucket, %msgid, "mstore: no bounce (no sender, or the bouncer declined)");
            return DefaultAction::NoBounce;
        };
        match self.inner.injector.inject_bounce(&dsn).await {
            Ok(()) => {
                bump(&self.inner.counters.bounced);
                tracing::info!(%bucket, %msgid, to = %dsn.rcptto, status = %dsn.status, "mstore: bounce sent to the original sender");
                DefaultAction::Bounced
            }
            Err(e) => {
                tracing::warn!(%bucket, %msgid, error = %e, "mstore: the bounce could not be injected");
                DefaultAction::BounceFailed(e.to_string())
            }
        }
    }
}

/// The outcome of a receipt recorded without deciding the message (see [`Plan::Record`]).
fn recorded(
    bucket: Bucket,
    target: MsgId,
    part: Option<usize>,
    ev: &ReceiptEvent,
) -> ReceiptOutcome {
    match part {
        Some(part) => {
            tracing::info!(%bucket, msgid = %target, part, state = %ev.state, "mstore: part receipt recorded; message undecided");
            ReceiptOutcome::PartRecorded {
                bucket,
                msgid: target,
                part,
            }
        }
        None => {
            tracing::debug!(%bucket, msgid = %target, state = %ev.state, "mstore: intermediate receipt recorded");
            ReceiptOutcome::Intermediate {
                bucket,
                msgid: target,
            }
        }
    }
}

/// The DeliveryReportReq an MM7 hook gets for a neutral MM7 receipt that came without one.
#[cfg(feature = "mm7")]
fn synthesized_report(
    ev: &ReceiptEvent,
    msg: &StoredMessage,
    bucket: &Bucket,
) -> DeliveryReportReq {
    let release = Release::Rel6Mm7_1_4;
    DeliveryReportReq {
        transaction_id: None,
        mm7_version: "6.8.0".to_owned(),
        release,
        warnings: Vec::new(),
        mms_relay_server_id: None,
        message_id: ev.message_id.clone(),
        recipient: Address::Rfc2822(msg.envelope.rcptto.clone()),
        sender: Address::ShortCode(bucket.shortcode().unwrap_or_default().to_owned()),
        date: String::new(),
        mm_status: MmStatus::parse(&ev.state).0,
        status_text: ev.error.clone(),
        applic_id: None,
        reply_applic_id: None,
        aux_applic_info: None,
    }
}

#[cfg(test)]
mod tests {
    use super::RecentFinals;
    use super::decide::push_decimal;

    #[test]
    fn the_last_finished_messages_are_always_remembered() {
        let cap = 3;
        let mut recent = RecentFinals::default();
        for fp in 0..100u64 {
            recent.insert(fp, cap);
            // Looked up at every step, or only now and then: the same answers.
            for back in 0..cap as u64 {
                if let Some(earlier) = fp.checked_sub(back) {
                    assert!(recent.contains(earlier), "{earlier} after {fp}");
                }
            }
            if fp >= 2 * cap as u64 {
                assert!(!recent.contains(fp - 2 * cap as u64), "{fp}");
            }
        }
        assert!(!recent.contains(1_000));
    }

    #[test]
    fn decimals_are_written_as_format_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            let mut s = String::from("x.");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x.{n}"));
        }
    }
}
