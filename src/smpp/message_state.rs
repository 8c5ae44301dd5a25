//! The message states of SMPP 3.4 §5.2.28 and the `stat:` words of Appendix B.

use std::fmt;

/// A short message's state: the `message_state` TLV / query_sm_resp field (SMPP 3.4 §5.2.28,
/// with SMPP 5.0's `SCHEDULED` and `SKIPPED`) and the `stat:` word of a receipt text
/// (SMPP 3.4 Appendix B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// 0 (SMPP 5.0): scheduled for later delivery. Receipt text `SCHEDULED`.
    Scheduled,
    /// 1: in transit. Receipt text `ENROUTE`.
    Enroute,
    /// 2: delivered. Receipt text `DELIVRD`.
    Delivered,
    /// 3: validity period expired. Receipt text `EXPIRED`.
    Expired,
    /// 4: deleted. Receipt text `DELETED`.
    Deleted,
    /// 5: undeliverable. Receipt text `UNDELIV`.
    Undeliverable,
    /// 6: accepted (read on behalf of the subscriber by customer service). Receipt text `ACCEPTD`.
    Accepted,
    /// 7: invalid or unknown state. Receipt text `UNKNOWN`.
    Unknown,
    /// 8: rejected. Receipt text `REJECTD`.
    Rejected,
    /// 9 (SMPP 5.0): skipped. Receipt text `SKIPPED`.
    Skipped,
    /// Any other `message_state` value, kept so it can be re-encoded.
    Other(u8),
}

impl MessageState {
    /// The named states, in code order.
    pub const ALL: [MessageState; 10] = [
        MessageState::Scheduled,
        MessageState::Enroute,
        MessageState::Delivered,
        MessageState::Expired,
        MessageState::Deleted,
        MessageState::Undeliverable,
        MessageState::Accepted,
        MessageState::Unknown,
        MessageState::Rejected,
        MessageState::Skipped,
    ];

    /// The state for a `message_state` value.
    pub const fn from_code(code: u8) -> MessageState {
        match code {
            0 => MessageState::Scheduled,
            1 => MessageState::Enroute,
            2 => MessageState::Delivered,
            3 => MessageState::Expired,
            4 => MessageState::Deleted,
            5 => MessageState::Undeliverable,
            6 => MessageState::Accepted,
            7 => MessageState::Unknown,
            8 => MessageState::Rejected,
            9 => MessageState::Skipped,
            other => MessageState::Other(other),
        }
    }

    /// The `message_state` value.
    pub const fn code(self) -> u8 {
        match self {
            MessageState::Scheduled => 0,
            MessageState::Enroute => 1,
            MessageState::Delivered => 2,
            MessageState::Expired => 3,
            MessageState::Deleted => 4,
            MessageState::Undeliverable => 5,
            MessageState::Accepted => 6,
            MessageState::Unknown => 7,
            MessageState::Rejected => 8,
            MessageState::Skipped => 9,
            MessageState::Other(code) => code,
        }
    }

    /// The receipt-text word (`DELIVRD`), or `None` for [`MessageState::Other`].
    pub const fn stat(self) -> Option<&'static str> {
        Some(match self {
            MessageState::Scheduled => "SCHEDULED",
            MessageState::Enroute => "ENROUTE",
            MessageState::Delivered => "DELIVRD",
            MessageState::Expired => "EXPIRED",
            MessageState::Deleted => "DELETED",
            MessageState::Undeliverable => "UNDELIV",
            MessageState::Accepted => "ACCEPTD",
            MessageState::Unknown => "UNKNOWN",
            MessageState::Rejected => "REJECTD",
            MessageState::Skipped => "SKIPPED",
            MessageState::Other(_) => return None,
        })
    }

    /// The state a receipt's `stat:` word names, case-insensitively. The spec's 7-letter words
    /// and the full names some SMSCs write instead (`DELIVERED`, `UNDELIVERABLE`, `REJECTED`,
    /// `ACCEPTED`) are recognised.
    pub fn from_stat(word: &[u8]) -> Option<MessageState> {
        const WORDS: [(&[u8], MessageState); 15] = [
            (b"DELIVRD", MessageState::Delivered),
            (b"UNDELIV", MessageState::Undeliverable),
            (b"EXPIRED", MessageState::Expired),
            (b"ENROUTE", MessageState::Enroute),
            (b"REJECTD", MessageState::Rejected),
            (b"DELETED", MessageState::Deleted),
            (b"ACCEPTD", MessageState::Accepted),
            (b"UNKNOWN", MessageState::Unknown),
            (b"SCHEDULED", MessageState::Scheduled),
            (b"SKIPPED", MessageState::Skipped),
            (b"DELIVERED", MessageState::Delivered),
            (b"UNDELIVERABLE", MessageState::Undeliverable),
            (b"REJECTED", MessageState::Rejected),
            (b"ACCEPTED", MessageState::Accepted),
            (b"EXPIRD", MessageState::Expired),
        ];
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, state)| *state)
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stat() {
            Some(word) => f.write_str(word),
            None => write!(f, "{}", self.code()),
        }
    }
}
