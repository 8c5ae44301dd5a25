//! Hostile input: every byte sequence gives a PDU or a descriptive error, never a panic.
#![cfg(feature = "smpp")]

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use redeliver::smpp::{
    Body, DecodeError, DefaultSmppCodec, DeliverSm, FramingError, Pdu, SmppCodec, SmppFraming,
    StrictSmppCodec, SubmitSm, Tlv, TlvLengthWarning, TlvTag, Tlvs,
};
use tokio_util::codec::Decoder;

/// A frame with the given command_id and body; command_length is filled in.
fn frame(command_id: u32, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u32(16 + body.len() as u32);
    b.put_u32(command_id);
    b.put_u32(0);
    b.put_u32(42);
    b.extend_from_slice(body);
    b.freeze()
}

/// The body of a submit_sm up to (not including) sm_length.
fn submit_head() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"\0"); // service_type
    v.extend_from_slice(&[1, 1]);
    v.extend_from_slice(b"12345\0");
    v.extend_from_slice(&[1, 1]);
    v.extend_from_slice(b"447700900123\0");
    v.extend_from_slice(&[0, 0, 0]); // esm_class, protocol_id, priority_flag
    v.extend_from_slice(b"\0\0"); // schedule_delivery_time, validity_period
    v.extend_from_slice(&[1, 0, 0, 0]); // registered_delivery .. sm_default_msg_id
    v
}

fn error_text(frame: &Bytes) -> String {
    match Pdu::decode(frame) {
        Ok(pdu) => panic!("decoded {pdu:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_header() {
    for len in 0..16 {
        let bytes = Bytes::from(vec![0u8; len]);
        assert_eq!(
            Pdu::decode(&bytes),
            Err(DecodeError::ShortHeader { len }),
            "{len} bytes"
        );
    }
}

#[test]
fn command_length_too_small_or_wrong() {
    let mut f = BytesMut::from(&frame(0x15, &[])[..]);
    f[3] = 12;
    assert_eq!(
        error_text(&f.clone().freeze()),
        "PDU header: command_length 12 is less than the 16-byte header"
    );
    f[0] = 0xFF;
    assert_eq!(
        error_text(&f.freeze()),
        "PDU header: command_length 4278190092 but the frame is 16 bytes"
    );
}

#[test]
fn unknown_command_id() {
    let f = frame(0x0000_0111, &[]);
    let err = Pdu::decode(&f);
    assert_eq!(
        err,
        Err(DecodeError::UnknownCommandId {
            command_id: 0x111,
            sequence_number: 42
        })
    );
    let Err(err) = err else { return };
    assert_eq!(err.sequence_number(), Some(42));
    assert_eq!(err.command_status().to_string(), "ESME_RINVCMDID");
}

#[test]
fn missing_nul_terminator() {
    let f = frame(0x04, b"\0\x01\x0112345");
    assert_eq!(
        error_text(&f),
        "submit_sm: source_addr: no NUL terminator before the end of the PDU"
    );
}

#[test]
fn over_long_field() {
    let mut body = b"\0\x01\x01".to_vec();
    body.extend_from_slice(&[b'9'; 40]);
    body.push(0);
    assert_eq!(
        error_text(&frame(0x04, &body)),
        "submit_sm: source_addr: longer than the 21-octet maximum (NUL included)"
    );
    // message_id of submit_sm_resp, 65 octets max.
    let mut id = vec![b'a'; 70];
    id.push(0);
    assert_eq!(
        error_text(&frame(0x8000_0004, &id)),
        "submit_sm_resp: message_id: longer than the 65-octet maximum (NUL included)"
    );
}

#[test]
fn sm_length_past_the_end() {
    let mut body = submit_head();
    body.push(200);
    body.extend_from_slice(b"only seventeen b.");
    let f = frame(0x04, &body);
    let err = Pdu::decode(&f);
    assert_eq!(
        err.as_ref().map_err(ToString::to_string),
        Err("submit_sm: short_message: sm_length 200 exceeds the 17 bytes left".to_owned())
    );
    assert_eq!(
        err.map_err(|e| e.command_status().to_string()),
        Err("ESME_RINVMSGLEN".into())
    );
}

#[test]
fn tlv_length_past_the_end() {
    let mut body = submit_head();
    body.push(0);
    body.extend_from_slice(&[0x04, 0x24, 0x01, 0x00, b'x', b'y']);
    assert_eq!(
        error_text(&frame(0x04, &body)),
        "submit_sm: TLV message_payload (0x0424): length 256 exceeds the 2 bytes left"
    );
}

#[test]
fn truncated_tlv_header() {
    let mut body = submit_head();
    body.push(0);
    body.extend_from_slice(&[0x04, 0x27, 0x00]);
    assert_eq!(
        error_text(&frame(0x05, &body)),
        "deliver_sm: TLV header: needs 4 bytes, only 3 left in the PDU"
    );
}

/// A known TLV of the wrong size costs only itself: the lenient decoder keeps it raw and says
/// so; the strict decoder refuses the PDU as before.
#[test]
fn tlv_of_the_wrong_size() {
    let mut body = submit_head();
    body.push(0);
    body.extend_from_slice(&[0x04, 0x27, 0x00, 0x02, 0x02, 0x00]);
    body.extend_from_slice(&[0x00, 0x1E, 0x00, 0x04, b'a', b'b', b'c', 0]);
    let f = frame(0x05, &body);
    let strict = Pdu::decode_strict(&f).unwrap_err();
    assert_eq!(
        strict.to_string(),
        "deliver_sm: TLV message_state (0x0427): length 2, the spec says 1"
    );
    assert_eq!(strict.command_status().to_string(), "ESME_RINVPARLEN");

    let pdu = Pdu::decode(&f).unwrap();
    let warnings: Vec<_> = pdu.tlv_warnings().collect();
    assert_eq!(
        warnings,
        vec![TlvLengthWarning {
            tag: TlvTag::MESSAGE_STATE,
            length: 2,
            expected: 1
        }]
    );
    assert_eq!(
        warnings[0].to_string(),
        "TLV message_state (0x0427): length 2, the spec says 1; kept as raw bytes"
    );
    let tlvs = pdu.tlvs().unwrap();
    assert_eq!(
        tlvs.iter().next(),
        Some(Tlv::Other {
            tag: TlvTag::MESSAGE_STATE,
            value: Bytes::from_static(&[2, 0])
        })
    );
    // The typed accessor does not guess at a malformed value; the other TLVs are intact.
    assert_eq!(tlvs.message_state(), None);
    assert_eq!(
        tlvs.receipted_message_id().map(|i| i.to_string()),
        Some("abc".into())
    );
    // And the PDU goes back out byte for byte.
    assert_eq!(pdu.to_bytes().unwrap(), f);
}

/// A widely used Python SMPP library sends `source_addr_subunit` as two bytes.
#[test]
fn two_byte_source_addr_subunit_from_python_peers() {
    let mut body = submit_head();
    body.extend_from_slice(&[2, b'h', b'i']);
    body.extend_from_slice(&[0x00, 0x0D, 0x00, 0x02, 0x00, 0x01]);
    let f = frame(0x04, &body);
    let pdu = Pdu::decode(&f).unwrap();
    let Body::SubmitSm(submit) = &pdu.body else {
        panic!("not a submit_sm: {pdu:?}");
    };
    assert_eq!(&submit.short_message[..], b"hi");
    assert_eq!(
        pdu.tlv_warnings()
            .map(|w| (w.tag, w.length))
            .collect::<Vec<_>>(),
        vec![(TlvTag::SOURCE_ADDR_SUBUNIT, 2)]
    );
    assert!(Pdu::decode_strict(&f).is_err());
    assert!(StrictSmppCodec.decode(&f).is_err());
    assert!(DefaultSmppCodec.decode(&f).is_ok());
    // Through the framing adapter, with each codec.
    let mut lenient = SmppFraming::new();
    let mut buf = BytesMut::from(&f[..]);
    assert!(matches!(lenient.decode(&mut buf), Ok(Some(_))));
    let mut strict = SmppFraming::with_codec(StrictSmppCodec);
    let mut buf = BytesMut::from(&f[..]);
    assert!(strict.decode(&mut buf).is_err());
}

#[test]
fn duplicate_tlvs_are_kept_first_wins() {
    let mut body = submit_head();
    body.push(0);
    body.extend_from_slice(&[0x00, 0x1E, 0x00, 0x02, b'A', 0]);
    body.extend_from_slice(&[0x00, 0x1E, 0x00, 0x02, b'B', 0]);
    let f = frame(0x05, &body);
    let pdu = Pdu::decode(&f).unwrap_or_else(|e| panic!("{e}"));
    let Body::DeliverSm(DeliverSm { tlvs, .. }) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(tlvs.iter().count(), 2);
    assert_eq!(
        tlvs.receipted_message_id().map(|i| i.to_string()),
        Some("A".into())
    );
    assert_eq!(pdu.to_bytes(), Ok(f));
}

#[test]
fn unknown_tlv_is_re_encoded_unchanged() {
    let mut body = submit_head();
    body.push(0);
    body.extend_from_slice(&[0x14, 0x00, 0x00, 0x03, 1, 2, 3]);
    let f = frame(0x04, &body);
    let pdu = Pdu::decode(&f).unwrap_or_else(|e| panic!("{e}"));
    let Body::SubmitSm(SubmitSm { tlvs, .. }) = &pdu.body else {
        panic!("{pdu:?}")
    };
    assert_eq!(
        tlvs.raw().collect::<Vec<_>>(),
        vec![(TlvTag(0x1400), Bytes::from_static(&[1, 2, 3]))]
    );
    assert_eq!(pdu.to_bytes(), Ok(f));
}

#[test]
fn bytes_after_a_body_without_tlvs() {
    assert_eq!(
        error_text(&frame(0x15, b"xyz")),
        "enquire_link: 3 unexpected bytes after the last field"
    );
    assert_eq!(
        error_text(&frame(0x0B, b"sys\0pw\0!")),
        "outbind: 1 unexpected bytes after the last field"
    );
}

#[test]
fn submit_multi_hostile_lists() {
    // number_of_dests 255 with only two bytes after it: an error, not a 255-entry allocation.
    let body = b"\0\x01\x0112345\0\xFF\x01\x01";
    assert_eq!(
        error_text(&frame(0x21, body)),
        "submit_multi: dest_address[0].dest_addr_npi: needs 1 bytes, only 0 left in the PDU"
    );
    let body = b"\0\x01\x0112345\0\x01\x07";
    assert_eq!(
        error_text(&frame(0x21, body)),
        "submit_multi: dest_address[0].dest_flag: value 7 is invalid: dest_flag is 1 (SME address) or 2 (distribution list)"
    );
}

#[test]
fn tlv_region_from_raw_is_checked() {
    assert!(Tlvs::from_raw(Bytes::from_static(&[0, 5, 0, 1])).is_err());
    assert!(Tlvs::from_raw(Bytes::from_static(&[0, 5, 0, 1, 9])).is_ok());
}

#[test]
fn framing_refuses_huge_length_before_allocating() {
    let mut framing = SmppFraming::new().max_command_length(4096);
    let mut buf = BytesMut::with_capacity(64);
    buf.put_u32(0x7FFF_FFFF);
    buf.put_u32(0x04);
    let cap = buf.capacity();
    let err = framing.decode(&mut buf);
    assert!(matches!(
        &err,
        Err(FramingError::Decode(DecodeError::CommandLengthTooLarge {
            command_length: 0x7FFF_FFFF,
            max: 4096
        }))
    ));
    assert!(err.is_err_and(|e| e.is_fatal()));
    assert_eq!(buf.capacity(), cap);
    assert_eq!(buf.len(), 8);
}

#[test]
fn framing_never_consumes_a_partial_frame() {
    let full = frame(0x15, &[]);
    let mut framing = SmppFraming::new();
    let mut buf = BytesMut::new();
    for (i, byte) in full.iter().enumerate() {
        buf.put_u8(*byte);
        let got = framing.decode(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        if i + 1 < full.len() {
            assert!(got.is_none());
            assert_eq!(buf.len(), i + 1);
        } else {
            assert_eq!(got.map(|p| p.body), Some(Body::EnquireLink));
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn framing_skips_a_bad_frame_and_goes_on() {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&frame(0x0000_0111, &[]));
    buf.extend_from_slice(&frame(0x15, &[]));
    let mut framing = SmppFraming::new();
    let first = framing.decode(&mut buf);
    assert!(first.is_err_and(|e| !e.is_fatal()));
    let second = framing.decode(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.map(|p| p.sequence_number), Some(42));
}

fn valid_frames() -> Vec<Bytes> {
    let mut body = submit_head();
    body.push(5);
    body.extend_from_slice(b"hello");
    body.extend_from_slice(&[0x00, 0x1E, 0x00, 0x03, b'4', b'2', 0]);
    body.extend_from_slice(&[0x04, 0x27, 0x00, 0x01, 0x02]);
    vec![
        frame(0x04, &body),
        frame(0x05, &body),
        frame(0x8000_0004, b"abc\0"),
        frame(0x15, &[]),
        frame(
            0x21,
            b"\0\x01\x0112345\0\x02\x01\x01\x01999\0\x02list\0\0\0\0\0\0\0\0\0\0\x02hi",
        ),
        frame(
            0x103,
            b"\0\x01\x01a\0\x01\x01b\0\x04\x00\x00\x04\x24\x00\x02hi",
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Pdu::decode(&Bytes::from(bytes.clone()));
        let _ = Pdu::decode_strict(&Bytes::from(bytes));
    }

    /// Any fixed-size tag with any other length: the lenient decoder keeps the PDU, reports
    /// exactly that TLV, and re-encodes it byte for byte; the strict one refuses it.
    #[test]
    fn wrong_length_tlvs_are_kept_and_reported(
        tag in prop::sample::select(vec![0x0005u16, 0x000D, 0x0008, 0x0017, 0x0204, 0x020C, 0x0423, 0x0427, 0x1383]),
        value in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let tag = TlvTag(tag);
        let expected = tag.fixed_len().unwrap_or_default();
        prop_assume!(value.len() != expected);
        let mut body = submit_head();
        body.push(0);
        body.extend_from_slice(&tag.0.to_be_bytes());
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(&value);
        let f = frame(0x04, &body);
        let pdu = Pdu::decode(&f).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            pdu.tlv_warnings().collect::<Vec<_>>(),
            vec![TlvLengthWarning { tag, length: value.len(), expected }]
        );
        prop_assert_eq!(pdu.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?, f.clone());
        prop_assert!(Pdu::decode_strict(&f).is_err());
    }

    #[test]
    fn random_bodies_never_panic(id in prop::sample::select(vec![
        0x8000_0000u32, 1, 0x8000_0001, 2, 0x8000_0002, 3, 0x8000_0003, 4, 0x8000_0004, 5,
        0x8000_0005, 6, 0x8000_0006, 7, 0x8000_0007, 8, 0x8000_0008, 9, 0x8000_0009, 0x0B,
        0x15, 0x8000_0015, 0x21, 0x8000_0021, 0x102, 0x103, 0x8000_0103,
    ]), body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let f = frame(id, &body);
        if let Ok(pdu) = Pdu::decode(&f) {
            // Whatever decodes must encode again (maybe to other bytes for bare responses).
            let again = pdu.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = Pdu::decode(&again).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, pdu);
        }
    }

    #[test]
    fn mutated_frames_never_panic(which in 0usize..6, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let frames = valid_frames();
        let mut bytes = frames[which].to_vec();
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        let keep = cut % (bytes.len() + 1);
        let mut framing = SmppFraming::new();
        let mut buf = BytesMut::from(&bytes[..keep]);
        let _ = framing.decode(&mut buf);
        let _ = Pdu::decode(&Bytes::from(bytes));
    }
}
