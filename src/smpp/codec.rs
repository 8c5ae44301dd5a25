//! The codec trait: one frame in, one PDU out, and back.

use bytes::{Bytes, BytesMut};

use super::{DecodeError, EncodeError, Pdu};

/// Decodes one PDU from one frame and encodes one PDU into a buffer, with no I/O.
///
/// A host can wrap the default codec (to log, count, or rewrite PDUs) and hand its own to
/// [`SmppFraming`](super::SmppFraming).
pub trait SmppCodec {
    /// Decodes one whole PDU; `frame` is exactly `command_length` bytes, header included.
    fn decode(&self, frame: &Bytes) -> Result<Pdu, DecodeError>;

    /// Decodes one whole PDU from a frame the caller no longer needs (what
    /// [`SmppFraming`](super::SmppFraming) calls). The default borrows it for
    /// [`decode`](Self::decode).
    fn decode_owned(&self, frame: Bytes) -> Result<Pdu, DecodeError> {
        self.decode(&frame)
    }

    /// Appends one encoded PDU to `dst`, leaving `dst` unchanged on error.
    fn encode(&self, pdu: &Pdu, dst: &mut BytesMut) -> Result<(), EncodeError>;
}

/// The SMPP 3.4 codec of this crate ([`Pdu::decode`], [`Pdu::encode`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultSmppCodec;

impl SmppCodec for DefaultSmppCodec {
    fn decode(&self, frame: &Bytes) -> Result<Pdu, DecodeError> {
        Pdu::decode(frame)
    }

    fn decode_owned(&self, frame: Bytes) -> Result<Pdu, DecodeError> {
        Pdu::decode_frame(frame)
    }

    fn encode(&self, pdu: &Pdu, dst: &mut BytesMut) -> Result<(), EncodeError> {
        pdu.encode(dst)
    }
}

/// [`DefaultSmppCodec`] that refuses a known TLV whose length is not the spec's
/// ([`Pdu::decode_strict`]) instead of keeping it raw; for
/// [`SmppFraming::with_codec`](super::SmppFraming::with_codec) when a host wants peers held
/// to the spec.
#[derive(Debug, Clone, Copy, Default)]
pub struct StrictSmppCodec;

impl SmppCodec for StrictSmppCodec {
    fn decode(&self, frame: &Bytes) -> Result<Pdu, DecodeError> {
        Pdu::decode_strict(frame)
    }

    fn encode(&self, pdu: &Pdu, dst: &mut BytesMut) -> Result<(), EncodeError> {
        pdu.encode(dst)
    }
}
