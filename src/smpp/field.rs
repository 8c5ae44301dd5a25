//! The C-Octet String field type of SMPP 3.4 §3.1.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use super::error::FieldError;

/// Strings up to this many bytes are kept inline rather than as a slice of the frame.
const INLINE: usize = 22;
/// In an inline string's `len` octet: the string holds a NUL (so the encoder refuses it).
const HAS_NUL: u8 = 0x80;
/// In an inline string's `len` octet: the length.
const LEN_MASK: u8 = 0x7F;

/// A C-octet string field (SMPP 3.4 §3.1: a series of ASCII characters terminated with a NUL),
/// without its terminator.
///
/// Decoding costs no allocation: short strings (addresses, ids — up to 22 bytes) are copied
/// inline, which is cheaper than sharing the frame, and longer ones are a [`Bytes`] slice of
/// the frame. The spec says ASCII, but SMSCs put other bytes in fields such as `system_id`, so
/// the bytes are kept as they came; [`as_str`](Self::as_str) checks UTF-8.
#[derive(Clone)]
pub struct COctetString(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Shared(Bytes),
}

impl Default for COctetString {
    fn default() -> Self {
        Self::empty()
    }
}

impl COctetString {
    /// The empty string (a lone NUL on the wire), which the spec uses for "not set".
    pub const fn empty() -> Self {
        Self(Repr::Inline {
            len: 0,
            buf: [0; INLINE],
        })
    }

    /// A string from bytes. The encoder refuses it if it contains a NUL byte.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Self(Repr::Shared(value.into()))
    }

    /// A string read from a frame: inline when short, else a slice of `frame`.
    /// `frame[start..end]` holds no NUL: callers cut the string at its terminator.
    #[inline]
    pub(crate) fn from_frame(frame: &Bytes, start: usize, end: usize) -> Self {
        match frame.get(start..end) {
            Some(bytes) if bytes.len() <= INLINE => Self::inline_with(bytes, false),
            Some(_) => Self(Repr::Shared(frame.slice(start..end))),
            None => Self::empty(),
        }
    }

    /// An inline string of bytes that may hold a NUL.
    #[inline]
    fn inline(bytes: &[u8]) -> Self {
        Self::inline_with(bytes, bytes.contains(&0))
    }

    /// An inline string; `has_nul` says whether `bytes` holds a NUL, which the encoder then
    /// refuses without looking at the bytes again. The octets past the length stay zero:
    /// [`write_c`](Self::write_c) relies on it.
    #[inline]
    fn inline_with(bytes: &[u8], has_nul: bool) -> Self {
        let mut buf = [0; INLINE];
        let len = bytes.len().min(INLINE);
        buf[..len].copy_from_slice(&bytes[..len]);
        let flag = if has_nul { HAS_NUL } else { 0 };
        Self(Repr::Inline {
            len: len as u8 | flag,
            buf,
        })
    }

    /// The bytes, without the NUL terminator.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len & LEN_MASK).min(INLINE)],
            Repr::Shared(bytes) => bytes,
        }
    }

    /// The bytes as a [`Bytes`] buffer (a copy for short strings).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(self.as_bytes()),
            Repr::Shared(bytes) => bytes.clone(),
        }
    }

    /// The string, if it is valid UTF-8 (ASCII, as the spec asks, always is).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }

    /// The string with invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.as_bytes())
    }

    /// Length in bytes, without the terminator.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            // At most INLINE since the string was made (as_bytes clamps it all the same).
            Repr::Inline { len, .. } => usize::from(*len & LEN_MASK),
            Repr::Shared(bytes) => bytes.len(),
        }
    }

    /// True for the empty string.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the string at `buf[pos..]`, which must be zero-filled, and returns the position
    /// past its NUL terminator, or `None` if `buf` is too short. The NUL itself is not written:
    /// the octet is already zero. A string of `max` octets or more (the NUL counts towards the
    /// spec's size) or one with a NUL inside is refused.
    ///
    /// An inline string is written as its whole zero-padded buffer when `buf` has room for it:
    /// a copy of fixed size, which needs no call, and one bounds check for the string and its
    /// NUL. The octets past the NUL stay zero.
    #[inline(always)]
    pub(crate) fn write_c(
        &self,
        buf: &mut [u8],
        pos: usize,
        max: usize,
    ) -> Result<Option<usize>, FieldError> {
        match &self.0 {
            Repr::Inline {
                len: flags,
                buf: inline,
            } => {
                // At most INLINE since the string was made; the copies below do not rely on it.
                let len = usize::from(*flags & LEN_MASK);
                if len >= max {
                    return Err(FieldError::TooLong { max });
                }
                // Known since the string was made.
                if *flags & HAS_NUL != 0 {
                    return Err(FieldError::InteriorNul);
                }
                if let Some(whole) = buf.get_mut(pos..pos.wrapping_add(INLINE)) {
                    whole.copy_from_slice(inline);
                    if len < INLINE {
                        // The NUL is the padding octet after the string.
                        return Ok(Some(pos + len + 1));
                    }
                } else {
                    match (buf.get_mut(pos..pos.wrapping_add(len)), inline.get(..len)) {
                        (Some(exact), Some(src)) => exact.copy_from_slice(src),
                        _ => return Ok(None),
                    }
                }
                Ok((pos + len < buf.len()).then_some(pos + len + 1))
            }
            Repr::Shared(bytes) => {
                let len = bytes.len();
                if len >= max {
                    return Err(FieldError::TooLong { max });
                }
                // No early exit: the compiler turns this into a vector scan, which for the
                // short strings of a PDU beats memchr's call and set-up.
                if bytes.iter().fold(false, |nul, &b| nul | (b == 0)) {
                    return Err(FieldError::InteriorNul);
                }
                match buf.get_mut(pos..pos.wrapping_add(len)) {
                    Some(exact) => exact.copy_from_slice(bytes),
                    None => return Ok(None),
                }
                Ok((pos + len < buf.len()).then_some(pos + len + 1))
            }
        }
    }
}

impl PartialEq for COctetString {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for COctetString {}

impl std::hash::Hash for COctetString {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for COctetString {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for COctetString {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
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
        Self(Repr::Shared(Bytes::from_static(value.as_bytes())))
    }
}

impl From<String> for COctetString {
    fn from(value: String) -> Self {
        if value.len() <= INLINE {
            Self::inline(value.as_bytes())
        } else {
            Self(Repr::Shared(Bytes::from(value)))
        }
    }
}

impl From<Bytes> for COctetString {
    fn from(value: Bytes) -> Self {
        Self(Repr::Shared(value))
    }
}

impl From<&[u8]> for COctetString {
    fn from(value: &[u8]) -> Self {
        if value.len() <= INLINE {
            Self::inline(value)
        } else {
            Self(Repr::Shared(Bytes::copy_from_slice(value)))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_shared_compare_by_content() {
        let frame = Bytes::from_static(b"xx0123456789012345678901234567\0");
        let long = COctetString::from_frame(&frame, 2, 30);
        let short = COctetString::from_frame(&frame, 2, 6);
        assert_eq!(long.len(), 28);
        assert_eq!(short, "0123");
        assert_eq!(short, COctetString::from(String::from("0123")));
        assert_eq!(
            long,
            COctetString::from(&b"0123456789012345678901234567"[..])
        );
        assert_eq!(
            COctetString::from_frame(&frame, 20, 200),
            COctetString::empty()
        );
        assert_eq!(short.to_bytes(), Bytes::from_static(b"0123"));
        assert!(COctetString::default().is_empty());
    }

    #[test]
    fn write_c_writes_the_string_and_one_nul_and_refuses_bad_ones() {
        let frame = Bytes::from_static(b"xx0123456789012345678901234567\0");
        for s in [
            COctetString::empty(),
            COctetString::from_frame(&frame, 2, 6),
            COctetString::from_frame(&frame, 2, 24),
            COctetString::from_frame(&frame, 2, 30),
            COctetString::from("static"),
        ] {
            let mut want = s.as_bytes().to_vec();
            want.push(0);
            for pos in [0, 5] {
                for room in [want.len(), want.len() + 3, 64] {
                    let mut dst = vec![0; pos + room];
                    let end = pos + want.len();
                    assert_eq!(s.write_c(&mut dst, pos, 65), Ok(Some(end)), "{s:?}");
                    assert_eq!(&dst[pos..end], &want[..], "{s:?}");
                    assert!(dst[end..].iter().all(|&b| b == 0), "{s:?}");
                }
                let mut short = vec![0; pos + want.len() - 1];
                assert_eq!(s.write_c(&mut short, pos, 65), Ok(None), "{s:?}");
            }
        }
        let mut dst = [0u8; 64];
        let nul_inline = COctetString::from(&b"ab\0cd"[..]);
        let nul_shared = COctetString::new(Bytes::from_static(b"0123456789012345678901234\0"));
        assert_eq!(
            nul_inline.write_c(&mut dst, 0, 65),
            Err(FieldError::InteriorNul)
        );
        assert_eq!(
            nul_shared.write_c(&mut dst, 0, 65),
            Err(FieldError::InteriorNul)
        );
        assert_eq!(
            COctetString::from_frame(&frame, 2, 24).write_c(&mut dst, 0, 22),
            Err(FieldError::TooLong { max: 22 })
        );
        assert_eq!(
            COctetString::from("static").write_c(&mut dst, 0, 6),
            Err(FieldError::TooLong { max: 6 })
        );
    }
}
