//! The one body that `submit_sm_resp`, `deliver_sm_resp` and `data_sm_resp` share (SMPP 3.4
//! §4.4.2, §4.6.2, §4.7.2): a `message_id` and, since SMPP 5.0, TLVs.

use super::{BodyCodec, MESSAGE_ID_MAX, Reader, Writer};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::field::COctetString;
use crate::smpp::tlv::Tlvs;

/// The body of `submit_sm_resp`, `deliver_sm_resp` and `data_sm_resp`, which SMPP 3.4 lays out
/// alike; [`SubmitSmResp`], [`DeliverSmResp`] and [`DataSmResp`] are its names for each.
/// The [`Body`](super::Body) variant says which response it is, so it converts into a
/// `Body` only through the variant: `Body::SubmitSmResp(resp)`.
///
/// - `submit_sm_resp`: the SMSC's id for the accepted message, used to match the delivery
///   receipt. An SMSC that refuses the submission may send no body at all (the spec says so);
///   that decodes to an empty `message_id`, and a response with a non-zero status and an
///   empty `message_id` encodes without a body.
/// - `deliver_sm_resp`: `message_id` is unused by SMPP 3.4 and set to NULL; kept as it came.
/// - `data_sm_resp`: the SMSC's message id; its TLVs may carry `delivery_failure_reason`,
///   `network_error_code`, `additional_status_info_text`, `dpf_result`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageIdResp {
    /// The message id (at most 64 characters).
    pub message_id: COctetString,
    /// TLVs (SMPP 5.0 allows some on these responses; 3.4 SMSCs send none).
    pub tlvs: Tlvs,
}

/// The `submit_sm_resp` body (SMPP 3.4 §4.4.2).
pub type SubmitSmResp = MessageIdResp;
/// The `deliver_sm_resp` body (SMPP 3.4 §4.6.2).
pub type DeliverSmResp = MessageIdResp;
/// The `data_sm_resp` body (SMPP 3.4 §4.7.2).
pub type DataSmResp = MessageIdResp;

impl MessageIdResp {
    /// A response carrying `message_id` and no TLVs.
    pub fn new(message_id: impl Into<COctetString>) -> Self {
        MessageIdResp {
            message_id: message_id.into(),
            tlvs: Tlvs::default(),
        }
    }
}

impl BodyCodec for MessageIdResp {
    #[inline]
    fn read(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(MessageIdResp {
            message_id: r.cstr("message_id", MESSAGE_ID_MAX)?,
            tlvs: Tlvs::read(r)?,
        })
    }

    // Half the PDUs of a gateway's traffic are these responses: written in the caller, with
    // no call of its own.
    #[inline(always)]
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.cstr("message_id", &self.message_id, MESSAGE_ID_MAX)?;
        w.raw(self.tlvs.as_bytes());
        Ok(())
    }

    #[inline(always)]
    fn encoded_len(&self) -> usize {
        self.message_id.len() + 1 + self.tlvs.as_bytes().len()
    }

    #[inline(always)]
    fn is_default(&self) -> bool {
        self.message_id.is_empty() && self.tlvs.is_empty()
    }
}
