//! `submit_sm` and `submit_sm_resp` (SMPP 3.4 §4.4).

use super::{BodyCodec, MESSAGE_ID_MAX, Reader, Writer, short_message_body};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;
use crate::smpp::tlv::Tlvs;

short_message_body! {
    /// The `submit_sm` body (SMPP 3.4 §4.4.1): an ESME submits one short message to the SMSC.
    ///
    /// `sm_length` is not a field: it is `short_message.len()`, checked on decode and written on
    /// encode. A message longer than 254 octets goes in the `message_payload` TLV.
    SubmitSm, "submit_sm"
}

/// The `submit_sm_resp` body (SMPP 3.4 §4.4.2): the SMSC's id for the accepted message.
///
/// An SMSC that refuses the submission may send no body at all (the spec says so); that decodes
/// to an empty `message_id`, and a response with a non-zero status and an empty `message_id`
/// encodes without a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitSmResp {
    /// The SMSC's message id (at most 64 characters), used to match the delivery receipt.
    pub message_id: COctetString,
    /// TLVs (SMPP 5.0 allows some on this response; 3.4 SMSCs send none).
    pub tlvs: Tlvs,
}

impl BodyCodec for SubmitSmResp {
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(SubmitSmResp {
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
