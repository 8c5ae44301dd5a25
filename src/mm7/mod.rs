//! MM7 (3GPP TS 23.140) SOAP 1.1 / MIME codec.
//!
//! [`Mm7Codec`] turns an HTTP body (a bare SOAP envelope, or a `multipart/related` body with
//! the SOAP part and the content) into an [`Mm7Message`] and back. It is pure: no I/O.
//!
//! Decoding is lenient the way real relays need it, and always says so: whatever the decoder
//! accepts that the schema does not allow (an unknown release, a missing `TransactionID`, an
//! `MMStatus` outside the enumeration, an unclosed last MIME part, corrupt base64, an
//! `MM7Version` of another release…) is listed in the message's `warnings`. Elements are found
//! by local name, whatever prefix the envelope uses (`env:`, `soap:`, `SOAP-ENV:`, default
//! namespace), and the body's release may differ from the header's.
//!
//! A SOAP part that is not UTF-8 is decoded by its MIME `charset`, else its XML declaration,
//! else its byte order mark. Content keeps its tree of MIME parts, and the `Content href` is
//! resolved into it ([`Mm7Message::content_part`]).
//!
//! Hostile input gives an [`Mm7Error`], with the status a relay answers it with
//! ([`Mm7Error::status_code`], [`Mm7Error::soap_fault_code`]): DOCTYPE declarations are refused
//! (no entity is ever expanded), and so are SOAP 1.2 envelopes, characters that are not XML 1.0
//! `Char`s, a Body with more than one message, conflicting `TransactionID` headers, a `Content
//! href` to no part and mandatory dates that are not `xs:dateTime`s. Body size, XML nesting,
//! element count, attribute and text sizes, MIME nesting, part count and header lines are
//! bounded by [`Limits`], checked while the input is scanned.
//!
//! ```
//! use redeliver::mm7::{DefaultMm7Codec, Mm7Codec, Mm7Message, MmStatus, Release};
//! use redeliver::message::ReceiptClass;
//!
//! let xml = br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
//!   <soap:Header><TransactionID xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">t1</TransactionID></soap:Header>
//!   <soap:Body><DeliveryReportReq xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">
//!     <MM7Version>6.8.0</MM7Version><MessageID>m-42</MessageID>
//!     <Recipient><Number>+15551234567</Number></Recipient><Sender><ShortCode>12345</ShortCode></Sender>
//!     <Date>2026-11-22T06:00:00Z</Date><MMStatus>Expired</MMStatus>
//!   </DeliveryReportReq></soap:Body></soap:Envelope>"#;
//! let codec = DefaultMm7Codec::default();
//! let Mm7Message::DeliveryReportReq(report) = codec.decode(None, xml)? else { unreachable!() };
//! assert_eq!(report.mm_status, MmStatus::Expired);
//! assert_eq!(report.mm_status.class(), ReceiptClass::Negative);
//! let reply = codec.encode(&Mm7Message::DeliveryReportRsp(report.acknowledge()), &Release::Rel6Mm7_1_4)?;
//! assert_eq!(reply.content_type, "text/xml; charset=utf-8");
//! # Ok::<(), redeliver::mm7::Mm7Error>(())
//! ```

mod address;
mod charset;
mod content;
mod datetime;
mod decode;
mod encode;
mod error;
mod limits;
mod message;
mod mime;
mod mm_status;
mod release;
mod status;
mod types;
mod warning;
mod xml;

pub use address::{Address, Recipients};
pub use content::{ContentPart, ContentRef};
pub use error::{Mm7Error, SoapFault};
pub use limits::Limits;
pub use message::{
    CancelReq, CancelRsp, DeliverReq, DeliverRsp, DeliveryReportReq, DeliveryReportRsp, Mm7Message,
    ReadReplyReq, ReadReplyRsp, ReplaceReq, ReplaceRsp, RsErrorRsp, SenderIdentification,
    SubmitReq, SubmitRsp, VaspErrorRsp,
};
pub use mm_status::{MmStatus, ReadStatus};
pub use release::{NAMESPACE_PREFIX, Release, SOAP_ENV_NS, SOAP12_ENV_NS};
pub use status::{Status, StatusCode};
pub use types::{ChargedParty, MessageClass, Priority};
pub use warning::Warning;

/// An encoded MM7 HTTP body and the `Content-Type` header to send it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The HTTP `Content-Type`: `text/xml; charset=utf-8`, or `multipart/related; …` when the
    /// message has content parts.
    pub content_type: String,
    /// The HTTP body.
    pub body: Vec<u8>,
}

/// Decodes and encodes MM7 HTTP bodies (3GPP TS 23.140 §9: SOAP 1.1 over HTTP, with MIME
/// `multipart/related` for content).
pub trait Mm7Codec {
    /// Decodes an HTTP body. `content_type` is the HTTP `Content-Type` header: `None`,
    /// `text/xml` or `application/soap+xml` mean a bare SOAP envelope; `multipart/related`
    /// means the SOAP part is found by the `start` parameter (or is the first part) and the
    /// other parts become the message's content parts.
    ///
    /// A SOAP Fault that carries an `RSErrorRsp` or `VASPErrorRsp` decodes to that message;
    /// any other Fault is [`Mm7Error::Fault`].
    fn decode(&self, content_type: Option<&str>, body: &[u8]) -> Result<Mm7Message, Mm7Error>;

    /// Encodes a message in `release` (its namespace; `MM7Version` is the message's own when it
    /// belongs to that release, else the release's default). A SubmitReq, DeliverReq or
    /// ReplaceReq with content parts becomes a `multipart/related` body; set its `content`
    /// href to `cid:<Content-ID>` of the part it refers to.
    fn encode(&self, message: &Mm7Message, release: &Release) -> Result<Encoded, Mm7Error>;
}

/// The crate's [`Mm7Codec`]: its own bounded MIME splitter, `quick-xml` for the SOAP part,
/// `mailparse` for header fields and `encoding_rs` for charsets, with configurable [`Limits`].
#[derive(Debug, Clone, Default)]
pub struct DefaultMm7Codec {
    limits: Limits,
}

impl DefaultMm7Codec {
    /// A codec with these limits.
    pub fn new(limits: Limits) -> Self {
        DefaultMm7Codec { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

fn is_multipart(content_type: &str) -> bool {
    content_type
        .trim_start()
        .get(..10)
        .is_some_and(|t| t.eq_ignore_ascii_case("multipart/"))
}

/// Refuses a message whose `Content href` points at no part (TS 23.140 status 2007).
fn check_content(message: Mm7Message) -> Result<Mm7Message, Mm7Error> {
    match message.content() {
        Some(content) if message.content_part().is_none() => Err(Mm7Error::DanglingContent {
            message: message.kind(),
            href: error::cut(&content.href),
        }),
        _ => Ok(message),
    }
}

impl Mm7Codec for DefaultMm7Codec {
    fn decode(&self, content_type: Option<&str>, body: &[u8]) -> Result<Mm7Message, Mm7Error> {
        if body.len() > self.limits.max_body_bytes {
            return Err(Mm7Error::BodyTooLarge {
                size: body.len(),
                limit: self.limits.max_body_bytes,
            });
        }
        match content_type {
            Some(ct) if is_multipart(ct) => {
                let related = mime::split_related(ct, body, &self.limits)?;
                let mut message = decode::decode_envelope(
                    &related.soap,
                    related.soap_charset.as_deref(),
                    &self.limits,
                )?;
                let max_warnings = self.limits.max_warnings;
                let warnings = message.warnings_mut();
                for w in related.warnings {
                    warning::push_capped(warnings, w, max_warnings);
                }
                match message.parts_mut() {
                    Some(parts) => *parts = related.parts,
                    None if related.parts.is_empty() => {}
                    None => warning::push_capped(
                        message.warnings_mut(),
                        Warning::IgnoredParts {
                            count: related.parts.len(),
                        },
                        max_warnings,
                    ),
                }
                check_content(message)
            }
            Some(ct) => {
                if ct.len() > self.limits.max_header_line {
                    return Err(Mm7Error::LimitExceeded {
                        what: "MIME header line length",
                        limit: self.limits.max_header_line,
                    });
                }
                // `text/xml` alone (the common case) has no parameters to parse.
                let charset = if ct.contains(';') {
                    mailparse::parse_content_type(ct).params.remove("charset")
                } else {
                    None
                };
                check_content(decode::decode_envelope(
                    body,
                    charset.as_deref(),
                    &self.limits,
                )?)
            }
            None => check_content(decode::decode_envelope(body, None, &self.limits)?),
        }
    }

    fn encode(&self, message: &Mm7Message, release: &Release) -> Result<Encoded, Mm7Error> {
        let soap = encode::encode_envelope(message, release)?;
        let parts = message.parts();
        if parts.is_empty() {
            return Ok(Encoded {
                content_type: "text/xml; charset=utf-8".into(),
                body: soap.into_bytes(),
            });
        }
        let (content_type, body) = mime::build_related(message.kind(), &soap, parts)?;
        Ok(Encoded { content_type, body })
    }
}
