//! The policy hooks of the mstore seed (`smpp_store_submit`, `smpp_handle_DR_negative`, …).
//!
//! Implements "SMPP Hook Points" and "MM7 Hook Points" of
//! `seeds/momentum-mstore-retrying-messages.md`: a host implements [`DeliveryHooks`] (every
//! method has a default that does what Momentum does when no hook is registered) and the
//! [`RetryEngine`](crate::retry::RetryEngine) calls it. Each hook gets a [`HookContext`], the
//! seed's Lua API in Rust:
//!
//! | Lua | Rust |
//! | --- | --- |
//! | `msys.mstore.load(bucket, msgid)` | [`HookContext::load`] |
//! | `msys.mstore.save(msg, bucket, msgid)` | [`HookContext::save`] |
//! | `msys.mstore.delete(bucket, msgid)` | [`HookContext::delete`] |
//! | `msys.mstore.inject(msg)` | [`HookContext::inject`] / [`HookMessage::inject_same_route`] |
//! | `msg:inject(from, to)` | [`HookMessage::inject`] / [`HookContext::reroute`] |
//! | `msg:mailfrom()` | [`HookMessage::mailfrom`] |
//!
//! # Several hooks
//!
//! The engine can hold several [`DeliveryHooks`] implementations. They run in the order they
//! were registered, and the first one that answers something other than *continue*
//! (`MSTORE_DONE`, `SMPP_DELIVERED`, `MM7_DELIVERED`) takes over: the hooks after it are not
//! called and the default action is skipped. When every hook answers *continue*, the default
//! action runs. `mm7_handle_DR_positive` is the exception: the seed says its return value is not
//! used, so every registered hook runs and the default (delete) always follows.
//!
//! A hook that returns an error is logged (`tracing` warning) and counted as `hook_errors`, and
//! counts as having answered *continue*: in Momentum a Lua hook that raises returns no value,
//! which is `0`.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::bounce::Dsn;
use crate::config::ScopeContext;
use crate::event::{Counters, ReceiptEvent};
use crate::message::{Bucket, HistoryEvent, MsgId, StoredMessage};
#[cfg(feature = "mm7")]
use crate::mm7::DeliveryReportReq;
use crate::store::{MessageStore, PutMode, StoreError};

/// The answer of `smpp_store_submit` and `mm7_store_submit` (seed: "SMPP Hook Points").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum StoreDecision {
    /// `MSTORE_CONTINUE (0)`: store the message under its bucket and msgid (the default).
    Continue = 0,
    /// `MSTORE_DONE (1)`: skip the default storage (the hook stored it elsewhere, or not at all).
    Done = 1,
}

/// The answer of `smpp_handle_DR_negative` and `smpp_handle_DR_positive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum SmppDrDecision {
    /// `SMPP_CONTINUE (0)`: run the default (a bounce to the original sender on a negative
    /// receipt, deleting the stored message on a positive one).
    Continue = 0,
    /// `SMPP_DELIVERED (3)`: skip the default; the hook took care of the message.
    Delivered = 3,
}

/// The answer of `mm7_handle_DR_negative` and `mm7_handle_DR_positive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Mm7DrDecision {
    /// `MM7_CONTINUE (0)`: run the default (a bounce to the original sender on a negative
    /// report).
    Continue = 0,
    /// `MM7_DELIVERED (3)`: skip the default; the hook took care of the message.
    Delivered = 3,
}

/// `MSTORE_CONTINUE (0)`.
pub const MSTORE_CONTINUE: StoreDecision = StoreDecision::Continue;
/// `MSTORE_DONE (1)`.
pub const MSTORE_DONE: StoreDecision = StoreDecision::Done;
/// `SMPP_CONTINUE (0)`.
pub const SMPP_CONTINUE: SmppDrDecision = SmppDrDecision::Continue;
/// `SMPP_DELIVERED (3)`.
pub const SMPP_DELIVERED: SmppDrDecision = SmppDrDecision::Delivered;
/// `MM7_CONTINUE (0)`.
pub const MM7_CONTINUE: Mm7DrDecision = Mm7DrDecision::Continue;
/// `MM7_DELIVERED (3)`.
pub const MM7_DELIVERED: Mm7DrDecision = Mm7DrDecision::Delivered;

impl StoreDecision {
    /// The seed's number for this answer.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The answer for a number a hook returned: the seed says any non-zero return suppresses
    /// the default storage.
    pub fn from_code(code: i32) -> Self {
        if code == 0 {
            StoreDecision::Continue
        } else {
            StoreDecision::Done
        }
    }

    /// Whether the hook took over (the default is skipped).
    pub fn took_over(self) -> bool {
        self == StoreDecision::Done
    }
}

impl SmppDrDecision {
    /// The seed's number for this answer.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The answer for a number, if it is one of the seed's (`0` or `3`).
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(SmppDrDecision::Continue),
            3 => Some(SmppDrDecision::Delivered),
            _ => None,
        }
    }

    /// Whether the hook took over (the default is skipped).
    pub fn took_over(self) -> bool {
        self == SmppDrDecision::Delivered
    }
}

impl Mm7DrDecision {
    /// The seed's number for this answer.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The answer for a number, if it is one of the seed's (`0` or `3`).
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(Mm7DrDecision::Continue),
            3 => Some(Mm7DrDecision::Delivered),
            _ => None,
        }
    }

    /// Whether the hook took over (the default is skipped).
    pub fn took_over(self) -> bool {
        self == Mm7DrDecision::Delivered
    }
}

macro_rules! seed_names {
    ($ty:ty, $cont:literal, $other:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let name = if self.code() == 0 { $cont } else { $other };
                write!(f, "{name} ({})", self.code())
            }
        }
    };
}
seed_names!(StoreDecision, "MSTORE_CONTINUE", "MSTORE_DONE");
seed_names!(SmppDrDecision, "SMPP_CONTINUE", "SMPP_DELIVERED");
seed_names!(Mm7DrDecision, "MM7_CONTINUE", "MM7_DELIVERED");

/// Why the host's spool refused an injection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    /// A reroute address is not `local@domain`.
    #[error("inject: recipient {address:?} is not an address of the form local@domain")]
    BadAddress {
        /// The refused address.
        address: String,
    },
    /// The host's spool refused or failed; the host's own error is the
    /// [`source`](std::error::Error::source) (a `&str` or `String` converts with `.into()`).
    #[error("inject: the spool refused the message: {0}")]
    Spool(#[source] crate::BoxError),
}

/// Where messages go back into the host's spool: same route, rerouted, or as a bounce.
///
/// The host implements it over its own queue; the library never delivers anything itself.
#[async_trait]
pub trait Injector: Send + Sync + fmt::Debug {
    /// Puts the message back into the spool on its original route (the seed's
    /// `msys.mstore.inject(msg)`).
    async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError>;

    /// Puts the message into the spool from `from` to `to` (the seed's `msg:inject(from, to)`).
    /// The domain of `to` picks the route: an SMPP domain, an MM7 domain or e-mail.
    async fn reroute(&self, msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError>;

    /// Sends a delivery status notification to the original sender.
    async fn inject_bounce(&self, dsn: &Dsn) -> Result<(), InjectError>;
}

/// What a [`RecordingInjector`] was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// `inject(msg)`, same route.
    Same {
        /// The message's recipient.
        rcptto: String,
    },
    /// `reroute(msg, from, to)`.
    Reroute {
        /// The new sender.
        from: String,
        /// The new recipient.
        to: String,
    },
    /// `inject_bounce(dsn)`.
    Bounce(Dsn),
}

/// An [`Injector`] that keeps what it was asked to do in memory, for tests and examples.
#[derive(Debug, Default)]
pub struct RecordingInjector {
    seen: Mutex<Vec<Injection>>,
}

impl RecordingInjector {
    /// An injector with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything injected so far, oldest first.
    pub fn injections(&self) -> Vec<Injection> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, what: Injection) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(what);
    }
}

#[async_trait]
impl Injector for RecordingInjector {
    async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError> {
        self.push(Injection::Same {
            rcptto: msg.envelope.rcptto.clone(),
        });
        Ok(())
    }

    async fn reroute(&self, _msg: &StoredMessage, from: &str, to: &str) -> Result<(), InjectError> {
        self.push(Injection::Reroute {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        Ok(())
    }

    async fn inject_bounce(&self, dsn: &Dsn) -> Result<(), InjectError> {
        self.push(Injection::Bounce(dsn.clone()));
        Ok(())
    }
}

/// What went wrong inside a hook. Hooks use `?` on the context's operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An injection failed.
    #[error(transparent)]
    Inject(#[from] InjectError),
    /// The hook's own error, kept as the [`source`](std::error::Error::source) (a `&str` or
    /// `String` converts with `.into()`).
    #[error("hook: {0}")]
    Other(#[source] crate::BoxError),
}

/// What a hook can do: the seed's Lua API (`msys.mstore.*`, `msg:inject`) over the engine's
/// store and the host's injector.
///
/// The context remembers the messages a hook deleted through [`delete`](Self::delete) (and did
/// not save again), so the engine's default delete after `*_CONTINUE` does not ask the store a
/// second time. A clone starts with nothing remembered: deletes through a clone (or through
/// [`store`](Self::store)) are not seen, and the default then deletes again, finding nothing.
pub struct HookContext {
    store: Arc<dyn MessageStore>,
    injector: Arc<dyn Injector>,
    counters: Arc<Counters>,
    scope: ScopeSource,
    deleted: std::sync::Mutex<Vec<(Bucket, MsgId)>>,
}

impl Clone for HookContext {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            injector: self.injector.clone(),
            counters: self.counters.clone(),
            scope: self.scope.clone(),
            deleted: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// Where a context's scope comes from: its own copy (store hooks), or the receipt being handled
/// (receipt hooks), so the receipt path copies nothing.
#[derive(Clone)]
enum ScopeSource {
    Own(ScopeContext),
    Receipt(Arc<ReceiptEvent>),
}

impl fmt::Debug for HookContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookContext")
            .field("store", &self.store.backend())
            .field("scope", self.scope())
            .finish_non_exhaustive()
    }
}

impl HookContext {
    pub(crate) fn new(
        store: Arc<dyn MessageStore>,
        injector: Arc<dyn Injector>,
        counters: Arc<Counters>,
        scope: ScopeContext,
    ) -> Self {
        Self {
            store,
            injector,
            counters,
            scope: ScopeSource::Own(scope),
            deleted: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn for_receipt(
        store: Arc<dyn MessageStore>,
        injector: Arc<dyn Injector>,
        counters: Arc<Counters>,
        receipt: Arc<ReceiptEvent>,
    ) -> Self {
        Self {
            store,
            injector,
            counters,
            scope: ScopeSource::Receipt(receipt),
            deleted: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The receipt being handled, in the receipt hooks (`None` in the store hooks): its state
    /// (`UNDELIV`, `EXPIRED`, `Rejected`, …), error code and raw text, for policies that depend
    /// on why a message failed. The seed's hooks get only the bucket and msgid; this is extra.
    pub fn receipt(&self) -> Option<&ReceiptEvent> {
        match &self.scope {
            ScopeSource::Receipt(ev) => Some(ev),
            ScopeSource::Own(_) => None,
        }
    }

    /// The scopes the message travelled through (binding, binding group, domain).
    pub fn scope(&self) -> &ScopeContext {
        match &self.scope {
            ScopeSource::Own(scope) => scope,
            ScopeSource::Receipt(ev) => &ev.scope,
        }
    }

    /// The store the engine uses.
    pub fn store(&self) -> &Arc<dyn MessageStore> {
        &self.store
    }

    /// `msys.mstore.load(bucket, msgid)`: the stored message, or `None` when the store knows
    /// there is none.
    pub async fn load(
        &self,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Option<HookMessage<'_>>, StoreError> {
        Ok(self.store.load(bucket, msgid).await?.map(|v| HookMessage {
            cx: self,
            msg: v.message,
        }))
    }

    /// `msys.mstore.save(msg, bucket, msgid)`.
    pub async fn save(
        &self,
        msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<(), StoreError> {
        self.deleted_list()
            .retain(|(b, m)| !(b == bucket && m == msgid));
        self.store
            .save(bucket, msgid, msg, PutMode::Overwrite)
            .await
            .map(drop)
    }

    /// `msys.mstore.delete(bucket, msgid)`; returns whether a message was there.
    pub async fn delete(&self, bucket: &Bucket, msgid: &MsgId) -> Result<bool, StoreError> {
        let existed = self.store.delete(bucket, msgid).await?;
        let mut deleted = self.deleted_list();
        if !deleted.iter().any(|(b, m)| b == bucket && m == msgid) {
            deleted.push((bucket.clone(), msgid.clone()));
        }
        Ok(existed)
    }

    /// Whether a hook deleted `bucket`/`msgid` through this context and did not save it again.
    pub(crate) fn hook_deleted(&self, bucket: &Bucket, msgid: &MsgId) -> bool {
        self.deleted_list()
            .iter()
            .any(|(b, m)| b == bucket && m == msgid)
    }

    fn deleted_list(&self) -> std::sync::MutexGuard<'_, Vec<(Bucket, MsgId)>> {
        // Each critical section is one vector operation: a poisoned lock is still consistent.
        self.deleted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `msys.mstore.inject(msg)`: back into the spool on the same route.
    pub async fn inject(&self, msg: &StoredMessage) -> Result<(), InjectError> {
        self.injector.inject(msg).await?;
        self.counters.bump_injected();
        tracing::info!(rcpt = %msg.envelope.rcptto, "mstore: message injected on its original route");
        Ok(())
    }

    /// `msg:inject(from, to)`: into the spool to another address or domain (SMPP, MM7 or
    /// e-mail, by the domain of `to`).
    pub async fn reroute(
        &self,
        msg: &StoredMessage,
        from: &str,
        to: &str,
    ) -> Result<(), InjectError> {
        if !is_address(to) {
            return Err(InjectError::BadAddress {
                address: to.to_owned(),
            });
        }
        self.injector.reroute(msg, from, to).await?;
        self.counters.bump_rerouted();
        tracing::info!(%from, %to, original = %msg.envelope.rcptto, "mstore: message rerouted");
        Ok(())
    }
}

/// Whether `to` is `local@domain` with both parts non-empty and no blanks or control
/// characters (anything else cannot be routed).
pub(crate) fn is_address(to: &str) -> bool {
    match to.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !to.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// A message loaded through a [`HookContext`]: the stored message plus the seed's message
/// methods (`msg:mailfrom()`, `msg:inject(from, to)`).
#[derive(Debug)]
pub struct HookMessage<'a> {
    cx: &'a HookContext,
    msg: StoredMessage,
}

impl HookMessage<'_> {
    /// `msg:mailfrom()`: the original sender.
    pub fn mailfrom(&self) -> &str {
        &self.msg.envelope.mailfrom
    }

    /// `msg:inject(from, to)`: reroute the message.
    pub async fn inject(&self, from: &str, to: &str) -> Result<(), InjectError> {
        self.cx.reroute(&self.msg, from, to).await
    }

    /// `msys.mstore.inject(msg)`: back into the spool on the same route.
    pub async fn inject_same_route(&self) -> Result<(), InjectError> {
        self.cx.inject(&self.msg).await
    }

    /// The stored message, to keep or change it.
    pub fn into_inner(self) -> StoredMessage {
        self.msg
    }

    /// Records an event in the loaded copy's history (save it to keep it).
    pub fn record(&mut self, event: HistoryEvent) {
        self.msg.record(event);
    }
}

impl Deref for HookMessage<'_> {
    type Target = StoredMessage;
    fn deref(&self) -> &StoredMessage {
        &self.msg
    }
}

/// The host's policy: the six hook points of the mstore seed.
///
/// Every method has a default that does what Momentum does when no hook is registered:
/// the store hooks answer `MSTORE_CONTINUE` (store the message), the receipt hooks answer
/// `*_CONTINUE` (bounce on negative, delete on positive). See the module documentation for how
/// several implementations combine.
#[async_trait]
pub trait DeliveryHooks: Send + Sync {
    /// `smpp_store_submit(msg, bucket, msgid)`: called after a successful SMPP submission
    /// (`submit_sm_resp` with `ESME_ROK`) whose scope requests receipts, before it is stored.
    /// `MSTORE_DONE` suppresses the default storage.
    async fn smpp_store_submit(
        &self,
        cx: &HookContext,
        msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        let _ = (cx, msg, bucket, msgid);
        Ok(MSTORE_CONTINUE)
    }

    /// `smpp_handle_DR_negative(bucket, msgid)`: a receipt says the message failed finally.
    /// `SMPP_CONTINUE` lets the default bounce go to the original sender; `SMPP_DELIVERED`
    /// suppresses it.
    async fn smpp_handle_dr_negative(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        let _ = (cx, bucket, msgid);
        Ok(SMPP_CONTINUE)
    }

    /// `smpp_handle_DR_positive(bucket, msgid)`: a receipt says the message was delivered.
    /// `SMPP_CONTINUE` lets the default delete the stored message; `SMPP_DELIVERED` keeps it.
    async fn smpp_handle_dr_positive(
        &self,
        cx: &HookContext,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<SmppDrDecision, HookError> {
        let _ = (cx, bucket, msgid);
        Ok(SMPP_CONTINUE)
    }

    /// `mm7_store_submit_hook(msg, bucket, msgid)`: called after a successful MM7 SubmitReq
    /// (SubmitRsp status 1xxx) whose scope requests delivery reports, before it is stored.
    /// `MSTORE_DONE` suppresses the default storage.
    async fn mm7_store_submit(
        &self,
        cx: &HookContext,
        msg: &StoredMessage,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<StoreDecision, HookError> {
        let _ = (cx, msg, bucket, msgid);
        Ok(MSTORE_CONTINUE)
    }

    /// `mm7_handle_DR_negative(mm7_trx, bucket, msgid)`: a DeliveryReportReq says the
    /// submission failed (MMStatus `Expired`, `Rejected`, `Unrecognised`,
    /// `DeliveryConditionNotMet`). Runs before the DeliveryReportRsp is built and before the
    /// bounce. `MM7_CONTINUE` lets the default bounce go to the original sender;
    /// `MM7_DELIVERED` suppresses it.
    #[cfg(feature = "mm7")]
    async fn mm7_handle_dr_negative(
        &self,
        cx: &HookContext,
        trx: &DeliveryReportReq,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        let _ = (cx, trx, bucket, msgid);
        Ok(MM7_CONTINUE)
    }

    /// `mm7_handle_DR_positive(mm7_trx, bucket, msgid)`: a DeliveryReportReq says the message
    /// was retrieved. The seed says its return value is not used: every registered hook runs
    /// and the default (deleting the stored message) follows whatever they answer.
    #[cfg(feature = "mm7")]
    async fn mm7_handle_dr_positive(
        &self,
        cx: &HookContext,
        trx: &DeliveryReportReq,
        bucket: &Bucket,
        msgid: &MsgId,
    ) -> Result<Mm7DrDecision, HookError> {
        let _ = (cx, trx, bucket, msgid);
        Ok(MM7_CONTINUE)
    }
}
