//! Property tests: every MM7 message type survives encode → decode unchanged, in every known
//! release, with and without content parts.
#![cfg(feature = "mm7")]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use redeliver::mm7::*;

/// Text as it appears in element content: no leading or trailing whitespace (the decoder
/// trims), but markup characters that must be escaped.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9&<>'\"+@._:é-]([A-Za-z0-9 &<>'\"+@._:é-]{0,16}[A-Za-z0-9&<>'\"+@._:-])?"
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        text().prop_map(Address::Number),
        text().prop_map(Address::ShortCode),
        text().prop_map(Address::Rfc2822),
    ]
}

fn addresses() -> impl Strategy<Value = Vec<Address>> {
    vec(address(), 0..3)
}

fn recipients() -> impl Strategy<Value = Recipients> {
    (addresses(), addresses(), addresses()).prop_map(|(to, cc, bcc)| Recipients { to, cc, bcc })
}

fn release() -> impl Strategy<Value = Release> {
    proptest::sample::select(Release::known().collect::<Vec<_>>())
}

fn status() -> impl Strategy<Value = Status> {
    let codes = [
        1000u16, 1100, 2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 3000, 3001,
        3002, 3003, 3004, 4000, 4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008,
    ];
    (
        proptest::sample::select(codes.to_vec()),
        option::of(text()),
        option::of(text()),
    )
        .prop_map(|(code, text, details)| Status {
            code: StatusCode::from_u16(code),
            text,
            details,
        })
}

fn mm_status() -> impl Strategy<Value = MmStatus> {
    proptest::sample::select(vec![
        MmStatus::Expired,
        MmStatus::Retrieved,
        MmStatus::Rejected,
        MmStatus::Indeterminate,
        MmStatus::Forwarded,
        MmStatus::Unrecognised,
        MmStatus::Deferred,
        MmStatus::DeliveryConditionNotMet,
    ])
}

fn sender_identification() -> impl Strategy<Value = SenderIdentification> {
    (
        option::of(text()),
        option::of(text()),
        option::of(address()),
    )
        .prop_map(|(vasp_id, vas_id, sender_address)| SenderIdentification {
            vasp_id,
            vas_id,
            sender_address,
        })
}

/// An `xs:dateTime`, with and without fraction and zone.
fn date_time() -> impl Strategy<Value = String> {
    (
        1970u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        option::of(1u32..1000),
        proptest::sample::select(vec!["", "Z", "+05:30", "-14:00"]),
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, zone)| {
            let frac = frac.map(|f| format!(".{f:03}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}")
        })
}

/// The schema's `relativeOrAbsoluteDateType`: an `xs:dateTime` or an `xs:duration`.
fn date_or_duration() -> impl Strategy<Value = String> {
    prop_oneof![
        date_time(),
        (0u32..400, 0u32..48).prop_map(|(d, h)| format!("P{d}DT{h}H")),
    ]
}

/// A `Content` reference; the message's strategy points its href at one of its parts.
fn content_ref() -> impl Strategy<Value = Option<ContentRef>> {
    option::of(
        option::of(any::<bool>()).prop_map(|allow_adaptations| ContentRef {
            href: String::new(),
            allow_adaptations,
        }),
    )
}

/// Points `content` at one of `parts` (by Content-ID, or by Content-Location when `pick` is
/// odd and the part has one); a message without parts has no `Content`, which would dangle.
fn link(content: Option<ContentRef>, parts: &[ContentPart], pick: usize) -> Option<ContentRef> {
    let part = parts.get(pick / 2 % parts.len().max(1))?;
    let href = match (&part.content_location, pick % 2) {
        (Some(location), 1) => location.clone(),
        _ => format!("cid:{}", part.content_id.as_deref()?),
    };
    content.map(|c| ContentRef { href, ..c })
}

/// Leaf content parts with binary bodies (including CRLF, NUL and boundary-like bytes).
fn parts() -> impl Strategy<Value = Vec<ContentPart>> {
    vec(
        (
            proptest::sample::select(vec!["image/png", "text/plain; charset=utf-8", "audio/amr"]),
            vec(any::<u8>(), 0..300),
            option::of("[a-z0-9.]{1,12}"),
        ),
        0..3,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .enumerate()
            .map(|(i, (ct, body, location))| ContentPart {
                content_id: Some(format!("part{i}@example")),
                content_type: ct.to_owned(),
                content_location: location,
                body,
                parts: Vec::new(),
            })
            .collect()
    })
}

fn priority() -> impl Strategy<Value = Option<Priority>> {
    option::of(proptest::sample::select(vec![
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ]))
}

prop_compose! {
    fn submit_req()(
        si in sender_identification(), r in recipients(), service_code in option::of(text()),
        linked_id in option::of(text()),
        message_class in option::of(proptest::sample::select(vec![MessageClass::Personal, MessageClass::Informational, MessageClass::Advertisement, MessageClass::Auto])),
        time_stamp in option::of(date_time()), earliest in option::of(date_or_duration()), expiry in option::of(date_or_duration()),
        delivery_report in option::of(any::<bool>()), read_reply in option::of(any::<bool>()),
        priority in priority(), subject in option::of(text()),
        charged_party in option::of(proptest::sample::select(vec![ChargedParty::Sender, ChargedParty::Recipient, ChargedParty::Both, ChargedParty::Neither, ChargedParty::ThirdParty])),
        charged_party_id in option::of(text()), distribution_indicator in option::of(any::<bool>()),
        applic in (option::of(text()), option::of(text()), option::of(text())),
        content in content_ref(), parts in parts(), pick in any::<usize>(),
    ) -> SubmitReq {
        let mut m = SubmitReq::new(String::new(), Release::default(), r);
        m.sender_identification = si;
        m.service_code = service_code;
        m.linked_id = linked_id;
        m.message_class = message_class;
        m.time_stamp = time_stamp;
        m.earliest_delivery_time = earliest;
        m.expiry_date = expiry;
        m.delivery_report = delivery_report;
        m.read_reply = read_reply;
        m.priority = priority;
        m.subject = subject;
        m.charged_party = charged_party;
        m.charged_party_id = charged_party_id;
        m.distribution_indicator = distribution_indicator;
        (m.applic_id, m.reply_applic_id, m.aux_applic_info) = applic;
        m.content = link(content, &parts, pick);
        m.parts = parts;
        m
    }
}

/// A message of any type, with placeholder envelope fields that `with_envelope` fills in.
fn message() -> impl Strategy<Value = Mm7Message> {
    let e = || {
        (
            None::<String>,
            String::new(),
            Release::default(),
            Vec::<Warning>::new(),
        )
    };
    prop_oneof![
        submit_req().prop_map(Mm7Message::SubmitReq),
        (status(), option::of(text())).prop_map(move |(status, message_id)| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::SubmitRsp(SubmitRsp {
                transaction_id,
                mm7_version,
                release,
                warnings,
                status,
                message_id,
            })
        }),
        (
            (
                option::of(text()),
                option::of(text()),
                option::of(text()),
                option::of(text())
            ),
            address(),
            recipients(),
            (
                option::of(date_time()),
                option::of(text()),
                priority(),
                option::of(text())
            ),
            (option::of(text()), option::of(text()), option::of(text())),
            (content_ref(), any::<usize>()),
            parts(),
        )
            .prop_map(
                move |(ids, sender, recipients, misc, applic, (content, pick), parts)| {
                    let (transaction_id, mm7_version, release, warnings) = e();
                    Mm7Message::DeliverReq(DeliverReq {
                        transaction_id,
                        mm7_version,
                        release,
                        warnings,
                        mms_relay_server_id: ids.0,
                        vasp_id: ids.1,
                        vas_id: ids.2,
                        linked_id: ids.3,
                        sender,
                        recipients,
                        time_stamp: misc.0,
                        reply_charging_id: misc.1,
                        priority: misc.2,
                        subject: misc.3,
                        applic_id: applic.0,
                        reply_applic_id: applic.1,
                        aux_applic_info: applic.2,
                        content: link(content, &parts, pick),
                        parts,
                    })
                }
            ),
        (status(), option::of(text())).prop_map(move |(status, service_code)| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::DeliverRsp(DeliverRsp {
                transaction_id,
                mm7_version,
                release,
                warnings,
                status,
                service_code,
            })
        }),
        (sender_identification(), text()).prop_map(move |(sender_identification, message_id)| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::CancelReq(CancelReq {
                transaction_id,
                mm7_version,
                release,
                warnings,
                sender_identification,
                message_id,
            })
        }),
        status().prop_map(move |status| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::CancelRsp(CancelRsp {
                transaction_id,
                mm7_version,
                release,
                warnings,
                status,
            })
        }),
        (
            sender_identification(),
            text(),
            (
                option::of(text()),
                option::of(date_time()),
                option::of(any::<bool>())
            ),
            (option::of(date_or_duration()), option::of(any::<bool>())),
            (content_ref(), any::<usize>()),
            parts(),
        )
            .prop_map(
                move |(sender_identification, message_id, a, b, (content, pick), parts)| {
                    let (transaction_id, mm7_version, release, warnings) = e();
                    Mm7Message::ReplaceReq(ReplaceReq {
                        transaction_id,
                        mm7_version,
                        release,
                        warnings,
                        sender_identification,
                        message_id,
                        service_code: a.0,
                        time_stamp: a.1,
                        read_reply: a.2,
                        earliest_delivery_time: b.0,
                        distribution_indicator: b.1,
                        content: link(content, &parts, pick),
                        parts,
                    })
                }
            ),
        status().prop_map(move |status| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::ReplaceRsp(ReplaceRsp {
                transaction_id,
                mm7_version,
                release,
                warnings,
                status,
            })
        }),
        (
            (option::of(text()), text()),
            address(),
            address(),
            date_time(),
            mm_status(),
            (
                option::of(text()),
                option::of(text()),
                option::of(text()),
                option::of(text())
            ),
        )
            .prop_map(move |(ids, recipient, sender, date, mm_status, t)| {
                let (transaction_id, mm7_version, release, warnings) = e();
                Mm7Message::DeliveryReportReq(DeliveryReportReq {
                    transaction_id,
                    mm7_version,
                    release,
                    warnings,
                    mms_relay_server_id: ids.0,
                    message_id: ids.1,
                    recipient,
                    sender,
                    date,
                    mm_status,
                    status_text: t.0,
                    applic_id: t.1,
                    reply_applic_id: t.2,
                    aux_applic_info: t.3,
                })
            }),
        status().prop_map(move |status| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::DeliveryReportRsp(DeliveryReportRsp {
                transaction_id,
                mm7_version,
                release,
                warnings,
                status,
            })
        }),
        (
            (option::of(text()), text()),
            address(),
            address(),
            date_time(),
            proptest::sample::select(vec![
                ReadStatus::Read,
                ReadStatus::Deleted,
                ReadStatus::Indeterminate
            ]),
            (
                option::of(text()),
                option::of(text()),
                option::of(text()),
                option::of(text())
            ),
        )
            .prop_map(move |(ids, recipient, sender, time_stamp, mm_status, t)| {
                let (transaction_id, mm7_version, release, warnings) = e();
                Mm7Message::ReadReplyReq(ReadReplyReq {
                    transaction_id,
                    mm7_version,
                    release,
                    warnings,
                    mms_relay_server_id: ids.0,
                    message_id: ids.1,
                    recipient,
                    sender,
                    time_stamp,
                    mm_status,
                    status_text: t.0,
                    applic_id: t.1,
                    reply_applic_id: t.2,
                    aux_applic_info: t.3,
                })
            }),
        status().prop_map(move |status| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::ReadReplyRsp(ReadReplyRsp {
                transaction_id,
                mm7_version,
                release,
                warnings,
                status,
            })
        }),
        (option::of(text()), status()).prop_map(move |(mms_relay_server_id, status)| {
            let (transaction_id, mm7_version, release, warnings) = e();
            Mm7Message::RsErrorRsp(RsErrorRsp {
                transaction_id,
                mm7_version,
                release,
                warnings,
                mms_relay_server_id,
                status,
            })
        }),
        (option::of(text()), option::of(text()), status()).prop_map(
            move |(vasp_id, vas_id, status)| {
                let (transaction_id, mm7_version, release, warnings) = e();
                Mm7Message::VaspErrorRsp(VaspErrorRsp {
                    transaction_id,
                    mm7_version,
                    release,
                    warnings,
                    vasp_id,
                    vas_id,
                    status,
                })
            }
        ),
    ]
}

/// Sets the envelope fields of any message.
fn with_envelope(mut m: Mm7Message, tx: String, release: Release, version: &str) -> Mm7Message {
    macro_rules! set {
        ($($v:ident),*) => {
            match &mut m {
                $(Mm7Message::$v(x) => {
                    x.transaction_id = Some(tx);
                    x.mm7_version = version.to_owned();
                    x.release = release;
                })*
                _ => unreachable!("every variant is listed"),
            }
        };
    }
    set!(
        SubmitReq,
        SubmitRsp,
        DeliverReq,
        DeliverRsp,
        CancelReq,
        CancelRsp,
        ReplaceReq,
        ReplaceRsp,
        DeliveryReportReq,
        DeliveryReportRsp,
        ReadReplyReq,
        ReadReplyRsp,
        RsErrorRsp,
        VaspErrorRsp
    );
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(m in message(), tx in text(), release in release()) {
        let version = release.default_mm7_version();
        let m = with_envelope(m, tx, release.clone(), version);
        let codec = DefaultMm7Codec::default();
        let encoded = codec.encode(&m, &release).unwrap();
        let ct = encoded.content_type.clone();
        prop_assert_eq!(ct.starts_with("multipart/related"), !m.parts().is_empty());
        let decoded = codec.decode(Some(&ct), &encoded.body).unwrap();
        prop_assert_eq!(decoded, m);
    }

    #[test]
    fn encoding_in_another_release_changes_only_release_and_version(
        m in message(), tx in text(), from in release(), to in release(),
    ) {
        let m = with_envelope(m, tx.clone(), from.clone(), from.default_mm7_version());
        let codec = DefaultMm7Codec::default();
        let encoded = codec.encode(&m, &to).unwrap();
        let decoded = codec.decode(Some(&encoded.content_type), &encoded.body).unwrap();
        prop_assert!(decoded.warnings().is_empty(), "{:?}", decoded.warnings());
        // The message's own MM7Version is kept when it belongs to the target release.
        let version = if to.matches_version(from.default_mm7_version()) {
            from.default_mm7_version()
        } else {
            to.default_mm7_version()
        };
        let expected = with_envelope(m, tx, to, version);
        prop_assert_eq!(decoded, expected);
    }
}

#[test]
fn nested_multipart_content_round_trips() {
    let mut req = SubmitReq::new(
        "tx-nested",
        Release::Rel5Mm7_1_2,
        Recipients {
            to: vec![Address::Number("+15551234567".into())],
            ..Recipients::default()
        },
    );
    req.content = Some(ContentRef {
        href: "cid:mixed".into(),
        allow_adaptations: None,
    });
    let mut mixed = ContentPart::new("multipart/mixed", Vec::new()).with_content_id("mixed");
    mixed.parts = vec![
        ContentPart::new("text/plain", b"hello\r\n--not-a-boundary".to_vec()).with_content_id("t"),
        ContentPart::new("image/gif", vec![0u8, 1, 2, 255]).with_content_id("g"),
    ];
    req.parts = vec![mixed];
    let codec = DefaultMm7Codec::default();
    let m = Mm7Message::SubmitReq(req);
    let encoded = codec.encode(&m, &Release::Rel5Mm7_1_2).unwrap();
    let Mm7Message::SubmitReq(back) = codec
        .decode(Some(&encoded.content_type), &encoded.body)
        .unwrap()
    else {
        panic!("not a SubmitReq");
    };
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert_eq!(back.parts.len(), 1);
    let mixed = &back.parts[0];
    assert!(mixed.content_type.starts_with("multipart/mixed; boundary="));
    assert_eq!(mixed.content_id.as_deref(), Some("mixed"));
    let Mm7Message::SubmitReq(orig) = &m else {
        unreachable!()
    };
    assert_eq!(mixed.parts, orig.parts[0].parts);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Multipart bodies written the ways peers write them (CRLF or LF line ends, blanks after
    /// a delimiter, a preamble and an epilogue, bodies that hold boundary-like text) split
    /// into exactly the parts that were written.
    #[test]
    fn multipart_layout_variants_split_exactly(
        bodies in vec(vec(any::<u8>(), 0..200), 1..6),
        lf_only in any::<bool>(),
        padding in proptest::sample::select(vec!["", " ", "\t ", "  "]),
        preamble in any::<bool>(),
    ) {
        let nl = if lf_only { "\n" } else { "\r\n" };
        let soap = format!(
            r#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header><TransactionID xmlns="{ns}">t</TransactionID></env:Header><env:Body><SubmitReq xmlns="{ns}"><MM7Version>6.8.0</MM7Version><SenderIdentification/><Recipients/><Content href="cid:p0"/></SubmitReq></env:Body></env:Envelope>"#,
            ns = Release::default().namespace()
        );
        let mut raw = Vec::new();
        if preamble {
            raw.extend_from_slice(format!("This is a preamble --bound{nl}").as_bytes());
        }
        raw.extend_from_slice(format!("--bound{padding}{nl}Content-Type: text/xml{nl}{nl}{soap}{nl}").as_bytes());
        for (i, body) in bodies.iter().enumerate() {
            // A body must not hold a line that is a delimiter; keep boundary-like text that is
            // not at a line start.
            let body: Vec<u8> = body.iter().map(|&b| if b == b'-' { b'_' } else { b }).collect();
            raw.extend_from_slice(format!("--bound{padding}{nl}Content-Type: application/octet-stream{nl}Content-ID: <p{i}>{nl}{nl}").as_bytes());
            raw.extend_from_slice(&body);
            raw.extend_from_slice(format!("x--bound{nl}").as_bytes());
        }
        raw.extend_from_slice(format!("--bound--{padding}{nl}epilogue{nl}").as_bytes());
        let m = DefaultMm7Codec::default()
            .decode(Some("multipart/related; boundary=bound"), &raw)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(m.warnings().is_empty(), "{:?}", m.warnings());
        prop_assert_eq!(m.parts().len(), bodies.len());
        for (i, (part, body)) in m.parts().iter().zip(&bodies).enumerate() {
            let mut expected: Vec<u8> = body.iter().map(|&b| if b == b'-' { b'_' } else { b }).collect();
            expected.extend_from_slice(b"x--bound");
            prop_assert_eq!(&part.body, &expected, "part {}", i);
            let id = format!("p{i}");
            prop_assert_eq!(part.content_id.as_deref(), Some(id.as_str()));
        }
    }
}
