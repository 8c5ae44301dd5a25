//! What the engine's layers share: the protocol-neutral receipt and the engine's counters.
//!
//! Both sit below the hooks and the engine, so [`hooks`](crate::hooks) depends only on
//! modules beneath it; [`retry`](crate::retry) re-exports them under their usual paths.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::ScopeContext;
use crate::message::{Bucket, Channel, ReceiptClass};
#[cfg(feature = "mm7")]
use crate::mm7::DeliveryReportReq;
use crate::smpp::receipt::DeliveryReceipt;

/// A delivery receipt or report, protocol-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptEvent {
    /// SMPP or MM7.
    pub channel: Channel,
    /// The scopes the receipt came through (its binding, at least).
    pub scope: ScopeContext,
    /// The bucket of the original submission (see [`RetryEngine::bucket_for`](crate::retry::RetryEngine::bucket_for)).
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
    /// For SMPP: the receipt as read from the `deliver_sm` / `data_sm` (set by
    /// [`RetryEngine::on_smpp_receipt`](crate::retry::RetryEngine::on_smpp_receipt) and the PDU adapters), so a host builds its DLR from
    /// the outcome without reading the PDU again. A receipt applied out of parking has it
    /// read again from `raw`.
    pub smpp: Option<Arc<DeliveryReceipt>>,
    /// For MM7: the decoded DeliveryReportReq, handed to the `mm7_handle_DR_*` hooks as
    /// `trx`. When it is `None` on an MM7 event, the hooks get a report built from the event
    /// (`MessageID`, `MMStatus` from `state`, `StatusText` from `error`, `Sender` from the
    /// bucket's shortcode, `Recipient` from the stored message).
    #[cfg(feature = "mm7")]
    pub mm7_report: Option<Arc<DeliveryReportReq>>,
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
    /// Submissions (or parts) not stored because a different message holds their msgid.
    pub collisions: u64,
    /// Conditional writes lost to another writer (then decided again).
    pub conflicts: u64,
}

/// One engine counter: the number the snapshot reads, and the same count through the `metrics`
/// facade (see [`crate::telemetry`]).
#[derive(Debug)]
pub(crate) struct Counter {
    value: AtomicU64,
    metric: metrics::Counter,
}

impl Counter {
    fn new(metric: metrics::Counter) -> Self {
        Self {
            value: AtomicU64::new(0),
            metric,
        }
    }

    fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

macro_rules! counters {
    ($($name:ident => $metric:ident $(, $key:literal = $value:literal)?;)*) => {
        /// The engine's live counters; read them through [`CounterSnapshot`].
        #[derive(Debug)]
        pub(crate) struct Counters {
            $(pub(crate) $name: Counter,)*
        }

        impl Default for Counters {
            /// Counters at zero, registered with the `metrics` recorder installed now.
            fn default() -> Self {
                Self {
                    $($name: Counter::new(
                        metrics::counter!(crate::telemetry::$metric $(, $key => $value)?),
                    ),)*
                }
            }
        }

        impl Counters {
            /// A copy of every counter.
            pub fn snapshot(&self) -> CounterSnapshot {
                CounterSnapshot {
                    $($name: self.$name.get(),)*
                }
            }
        }
    };
}
counters!(
    stored => ENGINE_SUBMISSIONS, "outcome" = "stored";
    store_skipped => ENGINE_SUBMISSIONS, "outcome" = "not_saved";
    not_tracked => ENGINE_SUBMISSIONS, "outcome" = "not_tracked";
    collisions => ENGINE_SUBMISSIONS, "outcome" = "collision";
    positive => ENGINE_RECEIPTS, "class" = "positive";
    negative => ENGINE_RECEIPTS, "class" = "negative";
    intermediate => ENGINE_RECEIPTS, "class" = "intermediate";
    unmatched => ENGINE_RECEIPTS, "class" = "unmatched";
    duplicates => ENGINE_RECEIPTS, "class" = "duplicate";
    parked => ENGINE_PARKED;
    rerouted => ENGINE_INJECTIONS, "kind" = "reroute";
    injected => ENGINE_INJECTIONS, "kind" = "same_route";
    bounced => ENGINE_INJECTIONS, "kind" = "bounce";
    hook_errors => ENGINE_ERRORS, "kind" = "hook";
    store_errors => ENGINE_ERRORS, "kind" = "store";
    conflicts => ENGINE_CONFLICTS;
);

pub(crate) fn bump(c: &Counter) {
    c.value.fetch_add(1, Ordering::Relaxed);
    c.metric.increment(1);
}

impl Counters {
    pub(crate) fn bump_rerouted(&self) {
        bump(&self.rerouted);
    }
    pub(crate) fn bump_injected(&self) {
        bump(&self.injected);
    }
}
