//! How each DLR ended, reported to the host so that nothing is dropped silently.

use std::sync::Arc;
use std::time::Duration;

use super::value::Dlr;

/// Why one attempt did not deliver a DLR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttemptError {
    /// The receiver answered with a status the ack rule does not accept (a redirect included:
    /// redirects are not followed).
    #[error("HTTP status {status} (body {body:?})")]
    Status {
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The status was right but the body was not the acknowledgement.
    #[error("HTTP status {status} but the body {body:?} is not the acknowledgement")]
    NotAcknowledged {
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The whole exchange took longer than `timeout`.
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
    /// No connection could be made (refused, unreachable, DNS failure).
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connection failed after it was made (reset, closed mid-response, bad HTTP).
    #[error("transport failed: {0}")]
    Transport(String),
    /// The destination policy refused every address of the `dlr-url`'s host.
    #[error("{0}")]
    Destination(String),
    /// The process stopped during the last permitted attempt, so whether it was acknowledged is
    /// unknown (durable queue only); its budget is spent.
    #[error("interrupted by a restart during the last permitted attempt")]
    Interrupted,
    /// The thrower's own work for this DLR panicked (a bug); the DLR is ended rather than
    /// retried, since the same panic would most likely come back.
    #[error("the DLR's work panicked: {0}")]
    Panicked(String),
}

/// The end of one DLR: acknowledged, or given up with the last error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DlrOutcome {
    /// The receiver acknowledged it on attempt number `attempts`.
    Acknowledged {
        /// The DLR.
        dlr: Dlr,
        /// Attempts made, the acknowledged one included (counted across restarts).
        attempts: u32,
    },
    /// Its attempts ran out (`1 + max_retries`), or a failure retrying cannot fix ended it early.
    Exhausted {
        /// The DLR.
        dlr: Dlr,
        /// Attempts made (counted across restarts).
        attempts: u32,
        /// Why the last attempt failed.
        last_error: AttemptError,
    },
}

impl DlrOutcome {
    /// The DLR this outcome is about.
    pub fn dlr(&self) -> &Dlr {
        match self {
            Self::Acknowledged { dlr, .. } | Self::Exhausted { dlr, .. } => dlr,
        }
    }

    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Acknowledged { attempts, .. } | Self::Exhausted { attempts, .. } => *attempts,
        }
    }

    /// Whether the receiver acknowledged the DLR.
    pub fn is_acknowledged(&self) -> bool {
        matches!(self, Self::Acknowledged { .. })
    }
}

/// Where outcomes go: called once per DLR, from the thrower's tasks, so it should be quick
/// (hand the outcome to a channel or a dead-letter store rather than do I/O in it).
pub type OutcomeSink = Arc<dyn Fn(DlrOutcome) + Send + Sync>;

/// The sink used when the host sets none: acknowledged DLRs at `debug`, exhausted ones at `warn`.
pub fn log_outcome(outcome: DlrOutcome) {
    match &outcome {
        DlrOutcome::Acknowledged { dlr, attempts } => {
            tracing::debug!(id = %dlr.id, url = %dlr.url, attempts, "DLR acknowledged")
        }
        DlrOutcome::Exhausted {
            dlr,
            attempts,
            last_error,
        } => tracing::warn!(
            id = %dlr.id, url = %dlr.url, attempts, error = %last_error,
            "DLR given up"
        ),
    }
}
