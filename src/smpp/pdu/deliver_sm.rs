//! `deliver_sm` (SMPP 3.4 §4.6.1); its response is [`MessageIdResp`](super::MessageIdResp).

use super::{BodyCodec, Reader, Writer, short_message_body};
use crate::smpp::error::{DecodeError, EncodeError};
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
