//! `alert_notification` (SMPP 3.4 §4.12.1); it has no response.

use super::{ADDR_65_MAX, BodyCodec, Reader, Writer};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;
use crate::smpp::tlv::Tlvs;

/// The `alert_notification` body (SMPP 3.4 §4.12.1): a mobile for which the SMSC held a
/// `set_dpf` request has become available.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertNotification {
    /// `source_addr_ton` (the mobile).
    pub source_addr_ton: u8,
    /// `source_addr_npi`.
    pub source_addr_npi: u8,
    /// `source_addr`.
    pub source_addr: COctetString,
    /// `esme_addr_ton` (the ESME that asked).
    pub esme_addr_ton: u8,
    /// `esme_addr_npi`.
    pub esme_addr_npi: u8,
    /// `esme_addr`.
    pub esme_addr: COctetString,
    /// TLVs: `ms_availability_status`.
    pub tlvs: Tlvs,
}

impl BodyCodec for AlertNotification {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(AlertNotification {
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", ADDR_65_MAX)?,
            esme_addr_ton: r.u8("esme_addr_ton")?,
            esme_addr_npi: r.u8("esme_addr_npi")?,
            esme_addr: r.cstr("esme_addr", ADDR_65_MAX)?,
            tlvs: Tlvs::read(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8s([self.source_addr_ton, self.source_addr_npi]);
        w.cstr("source_addr", &self.source_addr, ADDR_65_MAX)?;
        w.u8s([self.esme_addr_ton, self.esme_addr_npi]);
        w.cstr("esme_addr", &self.esme_addr, ADDR_65_MAX)?;
        w.raw(self.tlvs.as_bytes());
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        6 + self.source_addr.len() + self.esme_addr.len() + self.tlvs.as_bytes().len()
    }
}
