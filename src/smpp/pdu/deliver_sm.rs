//! `deliver_sm` and `deliver_sm_resp` (SMPP 3.4 §4.6).

use super::{BodyCodec, MESSAGE_ID_MAX, Reader, Writer, short_message_body};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;
use crate::smpp::tlv::Tlvs;

short_message_body! {
    /// The `deliver_sm` body (SMPP 3.4 §4.6.1): the SMSC delivers a mobile-originated message or,
    /// when `esm_class` says so, a delivery receipt (Appendix B text in `short_message`, and the
    /// `receipted_message_id`, `message_state`, `network_error_code` TLVs).
    ///
    /// Same layout as `submit_sm`; the spec says `schedule_delivery_time` and `validity_period`
    /// are empty here, but whatever came is kept.
    DeliverSm, "deliver_sm"
}

/// The `deliver_sm_resp` body (SMPP 3.4 §4.6.2): `message_id` is unused and set to NULL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverSmResp {
    /// Unused by SMPP 3.4 (empty), kept as it came.
    pub message_id: COctetString,
    /// TLVs (SMPP 5.0 allows some on this response).
    pub tlvs: Tlvs,
}

impl BodyCodec for DeliverSmResp {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(DeliverSmResp {
            message_id: r.cstr("message_id", MESSAGE_ID_MAX)?,
            tlvs: Tlvs::read(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("message_id", &self.message_id, MESSAGE_ID_MAX)?;
        w.raw(self.tlvs.as_bytes());
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.message_id.len() + 1 + self.tlvs.as_bytes().len()
    }
}
