//! Decoding the SOAP part: the envelope (SOAP 1.1 with the MM7 `TransactionID` header,
//! 3GPP TS 23.140 §9.2), SOAP Faults, and each message body of §8, by local name.

use super::address::{Address, Recipients};
use super::charset::soap_text;
use super::content::ContentRef;
use super::datetime::{is_date_time, is_duration};
use super::error::{Mm7Error, SoapFault, cut};
use super::message::*;
use super::mm_status::{MmStatus, ReadStatus};
use super::release::{Release, SOAP_ENV_NS};
use super::status::{Status, StatusCode};
use super::types::{ChargedParty, MessageClass, Priority};
use super::warning::{Warning, cap, push_capped};
use super::xml::{Doc, NodeId};
use super::{Limits, Mm7Message};

/// Decodes a bare SOAP envelope; `charset` is the `charset` parameter of its MIME
/// Content-Type, when it has one.
pub(crate) fn decode_envelope(
    xml: &[u8],
    charset: Option<&str>,
    limits: &Limits,
) -> Result<Mm7Message, Mm7Error> {
    if xml.len() > limits.max_body_bytes {
        return Err(Mm7Error::BodyTooLarge {
            size: xml.len(),
            limit: limits.max_body_bytes,
        });
    }
    let mut warnings = Vec::new();
    let text = soap_text(xml, charset, &mut warnings)?;
    cap(&mut warnings, limits.max_warnings);
    let max_warnings = limits.max_warnings;
    let doc = Doc::parse(&text, limits)?;

    let root = 0;
    if doc.name(root) != "Envelope" {
        return Err(Mm7Error::Envelope(format!(
            "the root element is {}, not Envelope",
            cut(doc.name(root))
        )));
    }
    let env_ns = doc.namespace(root);
    if env_ns.is_empty() {
        push_capped(
            &mut warnings,
            Warning::EnvelopeNamespace {
                namespace: String::new(),
            },
            max_warnings,
        );
    } else if env_ns != SOAP_ENV_NS {
        return Err(Mm7Error::SoapVersionMismatch {
            namespace: cut(&env_ns),
        });
    }
    let body = doc
        .child(root, "Body")
        .ok_or_else(|| Mm7Error::Envelope("the Envelope has no Body".into()))?;
    let mut element = doc
        .children(body)
        .next()
        .ok_or_else(|| Mm7Error::Envelope("the Body is empty".into()))?;
    let count = doc.children(body).count();
    if count > 1 {
        return Err(Mm7Error::MultipleMessages { count });
    }
    if doc.name(element) == "Fault" {
        element = fault_payload(&doc, element)?;
    }

    let namespace = doc.namespace(element);
    let release = Release::from_namespace(&namespace);
    if !release.is_known() {
        push_capped(
            &mut warnings,
            Warning::UnknownRelease {
                namespace: namespace.clone().into_owned(),
            },
            max_warnings,
        );
    }

    let header = doc.child(root, "Header");
    let mut transactions = header
        .into_iter()
        .flat_map(|h| doc.children(h))
        .filter(|&c| doc.name(c) == "TransactionID");
    let transaction = transactions.next();
    if let Some(first) = transaction {
        let mut duplicate = false;
        for other in transactions {
            if doc.text(other) != doc.text(first) {
                return Err(Mm7Error::ConflictingTransactionIds {
                    first: cut(doc.text(first)),
                    second: cut(doc.text(other)),
                });
            }
            duplicate = true;
        }
        if duplicate {
            push_capped(&mut warnings, Warning::DuplicateTransactionId, max_warnings);
        }
    }
    let transaction_id = match transaction {
        Some(t) => {
            let header_ns = doc.namespace(t);
            if !header_ns.is_empty() && header_ns != namespace {
                push_capped(
                    &mut warnings,
                    Warning::MixedReleases {
                        header: header_ns.into_owned(),
                        body: namespace.into_owned(),
                    },
                    max_warnings,
                );
            }
            Some(doc.text(t).to_owned())
        }
        None => {
            push_capped(&mut warnings, Warning::MissingTransactionId, max_warnings);
            None
        }
    };

    let mut cx = Cx {
        doc: &doc,
        msg: "",
        warnings,
        max_warnings,
        head: Head {
            transaction_id,
            release,
        },
    };
    let message = decode_message(&mut cx, element)?;
    Ok(message)
}

/// Finds the MM7 error response inside a Fault's `detail`, or turns the Fault into an error.
fn fault_payload(doc: &Doc<'_>, fault: NodeId) -> Result<NodeId, Mm7Error> {
    let detail = doc
        .children(fault)
        .find(|&c| doc.name(c).eq_ignore_ascii_case("detail"));
    if let Some(d) = detail
        && let Some(m) = doc.children(d).find(|&c| is_message(doc.name(c)))
    {
        return Ok(m);
    }
    let field = |name: &str| {
        doc.children(fault)
            .find(|&c| doc.name(c).eq_ignore_ascii_case(name))
    };
    // SOAP 1.2 vendors nest Code/Value and Reason/Text; read the text under them too.
    let code = field("faultcode")
        .or_else(|| field("Code"))
        .map(|n| doc.deep_text(n))
        .unwrap_or_default();
    let string = field("faultstring")
        .or_else(|| field("Reason"))
        .map(|n| doc.deep_text(n))
        .unwrap_or_default();
    Err(Mm7Error::Fault(SoapFault {
        code,
        string,
        actor: field("faultactor").map(|n| doc.text(n).to_owned()),
        detail: detail.map(|n| doc.deep_text(n)).filter(|d| !d.is_empty()),
    }))
}

/// Wrapper elements around an address that the early REL-5 schemas use (`senderAddressType`
/// holds its address in `SenderAddress`).
const WRAPPERS: &[&str] = &["SenderAddress"];

struct Head {
    transaction_id: Option<String>,
    release: Release,
}

/// Decoding state for one message: the tree, the message name for errors, the warnings.
struct Cx<'d, 'a> {
    doc: &'d Doc<'a>,
    msg: &'static str,
    warnings: Vec<Warning>,
    /// [`Limits::max_warnings`].
    max_warnings: usize,
    head: Head,
}

impl Cx<'_, '_> {
    /// Records a warning, within the limit.
    fn warn(&mut self, warning: Warning) {
        push_capped(&mut self.warnings, warning, self.max_warnings);
    }

    fn text(&self, n: NodeId) -> String {
        self.doc.text(n).to_owned()
    }

    fn skip(&mut self, parent: NodeId, n: NodeId) {
        self.warn(Warning::UnexpectedElement {
            parent: cut(self.doc.name(parent)),
            element: cut(self.doc.name(n)),
        });
    }

    /// A mandatory `xs:dateTime` element: anything else is an error.
    fn date_time(&self, n: NodeId, element: &'static str) -> Result<String, Mm7Error> {
        let text = self.doc.text(n);
        if !is_date_time(text) {
            return Err(self.invalid(element, n, "not an xs:dateTime"));
        }
        Ok(text.to_owned())
    }

    /// An optional `xs:dateTime` element (or, with `duration`, the schema's
    /// `relativeOrAbsoluteDateType`: an `xs:dateTime` or an `xs:duration`): anything else is
    /// a warning and `None`, never a silent replacement.
    fn opt_date(&mut self, n: NodeId, element: &'static str, duration: bool) -> Option<String> {
        let text = self.doc.text(n);
        if is_date_time(text) || (duration && is_duration(text)) {
            return Some(text.to_owned());
        }
        self.warn(Warning::InvalidDate {
            element,
            value: cut(text),
        });
        None
    }

    fn missing(&self, element: &'static str) -> Mm7Error {
        Mm7Error::MissingElement {
            message: self.msg,
            element,
        }
    }

    fn invalid(&self, element: &'static str, n: NodeId, reason: &'static str) -> Mm7Error {
        Mm7Error::InvalidValue {
            message: self.msg,
            element,
            value: cut(self.doc.text(n)),
            reason,
        }
    }

    fn boolean(&self, n: NodeId, element: &'static str) -> Result<bool, Mm7Error> {
        match self.doc.text(n) {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(self.invalid(element, n, "not an xs:boolean")),
        }
    }

    fn lenient<T>(&mut self, element: &'static str, n: NodeId, parse: fn(&str) -> (T, bool)) -> T {
        let raw = self.doc.text(n);
        let (value, lenient) = parse(raw);
        if lenient {
            self.warn(Warning::OutsideEnumeration {
                element,
                value: cut(raw),
                read_as: "received".into(),
            });
        }
        value
    }

    fn mm_status(&mut self, n: NodeId) -> MmStatus {
        let raw = self.doc.text(n);
        let (status, lenient) = MmStatus::parse(raw);
        if lenient {
            self.warn(Warning::OutsideEnumeration {
                element: "MMStatus",
                value: cut(raw),
                read_as: match &status {
                    MmStatus::Other(_) => "received (intermediate)".into(),
                    known => known.as_str().to_owned(),
                },
            });
        }
        status
    }

    /// An address element: one `Number`, `ShortCode` or `RFC2822Address` child (with or
    /// without REL-6's `displayOnly` / `addressCoding` / `id` attributes); or that child inside
    /// one wrapper element, as early REL-5 relays send `Sender` and `Recipient` (accepted
    /// silently for `SenderAddress`, with a warning for any other wrapper); or bare text
    /// (accepted with a warning).
    fn address(&mut self, n: NodeId, element: &'static str) -> Result<Address, Mm7Error> {
        let mut found = None;
        for c in self.doc.children(n) {
            if found.is_some() {
                self.skip(n, c);
                continue;
            }
            if let Some(a) = Address::from_element(self.doc.name(c), self.text(c)) {
                found = Some(a);
                continue;
            }
            let mut inner = self.doc.children(c);
            let wrapped = match (inner.next(), inner.next()) {
                (Some(g), None) => Address::from_element(self.doc.name(g), self.text(g)),
                _ => None,
            };
            match wrapped {
                Some(a) => {
                    let wrapper = self.doc.name(c);
                    if !WRAPPERS.contains(&wrapper) {
                        self.warn(Warning::WrappedAddress {
                            element: element.to_owned(),
                            wrapper: cut(wrapper),
                        });
                    }
                    found = Some(a);
                }
                None => self.skip(n, c),
            }
        }
        if let Some(a) = found {
            return Ok(a);
        }
        let text = self.doc.text(n);
        if text.is_empty() {
            return Err(self.invalid(element, n, "holds no Number, ShortCode or RFC2822Address"));
        }
        let (address, read_as) = if text.contains('@') {
            (Address::Rfc2822(text.to_owned()), "RFC2822Address")
        } else {
            (Address::Number(text.to_owned()), "Number")
        };
        self.warn(Warning::BareAddress {
            element: element.to_owned(),
            read_as,
        });
        Ok(address)
    }

    fn address_list(&mut self, n: NodeId, into: &mut Vec<Address>) {
        for c in self.doc.children(n) {
            match Address::from_element(self.doc.name(c), self.text(c)) {
                Some(a) => into.push(a),
                None => self.skip(n, c),
            }
        }
    }

    fn recipients(&mut self, n: NodeId) -> Recipients {
        let mut r = Recipients::default();
        for c in self.doc.children(n) {
            match self.doc.name(c) {
                "To" => self.address_list(c, &mut r.to),
                "Cc" => self.address_list(c, &mut r.cc),
                "Bcc" => self.address_list(c, &mut r.bcc),
                _ => self.skip(n, c),
            }
        }
        r
    }

    fn sender_identification(&mut self, n: NodeId) -> Result<SenderIdentification, Mm7Error> {
        let mut s = SenderIdentification::default();
        for c in self.doc.children(n) {
            match self.doc.name(c) {
                "VASPID" => s.vasp_id = Some(self.text(c)),
                "VASID" => s.vas_id = Some(self.text(c)),
                "SenderAddress" => s.sender_address = Some(self.address(c, "SenderAddress")?),
                _ => self.skip(n, c),
            }
        }
        Ok(s)
    }

    fn status(&mut self, n: NodeId) -> Result<Status, Mm7Error> {
        let mut code = None;
        let mut text = None;
        let mut details = None;
        for c in self.doc.children(n) {
            match self.doc.name(c) {
                "StatusCode" => {
                    let n: u16 = self
                        .doc
                        .text(c)
                        .parse()
                        .map_err(|_| self.invalid("StatusCode", c, "not a number"))?;
                    let parsed = StatusCode::from_u16(n);
                    if !parsed.is_known() {
                        self.warn(Warning::UnknownStatusCode { code: n });
                    }
                    code = Some(parsed);
                }
                "StatusText" => text = Some(self.text(c)),
                "Details" => details = Some(self.doc.deep_text(c)),
                _ => self.skip(n, c),
            }
        }
        Ok(Status {
            code: code.ok_or_else(|| self.missing("Status/StatusCode"))?,
            text,
            details,
        })
    }

    fn content(&self, n: NodeId) -> Result<ContentRef, Mm7Error> {
        let href = self
            .doc
            .attr(n, "href")
            .ok_or_else(|| self.invalid("Content", n, "has no href attribute"))?
            .into_owned();
        let allow_adaptations = match self.doc.attr(n, "allowAdaptations").as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(_) => {
                return Err(self.invalid("Content", n, "allowAdaptations is not an xs:boolean"));
            }
        };
        Ok(ContentRef {
            href,
            allow_adaptations,
        })
    }

    /// Checks `MM7Version` against the release and returns the envelope fields.
    fn finish(
        &mut self,
        version: Option<String>,
    ) -> Result<(Option<String>, String, Release, Vec<Warning>), Mm7Error> {
        let version = version.ok_or_else(|| self.missing("MM7Version"))?;
        let release = self.head.release.clone();
        if release.spec_release().is_some() && !release.matches_version(&version) {
            self.warn(Warning::VersionMismatch {
                mm7_version: cut(&version),
                release: release.name().to_owned(),
            });
        }
        Ok((
            self.head.transaction_id.take(),
            version,
            release,
            std::mem::take(&mut self.warnings),
        ))
    }
}

/// How each kind of element is read: `Ok(Some(value))`, `Ok(None)` for an optional value that
/// was refused with a warning, or an error. The message tables below name one per element.
mod kind {
    use super::*;

    macro_rules! kinds {
        ($($name:ident -> $t:ty = |$cx:ident, $n:ident, $el:ident| $body:expr;)*) => {$(
            pub(super) fn $name(
                $cx: &mut Cx<'_, '_>,
                $n: NodeId,
                $el: &'static str,
            ) -> Result<Option<$t>, Mm7Error> {
                $body
            }
        )*};
    }

    kinds! {
        text -> String = |cx, n, _el| Ok(Some(cx.text(n)));
        address -> Address = |cx, n, el| cx.address(n, el).map(Some);
        // A mandatory `xs:dateTime`: anything else is an error.
        date_time -> String = |cx, n, el| cx.date_time(n, el).map(Some);
        // An optional `xs:dateTime`: anything else is a warning and `None`.
        opt_date -> String = |cx, n, el| Ok(cx.opt_date(n, el, false));
        // An optional `relativeOrAbsoluteDateType` (`xs:dateTime` or `xs:duration`).
        opt_date_or_duration -> String = |cx, n, el| Ok(cx.opt_date(n, el, true));
        boolean -> bool = |cx, n, el| cx.boolean(n, el).map(Some);
        priority -> Priority = |cx, n, _el| Ok(Some(cx.lenient(Priority::ELEMENT, n, Priority::parse)));
        message_class -> MessageClass =
            |cx, n, _el| Ok(Some(cx.lenient(MessageClass::ELEMENT, n, MessageClass::parse)));
        charged_party -> ChargedParty =
            |cx, n, _el| Ok(Some(cx.lenient(ChargedParty::ELEMENT, n, ChargedParty::parse)));
        mm_status -> MmStatus = |cx, n, _el| Ok(Some(cx.mm_status(n)));
        read_status -> ReadStatus = |cx, n, el| Ok(Some(cx.lenient(el, n, ReadStatus::parse)));
        status -> Status = |cx, n, _el| cx.status(n).map(Some);
        sender_identification -> SenderIdentification = |cx, n, _el| cx.sender_identification(n).map(Some);
        recipients -> Recipients = |cx, n, _el| Ok(Some(cx.recipients(n)));
        content -> ContentRef = |cx, n, _el| cx.content(n).map(Some);
    }
}

/// One decoder per message, from its table of elements (3GPP TS 23.140 §8): `required`
/// elements are an error when missing, `optional` ones are `None`, `defaulted` ones take
/// their type's default, and `fixed` fields are not read from the XML. Each element is read
/// by the [`kind`] function named after `=>`; `MM7Version` and the envelope fields are common
/// to all, and any other element is skipped with a warning. The expansion is one `match` on
/// the child's local name, as a hand-written decoder would be. The table also gives
/// `decode_message`, which picks the decoder by the message element's local name, and
/// `is_message`.
macro_rules! message_decoders {
    ($(
        $func:ident -> $ty:ident $name:literal {
            $(required { $($rf:ident: $rn:literal => $rk:ident),* $(,)? })?
            $(optional { $($of:ident: $on:literal => $ok:ident),* $(,)? })?
            $(defaulted { $($df:ident: $dn:literal => $dk:ident),* $(,)? })?
            $(fixed { $($ff:ident: $fv:expr),* $(,)? })?
        }
    )*) => {
        /// Whether a local name is one of the MM7 messages.
        fn is_message(name: &str) -> bool {
            matches!(name, $($name)|*)
        }

        fn decode_message(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<Mm7Message, Mm7Error> {
            Ok(match cx.doc.name(el) {
                $($name => Mm7Message::$ty($func(cx, el)?),)*
                other => return Err(Mm7Error::UnknownMessage(cut(other))),
            })
        }
    $(
        fn $func(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<$ty, Mm7Error> {
            cx.msg = $name;
            let mut version = None;
            $($(let mut $rf = None;)*)?
            $($(let mut $of = None;)*)?
            $($(let mut $df = None;)*)?
            for c in cx.doc.children(el) {
                match cx.doc.name(c) {
                    "MM7Version" => version = Some(cx.text(c)),
                    $($($rn => $rf = kind::$rk(cx, c, $rn)?,)*)?
                    $($($on => $of = kind::$ok(cx, c, $on)?,)*)?
                    $($($dn => $df = kind::$dk(cx, c, $dn)?,)*)?
                    _ => cx.skip(el, c),
                }
            }
            $($(let $rf = $rf.ok_or_else(|| cx.missing($rn))?;)*)?
            let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
            Ok($ty {
                transaction_id,
                mm7_version,
                release,
                warnings,
                $($($rf,)*)?
                $($($of,)*)?
                $($($df: $df.unwrap_or_default(),)*)?
                $($($ff: $fv,)*)?
            })
        }
    )*};
}

message_decoders! {
    submit_req -> SubmitReq "SubmitReq" {
        required {
            sender_identification: "SenderIdentification" => sender_identification,
            recipients: "Recipients" => recipients,
        }
        optional {
            service_code: "ServiceCode" => text,
            linked_id: "LinkedID" => text,
            message_class: "MessageClass" => message_class,
            time_stamp: "TimeStamp" => opt_date,
            earliest_delivery_time: "EarliestDeliveryTime" => opt_date_or_duration,
            expiry_date: "ExpiryDate" => opt_date_or_duration,
            delivery_report: "DeliveryReport" => boolean,
            read_reply: "ReadReply" => boolean,
            priority: "Priority" => priority,
            subject: "Subject" => text,
            charged_party: "ChargedParty" => charged_party,
            charged_party_id: "ChargedPartyID" => text,
            distribution_indicator: "DistributionIndicator" => boolean,
            applic_id: "ApplicID" => text,
            reply_applic_id: "ReplyApplicID" => text,
            aux_applic_info: "AuxApplicInfo" => text,
            content: "Content" => content,
        }
        fixed { parts: Vec::new() }
    }
    submit_rsp -> SubmitRsp "SubmitRsp" {
        required { status: "Status" => status }
        optional { message_id: "MessageID" => text }
    }
    deliver_req -> DeliverReq "DeliverReq" {
        required { sender: "Sender" => address }
        optional {
            mms_relay_server_id: "MMSRelayServerID" => text,
            vasp_id: "VASPID" => text,
            vas_id: "VASID" => text,
            linked_id: "LinkedID" => text,
            time_stamp: "TimeStamp" => opt_date,
            reply_charging_id: "ReplyChargingID" => text,
            priority: "Priority" => priority,
            subject: "Subject" => text,
            applic_id: "ApplicID" => text,
            reply_applic_id: "ReplyApplicID" => text,
            aux_applic_info: "AuxApplicInfo" => text,
            content: "Content" => content,
        }
        defaulted { recipients: "Recipients" => recipients }
        fixed { parts: Vec::new() }
    }
    deliver_rsp -> DeliverRsp "DeliverRsp" {
        required { status: "Status" => status }
        optional { service_code: "ServiceCode" => text }
    }
    cancel_req -> CancelReq "CancelReq" {
        required {
            sender_identification: "SenderIdentification" => sender_identification,
            message_id: "MessageID" => text,
        }
    }
    cancel_rsp -> CancelRsp "CancelRsp" {
        required { status: "Status" => status }
    }
    replace_req -> ReplaceReq "ReplaceReq" {
        required {
            sender_identification: "SenderIdentification" => sender_identification,
            message_id: "MessageID" => text,
        }
        optional {
            service_code: "ServiceCode" => text,
            time_stamp: "TimeStamp" => opt_date,
            read_reply: "ReadReply" => boolean,
            earliest_delivery_time: "EarliestDeliveryTime" => opt_date_or_duration,
            distribution_indicator: "DistributionIndicator" => boolean,
            content: "Content" => content,
        }
        fixed { parts: Vec::new() }
    }
    replace_rsp -> ReplaceRsp "ReplaceRsp" {
        required { status: "Status" => status }
    }
    delivery_report_req -> DeliveryReportReq "DeliveryReportReq" {
        required {
            message_id: "MessageID" => text,
            recipient: "Recipient" => address,
            sender: "Sender" => address,
            date: "Date" => date_time,
            mm_status: "MMStatus" => mm_status,
        }
        optional {
            mms_relay_server_id: "MMSRelayServerID" => text,
            status_text: "StatusText" => text,
            applic_id: "ApplicID" => text,
            reply_applic_id: "ReplyApplicID" => text,
            aux_applic_info: "AuxApplicInfo" => text,
        }
    }
    delivery_report_rsp -> DeliveryReportRsp "DeliveryReportRsp" {
        required { status: "Status" => status }
    }
    read_reply_req -> ReadReplyReq "ReadReplyReq" {
        required {
            message_id: "MessageID" => text,
            recipient: "Recipient" => address,
            sender: "Sender" => address,
            time_stamp: "TimeStamp" => date_time,
            mm_status: "MMStatus" => read_status,
        }
        optional {
            mms_relay_server_id: "MMSRelayServerID" => text,
            status_text: "StatusText" => text,
            applic_id: "ApplicID" => text,
            reply_applic_id: "ReplyApplicID" => text,
            aux_applic_info: "AuxApplicInfo" => text,
        }
    }
    read_reply_rsp -> ReadReplyRsp "ReadReplyRsp" {
        required { status: "Status" => status }
    }
    rs_error_rsp -> RsErrorRsp "RSErrorRsp" {
        required { status: "Status" => status }
        optional { mms_relay_server_id: "MMSRelayServerID" => text }
    }
    vasp_error_rsp -> VaspErrorRsp "VASPErrorRsp" {
        required { status: "Status" => status }
        optional {
            vasp_id: "VASPID" => text,
            vas_id: "VASID" => text,
        }
    }
}
