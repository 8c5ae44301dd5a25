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

    /// Markup pieces in any order, inside a valid report: the XML scanner never panics,
    /// and whatever decodes keeps no CR in its text.
    #[test]
    fn shuffled_markup_never_panics(
        pieces in proptest::collection::vec(0usize..24, 0..40),
        inside in 0usize..2,
    ) {
        const TOKENS: [&str; 24] = [
            "<a>", "</a>", "<b x='>' y=\"/\">", "</b>", "<c/>", "<!--", "-->", "<![CDATA[",
            "]]>", "&amp;", "&#", "x41", ";", "<?", "?>", "/>", "\r\n", "\r", "text", "'",
            "\"", "<", ">", "&",
        ];
        let junk: String = pieces.iter().map(|&i| TOKENS[i]).collect();
        let xml = if inside == 0 {
            drr_with(&format!("<StatusText>{junk}</StatusText>"))
        } else {
            drr_with(&junk)
        };
        if let Ok(Mm7Message::DeliveryReportReq(m)) = decode(None, xml.as_bytes()) {
            prop_assert!(!m.status_text.unwrap_or_default().contains('\r'));
        }
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

fn drr_with(extra: &str) -> String {
    let fields: String = DRR_FIELDS.iter().map(|(_, x)| *x).collect();
    envelope(&format!(
        r#"<DeliveryReportReq xmlns="{NS}">{fields}{extra}</DeliveryReportReq>"#
    ))
}

#[test]
fn soap_1_2_and_foreign_envelopes_are_a_version_mismatch() {
    let good = drr_with("");
    for ns in [SOAP12_ENV_NS, "urn:not-soap"] {
        let xml = good.replace(SOAP_ENV_NS, ns);
        let err = decode(None, xml.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            Mm7Error::SoapVersionMismatch {
                namespace: ns.into()
            }
        );
        assert_eq!(err.soap_fault_code(), "VersionMismatch");
        assert_eq!(err.status_code(), None);
    }
    // An envelope in no namespace at all is read, with a warning.
    let bare = good
        .replace(
            r#" xmlns:env="http://schemas.xmlsoap.org/soap/envelope/""#,
            "",
        )
        .replace("env:", "");
    let m = decode(None, bare.as_bytes()).unwrap();
    assert!(m.warnings().contains(&Warning::EnvelopeNamespace {
        namespace: String::new()
    }));
}

#[test]
fn characters_outside_xml_1_0_are_refused() {
    for bad in [
        "\0", "\u{1}", "\u{1b}", "\u{7}", "\u{FFFE}", "\u{FFFF}", "&#1;", "&#x1F;", "&#xFFFE;",
    ] {
        let xml = drr_with(&format!("<StatusText>a{bad}b</StatusText>"));
        let err = decode(None, xml.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, Mm7Error::Xml { reason, .. } if reason.contains("not an XML 1.0 Char")),
            "{bad:?}: {err}"
        );
        assert_eq!(err.status_code(), Some(StatusCode::MessageFormatCorrupt));
    }
    // Tab, CR, LF and everything from U+0020 are Chars.
    let xml = drr_with("<StatusText>a\tb\r\nc \u{D7FF}\u{E000}\u{10FFFF}&#9;&#x20;</StatusText>");
    assert!(decode(None, xml.as_bytes()).is_ok());
}

#[test]
fn a_body_with_two_messages_is_refused() {
    let one: String = DRR_FIELDS.iter().map(|(_, x)| *x).collect();
    let two = envelope(&format!(
        r#"<DeliveryReportReq xmlns="{NS}">{one}</DeliveryReportReq><DeliveryReportReq xmlns="{NS}">{one}</DeliveryReportReq>"#
    ));
    let err = decode(None, two.as_bytes()).unwrap_err();
    assert_eq!(err, Mm7Error::MultipleMessages { count: 2 });
    assert_eq!(err.status_code(), Some(StatusCode::MessageFormatCorrupt));
    let trailing = envelope(&format!(
        r#"<DeliveryReportReq xmlns="{NS}">{one}</DeliveryReportReq><Extra/>"#
    ));
    assert_eq!(
        decode(None, trailing.as_bytes()).unwrap_err(),
        Mm7Error::MultipleMessages { count: 2 }
    );
}

#[test]
fn conflicting_transaction_ids_are_refused_and_duplicates_reported() {
    let good = drr_with("");
    let header = format!(r#"<TransactionID xmlns="{NS}">t</TransactionID>"#);
    let conflicting = good.replace(
        &header,
        &format!(r#"{header}<TransactionID xmlns="{NS}">u</TransactionID>"#),
    );
    assert_eq!(
        decode(None, conflicting.as_bytes()).unwrap_err(),
        Mm7Error::ConflictingTransactionIds {
            first: "t".into(),
            second: "u".into()
        }
    );
    let duplicate = good.replace(&header, &format!("{header}{header}"));
    let m = decode(None, duplicate.as_bytes()).unwrap();
    assert_eq!(m.transaction_id(), Some("t"));
    assert_eq!(m.warnings(), &[Warning::DuplicateTransactionId]);
}

fn submit_with(content: &str) -> String {
    envelope(&format!(
        r#"<SubmitReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version><SenderIdentification><VASPID>v</VASPID></SenderIdentification><Recipients><To><Number>1</Number></To></Recipients>{content}</SubmitReq>"#
    ))
}

#[test]
fn a_content_href_to_no_part_is_message_format_corrupt() {
    // A bare envelope has no parts for the href to name.
    let bare = submit_with(r#"<Content href="cid:img"/>"#);
    let err = decode(None, bare.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        Mm7Error::DanglingContent {
            message: "SubmitReq",
            href: "cid:img".into()
        }
    );
    assert_eq!(err.status_code(), Some(StatusCode::MessageFormatCorrupt));
    // A multipart body whose parts have other ids.
    let body = format!(
        "--b\r\nContent-Type: text/xml\r\n\r\n{}\r\n--b\r\nContent-Type: image/gif\r\nContent-ID: <other>\r\n\r\nGIF\r\n--b--\r\n",
        submit_with(r#"<Content href="cid:img"/>"#)
    );
    let err = decode(Some("multipart/related; boundary=b"), body.as_bytes()).unwrap_err();
    assert!(matches!(err, Mm7Error::DanglingContent { .. }), "{err}");
    // The same body with the right id decodes.
    let body = body.replace("<other>", "<img>");
    let m = decode(Some("multipart/related; boundary=b"), body.as_bytes()).unwrap();
    assert_eq!(
        m.content_part().map(|p| p.body.as_slice()),
        Some(&b"GIF"[..])
    );
}

#[test]
fn dates_are_never_replaced_silently() {
    // Mandatory: an error naming the element.
    let xml = drr_with("").replace("2026-11-22T06:00:00Z", "22/11/2026 06:00");
    let err = decode(None, xml.as_bytes()).unwrap_err();
    assert!(
        matches!(
            &err,
            Mm7Error::InvalidValue {
                element: "Date",
                reason: "not an xs:dateTime",
                ..
            }
        ),
        "{err}"
    );
    let read_reply = envelope(&format!(
        r#"<ReadReplyReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version><MessageID>m</MessageID><Recipient><Number>1</Number></Recipient><Sender><Number>2</Number></Sender><TimeStamp>2026-02-30T00:00:00Z</TimeStamp><MMStatus>Read</MMStatus></ReadReplyReq>"#
    ));
    let err = decode(None, read_reply.as_bytes()).unwrap_err();
    assert!(
        matches!(
            &err,
            Mm7Error::InvalidValue {
                element: "TimeStamp",
                ..
            }
        ),
        "{err}"
    );
    // Optional: None and a warning.
    let xml = submit_with(
        "<TimeStamp>now</TimeStamp><EarliestDeliveryTime>P1D</EarliestDeliveryTime><ExpiryDate>2 days</ExpiryDate>",
    );
    let Mm7Message::SubmitReq(m) = decode(None, xml.as_bytes()).unwrap() else {
        panic!("not a SubmitReq")
    };
    assert_eq!(m.time_stamp, None);
    assert_eq!(m.earliest_delivery_time.as_deref(), Some("P1D"));
    assert_eq!(m.expiry_date, None);
    assert_eq!(
        m.warnings,
        vec![
            Warning::InvalidDate {
                element: "TimeStamp",
                value: "now".into()
            },
            Warning::InvalidDate {
                element: "ExpiryDate",
                value: "2 days".into()
            },
        ]
    );
    // A duration is not a TimeStamp.
    let xml = submit_with("<TimeStamp>P1D</TimeStamp>");
    let Mm7Message::SubmitReq(m) = decode(None, xml.as_bytes()).unwrap() else {
        panic!("not a SubmitReq")
    };
    assert_eq!(m.time_stamp, None);
}

#[test]
fn only_real_xmlns_attributes_decide_the_release() {
    let rel5 = format!("{NAMESPACE_PREFIX}REL-5-MM7-1-0");
    let fields: String = DRR_FIELDS.iter().map(|(_, x)| *x).collect();
    let spoof = envelope(&format!(
        r#"<DeliveryReportReq note=' xmlns="{rel5}"' xmlns="{NS}">{fields}</DeliveryReportReq>"#
    ));
    let m = decode(None, spoof.as_bytes()).unwrap();
    assert_eq!(m.release(), &Release::Rel6Mm7_1_4);
    assert!(m.warnings().is_empty(), "{:?}", m.warnings());
    // With no real declaration, the spelled one does not count either.
    let none = envelope(&format!(
        r#"<DeliveryReportReq note='xmlns="{rel5}"'>{fields}</DeliveryReportReq>"#
    ));
    let m = decode(None, none.as_bytes()).unwrap();
    assert!(!m.release().is_known());
    assert!(m.warnings().contains(&Warning::UnknownRelease {
        namespace: String::new()
    }));
}

#[test]
fn header_lines_attributes_and_text_are_bounded_as_configured() {
    let codec = DefaultMm7Codec::new(Limits {
        max_header_line: 100,
        max_header_lines: 4,
        ..Limits::default()
    });
    let part = |headers: &str| {
        format!(
            "--b\r\nContent-Type: text/xml\r\n\r\n{}\r\n--b\r\n{headers}\r\n\r\nx\r\n--b--\r\n",
            soap_part()
        )
    };
    let ct = Some("multipart/related; boundary=b");
    let line = |n: usize| format!("X-Pad: {}", "a".repeat(n - 7));
    assert!(codec.decode(ct, part(&line(100)).as_bytes()).is_ok());
    let err = codec.decode(ct, part(&line(101)).as_bytes()).unwrap_err();
    assert_eq!(
        err,
        Mm7Error::LimitExceeded {
            what: "MIME header line length",
            limit: 100
        }
    );
    let four = "A: 1\r\nB: 2\r\nC: 3\r\nD: 4";
    assert!(codec.decode(ct, part(four).as_bytes()).is_ok());
    let err = codec
        .decode(ct, part(&format!("{four}\r\nE: 5")).as_bytes())
        .unwrap_err();
    assert_eq!(
        err,
        Mm7Error::LimitExceeded {
            what: "MIME header lines in one part",
            limit: 4
        }
    );
    // Continuation lines count as lines.
    let err = codec
        .decode(ct, part("A: 1\r\n 2\r\n 3\r\n 4\r\n 5").as_bytes())
        .unwrap_err();
    assert!(matches!(err, Mm7Error::LimitExceeded { .. }), "{err}");
    // An HTTP Content-Type longer than a header line.
    let long = format!("multipart/related; boundary=b; x={}", "a".repeat(100));
    assert!(matches!(
        codec.decode(Some(&long), part("A: 1").as_bytes()),
        Err(Mm7Error::LimitExceeded {
            what: "MIME header line length",
            ..
        })
    ));

    // The namespace URIs are 82 bytes, so attribute values up to 128 bytes are allowed here.
    let codec = DefaultMm7Codec::new(Limits {
        max_attribute_bytes: 128,
        max_text_bytes: 64,
        ..Limits::default()
    });
    let attr = |n: usize| {
        drr_with(&format!(
            r#"<StatusText x="{}">t</StatusText>"#,
            "v".repeat(n)
        ))
    };
    assert!(codec.decode(None, attr(128).as_bytes()).is_ok());
    assert_eq!(
        codec.decode(None, attr(129).as_bytes()).unwrap_err(),
        Mm7Error::LimitExceeded {
            what: "XML attribute value size",
            limit: 128
        }
    );
    let text = |n: usize| drr_with(&format!("<StatusText>{}</StatusText>", "t".repeat(n)));
    assert!(codec.decode(None, text(64).as_bytes()).is_ok());
    assert_eq!(
        codec.decode(None, text(65).as_bytes()).unwrap_err(),
        Mm7Error::LimitExceeded {
            what: "XML text size of one element",
            limit: 64
        }
    );
}

#[test]
fn a_body_of_empty_parts_is_refused_at_the_first_part_over_the_limit() {
    let mut body = format!("--b\r\nContent-Type: text/xml\r\n\r\n{}\r\n", soap_part());
    body.push_str(&"--b\r\n".repeat(3_000_000));
    let started = std::time::Instant::now();
    let err = decode(Some("multipart/related; boundary=b"), body.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        Mm7Error::LimitExceeded {
            what: "MIME part count",
            limit: 256
        }
    );
    // Refused at part 257, not after reading 3 million of them.
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn mime_edge_cases_never_panic_and_say_what_is_wrong() {
    let ct = Some("multipart/related; boundary=b");
    let soap = soap_part();
    let cases: Vec<(String, &str)> = vec![
        // No blank line after a part's headers: the part is all header.
        (
            format!(
                "--b\r\nContent-Type: text/xml\r\n\r\n{soap}\r\n--b\r\nContent-Type: text/plain\r\n--b--"
            ),
            "ok",
        ),
        // A header line without a colon.
        (
            format!(
                "--b\r\nContent-Type: text/xml\r\n\r\n{soap}\r\n--b\r\nnot a header\r\n\r\nx\r\n--b--"
            ),
            "no colon",
        ),
        // LF-only line ends throughout.
        (
            format!("--b\nContent-Type: text/xml\n\n{soap}\n--b--\n"),
            "ok",
        ),
        // A nested multipart whose boundary never occurs.
        (
            format!(
                "--b\r\nContent-Type: text/xml\r\n\r\n{soap}\r\n--b\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\nx\r\n--b--"
            ),
            "does not occur",
        ),
        // Only a close delimiter.
        ("--b--\r\n".to_string(), "no parts"),
        // Preamble and epilogue are ignored.
        (
            format!(
                "preamble\r\n--b\r\nContent-Type: text/xml\r\n\r\n{soap}\r\n--b--\r\nepilogue --b\r\n"
            ),
            "ok",
        ),
    ];
    for (body, expect) in cases {
        match decode(ct, body.as_bytes()) {
            Ok(_) => assert_eq!(expect, "ok", "{body:?}"),
            Err(e) => assert!(e.to_string().contains(expect), "{body:?}: {e}"),
        }
    }
}

#[test]
fn warnings_are_capped_with_one_final_count() {
    // Ten thousand unexpected elements would each be a warning: only the limit is kept, and
    // one last entry counts the rest.
    let junk: String = (0..9_000).map(|i| format!("<X{i}/>")).collect();
    let message = decode(None, drr_with(&junk).as_bytes()).unwrap();
    let warnings = message.warnings();
    let limit = Limits::default().max_warnings;
    assert_eq!(warnings.len(), limit + 1);
    assert!(
        matches!(warnings[..limit], [Warning::UnexpectedElement { .. }, ..]),
        "{warnings:?}"
    );
    assert_eq!(
        warnings[limit],
        Warning::Suppressed {
            count: 9_000 - limit
        }
    );

    // A configured limit, and none at all.
    for max_warnings in [0, 5] {
        let codec = DefaultMm7Codec::new(Limits {
            max_warnings,
            ..Limits::default()
        });
        let message = codec.decode(None, drr_with(&junk).as_bytes()).unwrap();
        let warnings = message.warnings();
        assert_eq!(warnings.len(), max_warnings + 1);
        assert_eq!(
            warnings.last(),
            Some(&Warning::Suppressed {
                count: 9_000 - max_warnings
            })
        );
    }

    // Under the limit nothing changes.
    let message = decode(None, drr_with("<X/><Y/>").as_bytes()).unwrap();
    assert_eq!(message.warnings().len(), 2);
    assert!(
        !message
            .warnings()
            .iter()
            .any(|w| matches!(w, Warning::Suppressed { .. }))
    );
}
