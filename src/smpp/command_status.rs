//! `command_status`: the error codes of SMPP 3.4 §5.1.3, with the codes SMPP 5.0 §4.7.6 added.

use std::fmt;

macro_rules! command_statuses {
    ($($(#[$doc:meta])* $variant:ident = $code:literal => $name:literal,)*) => {
        /// The `command_status` of a PDU header (SMPP 3.4 §5.1.3; SMPP 5.0 §4.7.6 for the codes
        /// above `0xFF`).
        ///
        /// Every ESME_* code of the specifications is a variant; any other value (vendor-specific
        /// codes in `0x400..=0x4FF`, reserved ranges) is kept as [`CommandStatus::Other`] so it can
        /// be sent on unchanged. [`Display`](fmt::Display) prints the spec name (`ESME_ROK`),
        /// which is what the Jasmin DLR thrower sends as `message_status`; an unknown code prints
        /// as `0x%08X`.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum CommandStatus {
            $($(#[$doc])* $variant,)*
            /// A code the specifications do not define (vendor-specific or reserved).
            Other(u32),
        }

        impl CommandStatus {
            /// Every named status, in code order.
            pub const ALL: &'static [CommandStatus] = &[$(CommandStatus::$variant,)*];

            /// The numeric code sent on the wire.
            // Always inlined: a table look-up, cheaper than the call it would otherwise be on
            // every PDU the encoder writes.
            #[inline(always)]
            pub const fn code(&self) -> u32 {
                match self {
                    $(CommandStatus::$variant => $code,)*
                    CommandStatus::Other(code) => *code,
                }
            }

            /// The spec name (`ESME_RINVNUMDESTS`), or `None` for a code the specifications do
            /// not define.
            pub const fn name(&self) -> Option<&'static str> {
                match self {
                    $(CommandStatus::$variant => Some($name),)*
                    CommandStatus::Other(_) => None,
                }
            }

            /// Looks a status up by its spec name (case-insensitive); the SMPP 5.0 names of the
            /// TLV errors (`ESME_RINVTLVSTREAM` …) are accepted too.
            pub fn from_name(name: &str) -> Option<CommandStatus> {
                $(if name.eq_ignore_ascii_case($name) { return Some(CommandStatus::$variant); })*
                let v5 = match name.to_ascii_uppercase().as_str() {
                    "ESME_RINVTLVSTREAM" => CommandStatus::InvalidOptionalParameterStream,
                    "ESME_RTLVNOTALLWD" => CommandStatus::OptionalParameterNotAllowed,
                    "ESME_RINVTLVLEN" => CommandStatus::InvalidParameterLength,
                    "ESME_RMISSINGTLV" => CommandStatus::MissingOptionalParameter,
                    "ESME_RINVTLVVAL" => CommandStatus::InvalidOptionalParameterValue,
                    _ => return None,
                };
                Some(v5)
            }
        }

        impl From<u32> for CommandStatus {
            fn from(code: u32) -> Self {
                match code {
                    $($code => CommandStatus::$variant,)*
                    other => CommandStatus::Other(other),
                }
            }
        }
    };
}

command_statuses! {
    /// No error.
    #[default]
    Ok = 0x0000_0000 => "ESME_ROK",
    /// Message length is invalid.
    InvalidMessageLength = 0x0000_0001 => "ESME_RINVMSGLEN",
    /// Command length is invalid.
    InvalidCommandLength = 0x0000_0002 => "ESME_RINVCMDLEN",
    /// Invalid command ID.
    InvalidCommandId = 0x0000_0003 => "ESME_RINVCMDID",
    /// Incorrect BIND status for the given command.
    InvalidBindStatus = 0x0000_0004 => "ESME_RINVBNDSTS",
    /// ESME already in bound state.
    AlreadyBound = 0x0000_0005 => "ESME_RALYBND",
    /// Invalid priority flag.
    InvalidPriorityFlag = 0x0000_0006 => "ESME_RINVPRTFLG",
    /// Invalid registered delivery flag.
    InvalidRegisteredDeliveryFlag = 0x0000_0007 => "ESME_RINVREGDLVFLG",
    /// System error.
    SystemError = 0x0000_0008 => "ESME_RSYSERR",
    /// Invalid source address.
    InvalidSourceAddress = 0x0000_000A => "ESME_RINVSRCADR",
    /// Invalid destination address.
    InvalidDestinationAddress = 0x0000_000B => "ESME_RINVDSTADR",
    /// Message ID is invalid.
    InvalidMessageId = 0x0000_000C => "ESME_RINVMSGID",
    /// Bind failed.
    BindFailed = 0x0000_000D => "ESME_RBINDFAIL",
    /// Invalid password.
    InvalidPassword = 0x0000_000E => "ESME_RINVPASWD",
    /// Invalid system ID.
    InvalidSystemId = 0x0000_000F => "ESME_RINVSYSID",
    /// cancel_sm failed.
    CancelFailed = 0x0000_0011 => "ESME_RCANCELFAIL",
    /// replace_sm failed.
    ReplaceFailed = 0x0000_0013 => "ESME_RREPLACEFAIL",
    /// Message queue full.
    MessageQueueFull = 0x0000_0014 => "ESME_RMSGQFUL",
    /// Invalid service type.
    InvalidServiceType = 0x0000_0015 => "ESME_RINVSERTYP",
    /// Invalid number of destinations.
    InvalidNumberOfDestinations = 0x0000_0033 => "ESME_RINVNUMDESTS",
    /// Invalid distribution list name.
    InvalidDistributionListName = 0x0000_0034 => "ESME_RINVDLNAME",
    /// Destination flag is invalid (submit_multi).
    InvalidDestinationFlag = 0x0000_0040 => "ESME_RINVDESTFLAG",
    /// Invalid submit with replace request (replace_if_present_flag set).
    InvalidSubmitWithReplace = 0x0000_0042 => "ESME_RINVSUBREP",
    /// Invalid esm_class field data.
    InvalidEsmClass = 0x0000_0043 => "ESME_RINVESMCLASS",
    /// Cannot submit to distribution list.
    CannotSubmitToDistributionList = 0x0000_0044 => "ESME_RCNTSUBDL",
    /// submit_sm or submit_multi failed.
    SubmitFailed = 0x0000_0045 => "ESME_RSUBMITFAIL",
    /// Invalid source address TON.
    InvalidSourceTon = 0x0000_0048 => "ESME_RINVSRCTON",
    /// Invalid source address NPI.
    InvalidSourceNpi = 0x0000_0049 => "ESME_RINVSRCNPI",
    /// Invalid destination address TON.
    InvalidDestinationTon = 0x0000_0050 => "ESME_RINVDSTTON",
    /// Invalid destination address NPI.
    InvalidDestinationNpi = 0x0000_0051 => "ESME_RINVDSTNPI",
    /// Invalid system_type field.
    InvalidSystemType = 0x0000_0053 => "ESME_RINVSYSTYP",
    /// Invalid replace_if_present flag.
    InvalidReplaceIfPresentFlag = 0x0000_0054 => "ESME_RINVREPFLAG",
    /// Invalid number of messages.
    InvalidNumberOfMessages = 0x0000_0055 => "ESME_RINVNUMMSGS",
    /// Throttling error (ESME has exceeded allowed message limits).
    Throttled = 0x0000_0058 => "ESME_RTHROTTLED",
    /// Invalid scheduled delivery time.
    InvalidScheduledDeliveryTime = 0x0000_0061 => "ESME_RINVSCHED",
    /// Invalid message validity period (expiry time).
    InvalidExpiry = 0x0000_0062 => "ESME_RINVEXPIRY",
    /// Predefined message invalid or not found.
    InvalidDefaultMessageId = 0x0000_0063 => "ESME_RINVDFTMSGID",
    /// ESME receiver temporary application error code.
    ReceiverTemporaryAppError = 0x0000_0064 => "ESME_RX_T_APPN",
    /// ESME receiver permanent application error code.
    ReceiverPermanentAppError = 0x0000_0065 => "ESME_RX_P_APPN",
    /// ESME receiver reject message error code.
    ReceiverRejectMessage = 0x0000_0066 => "ESME_RX_R_APPN",
    /// query_sm request failed.
    QueryFailed = 0x0000_0067 => "ESME_RQUERYFAIL",
    /// Error in the optional part of the PDU body.
    InvalidOptionalParameterStream = 0x0000_00C0 => "ESME_RINVOPTPARSTREAM",
    /// Optional parameter not allowed.
    OptionalParameterNotAllowed = 0x0000_00C1 => "ESME_ROPTPARNOTALLWD",
    /// Invalid parameter length.
    InvalidParameterLength = 0x0000_00C2 => "ESME_RINVPARLEN",
    /// Expected optional parameter missing.
    MissingOptionalParameter = 0x0000_00C3 => "ESME_RMISSINGOPTPARAM",
    /// Invalid optional parameter value.
    InvalidOptionalParameterValue = 0x0000_00C4 => "ESME_RINVOPTPARAMVAL",
    /// Delivery failure (used for data_sm_resp).
    DeliveryFailure = 0x0000_00FE => "ESME_RDELIVERYFAILURE",
    /// Unknown error.
    UnknownError = 0x0000_00FF => "ESME_RUNKNOWNERR",
    /// ESME not authorised to use the specified service_type (SMPP 5.0).
    ServiceTypeUnauthorised = 0x0000_0100 => "ESME_RSERTYPUNAUTH",
    /// ESME prohibited from using the specified operation (SMPP 5.0).
    Prohibited = 0x0000_0101 => "ESME_RPROHIBITED",
    /// Specified service_type is unavailable (SMPP 5.0).
    ServiceTypeUnavailable = 0x0000_0102 => "ESME_RSERTYPUNAVAIL",
    /// Specified service_type is denied (SMPP 5.0).
    ServiceTypeDenied = 0x0000_0103 => "ESME_RSERTYPDENIED",
    /// Invalid data coding scheme (SMPP 5.0).
    InvalidDataCoding = 0x0000_0104 => "ESME_RINVDCS",
    /// Source address sub-unit is invalid (SMPP 5.0).
    InvalidSourceAddressSubunit = 0x0000_0105 => "ESME_RINVSRCADDRSUBUNIT",
    /// Destination address sub-unit is invalid (SMPP 5.0).
    InvalidDestinationAddressSubunit = 0x0000_0106 => "ESME_RINVDSTADDRSUBUNIT",
    /// Broadcast frequency interval is invalid (SMPP 5.0).
    InvalidBroadcastFrequencyInterval = 0x0000_0107 => "ESME_RINVBCASTFREQINT",
    /// Broadcast alias name is invalid (SMPP 5.0).
    InvalidBroadcastAliasName = 0x0000_0108 => "ESME_RINVBCASTALIAS_NAME",
    /// Broadcast area format is invalid (SMPP 5.0).
    InvalidBroadcastAreaFormat = 0x0000_0109 => "ESME_RINVBCASTAREAFMT",
    /// Number of broadcast areas is invalid (SMPP 5.0).
    InvalidNumberOfBroadcastAreas = 0x0000_010A => "ESME_RINVNUMBCAST_AREAS",
    /// Broadcast content type is invalid (SMPP 5.0).
    InvalidBroadcastContentType = 0x0000_010B => "ESME_RINVBCASTCNTTYPE",
    /// Broadcast message class is invalid (SMPP 5.0).
    InvalidBroadcastMessageClass = 0x0000_010C => "ESME_RINVBCASTMSGCLASS",
    /// broadcast_sm operation failed (SMPP 5.0).
    BroadcastFailed = 0x0000_010D => "ESME_RBCASTFAIL",
    /// query_broadcast_sm operation failed (SMPP 5.0).
    BroadcastQueryFailed = 0x0000_010E => "ESME_RBCASTQUERYFAIL",
    /// cancel_broadcast_sm operation failed (SMPP 5.0).
    BroadcastCancelFailed = 0x0000_010F => "ESME_RBCASTCANCELFAIL",
    /// Number of repeated broadcasts is invalid (SMPP 5.0).
    InvalidBroadcastRepeat = 0x0000_0110 => "ESME_RINVBCAST_REP",
    /// Broadcast service group is invalid (SMPP 5.0).
    InvalidBroadcastServiceGroup = 0x0000_0111 => "ESME_RINVBCASTSRVGRP",
    /// Broadcast channel indicator is invalid (SMPP 5.0).
    InvalidBroadcastChannelIndicator = 0x0000_0112 => "ESME_RINVBCASTCHANIND",
}

impl CommandStatus {
    /// True for `ESME_ROK`.
    #[inline]
    pub const fn is_ok(&self) -> bool {
        matches!(self, CommandStatus::Ok | CommandStatus::Other(0))
    }
}

impl From<CommandStatus> for u32 {
    fn from(status: CommandStatus) -> Self {
        status.code()
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:08X}", self.code()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_round_trips() {
        for status in CommandStatus::ALL {
            assert_eq!(CommandStatus::from(status.code()), *status);
            let name = status.name().unwrap_or_default();
            assert!(name.starts_with("ESME_R"), "{name}");
            assert_eq!(CommandStatus::from_name(name), Some(*status));
            assert_eq!(status.to_string(), name);
        }
        assert_eq!(CommandStatus::ALL.len(), 67);
    }

    #[test]
    fn unknown_codes_are_kept_as_numbers() {
        let status = CommandStatus::from(0x0000_0401);
        assert_eq!(status, CommandStatus::Other(0x401));
        assert_eq!(status.code(), 0x401);
        assert_eq!(status.name(), None);
        assert_eq!(status.to_string(), "0x00000401");
    }

    #[test]
    fn spec_names() {
        assert_eq!(CommandStatus::from(0x33).to_string(), "ESME_RINVNUMDESTS");
        assert_eq!(CommandStatus::from(0x58).to_string(), "ESME_RTHROTTLED");
        assert_eq!(CommandStatus::from(0).to_string(), "ESME_ROK");
        assert_eq!(
            CommandStatus::from_name("esme_rinvtlvlen"),
            Some(CommandStatus::InvalidParameterLength)
        );
    }
}
