//! Delivery receipts: the text of SMPP 3.4 Appendix B, the receipt TLVs, and how a receipt is
//! classified.
//!
//! ```
//! use redeliver::smpp::receipt::{DeliveryReceipt, MessageState, ReceiptRules};
//! use redeliver::message::ReceiptClass;
//!
//! let text = b"id:0A1B2C sub:001 dlvrd:001 submit date:2411221530 done date:2411221531 \
//!              stat:DELIVRD err:000 text:Hello";
//! let receipt = DeliveryReceipt::parse(text)?;
//! assert_eq!(receipt.id, "0A1B2C");
//! assert_eq!(receipt.state, Some(MessageState::Delivered));
//! assert_eq!(ReceiptRules::default().classify(&receipt), ReceiptClass::Positive);
//! # Ok::<(), redeliver::smpp::receipt::ReceiptError>(())
//! ```

mod date;
mod parse;
mod rules;

pub use super::message_state::MessageState;
pub use date::ReceiptDate;
pub use rules::ReceiptRules;

use std::fmt;

use bytes::Bytes;

use super::esm_class::EsmClass;
use super::pdu::{DataSm, DeliverSm};
use super::tlv::{NetworkErrorCode, Tlv, Tlvs};
use super::{COctetString, DataCoding, EncodeError};
use crate::receipt_class::ReceiptClass;
use parse::Key;

/// Why a receipt could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// A field the receipt cannot do without (`id`, `stat`) is absent, from the text and from
    /// the TLVs.
    #[error("delivery receipt: no {field} (neither in the text nor in a TLV) in {excerpt:?}")]
    MissingField {
        /// The field's Appendix B name.
        field: &'static str,
        /// The start of the text, for the log.
        excerpt: String,
    },
    /// A field is present but empty.
    #[error("delivery receipt: {field} is empty in {excerpt:?}")]
    EmptyField {
        /// The field's Appendix B name.
        field: &'static str,
        /// The start of the text.
        excerpt: String,
    },
    /// A date field is not a 10-, 12- or 14-digit date.
    #[error("delivery receipt: {field} {value:?}: {reason}")]
    BadDate {
        /// `submit date` or `done date`.
        field: &'static str,
        /// The value (at most 32 characters of it).
        value: String,
        /// What was wrong.
        reason: &'static str,
    },
}

/// Longest excerpt of a text quoted in an error.
const EXCERPT: usize = 80;

fn excerpt(text: &[u8]) -> String {
    String::from_utf8_lossy(&text[..text.len().min(EXCERPT)]).into_owned()
}

/// A delivery receipt (SMPP 3.4 Appendix B), from its text, its TLVs, or both.
///
/// The text fields are kept as they appeared (`sub`, `dlvrd`, `err`, the dates) so they can be
/// forwarded unchanged, e.g. as a Jasmin DLR's parameters; typed views are methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The SMSC's message id (`id:`, or the `receipted_message_id` TLV, which wins). Match it to
    /// the submit_sm_resp id with [`MessageIdFormat`](super::MessageIdFormat).
    pub id: String,
    /// `sub:` — number of short messages originally submitted.
    pub sub: Option<String>,
    /// `dlvrd:` — number of short messages delivered.
    pub dlvrd: Option<String>,
    /// `submit date:` as it appeared.
    pub submit_date: Option<String>,
    /// `done date:` as it appeared.
    pub done_date: Option<String>,
    /// `stat:` as it appeared, or the word of the `message_state` TLV when it wins.
    pub stat: String,
    /// The state `stat` names, or the `message_state` TLV (which wins). `None` for a word the
    /// spec does not define; [`ReceiptRules`] can still classify it.
    pub state: Option<MessageState>,
    /// `err:` as it appeared, or the `network_error_code` TLV's code (which wins) as three or
    /// more digits.
    pub err: Option<String>,
    /// `text:` — the start of the original message.
    pub text: Option<String>,
    /// The `network_error_code` TLV, when present.
    pub network_error_code: Option<NetworkErrorCode>,
    /// The receipt text as it came, if there was one.
    pub raw: Option<Bytes>,
}

fn field(text: &[u8], fields: &parse::Fields, key: Key) -> Option<String> {
    fields[key as usize].map(|(a, b)| String::from_utf8_lossy(&text[a..b]).into_owned())
}

impl DeliveryReceipt {
    /// A receipt for `id` in `state`, with the other fields as Appendix B's example shows them
    /// (`sub:001`, `dlvrd:` 001 when delivered else 000, `err:000`, empty text) and no dates.
    /// For simulators and tests.
    pub fn new(id: impl Into<String>, state: MessageState) -> DeliveryReceipt {
        let delivered = state == MessageState::Delivered;
        DeliveryReceipt {
            id: id.into(),
            sub: Some("001".into()),
            dlvrd: Some(if delivered { "001" } else { "000" }.into()),
            submit_date: None,
            done_date: None,
            stat: state.to_string(),
            state: Some(state),
            err: Some("000".into()),
            text: Some(String::new()),
            network_error_code: None,
            raw: None,
        }
    }

    /// Parses a receipt text. Keys in any case (`Text:`), fields in any order, missing
    /// `sub`/`dlvrd`/`text`/dates, unknown tokens and trailing garbage are all accepted; `id` and
    /// `stat` are required.
    pub fn parse(text: &[u8]) -> Result<DeliveryReceipt, ReceiptError> {
        Self::from_parts(Some(text), &Tlvs::new())
    }

    /// Reads the receipt a deliver_sm carries: the text in `short_message` (or the
    /// `message_payload` TLV) and the `receipted_message_id`, `message_state` and
    /// `network_error_code` TLVs, which win over the text. Whether the deliver_sm is a receipt at
    /// all is for the caller to check ([`EsmClass::is_delivery_receipt`]).
    pub fn from_deliver_sm(pdu: &DeliverSm) -> Result<DeliveryReceipt, ReceiptError> {
        let payload;
        let text: Option<&[u8]> = if !pdu.short_message.is_empty() {
            Some(&pdu.short_message)
        } else {
            payload = pdu.tlvs.message_payload();
            payload.as_deref()
        };
        Self::from_parts(text, &pdu.tlvs)
    }

    /// Reads the receipt a data_sm carries (text in `message_payload`, TLVs winning), as
    /// [`from_deliver_sm`](Self::from_deliver_sm) does.
    pub fn from_data_sm(pdu: &DataSm) -> Result<DeliveryReceipt, ReceiptError> {
        let payload = pdu.tlvs.message_payload();
        Self::from_parts(payload.as_deref(), &pdu.tlvs)
    }

    fn from_parts(text: Option<&[u8]>, tlvs: &Tlvs) -> Result<DeliveryReceipt, ReceiptError> {
        let bytes = text.unwrap_or_default();
        let fields = parse::scan(bytes);
        let mut id = field(bytes, &fields, Key::Id);
        let mut stat = field(bytes, &fields, Key::Stat);
        let mut err = field(bytes, &fields, Key::Err);
        let mut state = stat
            .as_deref()
            .and_then(|s| MessageState::from_stat(s.as_bytes()));
        let mut network_error_code = None;
        for tlv in tlvs {
            match tlv {
                Tlv::ReceiptedMessageId(tlv_id) if !tlv_id.is_empty() => {
                    id = Some(tlv_id.to_string_lossy().into_owned());
                }
                Tlv::MessageState(tlv_state) => {
                    state = Some(tlv_state);
                    stat = Some(tlv_state.to_string());
                }
                Tlv::NetworkErrorCode(code) => {
                    network_error_code = Some(code);
                    err = Some(format!("{:03}", code.error_code));
                }
                _ => {}
            }
        }
        let Some(id) = id else {
            return Err(ReceiptError::MissingField {
                field: "id",
                excerpt: excerpt(bytes),
            });
        };
        if id.is_empty() {
            return Err(ReceiptError::EmptyField {
                field: "id",
                excerpt: excerpt(bytes),
            });
        }
        let Some(stat) = stat else {
            return Err(ReceiptError::MissingField {
                field: "stat",
                excerpt: excerpt(bytes),
            });
        };
        if stat.is_empty() {
            return Err(ReceiptError::EmptyField {
                field: "stat",
                excerpt: excerpt(bytes),
            });
        }
        Ok(DeliveryReceipt {
            id,
            sub: field(bytes, &fields, Key::Sub),
            dlvrd: field(bytes, &fields, Key::Dlvrd),
            submit_date: field(bytes, &fields, Key::SubmitDate),
            done_date: field(bytes, &fields, Key::DoneDate),
            stat,
            state,
            err,
            text: field(bytes, &fields, Key::Text),
            network_error_code,
            raw: text.map(Bytes::copy_from_slice),
        })
    }

    /// The `submit date:` as a date.
    pub fn submit_time(&self) -> Option<Result<ReceiptDate, ReceiptError>> {
        self.submit_date
            .as_deref()
            .map(|d| ReceiptDate::parse("submit date", d))
    }

    /// The `done date:` as a date.
    pub fn done_time(&self) -> Option<Result<ReceiptDate, ReceiptError>> {
        self.done_date
            .as_deref()
            .map(|d| ReceiptDate::parse("done date", d))
    }

    /// `err:` as a number (the network's or SMSC's error code), when it is decimal digits.
    pub fn error_code(&self) -> Option<u32> {
        self.err.as_deref().and_then(|e| e.parse().ok())
    }

    /// The receipt's class under `rules`.
    pub fn class(&self, rules: &ReceiptRules) -> ReceiptClass {
        rules.classify(self)
    }

    /// Sets both dates (10-digit form, or 12 when the dates have seconds).
    pub fn with_dates(mut self, submit: ReceiptDate, done: ReceiptDate) -> DeliveryReceipt {
        self.submit_date = Some(submit.to_string());
        self.done_date = Some(done.to_string());
        self
    }

    /// A deliver_sm carrying this receipt the way SMSCs send one: `esm_class` "SMSC Delivery
    /// Receipt", the text in `short_message` (in `message_payload` when longer than 254
    /// octets), and the `receipted_message_id`, `message_state` and (if set)
    /// `network_error_code` TLVs. For simulators and tests.
    pub fn to_deliver_sm(
        &self,
        source_addr: COctetString,
        destination_addr: COctetString,
    ) -> Result<DeliverSm, EncodeError> {
        let text = Bytes::from(self.to_string());
        let mut tlvs = vec![Tlv::ReceiptedMessageId(COctetString::from(self.id.clone()))];
        if let Some(state) = self.state {
            tlvs.push(Tlv::MessageState(state));
        }
        if let Some(code) = self.network_error_code {
            tlvs.push(Tlv::NetworkErrorCode(code));
        }
        let short_message = if text.len() <= 254 {
            text
        } else {
            tlvs.push(Tlv::MessagePayload(text));
            Bytes::new()
        };
        Ok(DeliverSm {
            source_addr,
            destination_addr,
            esm_class: EsmClass::SMSC_DELIVERY_RECEIPT,
            data_coding: DataCoding::SMSC_DEFAULT,
            short_message,
            tlvs: Tlvs::from_tlvs(&tlvs)?,
            ..DeliverSm::default()
        })
    }
}

impl fmt::Display for DeliveryReceipt {
    /// The Appendix B text: `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`,
    /// with absent fields left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "id:{}", self.id)?;
        let optional = [
            ("sub", &self.sub),
            ("dlvrd", &self.dlvrd),
            ("submit date", &self.submit_date),
            ("done date", &self.done_date),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                write!(f, " {key}:{value}")?;
            }
        }
        write!(f, " stat:{}", self.stat)?;
        if let Some(err) = &self.err {
            write!(f, " err:{err}")?;
        }
        if let Some(text) = &self.text {
            write!(f, " text:{text}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
