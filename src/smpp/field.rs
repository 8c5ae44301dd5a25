//! The C-Octet String field type of SMPP 3.4 §3.1.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

/// A C-octet string field (SMPP 3.4 §3.1: a series of ASCII characters terminated with a NUL),
/// without its terminator.
///
/// Decoding hands out a slice of the frame, so a decoded string costs no allocation. The spec
/// says ASCII, but SMSCs put other bytes in fields such as `system_id`, so the bytes are kept as
/// they came; [`as_str`](Self::as_str) checks UTF-8.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct COctetString(Bytes);

impl COctetString {
    /// The empty string (a lone NUL on the wire), which the spec uses for "not set".
    pub const fn empty() -> Self {
        Self(Bytes::new())
    }

    /// A string from bytes. The encoder refuses it if it contains a NUL byte.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Self(value.into())
    }

    pub(crate) fn from_wire(value: Bytes) -> Self {
        Self(value)
    }

    /// The bytes, without the NUL terminator.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as a shared buffer.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The string, if it is valid UTF-8 (ASCII, as the spec asks, always is).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The string with invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Length in bytes, without the terminator.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for COctetString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl fmt::Display for COctetString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&'static str> for COctetString {
    fn from(value: &'static str) -> Self {
        Self(Bytes::from_static(value.as_bytes()))
    }
}

impl From<String> for COctetString {
    fn from(value: String) -> Self {
        Self(Bytes::from(value))
    }
}

impl From<Bytes> for COctetString {
    fn from(value: Bytes) -> Self {
        Self(value)
    }
}

impl From<&[u8]> for COctetString {
    fn from(value: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(value))
    }
}

impl PartialEq<str> for COctetString {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for COctetString {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
