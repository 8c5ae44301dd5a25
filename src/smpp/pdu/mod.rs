//! PDUs: the header fields and one body type per SMPP 3.4 command (§4).

mod alert_notification;
mod bind;
mod cancel_sm;
mod data_sm;
mod deliver_sm;
mod message_id_resp;
mod query_sm;
mod replace_sm;
mod submit_multi;
mod submit_sm;

pub use alert_notification::AlertNotification;
pub use bind::{Bind, BindResp, Outbind};
pub use cancel_sm::CancelSm;
pub use data_sm::DataSm;
pub use deliver_sm::DeliverSm;
pub use message_id_resp::{DataSmResp, DeliverSmResp, MessageIdResp, SubmitSmResp};
pub use query_sm::{QuerySm, QuerySmResp};
pub use replace_sm::ReplaceSm;
pub use submit_multi::{DestAddress, SubmitMulti, SubmitMultiResp, UnsuccessSme};
pub use submit_sm::SubmitSm;

use bytes::{BufMut, Bytes, BytesMut};

use super::CommandStatus;
use super::error::{DecodeError, EncodeError};
use super::header::{CommandId, HEADER_LEN, Header};
use super::wire::{Reader, Writer};

/// `service_type`: at most 5 characters plus NUL (SMPP 3.4 §5.2.11).
pub(crate) const SERVICE_TYPE_MAX: usize = 6;
/// Addresses of submit_sm, deliver_sm, submit_multi, query_sm, cancel_sm, replace_sm.
pub(crate) const ADDR_21_MAX: usize = 21;
/// Addresses of data_sm and alert_notification.
pub(crate) const ADDR_65_MAX: usize = 65;
/// `schedule_delivery_time`, `validity_period`, `final_date` (SMPP 3.4 §7.1.1).
pub(crate) const TIME_MAX: usize = 17;
/// `message_id` (SMPP 3.4 §5.2.23).
pub(crate) const MESSAGE_ID_MAX: usize = 65;

/// Reading and writing of one PDU body.
pub(crate) trait BodyCodec: Sized {
    fn read(r: &mut Reader) -> Result<Self, DecodeError>;
    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
    /// Exactly how many bytes the body takes on the wire, so it can be written into a slice
    /// reserved once.
    fn encoded_len(&self) -> usize;
    /// True for the default body, which a response with a non-zero status is written without.
    /// Response bodies check their fields' lengths instead: comparing with a default body
    /// compares empty buffers with `memcmp`, whose masked load of a dangling pointer is slow
    /// on some CPUs.
    #[inline(always)]
    fn is_default(&self) -> bool
    where
        Self: Default + PartialEq,
    {
        *self == Self::default()
    }
}

/// submit_sm and deliver_sm have the same fields (SMPP 3.4 §4.4.1, §4.6.1).
macro_rules! short_message_body {
    ($(#[$doc:meta])* $name:ident, $pdu:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            /// `service_type` (SMPP 3.4 §5.2.11).
            pub service_type: crate::smpp::field::COctetString,
            /// `source_addr_ton` (§5.2.5).
            pub source_addr_ton: u8,
            /// `source_addr_npi` (§5.2.6).
            pub source_addr_npi: u8,
            /// `source_addr` (§5.2.8), at most 20 characters.
            pub source_addr: crate::smpp::field::COctetString,
            /// `dest_addr_ton` (§5.2.5).
            pub dest_addr_ton: u8,
            /// `dest_addr_npi` (§5.2.6).
            pub dest_addr_npi: u8,
            /// `destination_addr` (§5.2.9), at most 20 characters.
            pub destination_addr: crate::smpp::field::COctetString,
            /// `esm_class` (§5.2.12).
            pub esm_class: crate::smpp::esm_class::EsmClass,
            /// `protocol_id` (§5.2.13).
            pub protocol_id: u8,
            /// `priority_flag` (§5.2.14).
            pub priority_flag: u8,
            /// `schedule_delivery_time` (§5.2.15), empty or 16 characters.
            pub schedule_delivery_time: crate::smpp::field::COctetString,
            /// `validity_period` (§5.2.16), empty or 16 characters.
            pub validity_period: crate::smpp::field::COctetString,
            /// `registered_delivery` (§5.2.17).
            pub registered_delivery: crate::smpp::registered_delivery::RegisteredDelivery,
            /// `replace_if_present_flag` (§5.2.18).
            pub replace_if_present_flag: u8,
            /// `data_coding` (§5.2.19).
            pub data_coding: crate::smpp::data_coding::DataCoding,
            /// `sm_default_msg_id` (§5.2.20).
            pub sm_default_msg_id: u8,
            /// `short_message` (§5.2.22); `sm_length` is its length (at most 254 octets).
            pub short_message: bytes::Bytes,
            /// TLVs, in wire order.
            pub tlvs: crate::smpp::tlv::Tlvs,
        }

        impl BodyCodec for $name {
            #[inline]
            fn read(r: &mut Reader) -> Result<Self, DecodeError> {
                use super::{ADDR_21_MAX, SERVICE_TYPE_MAX, TIME_MAX};
                use crate::smpp::{DataCoding, EsmClass, RegisteredDelivery};
                let service_type = r.cstr("service_type", SERVICE_TYPE_MAX)?;
                let source_addr_ton = r.u8("source_addr_ton")?;
                let source_addr_npi = r.u8("source_addr_npi")?;
                let source_addr = r.cstr("source_addr", ADDR_21_MAX)?;
                let dest_addr_ton = r.u8("dest_addr_ton")?;
                let dest_addr_npi = r.u8("dest_addr_npi")?;
                let destination_addr = r.cstr("destination_addr", ADDR_21_MAX)?;
                let esm_class = EsmClass(r.u8("esm_class")?);
                let protocol_id = r.u8("protocol_id")?;
                let priority_flag = r.u8("priority_flag")?;
                let schedule_delivery_time = r.cstr("schedule_delivery_time", TIME_MAX)?;
                let validity_period = r.cstr("validity_period", TIME_MAX)?;
                let registered_delivery = RegisteredDelivery(r.u8("registered_delivery")?);
                let replace_if_present_flag = r.u8("replace_if_present_flag")?;
                let data_coding = DataCoding(r.u8("data_coding")?);
                let sm_default_msg_id = r.u8("sm_default_msg_id")?;
                let sm_length = r.u8("sm_length")?;
                let short_message =
                    r.octets("short_message", "sm_length", usize::from(sm_length))?;
                Ok($name {
                    service_type,
                    source_addr_ton,
                    source_addr_npi,
                    source_addr,
                    dest_addr_ton,
                    dest_addr_npi,
                    destination_addr,
                    esm_class,
                    protocol_id,
                    priority_flag,
                    schedule_delivery_time,
                    validity_period,
                    registered_delivery,
                    replace_if_present_flag,
                    data_coding,
                    sm_default_msg_id,
                    short_message,
                    tlvs: Tlvs::read(r)?,
                })
            }

            fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                use super::{ADDR_21_MAX, SERVICE_TYPE_MAX, TIME_MAX};
                w.cstr("service_type", &self.service_type, SERVICE_TYPE_MAX)?;
                w.u8s([self.source_addr_ton, self.source_addr_npi]);
                w.cstr("source_addr", &self.source_addr, ADDR_21_MAX)?;
                w.u8s([self.dest_addr_ton, self.dest_addr_npi]);
                w.cstr("destination_addr", &self.destination_addr, ADDR_21_MAX)?;
                w.u8s([self.esm_class.0, self.protocol_id, self.priority_flag]);
                w.cstr("schedule_delivery_time", &self.schedule_delivery_time, TIME_MAX)?;
                w.cstr("validity_period", &self.validity_period, TIME_MAX)?;
                w.u8s([
                    self.registered_delivery.0,
                    self.replace_if_present_flag,
                    self.data_coding.0,
                    self.sm_default_msg_id,
                ]);
                w.short_message(&self.short_message)?;
                w.raw(self.tlvs.as_bytes());
                Ok(())
            }

            #[inline(always)]
            fn encoded_len(&self) -> usize {
                17 + self.service_type.len()
                    + self.source_addr.len()
                    + self.destination_addr.len()
                    + self.schedule_delivery_time.len()
                    + self.validity_period.len()
                    + self.short_message.len()
                    + self.tlvs.as_bytes().len()
            }
        }
    };
}
pub(crate) use short_message_body;

macro_rules! bodies {
    (
        with_body { $($(#[$doc:meta])* $variant:ident($ty:ty),)* }
        empty { $($(#[$edoc:meta])* $evariant:ident,)* }
    ) => {
        /// The body of a PDU, one variant per SMPP 3.4 command; the variant is the `command_id`.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Body {
            $($(#[$doc])* $variant($ty),)*
            $($(#[$edoc])* $evariant,)*
        }

        impl Body {
            /// The `command_id` of this body.
            pub const fn command_id(&self) -> CommandId {
                match self {
                    $(Body::$variant(_) => CommandId::$variant,)*
                    $(Body::$evariant => CommandId::$evariant,)*
                }
            }

            #[inline]
            fn read(id: CommandId, r: &mut Reader) -> Result<Body, DecodeError> {
                Ok(match id {
                    $(CommandId::$variant => Body::$variant(<$ty>::read(r)?),)*
                    $(CommandId::$evariant => Body::$evariant,)*
                })
            }

            /// The default body of a response, for responses sent without one.
            fn empty_response(id: CommandId) -> Option<Body> {
                match id {
                    $(CommandId::$variant if id.is_response() => Some(Body::$variant(<$ty>::default())),)*
                    $(CommandId::$evariant => Some(Body::$evariant),)*
                    _ => None,
                }
            }

            /// Appends the whole PDU: one dispatch on the body, after which the command's id,
            /// name and the body's own length and write are known statically.
            #[inline]
            fn encode_pdu(
                &self,
                status: CommandStatus,
                sequence_number: u32,
                dst: &mut BytesMut,
            ) -> Result<(), EncodeError> {
                match self {
                    $(Body::$variant(body) => {
                        encode_body(CommandId::$variant, status, sequence_number, body, dst)
                    })*
                    $(Body::$evariant => {
                        put_header(dst, CommandId::$evariant, status, sequence_number);
                        Ok(())
                    })*
                }
            }
        }
    };
}

bodies! {
    with_body {
        /// `bind_receiver` (§4.1.3).
        BindReceiver(Bind),
        /// `bind_receiver_resp` (§4.1.4).
        BindReceiverResp(BindResp),
        /// `bind_transmitter` (§4.1.1).
        BindTransmitter(Bind),
        /// `bind_transmitter_resp` (§4.1.2).
        BindTransmitterResp(BindResp),
        /// `query_sm` (§4.8.1).
        QuerySm(QuerySm),
        /// `query_sm_resp` (§4.8.2).
        QuerySmResp(QuerySmResp),
        /// `submit_sm` (§4.4.1).
        SubmitSm(SubmitSm),
        /// `submit_sm_resp` (§4.4.2).
        SubmitSmResp(SubmitSmResp),
        /// `deliver_sm` (§4.6.1).
        DeliverSm(DeliverSm),
        /// `deliver_sm_resp` (§4.6.2).
        DeliverSmResp(DeliverSmResp),
        /// `replace_sm` (§4.10.1).
        ReplaceSm(ReplaceSm),
        /// `cancel_sm` (§4.9.1).
        CancelSm(CancelSm),
        /// `bind_transceiver` (§4.1.5).
        BindTransceiver(Bind),
        /// `bind_transceiver_resp` (§4.1.6).
        BindTransceiverResp(BindResp),
        /// `outbind` (§4.1.7).
        Outbind(Outbind),
        /// `submit_multi` (§4.5.1).
        SubmitMulti(SubmitMulti),
        /// `submit_multi_resp` (§4.5.2).
        SubmitMultiResp(SubmitMultiResp),
        /// `alert_notification` (§4.12.1).
        AlertNotification(AlertNotification),
        /// `data_sm` (§4.7.1).
        DataSm(DataSm),
        /// `data_sm_resp` (§4.7.2).
        DataSmResp(DataSmResp),
    }
    empty {
        /// `generic_nack` (§4.3.1).
        GenericNack,
        /// `unbind` (§4.2.1).
        Unbind,
        /// `unbind_resp` (§4.2.2).
        UnbindResp,
        /// `replace_sm_resp` (§4.10.2).
        ReplaceSmResp,
        /// `cancel_sm_resp` (§4.9.2).
        CancelSmResp,
        /// `enquire_link` (§4.11.1).
        EnquireLink,
        /// `enquire_link_resp` (§4.11.2).
        EnquireLinkResp,
    }
}

/// One SMPP PDU (SMPP 3.4 §3.2): the header fields and the body. `command_length` and
/// `command_id` are not stored: they follow from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// `command_status`: `ESME_ROK` on requests, the outcome on responses.
    pub command_status: CommandStatus,
    /// `sequence_number`, which pairs a response with its request.
    pub sequence_number: u32,
    /// The body.
    pub body: Body,
}

impl Pdu {
    /// A PDU with `ESME_ROK`.
    pub fn new(sequence_number: u32, body: impl Into<Body>) -> Pdu {
        Pdu {
            command_status: CommandStatus::Ok,
            sequence_number,
            body: body.into(),
        }
    }

    /// The response to this request, with `command_status`, the same sequence_number and an
    /// empty body (which a non-zero status encodes as a bare header). `None` for responses and
    /// for `outbind` and `alert_notification`, which have none.
    pub fn response(&self, command_status: CommandStatus) -> Option<Pdu> {
        let id = self.command_id().response()?;
        Some(Pdu {
            command_status,
            sequence_number: self.sequence_number,
            body: Body::empty_response(id)?,
        })
    }

    /// A `generic_nack` (SMPP 3.4 §4.3.1), the answer to a PDU that could not be decoded far
    /// enough to answer it properly (see [`DecodeError::command_status`] and
    /// [`DecodeError::sequence_number`]).
    pub fn generic_nack(sequence_number: u32, command_status: CommandStatus) -> Pdu {
        Pdu {
            command_status,
            sequence_number,
            body: Body::GenericNack,
        }
    }

    /// The `command_id`.
    pub const fn command_id(&self) -> CommandId {
        self.body.command_id()
    }

    /// Decodes one whole PDU, header included. `frame` must be exactly `command_length` bytes;
    /// every field of the result is a slice of it, so nothing is copied.
    pub fn decode(frame: &Bytes) -> Result<Pdu, DecodeError> {
        Self::decode_frame(frame.clone())
    }

    /// [`decode`](Self::decode), taking the frame: the field at the frame's tail (the TLVs, or
    /// short_message) then takes the frame itself, which saves reference-count updates.
    ///
    /// Like `decode`, it keeps a known TLV whose length is not the spec's as a raw TLV
    /// ([`Tlv::Other`](super::Tlv::Other)) rather than refusing the PDU; such TLVs are listed
    /// by [`tlv_warnings`](Self::tlv_warnings).
    pub fn decode_frame(frame: Bytes) -> Result<Pdu, DecodeError> {
        Self::decode_with(frame, false)
    }

    /// [`decode`](Self::decode), refusing a known TLV whose length is not the spec's with
    /// [`FieldError::BadTlvLength`](super::FieldError::BadTlvLength)
    /// (`ESME_RINVPARLEN`) instead of keeping it raw.
    pub fn decode_strict(frame: &Bytes) -> Result<Pdu, DecodeError> {
        Self::decode_with(frame.clone(), true)
    }

    /// The TLVs of this PDU, for the bodies that have them.
    pub fn tlvs(&self) -> Option<&super::Tlvs> {
        match &self.body {
            Body::SubmitSm(b) => Some(&b.tlvs),
            Body::DeliverSm(b) => Some(&b.tlvs),
            Body::SubmitSmResp(b) | Body::DeliverSmResp(b) | Body::DataSmResp(b) => Some(&b.tlvs),
            Body::DataSm(b) => Some(&b.tlvs),
            Body::SubmitMulti(b) => Some(&b.tlvs),
            Body::SubmitMultiResp(b) => Some(&b.tlvs),
            Body::AlertNotification(b) => Some(&b.tlvs),
            Body::BindReceiverResp(b)
            | Body::BindTransmitterResp(b)
            | Body::BindTransceiverResp(b) => Some(&b.tlvs),
            _ => None,
        }
    }

    /// The known TLVs that came with another length than the spec's and were kept raw (see
    /// [`Tlvs::malformed`](super::Tlvs::malformed)): what a host logs or counts.
    pub fn tlv_warnings(&self) -> impl Iterator<Item = super::TlvLengthWarning> + '_ {
        self.tlvs().into_iter().flat_map(|t| t.malformed())
    }

    fn decode_with(frame: Bytes, strict_tlvs: bool) -> Result<Pdu, DecodeError> {
        let header = Header::parse(&frame)?;
        if header.command_length as usize != frame.len() {
            return Err(DecodeError::LengthMismatch {
                command_length: header.command_length,
                frame_len: frame.len(),
            });
        }
        let Some(id) = CommandId::from_code(header.command_id) else {
            return Err(DecodeError::UnknownCommandId {
                command_id: header.command_id,
                sequence_number: header.sequence_number,
            });
        };
        let mut r = Reader::new(frame, HEADER_LEN, id.name(), header.sequence_number);
        r.strict_tlvs = strict_tlvs;
        // SMSCs answer a refused request with a bare header (SMPP 3.4 §4.4.2 says the body is
        // not returned when command_status is non-zero), and some do so for every response.
        let empty = if r.is_empty() {
            Body::empty_response(id)
        } else {
            None
        };
        let body = match empty {
            Some(body) => body,
            None => Body::read(id, &mut r)?,
        };
        r.finish()?;
        Ok(Pdu {
            command_status: header.command_status,
            sequence_number: header.sequence_number,
            body,
        })
    }

    /// Appends the encoded PDU to `dst`. On error `dst` is left as it was.
    ///
    /// A response with a non-zero `command_status` and a default body is written as a bare
    /// header, as SMPP 3.4 §4.4.2 describes.
    #[inline]
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.body
            .encode_pdu(self.command_status, self.sequence_number, dst)
    }

    /// The encoded PDU as a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }
}

/// Writes the 16-octet header.
#[inline(always)]
fn write_header(
    header: &mut [u8; HEADER_LEN],
    command_length: u32,
    id: CommandId,
    status: CommandStatus,
    sequence_number: u32,
) {
    header[0..4].copy_from_slice(&command_length.to_be_bytes());
    header[4..8].copy_from_slice(&id.code().to_be_bytes());
    header[8..12].copy_from_slice(&status.code().to_be_bytes());
    header[12..16].copy_from_slice(&sequence_number.to_be_bytes());
}

/// Appends a PDU that is only a header.
#[inline(always)]
fn put_header(dst: &mut BytesMut, id: CommandId, status: CommandStatus, sequence_number: u32) {
    let mut header = [0u8; HEADER_LEN];
    write_header(&mut header, HEADER_LEN as u32, id, status, sequence_number);
    dst.extend_from_slice(&header);
}

/// Octets reserved past a body, so that a short string at its end can be written as its whole
/// inline buffer (see `COctetString::write_c`).
const SLACK: usize = 24;

/// Appends one PDU whose body type is known. The body's length is computed first (it is the
/// header's `command_length`), one zero-filled region is reserved for the PDU, and the fields
/// are written into it through a slice, each checked against the spec's limits; what was
/// written is checked against the length, and on any error `dst` is cut back.
#[inline(always)]
fn encode_body<B: BodyCodec + Default + PartialEq>(
    id: CommandId,
    status: CommandStatus,
    sequence_number: u32,
    body: &B,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    // A refused request's response carries no body (SMPP 3.4 §4.4.2).
    if id.is_response() && !status.is_ok() && body.is_default() {
        put_header(dst, id, status, sequence_number);
        return Ok(());
    }
    let body_len = body.encoded_len();
    let len = HEADER_LEN + body_len;
    let Ok(command_length) = u32::try_from(len) else {
        return Err(EncodeError::TooLong {
            pdu: id.name(),
            len,
        });
    };
    let start = dst.len();
    dst.put_bytes(0, len + SLACK);
    let (header, rest) = dst[start..].split_at_mut(HEADER_LEN);
    if let Ok(header) = <&mut [u8; HEADER_LEN]>::try_from(header) {
        write_header(header, command_length, id, status, sequence_number);
    }
    let mut w = Writer::new(rest, id.name());
    let result = body.write(&mut w);
    let written = w.written();
    match result {
        Err(error) => {
            dst.truncate(start);
            Err(error)
        }
        Ok(()) if written != Some(body_len) => {
            dst.truncate(start);
            Err(EncodeError::LengthMismatch {
                pdu: id.name(),
                computed: body_len,
                written,
            })
        }
        Ok(()) => {
            dst.truncate(start + len);
            Ok(())
        }
    }
}

macro_rules! into_body {
    ($($ty:ty => $variant:ident,)*) => {
        $(impl From<$ty> for Body {
            fn from(body: $ty) -> Body {
                Body::$variant(body)
            }
        })*
    };
}

into_body! {
    QuerySm => QuerySm,
    QuerySmResp => QuerySmResp,
    SubmitSm => SubmitSm,
    DeliverSm => DeliverSm,
    ReplaceSm => ReplaceSm,
    CancelSm => CancelSm,
    Outbind => Outbind,
    SubmitMulti => SubmitMulti,
    SubmitMultiResp => SubmitMultiResp,
    AlertNotification => AlertNotification,
    DataSm => DataSm,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smpp::message_state::MessageState;
    use crate::smpp::{COctetString, Tlvs};

    fn agrees<B: BodyCodec + Default + PartialEq + std::fmt::Debug>(body: B) {
        assert_eq!(body.is_default(), body == B::default(), "{body:?}");
    }

    #[test]
    fn is_default_agrees_with_comparing_to_the_default_body() {
        let id = || COctetString::from("1a2b");
        let tlvs = || match Tlvs::from_raw(Bytes::from_static(&[0x04, 0x27, 0, 1, 2])) {
            Ok(tlvs) if !tlvs.is_empty() => tlvs,
            other => panic!("{other:?}"),
        };
        agrees(BindResp::default());
        agrees(BindResp {
            system_id: id(),
            ..BindResp::default()
        });
        agrees(BindResp {
            tlvs: tlvs(),
            ..BindResp::default()
        });
        agrees(MessageIdResp::default());
        agrees(MessageIdResp::new(id()));
        agrees(MessageIdResp {
            tlvs: tlvs(),
            ..MessageIdResp::default()
        });
        agrees(QuerySmResp::default());
        agrees(QuerySmResp {
            message_state: MessageState::Delivered,
            ..QuerySmResp::default()
        });
        agrees(QuerySmResp {
            error_code: 1,
            ..QuerySmResp::default()
        });
        agrees(QuerySmResp {
            final_date: id(),
            ..QuerySmResp::default()
        });
        agrees(SubmitMultiResp::default());
        agrees(SubmitMultiResp {
            message_id: id(),
            ..SubmitMultiResp::default()
        });
    }
}
