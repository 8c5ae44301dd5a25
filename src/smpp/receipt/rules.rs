//! Which receipts are positive, negative or intermediate.

use super::{DeliveryReceipt, MessageState};
use crate::receipt_class::ReceiptClass;

/// How receipts are classified into [`ReceiptClass`] — what decides whether mstore deletes the
/// stored message (positive), bounces or reroutes it (negative), or keeps waiting
/// (intermediate).
///
/// The default follows SMPP 3.4 Appendix B: `DELIVRD` is positive; `EXPIRED`, `DELETED`,
/// `UNDELIV`, `REJECTD`, `UNKNOWN` (and SMPP 5.0's `SKIPPED`) are negative; `ENROUTE`,
/// `ACCEPTD` (and `SCHEDULED`) are intermediate. A `stat:` word the spec does not define is
/// looked up among the words added with [`with_stat`](Self::with_stat), then gets the fallback
/// (negative unless changed), so an SMSC's private word never leaves a message waiting forever
/// unless configured to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRules {
    by_state: [ReceiptClass; 10],
    by_stat: Vec<(String, ReceiptClass)>,
    other_state: ReceiptClass,
    fallback: ReceiptClass,
}

impl Default for ReceiptRules {
    fn default() -> Self {
        use ReceiptClass::{Intermediate, Negative, Positive};
        // Indexed by MessageState::code().
        ReceiptRules {
            by_state: [
                Intermediate, // SCHEDULED
                Intermediate, // ENROUTE
                Positive,     // DELIVRD
                Negative,     // EXPIRED
                Negative,     // DELETED
                Negative,     // UNDELIV
                Intermediate, // ACCEPTD
                Negative,     // UNKNOWN
                Negative,     // REJECTD
                Negative,     // SKIPPED
            ],
            by_stat: Vec::new(),
            other_state: Negative,
            fallback: Negative,
        }
    }
}

impl ReceiptRules {
    /// Sets the class of one state (e.g. `ACCEPTD` positive for an SMSC that uses it that way).
    pub fn with_state(mut self, state: MessageState, class: ReceiptClass) -> Self {
        match self.by_state.get_mut(usize::from(state.code())) {
            Some(slot) if !matches!(state, MessageState::Other(_)) => *slot = class,
            _ => self.other_state = class,
        }
        self
    }

    /// Sets the class of a `stat:` word the spec does not define (case-insensitive), such as an
    /// SMSC's `FAILED`.
    pub fn with_stat(mut self, word: impl Into<String>, class: ReceiptClass) -> Self {
        let word = word.into();
        self.by_stat.retain(|(w, _)| !w.eq_ignore_ascii_case(&word));
        self.by_stat.push((word, class));
        self
    }

    /// Sets the class of receipts whose state is not known at all.
    pub fn with_fallback(mut self, class: ReceiptClass) -> Self {
        self.fallback = class;
        self
    }

    /// The class of a state.
    pub fn classify_state(&self, state: MessageState) -> ReceiptClass {
        match state {
            MessageState::Other(_) => self.other_state,
            known => self
                .by_state
                .get(usize::from(known.code()))
                .copied()
                .unwrap_or(self.other_state),
        }
    }

    /// The class of a receipt: by its state (from the `message_state` TLV or a spec word), else
    /// by its `stat:` word, else the fallback.
    pub fn classify(&self, receipt: &DeliveryReceipt) -> ReceiptClass {
        if let Some(state) = receipt.state {
            return self.classify_state(state);
        }
        self.by_stat
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(&receipt.stat))
            .map(|(_, class)| *class)
            .unwrap_or(self.fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_issue() {
        let rules = ReceiptRules::default();
        use MessageState::*;
        assert_eq!(rules.classify_state(Delivered), ReceiptClass::Positive);
        for s in [Expired, Deleted, Undeliverable, Rejected, Unknown] {
            assert_eq!(rules.classify_state(s), ReceiptClass::Negative, "{s}");
        }
        for s in [Enroute, Accepted] {
            assert_eq!(rules.classify_state(s), ReceiptClass::Intermediate, "{s}");
        }
        assert_eq!(rules.classify_state(Other(42)), ReceiptClass::Negative);
    }

    #[test]
    fn configurable() {
        let rules = ReceiptRules::default()
            .with_state(MessageState::Accepted, ReceiptClass::Positive)
            .with_stat("QUEUED", ReceiptClass::Intermediate)
            .with_fallback(ReceiptClass::Intermediate);
        assert_eq!(
            rules.classify_state(MessageState::Accepted),
            ReceiptClass::Positive
        );
        let queued = DeliveryReceipt::parse(b"id:1 stat:queued");
        assert_eq!(
            queued.map(|r| rules.classify(&r)),
            Ok(ReceiptClass::Intermediate)
        );
        let odd = DeliveryReceipt::parse(b"id:1 stat:WHATEVER");
        assert_eq!(
            odd.map(|r| rules.classify(&r)),
            Ok(ReceiptClass::Intermediate)
        );
        let odd = DeliveryReceipt::parse(b"id:1 stat:WHATEVER");
        assert_eq!(
            odd.map(|r| ReceiptRules::default().classify(&r)),
            Ok(ReceiptClass::Negative)
        );
    }
}
