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
use super::warning::Warning;
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
        warnings.push(Warning::EnvelopeNamespace {
            namespace: String::new(),
        });
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
        warnings.push(Warning::UnknownRelease {
            namespace: namespace.clone().into_owned(),
        });
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
            warnings.push(Warning::DuplicateTransactionId);
        }
    }
    let transaction_id = match transaction {
        Some(t) => {
            let header_ns = doc.namespace(t);
            if !header_ns.is_empty() && header_ns != namespace {
                warnings.push(Warning::MixedReleases {
                    header: header_ns.into_owned(),
                    body: namespace.into_owned(),
                });
            }
            Some(doc.text(t).to_owned())
        }
        None => {
            warnings.push(Warning::MissingTransactionId);
            None
        }
    };

    let mut cx = Cx {
        doc: &doc,
        msg: "",
        warnings,
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

fn is_message(name: &str) -> bool {
    matches!(
        name,
        "SubmitReq"
            | "SubmitRsp"
            | "DeliverReq"
            | "DeliverRsp"
            | "CancelReq"
            | "CancelRsp"
            | "ReplaceReq"
            | "ReplaceRsp"
            | "DeliveryReportReq"
            | "DeliveryReportRsp"
            | "ReadReplyReq"
            | "ReadReplyRsp"
            | "RSErrorRsp"
            | "VASPErrorRsp"
    )
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
    head: Head,
}

impl Cx<'_, '_> {
    fn text(&self, n: NodeId) -> String {
        self.doc.text(n).to_owned()
    }

    fn skip(&mut self, parent: NodeId, n: NodeId) {
        self.warnings.push(Warning::UnexpectedElement {
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
        self.warnings.push(Warning::InvalidDate {
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
            self.warnings.push(Warning::OutsideEnumeration {
                element,
                value: cut(raw),
                read_as: "received".into(),
            });
        }
        value
    }

    fn priority(&mut self, n: NodeId) -> Priority {
        self.lenient(Priority::ELEMENT, n, Priority::parse)
    }

    fn message_class(&mut self, n: NodeId) -> MessageClass {
        self.lenient(MessageClass::ELEMENT, n, MessageClass::parse)
    }

    fn charged_party(&mut self, n: NodeId) -> ChargedParty {
        self.lenient(ChargedParty::ELEMENT, n, ChargedParty::parse)
    }

    fn mm_status(&mut self, n: NodeId) -> MmStatus {
        let raw = self.doc.text(n);
        let (status, lenient) = MmStatus::parse(raw);
        if lenient {
            self.warnings.push(Warning::OutsideEnumeration {
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
                        self.warnings.push(Warning::WrappedAddress {
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
        self.warnings.push(Warning::BareAddress {
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
                        self.warnings.push(Warning::UnknownStatusCode { code: n });
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
            self.warnings.push(Warning::VersionMismatch {
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

fn decode_message(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<Mm7Message, Mm7Error> {
    let name = cx.doc.name(el);
    Ok(match name {
        "SubmitReq" => Mm7Message::SubmitReq(submit_req(cx, el)?),
        "SubmitRsp" => Mm7Message::SubmitRsp(submit_rsp(cx, el)?),
        "DeliverReq" => Mm7Message::DeliverReq(deliver_req(cx, el)?),
        "DeliverRsp" => Mm7Message::DeliverRsp(deliver_rsp(cx, el)?),
        "CancelReq" => Mm7Message::CancelReq(cancel_req(cx, el)?),
        "ReplaceReq" => Mm7Message::ReplaceReq(replace_req(cx, el)?),
        "DeliveryReportReq" => Mm7Message::DeliveryReportReq(delivery_report_req(cx, el)?),
        "ReadReplyReq" => Mm7Message::ReadReplyReq(read_reply_req(cx, el)?),
        "RSErrorRsp" => Mm7Message::RsErrorRsp(rs_error_rsp(cx, el)?),
        "VASPErrorRsp" => Mm7Message::VaspErrorRsp(vasp_error_rsp(cx, el)?),
        "CancelRsp" | "ReplaceRsp" | "DeliveryReportRsp" | "ReadReplyRsp" => {
            status_only(cx, el, name)?
        }
        other => return Err(Mm7Error::UnknownMessage(cut(other))),
    })
}

fn submit_req(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<SubmitReq, Mm7Error> {
    cx.msg = "SubmitReq";
    let mut version = None;
    let mut sender_identification = None;
    let mut recipients = None;
    let mut m = SubmitReq::new(String::new(), Release::default(), Recipients::default());
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "SenderIdentification" => sender_identification = Some(cx.sender_identification(c)?),
            "Recipients" => recipients = Some(cx.recipients(c)),
            "ServiceCode" => m.service_code = Some(cx.text(c)),
            "LinkedID" => m.linked_id = Some(cx.text(c)),
            "MessageClass" => m.message_class = Some(cx.message_class(c)),
            "TimeStamp" => m.time_stamp = cx.opt_date(c, "TimeStamp", false),
            "EarliestDeliveryTime" => {
                m.earliest_delivery_time = cx.opt_date(c, "EarliestDeliveryTime", true)
            }
            "ExpiryDate" => m.expiry_date = cx.opt_date(c, "ExpiryDate", true),
            "DeliveryReport" => m.delivery_report = Some(cx.boolean(c, "DeliveryReport")?),
            "ReadReply" => m.read_reply = Some(cx.boolean(c, "ReadReply")?),
            "Priority" => m.priority = Some(cx.priority(c)),
            "Subject" => m.subject = Some(cx.text(c)),
            "ChargedParty" => m.charged_party = Some(cx.charged_party(c)),
            "ChargedPartyID" => m.charged_party_id = Some(cx.text(c)),
            "DistributionIndicator" => {
                m.distribution_indicator = Some(cx.boolean(c, "DistributionIndicator")?)
            }
            "ApplicID" => m.applic_id = Some(cx.text(c)),
            "ReplyApplicID" => m.reply_applic_id = Some(cx.text(c)),
            "AuxApplicInfo" => m.aux_applic_info = Some(cx.text(c)),
            "Content" => m.content = Some(cx.content(c)?),
            _ => cx.skip(el, c),
        }
    }
    m.sender_identification =
        sender_identification.ok_or_else(|| cx.missing("SenderIdentification"))?;
    m.recipients = recipients.ok_or_else(|| cx.missing("Recipients"))?;
    (m.transaction_id, m.mm7_version, m.release, m.warnings) = cx.finish(version)?;
    Ok(m)
}

fn submit_rsp(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<SubmitRsp, Mm7Error> {
    cx.msg = "SubmitRsp";
    let (mut version, mut status, mut message_id) = (None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "Status" => status = Some(cx.status(c)?),
            "MessageID" => message_id = Some(cx.text(c)),
            _ => cx.skip(el, c),
        }
    }
    let status = status.ok_or_else(|| cx.missing("Status"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(SubmitRsp {
        transaction_id,
        mm7_version,
        release,
        warnings,
        status,
        message_id,
    })
}

fn deliver_req(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<DeliverReq, Mm7Error> {
    cx.msg = "DeliverReq";
    let mut version = None;
    let mut sender = None;
    let mut recipients = Recipients::default();
    let mut mms_relay_server_id = None;
    let (mut vasp_id, mut vas_id, mut linked_id, mut time_stamp) = (None, None, None, None);
    let (mut reply_charging_id, mut priority, mut subject) = (None, None, None);
    let (mut applic_id, mut reply_applic_id, mut aux_applic_info, mut content) =
        (None, None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "MMSRelayServerID" => mms_relay_server_id = Some(cx.text(c)),
            "VASPID" => vasp_id = Some(cx.text(c)),
            "VASID" => vas_id = Some(cx.text(c)),
            "LinkedID" => linked_id = Some(cx.text(c)),
            "Sender" => sender = Some(cx.address(c, "Sender")?),
            "Recipients" => recipients = cx.recipients(c),
            "TimeStamp" => time_stamp = cx.opt_date(c, "TimeStamp", false),
            "ReplyChargingID" => reply_charging_id = Some(cx.text(c)),
            "Priority" => priority = Some(cx.priority(c)),
            "Subject" => subject = Some(cx.text(c)),
            "ApplicID" => applic_id = Some(cx.text(c)),
            "ReplyApplicID" => reply_applic_id = Some(cx.text(c)),
            "AuxApplicInfo" => aux_applic_info = Some(cx.text(c)),
            "Content" => content = Some(cx.content(c)?),
            _ => cx.skip(el, c),
        }
    }
    let sender = sender.ok_or_else(|| cx.missing("Sender"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(DeliverReq {
        transaction_id,
        mm7_version,
        release,
        warnings,
        mms_relay_server_id,
        vasp_id,
        vas_id,
        linked_id,
        sender,
        recipients,
        time_stamp,
        reply_charging_id,
        priority,
        subject,
        applic_id,
        reply_applic_id,
        aux_applic_info,
        content,
        parts: Vec::new(),
    })
}

fn deliver_rsp(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<DeliverRsp, Mm7Error> {
    cx.msg = "DeliverRsp";
    let (mut version, mut status, mut service_code) = (None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "Status" => status = Some(cx.status(c)?),
            "ServiceCode" => service_code = Some(cx.text(c)),
            _ => cx.skip(el, c),
        }
    }
    let status = status.ok_or_else(|| cx.missing("Status"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(DeliverRsp {
        transaction_id,
        mm7_version,
        release,
        warnings,
        status,
        service_code,
    })
}

fn cancel_req(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<CancelReq, Mm7Error> {
    cx.msg = "CancelReq";
    let (mut version, mut sender_identification, mut message_id) = (None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "SenderIdentification" => sender_identification = Some(cx.sender_identification(c)?),
            "MessageID" => message_id = Some(cx.text(c)),
            _ => cx.skip(el, c),
        }
    }
    let sender_identification =
        sender_identification.ok_or_else(|| cx.missing("SenderIdentification"))?;
    let message_id = message_id.ok_or_else(|| cx.missing("MessageID"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(CancelReq {
        transaction_id,
        mm7_version,
        release,
        warnings,
        sender_identification,
        message_id,
    })
}

fn replace_req(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<ReplaceReq, Mm7Error> {
    cx.msg = "ReplaceReq";
    let (mut version, mut sender_identification, mut message_id) = (None, None, None);
    let (mut service_code, mut time_stamp, mut read_reply) = (None, None, None);
    let (mut earliest_delivery_time, mut distribution_indicator, mut content) = (None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "SenderIdentification" => sender_identification = Some(cx.sender_identification(c)?),
            "MessageID" => message_id = Some(cx.text(c)),
            "ServiceCode" => service_code = Some(cx.text(c)),
            "TimeStamp" => time_stamp = cx.opt_date(c, "TimeStamp", false),
            "ReadReply" => read_reply = Some(cx.boolean(c, "ReadReply")?),
            "EarliestDeliveryTime" => {
                earliest_delivery_time = cx.opt_date(c, "EarliestDeliveryTime", true)
            }
            "DistributionIndicator" => {
                distribution_indicator = Some(cx.boolean(c, "DistributionIndicator")?)
            }
            "Content" => content = Some(cx.content(c)?),
            _ => cx.skip(el, c),
        }
    }
    let sender_identification =
        sender_identification.ok_or_else(|| cx.missing("SenderIdentification"))?;
    let message_id = message_id.ok_or_else(|| cx.missing("MessageID"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(ReplaceReq {
        transaction_id,
        mm7_version,
        release,
        warnings,
        sender_identification,
        message_id,
        service_code,
        time_stamp,
        read_reply,
        earliest_delivery_time,
        distribution_indicator,
        content,
        parts: Vec::new(),
    })
}

fn delivery_report_req(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<DeliveryReportReq, Mm7Error> {
    cx.msg = "DeliveryReportReq";
    let (mut version, mut mms_relay_server_id, mut message_id) = (None, None, None);
    let (mut recipient, mut sender, mut date, mut mm_status) = (None, None, None, None);
    let (mut status_text, mut applic_id, mut reply_applic_id, mut aux_applic_info) =
        (None, None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "MMSRelayServerID" => mms_relay_server_id = Some(cx.text(c)),
            "MessageID" => message_id = Some(cx.text(c)),
            "Recipient" => recipient = Some(cx.address(c, "Recipient")?),
            "Sender" => sender = Some(cx.address(c, "Sender")?),
            "Date" => date = Some(cx.date_time(c, "Date")?),
            "MMStatus" => mm_status = Some(cx.mm_status(c)),
            "StatusText" => status_text = Some(cx.text(c)),
            "ApplicID" => applic_id = Some(cx.text(c)),
            "ReplyApplicID" => reply_applic_id = Some(cx.text(c)),
            "AuxApplicInfo" => aux_applic_info = Some(cx.text(c)),
            _ => cx.skip(el, c),
        }
    }
    let message_id = message_id.ok_or_else(|| cx.missing("MessageID"))?;
    let recipient = recipient.ok_or_else(|| cx.missing("Recipient"))?;
    let sender = sender.ok_or_else(|| cx.missing("Sender"))?;
    let date = date.ok_or_else(|| cx.missing("Date"))?;
    let mm_status = mm_status.ok_or_else(|| cx.missing("MMStatus"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(DeliveryReportReq {
        transaction_id,
        mm7_version,
        release,
        warnings,
        mms_relay_server_id,
        message_id,
        recipient,
        sender,
        date,
        mm_status,
        status_text,
        applic_id,
        reply_applic_id,
        aux_applic_info,
    })
}

fn read_reply_req(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<ReadReplyReq, Mm7Error> {
    cx.msg = "ReadReplyReq";
    let (mut version, mut mms_relay_server_id, mut message_id) = (None, None, None);
    let (mut recipient, mut sender, mut time_stamp, mut mm_status) = (None, None, None, None);
    let (mut status_text, mut applic_id, mut reply_applic_id, mut aux_applic_info) =
        (None, None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "MMSRelayServerID" => mms_relay_server_id = Some(cx.text(c)),
            "MessageID" => message_id = Some(cx.text(c)),
            "Recipient" => recipient = Some(cx.address(c, "Recipient")?),
            "Sender" => sender = Some(cx.address(c, "Sender")?),
            "TimeStamp" => time_stamp = Some(cx.date_time(c, "TimeStamp")?),
            "MMStatus" => mm_status = Some(cx.lenient("MMStatus", c, ReadStatus::parse)),
            "StatusText" => status_text = Some(cx.text(c)),
            "ApplicID" => applic_id = Some(cx.text(c)),
            "ReplyApplicID" => reply_applic_id = Some(cx.text(c)),
            "AuxApplicInfo" => aux_applic_info = Some(cx.text(c)),
            _ => cx.skip(el, c),
        }
    }
    let message_id = message_id.ok_or_else(|| cx.missing("MessageID"))?;
    let recipient = recipient.ok_or_else(|| cx.missing("Recipient"))?;
    let sender = sender.ok_or_else(|| cx.missing("Sender"))?;
    let time_stamp = time_stamp.ok_or_else(|| cx.missing("TimeStamp"))?;
    let mm_status = mm_status.ok_or_else(|| cx.missing("MMStatus"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(ReadReplyReq {
        transaction_id,
        mm7_version,
        release,
        warnings,
        mms_relay_server_id,
        message_id,
        recipient,
        sender,
        time_stamp,
        mm_status,
        status_text,
        applic_id,
        reply_applic_id,
        aux_applic_info,
    })
}

fn rs_error_rsp(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<RsErrorRsp, Mm7Error> {
    cx.msg = "RSErrorRsp";
    let (mut version, mut status, mut mms_relay_server_id) = (None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "MMSRelayServerID" => mms_relay_server_id = Some(cx.text(c)),
            "Status" => status = Some(cx.status(c)?),
            _ => cx.skip(el, c),
        }
    }
    let status = status.ok_or_else(|| cx.missing("Status"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(RsErrorRsp {
        transaction_id,
        mm7_version,
        release,
        warnings,
        mms_relay_server_id,
        status,
    })
}

fn vasp_error_rsp(cx: &mut Cx<'_, '_>, el: NodeId) -> Result<VaspErrorRsp, Mm7Error> {
    cx.msg = "VASPErrorRsp";
    let (mut version, mut status, mut vasp_id, mut vas_id) = (None, None, None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "VASPID" => vasp_id = Some(cx.text(c)),
            "VASID" => vas_id = Some(cx.text(c)),
            "Status" => status = Some(cx.status(c)?),
            _ => cx.skip(el, c),
        }
    }
    let status = status.ok_or_else(|| cx.missing("Status"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(VaspErrorRsp {
        transaction_id,
        mm7_version,
        release,
        warnings,
        vasp_id,
        vas_id,
        status,
    })
}

/// The responses that carry only `MM7Version` and `Status`.
fn status_only(cx: &mut Cx<'_, '_>, el: NodeId, name: &str) -> Result<Mm7Message, Mm7Error> {
    cx.msg = match name {
        "CancelRsp" => "CancelRsp",
        "ReplaceRsp" => "ReplaceRsp",
        "DeliveryReportRsp" => "DeliveryReportRsp",
        _ => "ReadReplyRsp",
    };
    let (mut version, mut status) = (None, None);
    for c in cx.doc.children(el) {
        match cx.doc.name(c) {
            "MM7Version" => version = Some(cx.text(c)),
            "Status" => status = Some(cx.status(c)?),
            _ => cx.skip(el, c),
        }
    }
    let status = status.ok_or_else(|| cx.missing("Status"))?;
    let (transaction_id, mm7_version, release, warnings) = cx.finish(version)?;
    Ok(match cx.msg {
        "CancelRsp" => Mm7Message::CancelRsp(CancelRsp {
            transaction_id,
            mm7_version,
            release,
            warnings,
            status,
        }),
        "ReplaceRsp" => Mm7Message::ReplaceRsp(ReplaceRsp {
            transaction_id,
            mm7_version,
            release,
            warnings,
            status,
        }),
        "DeliveryReportRsp" => Mm7Message::DeliveryReportRsp(DeliveryReportRsp {
            transaction_id,
            mm7_version,
            release,
            warnings,
            status,
        }),
        _ => Mm7Message::ReadReplyRsp(ReadReplyRsp {
            transaction_id,
            mm7_version,
            release,
            warnings,
            status,
        }),
    })
}
