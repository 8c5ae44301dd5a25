//! Message-id formats, so a delivery receipt can be matched to its submission.
//!
//! SMSCs are inconsistent about ids: many return a hexadecimal id in submit_sm_resp and write
//! the same number in decimal in the receipt text (or the reverse), with or without leading
//! zeros. Momentum lets each binding say which format each side uses (`String`, `Decimal`,
//! `Hexadecimal`); this module offers the same three and one rule for comparing them.

use std::fmt;
use std::str::FromStr;

/// How an SMSC writes a message id.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MessageIdFormat {
    /// An opaque string, compared exactly.
    #[default]
    String,
    /// A decimal number (`"0012345"`), leading zeros insignificant.
    Decimal,
    /// A hexadecimal number (`"3039"`, any case, optional `0x`), leading zeros insignificant.
    Hexadecimal,
}

impl MessageIdFormat {
    /// The numeric value of `id` in this format, or `None` for [`MessageIdFormat::String`], an
    /// empty id, a digit the format does not allow, or a value above `u128::MAX`.
    pub fn value(self, id: &str) -> Option<u128> {
        let id = id.trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace());
        let (digits, radix) = match self {
            MessageIdFormat::String => return None,
            MessageIdFormat::Decimal => (id, 10),
            MessageIdFormat::Hexadecimal => (
                id.strip_prefix("0x")
                    .or_else(|| id.strip_prefix("0X"))
                    .unwrap_or(id),
                16,
            ),
        };
        // from_str_radix accepts a leading '+', which is not an id.
        if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
            return None;
        }
        u128::from_str_radix(digits, radix).ok()
    }

    /// The canonical key of `id` written in this format: two ids refer to the same message when
    /// their keys are equal.
    ///
    /// The rule: a numeric id (`Decimal`, `Hexadecimal`) becomes its value written in decimal
    /// without leading zeros, so `"00ff"` (hex) and `"255"` (decimal) both give `"255"`; a
    /// `String` id is kept as it is, minus surrounding whitespace and NULs. `None` when the id
    /// is not valid in its format (see [`value`](Self::value)) or is empty.
    ///
    /// ```
    /// use redeliver::smpp::MessageIdFormat;
    /// let from_resp = MessageIdFormat::Hexadecimal.normalize("1A2B3C");
    /// let from_receipt = MessageIdFormat::Decimal.normalize("0001715004");
    /// assert_eq!(from_resp, from_receipt);
    /// ```
    pub fn normalize(self, id: &str) -> Option<String> {
        match self {
            MessageIdFormat::String => {
                let id = id.trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace());
                (!id.is_empty()).then(|| id.to_owned())
            }
            _ => self.value(id).map(|v| v.to_string()),
        }
    }

    /// Rewrites `id` from format `from` into format `to` (hexadecimal is written in upper case,
    /// numbers without leading zeros). Converting to or from `String` keeps the text; `None` when
    /// `id` is not valid in `from`.
    pub fn convert(id: &str, from: MessageIdFormat, to: MessageIdFormat) -> Option<String> {
        let value = match from {
            MessageIdFormat::String => return from.normalize(id),
            _ => from.value(id)?,
        };
        Some(match to {
            MessageIdFormat::String | MessageIdFormat::Decimal => value.to_string(),
            MessageIdFormat::Hexadecimal => format!("{value:X}"),
        })
    }

    /// True when `a` (written in `a_format`) and `b` (in `b_format`) name the same message.
    pub fn same_id(a: &str, a_format: MessageIdFormat, b: &str, b_format: MessageIdFormat) -> bool {
        match (a_format.normalize(a), b_format.normalize(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }
}

impl fmt::Display for MessageIdFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageIdFormat::String => "string",
            MessageIdFormat::Decimal => "decimal",
            MessageIdFormat::Hexadecimal => "hexadecimal",
        })
    }
}

/// Why a message-id format name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message id format {0:?} is not one of string, decimal, hexadecimal")]
pub struct ParseMessageIdFormatError(pub String);

impl FromStr for MessageIdFormat {
    type Err = ParseMessageIdFormatError;

    /// `string`, `decimal`/`dec`, `hexadecimal`/`hex`, case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "string" | "str" => Ok(MessageIdFormat::String),
            "decimal" | "dec" => Ok(MessageIdFormat::Decimal),
            "hexadecimal" | "hex" => Ok(MessageIdFormat::Hexadecimal),
            _ => Err(ParseMessageIdFormatError(s.to_owned())),
        }
    }
}

/// The key under which an id written in `format` is stored and matched
/// ([`MessageIdFormat::normalize`]: numeric ids become their decimal value, so `"000004D2"`
/// in hexadecimal and `"1234"` in decimal meet). An id that is not valid in its format is
/// compared as a string, so a misconfigured scope still matches identical ids; `None` only for
/// an id that is empty once trimmed.
pub fn msgid_key(id: &str, format: MessageIdFormat) -> Option<String> {
    format
        .normalize(id)
        .or_else(|| MessageIdFormat::String.normalize(id))
}

#[cfg(test)]
mod tests {
    use super::MessageIdFormat::{Decimal, Hexadecimal, String as Str};
    use super::*;

    #[test]
    fn hex_response_decimal_receipt() {
        assert!(MessageIdFormat::same_id(
            "1A2B3C",
            Hexadecimal,
            "1715004",
            Decimal
        ));
        assert!(MessageIdFormat::same_id(
            "001a2b3c",
            Hexadecimal,
            "0001715004",
            Decimal
        ));
        assert!(!MessageIdFormat::same_id(
            "1A2B3C",
            Hexadecimal,
            "1715005",
            Decimal
        ));
        assert_eq!(Hexadecimal.normalize("0x00FF"), Some("255".into()));
        assert_eq!(Decimal.normalize("000255\0"), Some("255".into()));
        assert_eq!(Decimal.normalize("12ab"), None);
        assert_eq!(Decimal.normalize("+12"), None);
        assert_eq!(Hexadecimal.normalize(""), None);
        assert_eq!(Str.normalize(" abc-1 "), Some("abc-1".into()));
        assert_eq!(Str.normalize(""), None);
    }

    #[test]
    fn conversions() {
        assert_eq!(
            MessageIdFormat::convert("255", Decimal, Hexadecimal),
            Some("FF".into())
        );
        assert_eq!(
            MessageIdFormat::convert("00ff", Hexadecimal, Decimal),
            Some("255".into())
        );
        assert_eq!(
            MessageIdFormat::convert("x1", Str, Decimal),
            Some("x1".into())
        );
        let huge = "9".repeat(40);
        assert_eq!(MessageIdFormat::convert(&huge, Decimal, Hexadecimal), None);
        assert_eq!("HEX".parse(), Ok(Hexadecimal));
        assert!("octal".parse::<MessageIdFormat>().is_err());
    }

    #[test]
    fn numeric_formats_meet_on_one_key() {
        use super::MessageIdFormat::{Decimal, Hexadecimal, String as Str};
        assert_eq!(msgid_key("000004D2", Hexadecimal).as_deref(), Some("1234"));
        assert_eq!(msgid_key("4d2", Hexadecimal).as_deref(), Some("1234"));
        assert_eq!(msgid_key("0001234", Decimal).as_deref(), Some("1234"));
        assert_eq!(msgid_key(" 0001234 ", Str).as_deref(), Some("0001234"));
        // Not a number in its format: compared as the string it is.
        assert_eq!(msgid_key("12ab", Decimal).as_deref(), Some("12ab"));
        assert_eq!(msgid_key("+12", Decimal).as_deref(), Some("+12"));
        assert_eq!(msgid_key("  ", Decimal), None);
    }
}
