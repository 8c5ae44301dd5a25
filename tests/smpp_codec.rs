//! Known PDUs decode to the right fields and encode back to the same bytes.
#![cfg(feature = "smpp")]

use bytes::{Bytes, BytesMut};
use redeliver::smpp::receipt::{DeliveryReceipt, MessageState};
use redeliver::smpp::{
    Body, CommandId, CommandStatus, DefaultSmppCodec, DeliverSm, DestAddress, EsmClass, Pdu,
    RegisteredDelivery, SmppCodec, SubmitMulti, SubmitMultiResp, SubmitSm, SubmitSmResp, Tlv,
    TlvTag, Tlvs, UnsuccessSme,
};

fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    Bytes::from(bytes)
}

fn decode(frame: &Bytes) -> Pdu {
    Pdu::decode(frame).unwrap_or_else(|e| panic!("{e}"))
}

fn encode(pdu: &Pdu) -> Bytes {
    pdu.to_bytes().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn spec_bind_transmitter_example() {
    // The bind_transmitter example of SMPP 3.4 §3.2.
    let frame = hex(
        "0000002F 00000002 00000000 00000001 534D505033544553540073656372657430380053554
         24D4954310050010100",
    );
    let pdu = decode(&frame);
    assert_eq!(pdu.command_id(), CommandId::BindTransmitter);
    assert_eq!(pdu.sequence_number, 1);
    let Body::BindTransmitter(bind) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(bind.system_id, "SMPP3TEST");
    assert_eq!(bind.password, "secret08");
    assert_eq!(bind.system_type, "SUBMIT1");
    assert_eq!(bind.interface_version, 0x50);
    assert_eq!((bind.addr_ton, bind.addr_npi), (1, 1));
    assert!(bind.address_range.is_empty());
    assert_eq!(encode(&pdu), frame);
}

fn receipt_deliver_sm() -> Pdu {
    let tlvs = Tlvs::from_tlvs(&[
        Tlv::ReceiptedMessageId("1A2B3C".into()),
        Tlv::MessageState(MessageState::Delivered),
        Tlv::Other {
            tag: TlvTag(0x1401),
            value: Bytes::from_static(b"vendor"),
        },
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    Pdu::new(
        7,
        DeliverSm {
            source_addr_ton: 1,
            source_addr_npi: 1,
            source_addr: "447700900123".into(),
            destination_addr: "12345".into(),
            esm_class: EsmClass::SMSC_DELIVERY_RECEIPT,
            short_message: Bytes::from_static(
                b"id:1715004 sub:001 dlvrd:001 submit date:2411221530 done date:2411221531 stat:DELIVRD err:000 text:hi",
            ),
            tlvs,
            ..DeliverSm::default()
        },
    )
}

#[test]
fn deliver_sm_receipt_round_trip() {
    let pdu = receipt_deliver_sm();
    let frame = encode(&pdu);
    let back = decode(&frame);
    assert_eq!(back, pdu);
    assert_eq!(encode(&back), frame);
    let Body::DeliverSm(deliver) = &back.body else {
        panic!("{back:?}")
    };
    let tags: Vec<u16> = deliver.tlvs.iter().map(|t| t.tag().0).collect();
    assert_eq!(tags, [0x001E, 0x0427, 0x1401]);
    let receipt = DeliveryReceipt::from_deliver_sm(deliver).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(receipt.id, "1A2B3C");
    assert_eq!(receipt.state, Some(MessageState::Delivered));
    assert_eq!(receipt.done_date.as_deref(), Some("2411221531"));
}

#[test]
fn submit_sm_fields() {
    let submit = SubmitSm {
        service_type: "CMT".into(),
        source_addr_ton: 5,
        source_addr: "Shop".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "447700900123".into(),
        registered_delivery: RegisteredDelivery::SMSC_DELIVERY,
        short_message: Bytes::from_static(b"Your code is 1234"),
        ..SubmitSm::default()
    };
    let frame = encode(&Pdu::new(2, submit.clone()));
    // sm_length sits right before short_message.
    let sm_at = frame.len() - submit.short_message.len();
    assert_eq!(frame[sm_at - 1] as usize, submit.short_message.len());
    assert_eq!(decode(&frame).body, Body::SubmitSm(submit));
}

#[test]
fn error_response_without_body() {
    // submit_sm_resp, ESME_RTHROTTLED, no body at all.
    let frame = hex("00000010 80000004 00000058 00000003");
    let pdu = decode(&frame);
    assert_eq!(pdu.command_status, CommandStatus::Throttled);
    assert_eq!(pdu.command_status.to_string(), "ESME_RTHROTTLED");
    assert_eq!(pdu.body, Body::SubmitSmResp(SubmitSmResp::default()));
    assert_eq!(encode(&pdu), frame);
}

#[test]
fn submit_sm_resp_with_id() {
    let frame = hex("00000017 80000004 00000000 00000009 31413242334300");
    let pdu = decode(&frame);
    let Body::SubmitSmResp(resp) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(resp.message_id, "1A2B3C");
    assert_eq!(encode(&pdu), frame);
}

#[test]
fn submit_multi_lists() {
    let multi = SubmitMulti {
        source_addr: "12345".into(),
        dest_address: vec![
            DestAddress::SmeAddress {
                dest_addr_ton: 1,
                dest_addr_npi: 1,
                destination_addr: "447700900001".into(),
            },
            DestAddress::DistributionList {
                dl_name: "staff".into(),
            },
        ],
        short_message: Bytes::from_static(b"meeting at 3"),
        ..SubmitMulti::default()
    };
    let pdu = Pdu::new(4, multi);
    assert_eq!(decode(&encode(&pdu)), pdu);
    let resp = Pdu::new(
        4,
        SubmitMultiResp {
            message_id: "m1".into(),
            unsuccess_sme: vec![UnsuccessSme {
                dest_addr_ton: 1,
                dest_addr_npi: 1,
                destination_addr: "447700900001".into(),
                error_status_code: CommandStatus::InvalidDestinationAddress.code(),
            }],
            tlvs: Tlvs::new(),
        },
    );
    assert_eq!(decode(&encode(&resp)), resp);
}

#[test]
fn enquire_link_and_codec_trait() {
    let codec = DefaultSmppCodec;
    let mut buf = BytesMut::new();
    let pdu = Pdu::new(0x7FFF_FFFF, Body::EnquireLink);
    codec
        .encode(&pdu, &mut buf)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&buf[..], &hex("00000010 00000015 00000000 7FFFFFFF")[..]);
    assert_eq!(codec.decode(&buf.freeze()), Ok(pdu));
}

#[test]
fn encode_refuses_what_the_wire_cannot_carry() {
    let too_long = SubmitSm {
        destination_addr: "1234567890123456789012".into(),
        ..SubmitSm::default()
    };
    let mut buf = BytesMut::from(&b"keep"[..]);
    let err = Pdu::new(1, too_long).encode(&mut buf);
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("submit_sm: destination_addr: longer than the 21-octet maximum (NUL included)".into())
    );
    assert_eq!(&buf[..], b"keep");
    let big = SubmitSm {
        short_message: Bytes::from(vec![b'x'; 300]),
        ..SubmitSm::default()
    };
    assert!(Pdu::new(1, big).to_bytes().is_err());
    let nul = SubmitSm {
        source_addr: "a\0b".into(),
        ..SubmitSm::default()
    };
    assert!(Pdu::new(1, nul).to_bytes().is_err());
}

#[test]
fn responses_and_generic_nack() {
    let submit = Pdu::new(11, SubmitSm::default());
    let ok = submit.response(CommandStatus::Ok);
    assert_eq!(
        ok.as_ref().map(|r| (r.command_id(), r.sequence_number)),
        Some((CommandId::SubmitSmResp, 11))
    );
    let refused = submit
        .response(CommandStatus::MessageQueueFull)
        .unwrap_or_else(|| panic!("submit_sm has a response"));
    assert_eq!(encode(&refused), hex("00000010 80000004 00000014 0000000B"));
    assert_eq!(
        Pdu::new(1, Body::EnquireLink)
            .response(CommandStatus::Ok)
            .map(|r| r.body),
        Some(Body::EnquireLinkResp)
    );
    assert_eq!(
        Pdu::new(1, Body::Outbind(Default::default())).response(CommandStatus::Ok),
        None
    );
    assert_eq!(refused.response(CommandStatus::Ok), None);
    let nack = Pdu::generic_nack(5, CommandStatus::InvalidCommandId);
    assert_eq!(encode(&nack), hex("00000010 80000000 00000003 00000005"));
}
