//! MM7 bodies as other relays and VASP toolkits send them, from the corpus in
//! `tests/data/mm7-vendors/`: non-UTF-8 SOAP, REL-5 and REL-6 address forms, nested content
//! and the ways a `Content href` points at it.
#![cfg(feature = "mm7")]

use redeliver::mm7::*;

fn corpus(name: &str) -> (Option<String>, Vec<u8>) {
    let dir = format!("{}/tests/data/mm7-vendors", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let ct = std::fs::read_to_string(format!("{dir}/{stem}.content-type"))
        .ok()
        .map(|c| c.trim().to_owned());
    (ct, body)
}

fn decode(name: &str) -> Mm7Message {
    let (ct, body) = corpus(name);
    DefaultMm7Codec::default()
        .decode(ct.as_deref(), &body)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn gb2312_deliver_req_from_a_chinese_relay() {
    let Mm7Message::DeliverReq(m) = decode("gb2312_deliver_req.mime") else {
        panic!("not a DeliverReq")
    };
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.subject.as_deref(), Some("彩信祝福"));
    assert_eq!(m.release, Release::Rel5Mm7_1_2);
    assert_eq!(m.transaction_id.as_deref(), Some("cn-0001"));
    assert_eq!(m.time_stamp.as_deref(), Some("2026-11-22T14:30:00+08:00"));
    assert_eq!(m.recipients.to, vec![Address::ShortCode("10658888".into())]);
    // The content part keeps its own bytes and charset; the SOAP part is not among the parts.
    assert_eq!(m.parts.len(), 1);
    assert_eq!(m.parts[0].content_type, "text/plain; charset=GB2312");
    assert_eq!(
        m.parts[0].body,
        [0xD0, 0xC2, 0xC4, 0xEA, 0xBF, 0xEC, 0xC0, 0xD6]
    );
    let msg = Mm7Message::DeliverReq(m);
    assert_eq!(
        msg.content_part().map(|p| p.content_id.as_deref()),
        Some(Some("body-1"))
    );
}

#[test]
fn iso_8859_1_declared_in_the_xml_declaration() {
    let Mm7Message::DeliveryReportReq(m) = decode("iso8859_1_delivery_report.xml") else {
        panic!("not a DeliveryReportReq")
    };
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(
        m.status_text.as_deref(),
        Some("Mensaje entregado al teléfono")
    );
    assert_eq!(m.mm_status, MmStatus::Retrieved);
}

#[test]
fn utf16_with_a_byte_order_mark() {
    let Mm7Message::DeliveryReportReq(m) = decode("utf16le_bom_delivery_report.xml") else {
        panic!("not a DeliveryReportReq")
    };
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.status_text.as_deref(), Some("期限切れ"));
    assert_eq!(m.date, "2026-11-22T06:00:00+09:00");
    // The same bytes declared as UTF-8 by the Content-Type: the byte order mark wins, and the
    // disagreement is reported.
    let (_, body) = corpus("utf16le_bom_delivery_report.xml");
    let m = DefaultMm7Codec::default()
        .decode(Some("text/xml; charset=utf-8"), &body)
        .unwrap();
    assert!(
        m.warnings().iter().any(
            |w| matches!(w, Warning::CharsetMismatch { found, .. } if found.contains("UTF-16LE"))
        ),
        "{:?}",
        m.warnings()
    );
}

#[test]
fn declared_utf8_but_latin1_bytes_follow_the_xml_declaration_with_a_warning() {
    let m = decode("charset_disagreement.xml");
    let Mm7Message::DeliveryReportReq(r) = &m else {
        panic!("not a DeliveryReportReq")
    };
    assert_eq!(r.status_text.as_deref(), Some("Refusé"));
    let mismatches: Vec<_> = m
        .warnings()
        .iter()
        .filter(|w| matches!(w, Warning::CharsetMismatch { .. }))
        .collect();
    assert_eq!(mismatches.len(), 2, "{mismatches:?}");
    assert!(
        mismatches[1].to_string().contains("not UTF-8"),
        "{}",
        mismatches[1]
    );
}

#[test]
fn gbk_declared_by_the_content_type_only() {
    let xml = format!(
        r#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body><SubmitRsp xmlns="{}REL-6-MM7-1-4"><MM7Version>6.8.0</MM7Version><Status><StatusCode>1000</StatusCode><StatusText>发送成功</StatusText></Status><MessageID>x</MessageID></SubmitRsp></env:Body></env:Envelope>"#,
        NAMESPACE_PREFIX
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&xml);
    let m = DefaultMm7Codec::default()
        .decode(Some("text/xml; charset=\"gbk\""), &gbk)
        .unwrap();
    assert_eq!(m.status().and_then(|s| s.text.as_deref()), Some("发送成功"));
    // Without the declaration the bytes are not UTF-8: refused, never guessed.
    assert!(matches!(
        DefaultMm7Codec::default().decode(None, &gbk),
        Err(Mm7Error::NotUtf8(_))
    ));
    // Bytes the declared encoding does not have are replaced, and reported.
    let mut broken = gbk.into_owned();
    let at = broken.len() - 40;
    broken.insert(at, 0x81);
    broken.insert(at + 1, 0x20);
    let m = DefaultMm7Codec::default().decode(Some("text/xml; charset=gbk"), &broken);
    if let Ok(m) = m {
        assert!(
            m.warnings()
                .iter()
                .any(|w| matches!(w, Warning::CharsetMismatch { .. })),
            "{:?}",
            m.warnings()
        );
    }
    // An encoding nobody knows is refused by name.
    let err = DefaultMm7Codec::default()
        .decode(Some("text/xml; charset=x-klingon"), xml.as_bytes())
        .unwrap_err();
    assert_eq!(
        err,
        Mm7Error::Charset {
            label: "x-klingon".into()
        }
    );
}

#[test]
fn rel5_addresses_inside_a_wrapper() {
    let Mm7Message::DeliveryReportReq(m) = decode("rel5_wrapped_addresses.xml") else {
        panic!("not a DeliveryReportReq")
    };
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.release, Release::Rel5Mm7_1_0);
    assert_eq!(m.recipient, Address::Number("+4479000001".into()));
    assert_eq!(m.sender, Address::ShortCode("80000".into()));
}

#[test]
fn unknown_wrappers_are_read_with_a_warning() {
    let (_, body) = corpus("rel5_wrapped_addresses.xml");
    let text = String::from_utf8(body)
        .unwrap()
        .replacen("SenderAddress>", "UserAddress>", 2);
    let m = DefaultMm7Codec::default()
        .decode(None, text.as_bytes())
        .unwrap();
    let Mm7Message::DeliveryReportReq(r) = &m else {
        panic!("not a DeliveryReportReq")
    };
    assert_eq!(r.recipient, Address::Number("+4479000001".into()));
    assert_eq!(
        m.warnings(),
        &[Warning::WrappedAddress {
            element: "Recipient".into(),
            wrapper: "UserAddress".into()
        }]
    );
}

#[test]
fn rel6_address_attributes() {
    let Mm7Message::DeliverReq(m) = decode("rel6_address_attributes.xml") else {
        panic!("not a DeliverReq")
    };
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.sender, Address::Number("a1b2c3d4".into()));
    assert_eq!(
        m.recipients.to,
        vec![
            Address::ShortCode("12345".into()),
            Address::Rfc2822("svc@example.com".into())
        ]
    );
}

#[test]
fn content_href_resolves_into_a_nested_multipart() {
    let m = decode("nested_smil_submit_req.mime");
    let Mm7Message::SubmitReq(req) = &m else {
        panic!("not a SubmitReq")
    };
    assert!(req.warnings.is_empty(), "{:?}", req.warnings);
    assert_eq!(req.expiry_date.as_deref(), Some("P2D"));
    assert_eq!(
        req.earliest_delivery_time.as_deref(),
        Some("2026-11-23T09:00:00Z")
    );
    // The tree of parts is kept: one multipart/related part holding the SMIL and the image.
    assert_eq!(req.parts.len(), 1);
    let container = &req.parts[0];
    assert!(container.is_multipart());
    assert_eq!(container.parts.len(), 2);
    assert_eq!(
        container.parts[1].body,
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00,"
    );
    // The href is cid:pres%40vasp: the escape is undone and the part found one level down.
    let smil = m.content_part().expect("the href resolves");
    assert_eq!(smil.content_type, "application/smil");
    assert!(smil.body.starts_with(b"<smil>"));
    // Pointing at the container itself works too.
    let to_container = ContentRef {
        href: "cid:mm@vasp".into(),
        allow_adaptations: None,
    };
    assert_eq!(to_container.resolve(&req.parts), Some(container));
}

#[test]
fn content_href_by_content_location() {
    let m = decode("content_location_submit_req.mime");
    let part = m.content_part().expect("the href resolves");
    assert_eq!(part.content_location.as_deref(), Some("hello.txt"));
    assert_eq!(part.body, b"hello = world!");
}

#[test]
fn every_corpus_body_decodes_and_encodes_again() {
    let dir = format!("{}/tests/data/mm7-vendors", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| !n.ends_with(".content-type"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
    let codec = DefaultMm7Codec::default();
    for name in names {
        let m = decode(&name);
        let encoded = codec
            .encode(&m, m.release())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = codec
            .decode(Some(&encoded.content_type), &encoded.body)
            .unwrap_or_else(|e| panic!("{name} again: {e}"));
        assert_eq!(back.kind(), m.kind(), "{name}");
        assert_eq!(back.content(), m.content(), "{name}");
        assert_eq!(back.parts().len(), m.parts().len(), "{name}");
        for (b, o) in back.parts().iter().zip(m.parts()) {
            // A nested multipart gets the encoder's boundary, and keeps its other parameters.
            if o.is_multipart() {
                assert!(
                    b.content_type.contains("type=\"application/smil\""),
                    "{}",
                    b.content_type
                );
                assert!(
                    b.content_type.contains("start=\"<pres@vasp>\""),
                    "{}",
                    b.content_type
                );
                assert_eq!(b.parts, o.parts, "{name}");
            } else {
                assert_eq!(b, o, "{name}");
            }
        }
        assert_eq!(
            back.content_part().is_some(),
            m.content().is_some(),
            "{name}"
        );
    }
}

#[test]
fn content_ids_written_with_extra_angle_brackets_still_resolve() {
    // A host that puts the brackets into the Content-ID gets `<<id>>` on the wire.
    let part = ContentPart::new("text/plain", b"hi".to_vec()).with_content_id("<text@gw>");
    let href = |h: &str| ContentRef {
        href: h.into(),
        allow_adaptations: None,
    };
    assert!(
        href("cid:text@gw")
            .resolve(std::slice::from_ref(&part))
            .is_some()
    );
    assert!(
        href("cid:%3Ctext@gw%3E")
            .resolve(std::slice::from_ref(&part))
            .is_some()
    );
    assert!(
        href("cid:other@gw")
            .resolve(std::slice::from_ref(&part))
            .is_none()
    );
}
