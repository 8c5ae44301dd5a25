//! What a delivery receipt says about a submission: [`ReceiptClass`].
//!
//! A leaf module: the codecs (SMPP `stat:` / `message_state`, MM7 `MMStatus`) classify into it
//! and the stored-message, event and retry modules read it, so it depends on none of them. It
//! is also re-exported as `redeliver::message::ReceiptClass`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a delivery receipt or report says about a submission.
///
/// SMPP receipts (`stat:` / `message_state`) and MM7 DeliveryReportReq `MMStatus` values both
/// map onto it; the retry engine runs the `*_handle_DR_positive` hook for [`Positive`],
/// `*_handle_DR_negative` for [`Negative`], and neither for [`Intermediate`].
///
/// [`Positive`]: ReceiptClass::Positive
/// [`Negative`]: ReceiptClass::Negative
/// [`Intermediate`]: ReceiptClass::Intermediate
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptClass {
    /// Delivered (SMPP `DELIVRD`, MM7 `Retrieved`).
    Positive,
    /// Final failure (SMPP `UNDELIV`, `EXPIRED`, …; MM7 `Expired`, `Rejected`, …).
    Negative,
    /// Not final yet (SMPP `ENROUTE`, `ACCEPTD`; MM7 `Forwarded`, `Deferred`, …).
    Intermediate,
}

impl fmt::Display for ReceiptClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReceiptClass::Positive => "positive",
            ReceiptClass::Negative => "negative",
            ReceiptClass::Intermediate => "intermediate",
        })
    }
}
