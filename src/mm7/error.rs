//! `Mm7Error`: why an MM7 body could not be decoded or encoded, and what a vendor's SOAP Fault
//! said.

use thiserror::Error;

use super::status::StatusCode;

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
    /// The SOAP part is not UTF-8 (and declares no other charset).
    #[error("SOAP part is not UTF-8: {0}")]
    NotUtf8(String),
    /// The SOAP part declares a charset (MIME `charset` or XML `encoding`) that is not known.
    #[error("SOAP part charset {label:?} is not a known encoding")]
    Charset {
        /// The label as declared (cut to 64 characters).
        label: String,
    },
    /// The envelope is not SOAP 1.1 (e.g. a SOAP 1.2 envelope): MM7 binds to SOAP 1.1, which
    /// answers this with a `VersionMismatch` Fault (SOAP 1.1 §4.4.1).
    #[error("envelope namespace {namespace:?} is not SOAP 1.1 (VersionMismatch)")]
    SoapVersionMismatch {
        /// The envelope's namespace as received (cut to 64 characters).
        namespace: String,
    },
    /// The SOAP Body holds more than one element; MM7 carries exactly one message.
    #[error("the SOAP Body holds {count} elements; MM7 allows exactly one message")]
    MultipleMessages {
        /// How many element children the Body has.
        count: usize,
    },
    /// Two `TransactionID` header blocks with different values.
    #[error("the SOAP Header holds TransactionID {first:?} and TransactionID {second:?}")]
    ConflictingTransactionIds {
        /// The first value (cut to 64 characters).
        first: String,
        /// The first different value (cut to 64 characters).
        second: String,
    },
    /// A `Content href` that points at no part of the body (TS 23.140 status 2007).
    #[error("{message}: Content href {href:?} points at no part of the body")]
    DanglingContent {
        /// The message.
        message: &'static str,
        /// The href (cut to 64 characters).
        href: String,
    },
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

impl Mm7Error {
    /// The `StatusCode` a relay or VASP answers this decode error with (3GPP TS 23.140
    /// §8.7.3): 2004 for a body over the size limit, 4003 for an element that is no MM7
    /// message, 2007 (message format corrupt) for every other malformed body. `None` for a
    /// [`SoapVersionMismatch`](Mm7Error::SoapVersionMismatch), which is answered with a SOAP
    /// `VersionMismatch` Fault instead (see [`soap_fault_code`](Self::soap_fault_code)), for a
    /// peer's [`Fault`](Mm7Error::Fault) and for encode errors.
    pub fn status_code(&self) -> Option<StatusCode> {
        match self {
            Mm7Error::BodyTooLarge { .. } => Some(StatusCode::MultimediaContentRefused),
            Mm7Error::UnknownMessage(_) => Some(StatusCode::UnsupportedOperation),
            Mm7Error::SoapVersionMismatch { .. } | Mm7Error::Fault(_) | Mm7Error::Encode { .. } => {
                None
            }
            _ => Some(StatusCode::MessageFormatCorrupt),
        }
    }

    /// The SOAP 1.1 `faultcode` (local part) to answer this error with when answering with a
    /// Fault: `VersionMismatch` for a non-SOAP-1.1 envelope, `Server` for encode errors,
    /// `Client` for everything the peer sent wrong.
    pub fn soap_fault_code(&self) -> &'static str {
        match self {
            Mm7Error::SoapVersionMismatch { .. } => "VersionMismatch",
            Mm7Error::Encode { .. } => "Server",
            _ => "Client",
        }
    }
}

/// Cuts a value for an error message, so that hostile input cannot make errors unbounded.
pub(crate) fn cut(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}
