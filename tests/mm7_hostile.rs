//! Hostile and broken input: every case gives a descriptive error (or a warning), never a
//! panic, never unbounded work.
#![cfg(feature = "mm7")]

use proptest::prelude::*;
use redeliver::mm7::*;

const NS: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4";

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/examples/data/mm7/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode(ct: Option<&str>, body: &[u8]) -> Result<Mm7Message, Mm7Error> {
    DefaultMm7Codec::default().decode(ct, body)
}

fn envelope(body: &str) -> String {
    format!(
        r#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header><TransactionID xmlns="{NS}">t</TransactionID></env:Header><env:Body>{body}</env:Body></env:Envelope>"#
    )
}

const DRR_FIELDS: &[(&str, &str)] = &[
    ("MM7Version", "<MM7Version>6.8.0</MM7Version>"),
    ("MessageID", "<MessageID>m1</MessageID>"),
    ("Recipient", "<Recipient><Number>1</Number></Recipient>"),
    ("Sender", "<Sender><Number>2</Number></Sender>"),
    ("Date", "<Date>2026-11-22T06:00:00Z</Date>"),
    ("MMStatus", "<MMStatus>Retrieved</MMStatus>"),
];

#[test]
fn each_missing_required_element_is_named() {
    for (skip, _) in DRR_FIELDS {
        let fields: String = DRR_FIELDS
            .iter()
            .filter(|(n, _)| n != skip)
            .map(|(_, x)| *x)
            .collect();
        let xml = envelope(&format!(
            r#"<DeliveryReportReq xmlns="{NS}">{fields}</DeliveryReportReq>"#
        ));
        let err = decode(None, xml.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            Mm7Error::MissingElement {
                message: "DeliveryReportReq",
                element: skip
            },
            "{skip}"
        );
        assert!(err.to_string().contains(skip), "{err}");
    }
}

#[test]
fn bad_values_are_descriptive_errors() {
    let status = |code: &str| {
        envelope(&format!(
            r#"<SubmitRsp xmlns="{NS}"><MM7Version>6.8.0</MM7Version><Status><StatusCode>{code}</StatusCode></Status></SubmitRsp>"#
        ))
    };
    for bad in ["OK", "", "-1", "70000", "1000.0"] {
        let err = decode(None, status(bad).as_bytes()).unwrap_err();
        assert!(
            matches!(
                &err,
                Mm7Error::InvalidValue {
                    message: "SubmitRsp",
                    element: "StatusCode",
                    ..
                }
            ),
            "{bad}: {err}"
        );
    }
    let missing = envelope(&format!(
        r#"<SubmitRsp xmlns="{NS}"><MM7Version>6.8.0</MM7Version><Status><StatusText>x</StatusText></Status></SubmitRsp>"#
    ));
    assert!(
        decode(None, missing.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("StatusCode")
    );

    let boolean = envelope(&format!(
        r#"<SubmitReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients/><DeliveryReport>yes</DeliveryReport></SubmitReq>"#
    ));
    let err = decode(None, boolean.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Mm7Error::InvalidValue {
                element: "DeliveryReport",
                ..
            }
        ),
        "{err}"
    );

    let empty_addr = envelope(&format!(
        r#"<DeliverReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version><Sender/></DeliverReq>"#
    ));
    let err = decode(None, empty_addr.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Mm7Error::InvalidValue {
                element: "Sender",
                ..
            }
        ),
        "{err}"
    );

    let no_href = envelope(&format!(
        r#"<SubmitReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients/><Content/></SubmitReq>"#
    ));
    let err = decode(None, no_href.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("href"), "{err}");
}

#[test]
fn envelope_shape_errors() {
    let cases: &[(&str, &str)] = &[
        ("<a/>", "not Envelope"),
        ("<Envelope><Header/></Envelope>", "no Body"),
        ("<Envelope><Body/></Envelope>", "Body is empty"),
        ("<Envelope><Body><Hello/></Body></Envelope>", "Hello"),
    ];
    for (xml, needle) in cases {
        let err = decode(None, xml.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(needle), "{xml}: {err}");
    }
}

#[test]
fn malformed_xml_is_an_error() {
    let good = String::from_utf8(sample("delivery_report_req.xml")).unwrap();
    let cases = [
        good.replace("</MessageID>", "</MessageId>"),
        good.replace("</env:Envelope>", ""),
        good.replace("<MMStatus>", "<MMStatus"),
        good.replace("Expired", "Exp&bogus;ired"),
        good.replace("Expired", "Exp&#0;ired"),
        format!("{good}<trailing/>"),
    ];
    for xml in &cases {
        let err = decode(None, xml.as_bytes()).unwrap_err();
        assert!(matches!(err, Mm7Error::Xml { .. }), "{err}");
    }
    let err = decode(None, b"<Envelope>\xff\xfe</Envelope>").unwrap_err();
    assert!(matches!(err, Mm7Error::NotUtf8(_)), "{err}");
}

#[test]
fn doctype_and_entities_are_refused() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Envelope><Body>&lol2;</Body></Envelope>"#;
    assert_eq!(
        decode(None, laughs.as_bytes()).unwrap_err(),
        Mm7Error::Doctype
    );
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><Envelope><Body>&x;</Body></Envelope>"#;
    assert_eq!(decode(None, xxe.as_bytes()).unwrap_err(), Mm7Error::Doctype);
}

#[test]
fn deep_nesting_and_large_bodies_are_bounded() {
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let err = decode(None, deep.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Mm7Error::LimitExceeded {
                what: "XML element nesting",
                ..
            }
        ),
        "{err}"
    );

    let small = DefaultMm7Codec::new(Limits {
        max_body_bytes: 100,
        ..Limits::default()
    });
    let err = small
        .decode(None, &sample("delivery_report_req.xml"))
        .unwrap_err();
    assert!(
        matches!(err, Mm7Error::BodyTooLarge { limit: 100, .. }),
        "{err}"
    );

    let wide = format!(
        "<Envelope><Body>{}</Body></Envelope>",
        "<x/>".repeat(20_000)
    );
    let err = decode(None, wide.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Mm7Error::LimitExceeded {
                what: "XML element count",
                ..
            }
        ),
        "{err}"
    );
}

fn soap_part() -> String {
    String::from_utf8(sample("submit_rsp.xml")).unwrap()
}

#[test]
fn multipart_errors_name_the_problem() {
    let body = format!(
        "--b\r\nContent-Type: text/xml\r\nContent-ID: <s>\r\n\r\n{}\r\n--b--\r\n",
        soap_part()
    );
    let cases: &[(&str, &str)] = &[
        ("multipart/related", "no boundary"),
        ("multipart/related; boundary=zz", "does not occur"),
        ("multipart/related; boundary=b; start=\"<nope>\"", "<nope>"),
        ("multipart/related; boundary=b\r\nX-Evil: 1", "line break"),
        ("multipart/alternative; boundary=b", "not multipart/related"),
    ];
    for (ct, needle) in cases {
        let err = decode(Some(ct), body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(needle), "{ct}: {err}");
    }
    // The right start works, and the SOAP part need not be first.
    let swapped = format!(
        "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/xml\r\nContent-ID: <s>\r\n\r\n{}\r\n--b--\r\n",
        soap_part()
    );
    let msg = decode(
        Some("multipart/related; boundary=b; start=\"<s>\""),
        swapped.as_bytes(),
    )
    .unwrap();
    assert_eq!(msg.kind(), "SubmitRsp");
    // A SubmitRsp has no content: the stray part is reported, not silently dropped.
    assert_eq!(msg.warnings(), &[Warning::IgnoredParts { count: 1 }]);
    // Without start, the first part is the SOAP part, which is not XML here.
    assert!(decode(Some("multipart/related; boundary=b"), swapped.as_bytes()).is_err());
}

/// Found by fuzzing (`mm7_decode`): a bare CR inside a part's Content-ID was kept by the
/// decoder, and the message then failed to encode. A line break in a part header, raw or
/// RFC 2047-encoded, is now a decode error naming the part and header.
#[test]
fn line_break_in_a_part_header_is_refused() {
    let cases: &[(&str, &str)] = &[
        ("Content-ID: <t>\r/Content-Location: n\r\n", "Content-ID"),
        (
            "Content-Location: =?utf-8?q?a=0D=0AX-Evil:_1?=\r\n",
            "Content-Location",
        ),
    ];
    for (header, name) in cases {
        let body = format!(
            "--b\r\nContent-Type: text/xml\r\n\r\n{}\r\n--b\r\nContent-Type: text/plain\r\n{header}\r\nhi\r\n--b--\r\n",
            soap_part()
        );
        let err = decode(Some("multipart/related; boundary=b"), body.as_bytes()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(name) && text.contains("line break") && text.contains("#1"),
            "{header:?}: {text}"
        );
    }
}

#[test]
fn mime_nesting_and_part_count_are_bounded() {
    let mut inner = "--l0\r\nContent-Type: text/plain\r\n\r\nx\r\n--l0--".to_string();
    for level in 1..12 {
        inner = format!(
            "--l{level}\r\nContent-Type: multipart/mixed; boundary=l{}\r\n\r\n{inner}\r\n--l{level}--",
            level - 1
        );
    }
    let body = format!(
        "--top\r\nContent-Type: text/xml\r\n\r\n{}\r\n--top\r\nContent-Type: multipart/mixed; boundary=l11\r\n\r\n{inner}\r\n--top--\r\n",
        soap_part()
    );
    let err = decode(Some("multipart/related; boundary=top"), body.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Mm7Error::LimitExceeded {
                what: "MIME multipart nesting",
                ..
            }
        ),
        "{err}"
    );

    let many: String = (0..300)
        .map(|_| "--top\r\nContent-Type: text/plain\r\n\r\nx\r\n")
        .collect();
    let body = format!(
        "--top\r\nContent-Type: text/xml\r\n\r\n{}\r\n{many}--top--\r\n",
        soap_part()
    );
    let err = decode(Some("multipart/related; boundary=top"), body.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            Mm7Error::LimitExceeded {
                what: "MIME part count",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn encoder_refuses_header_injection_and_missing_transaction_id() {
    let mut req = SubmitReq::new("t", Release::default(), Recipients::default());
    req.parts = vec![ContentPart::new("image/png\r\nX-Evil: 1", vec![1, 2, 3])];
    let err = DefaultMm7Codec::default()
        .encode(&Mm7Message::SubmitReq(req.clone()), &Release::default())
        .unwrap_err();
    assert!(err.to_string().contains("line break"), "{err}");
    req.transaction_id = None;
    req.parts.clear();
    let err = DefaultMm7Codec::default()
        .encode(&Mm7Message::SubmitReq(req), &Release::default())
        .unwrap_err();
    assert!(err.to_string().contains("transaction_id"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(None, &bytes);
        let _ = decode(Some("multipart/related; boundary=b"), &bytes);
    }

    #[test]
    fn mutated_samples_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (name, ct) = [
            ("delivery_report_req.xml", None),
            ("submit_rsp.xml", None),
            ("submit_req.mime", Some(r#"multipart/related; boundary="outer-7d"; type="text/xml"; start="<soap-start>""#)),
        ][which];
        let mut bytes = sample(name);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        if let Ok(m) = decode(ct, &bytes) {
            // Whatever decodes can be encoded again.
            let release = m.release().clone();
            if m.transaction_id().is_some() {
                prop_assert!(DefaultMm7Codec::default().encode(&m, &release).is_ok());
            }
        }
    }
}
