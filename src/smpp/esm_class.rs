//! The `esm_class` field of SMPP 3.4 §5.2.12.

/// The messaging mode in bits 1-0 of `esm_class` (submit_sm, submit_multi, data_sm).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagingMode {
    /// `xxxxxx00`: the SMSC's default mode (usually store and forward).
    Default,
    /// `xxxxxx01`: datagram mode.
    Datagram,
    /// `xxxxxx10`: forward (transaction) mode.
    Forward,
    /// `xxxxxx11`: store and forward mode.
    StoreAndForward,
}

/// The message type in bits 5-2 of `esm_class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `xx0000xx`: a normal short message.
    Default,
    /// `xx0001xx`: an SMSC delivery receipt (deliver_sm / data_sm from the SMSC).
    SmscDeliveryReceipt,
    /// `xx0010xx`: an SME delivery acknowledgement.
    SmeDeliveryAcknowledgement,
    /// `xx0100xx`: an SME manual/user acknowledgement.
    SmeManualAcknowledgement,
    /// `xx0110xx`: a conversation abort (Korean CDMA).
    ConversationAbort,
    /// `xx1000xx`: an intermediate delivery notification.
    IntermediateDeliveryNotification,
    /// Any other combination of bits 5-2 (reserved), as the 4-bit value.
    Reserved(u8),
}

/// The `esm_class` octet (SMPP 3.4 §5.2.12): messaging mode, message type and GSM features.
///
/// Kept as the raw octet so reserved bits survive a round trip; the accessors decode the parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EsmClass(pub u8);

impl EsmClass {
    /// A normal message in the SMSC's default mode.
    pub const DEFAULT: EsmClass = EsmClass(0x00);
    /// Message type "SMSC Delivery Receipt" (`xx0001xx`), what an SMSC sets on a receipt.
    pub const SMSC_DELIVERY_RECEIPT: EsmClass = EsmClass(0x04);
    /// Message type "Intermediate Delivery Notification" (`xx1000xx`).
    pub const INTERMEDIATE_DELIVERY_NOTIFICATION: EsmClass = EsmClass(0x20);
    /// GSM feature "UDHI Indicator" (`x1xxxxxx`): short_message starts with a User Data Header.
    pub const UDHI: u8 = 0x40;
    /// GSM feature "Set Reply Path" (`1xxxxxxx`).
    pub const REPLY_PATH: u8 = 0x80;

    /// Bits 1-0.
    pub const fn messaging_mode(self) -> MessagingMode {
        match self.0 & 0x03 {
            0 => MessagingMode::Default,
            1 => MessagingMode::Datagram,
            2 => MessagingMode::Forward,
            _ => MessagingMode::StoreAndForward,
        }
    }

    /// Bits 5-2.
    pub const fn message_type(self) -> MessageType {
        match (self.0 >> 2) & 0x0F {
            0b0000 => MessageType::Default,
            0b0001 => MessageType::SmscDeliveryReceipt,
            0b0010 => MessageType::SmeDeliveryAcknowledgement,
            0b0100 => MessageType::SmeManualAcknowledgement,
            0b0110 => MessageType::ConversationAbort,
            0b1000 => MessageType::IntermediateDeliveryNotification,
            other => MessageType::Reserved(other),
        }
    }

    /// True when the message is an SMSC delivery receipt or an intermediate delivery
    /// notification, i.e. its body is a receipt rather than a mobile-originated message.
    pub const fn is_delivery_receipt(self) -> bool {
        matches!(
            self.message_type(),
            MessageType::SmscDeliveryReceipt | MessageType::IntermediateDeliveryNotification
        )
    }

    /// True when short_message starts with a User Data Header (bit 6).
    pub const fn udhi(self) -> bool {
        self.0 & Self::UDHI != 0
    }

    /// True when the reply path is set (bit 7).
    pub const fn reply_path(self) -> bool {
        self.0 & Self::REPLY_PATH != 0
    }

    /// This value with the UDHI bit set or cleared.
    pub const fn with_udhi(self, on: bool) -> EsmClass {
        if on {
            EsmClass(self.0 | Self::UDHI)
        } else {
            EsmClass(self.0 & !Self::UDHI)
        }
    }
}

impl From<u8> for EsmClass {
    fn from(value: u8) -> Self {
        EsmClass(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let esm = EsmClass(0x44);
        assert!(esm.udhi());
        assert!(esm.is_delivery_receipt());
        assert_eq!(esm.message_type(), MessageType::SmscDeliveryReceipt);
        assert_eq!(
            EsmClass(0x03).messaging_mode(),
            MessagingMode::StoreAndForward
        );
        assert_eq!(EsmClass(0x0C).message_type(), MessageType::Reserved(3));
        assert!(!EsmClass::DEFAULT.is_delivery_receipt());
        assert_eq!(EsmClass::DEFAULT.with_udhi(true), EsmClass(0x40));
    }
}
