//! The `registered_delivery` field of SMPP 3.4 §5.2.17.

use std::str::FromStr;

/// Which SMSC delivery receipt is asked for (bits 1-0 of `registered_delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmscDelivery {
    /// `xxxxxx00`: no SMSC delivery receipt.
    NotRequested,
    /// `xxxxxx01`: a receipt whatever the final outcome, success or failure. This is the seed's
    /// `smpp_registered_delivery = "SMSC_Delivery"`, which mstore needs to see receipts at all.
    SmscDelivery,
    /// `xxxxxx10`: a receipt only when delivery fails.
    OnFailure,
    /// `xxxxxx11`: a receipt only when delivery succeeds (SMPP 5.0 §4.7.21).
    OnSuccess,
}

/// The `registered_delivery` octet (SMPP 3.4 §5.2.17): which receipts and acknowledgements the
/// ESME asks for. Kept raw so reserved bits survive a round trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RegisteredDelivery(pub u8);

impl RegisteredDelivery {
    /// Nothing requested.
    pub const NONE: RegisteredDelivery = RegisteredDelivery(0x00);
    /// `SMSC_Delivery`: a receipt on final success or failure (`0x01`).
    pub const SMSC_DELIVERY: RegisteredDelivery = RegisteredDelivery(0x01);
    /// A receipt on failure only (`0x02`).
    pub const ON_FAILURE: RegisteredDelivery = RegisteredDelivery(0x02);
    /// Bit 4: intermediate notifications requested.
    pub const INTERMEDIATE_NOTIFICATION: u8 = 0x10;

    /// Bits 1-0.
    pub const fn smsc_delivery(self) -> SmscDelivery {
        match self.0 & 0x03 {
            0 => SmscDelivery::NotRequested,
            1 => SmscDelivery::SmscDelivery,
            2 => SmscDelivery::OnFailure,
            _ => SmscDelivery::OnSuccess,
        }
    }

    /// This value with bits 1-0 replaced.
    pub const fn with_smsc_delivery(self, which: SmscDelivery) -> RegisteredDelivery {
        let bits = match which {
            SmscDelivery::NotRequested => 0,
            SmscDelivery::SmscDelivery => 1,
            SmscDelivery::OnFailure => 2,
            SmscDelivery::OnSuccess => 3,
        };
        RegisteredDelivery((self.0 & !0x03) | bits)
    }

    /// Bits 3-2: SME delivery acknowledgement requested.
    pub const fn sme_delivery_ack(self) -> bool {
        self.0 & 0x04 != 0
    }

    /// Bits 3-2: SME manual/user acknowledgement requested.
    pub const fn sme_manual_ack(self) -> bool {
        self.0 & 0x08 != 0
    }

    /// Bit 4: intermediate notification requested.
    pub const fn intermediate_notification(self) -> bool {
        self.0 & Self::INTERMEDIATE_NOTIFICATION != 0
    }

    /// True when any SMSC delivery receipt can come back, i.e. a stored message can expect
    /// one.
    pub const fn wants_receipt(self) -> bool {
        !matches!(self.smsc_delivery(), SmscDelivery::NotRequested)
    }
}

impl From<u8> for RegisteredDelivery {
    fn from(value: u8) -> Self {
        RegisteredDelivery(value)
    }
}

/// Why a `registered_delivery` option value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "registered_delivery {0:?} is not one of None, SMSC_Delivery, SMSC_Delivery_Failure, SMSC_Delivery_Success or a number 0-255"
)]
pub struct ParseRegisteredDeliveryError(pub String);

impl FromStr for RegisteredDelivery {
    type Err = ParseRegisteredDeliveryError;

    /// Parses a configuration value: `None`, `SMSC_Delivery` (the seed's value),
    /// `SMSC_Delivery_Failure`, `SMSC_Delivery_Success` (case-insensitive), or the octet as a
    /// decimal or `0x` hex number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let named = [
            ("none", SmscDelivery::NotRequested),
            ("smsc_delivery", SmscDelivery::SmscDelivery),
            ("smsc_delivery_failure", SmscDelivery::OnFailure),
            ("smsc_delivery_success", SmscDelivery::OnSuccess),
        ];
        if let Some((_, which)) = named.iter().find(|(n, _)| t.eq_ignore_ascii_case(n)) {
            return Ok(RegisteredDelivery::NONE.with_smsc_delivery(*which));
        }
        let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(hex) => u8::from_str_radix(hex, 16),
            None => t.parse::<u8>(),
        };
        parsed
            .map(RegisteredDelivery)
            .map_err(|_| ParseRegisteredDeliveryError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_value() {
        let rd: RegisteredDelivery = "SMSC_Delivery".parse().unwrap_or_default();
        assert_eq!(rd, RegisteredDelivery::SMSC_DELIVERY);
        assert_eq!(rd.smsc_delivery(), SmscDelivery::SmscDelivery);
        assert!(rd.wants_receipt());
        assert!(!RegisteredDelivery::NONE.wants_receipt());
        assert_eq!("0x11".parse(), Ok(RegisteredDelivery(0x11)));
        assert!("sometimes".parse::<RegisteredDelivery>().is_err());
        let rd = RegisteredDelivery(0x1C).with_smsc_delivery(SmscDelivery::OnFailure);
        assert_eq!(rd, RegisteredDelivery(0x1E));
        assert!(rd.sme_delivery_ack() && rd.sme_manual_ack() && rd.intermediate_notification());
    }
}
