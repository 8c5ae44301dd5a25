//! Request status codes (3GPP TS 23.140 §8.7.3, table 8.44) and the `Status` element.

use std::fmt;

/// The `StatusCode` of an MM7 response's `Status` element (3GPP TS 23.140 §8.7.3).
///
/// The known codes carry their meaning in [`StatusCode::meaning`]; a numeric code outside the
/// table is kept as [`StatusCode::Other`] and the decoder names it in the message's warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusCode {
    /// 1000: the request was executed completely.
    Success,
    /// 1100: the request was executed, but some of the parts were not.
    PartialSuccess,
    /// 2000: the client made an invalid request.
    ClientError,
    /// 2001: the request is restricted for this client.
    OperationRestricted,
    /// 2002: an address in the request was malformed.
    AddressError,
    /// 2003: an address in the request could not be found.
    AddressNotFound,
    /// 2004: the server refused the content (size, media type, copyright).
    MultimediaContentRefused,
    /// 2005: the MessageID of the request is unknown.
    MessageIdNotFound,
    /// 2006: the LinkedID of the request is unknown.
    LinkedIdNotFound,
    /// 2007: an element of the message was invalid or missing.
    MessageFormatCorrupt,
    /// 2008: the ApplicID is unknown.
    ApplicationIdNotFound,
    /// 2009: the ReplyApplicID is unknown.
    ReplyApplicationIdNotFound,
    /// 3000: the server failed to fulfil an apparently valid request.
    ServerError,
    /// 3001: the request could not be carried out (e.g. the message was already delivered).
    NotPossible,
    /// 3002: the server could not deliver the message.
    MessageRejected,
    /// 3003: the server does not support several recipients.
    MultipleAddressesNotSupported,
    /// 3004: the server does not support application addressing.
    ApplicationAddressingNotSupported,
    /// 4000: the service could not be performed.
    GeneralServiceError,
    /// 4001: the client's identification was wrong.
    ImproperIdentification,
    /// 4002: the MM7 version is not supported.
    UnsupportedVersion,
    /// 4003: the operation is not supported.
    UnsupportedOperation,
    /// 4004: the request failed schema validation.
    ValidationError,
    /// 4005: the operation failed for a service reason.
    ServiceError,
    /// 4006: the service is not available now.
    ServiceUnavailable,
    /// 4007: the client is not allowed to use the service.
    ServiceDenied,
    /// 4008: the application is not allowed to use the service.
    ApplicationDenied,
    /// A code outside the table of §8.7.3.
    Other(u16),
}

const TABLE: &[(u16, StatusCode, &str)] = &[
    (1000, StatusCode::Success, "Success"),
    (1100, StatusCode::PartialSuccess, "Partial success"),
    (2000, StatusCode::ClientError, "Client error"),
    (
        2001,
        StatusCode::OperationRestricted,
        "Operation restricted",
    ),
    (2002, StatusCode::AddressError, "Address Error"),
    (2003, StatusCode::AddressNotFound, "Address Not Found"),
    (
        2004,
        StatusCode::MultimediaContentRefused,
        "Multimedia content refused",
    ),
    (2005, StatusCode::MessageIdNotFound, "Message ID Not found"),
    (2006, StatusCode::LinkedIdNotFound, "LinkedID not found"),
    (
        2007,
        StatusCode::MessageFormatCorrupt,
        "Message format corrupt",
    ),
    (
        2008,
        StatusCode::ApplicationIdNotFound,
        "Application ID not found",
    ),
    (
        2009,
        StatusCode::ReplyApplicationIdNotFound,
        "Reply Application ID not found",
    ),
    (3000, StatusCode::ServerError, "Server Error"),
    (3001, StatusCode::NotPossible, "Not Possible"),
    (3002, StatusCode::MessageRejected, "Message rejected"),
    (
        3003,
        StatusCode::MultipleAddressesNotSupported,
        "Multiple addresses not supported",
    ),
    (
        3004,
        StatusCode::ApplicationAddressingNotSupported,
        "Application Addressing not supported",
    ),
    (
        4000,
        StatusCode::GeneralServiceError,
        "General service error",
    ),
    (
        4001,
        StatusCode::ImproperIdentification,
        "Improper identification",
    ),
    (4002, StatusCode::UnsupportedVersion, "Unsupported version"),
    (
        4003,
        StatusCode::UnsupportedOperation,
        "Unsupported operation",
    ),
    (4004, StatusCode::ValidationError, "Validation error"),
    (4005, StatusCode::ServiceError, "Service error"),
    (4006, StatusCode::ServiceUnavailable, "Service unavailable"),
    (4007, StatusCode::ServiceDenied, "Service denied"),
    (4008, StatusCode::ApplicationDenied, "Application denied"),
];

impl StatusCode {
    /// The code for a number; numbers outside the table become [`StatusCode::Other`].
    pub fn from_u16(code: u16) -> Self {
        TABLE
            .iter()
            .find(|(n, _, _)| *n == code)
            .map_or(StatusCode::Other(code), |(_, c, _)| *c)
    }

    /// The number sent on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            StatusCode::Other(n) => n,
            known => TABLE
                .iter()
                .find(|(_, c, _)| *c == known)
                .map_or(0, |(n, _, _)| *n),
        }
    }

    /// The meaning §8.7.3 gives the code, or `None` for [`StatusCode::Other`].
    pub fn meaning(self) -> Option<&'static str> {
        TABLE
            .iter()
            .find(|(_, c, _)| *c == self)
            .map(|(_, _, m)| *m)
    }

    /// Whether the code is in the table of §8.7.3.
    pub fn is_known(self) -> bool {
        !matches!(self, StatusCode::Other(_))
    }

    /// 1xxx: the request was carried out (fully or partly).
    pub fn is_success(self) -> bool {
        (1000..2000).contains(&self.as_u16())
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.meaning() {
            Some(m) => write!(f, "{} ({m})", self.as_u16()),
            None => write!(f, "{}", self.as_u16()),
        }
    }
}

/// The `Status` element of every MM7 response (3GPP TS 23.140 §8.7.3): a code, an optional
/// human-readable text and optional `Details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `StatusCode`.
    pub code: StatusCode,
    /// `StatusText`.
    pub text: Option<String>,
    /// `Details`, as its text content.
    pub details: Option<String>,
}

impl Status {
    /// A status with the code's meaning as its text (e.g. `1000` / `Success`).
    pub fn new(code: StatusCode) -> Self {
        Status {
            code,
            text: code.meaning().map(str::to_owned),
            details: None,
        }
    }

    /// `1000 Success`.
    pub fn success() -> Self {
        Status::new(StatusCode::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_code_round_trips_through_its_number() {
        for (n, code, meaning) in TABLE {
            assert_eq!(StatusCode::from_u16(*n), *code);
            assert_eq!(code.as_u16(), *n);
            assert_eq!(code.meaning(), Some(*meaning));
        }
        assert_eq!(TABLE.len(), 26);
    }

    #[test]
    fn unknown_numbers_are_kept() {
        assert_eq!(StatusCode::from_u16(2010), StatusCode::Other(2010));
        assert_eq!(StatusCode::Other(2010).as_u16(), 2010);
        assert!(!StatusCode::Other(2010).is_known());
        assert!(StatusCode::PartialSuccess.is_success());
        assert!(!StatusCode::ServerError.is_success());
    }
}
