use super::*;
use crate::smpp::tlv::{NetworkErrorCode, Tlv, Tlvs};

const SPEC: &[u8] = b"id:1234567890 sub:001 dlvrd:001 submit date:0610191018 \
done date:0610191018 stat:DELIVRD err:000 text:Hello World";

fn parse(text: &str) -> DeliveryReceipt {
    match DeliveryReceipt::parse(text.as_bytes()) {
        Ok(r) => r,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

#[test]
fn appendix_b() {
    let r = parse(std::str::from_utf8(SPEC).unwrap_or_default());
    assert_eq!(r.id, "1234567890");
    assert_eq!(r.sub.as_deref(), Some("001"));
    assert_eq!(r.dlvrd.as_deref(), Some("001"));
    assert_eq!(r.submit_date.as_deref(), Some("0610191018"));
    assert_eq!(r.done_date.as_deref(), Some("0610191018"));
    assert_eq!(r.stat, "DELIVRD");
    assert_eq!(r.state, Some(MessageState::Delivered));
    assert_eq!(r.err.as_deref(), Some("000"));
    assert_eq!(r.text.as_deref(), Some("Hello World"));
    assert_eq!(r.raw.as_deref(), Some(SPEC));
    assert_eq!(r.to_string().as_bytes(), SPEC);
    assert_eq!(
        r.done_time()
            .and_then(Result::ok)
            .map(|d| (d.year, d.month)),
        Some((2006, 10))
    );
}

#[test]
fn keys_in_any_case_and_order() {
    let r = parse("STAT:undeliv Text:Hi there ID:abc Err:0012 Sub:1 DLVRD:0");
    assert_eq!(r.id, "abc");
    assert_eq!(r.stat, "undeliv");
    assert_eq!(r.state, Some(MessageState::Undeliverable));
    assert_eq!(r.err.as_deref(), Some("0012"));
    assert_eq!(r.error_code(), Some(12));
    assert_eq!(r.text.as_deref(), Some("Hi there"));
    assert_eq!(r.sub.as_deref(), Some("1"));
    assert_eq!(r.dlvrd.as_deref(), Some("0"));
}

#[test]
fn missing_optional_fields() {
    let r = parse("id:77 submit date:2411221530 done date:2411221531 stat:EXPIRED err:123");
    assert_eq!(r.sub, None);
    assert_eq!(r.dlvrd, None);
    assert_eq!(r.text, None);
    assert_eq!(r.state, Some(MessageState::Expired));
}

#[test]
fn dates_of_three_lengths() {
    for date in ["2411221530", "241122153059", "20241122153059"] {
        let r = parse(&format!(
            "id:1 submit date:{date} done date:{date} stat:DELIVRD"
        ));
        assert_eq!(r.submit_date.as_deref(), Some(date));
        assert!(matches!(r.submit_time(), Some(Ok(d)) if d.year == 2024 && d.minute == 30));
    }
}

#[test]
fn underscore_date_keys_and_trailing_garbage() {
    let r = parse(
        "id:5 submit_date:2411221530 done_date:2411221531 stat:REJECTD err:000 text: \0\0\r\n",
    );
    assert_eq!(r.done_date.as_deref(), Some("2411221531"));
    assert_eq!(r.state, Some(MessageState::Rejected));
    assert_eq!(r.text.as_deref(), Some(" "));
    let r = parse("id:5 stat:DELIVRD err:000 #garbage@@ 0xFF");
    assert_eq!(r.err.as_deref(), Some("000"));
    assert_eq!(r.text, None);
}

#[test]
fn text_keeps_colons_and_unseen_keys_end_it() {
    let r = parse("id:9 stat:DELIVRD text:time: 10:30 id:xyz");
    // `id` was already seen, so it stays part of the text.
    assert_eq!(r.text.as_deref(), Some("time: 10:30 id:xyz"));
    let r = parse("text:early bird id:9 stat:ACCEPTD");
    assert_eq!(r.text.as_deref(), Some("early bird"));
    assert_eq!(r.id, "9");
    assert_eq!(r.state, Some(MessageState::Accepted));
}

#[test]
fn missing_id_or_stat_is_an_error() {
    let e = DeliveryReceipt::parse(b"sub:001 stat:DELIVRD");
    assert!(matches!(
        e,
        Err(ReceiptError::MissingField { field: "id", .. })
    ));
    let e = DeliveryReceipt::parse(b"id:1 sub:001");
    assert!(matches!(
        e,
        Err(ReceiptError::MissingField { field: "stat", .. })
    ));
    let e = DeliveryReceipt::parse(b"id: stat:DELIVRD");
    assert!(matches!(
        e,
        Err(ReceiptError::EmptyField { field: "id", .. })
    ));
    let e = DeliveryReceipt::parse(b"");
    assert!(e.is_err());
    assert!(DeliveryReceipt::parse(&[0xff; 300]).is_err());
}

#[test]
fn unknown_stat_word_is_kept() {
    let r = parse("id:1 stat:FAILED");
    assert_eq!(r.stat, "FAILED");
    assert_eq!(r.state, None);
}

#[test]
fn tlvs_win_over_text() {
    let tlvs = Tlvs::from_tlvs(&[
        Tlv::ReceiptedMessageId("0ABC".into()),
        Tlv::MessageState(MessageState::Undeliverable),
        Tlv::NetworkErrorCode(NetworkErrorCode {
            network_type: 3,
            error_code: 34,
        }),
    ]);
    let Ok(tlvs) = tlvs else {
        panic!("TLVs encode")
    };
    let pdu = DeliverSm {
        esm_class: crate::smpp::EsmClass::SMSC_DELIVERY_RECEIPT,
        short_message: Bytes::from_static(b"id:2748 sub:001 dlvrd:001 stat:DELIVRD err:000"),
        tlvs,
        ..DeliverSm::default()
    };
    let r = DeliveryReceipt::from_deliver_sm(&pdu);
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.id, "0ABC");
    assert_eq!(r.state, Some(MessageState::Undeliverable));
    assert_eq!(r.stat, "UNDELIV");
    assert_eq!(r.err.as_deref(), Some("034"));
    assert_eq!(r.sub.as_deref(), Some("001"));
    assert_eq!(
        r.network_error_code.map(|c| c.network_type_name()),
        Some(Some("GSM"))
    );
}

#[test]
fn tlvs_alone_make_a_receipt() {
    let Ok(tlvs) = Tlvs::from_tlvs(&[
        Tlv::ReceiptedMessageId("42".into()),
        Tlv::MessageState(MessageState::Delivered),
    ]) else {
        panic!("TLVs encode")
    };
    let pdu = DataSm {
        tlvs,
        ..DataSm::default()
    };
    let r = DeliveryReceipt::from_data_sm(&pdu);
    assert_eq!(
        r.map(|r| (r.id, r.state)),
        Ok(("42".into(), Some(MessageState::Delivered)))
    );
}

#[test]
fn message_payload_carries_the_text() {
    let Ok(tlvs) = Tlvs::from_tlvs(&[Tlv::MessagePayload(Bytes::from_static(
        b"id:7 stat:DELETED",
    ))]) else {
        panic!("TLVs encode")
    };
    let pdu = DeliverSm {
        tlvs,
        ..DeliverSm::default()
    };
    let r = DeliveryReceipt::from_deliver_sm(&pdu);
    assert_eq!(r.map(|r| r.state), Ok(Some(MessageState::Deleted)));
}

#[test]
fn format_then_parse() {
    let done = ReceiptDate::parse("done date", "2411221531").unwrap_or(ReceiptDate {
        year: 2024,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: None,
    });
    let r = DeliveryReceipt::new("ff01", MessageState::Rejected).with_dates(done, done);
    let text = r.to_string();
    assert_eq!(
        text,
        "id:ff01 sub:001 dlvrd:000 submit date:2411221531 done date:2411221531 stat:REJECTD err:000 text:"
    );
    let back = DeliveryReceipt::parse(text.as_bytes());
    assert_eq!(
        back.map(|b| (b.id, b.state, b.text)),
        Ok((
            "ff01".into(),
            Some(MessageState::Rejected),
            Some(String::new())
        ))
    );
    let pdu = r.to_deliver_sm("447700900123".into(), "12345".into());
    let Ok(pdu) = pdu else { panic!("{pdu:?}") };
    assert!(pdu.esm_class.is_delivery_receipt());
    assert_eq!(
        pdu.tlvs.receipted_message_id().map(|i| i.to_string()),
        Some("ff01".into())
    );
    let again = DeliveryReceipt::from_deliver_sm(&pdu);
    assert_eq!(again.map(|a| a.stat), Ok("REJECTD".into()));
}

#[test]
fn whitespace_and_case_variants_of_real_smscs() {
    let variants = [
        "id: 1234567890 sub: 001 dlvrd: 001 submit date: 0610191018 done date: 0610191018 stat: DELIVRD err: 000 text: Hello World",
        "id:\t1234567890\tsub:\t001\tdlvrd:\t001\tsubmit date:\t0610191018\tdone date:\t0610191018\tstat:\tDELIVRD\terr:\t000\ttext:\tHello World",
        "ID:1234567890  SUB:001  DLVRD:001  SUBMIT DATE:0610191018  DONE DATE:0610191018  STAT:DELIVRD  ERR:000  TEXT:Hello World",
        "id:1234567890\r\nsub:001\r\ndlvrd:001\r\nsubmit date:0610191018\r\ndone date:0610191018\r\nstat:DELIVRD\r\nerr:000\r\ntext:Hello World\r\n",
        "Id : 1234567890 Sub : 001 Dlvrd : 001 Submit  Date : 0610191018 Done\tDate : 0610191018 Stat : DELIVRD Err : 000 Text : Hello World",
        "text:Hello World   stat:DELIVRD id:1234567890 err:000 sub:001 dlvrd:001 Submit_Date:0610191018 DONE-DATE:0610191018",
    ];
    for v in variants {
        let r = parse(v);
        assert_eq!(r.id, "1234567890", "{v:?}");
        assert_eq!(r.sub.as_deref(), Some("001"), "{v:?}");
        assert_eq!(r.dlvrd.as_deref(), Some("001"), "{v:?}");
        assert_eq!(r.submit_date.as_deref(), Some("0610191018"), "{v:?}");
        assert_eq!(r.done_date.as_deref(), Some("0610191018"), "{v:?}");
        assert_eq!(r.stat, "DELIVRD", "{v:?}");
        assert_eq!(r.state, Some(MessageState::Delivered), "{v:?}");
        assert_eq!(r.err.as_deref(), Some("000"), "{v:?}");
        // The text is kept as it came, so a space or tab after `text:` stays.
        assert_eq!(
            r.text.as_deref().map(str::trim_start),
            Some("Hello World"),
            "{v:?}"
        );
    }
}

#[test]
fn a_blank_value_before_the_next_key_stays_empty() {
    let r = parse("id:abc sub: dlvrd:\t001 stat: DELIVRD err:  text:");
    assert_eq!(r.sub.as_deref(), Some(""));
    assert_eq!(r.dlvrd.as_deref(), Some("001"));
    assert_eq!(r.stat, "DELIVRD");
    assert_eq!(r.err.as_deref(), Some(""));
    // A key-like word that is not followed by a colon is not a key.
    let r = parse("identifier:9 id:7 status:x stat:ACCEPTD");
    assert_eq!(r.id, "7");
    assert_eq!(r.stat, "ACCEPTD");
}
