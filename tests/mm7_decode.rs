//! Decoding MM7 bodies as relays send them: the sample files under `examples/data/mm7/`,
//! several envelope prefixes, mixed releases, faults and `multipart/related` content.
#![cfg(feature = "mm7")]

use redeliver::message::ReceiptClass;
use redeliver::mm7::*;

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/examples/data/mm7/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sample_ct(name: &str) -> String {
    String::from_utf8(sample(name)).unwrap().trim().to_owned()
}

fn decode(ct: Option<&str>, body: &[u8]) -> Result<Mm7Message, Mm7Error> {
    DefaultMm7Codec::default().decode(ct, body)
}

#[test]
fn delivery_report_req_decodes_with_every_field() {
    let Mm7Message::DeliveryReportReq(dr) =
        decode(Some("text/xml"), &sample("delivery_report_req.xml")).unwrap()
    else {
        panic!("not a DeliveryReportReq");
    };
    assert_eq!(dr.transaction_id.as_deref(), Some("dr-0001"));
    assert_eq!(dr.mm7_version, "6.8.0");
    assert_eq!(dr.release, Release::Rel6Mm7_1_4);
    assert_eq!(dr.mms_relay_server_id.as_deref(), Some("mmsc.example.net"));
    assert_eq!(dr.message_id, "041502073667");
    assert_eq!(dr.recipient, Address::Number("+15551234567".into()));
    assert_eq!(dr.sender, Address::ShortCode("12345".into()));
    assert_eq!(dr.date, "2026-11-22T06:15:00+00:00");
    assert_eq!(dr.mm_status, MmStatus::Expired);
    assert_eq!(dr.mm_status.class(), ReceiptClass::Negative);
    assert_eq!(
        dr.status_text.as_deref(),
        Some("Message expired before retrieval")
    );
    assert!(dr.warnings.is_empty(), "{:?}", dr.warnings);

    let rsp = dr.acknowledge();
    assert_eq!(rsp.transaction_id.as_deref(), Some("dr-0001"));
    assert_eq!(rsp.release, Release::Rel6Mm7_1_4);
    assert_eq!(rsp.status.code, StatusCode::Success);
}

#[test]
fn lenient_delivery_report_lists_every_leniency() {
    let msg = decode(None, &sample("delivery_report_req_lenient.xml")).unwrap();
    let Mm7Message::DeliveryReportReq(dr) = &msg else {
        panic!("not a DeliveryReportReq");
    };
    assert_eq!(dr.release, Release::Rel6Mm7_1_0);
    assert_eq!(dr.mm_status, MmStatus::Unrecognised);
    assert_eq!(dr.mm_status.class(), ReceiptClass::Negative);
    assert_eq!(dr.recipient, Address::Number("+15557654321".into()));
    assert_eq!(dr.sender, Address::Rfc2822("news@vasp.example.com".into()));
    let w = &dr.warnings;
    assert!(w.iter().any(
        |w| matches!(w, Warning::MixedReleases { header, .. } if header.ends_with("REL-5-MM7-1-0"))
    ));
    assert!(
        w.iter()
            .any(|w| matches!(w, Warning::BareAddress { element, .. } if element == "Recipient"))
    );
    assert!(w.iter().any(|w| matches!(w, Warning::OutsideEnumeration { element: "MMStatus", value, .. } if value == "Unrecognized")));
    assert!(w.iter().any(
        |w| matches!(w, Warning::VersionMismatch { mm7_version, .. } if mm7_version == "5.3.0")
    ));
    assert!(w.iter().any(
        |w| matches!(w, Warning::UnexpectedElement { element, .. } if element == "UACapabilities")
    ));
    assert_eq!(w.len(), 5, "{w:?}");
    // Every warning renders to a sentence.
    assert!(w.iter().all(|w| !w.to_string().is_empty()));
}

#[test]
fn submit_rsp_with_prefixed_body_decodes() {
    let Mm7Message::SubmitRsp(rsp) = decode(None, &sample("submit_rsp.xml")).unwrap() else {
        panic!("not a SubmitRsp");
    };
    assert_eq!(rsp.transaction_id.as_deref(), Some("sub-0001"));
    assert_eq!(rsp.release, Release::Rel5Mm7_1_2);
    assert_eq!(rsp.status.code, StatusCode::Success);
    assert_eq!(rsp.status.text.as_deref(), Some("Success"));
    assert_eq!(rsp.message_id.as_deref(), Some("041502073667"));
    assert!(rsp.warnings.is_empty(), "{:?}", rsp.warnings);
}

#[test]
fn multipart_submit_req_exposes_nested_decoded_parts() {
    let ct = sample_ct("submit_req.content-type");
    let Mm7Message::SubmitReq(req) = decode(Some(&ct), &sample("submit_req.mime")).unwrap() else {
        panic!("not a SubmitReq");
    };
    assert!(req.warnings.is_empty(), "{:?}", req.warnings);
    assert_eq!(
        req.sender_identification.vasp_id.as_deref(),
        Some("vasp-4711")
    );
    assert_eq!(
        req.sender_identification.sender_address,
        Some(Address::ShortCode("12345".into()))
    );
    assert_eq!(
        req.recipients.to,
        vec![
            Address::Number("+15551234567".into()),
            Address::Rfc2822("bob@example.org".into())
        ]
    );
    assert_eq!(
        req.recipients.bcc,
        vec![Address::Number("+15550000001".into())]
    );
    assert_eq!(req.subject.as_deref(), Some("Morning news & weather"));
    assert_eq!(req.message_class, Some(MessageClass::Informational));
    assert_eq!(req.priority, Some(Priority::Normal));
    assert_eq!(req.charged_party, Some(ChargedParty::Sender));
    assert_eq!(req.delivery_report, Some(true));
    assert_eq!(req.read_reply, Some(false));
    assert_eq!(req.expiry_date.as_deref(), Some("P2D"));
    let content = req.content.as_ref().unwrap();
    assert_eq!(content.href, "cid:content");
    assert_eq!(content.allow_adaptations, Some(true));

    assert_eq!(req.parts.len(), 1);
    let mixed = &req.parts[0];
    assert_eq!(mixed.content_id.as_deref(), Some("content"));
    assert!(mixed.is_multipart());
    assert_eq!(mixed.parts.len(), 2);
    let text = &mixed.parts[0];
    assert_eq!(text.content_location.as_deref(), Some("news.txt"));
    assert_eq!(text.body, "Sunny, 21°C = warm.".as_bytes());
    let gif = &mixed.parts[1];
    assert_eq!(gif.content_id.as_deref(), Some("img1"));
    assert_eq!(gif.body.len(), 43);
    assert!(gif.body.starts_with(b"GIF89a"));
}

#[test]
fn unclosed_multipart_and_corrupt_base64_are_warnings() {
    let ct = sample_ct("deliver_req_unclosed.content-type");
    let Mm7Message::DeliverReq(req) =
        decode(Some(&ct), &sample("deliver_req_unclosed.mime")).unwrap()
    else {
        panic!("not a DeliverReq");
    };
    assert_eq!(req.sender, Address::Number("+15551234567".into()));
    assert_eq!(req.release, Release::Rel5Mm7_1_3);
    assert_eq!(req.parts.len(), 1);
    // Kept exactly as received, including the line break before the (missing) delimiter.
    assert_eq!(req.parts[0].body, b"/9j/4AAQ!!not*base64\r\n".to_vec());
    assert!(
        req.warnings
            .iter()
            .any(|w| matches!(w, Warning::UnclosedMimePart { boundary } if boundary == "b1"))
    );
    assert!(
        req.warnings
            .iter()
            .any(|w| matches!(w, Warning::UndecodableContent { part, .. } if part == "pic"))
    );
    assert_eq!(req.warnings.len(), 2, "{:?}", req.warnings);
}

#[test]
fn rs_error_rsp_inside_a_fault_decodes_as_the_message() {
    let Mm7Message::RsErrorRsp(e) = decode(None, &sample("rs_error_rsp.xml")).unwrap() else {
        panic!("not an RSErrorRsp");
    };
    assert_eq!(e.status.code, StatusCode::ValidationError);
    assert_eq!(e.status.details.as_deref(), Some("Recipients missing"));
    assert_eq!(e.mms_relay_server_id.as_deref(), Some("mmsc.example.net"));
}

#[test]
fn vendor_fault_is_an_error_carrying_what_it_said() {
    let err = decode(None, &sample("vendor_fault.xml")).unwrap_err();
    let Mm7Error::Fault(f) = &err else {
        panic!("not a Fault: {err}");
    };
    assert_eq!(f.code, "soap:Server.Throttled");
    assert_eq!(f.string, "Too many requests from VASP 4711");
    assert_eq!(f.actor.as_deref(), Some("http://mmsc.example.net/mm7"));
    assert_eq!(f.detail.as_deref(), Some("rate limit 10/s exceeded"));
    assert!(err.to_string().contains("Too many requests"));
}

const NS6: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4";

fn drr(prefix_open: &str, prefix_close: &str, env_attrs: &str) -> String {
    format!(
        r#"<{prefix_open}Envelope {env_attrs}><{prefix_open}Header><TransactionID xmlns="{NS6}">t</TransactionID></{prefix_close}Header><{prefix_open}Body><DeliveryReportRsp xmlns="{NS6}"><MM7Version>6.8.0</MM7Version><Status><StatusCode>1000</StatusCode></Status></DeliveryReportRsp></{prefix_close}Body></{prefix_close}Envelope>"#
    )
}

#[test]
fn envelope_prefix_does_not_matter() {
    let soap = "http://schemas.xmlsoap.org/soap/envelope/";
    for (open, attrs) in [
        ("env:", format!(r#"xmlns:env="{soap}""#)),
        ("soap:", format!(r#"xmlns:soap="{soap}""#)),
        ("SOAP-ENV:", format!(r#"xmlns:SOAP-ENV="{soap}""#)),
        ("", format!(r#"xmlns="{soap}""#)),
    ] {
        let xml = drr(open, open, &attrs);
        let msg = decode(None, xml.as_bytes()).unwrap_or_else(|e| panic!("{open}: {e}"));
        assert_eq!(msg.kind(), "DeliveryReportRsp");
        assert_eq!(msg.transaction_id(), Some("t"));
        assert!(msg.warnings().is_empty(), "{open}: {:?}", msg.warnings());
    }
}

#[test]
fn missing_transaction_id_and_unknown_release_are_warnings() {
    let xml = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><CancelRsp xmlns="urn:vendor:mm7"><MM7Version>6.8.0</MM7Version><Status><StatusCode>2010</StatusCode></Status></CancelRsp></e:Body></e:Envelope>"#;
    let msg = decode(None, xml.as_bytes()).unwrap();
    assert_eq!(msg.transaction_id(), None);
    assert_eq!(msg.release(), &Release::Other("urn:vendor:mm7".into()));
    let w = msg.warnings();
    assert!(w.contains(&Warning::MissingTransactionId));
    assert!(w.contains(&Warning::UnknownRelease {
        namespace: "urn:vendor:mm7".into()
    }));
    assert!(w.contains(&Warning::UnknownStatusCode { code: 2010 }));
    assert_eq!(msg.status().unwrap().code, StatusCode::Other(2010));
}

#[test]
fn every_release_decodes() {
    for release in Release::known() {
        let ns = release.namespace();
        let xml = format!(
            r#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header><TransactionID xmlns="{ns}">x</TransactionID></env:Header><env:Body><ReadReplyRsp xmlns="{ns}"><MM7Version>{}</MM7Version><Status><StatusCode>1000</StatusCode></Status></ReadReplyRsp></env:Body></env:Envelope>"#,
            release.default_mm7_version()
        );
        let msg = decode(None, xml.as_bytes()).unwrap();
        assert_eq!(msg.release(), &release);
        assert!(msg.warnings().is_empty(), "{release}: {:?}", msg.warnings());
    }
}

#[test]
fn classification_of_each_mm_status() {
    let cases = [
        ("Expired", ReceiptClass::Negative),
        ("Rejected", ReceiptClass::Negative),
        ("Unrecognised", ReceiptClass::Negative),
        ("Unrecognized", ReceiptClass::Negative),
        ("DeliveryConditionNotMet", ReceiptClass::Negative),
        ("Retrieved", ReceiptClass::Positive),
        ("Forwarded", ReceiptClass::Intermediate),
        ("Deferred", ReceiptClass::Intermediate),
        ("Indeterminate", ReceiptClass::Intermediate),
        ("Lost", ReceiptClass::Intermediate),
    ];
    let base = String::from_utf8(sample("delivery_report_req.xml")).unwrap();
    for (status, class) in cases {
        let xml = base.replace(
            "<MMStatus>Expired</MMStatus>",
            &format!("<MMStatus>{status}</MMStatus>"),
        );
        let Mm7Message::DeliveryReportReq(dr) = decode(None, xml.as_bytes()).unwrap() else {
            panic!("not a DeliveryReportReq");
        };
        assert_eq!(dr.mm_status.class(), class, "{status}");
        let standard = ["Unrecognized", "Lost"].iter().all(|s| *s != status);
        assert_eq!(
            dr.warnings.is_empty(),
            standard,
            "{status}: {:?}",
            dr.warnings
        );
    }
}
