//! The primitive field types of SMPP 3.4 §3.1 (Integer, C-Octet String, Octet String), read
//! from a borrowed frame and written into a buffer.
//!
//! Reading hands out [`Bytes::slice`]s of the frame, so decoding copies no field.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{DecodeError, EncodeError, FieldError};
use super::field::COctetString;
use super::tlv::TlvTag;

/// A cursor over one PDU body that reports errors with the PDU's name.
pub(crate) struct Reader<'a> {
    frame: &'a Bytes,
    pos: usize,
    pub(crate) pdu: &'static str,
    pub(crate) sequence_number: u32,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        frame: &'a Bytes,
        pos: usize,
        pdu: &'static str,
        sequence_number: u32,
    ) -> Self {
        Self {
            frame,
            pos,
            pdu,
            sequence_number,
        }
    }

    pub(crate) fn left(&self) -> usize {
        self.frame.len() - self.pos
    }

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

    pub(crate) fn tlv_error(&self, tag: TlvTag, error: FieldError) -> DecodeError {
        DecodeError::Tlv {
            pdu: self.pdu,
            tag,
            error,
            sequence_number: self.sequence_number,
        }
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        let frame: &'a [u8] = self.frame;
        match frame.get(self.pos..self.pos + n) {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(self.error(
                field,
                FieldError::Truncated {
                    needed: n,
                    left: self.left(),
                },
            )),
        }
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A C-octet string of at most `max` octets, NUL included (the spec's "Var. max" size).
    pub(crate) fn cstr(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<COctetString, DecodeError> {
        let window = &self.frame[self.pos..];
        let limit = window.len().min(max);
        match window[..limit].iter().position(|&b| b == 0) {
            Some(nul) => {
                let value = self.frame.slice(self.pos..self.pos + nul);
                self.pos += nul + 1;
                Ok(COctetString::from_wire(value))
            }
            None if window.len() < max => Err(self.error(field, FieldError::MissingNul)),
            None => Err(self.error(field, FieldError::TooLong { max })),
        }
    }

    /// An octet string whose length was given by a preceding length field.
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
        let value = self.frame.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(value)
    }

    /// Everything left in the body.
    pub(crate) fn rest(&mut self) -> Bytes {
        let value = self.frame.slice(self.pos..);
        self.pos = self.frame.len();
        value
    }

    /// Fails unless the whole body was read.
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

/// Writes fields into a buffer, checking each against the spec's size limits.
pub(crate) struct Writer<'a> {
    pub(crate) dst: &'a mut BytesMut,
    pub(crate) pdu: &'static str,
}

impl Writer<'_> {
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

    pub(crate) fn u8(&mut self, value: u8) {
        self.dst.put_u8(value);
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.dst.put_u32(value);
    }

    pub(crate) fn cstr(
        &mut self,
        field: &'static str,
        value: &COctetString,
        max: usize,
    ) -> Result<(), EncodeError> {
        let bytes = value.as_bytes();
        if bytes.len() >= max {
            return Err(self.error(field, FieldError::TooLong { max }));
        }
        if bytes.contains(&0) {
            return Err(self.error(field, FieldError::InteriorNul));
        }
        self.dst.extend_from_slice(bytes);
        self.dst.put_u8(0);
        Ok(())
    }

    /// `sm_length` followed by `short_message`.
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
        self.dst.put_u8(len);
        self.dst.extend_from_slice(value);
        Ok(())
    }

    pub(crate) fn raw(&mut self, value: &[u8]) {
        self.dst.extend_from_slice(value);
    }
}
