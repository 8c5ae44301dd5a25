//! Enumerated field types of the MM7 schema (3GPP TS 23.140 Annex D) that are not statuses.

macro_rules! schema_enum {
    ($(#[$doc:meta])* $name:ident, $element:literal { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value outside the schema's enumeration, as received (named in the warnings).
            Other(String),
        }

        impl $name {
            /// The schema's element name.
            pub const ELEMENT: &'static str = $element;

            /// The value for a wire string, and whether it was outside the enumeration.
            pub fn parse(value: &str) -> (Self, bool) {
                match value {
                    $($wire => ($name::$variant, false),)+
                    other => ($name::Other(other.to_owned()), true),
                }
            }

            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Other(s) => s,
                }
            }
        }
    };
}

schema_enum! {
    /// `Priority` of a SubmitReq or DeliverReq (§8.2.2).
    Priority, "Priority" {
        /// `High`.
        High = "High",
        /// `Normal`.
        Normal = "Normal",
        /// `Low`.
        Low = "Low",
    }
}

schema_enum! {
    /// `MessageClass` of a SubmitReq (§8.2.2).
    MessageClass, "MessageClass" {
        /// `Personal`.
        Personal = "Personal",
        /// `Informational`.
        Informational = "Informational",
        /// `Advertisement`.
        Advertisement = "Advertisement",
        /// `Auto`.
        Auto = "Auto",
    }
}

schema_enum! {
    /// `ChargedParty` of a SubmitReq (§8.2.2): who pays for the message.
    ChargedParty, "ChargedParty" {
        /// `Sender`.
        Sender = "Sender",
        /// `Recipient`.
        Recipient = "Recipient",
        /// `Both`.
        Both = "Both",
        /// `Neither`.
        Neither = "Neither",
        /// `ThirdParty` (REL-6), identified by `ChargedPartyID`.
        ThirdParty = "ThirdParty",
    }
}
