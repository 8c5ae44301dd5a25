//! `MMStatus`: what a delivery report or a read reply says happened to the message
//! (3GPP TS 23.140 §8.4.2, §8.5.2), and how the retry engine classifies it.

use std::fmt;

use crate::receipt_class::ReceiptClass;

/// The `MMStatus` of a `DeliveryReportReq` (3GPP TS 23.140 §8.4.2, schema type
/// `mmDeliveryStatusType`).
///
/// A value outside the enumeration is kept verbatim as [`MmStatus::Other`] and named in the
/// message's warnings; it is never mapped onto a known value. The one exception is the spelling
/// `Unrecognized`, which some relays send for `Unrecognised`: it decodes as
/// [`MmStatus::Unrecognised`] and the decoder records a warning saying so.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MmStatus {
    /// The message expired before it could be delivered.
    Expired,
    /// The recipient retrieved the message.
    Retrieved,
    /// The recipient or its relay rejected the message.
    Rejected,
    /// The delivery state cannot be determined.
    Indeterminate,
    /// The recipient forwarded the message without retrieving it.
    Forwarded,
    /// The recipient's relay did not recognise the message.
    Unrecognised,
    /// The recipient deferred retrieval.
    Deferred,
    /// The delivery condition of the request was not met.
    DeliveryConditionNotMet,
    /// A value outside the enumeration, as received.
    Other(String),
}

impl MmStatus {
    /// The status for a wire value. Returns the status and whether the value was accepted only
    /// leniently (the `Unrecognized` spelling, or a value outside the enumeration), so that the
    /// decoder can name it in its warnings.
    pub fn parse(value: &str) -> (Self, bool) {
        let status = match value {
            "Expired" => MmStatus::Expired,
            "Retrieved" => MmStatus::Retrieved,
            "Rejected" => MmStatus::Rejected,
            "Indeterminate" => MmStatus::Indeterminate,
            "Forwarded" => MmStatus::Forwarded,
            "Unrecognised" => MmStatus::Unrecognised,
            "Deferred" => MmStatus::Deferred,
            "DeliveryConditionNotMet" => MmStatus::DeliveryConditionNotMet,
            "Unrecognized" => return (MmStatus::Unrecognised, true),
            other => return (MmStatus::Other(other.to_owned()), true),
        };
        (status, false)
    }

    /// The wire value (the schema's spelling; `Other` as received).
    pub fn as_str(&self) -> &str {
        match self {
            MmStatus::Expired => "Expired",
            MmStatus::Retrieved => "Retrieved",
            MmStatus::Rejected => "Rejected",
            MmStatus::Indeterminate => "Indeterminate",
            MmStatus::Forwarded => "Forwarded",
            MmStatus::Unrecognised => "Unrecognised",
            MmStatus::Deferred => "Deferred",
            MmStatus::DeliveryConditionNotMet => "DeliveryConditionNotMet",
            MmStatus::Other(s) => s,
        }
    }

    /// How the mstore seed classifies the report: `Expired`, `Rejected`, `Unrecognised` and
    /// `DeliveryConditionNotMet` are negative (they run `mm7_handle_DR_negative`), `Retrieved`
    /// is positive (`mm7_handle_DR_positive`), and `Forwarded`, `Deferred`, `Indeterminate` are
    /// intermediate.
    ///
    /// A value outside the enumeration is intermediate: the message is neither bounced nor
    /// deleted on a word the crate does not understand, so it stays in the store.
    pub fn class(&self) -> ReceiptClass {
        match self {
            MmStatus::Expired
            | MmStatus::Rejected
            | MmStatus::Unrecognised
            | MmStatus::DeliveryConditionNotMet => ReceiptClass::Negative,
            MmStatus::Retrieved => ReceiptClass::Positive,
            MmStatus::Forwarded
            | MmStatus::Deferred
            | MmStatus::Indeterminate
            | MmStatus::Other(_) => ReceiptClass::Intermediate,
        }
    }
}

impl fmt::Display for MmStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `MMStatus` of a `ReadReplyReq` (3GPP TS 23.140 §8.5.2, schema type `mmReadStatusType`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadStatus {
    /// The recipient read the message.
    Read,
    /// The recipient deleted the message without reading it.
    Deleted,
    /// The read state cannot be determined.
    Indeterminate,
    /// A value outside the enumeration, as received (named in the warnings).
    Other(String),
}

impl ReadStatus {
    /// The status for a wire value, and whether it was outside the enumeration.
    pub fn parse(value: &str) -> (Self, bool) {
        match value {
            "Read" => (ReadStatus::Read, false),
            "Deleted" => (ReadStatus::Deleted, false),
            "Indeterminate" => (ReadStatus::Indeterminate, false),
            other => (ReadStatus::Other(other.to_owned()), true),
        }
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            ReadStatus::Read => "Read",
            ReadStatus::Deleted => "Deleted",
            ReadStatus::Indeterminate => "Indeterminate",
            ReadStatus::Other(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_seed() {
        for s in [
            "Expired",
            "Rejected",
            "Unrecognised",
            "DeliveryConditionNotMet",
        ] {
            assert_eq!(MmStatus::parse(s).0.class(), ReceiptClass::Negative, "{s}");
        }
        assert_eq!(
            MmStatus::parse("Retrieved").0.class(),
            ReceiptClass::Positive
        );
        for s in ["Forwarded", "Deferred", "Indeterminate"] {
            assert_eq!(
                MmStatus::parse(s).0.class(),
                ReceiptClass::Intermediate,
                "{s}"
            );
        }
    }

    #[test]
    fn us_spelling_is_negative_but_flagged() {
        let (status, lenient) = MmStatus::parse("Unrecognized");
        assert_eq!(status, MmStatus::Unrecognised);
        assert!(lenient);
        assert_eq!(status.class(), ReceiptClass::Negative);
    }

    #[test]
    fn unknown_values_are_kept_verbatim() {
        let (status, lenient) = MmStatus::parse("retrieved");
        assert_eq!(status, MmStatus::Other("retrieved".into()));
        assert!(lenient);
        assert_eq!(status.as_str(), "retrieved");
        assert_eq!(status.class(), ReceiptClass::Intermediate);
    }
}
