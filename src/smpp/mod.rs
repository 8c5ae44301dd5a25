//! SMPP 3.4 PDU codec (with the SMPP 5.0 TLV tags known by name), delivery-receipt text and
//! tokio framing.
//!
//! The codec is pure: [`Pdu::decode`] turns one frame into a typed [`Pdu`] and
//! [`Pdu::encode`] writes one back, with no I/O. Decoding borrows from the frame: every string
//! and octet field is a [`bytes::Bytes`] slice of it, and TLVs stay in their wire bytes until
//! iterated, so decoding submit_sm or deliver_sm allocates nothing. Hostile bytes give a
//! [`DecodeError`] naming the PDU, the field and the problem — never a panic, and never an
//! allocation larger than the frame.
//!
//! | file | what |
//! | --- | --- |
//! | `header.rs` | [`CommandId`], [`Header`] (§3.2, §5.1.2) |
//! | `command_status.rs` | [`CommandStatus`] (§5.1.3) |
//! | `field.rs`, `esm_class.rs`, `registered_delivery.rs`, `data_coding.rs` | field types (§3.1, §5.2) |
//! | `tlv.rs` | [`Tlv`], [`TlvTag`], [`Tlvs`] (§5.3) |
//! | `pdu/` | [`Pdu`], [`Body`] and one type per body (§4) |
//! | `receipt/` | [`DeliveryReceipt`](receipt::DeliveryReceipt) (Appendix B) and its classification |
//! | `message_id.rs` | [`MessageIdFormat`] |
//! | `codec.rs`, `framing.rs` | [`SmppCodec`], [`SmppFraming`] |
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use redeliver::smpp::{Body, Pdu, SubmitSm, RegisteredDelivery};
//!
//! let submit = SubmitSm {
//!     source_addr: "12345".into(),
//!     destination_addr: "447700900123".into(),
//!     registered_delivery: RegisteredDelivery::SMSC_DELIVERY,
//!     short_message: Bytes::from_static(b"hello"),
//!     ..SubmitSm::default()
//! };
//! let mut buf = BytesMut::new();
//! Pdu::new(1, submit.clone()).encode(&mut buf)?;
//! let pdu = Pdu::decode(&buf.freeze())?;
//! assert_eq!(pdu.body, Body::SubmitSm(submit));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod command_status;
mod data_coding;
mod error;
mod esm_class;
mod field;
mod framing;
mod header;
mod message_id;
mod pdu;
pub mod receipt;
mod registered_delivery;
mod tlv;
mod wire;

pub use codec::{DefaultSmppCodec, SmppCodec, StrictSmppCodec};
pub use command_status::CommandStatus;
pub use data_coding::{Alphabet, DataCoding};
pub use error::{DecodeError, EncodeError, FieldError};
pub use esm_class::{EsmClass, MessageType, MessagingMode};
pub use field::COctetString;
pub use framing::{DEFAULT_MAX_COMMAND_LENGTH, FramingError, SmppFraming};
pub use header::{CommandId, HEADER_LEN, Header};
pub use message_id::{MessageIdFormat, ParseMessageIdFormatError, msgid_key};
pub use pdu::{
    AlertNotification, Bind, BindResp, Body, CancelSm, DataSm, DataSmResp, DeliverSm,
    DeliverSmResp, DestAddress, Outbind, Pdu, QuerySm, QuerySmResp, ReplaceSm, SubmitMulti,
    SubmitMultiResp, SubmitSm, SubmitSmResp, UnsuccessSme,
};
pub use registered_delivery::{ParseRegisteredDeliveryError, RegisteredDelivery, SmscDelivery};
pub use tlv::{NetworkErrorCode, RawTlvIter, Tlv, TlvIter, TlvLengthWarning, TlvTag, Tlvs};
