//! `cancel_sm` (SMPP 3.4 §4.9.1); its response has no body.

use super::{ADDR_21_MAX, BodyCodec, MESSAGE_ID_MAX, Reader, SERVICE_TYPE_MAX, Writer};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;

/// The `cancel_sm` body (SMPP 3.4 §4.9.1): cancels one message (by `message_id`) or every
/// message from `source_addr` to `destination_addr` (with an empty `message_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CancelSm {
    /// `service_type`.
    pub service_type: COctetString,
    /// The SMSC's id of the message, or empty.
    pub message_id: COctetString,
    /// `source_addr_ton`.
    pub source_addr_ton: u8,
    /// `source_addr_npi`.
    pub source_addr_npi: u8,
    /// `source_addr`.
    pub source_addr: COctetString,
    /// `dest_addr_ton`.
    pub dest_addr_ton: u8,
    /// `dest_addr_npi`.
    pub dest_addr_npi: u8,
    /// `destination_addr`.
    pub destination_addr: COctetString,
}

impl BodyCodec for CancelSm {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(CancelSm {
            service_type: r.cstr("service_type", SERVICE_TYPE_MAX)?,
            message_id: r.cstr("message_id", MESSAGE_ID_MAX)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.cstr("source_addr", ADDR_21_MAX)?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.cstr("destination_addr", ADDR_21_MAX)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("service_type", &self.service_type, SERVICE_TYPE_MAX)?;
        w.cstr("message_id", &self.message_id, MESSAGE_ID_MAX)?;
        w.u8s([self.source_addr_ton, self.source_addr_npi]);
        w.cstr("source_addr", &self.source_addr, ADDR_21_MAX)?;
        w.u8s([self.dest_addr_ton, self.dest_addr_npi]);
        w.cstr("destination_addr", &self.destination_addr, ADDR_21_MAX)
    }

    fn encoded_len(&self) -> usize {
        8 + self.service_type.len()
            + self.message_id.len()
            + self.source_addr.len()
            + self.destination_addr.len()
    }
}
