//! The DLR thrower: Jasmin-compatible delivery receipts to the application's `dlr-url`
//! (seed `jasmin-receiving-dlr.rst`).
//!
//! A [`Dlr`] is the level-1, -2 or -3 receipt with the parameters Jasmin 0.11 sends, in its
//! order; [`Dlr::level1_from_submit_sm_resp`] and [`Dlr::level2_from_receipt`] build it from the
//! crate's SMPP types. A [`DlrThrower`] takes it and delivers it at least once: [`HttpDlrThrower`] sends it
//! with GET or POST, counts it acknowledged when the receiver answers `200` and `ACK/Jasmin`
//! ([`AckRule`]), otherwise sends it again after `retry_delay`, up to `max_retries` times, and
//! reports every DLR's end as a [`DlrOutcome`]. With a queue path it keeps each DLR, its attempt
//! count and next-attempt time on disk, so a crash neither loses DLRs nor resets their budget.
//! The thrower reaches its queue through the [`DlrQueue`] trait; with the `dlr-amqp` feature,
//! `AmqpDlrQueue` keeps the queue in RabbitMQ instead, shared by several thrower nodes (its
//! module documentation shows the topology it declares).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use redeliver::dlr::{Dlr, DlrMethod, DlrThrower, DlrThrowerConfig, HttpDlrThrower};
//!
//! let thrower = HttpDlrThrower::builder(DlrThrowerConfig::default())
//!     .queue("/var/lib/gateway/dlr.redb")
//!     .on_outcome(|outcome| tracing::info!(?outcome, "DLR done"))
//!     .build()
//!     .await?;
//! let url = "http://app.example/dlr".parse()?;
//! thrower.throw(Dlr::level1(url, DlrMethod::Post, "msg-1", "ESME_ROK", "smsc-a")).await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "dlr-amqp")]
mod amqp;
mod config;
mod http;
mod outcome;
mod policy;
mod queue;
mod value;

#[cfg(feature = "dlr-amqp")]
pub use amqp::{AmqpConfigError, AmqpDlrQueue, AmqpQueueConfig};
pub use config::{AckRule, Backoff, DlrConfigError, DlrThrowerConfig, JasminCfgNotes};
pub use http::{BuildError, HttpDlrThrower, HttpDlrThrowerBuilder};
pub use outcome::{AttemptError, DlrOutcome, OutcomeSink, log_outcome};
pub use policy::{DestinationPolicy, DestinationRefused, IpRange, IpRangeError};
pub use queue::{AfterFinish, DlrQueue, Leased, QueueError, RetryPlace, Ticket};
pub use value::{Dlr, DlrLevel, DlrMethod, ReceiptParams, TEXT_CHARS, encode_form, truncate_text};

/// Something that delivers DLRs to their `dlr-url` (Jasmin's DLRThrower service).
///
/// `throw` returns once the DLR is accepted (and, for a durable thrower, persisted); delivery
/// happens afterwards on the host's tokio runtime and ends in a [`DlrOutcome`].
#[async_trait::async_trait]
pub trait DlrThrower: Send + Sync {
    /// Accepts `dlr` for delivery. Must be called within a tokio runtime: delivery is spawned
    /// onto it. A durable thrower that is dropped mid-call may already have persisted the DLR;
    /// it is then sent after the next restart (at least once, never lost).
    async fn throw(&self, dlr: Dlr) -> Result<(), ThrowError>;
}

/// Why a DLR was not accepted by [`DlrThrower::throw`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThrowError {
    /// The `dlr-url` is not `http` or `https`, or has no host.
    #[error("DLR {id}: dlr-url {url} is not an http(s) URL with a host")]
    UnsupportedUrl {
        /// The DLR's `id`.
        id: String,
        /// The URL.
        url: String,
    },
    /// The `dlr-url` names an address the destination policy refuses.
    #[error("DLR {id}: {source}")]
    Refused {
        /// The DLR's `id`.
        id: String,
        /// The refusal.
        source: DestinationRefused,
    },
    /// The thrower is shutting down ([`HttpDlrThrower::shutdown`]); the DLR was not taken.
    #[error("DLR {id}: the DLR thrower is shutting down")]
    ShutDown {
        /// The DLR's `id`.
        id: String,
    },
    /// The durable queue could not persist the DLR.
    #[error("DLR {id}: {source}")]
    Queue {
        /// The DLR's `id`.
        id: String,
        /// The queue's error.
        source: QueueError,
    },
}
