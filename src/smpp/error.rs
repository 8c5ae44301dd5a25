//! Why a PDU did not decode or encode.

use std::borrow::Cow;

use super::command_status::CommandStatus;
use super::tlv_tag::TlvTag;

/// What was wrong with one field of a PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The field needs more bytes than the PDU has left.
    #[error("needs {needed} bytes, only {left} left in the PDU")]
    Truncated {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the PDU.
        left: usize,
    },
    /// A C-octet string ran to the end of the PDU without its NUL terminator.
    #[error("no NUL terminator before the end of the PDU")]
    MissingNul,
    /// A C-octet string is longer than the spec allows.
    #[error("longer than the {max}-octet maximum (NUL included)")]
    TooLong {
        /// The spec's maximum size, NUL terminator included.
        max: usize,
    },
    /// A length field points past the end of the PDU.
    #[error("{length_field} {length} exceeds the {left} bytes left")]
    LengthPastEnd {
        /// The name of the length field (`sm_length`, `length`).
        length_field: &'static str,
        /// The length it claims.
        length: usize,
        /// Bytes left in the PDU.
        left: usize,
    },
    /// A TLV whose type has a fixed size came with another length.
    #[error("length {length}, the spec says {expected}")]
    BadTlvLength {
        /// The TLV's length field.
        length: usize,
        /// The size the spec gives.
        expected: usize,
    },
    /// The value is not one the spec allows.
    #[error("value {value} is invalid: {reason}")]
    BadValue {
        /// The value found.
        value: u32,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A string field to be encoded contains a NUL byte, which would end it early on the wire.
    #[error("contains a NUL byte")]
    InteriorNul,
}

/// Why a frame did not decode into a [`Pdu`](super::Pdu).
///
/// Messages name the PDU, the field and what was wrong, e.g.
/// `submit_sm: short_message: sm_length 200 exceeds the 17 bytes left`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than 16 bytes: not even a header.
    #[error("PDU header: frame is {len} bytes, shorter than the 16-byte header")]
    ShortHeader {
        /// Bytes in the frame.
        len: usize,
    },
    /// `command_length` is below the 16-byte header size.
    #[error("PDU header: command_length {command_length} is less than the 16-byte header")]
    CommandLengthTooSmall {
        /// The command_length read.
        command_length: u32,
    },
    /// `command_length` is above the configured maximum.
    #[error("PDU header: command_length {command_length} exceeds the {max}-byte maximum")]
    CommandLengthTooLarge {
        /// The command_length read.
        command_length: u32,
        /// The configured maximum.
        max: u32,
    },
    /// `command_length` disagrees with the size of the frame handed to the codec.
    #[error("PDU header: command_length {command_length} but the frame is {frame_len} bytes")]
    LengthMismatch {
        /// The command_length read.
        command_length: u32,
        /// Bytes in the frame.
        frame_len: usize,
    },
    /// `command_id` is not an SMPP 3.4 command.
    #[error(
        "PDU header: unknown command_id 0x{command_id:08x} (sequence_number {sequence_number})"
    )]
    UnknownCommandId {
        /// The command_id read.
        command_id: u32,
        /// The PDU's sequence_number, for the generic_nack.
        sequence_number: u32,
    },
    /// One field of the body is wrong.
    #[error("{pdu}: {field}: {error}")]
    Field {
        /// The PDU name (`submit_sm`).
        pdu: &'static str,
        /// The field name (`short_message`).
        field: &'static str,
        /// What was wrong.
        error: FieldError,
        /// The PDU's sequence_number, for the response that rejects it.
        sequence_number: u32,
    },
    /// One field of one entry of a list (submit_multi's `dest_address`, submit_multi_resp's
    /// `unsuccess_sme`) is wrong.
    #[error("{pdu}: {list}[{index}].{field}: {error}")]
    ListField {
        /// The PDU name.
        pdu: &'static str,
        /// The list's name.
        list: &'static str,
        /// The entry's index, from 0.
        index: usize,
        /// The field name within the entry.
        field: &'static str,
        /// What was wrong.
        error: FieldError,
        /// The PDU's sequence_number.
        sequence_number: u32,
    },
    /// One TLV of the body is wrong.
    #[error("{pdu}: TLV {tag}: {error}")]
    Tlv {
        /// The PDU name.
        pdu: &'static str,
        /// The TLV's tag.
        tag: TlvTag,
        /// What was wrong.
        error: FieldError,
        /// The PDU's sequence_number.
        sequence_number: u32,
    },
    /// The body has bytes after its last field and the PDU takes no TLVs.
    #[error("{pdu}: {extra} unexpected bytes after the last field")]
    TrailingBytes {
        /// The PDU name.
        pdu: &'static str,
        /// How many bytes were left over.
        extra: usize,
        /// The PDU's sequence_number.
        sequence_number: u32,
    },
}

impl DecodeError {
    /// The `command_status` a peer should answer this error with (SMPP 3.4 §5.1.3): the
    /// generic_nack or the `*_resp` of the PDU.
    pub fn command_status(&self) -> CommandStatus {
        match self {
            DecodeError::ShortHeader { .. }
            | DecodeError::CommandLengthTooSmall { .. }
            | DecodeError::CommandLengthTooLarge { .. }
            | DecodeError::LengthMismatch { .. } => CommandStatus::InvalidCommandLength,
            DecodeError::UnknownCommandId { .. } => CommandStatus::InvalidCommandId,
            DecodeError::Tlv { error, .. } => match error {
                FieldError::BadTlvLength { .. } => CommandStatus::InvalidParameterLength,
                FieldError::BadValue { .. } => CommandStatus::InvalidOptionalParameterValue,
                _ => CommandStatus::InvalidOptionalParameterStream,
            },
            DecodeError::Field { field, .. } if field.starts_with("TLV") => {
                CommandStatus::InvalidOptionalParameterStream
            }
            DecodeError::Field { field, .. } if *field == "short_message" => {
                CommandStatus::InvalidMessageLength
            }
            DecodeError::Field { .. } => CommandStatus::InvalidCommandLength,
            DecodeError::ListField { list, field, .. } => match (*list, *field) {
                (_, "dest_flag") => CommandStatus::InvalidDestinationFlag,
                ("dest_address", "dl_name") => CommandStatus::InvalidDistributionListName,
                ("dest_address", _) => CommandStatus::InvalidDestinationAddress,
                _ => CommandStatus::InvalidCommandLength,
            },
            DecodeError::TrailingBytes { .. } => CommandStatus::InvalidCommandLength,
        }
    }

    /// The sequence_number of the PDU that failed, when the header was readable.
    pub fn sequence_number(&self) -> Option<u32> {
        match self {
            DecodeError::UnknownCommandId {
                sequence_number, ..
            }
            | DecodeError::Field {
                sequence_number, ..
            }
            | DecodeError::Tlv {
                sequence_number, ..
            }
            | DecodeError::ListField {
                sequence_number, ..
            }
            | DecodeError::TrailingBytes {
                sequence_number, ..
            } => Some(*sequence_number),
            _ => None,
        }
    }
}

/// Why a [`Pdu`](super::Pdu) could not be encoded: a value does not fit the wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// One field cannot be written as it is.
    #[error("{pdu}: {field}: {error}")]
    Field {
        /// The PDU name.
        pdu: &'static str,
        /// The field name.
        field: Cow<'static, str>,
        /// What is wrong with it.
        error: FieldError,
    },
    /// The body's computed length and what was written disagree: a bug in this crate, reported
    /// rather than sending a corrupt PDU.
    #[error("{pdu}: computed a {computed}-byte body but wrote {written:?} bytes")]
    LengthMismatch {
        /// The PDU name.
        pdu: &'static str,
        /// The length computed beforehand.
        computed: usize,
        /// What was written (`None`: more than the computed length).
        written: Option<usize>,
    },
    /// The encoded PDU would be longer than `command_length` can say.
    #[error("{pdu}: encoded length {len} does not fit command_length")]
    TooLong {
        /// The PDU name.
        pdu: &'static str,
        /// The length it would have.
        len: usize,
    },
}

impl DecodeError {
    /// Turns a field error into the error of that field in entry `index` of `list`.
    pub(crate) fn in_list(self, list: &'static str, index: usize) -> DecodeError {
        match self {
            DecodeError::Field {
                pdu,
                field,
                error,
                sequence_number,
            } => DecodeError::ListField {
                pdu,
                list,
                index,
                field,
                error,
                sequence_number,
            },
            other => other,
        }
    }
}
