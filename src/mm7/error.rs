//! `Mm7Error`: why an MM7 body could not be decoded or encoded, and what a vendor's SOAP Fault
//! said.

use thiserror::Error;

/// A SOAP 1.1 `Fault` (SOAP 1.1 §4.4) that does not carry an MM7 `RSErrorRsp` or
/// `VASPErrorRsp`, as vendors send them: everything it said is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoapFault {
    /// `faultcode` (e.g. `env:Client`, `soap:Server.Overload`).
    pub code: String,
    /// `faultstring`.
    pub string: String,
    /// `faultactor`, when present.
    pub actor: Option<String>,
    /// The text content of `detail` and its descendants, joined with spaces.
    pub detail: Option<String>,
}

/// Why an MM7 body could not be decoded or encoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mm7Error {
    /// The body is larger than [`Limits::max_body_bytes`](super::Limits).
    #[error("MM7 body of {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Nesting or counts beyond the configured [`Limits`](super::Limits).
    #[error("MM7 body exceeds a limit: {what} (limit {limit})")]
    LimitExceeded {
        /// What was too deep or too many.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The SOAP part is not well-formed XML.
    #[error("SOAP XML is malformed at byte {position}: {reason}")]
    Xml {
        /// Byte offset in the SOAP part.
        position: u64,
        /// What the XML reader said.
        reason: String,
    },
    /// The SOAP part declares a DOCTYPE; refused so that no entity is ever expanded.
    #[error("SOAP XML declares a DOCTYPE, which MM7 does not allow (refused: no entity expansion)")]
    Doctype,
    /// The SOAP part is not UTF-8.
    #[error("SOAP part is not UTF-8: {0}")]
    NotUtf8(String),
    /// The document is not a SOAP envelope with a body holding one message.
    #[error("not an MM7 SOAP envelope: {0}")]
    Envelope(String),
    /// The body holds an element that is not an MM7 message.
    #[error("SOAP Body holds {0}, which is not an MM7 message")]
    UnknownMessage(String),
    /// A required element is missing.
    #[error("{message}: required element {element} is missing")]
    MissingElement {
        /// The message (e.g. `DeliveryReportReq`).
        message: &'static str,
        /// The element (e.g. `MMStatus`).
        element: &'static str,
    },
    /// An element's value is not what the schema allows and cannot be kept leniently.
    #[error("{message}: {element} {value:?} is invalid: {reason}")]
    InvalidValue {
        /// The message.
        message: &'static str,
        /// The element.
        element: &'static str,
        /// The value as received (cut to 64 characters).
        value: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The body is a SOAP Fault that carries no MM7 error response.
    #[error("SOAP Fault {}: {}", .0.code, .0.string)]
    Fault(SoapFault),
    /// The HTTP Content-Type cannot be used.
    #[error("HTTP Content-Type {value:?}: {reason}")]
    ContentType {
        /// The value as given.
        value: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The `multipart/related` body cannot be split into parts.
    #[error("multipart/related body: {0}")]
    Multipart(String),
    /// A message cannot be encoded as asked.
    #[error("cannot encode {message}: {reason}")]
    Encode {
        /// The message.
        message: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// Cuts a value for an error message, so that hostile input cannot make errors unbounded.
pub(crate) fn cut(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}
