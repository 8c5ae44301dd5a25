//! `submit_sm` (SMPP 3.4 §4.4.1); its response is [`MessageIdResp`](super::MessageIdResp).

use super::{BodyCodec, Reader, Writer, short_message_body};
use crate::smpp::error::{DecodeError, EncodeError};
use crate::smpp::tlv::Tlvs;

short_message_body! {
    /// The `submit_sm` body (SMPP 3.4 §4.4.1): an ESME submits one short message to the SMSC.
    ///
    /// `sm_length` is not a field: it is `short_message.len()`, checked on decode and written on
    /// encode. A message longer than 254 octets goes in the `message_payload` TLV.
    SubmitSm, "submit_sm"
}
