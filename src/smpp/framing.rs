//! The `tokio_util::codec` adapter: splits a byte stream into PDUs.

use std::io;

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::{DecodeError, DefaultSmppCodec, EncodeError, HEADER_LEN, Pdu, SmppCodec};

/// The default largest `command_length` accepted: 64 KiB covers a submit_sm with a full
/// `message_payload` TLV.
pub const DEFAULT_MAX_COMMAND_LENGTH: u32 = 64 * 1024 + 512;

/// Why a stream could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The transport failed.
    #[error("SMPP transport: {0}")]
    Io(#[from] io::Error),
    /// A PDU did not decode. When [`is_fatal`](Self::is_fatal) is false the bad frame was
    /// consumed and the stream can go on (answer with a generic_nack or the error response).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A PDU could not be encoded; nothing was written.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl FramingError {
    /// True when the stream cannot be resynchronised (`command_length` below 16 or above the
    /// maximum, or an I/O error): the host should close the connection.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            FramingError::Io(_)
                | FramingError::Decode(
                    DecodeError::CommandLengthTooSmall { .. }
                        | DecodeError::CommandLengthTooLarge { .. }
                )
        )
    }
}

/// A [`Decoder`]/[`Encoder`] of PDUs for `tokio_util::codec::Framed`.
///
/// `command_length` is checked against the maximum *before* any buffer is grown, and a frame is
/// only taken from the buffer once all of it has arrived.
#[derive(Debug, Clone)]
pub struct SmppFraming<C = DefaultSmppCodec> {
    codec: C,
    max_command_length: u32,
}

impl SmppFraming<DefaultSmppCodec> {
    /// Framing with the default codec and [`DEFAULT_MAX_COMMAND_LENGTH`].
    pub fn new() -> Self {
        Self::with_codec(DefaultSmppCodec)
    }
}

impl Default for SmppFraming<DefaultSmppCodec> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: SmppCodec> SmppFraming<C> {
    /// Framing around another codec.
    pub fn with_codec(codec: C) -> Self {
        SmppFraming {
            codec,
            max_command_length: DEFAULT_MAX_COMMAND_LENGTH,
        }
    }

    /// Sets the largest `command_length` accepted (at least the 16-byte header).
    pub fn max_command_length(mut self, max: u32) -> Self {
        self.max_command_length = max.max(HEADER_LEN as u32);
        self
    }

    /// The largest `command_length` accepted.
    pub fn max_len(&self) -> u32 {
        self.max_command_length
    }
}

impl<C: SmppCodec> Decoder for SmppFraming<C> {
    type Item = Pdu;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Pdu>, FramingError> {
        let Some(prefix) = src.get(..4) else {
            return Ok(None);
        };
        let command_length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if (command_length as usize) < HEADER_LEN {
            return Err(DecodeError::CommandLengthTooSmall { command_length }.into());
        }
        if command_length > self.max_command_length {
            return Err(DecodeError::CommandLengthTooLarge {
                command_length,
                max: self.max_command_length,
            }
            .into());
        }
        let len = command_length as usize;
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let frame = src.split_to(len).freeze();
        self.codec.decode_owned(frame).map(Some).map_err(Into::into)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Pdu>, FramingError> {
        match self.decode(buf)? {
            Some(pdu) => Ok(Some(pdu)),
            None if buf.is_empty() => Ok(None),
            None => {
                let left = buf.remaining();
                buf.clear();
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed in the middle of a PDU ({left} bytes received)"),
                )
                .into())
            }
        }
    }
}

impl<C: SmppCodec> Encoder<&Pdu> for SmppFraming<C> {
    type Error = FramingError;

    fn encode(&mut self, pdu: &Pdu, dst: &mut BytesMut) -> Result<(), FramingError> {
        self.codec.encode(pdu, dst).map_err(Into::into)
    }
}

impl<C: SmppCodec> Encoder<Pdu> for SmppFraming<C> {
    type Error = FramingError;

    fn encode(&mut self, pdu: Pdu, dst: &mut BytesMut) -> Result<(), FramingError> {
        self.codec.encode(&pdu, dst).map_err(Into::into)
    }
}
