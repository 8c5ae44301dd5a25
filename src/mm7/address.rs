//! Addresses and recipient lists (3GPP TS 23.140 §8.2.2, schema types `addressType`,
//! `multiAddressType`, `recipientsType`).

use std::fmt;

/// One MM7 address: the element that carries it says what kind it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// `Number`: an MSISDN, e.g. `+358401234567`.
    Number(String),
    /// `ShortCode`: a service short code, e.g. `12345`.
    ShortCode(String),
    /// `RFC2822Address`: an e-mail address.
    Rfc2822(String),
}

impl Address {
    /// The schema's element name for this kind of address.
    pub fn element(&self) -> &'static str {
        match self {
            Address::Number(_) => "Number",
            Address::ShortCode(_) => "ShortCode",
            Address::Rfc2822(_) => "RFC2822Address",
        }
    }

    /// The kind in snake case (`number`, `short_code`, `rfc2822`), as the inspection tool
    /// prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            Address::Number(_) => "number",
            Address::ShortCode(_) => "short_code",
            Address::Rfc2822(_) => "rfc2822",
        }
    }

    /// The address text.
    pub fn value(&self) -> &str {
        match self {
            Address::Number(v) | Address::ShortCode(v) | Address::Rfc2822(v) => v,
        }
    }

    /// The address for an element name, or `None` when the name is not an address element.
    pub(crate) fn from_element(name: &str, value: String) -> Option<Self> {
        match name {
            "Number" => Some(Address::Number(value)),
            "ShortCode" => Some(Address::ShortCode(value)),
            "RFC2822Address" => Some(Address::Rfc2822(value)),
            _ => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.value())
    }
}

/// `Recipients`: the `To`, `Cc` and `Bcc` lists of a SubmitReq or DeliverReq.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipients {
    /// `To`.
    pub to: Vec<Address>,
    /// `Cc`.
    pub cc: Vec<Address>,
    /// `Bcc`.
    pub bcc: Vec<Address>,
}

impl Recipients {
    /// Whether all three lists are empty.
    pub fn is_empty(&self) -> bool {
        self.to.is_empty() && self.cc.is_empty() && self.bcc.is_empty()
    }
}
