//! The MM7 messages between a VASP and a relay/server (3GPP TS 23.140 §8), one struct each.
//!
//! Every struct carries what the envelope said about it: `transaction_id` (the SOAP header's
//! `TransactionID`), `mm7_version`, the schema `release` (its namespace) and `warnings` (what
//! the decoder accepted although the schema does not allow it). Date-time fields (`TimeStamp`,
//! `Date`, `EarliestDeliveryTime`, `ExpiryDate`) are kept as the schema's `xs:dateTime` /
//! `xs:duration` text, unchanged.

use super::address::{Address, Recipients};
use super::content::{ContentPart, ContentRef};
use super::mm_status::{MmStatus, ReadStatus};
use super::release::Release;
use super::status::Status;
use super::types::{ChargedParty, MessageClass, Priority};
use super::warning::Warning;

/// `SenderIdentification` of a SubmitReq, CancelReq or ReplaceReq (§8.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderIdentification {
    /// `VASPID`: the VASP's identity at the relay.
    pub vasp_id: Option<String>,
    /// `VASID`: the service's identity within the VASP.
    pub vas_id: Option<String>,
    /// `SenderAddress`.
    pub sender_address: Option<Address>,
}

/// The fields every message has from its envelope; see the module docs.
macro_rules! envelope_fields {
    ($(#[$doc:meta])* $vis:vis struct $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis struct $name {
            /// The SOAP header's `TransactionID`; `None` when it was missing (also a warning).
            pub transaction_id: Option<String>,
            /// `MM7Version`, e.g. `6.8.0`.
            pub mm7_version: String,
            /// The schema release, from the message element's namespace.
            pub release: Release,
            /// What the decoder accepted that the schema does not allow. Empty for messages
            /// built in code.
            pub warnings: Vec<Warning>,
            $($(#[$fdoc])* pub $field: $ty,)*
        }
    };
}

envelope_fields! {
    /// `SubmitReq` (§8.2.2): a VASP submits a message to the relay.
    pub struct SubmitReq {
        /// `SenderIdentification`.
        sender_identification: SenderIdentification,
        /// `Recipients`.
        recipients: Recipients,
        /// `ServiceCode`.
        service_code: Option<String>,
        /// `LinkedID`: the MessageID of a DeliverReq this one answers.
        linked_id: Option<String>,
        /// `MessageClass`.
        message_class: Option<MessageClass>,
        /// `TimeStamp`.
        time_stamp: Option<String>,
        /// `EarliestDeliveryTime`.
        earliest_delivery_time: Option<String>,
        /// `ExpiryDate`.
        expiry_date: Option<String>,
        /// `DeliveryReport`: whether the VASP wants a DeliveryReportReq.
        delivery_report: Option<bool>,
        /// `ReadReply`: whether the VASP wants a ReadReplyReq.
        read_reply: Option<bool>,
        /// `Priority`.
        priority: Option<Priority>,
        /// `Subject`.
        subject: Option<String>,
        /// `ChargedParty`.
        charged_party: Option<ChargedParty>,
        /// `ChargedPartyID`.
        charged_party_id: Option<String>,
        /// `DistributionIndicator`: whether the recipient may forward the content.
        distribution_indicator: Option<bool>,
        /// `ApplicID`.
        applic_id: Option<String>,
        /// `ReplyApplicID`.
        reply_applic_id: Option<String>,
        /// `AuxApplicInfo`.
        aux_applic_info: Option<String>,
        /// `Content`.
        content: Option<ContentRef>,
        /// The content parts of the `multipart/related` body (empty for a bare SOAP body).
        parts: Vec<ContentPart>,
    }
}

envelope_fields! {
    /// `SubmitRsp` (§8.2.3): the relay's answer to a SubmitReq.
    pub struct SubmitRsp {
        /// `Status`.
        status: Status,
        /// `MessageID`: the relay's id for the message, present on success.
        message_id: Option<String>,
    }
}

envelope_fields! {
    /// `DeliverReq` (§8.3.2): the relay delivers a message to the VASP.
    pub struct DeliverReq {
        /// `MMSRelayServerID`.
        mms_relay_server_id: Option<String>,
        /// `VASPID` (REL-6).
        vasp_id: Option<String>,
        /// `VASID` (REL-6).
        vas_id: Option<String>,
        /// `LinkedID`.
        linked_id: Option<String>,
        /// `Sender`.
        sender: Address,
        /// `Recipients`.
        recipients: Recipients,
        /// `TimeStamp`.
        time_stamp: Option<String>,
        /// `ReplyChargingID`.
        reply_charging_id: Option<String>,
        /// `Priority`.
        priority: Option<Priority>,
        /// `Subject`.
        subject: Option<String>,
        /// `ApplicID`.
        applic_id: Option<String>,
        /// `ReplyApplicID`.
        reply_applic_id: Option<String>,
        /// `AuxApplicInfo`.
        aux_applic_info: Option<String>,
        /// `Content`.
        content: Option<ContentRef>,
        /// The content parts of the `multipart/related` body.
        parts: Vec<ContentPart>,
    }
}

envelope_fields! {
    /// `DeliverRsp` (§8.3.3): the VASP's answer to a DeliverReq.
    pub struct DeliverRsp {
        /// `Status`.
        status: Status,
        /// `ServiceCode`.
        service_code: Option<String>,
    }
}

envelope_fields! {
    /// `CancelReq` (§8.6.2): the VASP cancels a submitted message.
    pub struct CancelReq {
        /// `SenderIdentification`.
        sender_identification: SenderIdentification,
        /// `MessageID` of the message to cancel.
        message_id: String,
    }
}

envelope_fields! {
    /// `CancelRsp` (§8.6.3).
    pub struct CancelRsp {
        /// `Status`.
        status: Status,
    }
}

envelope_fields! {
    /// `ReplaceReq` (§8.7.2): the VASP replaces a submitted message.
    pub struct ReplaceReq {
        /// `SenderIdentification`.
        sender_identification: SenderIdentification,
        /// `MessageID` of the message to replace.
        message_id: String,
        /// `ServiceCode`.
        service_code: Option<String>,
        /// `TimeStamp`.
        time_stamp: Option<String>,
        /// `ReadReply`.
        read_reply: Option<bool>,
        /// `EarliestDeliveryTime`.
        earliest_delivery_time: Option<String>,
        /// `DistributionIndicator`.
        distribution_indicator: Option<bool>,
        /// `Content`.
        content: Option<ContentRef>,
        /// The content parts of the `multipart/related` body.
        parts: Vec<ContentPart>,
    }
}

envelope_fields! {
    /// `ReplaceRsp` (§8.7.3).
    pub struct ReplaceRsp {
        /// `Status`.
        status: Status,
    }
}

envelope_fields! {
    /// `DeliveryReportReq` (§8.4.2): the relay reports what happened to a submitted message.
    /// Its [`MmStatus::class`] decides which mstore hook runs.
    pub struct DeliveryReportReq {
        /// `MMSRelayServerID`.
        mms_relay_server_id: Option<String>,
        /// `MessageID` the relay returned in the SubmitRsp.
        message_id: String,
        /// `Recipient`.
        recipient: Address,
        /// `Sender`.
        sender: Address,
        /// `Date`.
        date: String,
        /// `MMStatus`.
        mm_status: MmStatus,
        /// `StatusText`.
        status_text: Option<String>,
        /// `ApplicID`.
        applic_id: Option<String>,
        /// `ReplyApplicID`.
        reply_applic_id: Option<String>,
        /// `AuxApplicInfo`.
        aux_applic_info: Option<String>,
    }
}

envelope_fields! {
    /// `DeliveryReportRsp` (§8.4.3): the VASP acknowledges a DeliveryReportReq.
    pub struct DeliveryReportRsp {
        /// `Status`.
        status: Status,
    }
}

envelope_fields! {
    /// `ReadReplyReq` (§8.5.2): the relay reports that the recipient read or deleted a message.
    pub struct ReadReplyReq {
        /// `MMSRelayServerID`.
        mms_relay_server_id: Option<String>,
        /// `MessageID`.
        message_id: String,
        /// `Recipient`.
        recipient: Address,
        /// `Sender`.
        sender: Address,
        /// `TimeStamp`.
        time_stamp: String,
        /// `MMStatus`.
        mm_status: ReadStatus,
        /// `StatusText`.
        status_text: Option<String>,
        /// `ApplicID`.
        applic_id: Option<String>,
        /// `ReplyApplicID`.
        reply_applic_id: Option<String>,
        /// `AuxApplicInfo`.
        aux_applic_info: Option<String>,
    }
}

envelope_fields! {
    /// `ReadReplyRsp` (§8.5.3).
    pub struct ReadReplyRsp {
        /// `Status`.
        status: Status,
    }
}

envelope_fields! {
    /// `RSErrorRsp` (§8.8): the relay's answer to a request it could not process, sent inside
    /// a SOAP Fault's `detail`.
    pub struct RsErrorRsp {
        /// `MMSRelayServerID`.
        mms_relay_server_id: Option<String>,
        /// `Status`.
        status: Status,
    }
}

envelope_fields! {
    /// `VASPErrorRsp` (§8.8): the VASP's answer to a request it could not process, sent inside
    /// a SOAP Fault's `detail`.
    pub struct VaspErrorRsp {
        /// `VASPID`.
        vasp_id: Option<String>,
        /// `VASID`.
        vas_id: Option<String>,
        /// `Status`.
        status: Status,
    }
}

impl DeliveryReportReq {
    /// The `DeliveryReportRsp` that answers this report (§8.4.3): same `TransactionID`, same
    /// release and `MM7Version`, with the given status. The retry engine hands this back for
    /// the host to send once the hooks have run.
    pub fn response(&self, status: Status) -> DeliveryReportRsp {
        DeliveryReportRsp {
            transaction_id: self.transaction_id.clone(),
            mm7_version: self.mm7_version.clone(),
            release: self.release.clone(),
            warnings: Vec::new(),
            status,
        }
    }

    /// The `1000 Success` response.
    pub fn acknowledge(&self) -> DeliveryReportRsp {
        self.response(Status::success())
    }
}

impl ReadReplyReq {
    /// The `ReadReplyRsp` that answers this read reply (§8.5.3).
    pub fn response(&self, status: Status) -> ReadReplyRsp {
        ReadReplyRsp {
            transaction_id: self.transaction_id.clone(),
            mm7_version: self.mm7_version.clone(),
            release: self.release.clone(),
            warnings: Vec::new(),
            status,
        }
    }
}

impl DeliverReq {
    /// The `DeliverRsp` that answers this delivery (§8.3.3).
    pub fn response(&self, status: Status) -> DeliverRsp {
        DeliverRsp {
            transaction_id: self.transaction_id.clone(),
            mm7_version: self.mm7_version.clone(),
            release: self.release.clone(),
            warnings: Vec::new(),
            status,
            service_code: None,
        }
    }
}

impl SubmitReq {
    /// A SubmitReq with only the required parts: the transaction id, the release (whose
    /// default `MM7Version` is used) and the recipients.
    pub fn new(
        transaction_id: impl Into<String>,
        release: Release,
        recipients: Recipients,
    ) -> Self {
        SubmitReq {
            transaction_id: Some(transaction_id.into()),
            mm7_version: release.default_mm7_version().to_owned(),
            release,
            warnings: Vec::new(),
            sender_identification: SenderIdentification::default(),
            recipients,
            service_code: None,
            linked_id: None,
            message_class: None,
            time_stamp: None,
            earliest_delivery_time: None,
            expiry_date: None,
            delivery_report: None,
            read_reply: None,
            priority: None,
            subject: None,
            charged_party: None,
            charged_party_id: None,
            distribution_indicator: None,
            applic_id: None,
            reply_applic_id: None,
            aux_applic_info: None,
            content: None,
            parts: Vec::new(),
        }
    }

    /// The `SubmitRsp` that answers this submission (§8.2.3).
    pub fn response(&self, status: Status, message_id: Option<String>) -> SubmitRsp {
        SubmitRsp {
            transaction_id: self.transaction_id.clone(),
            mm7_version: self.mm7_version.clone(),
            release: self.release.clone(),
            warnings: Vec::new(),
            status,
            message_id,
        }
    }
}

/// Every VASP ↔ relay message of 3GPP TS 23.140 §8.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mm7Message {
    /// `SubmitReq`.
    SubmitReq(SubmitReq),
    /// `SubmitRsp`.
    SubmitRsp(SubmitRsp),
    /// `DeliverReq`.
    DeliverReq(DeliverReq),
    /// `DeliverRsp`.
    DeliverRsp(DeliverRsp),
    /// `CancelReq`.
    CancelReq(CancelReq),
    /// `CancelRsp`.
    CancelRsp(CancelRsp),
    /// `ReplaceReq`.
    ReplaceReq(ReplaceReq),
    /// `ReplaceRsp`.
    ReplaceRsp(ReplaceRsp),
    /// `DeliveryReportReq`.
    DeliveryReportReq(DeliveryReportReq),
    /// `DeliveryReportRsp`.
    DeliveryReportRsp(DeliveryReportRsp),
    /// `ReadReplyReq`.
    ReadReplyReq(ReadReplyReq),
    /// `ReadReplyRsp`.
    ReadReplyRsp(ReadReplyRsp),
    /// `RSErrorRsp`.
    RsErrorRsp(RsErrorRsp),
    /// `VASPErrorRsp`.
    VaspErrorRsp(VaspErrorRsp),
}

macro_rules! each {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            Mm7Message::SubmitReq($m) => $body,
            Mm7Message::SubmitRsp($m) => $body,
            Mm7Message::DeliverReq($m) => $body,
            Mm7Message::DeliverRsp($m) => $body,
            Mm7Message::CancelReq($m) => $body,
            Mm7Message::CancelRsp($m) => $body,
            Mm7Message::ReplaceReq($m) => $body,
            Mm7Message::ReplaceRsp($m) => $body,
            Mm7Message::DeliveryReportReq($m) => $body,
            Mm7Message::DeliveryReportRsp($m) => $body,
            Mm7Message::ReadReplyReq($m) => $body,
            Mm7Message::ReadReplyRsp($m) => $body,
            Mm7Message::RsErrorRsp($m) => $body,
            Mm7Message::VaspErrorRsp($m) => $body,
        }
    };
}

impl Mm7Message {
    /// The schema's element name of the message (`DeliveryReportReq`, `RSErrorRsp`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Mm7Message::SubmitReq(_) => "SubmitReq",
            Mm7Message::SubmitRsp(_) => "SubmitRsp",
            Mm7Message::DeliverReq(_) => "DeliverReq",
            Mm7Message::DeliverRsp(_) => "DeliverRsp",
            Mm7Message::CancelReq(_) => "CancelReq",
            Mm7Message::CancelRsp(_) => "CancelRsp",
            Mm7Message::ReplaceReq(_) => "ReplaceReq",
            Mm7Message::ReplaceRsp(_) => "ReplaceRsp",
            Mm7Message::DeliveryReportReq(_) => "DeliveryReportReq",
            Mm7Message::DeliveryReportRsp(_) => "DeliveryReportRsp",
            Mm7Message::ReadReplyReq(_) => "ReadReplyReq",
            Mm7Message::ReadReplyRsp(_) => "ReadReplyRsp",
            Mm7Message::RsErrorRsp(_) => "RSErrorRsp",
            Mm7Message::VaspErrorRsp(_) => "VASPErrorRsp",
        }
    }

    /// The SOAP header's `TransactionID`.
    pub fn transaction_id(&self) -> Option<&str> {
        each!(self, m => m.transaction_id.as_deref())
    }

    /// `MM7Version`.
    pub fn mm7_version(&self) -> &str {
        each!(self, m => &m.mm7_version)
    }

    /// The schema release.
    pub fn release(&self) -> &Release {
        each!(self, m => &m.release)
    }

    /// What the decoder accepted that the schema does not allow.
    pub fn warnings(&self) -> &[Warning] {
        each!(self, m => &m.warnings)
    }

    /// The `Status` of a response, `None` for a request.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Mm7Message::SubmitRsp(m) => Some(&m.status),
            Mm7Message::DeliverRsp(m) => Some(&m.status),
            Mm7Message::CancelRsp(m) => Some(&m.status),
            Mm7Message::ReplaceRsp(m) => Some(&m.status),
            Mm7Message::DeliveryReportRsp(m) => Some(&m.status),
            Mm7Message::ReadReplyRsp(m) => Some(&m.status),
            Mm7Message::RsErrorRsp(m) => Some(&m.status),
            Mm7Message::VaspErrorRsp(m) => Some(&m.status),
            _ => None,
        }
    }

    /// The content parts of a SubmitReq, DeliverReq or ReplaceReq (empty otherwise).
    pub fn parts(&self) -> &[ContentPart] {
        match self {
            Mm7Message::SubmitReq(m) => &m.parts,
            Mm7Message::DeliverReq(m) => &m.parts,
            Mm7Message::ReplaceReq(m) => &m.parts,
            _ => &[],
        }
    }

    /// The `Content` reference of a SubmitReq, DeliverReq or ReplaceReq, when it has one.
    pub fn content(&self) -> Option<&ContentRef> {
        match self {
            Mm7Message::SubmitReq(m) => m.content.as_ref(),
            Mm7Message::DeliverReq(m) => m.content.as_ref(),
            Mm7Message::ReplaceReq(m) => m.content.as_ref(),
            _ => None,
        }
    }

    /// The content part the `Content href` points at, searched through nested multiparts
    /// (see [`ContentRef::resolve`]).
    pub fn content_part(&self) -> Option<&ContentPart> {
        self.content()?.resolve(self.parts())
    }

    pub(crate) fn warnings_mut(&mut self) -> &mut Vec<Warning> {
        each!(self, m => &mut m.warnings)
    }

    pub(crate) fn parts_mut(&mut self) -> Option<&mut Vec<ContentPart>> {
        match self {
            Mm7Message::SubmitReq(m) => Some(&mut m.parts),
            Mm7Message::DeliverReq(m) => Some(&mut m.parts),
            Mm7Message::ReplaceReq(m) => Some(&mut m.parts),
            _ => None,
        }
    }
}

impl Default for Status {
    /// `1000 Success`.
    fn default() -> Self {
        Status::success()
    }
}
