//! The 16-octet PDU header and the `command_id` values of SMPP 3.4 §3.2 and §5.1.2.

use std::fmt;

use super::CommandStatus;
use super::error::DecodeError;

/// Size of the PDU header: command_length, command_id, command_status, sequence_number.
pub const HEADER_LEN: usize = 16;

/// Bit 31 of `command_id`, set on every response.
const RESPONSE_BIT: u32 = 0x8000_0000;

macro_rules! command_ids {
    ($($(#[$doc:meta])* $variant:ident = $code:literal => $name:literal,)*) => {
        /// The `command_id` of every SMPP 3.4 PDU (SMPP 3.4 §5.1.2.1).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CommandId {
            $($(#[$doc])* $variant,)*
        }

        impl CommandId {
            /// Every command, in code order.
            pub const ALL: &'static [CommandId] = &[$(CommandId::$variant,)*];

            /// The numeric `command_id`.
            #[inline(always)]
            pub const fn code(self) -> u32 {
                match self {
                    $(CommandId::$variant => $code,)*
                }
            }

            /// The spec name (`submit_sm`), which is also what `Display` prints.
            pub const fn name(self) -> &'static str {
                match self {
                    $(CommandId::$variant => $name,)*
                }
            }

            /// The command for a `command_id`, or `None` if SMPP 3.4 does not define it.
            pub const fn from_code(code: u32) -> Option<CommandId> {
                match code {
                    $($code => Some(CommandId::$variant),)*
                    _ => None,
                }
            }

            /// The command for a spec name (`deliver_sm`).
            pub fn from_name(name: &str) -> Option<CommandId> {
                match name {
                    $($name => Some(CommandId::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

command_ids! {
    /// `generic_nack` (§4.3.1).
    GenericNack = 0x8000_0000 => "generic_nack",
    /// `bind_receiver` (§4.1.3).
    BindReceiver = 0x0000_0001 => "bind_receiver",
    /// `bind_receiver_resp` (§4.1.4).
    BindReceiverResp = 0x8000_0001 => "bind_receiver_resp",
    /// `bind_transmitter` (§4.1.1).
    BindTransmitter = 0x0000_0002 => "bind_transmitter",
    /// `bind_transmitter_resp` (§4.1.2).
    BindTransmitterResp = 0x8000_0002 => "bind_transmitter_resp",
    /// `query_sm` (§4.8.1).
    QuerySm = 0x0000_0003 => "query_sm",
    /// `query_sm_resp` (§4.8.2).
    QuerySmResp = 0x8000_0003 => "query_sm_resp",
    /// `submit_sm` (§4.4.1).
    SubmitSm = 0x0000_0004 => "submit_sm",
    /// `submit_sm_resp` (§4.4.2).
    SubmitSmResp = 0x8000_0004 => "submit_sm_resp",
    /// `deliver_sm` (§4.6.1).
    DeliverSm = 0x0000_0005 => "deliver_sm",
    /// `deliver_sm_resp` (§4.6.2).
    DeliverSmResp = 0x8000_0005 => "deliver_sm_resp",
    /// `unbind` (§4.2.1).
    Unbind = 0x0000_0006 => "unbind",
    /// `unbind_resp` (§4.2.2).
    UnbindResp = 0x8000_0006 => "unbind_resp",
    /// `replace_sm` (§4.10.1).
    ReplaceSm = 0x0000_0007 => "replace_sm",
    /// `replace_sm_resp` (§4.10.2).
    ReplaceSmResp = 0x8000_0007 => "replace_sm_resp",
    /// `cancel_sm` (§4.9.1).
    CancelSm = 0x0000_0008 => "cancel_sm",
    /// `cancel_sm_resp` (§4.9.2).
    CancelSmResp = 0x8000_0008 => "cancel_sm_resp",
    /// `bind_transceiver` (§4.1.5).
    BindTransceiver = 0x0000_0009 => "bind_transceiver",
    /// `bind_transceiver_resp` (§4.1.6).
    BindTransceiverResp = 0x8000_0009 => "bind_transceiver_resp",
    /// `outbind` (§4.1.7).
    Outbind = 0x0000_000B => "outbind",
    /// `enquire_link` (§4.11.1).
    EnquireLink = 0x0000_0015 => "enquire_link",
    /// `enquire_link_resp` (§4.11.2).
    EnquireLinkResp = 0x8000_0015 => "enquire_link_resp",
    /// `submit_multi` (§4.5.1).
    SubmitMulti = 0x0000_0021 => "submit_multi",
    /// `submit_multi_resp` (§4.5.2).
    SubmitMultiResp = 0x8000_0021 => "submit_multi_resp",
    /// `alert_notification` (§4.12.1).
    AlertNotification = 0x0000_0102 => "alert_notification",
    /// `data_sm` (§4.7.1).
    DataSm = 0x0000_0103 => "data_sm",
    /// `data_sm_resp` (§4.7.2).
    DataSmResp = 0x8000_0103 => "data_sm_resp",
}

impl CommandId {
    /// True for responses (bit 31 set), generic_nack included.
    #[inline(always)]
    pub const fn is_response(self) -> bool {
        self.code() & RESPONSE_BIT != 0
    }

    /// The response to this request (`submit_sm` → `submit_sm_resp`); `None` for responses and
    /// for the requests that have none (`outbind`, `alert_notification`).
    pub const fn response(self) -> Option<CommandId> {
        match self {
            CommandId::Outbind | CommandId::AlertNotification => None,
            _ if self.is_response() => None,
            _ => CommandId::from_code(self.code() | RESPONSE_BIT),
        }
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<CommandId> for u32 {
    fn from(id: CommandId) -> Self {
        id.code()
    }
}

/// A PDU header as it is on the wire (SMPP 3.4 §3.2); `command_id` is kept raw so a header with
/// an unknown command can still be answered with a generic_nack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Length of the whole PDU, header included.
    pub command_length: u32,
    /// The raw `command_id`.
    pub command_id: u32,
    /// The `command_status`.
    pub command_status: CommandStatus,
    /// The `sequence_number`.
    pub sequence_number: u32,
}

impl Header {
    /// Reads the header at the start of `bytes` (which may be longer than 16 bytes).
    pub fn parse(bytes: &[u8]) -> Result<Header, DecodeError> {
        let Some(h) = bytes.get(..HEADER_LEN) else {
            return Err(DecodeError::ShortHeader { len: bytes.len() });
        };
        let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let header = Header {
            command_length: word(0),
            command_id: word(4),
            command_status: CommandStatus::from(word(8)),
            sequence_number: word(12),
        };
        if (header.command_length as usize) < HEADER_LEN {
            return Err(DecodeError::CommandLengthTooSmall {
                command_length: header.command_length,
            });
        }
        Ok(header)
    }

    /// The command, if SMPP 3.4 defines it.
    pub fn command(&self) -> Option<CommandId> {
        CommandId::from_code(self.command_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(CommandId::ALL.len(), 27);
        for id in CommandId::ALL {
            assert_eq!(CommandId::from_code(id.code()), Some(*id));
            assert_eq!(CommandId::from_name(id.name()), Some(*id));
        }
        assert_eq!(
            CommandId::SubmitSm.response(),
            Some(CommandId::SubmitSmResp)
        );
        assert_eq!(CommandId::Outbind.response(), None);
        assert!(CommandId::GenericNack.is_response());
        assert_eq!(CommandId::from_code(0x0000_0111), None);
    }

    #[test]
    fn header() {
        let bytes = [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7];
        let header = Header::parse(&bytes);
        assert_eq!(
            header.map(|h| (h.command(), h.sequence_number)),
            Ok((Some(CommandId::EnquireLink), 7))
        );
        assert!(matches!(
            Header::parse(&bytes[..10]),
            Err(DecodeError::ShortHeader { len: 10 })
        ));
        let mut short = bytes;
        short[3] = 15;
        assert!(matches!(
            Header::parse(&short),
            Err(DecodeError::CommandLengthTooSmall { command_length: 15 })
        ));
    }
}
