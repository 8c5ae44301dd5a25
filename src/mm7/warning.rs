//! Warnings: what the decoder accepted although the schema (3GPP TS 23.140 Annex D) or the
//! MIME rules do not allow it. Every decoded message lists them, so leniency is never silent.

use std::fmt;

/// One thing the decoder accepted that the schema or MIME does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The message element's namespace is not a known MM7 release (or it has none).
    UnknownRelease {
        /// The namespace as received (empty when there was none).
        namespace: String,
    },
    /// The SOAP header has no `TransactionID` (§9.2 makes it mandatory).
    MissingTransactionId,
    /// The `TransactionID` header is in a different release's namespace than the body.
    MixedReleases {
        /// The header's namespace.
        header: String,
        /// The body's namespace.
        body: String,
    },
    /// The envelope element is in no namespace (SOAP 1.1 wants its own); accepted. An
    /// envelope in any other namespace (SOAP 1.2) is refused with
    /// [`Mm7Error::SoapVersionMismatch`](super::Mm7Error::SoapVersionMismatch).
    EnvelopeNamespace {
        /// The namespace as received.
        namespace: String,
    },
    /// `MM7Version` does not belong to the body's namespace release.
    VersionMismatch {
        /// The `MM7Version` value.
        mm7_version: String,
        /// The body's release name.
        release: String,
    },
    /// An enumerated value (`MMStatus`, `Priority`, …) outside the schema's enumeration, kept
    /// as received; or a non-standard spelling read as the standard value.
    OutsideEnumeration {
        /// The element name.
        element: &'static str,
        /// The value as received.
        value: String,
        /// What the decoder did with it.
        read_as: String,
    },
    /// A `StatusCode` outside the table of §8.7.3, kept as a number.
    UnknownStatusCode {
        /// The code.
        code: u16,
    },
    /// An element the schema does not allow where it appeared, or one this codec does not
    /// model (e.g. `ReplyCharging`, `UACapabilities`); it was skipped.
    UnexpectedElement {
        /// The enclosing element.
        parent: String,
        /// The skipped element's local name.
        element: String,
    },
    /// An address element carried bare text instead of `Number`, `ShortCode` or
    /// `RFC2822Address` (as some REL-5 relays send it).
    BareAddress {
        /// The element name.
        element: String,
        /// How the text was read.
        read_as: &'static str,
    },
    /// An address sat inside a wrapper element this codec does not know from the schemas; the
    /// address inside was used.
    WrappedAddress {
        /// The address element (`Sender`, `Recipient`, …).
        element: String,
        /// The wrapper's local name.
        wrapper: String,
    },
    /// A multipart body's last part is not followed by the closing delimiter.
    UnclosedMimePart {
        /// The multipart's boundary.
        boundary: String,
    },
    /// Content parts came with a message that has no content (a response, a report); they
    /// were dropped.
    IgnoredParts {
        /// How many top-level parts were dropped.
        count: usize,
    },
    /// The SOAP part's charset declarations disagree with each other or with its bytes (a
    /// byte order mark of another encoding, byte sequences the declared encoding does not
    /// have); the text was decoded as `found` says.
    CharsetMismatch {
        /// What was declared.
        declared: String,
        /// What the bytes or the other declaration say, and how the text was decoded.
        found: String,
    },
    /// The SOAP header carries the same `TransactionID` more than once.
    DuplicateTransactionId,
    /// An optional date (`xs:dateTime`) or date-or-duration element whose value is not one; it
    /// was dropped (the field is `None`).
    InvalidDate {
        /// The element name.
        element: &'static str,
        /// The value as received (cut to 64 characters).
        value: String,
    },
    /// More warnings than [`Limits::max_warnings`](super::Limits::max_warnings) came up; the
    /// ones past the limit were not kept. Always the last entry of the list when present.
    Suppressed {
        /// How many warnings were not kept.
        count: usize,
    },
    /// A part's transfer encoding could not be decoded; its body is kept as received.
    UndecodableContent {
        /// The part's Content-ID (or its position when it has none).
        part: String,
        /// The transfer encoding.
        encoding: String,
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnknownRelease { namespace } if namespace.is_empty() => {
                f.write_str("the message element has no namespace")
            }
            Warning::UnknownRelease { namespace } => {
                write!(f, "namespace {namespace:?} is not a known MM7 release")
            }
            Warning::MissingTransactionId => f.write_str("the SOAP header has no TransactionID"),
            Warning::MixedReleases { header, body } => write!(
                f,
                "TransactionID is in namespace {header:?} but the body is in {body:?}"
            ),
            Warning::EnvelopeNamespace { namespace } => {
                write!(f, "the envelope namespace {namespace:?} is not SOAP 1.1")
            }
            Warning::VersionMismatch {
                mm7_version,
                release,
            } => write!(
                f,
                "MM7Version {mm7_version:?} does not belong to release {release}"
            ),
            Warning::OutsideEnumeration {
                element,
                value,
                read_as,
            } => write!(
                f,
                "{element} {value:?} is outside the schema's enumeration; read as {read_as}"
            ),
            Warning::UnknownStatusCode { code } => {
                write!(
                    f,
                    "StatusCode {code} is not in the table of TS 23.140 §8.7.3"
                )
            }
            Warning::UnexpectedElement { parent, element } => {
                write!(
                    f,
                    "element {element} in {parent} is unexpected or not modelled; skipped"
                )
            }
            Warning::BareAddress { element, read_as } => write!(
                f,
                "{element} holds bare text instead of Number/ShortCode/RFC2822Address; read as {read_as}"
            ),
            Warning::WrappedAddress { element, wrapper } => write!(
                f,
                "{element} holds its address inside {wrapper}; the address inside was used"
            ),
            Warning::UnclosedMimePart { boundary } => write!(
                f,
                "the last MIME part of boundary {boundary:?} has no closing delimiter"
            ),
            Warning::IgnoredParts { count } => write!(
                f,
                "{count} content part(s) came with a message that has no content; dropped"
            ),
            Warning::CharsetMismatch { declared, found } => {
                write!(f, "the SOAP part is declared {declared} but has {found}")
            }
            Warning::DuplicateTransactionId => {
                f.write_str("the SOAP header carries the same TransactionID more than once")
            }
            Warning::InvalidDate { element, value } => write!(
                f,
                "{element} {value:?} is not an xs:dateTime or xs:duration; dropped"
            ),
            Warning::Suppressed { count } => {
                write!(f, "{count} more warning(s) suppressed")
            }
            Warning::UndecodableContent {
                part,
                encoding,
                reason,
            } => write!(
                f,
                "part {part}: {encoding} body could not be decoded ({reason}); kept as received"
            ),
        }
    }
}

/// Adds `warning` to `list` unless the list already holds `limit` warnings; past the limit
/// only the count in a final [`Warning::Suppressed`] grows, so hostile input that raises a
/// warning per element costs no memory per element.
pub(crate) fn push_capped(list: &mut Vec<Warning>, warning: Warning, limit: usize) {
    let len = list.len();
    match list.last_mut() {
        Some(Warning::Suppressed { count }) => *count = count.saturating_add(1),
        _ if len < limit => list.push(warning),
        _ => list.push(Warning::Suppressed { count: 1 }),
    }
}

/// Cuts `list` to at most `limit` warnings plus the final [`Warning::Suppressed`] count.
pub(crate) fn cap(list: &mut Vec<Warning>, limit: usize) {
    if list.len() <= limit {
        return;
    }
    let dropped: usize = list
        .drain(limit..)
        .map(|w| match w {
            Warning::Suppressed { count } => count,
            _ => 1,
        })
        .sum();
    list.push(Warning::Suppressed { count: dropped });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_past_the_limit_are_counted_not_kept() {
        let mut list = Vec::new();
        for _ in 0..10 {
            push_capped(&mut list, Warning::DuplicateTransactionId, 3);
        }
        assert_eq!(list.len(), 4);
        assert_eq!(list[3], Warning::Suppressed { count: 7 });
        assert_eq!(list[3].to_string(), "7 more warning(s) suppressed");

        let mut list = vec![Warning::MissingTransactionId; 5];
        cap(&mut list, 5);
        assert_eq!(list.len(), 5);
        list.push(Warning::Suppressed { count: 4 });
        cap(&mut list, 2);
        assert_eq!(list.len(), 3);
        assert_eq!(list[2], Warning::Suppressed { count: 7 });

        let mut none = Vec::new();
        push_capped(&mut none, Warning::DuplicateTransactionId, 0);
        push_capped(&mut none, Warning::DuplicateTransactionId, 0);
        assert_eq!(none, vec![Warning::Suppressed { count: 2 }]);
    }
}
