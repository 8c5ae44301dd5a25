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
//! * **Receipt before submit.** A receipt whose message is not stored yet is parked, for
//!   [`EngineSettings::park_window`]; when the submission is stored the parked receipts for it
//!   are applied at once, in arrival order. [`RetryEngine::retry_parked`] (call it on a timer)
//!   tries parked receipts again and gives up on those older than their window, counting them
//!   as `unmatched`. A load that fails with a retryable store error
//!   ([`StoreError::is_retryable`]) is never taken for "not found": the receipt is parked for
//!   [`EngineSettings::unavailable_window`] and retried.
//! * **Multipart messages.** A submission with several part ids is one stored message: saved
//!   under the first part's id, with a copy under every other part's id that points to it, so a
//!   receipt for any part finds it. Each part's final state is kept, and
//!   [`MultipartRule`] decides when the whole counts as delivered or failed; the hooks then run
//!   once, with the first part's msgid, and the copies are deleted.
//! * **Duplicates.** A message reaches at most one final state: the first final receipt (or the
//!   multipart rule's decision) runs the hook, and any later final receipt for it is counted as
//!   a duplicate and changes nothing. The final state is written into the stored message (before
//!   the hook runs; for a delivered single message, after the hook and only if it kept the
//!   message, since it is normally deleted), and the engine remembers the last
//!   [`EngineSettings::recent_finals`] finished messages, so duplicates are recognised after the
//!   message was deleted too. Receipts for one message are handled one at a time.
//!
//! The engine keeps its bookkeeping in the stored message's metadata under keys starting with
//! `redeliver.` (`redeliver.final`, `redeliver.primary`, `redeliver.part.<n>.key`,
//! `redeliver.part.<n>.state`).
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
//!         mm7_report: None,
//!     })
//!     .await?;
//! // No hook registered: Momentum's default, a bounce to the original sender.
//! assert!(matches!(outcome, ReceiptOutcome::Handled { default_action: DefaultAction::Bounced, .. }));
//! assert!(matches!(spool.injections().as_slice(), [Injection::Bounce(_)]));
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod mm7;
mod smpp;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::bounce::{Bouncer, DsnBouncer, FailureReport};
use crate::config::{MobilityConfig, ScopeContext, msgid_key};
use crate::hooks::{
    DeliveryHooks, HookContext, Injector, Mm7DrDecision, SmppDrDecision, StoreDecision,
};
use crate::message::{
    AddressError, Bucket, Channel, HistoryEvent, MsgId, ReceiptClass, StoredMessage,
};
use crate::mm7::{Address, DeliveryReportReq, MmStatus, Release};
use crate::smpp::receipt::{ReceiptError, ReceiptRules};
use crate::store::{MessageStore, PutMode, StoreError, Versioned};

/// Metadata key: the final state the engine decided (`positive` / `negative`).
pub const META_FINAL: &str = "redeliver.final";
/// Metadata key on a multipart copy: the msgid of the message it belongs to.
pub const META_PRIMARY: &str = "redeliver.primary";
const META_PART_PREFIX: &str = "redeliver.part.";
const META_PART0_KEY: &str = "redeliver.part.0.key";

/// Most parts a multipart submission may have (the SMPP `sar_total_segments` limit).
pub const MAX_PARTS: usize = 255;

const LOCK_STRIPES: usize = 64;

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
    /// Most receipts parked at once; past it new ones are counted as `unmatched`. Default
    /// 100 000.
    pub max_parked: usize,
    /// When a multipart message counts as delivered or failed.
    pub multipart: MultipartRule,
    /// How many finished messages are remembered to recognise duplicate receipts after the
    /// message was deleted. Default 65 536.
    pub recent_finals: usize,
    /// How SMPP receipts are classified (SMPP 3.4 Appendix B by default: `DELIVRD` positive,
    /// `ENROUTE`/`ACCEPTD` intermediate, the rest negative).
    pub receipt_rules: ReceiptRules,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            park_window: Duration::from_secs(120),
            unavailable_window: Duration::from_secs(15 * 60),
            max_parked: 100_000,
            multipart: MultipartRule::AllParts,
            recent_finals: 65_536,
            receipt_rules: ReceiptRules::default(),
        }
    }
}

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

/// A delivery receipt or report, protocol-neutral.
#[derive(Debug, Clone)]
pub struct ReceiptEvent {
    /// SMPP or MM7.
    pub channel: Channel,
    /// The scopes the receipt came through (its binding, at least).
    pub scope: ScopeContext,
    /// The bucket of the original submission (see [`RetryEngine::bucket_for`]).
    pub bucket: Bucket,
    /// The message id as the receipt writes it.
    pub message_id: String,
    /// Positive, negative or intermediate.
    pub class: ReceiptClass,
    /// The state as the receipt writes it (`DELIVRD`, `Expired`, …).
    pub state: String,
    /// The error code or status text, if any.
    pub error: Option<String>,
    /// The receipt's raw text, if it had one.
    pub raw: Option<String>,
    /// For MM7: the decoded DeliveryReportReq, handed to the `mm7_handle_DR_*` hooks as
    /// `trx`. When it is `None` on an MM7 event, the hooks get a report built from the event
    /// (`MessageID`, `MMStatus` from `state`, `StatusText` from `error`, `Sender` from the
    /// bucket's shortcode, `Recipient` from the stored message).
    pub mm7_report: Option<Arc<DeliveryReportReq>>,
}

/// Why a submission was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub enum SubmitOutcome {
    /// Saved under `bucket`/`msgid`; the receipts that were parked for it were applied.
    Stored {
        /// Its bucket.
        bucket: Bucket,
        /// Its msgid (the normalised id of the first part).
        msgid: MsgId,
        /// What became of each receipt that had arrived before the submission.
        applied: Vec<Result<ReceiptOutcome, EngineError>>,
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
pub enum ParkReason {
    /// Its message is not stored (yet): the receipt beat the submit response.
    NotYetStored,
    /// The store could not say whether its message exists.
    StoreUnavailable,
}

/// Why a receipt matched nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub enum ReceiptOutcome {
    /// A final receipt: the hooks ran, then the default unless a hook took over.
    Handled {
        /// The message's bucket.
        bucket: Bucket,
        /// The message's msgid (the first part's, for a multipart message).
        msgid: MsgId,
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
    /// The store failed in a way retrying will not fix, or a save failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An SMPP delivery receipt could not be read.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// The PDU or report is not a delivery receipt.
    #[error("{0}")]
    NotAReceipt(String),
}

/// A point-in-time copy of the engine's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// Submissions saved.
    pub stored: u64,
    /// Submissions a store hook kept out of the store (`MSTORE_DONE`).
    pub store_skipped: u64,
    /// Submissions whose scope does not track them.
    pub not_tracked: u64,
    /// Messages that reached a positive final state.
    pub positive: u64,
    /// Messages that reached a negative final state.
    pub negative: u64,
    /// Intermediate receipts.
    pub intermediate: u64,
    /// Receipts that matched nothing.
    pub unmatched: u64,
    /// Receipts parked (each counted once).
    pub parked: u64,
    /// Messages rerouted by hooks (`msg:inject(from, to)`).
    pub rerouted: u64,
    /// Messages injected on their original route (`msys.mstore.inject`).
    pub injected: u64,
    /// Bounces handed to the injector.
    pub bounced: u64,
    /// Final receipts for messages already final.
    pub duplicates: u64,
    /// Hooks that returned an error.
    pub hook_errors: u64,
    /// Store operations that failed.
    pub store_errors: u64,
}

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// The engine's live counters (atomics); read them through [`CounterSnapshot`].
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $($name: AtomicU64,)*
        }

        impl Counters {
            /// A copy of every counter.
            pub fn snapshot(&self) -> CounterSnapshot {
                CounterSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}
counters!(
    stored,
    store_skipped,
    not_tracked,
    positive,
    negative,
    intermediate,
    unmatched,
    parked,
    rerouted,
    injected,
    bounced,
    duplicates,
    hook_errors,
    store_errors,
);

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn bump_rerouted(&self) {
        bump(&self.rerouted);
    }
    pub(crate) fn bump_injected(&self) {
        bump(&self.injected);
    }
}

/// Where a receipt being processed came from: fresh from the transport, or out of parking.
#[derive(Debug, Clone, Copy)]
struct Origin {
    parked_at: Option<Instant>,
    seq: u64,
}

impl Origin {
    const FRESH: Origin = Origin {
        parked_at: None,
        seq: 0,
    };
}

#[derive(Debug)]
struct Parked {
    event: ReceiptEvent,
    key: MsgId,
    origin: Origin,
}

type Key = (Bucket, MsgId);

#[derive(Debug, Default)]
struct ParkingLot {
    by_key: HashMap<Key, Vec<Parked>>,
    len: usize,
    next_seq: u64,
}

#[derive(Debug, Default)]
struct RecentFinals {
    // Fingerprints of (bucket, msgid) under the engine's random hash keys: a collision needs a
    // 64-bit match that nobody outside the process can aim for, and it would only park-or-drop
    // a receipt whose message is not stored anyway.
    set: HashSet<u64>,
    order: VecDeque<u64>,
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
                hasher: RandomState::new(),
                stripes: (0..LOCK_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
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
    // Receipts and submissions for one message are serialised on its stripe, so a duplicate
    // arriving during a hook waits and then sees the final state.
    stripes: Box<[tokio::sync::Mutex<()>]>,
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

fn class_name(c: ReceiptClass) -> &'static str {
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

fn part_key(i: usize) -> String {
    format!("{META_PART_PREFIX}{i}.key")
}

fn part_state(i: usize) -> String {
    format!("{META_PART_PREFIX}{i}.state")
}

/// The msgids of a multipart message's parts, from its metadata (empty for a single message).
fn part_keys(msg: &StoredMessage) -> Vec<String> {
    // Most messages are single: no part 0, no formatting of the other keys.
    if !msg.metadata.contains_key(META_PART0_KEY) {
        return Vec::new();
    }
    (0..MAX_PARTS)
        .map_while(|i| msg.metadata.get(&part_key(i)).cloned())
        .collect()
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
        lock(&self.inner.parked).len
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

    fn fingerprint(&self, bucket: &Bucket, key: &MsgId) -> u64 {
        self.inner.hasher.hash_one((bucket, key))
    }

    fn stripe(&self, bucket: &Bucket, key: &MsgId) -> usize {
        (self.fingerprint(bucket, key) % LOCK_STRIPES as u64) as usize
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
                msg.metadata.insert(part_key(i), key.to_string());
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
                Channel::Smpp => hook.smpp_store_submit(&cx, &msg, &bucket, &primary).await,
                Channel::Mm7 => hook.mm7_store_submit(&cx, &msg, &bucket, &primary).await,
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

        {
            let mut stripes: Vec<usize> = keys.iter().map(|k| self.stripe(&bucket, k)).collect();
            stripes.sort_unstable();
            stripes.dedup();
            let mut guards = Vec::with_capacity(stripes.len());
            for s in stripes {
                guards.push(inner.stripes[s].lock().await);
            }
            if let Err(e) = inner
                .store
                .save(&bucket, &primary, &msg, PutMode::Overwrite)
                .await
            {
                bump(&inner.counters.store_errors);
                tracing::warn!(%bucket, msgid = %primary, error = %e, "mstore: saving the submission failed");
                return Err(e.into());
            }
            if keys.len() > 1 {
                let mut copy = msg.clone();
                copy.metadata
                    .insert(META_PRIMARY.to_owned(), primary.to_string());
                for key in &keys[1..] {
                    if let Err(e) = inner
                        .store
                        .save(&bucket, key, &copy, PutMode::Overwrite)
                        .await
                    {
                        bump(&inner.counters.store_errors);
                        tracing::warn!(%bucket, msgid = %key, error = %e, "mstore: saving a part failed");
                        return Err(e.into());
                    }
                }
            }
        }
        bump(&inner.counters.stored);
        tracing::info!(%bucket, msgid = %primary, parts = keys.len(), channel = %msg.channel, "mstore: submission stored");

        let waiting = self.take_parked(&bucket, &keys);
        let mut applied = Vec::with_capacity(waiting.len());
        for p in waiting {
            tracing::info!(%bucket, msgid = %p.key, "mstore: applying a receipt that arrived before its submission");
            applied.push(self.process(p.event, p.key, p.origin).await);
        }
        Ok(SubmitOutcome::Stored {
            bucket,
            msgid: primary,
            applied,
        })
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
        self.process(ev, key, Origin::FRESH).await
    }

    /// Tries every parked receipt again; gives up on those past their window. Call it on a
    /// timer (every few seconds).
    pub async fn retry_parked(&self) -> ParkReport {
        self.retry_parked_outcomes().await.0
    }

    /// As [`retry_parked`](Self::retry_parked), and also what became of every receipt that left
    /// the parking lot (applied, given up, or failed), in the order they were parked, for the
    /// host to act on as it acts on [`on_receipt`](Self::on_receipt)'s answers (a DLR to send,
    /// a message to mark done). Receipts still parked are not listed.
    ///
    /// The host needs them: a receipt taken out of the lot by this call is not in the lot when
    /// its submission is stored meanwhile, so it is applied here (or on the next call) rather
    /// than in that submission's [`SubmitOutcome::Stored`] `applied` list.
    pub async fn retry_parked_outcomes(
        &self,
    ) -> (ParkReport, Vec<Result<ReceiptOutcome, EngineError>>) {
        let all: Vec<Parked> = {
            let mut lot = lock(&self.inner.parked);
            lot.len = 0;
            lot.by_key.drain().flat_map(|(_, v)| v).collect()
        };
        let mut all = all;
        all.sort_by_key(|p| p.origin.seq);
        let mut report = ParkReport::default();
        let mut outcomes = Vec::new();
        for p in all {
            let outcome = self.process(p.event, p.key, p.origin).await;
            match &outcome {
                Ok(ReceiptOutcome::Parked { .. }) => {
                    report.still_parked += 1;
                    continue;
                }
                Ok(ReceiptOutcome::Unmatched {
                    reason: Unmatched::Expired,
                    ..
                }) => report.expired += 1,
                Ok(_) => report.applied += 1,
                Err(_) => report.failed += 1,
            }
            outcomes.push(outcome);
        }
        (report, outcomes)
    }

    fn take_parked(&self, bucket: &Bucket, keys: &[MsgId]) -> Vec<Parked> {
        let mut lot = lock(&self.inner.parked);
        if lot.len == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        for key in keys {
            if let Some(v) = lot.by_key.remove(&(bucket.clone(), key.clone())) {
                lot.len -= v.len();
                out.extend(v);
            }
        }
        out.sort_by_key(|p| p.origin.seq);
        out
    }

    fn park(
        &self,
        ev: ReceiptEvent,
        key: MsgId,
        reason: ParkReason,
        origin: Origin,
    ) -> ReceiptOutcome {
        let inner = &self.inner;
        let bucket = ev.bucket.clone();
        let window = match reason {
            ParkReason::NotYetStored => inner.settings.park_window,
            ParkReason::StoreUnavailable => inner.settings.unavailable_window,
        };
        if let Some(at) = origin.parked_at
            && at.elapsed() >= window
        {
            bump(&inner.counters.unmatched);
            tracing::warn!(%bucket, msgid = %key, state = %ev.state, ?reason, "mstore: receipt matched no stored message within its window; dropped");
            return ReceiptOutcome::Unmatched {
                bucket,
                msgid: key,
                reason: Unmatched::Expired,
            };
        }
        let mut lot = lock(&inner.parked);
        if origin.parked_at.is_none() && lot.len >= inner.settings.max_parked {
            drop(lot);
            bump(&inner.counters.unmatched);
            tracing::warn!(%bucket, msgid = %key, limit = inner.settings.max_parked, "mstore: too many parked receipts; receipt dropped");
            return ReceiptOutcome::Unmatched {
                bucket,
                msgid: key,
                reason: Unmatched::ParkingFull,
            };
        }
        let origin = match origin.parked_at {
            Some(_) => origin,
            None => {
                lot.next_seq += 1;
                bump(&inner.counters.parked);
                tracing::info!(%bucket, msgid = %key, ?reason, "mstore: receipt parked");
                Origin {
                    parked_at: Some(Instant::now()),
                    seq: lot.next_seq,
                }
            }
        };
        lot.len += 1;
        lot.by_key
            .entry((bucket.clone(), key.clone()))
            .or_default()
            .push(Parked {
                event: ev,
                key: key.clone(),
                origin,
            });
        ReceiptOutcome::Parked {
            bucket,
            msgid: key,
            reason,
        }
    }

    fn recently_final(&self, bucket: &Bucket, key: &MsgId) -> bool {
        let fp = self.fingerprint(bucket, key);
        lock(&self.inner.recent).set.contains(&fp)
    }

    fn remember_final<'k>(&self, bucket: &Bucket, keys: impl IntoIterator<Item = &'k MsgId>) {
        let cap = self.inner.settings.recent_finals;
        if cap == 0 {
            return;
        }
        let fps: Vec<u64> = keys
            .into_iter()
            .map(|k| self.fingerprint(bucket, k))
            .collect();
        let mut recent = lock(&self.inner.recent);
        for fp in fps {
            if recent.set.insert(fp) {
                recent.order.push_back(fp);
            }
            while recent.order.len() > cap {
                if let Some(old) = recent.order.pop_front() {
                    recent.set.remove(&old);
                }
            }
        }
    }

    fn hook_failed(&self, hook: &str, bucket: &Bucket, msgid: &MsgId, e: &dyn std::error::Error) {
        bump(&self.inner.counters.hook_errors);
        tracing::warn!(%bucket, %msgid, hook, error = %e, "mstore: hook failed; treated as *_CONTINUE");
    }

    async fn process(
        &self,
        ev: ReceiptEvent,
        key: MsgId,
        origin: Origin,
    ) -> Result<ReceiptOutcome, EngineError> {
        let inner = &self.inner;
        let bucket = ev.bucket.clone();
        let guard = inner.stripes[self.stripe(&bucket, &key)].lock().await;
        let loaded = match inner.store.load(&bucket, &key).await {
            Ok(Some(m)) => m.message,
            Ok(None) => {
                if self.recently_final(&bucket, &key) {
                    bump(&inner.counters.duplicates);
                    tracing::debug!(%bucket, msgid = %key, "mstore: receipt for a finished message; ignored");
                    return Ok(ReceiptOutcome::Duplicate { bucket, msgid: key });
                }
                // Parked while the stripe is held: a submission saving this key waits for it,
                // then finds the receipt in the lot.
                return Ok(self.park(ev, key, ParkReason::NotYetStored, origin));
            }
            Err(e) if e.is_retryable() => {
                bump(&inner.counters.store_errors);
                tracing::warn!(%bucket, msgid = %key, error = %e, "mstore: store unavailable while matching a receipt");
                return Ok(self.park(ev, key, ParkReason::StoreUnavailable, origin));
            }
            Err(e) => {
                bump(&inner.counters.store_errors);
                return Err(e.into());
            }
        };

        let (primary, mut msg, _guard) = match loaded.metadata.get(META_PRIMARY) {
            None => (key.clone(), loaded, guard),
            Some(p) => {
                let primary = MsgId::new(p.clone()).map_err(|e| StoreError::Corrupt {
                    backend: inner.store.backend(),
                    bucket: bucket.to_string(),
                    msgid: key.to_string(),
                    reason: format!("{META_PRIMARY} is not a msgid: {e}"),
                })?;
                drop(guard);
                let guard = inner.stripes[self.stripe(&bucket, &primary)].lock().await;
                match inner.store.load(&bucket, &primary).await {
                    Ok(Some(m)) => (primary, m.message, guard),
                    Ok(None) => {
                        if self.recently_final(&bucket, &primary) {
                            bump(&inner.counters.duplicates);
                            return Ok(ReceiptOutcome::Duplicate { bucket, msgid: key });
                        }
                        bump(&inner.counters.unmatched);
                        tracing::warn!(%bucket, msgid = %key, %primary, "mstore: receipt for a part whose message is gone");
                        return Ok(ReceiptOutcome::Unmatched {
                            bucket,
                            msgid: key,
                            reason: Unmatched::PrimaryMissing,
                        });
                    }
                    Err(e) if e.is_retryable() => {
                        bump(&inner.counters.store_errors);
                        drop(guard);
                        return Ok(self.park(ev, key, ParkReason::StoreUnavailable, origin));
                    }
                    Err(e) => {
                        bump(&inner.counters.store_errors);
                        return Err(e.into());
                    }
                }
            }
        };

        if msg.metadata.contains_key(META_FINAL) {
            bump(&inner.counters.duplicates);
            tracing::debug!(%bucket, msgid = %primary, state = %ev.state, "mstore: duplicate final receipt; ignored");
            return Ok(ReceiptOutcome::Duplicate {
                bucket,
                msgid: primary,
            });
        }

        let parts = part_keys(&msg);
        let (decided, part) = if parts.len() <= 1 {
            let c = (ev.class != ReceiptClass::Intermediate).then_some(ev.class);
            (c, 0)
        } else {
            let part = parts.iter().position(|k| k == key.as_str()).unwrap_or(0);
            if ev.class != ReceiptClass::Intermediate {
                msg.metadata
                    .insert(part_state(part), class_name(ev.class).to_owned());
            }
            let states: Vec<Option<ReceiptClass>> = (0..parts.len())
                .map(|i| {
                    msg.metadata
                        .get(&part_state(i))
                        .and_then(|s| parse_class(s))
                })
                .collect();
            (inner.settings.multipart.decide(&states), part)
        };
        // A delivered single message is normally deleted right after its hook, so its receipt
        // and final state are only written when a hook keeps it (`mark_final_if_kept`);
        // everything else is written now, so the hook sees the receipt and a later duplicate
        // finds the final state.
        let quick_positive = decided == Some(ReceiptClass::Positive) && parts.len() <= 1;
        if !quick_positive {
            msg.record(HistoryEvent::Receipt {
                message_id: ev.message_id.clone(),
                state: ev.state.clone(),
                error: ev.error.clone(),
            });
        }

        let Some(class) = decided else {
            if let Err(e) = inner
                .store
                .save(&bucket, &primary, &msg, PutMode::Overwrite)
                .await
            {
                bump(&inner.counters.store_errors);
                if e.is_retryable() {
                    drop(_guard);
                    return Ok(self.park(ev, key, ParkReason::StoreUnavailable, origin));
                }
                return Err(e.into());
            }
            return Ok(
                if parts.len() > 1 && ev.class != ReceiptClass::Intermediate {
                    tracing::info!(%bucket, msgid = %primary, part, state = %ev.state, "mstore: part receipt recorded; message undecided");
                    ReceiptOutcome::PartRecorded {
                        bucket,
                        msgid: primary,
                        part,
                    }
                } else {
                    tracing::debug!(%bucket, msgid = %primary, state = %ev.state, "mstore: intermediate receipt recorded");
                    ReceiptOutcome::Intermediate {
                        bucket,
                        msgid: primary,
                    }
                },
            );
        };

        if !quick_positive {
            msg.metadata
                .insert(META_FINAL.to_owned(), class_name(class).to_owned());
            if let Err(e) = inner
                .store
                .save(&bucket, &primary, &msg, PutMode::Overwrite)
                .await
            {
                bump(&inner.counters.store_errors);
                if e.is_retryable() {
                    drop(_guard);
                    return Ok(self.park(ev, key, ParkReason::StoreUnavailable, origin));
                }
                return Err(e.into());
            }
        }
        bump(match class {
            ReceiptClass::Positive => &inner.counters.positive,
            _ => &inner.counters.negative,
        });
        tracing::info!(%bucket, msgid = %primary, %class, state = %ev.state, error = ev.error.as_deref().unwrap_or(""), "mstore: final receipt");

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

        let default_action = if took_over {
            tracing::info!(%bucket, msgid = %primary, "mstore: hook took over; default skipped");
            if quick_positive {
                self.mark_final_if_kept(&bucket, &primary, class, &ev).await;
            }
            DefaultAction::Skipped
        } else if class == ReceiptClass::Positive {
            match inner.store.delete(&bucket, &primary).await {
                Ok(existed) => DefaultAction::Deleted(existed),
                Err(e) => {
                    bump(&inner.counters.store_errors);
                    tracing::warn!(%bucket, msgid = %primary, error = %e, "mstore: deleting a delivered message failed; it stays until its retention ends");
                    DefaultAction::Deleted(false)
                }
            }
        } else {
            self.bounce(&msg, &ev, &bucket, &primary).await
        };

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
        self.remember_final(&bucket, std::iter::once(&primary).chain(&copies));

        Ok(ReceiptOutcome::Handled {
            bucket,
            msgid: primary,
            class,
            took_over,
            default_action,
        })
    }

    /// After a hook kept a delivered message: records the receipt and the final state in what
    /// the store holds now (the hook may have changed or deleted it).
    async fn mark_final_if_kept(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
        class: ReceiptClass,
        ev: &ReceiptEvent,
    ) {
        let store = &self.inner.store;
        let result = match store.load(bucket, msgid).await {
            Ok(Some(Versioned {
                message: mut kept, ..
            })) if !kept.metadata.contains_key(META_FINAL) => {
                kept.record(HistoryEvent::Receipt {
                    message_id: ev.message_id.clone(),
                    state: ev.state.clone(),
                    error: ev.error.clone(),
                });
                kept.metadata
                    .insert(META_FINAL.to_owned(), class_name(class).to_owned());
                store
                    .save(bucket, msgid, &kept, PutMode::Overwrite)
                    .await
                    .map(drop)
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            bump(&self.inner.counters.store_errors);
            tracing::warn!(%bucket, %msgid, error = %e, "mstore: could not record the final state of a kept message");
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
                    hook.mm7_handle_dr_positive(cx, &trx, bucket, msgid).await
                } else {
                    hook.mm7_handle_dr_negative(cx, &trx, bucket, msgid).await
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
                hook.smpp_handle_dr_positive(cx, bucket, msgid).await
            } else {
                hook.smpp_handle_dr_negative(cx, bucket, msgid).await
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

/// The DeliveryReportReq an MM7 hook gets for a neutral MM7 receipt that came without one.
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
