//! Tagged optional parameters (TLVs): SMPP 3.4 §3.2.4 and §5.3, with the tags SMPP 5.0 §4.8.4
//! added known by name.
//!
//! A PDU keeps its TLVs as the validated bytes of its TLV region ([`Tlvs`]) and hands out typed
//! [`Tlv`] values on iteration, so decoding a PDU allocates no list; unknown tags and the bytes of
//! every TLV are re-encoded exactly as they came.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{DecodeError, EncodeError, FieldError};
use super::field::COctetString;
use super::message_state::MessageState;
pub use super::tlv_tag::TlvTag;
use super::wire::Reader;

/// The value type a tag carries, as the spec gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    U8,
    U16,
    U32,
    Octets,
    CStr,
    State,
    NetErr,
}

macro_rules! tlvs {
    (
        typed { $($(#[$doc:meta])* $konst:ident = $code:literal, $name:literal, $variant:ident($kind:ident: $ty:ty);)* }
        named { $($(#[$ndoc:meta])* $nkonst:ident = $ncode:literal, $nname:literal;)* }
    ) => {
        impl TlvTag {
            $($(#[$doc])* pub const $konst: TlvTag = TlvTag($code);)*
            $($(#[$ndoc])* pub const $nkonst: TlvTag = TlvTag($ncode);)*

            /// The spec name of the tag (`receipted_message_id`), or `None` for a tag neither
            /// SMPP 3.4 nor 5.0 defines.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($name),)*
                    $($ncode => Some($nname),)*
                    _ => None,
                }
            }

            const fn kind(self) -> Kind {
                match self.0 {
                    $($code => Kind::$kind,)*
                    _ => Kind::Octets,
                }
            }
        }

        /// One TLV with its value typed as SMPP 3.4 §5.3.2 gives it. Tags without a spec type
        /// (SMPP 5.0's additions, vendor tags), and known tags that came with another length
        /// than the spec's, are [`Tlv::Other`] with their raw value.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Tlv {
            $($(#[$doc])* $variant($ty),)*
            /// Any tag without a typed variant, or a known tag whose length is not the spec's
            /// (see [`Tlvs::malformed`]), with its value bytes as they came.
            Other {
                /// The tag.
                tag: TlvTag,
                /// The value.
                value: Bytes,
            },
        }

        impl Tlv {
            /// The tag of this TLV.
            pub fn tag(&self) -> TlvTag {
                match self {
                    $(Tlv::$variant(_) => TlvTag::$konst,)*
                    Tlv::Other { tag, .. } => *tag,
                }
            }

            /// The TLV whose value is `region[start..end]`. Fixed-size values and short
            /// strings are read from the bytes; only octet strings take a slice of `region`,
            /// so reading a typed TLV costs no reference-count update unless it has to. A known
            /// tag with another length than the spec's stays raw (see `Tlvs::malformed`).
            #[inline]
            fn from_region(tag: TlvTag, region: &Bytes, start: usize, end: usize) -> Tlv {
                if tag.fixed_len().is_some_and(|n| n != end - start) {
                    return Tlv::Other { tag, value: region.slice(start..end) };
                }
                match tag.0 {
                    $($code => Tlv::$variant(FromValue::from_region(region, start, end)),)*
                    _ => Tlv::Other { tag, value: region.slice(start..end) },
                }
            }

            fn write_value(&self, dst: &mut BytesMut) {
                match self {
                    $(Tlv::$variant(v) => ToValue::write_value(v, dst),)*
                    Tlv::Other { value, .. } => dst.extend_from_slice(value),
                }
            }

            fn value_len(&self) -> usize {
                match self {
                    $(Tlv::$variant(v) => ToValue::value_len(v),)*
                    Tlv::Other { value, .. } => value.len(),
                }
            }
        }
    };
}

tlvs! {
    typed {
        /// `dest_addr_subunit` (§5.3.2.1): the sub-component in the destination device.
        DEST_ADDR_SUBUNIT = 0x0005, "dest_addr_subunit", DestAddrSubunit(U8: u8);
        /// `dest_network_type` (§5.3.2.3).
        DEST_NETWORK_TYPE = 0x0006, "dest_network_type", DestNetworkType(U8: u8);
        /// `dest_bearer_type` (§5.3.2.5).
        DEST_BEARER_TYPE = 0x0007, "dest_bearer_type", DestBearerType(U8: u8);
        /// `dest_telematics_id` (§5.3.2.7).
        DEST_TELEMATICS_ID = 0x0008, "dest_telematics_id", DestTelematicsId(U16: u16);
        /// `source_addr_subunit` (§5.3.2.2).
        SOURCE_ADDR_SUBUNIT = 0x000D, "source_addr_subunit", SourceAddrSubunit(U8: u8);
        /// `source_network_type` (§5.3.2.4).
        SOURCE_NETWORK_TYPE = 0x000E, "source_network_type", SourceNetworkType(U8: u8);
        /// `source_bearer_type` (§5.3.2.6).
        SOURCE_BEARER_TYPE = 0x000F, "source_bearer_type", SourceBearerType(U8: u8);
        /// `source_telematics_id` (§5.3.2.8).
        SOURCE_TELEMATICS_ID = 0x0010, "source_telematics_id", SourceTelematicsId(U16: u16);
        /// `qos_time_to_live` (§5.3.2.9): seconds the message may live.
        QOS_TIME_TO_LIVE = 0x0017, "qos_time_to_live", QosTimeToLive(U32: u32);
        /// `payload_type` (§5.3.2.10).
        PAYLOAD_TYPE = 0x0019, "payload_type", PayloadType(U8: u8);
        /// `additional_status_info_text` (§5.3.2.11): free text about the status.
        ADDITIONAL_STATUS_INFO_TEXT = 0x001D, "additional_status_info_text", AdditionalStatusInfoText(CStr: COctetString);
        /// `receipted_message_id` (§5.3.2.12): the SMSC's id of the message a receipt is about.
        RECEIPTED_MESSAGE_ID = 0x001E, "receipted_message_id", ReceiptedMessageId(CStr: COctetString);
        /// `ms_msg_wait_facilities` (§5.3.2.13).
        MS_MSG_WAIT_FACILITIES = 0x0030, "ms_msg_wait_facilities", MsMsgWaitFacilities(U8: u8);
        /// `privacy_indicator` (§5.3.2.14).
        PRIVACY_INDICATOR = 0x0201, "privacy_indicator", PrivacyIndicator(U8: u8);
        /// `source_subaddress` (§5.3.2.15).
        SOURCE_SUBADDRESS = 0x0202, "source_subaddress", SourceSubaddress(Octets: Bytes);
        /// `dest_subaddress` (§5.3.2.16).
        DEST_SUBADDRESS = 0x0203, "dest_subaddress", DestSubaddress(Octets: Bytes);
        /// `user_message_reference` (§5.3.2.17): the ESME's own reference for the message.
        USER_MESSAGE_REFERENCE = 0x0204, "user_message_reference", UserMessageReference(U16: u16);
        /// `user_response_code` (§5.3.2.18).
        USER_RESPONSE_CODE = 0x0205, "user_response_code", UserResponseCode(U8: u8);
        /// `source_port` (§5.3.2.20).
        SOURCE_PORT = 0x020A, "source_port", SourcePort(U16: u16);
        /// `destination_port` (§5.3.2.21).
        DESTINATION_PORT = 0x020B, "destination_port", DestinationPort(U16: u16);
        /// `sar_msg_ref_num` (§5.3.2.22): reference shared by the parts of a concatenated message.
        SAR_MSG_REF_NUM = 0x020C, "sar_msg_ref_num", SarMsgRefNum(U16: u16);
        /// `language_indicator` (§5.3.2.19).
        LANGUAGE_INDICATOR = 0x020D, "language_indicator", LanguageIndicator(U8: u8);
        /// `sar_total_segments` (§5.3.2.23).
        SAR_TOTAL_SEGMENTS = 0x020E, "sar_total_segments", SarTotalSegments(U8: u8);
        /// `sar_segment_seqnum` (§5.3.2.24).
        SAR_SEGMENT_SEQNUM = 0x020F, "sar_segment_seqnum", SarSegmentSeqnum(U8: u8);
        /// `sc_interface_version` (§5.3.2.25): the SMSC's SMPP version, in bind responses.
        SC_INTERFACE_VERSION = 0x0210, "sc_interface_version", ScInterfaceVersion(U8: u8);
        /// `callback_num_pres_ind` (§5.3.2.37).
        CALLBACK_NUM_PRES_IND = 0x0302, "callback_num_pres_ind", CallbackNumPresInd(U8: u8);
        /// `callback_num_atag` (§5.3.2.38).
        CALLBACK_NUM_ATAG = 0x0303, "callback_num_atag", CallbackNumAtag(Octets: Bytes);
        /// `number_of_messages` (§5.3.2.39).
        NUMBER_OF_MESSAGES = 0x0304, "number_of_messages", NumberOfMessages(U8: u8);
        /// `callback_num` (§5.3.2.36).
        CALLBACK_NUM = 0x0381, "callback_num", CallbackNum(Octets: Bytes);
        /// `dpf_result` (§5.3.2.28).
        DPF_RESULT = 0x0420, "dpf_result", DpfResult(U8: u8);
        /// `set_dpf` (§5.3.2.29).
        SET_DPF = 0x0421, "set_dpf", SetDpf(U8: u8);
        /// `ms_availability_status` (§5.3.2.30).
        MS_AVAILABILITY_STATUS = 0x0422, "ms_availability_status", MsAvailabilityStatus(U8: u8);
        /// `network_error_code` (§5.3.2.31): the network's error for a failed delivery.
        NETWORK_ERROR_CODE = 0x0423, "network_error_code", NetworkErrorCode(NetErr: NetworkErrorCode);
        /// `message_payload` (§5.3.2.32): the message when it does not fit short_message.
        MESSAGE_PAYLOAD = 0x0424, "message_payload", MessagePayload(Octets: Bytes);
        /// `delivery_failure_reason` (§5.3.2.33).
        DELIVERY_FAILURE_REASON = 0x0425, "delivery_failure_reason", DeliveryFailureReason(U8: u8);
        /// `more_messages_to_send` (§5.3.2.34).
        MORE_MESSAGES_TO_SEND = 0x0426, "more_messages_to_send", MoreMessagesToSend(U8: u8);
        /// `message_state` (§5.3.2.35): the state a receipt reports.
        MESSAGE_STATE = 0x0427, "message_state", MessageState(State: MessageState);
        /// `ussd_service_op` (§5.3.2.44).
        USSD_SERVICE_OP = 0x0501, "ussd_service_op", UssdServiceOp(U8: u8);
        /// `display_time` (§5.3.2.26).
        DISPLAY_TIME = 0x1201, "display_time", DisplayTime(U8: u8);
        /// `sms_signal` (§5.3.2.40).
        SMS_SIGNAL = 0x1203, "sms_signal", SmsSignal(U16: u16);
        /// `ms_validity` (§5.3.2.27).
        MS_VALIDITY = 0x1204, "ms_validity", MsValidity(U8: u8);
        /// `alert_on_message_delivery` (§5.3.2.41): no value in 3.4 (SMPP 5.0 allows one octet).
        ALERT_ON_MESSAGE_DELIVERY = 0x130C, "alert_on_message_delivery", AlertOnMessageDelivery(Octets: Bytes);
        /// `its_reply_type` (§5.3.2.42).
        ITS_REPLY_TYPE = 0x1380, "its_reply_type", ItsReplyType(U8: u8);
        /// `its_session_info` (§5.3.2.43): session number and sequence octet.
        ITS_SESSION_INFO = 0x1383, "its_session_info", ItsSessionInfo(U16: u16);
    }
    named {
        /// `congestion_state` (SMPP 5.0).
        CONGESTION_STATE = 0x0428, "congestion_state";
        /// `broadcast_channel_indicator` (SMPP 5.0).
        BROADCAST_CHANNEL_INDICATOR = 0x0600, "broadcast_channel_indicator";
        /// `broadcast_content_type` (SMPP 5.0).
        BROADCAST_CONTENT_TYPE = 0x0601, "broadcast_content_type";
        /// `broadcast_content_type_info` (SMPP 5.0).
        BROADCAST_CONTENT_TYPE_INFO = 0x0602, "broadcast_content_type_info";
        /// `broadcast_message_class` (SMPP 5.0).
        BROADCAST_MESSAGE_CLASS = 0x0603, "broadcast_message_class";
        /// `broadcast_rep_num` (SMPP 5.0).
        BROADCAST_REP_NUM = 0x0604, "broadcast_rep_num";
        /// `broadcast_frequency_interval` (SMPP 5.0).
        BROADCAST_FREQUENCY_INTERVAL = 0x0605, "broadcast_frequency_interval";
        /// `broadcast_area_identifier` (SMPP 5.0).
        BROADCAST_AREA_IDENTIFIER = 0x0606, "broadcast_area_identifier";
        /// `broadcast_error_status` (SMPP 5.0).
        BROADCAST_ERROR_STATUS = 0x0607, "broadcast_error_status";
        /// `broadcast_area_success` (SMPP 5.0).
        BROADCAST_AREA_SUCCESS = 0x0608, "broadcast_area_success";
        /// `broadcast_end_time` (SMPP 5.0).
        BROADCAST_END_TIME = 0x0609, "broadcast_end_time";
        /// `broadcast_service_group` (SMPP 5.0).
        BROADCAST_SERVICE_GROUP = 0x060A, "broadcast_service_group";
        /// `billing_identification` (SMPP 5.0).
        BILLING_IDENTIFICATION = 0x060B, "billing_identification";
        /// `source_network_id` (SMPP 5.0).
        SOURCE_NETWORK_ID = 0x060D, "source_network_id";
        /// `dest_network_id` (SMPP 5.0).
        DEST_NETWORK_ID = 0x060E, "dest_network_id";
        /// `source_node_id` (SMPP 5.0).
        SOURCE_NODE_ID = 0x060F, "source_node_id";
        /// `dest_node_id` (SMPP 5.0).
        DEST_NODE_ID = 0x0610, "dest_node_id";
        /// `dest_addr_np_resolution` (SMPP 5.0).
        DEST_ADDR_NP_RESOLUTION = 0x0611, "dest_addr_np_resolution";
        /// `dest_addr_np_information` (SMPP 5.0).
        DEST_ADDR_NP_INFORMATION = 0x0612, "dest_addr_np_information";
        /// `dest_addr_np_country` (SMPP 5.0).
        DEST_ADDR_NP_COUNTRY = 0x0613, "dest_addr_np_country";
    }
}

/// A decode error about one TLV, naming the PDU being read.
fn tlv_error(r: &Reader, tag: TlvTag, error: FieldError) -> DecodeError {
    DecodeError::Tlv {
        pdu: r.pdu,
        tag,
        error,
        sequence_number: r.sequence_number,
    }
}

impl fmt::Display for TlvTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:04x})", self.0),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

/// The `network_error_code` TLV (SMPP 3.4 §5.3.2.31): the network type and its error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkErrorCode {
    /// 1 ANSI-136, 2 IS-95, 3 GSM, 4 reserved (SMPP 5.0 adds 4-8).
    pub network_type: u8,
    /// The network-specific error code.
    pub error_code: u16,
}

impl NetworkErrorCode {
    /// The network type's name, when the spec defines it.
    pub const fn network_type_name(&self) -> Option<&'static str> {
        match self.network_type {
            1 => Some("ANSI-136"),
            2 => Some("IS-95"),
            3 => Some("GSM"),
            5 => Some("ANSI-41"),
            6 => Some("SMPP"),
            7 => Some("MSC"),
            8 => Some("IS-637"),
            _ => None,
        }
    }
}

impl fmt::Display for NetworkErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network_type_name() {
            Some(name) => write!(f, "{name} error {}", self.error_code),
            None => write!(
                f,
                "network type {} error {}",
                self.network_type, self.error_code
            ),
        }
    }
}

trait FromValue: Sized {
    /// Builds the value from bytes already checked against the tag's size.
    fn from_value(value: &[u8]) -> Self;

    /// Builds the value from `region[start..end]`; types that keep their bytes slice `region`.
    #[inline]
    fn from_region(region: &Bytes, start: usize, end: usize) -> Self {
        Self::from_value(region.get(start..end).unwrap_or_default())
    }
}

trait ToValue {
    fn value_len(&self) -> usize;
    fn write_value(&self, dst: &mut BytesMut);
}

impl FromValue for u8 {
    #[inline]
    fn from_value(value: &[u8]) -> Self {
        value.first().copied().unwrap_or_default()
    }
}
impl ToValue for u8 {
    fn value_len(&self) -> usize {
        1
    }
    fn write_value(&self, dst: &mut BytesMut) {
        dst.put_u8(*self);
    }
}
impl FromValue for u16 {
    #[inline]
    fn from_value(value: &[u8]) -> Self {
        match *value {
            [a, b] => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }
}
impl ToValue for u16 {
    fn value_len(&self) -> usize {
        2
    }
    fn write_value(&self, dst: &mut BytesMut) {
        dst.put_u16(*self);
    }
}
impl FromValue for u32 {
    #[inline]
    fn from_value(value: &[u8]) -> Self {
        match *value {
            [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }
}
impl ToValue for u32 {
    fn value_len(&self) -> usize {
        4
    }
    fn write_value(&self, dst: &mut BytesMut) {
        dst.put_u32(*self);
    }
}
impl FromValue for Bytes {
    fn from_value(value: &[u8]) -> Self {
        Bytes::copy_from_slice(value)
    }

    #[inline]
    fn from_region(region: &Bytes, start: usize, end: usize) -> Self {
        if start >= end {
            return Bytes::new();
        }
        region.slice(start..end.min(region.len()))
    }
}
impl ToValue for Bytes {
    fn value_len(&self) -> usize {
        self.len()
    }
    fn write_value(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(self);
    }
}
impl FromValue for COctetString {
    /// Up to the first NUL; SMSCs that leave the terminator off are tolerated.
    fn from_value(value: &[u8]) -> Self {
        let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
        COctetString::from(&value[..end])
    }

    #[inline]
    fn from_region(region: &Bytes, start: usize, end: usize) -> Self {
        let value = region.get(start..end).unwrap_or_default();
        let len = value.iter().position(|&b| b == 0).unwrap_or(value.len());
        COctetString::from_frame(region, start, start + len)
    }
}
impl ToValue for COctetString {
    fn value_len(&self) -> usize {
        self.len() + 1
    }
    fn write_value(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(self.as_bytes());
        dst.put_u8(0);
    }
}
impl FromValue for MessageState {
    #[inline]
    fn from_value(value: &[u8]) -> Self {
        MessageState::from_code(u8::from_value(value))
    }
}
impl ToValue for MessageState {
    fn value_len(&self) -> usize {
        1
    }
    fn write_value(&self, dst: &mut BytesMut) {
        dst.put_u8(self.code());
    }
}
impl FromValue for NetworkErrorCode {
    #[inline]
    fn from_value(value: &[u8]) -> Self {
        match *value {
            [t, a, b] => NetworkErrorCode {
                network_type: t,
                error_code: u16::from_be_bytes([a, b]),
            },
            _ => NetworkErrorCode {
                network_type: 0,
                error_code: 0,
            },
        }
    }
}
impl ToValue for NetworkErrorCode {
    fn value_len(&self) -> usize {
        3
    }
    fn write_value(&self, dst: &mut BytesMut) {
        dst.put_u8(self.network_type);
        dst.put_u16(self.error_code);
    }
}

impl TlvTag {
    /// The size the spec fixes for this tag's value, if it fixes one.
    pub fn fixed_len(self) -> Option<usize> {
        match self.kind() {
            Kind::U8 | Kind::State => Some(1),
            Kind::U16 => Some(2),
            Kind::U32 => Some(4),
            Kind::NetErr => Some(3),
            Kind::Octets | Kind::CStr => None,
        }
    }
}

impl Tlv {
    /// The TLV for a tag and its raw value, checked against the size the spec gives the tag.
    pub fn from_raw(tag: TlvTag, value: Bytes) -> Result<Tlv, FieldError> {
        if let Some(expected) = tag.fixed_len()
            && value.len() != expected
        {
            return Err(FieldError::BadTlvLength {
                length: value.len(),
                expected,
            });
        }
        Ok(Tlv::from_region(tag, &value, 0, value.len()))
    }

    /// Appends tag, length and value to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), FieldError> {
        let len = self.value_len();
        let Ok(wire_len) = u16::try_from(len) else {
            return Err(FieldError::BadValue {
                value: u32::try_from(len).unwrap_or(u32::MAX),
                reason: "a TLV value is at most 65535 octets",
            });
        };
        if let Tlv::Other { tag, .. } = self
            && let Some(expected) = tag.fixed_len()
            && len != expected
        {
            return Err(FieldError::BadTlvLength {
                length: len,
                expected,
            });
        }
        dst.put_u16(self.tag().0);
        dst.put_u16(wire_len);
        self.write_value(dst);
        Ok(())
    }
}

/// The TLVs of one PDU, in wire order: the validated bytes of the PDU's TLV region.
///
/// Iterating yields typed [`Tlv`]s; nothing is parsed twice into a list. Duplicate tags are
/// kept (some SMSCs send them); the accessors (`get`, [`receipted_message_id`](Self::receipted_message_id) …)
/// return the first one.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tlvs(Bytes);

impl Tlvs {
    /// No TLVs.
    pub const fn new() -> Self {
        Tlvs(Bytes::new())
    }

    /// Builds the region from typed TLVs, in order.
    pub fn from_tlvs<'t>(tlvs: impl IntoIterator<Item = &'t Tlv>) -> Result<Tlvs, EncodeError> {
        let mut dst = BytesMut::new();
        for tlv in tlvs {
            tlv.encode(&mut dst).map_err(|error| EncodeError::Field {
                pdu: "TLV",
                field: tlv.tag().to_string().into(),
                error,
            })?;
        }
        Ok(Tlvs(dst.freeze()))
    }

    /// Checks a raw TLV region (e.g. the tail of a PDU body) and keeps it.
    pub fn from_raw(region: Bytes) -> Result<Tlvs, DecodeError> {
        let mut reader = Reader::new(region, 0, "TLV region", 0);
        Tlvs::read(&mut reader)
    }

    /// Reads the rest of a body as TLVs, checking every header against the bytes left. A known
    /// tag whose length is not the spec's is kept raw (see [`Tlvs::malformed`]), unless the
    /// reader is strict.
    pub(crate) fn read(r: &mut Reader) -> Result<Tlvs, DecodeError> {
        let region = r.rest();
        let mut pos = 0;
        while pos < region.len() {
            let left = region.len() - pos;
            if left < 4 {
                return Err(r.error("TLV header", FieldError::Truncated { needed: 4, left }));
            }
            let tag = TlvTag(u16::from_be_bytes([region[pos], region[pos + 1]]));
            let len = usize::from(u16::from_be_bytes([region[pos + 2], region[pos + 3]]));
            if len > left - 4 {
                return Err(tlv_error(
                    r,
                    tag,
                    FieldError::LengthPastEnd {
                        length_field: "length",
                        length: len,
                        left: left - 4,
                    },
                ));
            }
            if r.strict_tlvs
                && let Some(expected) = tag.fixed_len()
                && len != expected
            {
                return Err(tlv_error(
                    r,
                    tag,
                    FieldError::BadTlvLength {
                        length: len,
                        expected,
                    },
                ));
            }
            pos += 4 + len;
        }
        Ok(Tlvs(region))
    }

    /// The TLVs of a known tag whose length is not the one the spec fixes (e.g. a 2-byte
    /// `source_addr_subunit`, as a widely used Python library sends it), in wire order. The
    /// lenient decoder keeps them as [`Tlv::Other`] with their raw value and re-encodes them
    /// byte for byte; a host that wants to know, log or refuse reads them here (or decodes
    /// with [`Pdu::decode_strict`](super::Pdu::decode_strict)).
    pub fn malformed(&self) -> impl Iterator<Item = TlvLengthWarning> + '_ {
        self.raw().filter_map(|(tag, value)| {
            let expected = tag.fixed_len()?;
            (value.len() != expected).then_some(TlvLengthWarning {
                tag,
                length: value.len(),
                expected,
            })
        })
    }

    /// The region's bytes, as they go on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// True when there are no TLVs.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The TLVs, typed, in wire order.
    pub fn iter(&self) -> TlvIter<'_> {
        TlvIter {
            region: &self.0,
            pos: 0,
        }
    }

    /// The TLVs as raw `(tag, value)` pairs, in wire order.
    pub fn raw(&self) -> RawTlvIter<'_> {
        RawTlvIter {
            region: &self.0,
            pos: 0,
        }
    }

    /// The first TLV with this tag.
    pub fn get(&self, tag: TlvTag) -> Option<Tlv> {
        let mut pos = 0;
        while let Some((t, start, end)) = next_span(&self.0, &mut pos) {
            if t == tag {
                return Some(Tlv::from_region(t, &self.0, start, end));
            }
        }
        None
    }

    /// Appends one TLV (copies the region: meant for building PDUs, not for hot paths).
    pub fn push(&mut self, tlv: &Tlv) -> Result<(), EncodeError> {
        let mut dst = BytesMut::with_capacity(self.0.len() + 4 + tlv.value_len());
        dst.extend_from_slice(&self.0);
        tlv.encode(&mut dst).map_err(|error| EncodeError::Field {
            pdu: "TLV",
            field: tlv.tag().to_string().into(),
            error,
        })?;
        self.0 = dst.freeze();
        Ok(())
    }

    /// `receipted_message_id`, if present.
    pub fn receipted_message_id(&self) -> Option<COctetString> {
        match self.get(TlvTag::RECEIPTED_MESSAGE_ID)? {
            Tlv::ReceiptedMessageId(id) => Some(id),
            _ => None,
        }
    }

    /// `message_state`, if present.
    pub fn message_state(&self) -> Option<MessageState> {
        match self.get(TlvTag::MESSAGE_STATE)? {
            Tlv::MessageState(state) => Some(state),
            _ => None,
        }
    }

    /// `network_error_code`, if present.
    pub fn network_error_code(&self) -> Option<NetworkErrorCode> {
        match self.get(TlvTag::NETWORK_ERROR_CODE)? {
            Tlv::NetworkErrorCode(code) => Some(code),
            _ => None,
        }
    }

    /// `message_payload`, if present.
    pub fn message_payload(&self) -> Option<Bytes> {
        match self.get(TlvTag::MESSAGE_PAYLOAD)? {
            Tlv::MessagePayload(payload) => Some(payload),
            _ => None,
        }
    }
}

/// A known TLV that came with another length than the spec's, kept raw: see
/// [`Tlvs::malformed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlvLengthWarning {
    /// The tag.
    pub tag: TlvTag,
    /// The length it came with.
    pub length: usize,
    /// The length the spec fixes for it.
    pub expected: usize,
}

impl fmt::Display for TlvLengthWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TLV {}: length {}, the spec says {}; kept as raw bytes",
            self.tag, self.length, self.expected
        )
    }
}

impl fmt::Debug for Tlvs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'t> IntoIterator for &'t Tlvs {
    type Item = Tlv;
    type IntoIter = TlvIter<'t>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over the raw `(tag, value)` pairs of a [`Tlvs`].
#[derive(Debug, Clone)]
pub struct RawTlvIter<'t> {
    region: &'t Bytes,
    pos: usize,
}

/// The tag and value span of the TLV at `*pos` in `region`, moving `*pos` past it.
#[inline]
fn next_span(region: &[u8], pos: &mut usize) -> Option<(TlvTag, usize, usize)> {
    let header = region.get(*pos..*pos + 4)?;
    let tag = TlvTag(u16::from_be_bytes([header[0], header[1]]));
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let start = *pos + 4;
    // The region was validated when it was built, so this only guards against misuse.
    let end = (start + len).min(region.len());
    *pos = end;
    Some((tag, start, end))
}

impl Iterator for RawTlvIter<'_> {
    type Item = (TlvTag, Bytes);

    fn next(&mut self) -> Option<Self::Item> {
        let (tag, start, end) = next_span(self.region, &mut self.pos)?;
        let value = if start < end {
            self.region.slice(start..end)
        } else {
            Bytes::new()
        };
        Some((tag, value))
    }
}

/// Iterator over the typed TLVs of a [`Tlvs`].
#[derive(Debug, Clone)]
pub struct TlvIter<'t> {
    region: &'t Bytes,
    pos: usize,
}

impl Iterator for TlvIter<'_> {
    type Item = Tlv;

    #[inline]
    fn next(&mut self) -> Option<Tlv> {
        let (tag, start, end) = next_span(self.region, &mut self.pos)?;
        Some(Tlv::from_region(tag, self.region, start, end))
    }
}
