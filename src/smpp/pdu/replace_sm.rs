//! `replace_sm` (SMPP 3.4 §4.10.1); its response has no body.

use bytes::Bytes;

use super::{ADDR_21_MAX, BodyCodec, MESSAGE_ID_MAX, Reader, TIME_MAX, Writer};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;
use crate::smpp::registered_delivery::RegisteredDelivery;

/// The `replace_sm` body (SMPP 3.4 §4.10.1): replaces a message the SMSC still holds.
/// `sm_length` is `short_message.len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceSm {
    /// The SMSC's id of the message to replace.
    pub message_id: COctetString,
    /// `source_addr_ton` of the original submission.
    pub source_addr_ton: u8,
    /// `source_addr_npi` of the original submission.
    pub source_addr_npi: u8,
    /// `source_addr` of the original submission.
    pub source_addr: COctetString,
    /// `schedule_delivery_time`.
    pub schedule_delivery_time: COctetString,
    /// `validity_period`.
    pub validity_period: COctetString,
    /// `registered_delivery`.
    pub registered_delivery: RegisteredDelivery,
    /// `sm_default_msg_id`.
    pub sm_default_msg_id: u8,
    /// `short_message`.
    pub short_message: Bytes,
}

impl BodyCodec for ReplaceSm {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        let message_id = r.cstr("message_id", MESSAGE_ID_MAX)?;
        let source_addr_ton = r.u8("source_addr_ton")?;
        let source_addr_npi = r.u8("source_addr_npi")?;
        let source_addr = r.cstr("source_addr", ADDR_21_MAX)?;
        let schedule_delivery_time = r.cstr("schedule_delivery_time", TIME_MAX)?;
        let validity_period = r.cstr("validity_period", TIME_MAX)?;
        let registered_delivery = RegisteredDelivery(r.u8("registered_delivery")?);
        let sm_default_msg_id = r.u8("sm_default_msg_id")?;
        let sm_length = r.u8("sm_length")?;
        let short_message = r.octets("short_message", "sm_length", usize::from(sm_length))?;
        Ok(ReplaceSm {
            message_id,
            source_addr_ton,
            source_addr_npi,
            source_addr,
            schedule_delivery_time,
            validity_period,
            registered_delivery,
            sm_default_msg_id,
            short_message,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("message_id", &self.message_id, MESSAGE_ID_MAX)?;
        w.u8s([self.source_addr_ton, self.source_addr_npi]);
        w.cstr("source_addr", &self.source_addr, ADDR_21_MAX)?;
        w.cstr(
            "schedule_delivery_time",
            &self.schedule_delivery_time,
            TIME_MAX,
        )?;
        w.cstr("validity_period", &self.validity_period, TIME_MAX)?;
        w.u8s([self.registered_delivery.0, self.sm_default_msg_id]);
        w.short_message(&self.short_message)
    }

    fn encoded_len(&self) -> usize {
        9 + self.message_id.len()
            + self.source_addr.len()
            + self.schedule_delivery_time.len()
            + self.validity_period.len()
            + self.short_message.len()
    }
}
