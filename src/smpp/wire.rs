//! The primitive field types of SMPP 3.4 §3.1 (Integer, C-Octet String, Octet String), read
//! from a frame and written into a buffer.
//!
//! Reading hands out [`Bytes::slice`]s of the frame (short strings are copied inline), so
//! decoding allocates nothing. The reader owns the frame so that the field at its tail can take
//! the frame itself rather than a new reference to it.

use std::borrow::Cow;

use bytes::{Buf, Bytes};

use super::error::{DecodeError, EncodeError, FieldError};
use super::field::COctetString;

/// A cursor over one PDU body that reports errors with the PDU's name.
pub(crate) struct Reader {
    frame: Bytes,
    pos: usize,
    pub(crate) pdu: &'static str,
    pub(crate) sequence_number: u32,
    /// Refuse a known TLV whose length is not the spec's (else it is kept raw).
    pub(crate) strict_tlvs: bool,
}

impl Reader {
    #[inline]
    pub(crate) fn new(frame: Bytes, pos: usize, pdu: &'static str, sequence_number: u32) -> Self {
        Self {
            frame,
            pos,
            pdu,
            sequence_number,
            strict_tlvs: false,
        }
    }

    #[inline]
    pub(crate) fn left(&self) -> usize {
        self.frame.len() - self.pos
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.frame.len()
    }

    pub(crate) fn error(&self, field: &'static str, error: FieldError) -> DecodeError {
        DecodeError::Field {
            pdu: self.pdu,
            field,
            error,
            sequence_number: self.sequence_number,
        }
    }

    #[inline]
    fn take(&mut self, field: &'static str, n: usize) -> Result<&[u8], DecodeError> {
        let start = self.pos;
        if n > self.left() {
            return Err(self.error(
                field,
                FieldError::Truncated {
                    needed: n,
                    left: self.left(),
                },
            ));
        }
        self.pos += n;
        Ok(&self.frame[start..start + n])
    }

    #[inline]
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    #[inline]
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A C-octet string of at most `max` octets, NUL included (the spec's "Var. max" size).
    #[inline]
    pub(crate) fn cstr(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<COctetString, DecodeError> {
        let window = &self.frame[self.pos..];
        let limit = window.len().min(max);
        match window[..limit].iter().position(|&b| b == 0) {
            // Empty strings are common (service_type, the dates); they need no slice and so
            // no reference-count traffic.
            Some(0) => {
                self.pos += 1;
                Ok(COctetString::empty())
            }
            Some(nul) => {
                let value = COctetString::from_frame(&self.frame, self.pos, self.pos + nul);
                self.pos += nul + 1;
                Ok(value)
            }
            None if window.len() < max => Err(self.error(field, FieldError::MissingNul)),
            None => Err(self.error(field, FieldError::TooLong { max })),
        }
    }

    /// An octet string whose length was given by a preceding length field.
    #[inline]
    pub(crate) fn octets(
        &mut self,
        field: &'static str,
        length_field: &'static str,
        len: usize,
    ) -> Result<Bytes, DecodeError> {
        if len > self.left() {
            return Err(self.error(
                field,
                FieldError::LengthPastEnd {
                    length_field,
                    length: len,
                    left: self.left(),
                },
            ));
        }
        if len == 0 {
            return Ok(Bytes::new());
        }
        if self.pos + len == self.frame.len() {
            return Ok(self.rest());
        }
        let value = self.frame.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(value)
    }

    /// Everything left in the body. It is the tail of the frame, so the frame itself becomes the
    /// value: no new reference to the shared buffer is taken.
    #[inline]
    pub(crate) fn rest(&mut self) -> Bytes {
        if self.is_empty() {
            return Bytes::new();
        }
        let mut tail = std::mem::take(&mut self.frame);
        tail.advance(self.pos);
        self.pos = 0;
        tail
    }

    /// Fails unless the whole body was read.
    #[inline]
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                pdu: self.pdu,
                extra: self.left(),
                sequence_number: self.sequence_number,
            })
        }
    }
}

/// Writes fields into the zero-filled slice reserved for a body, checking each against the
/// spec's size limits. Writing past the end (a body whose `encoded_len` is wrong) is recorded,
/// not a panic, and turns into an error.
///
/// Every octet past the fields written so far is zero: writes put only field octets and (for
/// inline strings) zero padding, so the NUL of a C-octet string is never written, only
/// counted.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
    pub(crate) pdu: &'static str,
}

impl<'a> Writer<'a> {
    /// `buf` must be zero-filled.
    #[inline]
    pub(crate) fn new(buf: &'a mut [u8], pdu: &'static str) -> Self {
        Writer {
            buf,
            pos: 0,
            overflow: false,
            pdu,
        }
    }

    /// Bytes written, or `None` if the body did not fit its slice.
    #[inline]
    pub(crate) fn written(&self) -> Option<usize> {
        (!self.overflow).then_some(self.pos)
    }

    pub(crate) fn error(
        &self,
        field: impl Into<Cow<'static, str>>,
        error: FieldError,
    ) -> EncodeError {
        EncodeError::Field {
            pdu: self.pdu,
            field: field.into(),
            error,
        }
    }

    #[inline]
    pub(crate) fn raw(&mut self, value: &[u8]) {
        // Most PDUs have no TLVs: skip the copy (a call) of an empty region.
        if value.is_empty() {
            return;
        }
        match self.buf.get_mut(self.pos..self.pos + value.len()) {
            Some(dst) => {
                dst.copy_from_slice(value);
                self.pos += value.len();
            }
            None => self.overflow = true,
        }
    }

    #[inline]
    pub(crate) fn u8(&mut self, value: u8) {
        match self.buf.get_mut(self.pos) {
            Some(dst) => {
                *dst = value;
                self.pos += 1;
            }
            None => self.overflow = true,
        }
    }

    /// Several one-octet fields in a row: one bounds check and one store.
    #[inline]
    pub(crate) fn u8s<const N: usize>(&mut self, values: [u8; N]) {
        match self.buf.get_mut(self.pos..self.pos + N) {
            Some(dst) => {
                dst.copy_from_slice(&values);
                self.pos += N;
            }
            None => self.overflow = true,
        }
    }

    #[inline]
    pub(crate) fn u32(&mut self, value: u32) {
        self.raw(&value.to_be_bytes());
    }

    /// The string and its NUL (already there: see [`Writer`]).
    #[inline(always)]
    pub(crate) fn cstr(
        &mut self,
        field: &'static str,
        value: &COctetString,
        max: usize,
    ) -> Result<(), EncodeError> {
        match value.write_c(self.buf, self.pos, max) {
            Ok(Some(end)) => self.pos = end,
            Ok(None) => self.overflow = true,
            Err(error) => return Err(self.error(field, error)),
        }
        Ok(())
    }

    /// `sm_length` followed by `short_message`.
    #[inline]
    pub(crate) fn short_message(&mut self, value: &Bytes) -> Result<(), EncodeError> {
        let Ok(len) = u8::try_from(value.len()) else {
            return Err(self.error(
                "short_message",
                FieldError::BadValue {
                    value: u32::try_from(value.len()).unwrap_or(u32::MAX),
                    reason: "sm_length is one octet; use the message_payload TLV for longer messages",
                },
            ));
        };
        self.u8(len);
        self.raw(value);
        Ok(())
    }
}
