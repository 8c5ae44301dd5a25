//! Encoding the SOAP part: a SOAP 1.1 envelope with the `TransactionID` header
//! (`mustUnderstand="1"`, 3GPP TS 23.140 §9.2) and the message body in the chosen release's
//! namespace, elements in schema order. RSErrorRsp and VASPErrorRsp go inside a SOAP Fault
//! (§9.2.4).

use super::address::{Address, Recipients};
use super::content::ContentRef;
use super::error::Mm7Error;
use super::message::*;
use super::release::{Release, SOAP_ENV_NS};
use super::status::Status;
use super::xml::Writer;

/// Encodes the SOAP envelope for `message` in `release`.
pub(crate) fn encode_envelope(message: &Mm7Message, release: &Release) -> Result<String, Mm7Error> {
    let ns = release.namespace();
    let transaction_id = message.transaction_id().ok_or_else(|| Mm7Error::Encode {
        message: message.kind(),
        reason: "it has no transaction_id; the TransactionID header is mandatory".into(),
    })?;
    let version = match message.mm7_version() {
        v if !v.is_empty() && release.matches_version(v) => v,
        _ => release.default_mm7_version(),
    };
    let mut w = Writer::new();
    w.out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    w.open_attrs("env:Envelope", &[("xmlns:env", SOAP_ENV_NS)]);
    w.open("env:Header");
    w.open_attrs(
        "mm7:TransactionID",
        &[("xmlns:mm7", ns.as_str()), ("env:mustUnderstand", "1")],
    );
    w.out.push_str(&quick_xml::escape::escape(transaction_id));
    w.close("mm7:TransactionID");
    w.close("env:Header");
    w.open("env:Body");
    let fault = match message {
        Mm7Message::RsErrorRsp(m) => Some(("env:Server", &m.status)),
        Mm7Message::VaspErrorRsp(m) => Some(("env:Client", &m.status)),
        _ => None,
    };
    if let Some((code, status)) = fault {
        w.open("env:Fault");
        w.elem("faultcode", code);
        w.elem(
            "faultstring",
            status
                .text
                .as_deref()
                .or(status.code.meaning())
                .unwrap_or("MM7 error"),
        );
        w.open("detail");
    }
    let kind = message.kind();
    w.open_attrs(kind, &[("xmlns", ns.as_str())]);
    w.elem("MM7Version", version);
    body(&mut w, message);
    w.close(kind);
    if fault.is_some() {
        w.close("detail");
        w.close("env:Fault");
    }
    w.close("env:Body");
    w.close("env:Envelope");
    Ok(w.out)
}

fn address(w: &mut Writer, a: &Address) {
    w.elem(a.element(), a.value());
}

fn wrapped_address(w: &mut Writer, name: &str, a: &Address) {
    w.open(name);
    address(w, a);
    w.close(name);
}

fn recipients(w: &mut Writer, r: &Recipients) {
    w.open("Recipients");
    for (name, list) in [("To", &r.to), ("Cc", &r.cc), ("Bcc", &r.bcc)] {
        if !list.is_empty() {
            w.open(name);
            for a in list {
                address(w, a);
            }
            w.close(name);
        }
    }
    w.close("Recipients");
}

fn sender_identification(w: &mut Writer, s: &SenderIdentification) {
    w.open("SenderIdentification");
    w.opt("VASPID", s.vasp_id.as_deref());
    w.opt("VASID", s.vas_id.as_deref());
    if let Some(a) = &s.sender_address {
        wrapped_address(w, "SenderAddress", a);
    }
    w.close("SenderIdentification");
}

fn status(w: &mut Writer, s: &Status) {
    w.open("Status");
    w.elem("StatusCode", &s.code.as_u16().to_string());
    w.opt("StatusText", s.text.as_deref());
    w.opt("Details", s.details.as_deref());
    w.close("Status");
}

fn content(w: &mut Writer, c: &Option<ContentRef>) {
    if let Some(c) = c {
        match c.allow_adaptations {
            Some(a) => w.empty_attrs(
                "Content",
                &[
                    ("href", c.href.as_str()),
                    ("allowAdaptations", if a { "true" } else { "false" }),
                ],
            ),
            None => w.empty_attrs("Content", &[("href", c.href.as_str())]),
        }
    }
}

fn body(w: &mut Writer, message: &Mm7Message) {
    match message {
        Mm7Message::SubmitReq(m) => {
            sender_identification(w, &m.sender_identification);
            recipients(w, &m.recipients);
            w.opt("ServiceCode", m.service_code.as_deref());
            w.opt("LinkedID", m.linked_id.as_deref());
            w.opt("MessageClass", m.message_class.as_ref().map(|v| v.as_str()));
            w.opt("TimeStamp", m.time_stamp.as_deref());
            w.opt("EarliestDeliveryTime", m.earliest_delivery_time.as_deref());
            w.opt("ExpiryDate", m.expiry_date.as_deref());
            w.opt_bool("DeliveryReport", m.delivery_report);
            w.opt_bool("ReadReply", m.read_reply);
            w.opt("Priority", m.priority.as_ref().map(|v| v.as_str()));
            w.opt("Subject", m.subject.as_deref());
            w.opt("ChargedParty", m.charged_party.as_ref().map(|v| v.as_str()));
            w.opt("ChargedPartyID", m.charged_party_id.as_deref());
            w.opt_bool("DistributionIndicator", m.distribution_indicator);
            w.opt("ApplicID", m.applic_id.as_deref());
            w.opt("ReplyApplicID", m.reply_applic_id.as_deref());
            w.opt("AuxApplicInfo", m.aux_applic_info.as_deref());
            content(w, &m.content);
        }
        Mm7Message::SubmitRsp(m) => {
            status(w, &m.status);
            w.opt("MessageID", m.message_id.as_deref());
        }
        Mm7Message::DeliverReq(m) => {
            w.opt("MMSRelayServerID", m.mms_relay_server_id.as_deref());
            w.opt("VASPID", m.vasp_id.as_deref());
            w.opt("VASID", m.vas_id.as_deref());
            w.opt("LinkedID", m.linked_id.as_deref());
            wrapped_address(w, "Sender", &m.sender);
            if !m.recipients.is_empty() {
                recipients(w, &m.recipients);
            }
            w.opt("TimeStamp", m.time_stamp.as_deref());
            w.opt("ReplyChargingID", m.reply_charging_id.as_deref());
            w.opt("Priority", m.priority.as_ref().map(|v| v.as_str()));
            w.opt("Subject", m.subject.as_deref());
            w.opt("ApplicID", m.applic_id.as_deref());
            w.opt("ReplyApplicID", m.reply_applic_id.as_deref());
            w.opt("AuxApplicInfo", m.aux_applic_info.as_deref());
            content(w, &m.content);
        }
        Mm7Message::DeliverRsp(m) => {
            status(w, &m.status);
            w.opt("ServiceCode", m.service_code.as_deref());
        }
        Mm7Message::CancelReq(m) => {
            sender_identification(w, &m.sender_identification);
            w.elem("MessageID", &m.message_id);
        }
        Mm7Message::ReplaceReq(m) => {
            sender_identification(w, &m.sender_identification);
            w.elem("MessageID", &m.message_id);
            w.opt("ServiceCode", m.service_code.as_deref());
            w.opt("TimeStamp", m.time_stamp.as_deref());
            w.opt_bool("ReadReply", m.read_reply);
            w.opt("EarliestDeliveryTime", m.earliest_delivery_time.as_deref());
            w.opt_bool("DistributionIndicator", m.distribution_indicator);
            content(w, &m.content);
        }
        Mm7Message::DeliveryReportReq(m) => {
            w.opt("MMSRelayServerID", m.mms_relay_server_id.as_deref());
            w.elem("MessageID", &m.message_id);
            wrapped_address(w, "Recipient", &m.recipient);
            wrapped_address(w, "Sender", &m.sender);
            w.elem("Date", &m.date);
            w.elem("MMStatus", m.mm_status.as_str());
            w.opt("StatusText", m.status_text.as_deref());
            w.opt("ApplicID", m.applic_id.as_deref());
            w.opt("ReplyApplicID", m.reply_applic_id.as_deref());
            w.opt("AuxApplicInfo", m.aux_applic_info.as_deref());
        }
        Mm7Message::ReadReplyReq(m) => {
            w.opt("MMSRelayServerID", m.mms_relay_server_id.as_deref());
            w.elem("MessageID", &m.message_id);
            wrapped_address(w, "Recipient", &m.recipient);
            wrapped_address(w, "Sender", &m.sender);
            w.elem("TimeStamp", &m.time_stamp);
            w.elem("MMStatus", m.mm_status.as_str());
            w.opt("StatusText", m.status_text.as_deref());
            w.opt("ApplicID", m.applic_id.as_deref());
            w.opt("ReplyApplicID", m.reply_applic_id.as_deref());
            w.opt("AuxApplicInfo", m.aux_applic_info.as_deref());
        }
        Mm7Message::RsErrorRsp(m) => {
            w.opt("MMSRelayServerID", m.mms_relay_server_id.as_deref());
            status(w, &m.status);
        }
        Mm7Message::VaspErrorRsp(m) => {
            w.opt("VASPID", m.vasp_id.as_deref());
            w.opt("VASID", m.vas_id.as_deref());
            status(w, &m.status);
        }
        Mm7Message::CancelRsp(CancelRsp { status: s, .. })
        | Mm7Message::ReplaceRsp(ReplaceRsp { status: s, .. })
        | Mm7Message::DeliveryReportRsp(DeliveryReportRsp { status: s, .. })
        | Mm7Message::ReadReplyRsp(ReadReplyRsp { status: s, .. }) => status(w, s),
    }
}
